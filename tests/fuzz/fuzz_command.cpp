// libFuzzer target for the command language: the line parser, the whole-file
// config parser, completion/help, and applying the result to the config model.
#include <string>
#include <string_view>

#include "common/command.hpp"
#include "slowpath/config_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)rampart::cmd::parse(text);
    (void)rampart::cmd::help(text);
    (void)rampart::cmd::complete(text, [] { return std::vector<std::string>{"port0", "port1.100"}; });
    (void)rampart::cmd::parse_config(text);
    rampart::RunningConfig config;
    if (!rampart::load_config_text(config, text)) {
        // Whatever loaded must render (keys included) to text that loads to the same config.
        rampart::RunningConfig again;
        if (rampart::load_config_text(again, rampart::render_running_config(config, true)) || !(again == config)) abort();
    }
    return 0;
}
