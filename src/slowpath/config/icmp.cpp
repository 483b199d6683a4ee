// ICMP error generation: how many errors each worker sends per second.
#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { IcmpRateLimit };

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::IcmpRateLimit), "rate-limit", "icmp rate-limit <pps:UINT(0-1000000)>",
     "Limit the ICMP errors each worker sends per second",
     {"ICMP error generation", "Limit the ICMP errors each worker sends",
      "ICMP errors per second per worker; 0 sends none"},
     Negatable::yes, kBoth},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"icmp", 30, kRows}};

constexpr uint32_t kDefaultRate = 100;

std::string render_icmp(const RunningConfig& config, bool) {
    if (config.icmp_rate_pps == kDefaultRate) return {};
    return fmt::format("!\nicmp rate-limit {}\n", config.icmp_rate_pps);
}

class IcmpSection final : public Section {
public:
    IcmpSection() : Section("icmp", 90) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        cfg.icmp_rate_pps = c.negated ? kDefaultRate : c.number("pps");
        return std::nullopt;
    }
    ChangeSet changes(const cmd::Parsed&) const override { return no_route_change(); }
    std::vector<RenderPart> render_parts() const override { return {{90, render_icmp}}; }
};

const IcmpSection kSection;

}  // namespace
}  // namespace rampart::config
