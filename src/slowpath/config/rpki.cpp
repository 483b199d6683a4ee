// RPKI: the RTR caches the RPKI view comes from (RFC 8210), the interval
// overrides, and the `show rpki ...` commands (answered by the RPKI protocol,
// slowpath/rpki/rpki_protocol.cpp).
#include <algorithm>

#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/rpki.hpp"
#include "slowpath/config/section.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { Cache, Refresh, Retry, Expire };

constexpr std::string_view kRpki = "RPKI (RTR caches, origin validation, ASPA)";
constexpr std::string_view kRpkiState = "RPKI state";

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::Cache), "cache", "rpki cache <address:IP> port <port:UINT(1-65535)> [preference <preference:UINT(1-255)>]",
     "Fetch ROAs and ASPAs from an RTR cache (RFC 8210; the most preferred cache with data is used)",
     {kRpki, "An RTR cache", "The cache's address", "The cache's TCP port", "Port (323: the RTR port)",
      "Preference among the caches", "Lower is preferred (default 100)"},
     Negatable::yes, kBoth},
    {int(Cmd::Refresh), "refresh", "rpki refresh <seconds:UINT(1-86400)>",
     "Ask the caches for news this often, whatever their End of Data says",
     {kRpki, "Refresh interval (RFC 8210 §6)", "Seconds"}, Negatable::yes, kBoth},
    {int(Cmd::Retry), "retry", "rpki retry <seconds:UINT(1-7200)>",
     "Retry a failed cache connection or query at most this late, whatever the cache says",
     {kRpki, "Retry interval (RFC 8210 §6)", "Seconds"}, Negatable::yes, kBoth},
    {int(Cmd::Expire), "expire", "rpki expire <seconds:UINT(600-172800)>",
     "Drop a cache's data after this long without a successful update, whatever the cache says",
     {kRpki, "Expire interval (RFC 8210 §6)", "Seconds"}, Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kExecRows[] = {
    {int(RpkiExec::ShowCache), "show-cache", "show rpki cache",
     "Show the RTR caches: connection, protocol version, session, serial, counts, timers, last error",
     {kShow, kRpkiState, "The RTR caches and their sessions"}, Negatable::no, kExec},
    {int(RpkiExec::ShowRoa), "show-roa", "show rpki roa [<prefix:PREFIX>]",
     "Show the validated ROA payloads (RTR and JSON), or those covering a prefix",
     {kShow, kRpkiState, "Validated ROA payloads", "Only the VRPs covering this prefix"}, Negatable::no, kExec},
    {int(RpkiExec::ShowAspa), "show-aspa", "show rpki aspa", "Show the validated ASPAs (RTR and JSON)",
     {kShow, kRpkiState, "Customer ASes and their providers"}, Negatable::no, kExec},
    {int(RpkiExec::ShowValidity), "show-validity", "show rpki validity <prefix:PREFIX> origin <asn:UINT(0-4294967295)>",
     "Show the RFC 6811 origin validation state of a route and the VRPs that decide it",
     {kShow, kRpkiState, "Origin validation of a route", "The route's prefix", "Its origin AS",
      "AS number"},
     Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"rpki", 95, kRows}};
const cmd::CommandRegistration kExecGroup{{"rpki", 185, kExecRows}};

std::string render_rpki(const RunningConfig& config, bool) {
    const RpkiConfig& r = config.rpki;
    if (r.caches.empty() && !r.refresh && !r.retry && !r.expire) return {};
    std::string out = "!\n";
    for (const RpkiCacheConfig& c : r.caches) {
        out += fmt::format("rpki cache {} port {}", c.address.str(), c.port);
        if (c.preference != 100) out += fmt::format(" preference {}", c.preference);
        out += "\n";
    }
    if (r.refresh) out += fmt::format("rpki refresh {}\n", *r.refresh);
    if (r.retry) out += fmt::format("rpki retry {}\n", *r.retry);
    if (r.expire) out += fmt::format("rpki expire {}\n", *r.expire);
    return out;
}

class RpkiSection final : public Section {
public:
    RpkiSection() : Section("rpki", 110) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        RpkiConfig& r = cfg.rpki;
        switch (Cmd(c.tag())) {
            case Cmd::Cache: {
                const IpAddr addr = c.ip("address");
                const auto port = uint16_t(c.number("port"));
                auto it = std::find_if(r.caches.begin(), r.caches.end(), [&](const RpkiCacheConfig& x) {
                    return x.address == addr && x.port == port;
                });
                if (c.negated) {
                    if (it == r.caches.end())
                        return fmt::format("no rpki cache {} port {} is configured", addr.str(), port);
                    r.caches.erase(it);
                    return std::nullopt;
                }
                const auto pref = uint8_t(c.has("preference") ? c.number("preference") : 100);
                if (it != r.caches.end()) it->preference = pref;
                else r.caches.push_back(RpkiCacheConfig{addr, port, pref});
                return std::nullopt;
            }
            case Cmd::Refresh:
            case Cmd::Retry:
            case Cmd::Expire: {
                std::optional<uint32_t>& field =
                    Cmd(c.tag()) == Cmd::Refresh ? r.refresh : Cmd(c.tag()) == Cmd::Retry ? r.retry : r.expire;
                std::optional<uint32_t> value;
                if (!c.negated) value = c.number("seconds");
                // RFC 8210 §6: the expire interval must exceed the other two.
                const uint32_t refresh = Cmd(c.tag()) == Cmd::Refresh ? value.value_or(0) : r.refresh.value_or(0);
                const uint32_t retry = Cmd(c.tag()) == Cmd::Retry ? value.value_or(0) : r.retry.value_or(0);
                const std::optional<uint32_t> expire = Cmd(c.tag()) == Cmd::Expire ? value : r.expire;
                if (expire && (*expire <= refresh || *expire <= retry))
                    return fmt::format("rpki expire {} must be longer than the refresh ({}) and retry ({}) intervals",
                                       *expire, refresh, retry);
                field = value;
                return std::nullopt;
            }
        }
        return "not an rpki command";
    }
    ChangeSet changes(const cmd::Parsed&) const override { return no_route_change(); }
    std::vector<RenderPart> render_parts() const override { return {{110, render_rpki}}; }
};

const RpkiSection kSection;

}  // namespace
}  // namespace rampart::config
