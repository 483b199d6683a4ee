// libFuzzer target for the CLI wire codec, both directions.
#include <string_view>

#include "common/cli_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto req = rampart::cli::decode_request_line(text)) {
        auto encoded = rampart::cli::encode_request(*req);
        if (encoded && rampart::cli::decode_request_line(std::string_view(*encoded).substr(0, encoded->size() - 1)) != req)
            abort();
    }
    (void)rampart::cli::decode_reply(text);
    (void)rampart::cli::decode_candidates(text);
    return 0;
}
