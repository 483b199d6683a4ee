// BGP-4 as a protocol of the control core (slowpath/protocol.hpp): the
// Speaker (speaker.hpp) starts with the first `bgp as` line and listens on
// TCP 179 through the kernel twin; its sockets sit behind one epoll
// descriptor the daemon's loop polls, its timers run at the loop's 20 ms
// tick, and it answers the `show bgp` / `clear bgp` exec commands of the BGP
// config section. The RIB's Loc-RIB changes reach the FIB and its Adj-RIB-In
// changes the SAV compiler through the feeds (rib_feeds.hpp), one batch per
// wakeup; next hops resolve through the FIB.
#include <rte_cycles.h>

#include <fmt/format.h>

#include "common/log.hpp"
#include "slowpath/bgp/rib_feeds.hpp"
#include "slowpath/bgp/speaker.hpp"
#include "slowpath/config/bgp.hpp"
#include "slowpath/control.hpp"
#include "slowpath/protocol.hpp"

namespace rampart::bgp {
namespace {

// The default BGP identifier: the highest IPv4 interface address (as FRR and
// BIRD pick theirs), stable while the interfaces are.
uint32_t highest_ipv4_address(const RunningConfig& config) {
    uint32_t best = 0;
    for (auto& [name, i] : config.interfaces)
        for (const Prefix& p : i.addresses)
            if (p.addr.is_v4()) best = std::max(best, p.addr.v4_host());
    return best;
}

class BgpProtocol final : public Protocol {
public:
    explicit BgpProtocol(Control& control)
        : control_(control), speaker_(kBgpPort, kBgpPort, hooks(control)) {}

    void reconfigure(const RunningConfig& config) override {
        if (config.bgp.asn == 0 && !speaker_.running()) return;
        const std::string problems =
            speaker_.configure(config.bgp, config.bgp_policy, highest_ipv4_address(config), steady_now());
        if (!problems.empty() && problems != last_problems_) log::warn("{}", problems);
        last_problems_ = problems;
        // Interfaces and static routes may have changed: BGP's next hops resolve again.
        speaker_.next_hops_changed();
    }

    void stop() override { speaker_.stop(steady_now()); }

    std::vector<int> fds() const override {
        if (!speaker_.running()) return {};
        return {speaker_.fd()};
    }

    void on_readable(int) override { speaker_.on_readable(steady_now()); }

    void tick(uint64_t now) override {
        if (!speaker_.running()) return;
        // The BGP timers (seconds) at the 20 ms tick, not after every wakeup.
        if (now - last_tick_tsc_ < rte_get_tsc_hz() / 50) return;
        last_tick_tsc_ = now;
        speaker_.tick(steady_now());
    }

    CommandResult exec(const cmd::Parsed& c) override {
        using config::BgpExec;
        const Millis now = steady_now();
        switch (BgpExec(c.tag())) {
            case BgpExec::ShowSummary: return {true, speaker_.show_summary(now)};
            case BgpExec::ShowNeighbors: {
                std::optional<IpAddr> only;
                if (c.has_arg("neighbor")) only = c.ip("neighbor");
                std::string text = speaker_.show_neighbors(only, now);
                return {!text.starts_with("%"), text};
            }
            case BgpExec::ShowTable: {
                const AddressFamily family = c.has("ipv4") ? kIpv4Unicast : kIpv6Unicast;
                std::optional<Prefix> prefix;
                if (c.has_arg("prefix")) prefix = c.prefix("prefix");
                std::string text = speaker_.show_table(family, prefix);
                return {!text.starts_with("%"), text};
            }
            case BgpExec::ShowNeighborRoutes: {
                std::string text = speaker_.show_neighbor_routes(c.ip("neighbor"), c.has("advertised-routes"));
                return {!text.starts_with("%"), text};
            }
            case BgpExec::Clear: {
                Speaker::Soft soft = Speaker::Soft::none;
                if (c.has("in")) soft = Speaker::Soft::in;
                if (c.has("out")) soft = Speaker::Soft::out;
                if (auto err = speaker_.clear(c.ip("neighbor"), soft, now)) return {false, "% " + *err + "\n"};
                return {true, ""};
            }
        }
        return {false, "% not a bgp command\n"};
    }

private:
    static Speaker::Hooks hooks(Control& control) {
        Speaker::Hooks h;
        // FIB and SAV from one batch together: one FIB swap per table, one SAV compilation.
        h.data_plane = [&control](Rib& rib) {
            if (auto problems = feed(control, rib); !problems.empty()) log::warn("bgp: {}", problems);
        };
        h.resolver = fib_resolver(control.fib());
        // The interface whose subnet holds the neighbour's address: the SAV
        // compiler sees the neighbour's Adj-RIB-In as that interface's.
        h.sav_interface = [&control](const IpAddr& neighbor) -> std::optional<uint16_t> {
            for (auto& [name, i] : control.config().interfaces)
                for (const Prefix& p : i.addresses)
                    if (p.contains(neighbor)) return control.fib().ifindex_of(name);
            return std::nullopt;
        };
        return h;
    }

    Control& control_;
    Speaker speaker_;
    std::string last_problems_;
    uint64_t last_tick_tsc_ = 0;
};

std::string summary(const RunningConfig& config) {
    if (config.bgp.asn == 0) return {};
    return fmt::format("bgp: AS {}, {} neighbors, {} originated prefixes", config.bgp.asn, config.bgp.neighbors.size(),
                       config.bgp.networks.size());
}

const ProtocolInfo kInfo{"bgp", "bgp", [](Control& control) -> std::unique_ptr<Protocol> {
                             return std::make_unique<BgpProtocol>(control);
                         },
                         summary};
const ProtocolRegistration kRegistered{kInfo};

}  // namespace
}  // namespace rampart::bgp
