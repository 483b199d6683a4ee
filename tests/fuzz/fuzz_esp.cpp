// libFuzzer target for the ESP wire format: the header parse and the trailer
// checks on arbitrary bytes under every transform's layout (each input in an
// exact-size heap buffer, so ASan sees any overread), and the round trip
// encap sizes → trailer → check with the input as the payload.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "crypto/esp_packet.hpp"

using namespace rampart;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static constexpr EspLayout kLayouts[] = {
        {8, 16, 4},    // AES-GCM, ChaCha20-Poly1305
        {16, 16, 16},  // AES-CBC + HMAC-SHA-256-128
        {16, 24, 16},  // AES-CBC + HMAC-SHA-384-192
        {16, 32, 16},  // AES-CBC + HMAC-SHA-512-256
        {0, 16, 4},    // NULL + HMAC-SHA-256-128
    };
    std::unique_ptr<uint8_t[]> exact(new uint8_t[size]);
    if (size) std::memcpy(exact.get(), data, size);
    for (const EspLayout& layout : kLayouts) {
        EspHeader h;
        if (parse_esp_header(exact.get(), size, layout, h) == EspError::none &&
            size < kEspHeaderLen + layout.iv_len + kEspTrailerLen + layout.icv_len)
            abort();
        uint32_t payload_len = 0;
        uint8_t next_header = 0;
        if (check_esp_trailer(exact.get(), size, layout, payload_len, next_header) == EspError::none &&
            (payload_len + kEspTrailerLen > size || next_header != exact[size - 1]))
            abort();

        if (size > 4096) continue;
        const EspEncapSizes s = esp_encap_sizes(uint32_t(size), layout);
        if (s.encrypted_len % 4 || (layout.align > 4 && s.encrypted_len % layout.align) || s.pad_len > 255) abort();
        std::vector<uint8_t> plain(s.encrypted_len);
        if (size) std::memcpy(plain.data(), data, size);
        if (write_esp_trailer(plain.data() + size, uint8_t(s.pad_len), kNextHeaderIpv4) != s.pad_len + kEspTrailerLen)
            abort();
        if (check_esp_trailer(plain.data(), plain.size(), layout, payload_len, next_header) != EspError::none ||
            payload_len != size || next_header != kNextHeaderIpv4)
            abort();
    }
    return 0;
}
