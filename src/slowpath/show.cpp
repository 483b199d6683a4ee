#include "slowpath/show.hpp"

#include <fmt/format.h>

namespace rampart {

InterfaceCounters CounterView::sum(uint16_t ifindex) const {
    InterfaceCounters s{};
    if (ifindex >= kMaxInterfaces) return s;
    auto add = [](InterfaceCounters& to, const InterfaceCounters& from, int sign) {
        auto* t = reinterpret_cast<uint64_t*>(&to);
        auto* f = reinterpret_cast<const uint64_t*>(&from);
        for (size_t i = 0; i < sizeof(InterfaceCounters) / sizeof(uint64_t); ++i) t[i] += uint64_t(sign) * f[i];
    };
    for (const Worker* w : workers) add(s, w->counters().iface[ifindex], 1);
    if (baseline && ifindex < baseline->size()) add(s, (*baseline)[ifindex], -1);
    return s;
}

std::string show_interfaces(const RunningConfig& cfg, const FibPublisher& fib, const CounterView& counters,
                            const std::optional<std::string>& only) {
    std::string out;
    for (const InterfaceConfig* ic : ordered_interfaces(cfg)) {
        if (only && *only != ic->name) continue;
        auto ifindex = fib.ifindex_of(ic->name);
        const PortRuntime* rt = fib.port_of(ic->name);
        if (!ifindex || !rt) continue;
        bool admin_up = !ic->shutdown;
        std::string state = !admin_up ? "administratively down" : rt->link_up ? "up" : "down (no link)";
        out += fmt::format("Interface {} (ifindex {}) is {}\n", ic->name, *ifindex, state);
        if (!ic->description.empty()) out += fmt::format("  Description: {}\n", ic->description);
        if (ic->is_port())
            out += fmt::format("  Device {} (driver {}, DPDK port {}), exception path via {} (port {})\n", ic->device,
                               rt->driver.empty() ? "?" : rt->driver, rt->port_id,
                               rt->twin_ifname.empty() ? "-" : rt->twin_ifname, rt->twin_port_id);
        else
            out += fmt::format("  802.1Q vlan {} on {}\n", ic->vlan, ic->parent);
        out += fmt::format("  MAC {}, IP MTU {}\n", rt->mac.str(), ic->mtu);
        std::string addrs;
        for (auto& a : ic->addresses) addrs += (addrs.empty() ? "" : ", ") + a.str();
        out += fmt::format("  Addresses: {}\n", addrs.empty() ? "none" : addrs);
        InterfaceCounters c = counters.sum(*ifindex);
        out += fmt::format("  rx {} packets, {} bytes; tx {} packets, {} bytes\n", c.rx_packets, c.rx_bytes,
                           c.tx_packets, c.tx_bytes);
        out += fmt::format("  exception path: {} punted, {} local out; ICMP errors: {} sent, {} suppressed\n",
                           c.punted, c.local_out, c.icmp_errors_sent, c.icmp_errors_suppressed);
        uint64_t total = 0;
        std::string drops;
        for (unsigned r = 0; r < kNumDropReasons; ++r) {
            if (!c.drops[r]) continue;
            total += c.drops[r];
            drops += fmt::format("    {:<24} {:>12}  {}\n", kDropInfo[r].name, c.drops[r], kDropInfo[r].text);
        }
        out += fmt::format("  drops: {}\n{}", total, drops);
    }
    if (only && out.empty()) return fmt::format("% unknown interface {}\n", *only);
    return out;
}

std::string show_route(const FibPublisher& fib, std::optional<Family> family, const std::optional<Prefix>& prefix) {
    std::string out = "Codes: L local, C connected, N neighbor, S static\n";
    auto code = [](RouteSource s) {
        switch (s) {
            case RouteSource::local: return 'L';
            case RouteSource::connected: return 'C';
            case RouteSource::neighbor: return 'N';
            case RouteSource::static_route: return 'S';
        }
        return '?';
    };
    size_t shown = 0;
    for (const InstalledRoute& r : fib.installed_routes(family)) {
        if (prefix && !(prefix->network() == r.prefix) && !(prefix->len == prefix->addr.bits() && r.prefix.contains(prefix->addr)))
            continue;
        ++shown;
        std::string head = fmt::format("{}  {:<28}", code(r.source), r.prefix.str());
        switch (r.kind) {
            case NhKind::local: out += fmt::format("{} local on {}\n", head, fib.name_of(r.ifindex)); break;
            case NhKind::glean: out += fmt::format("{} attached to {}\n", head, fib.name_of(r.ifindex)); break;
            case NhKind::blackhole: out += fmt::format("{} blackhole\n", head); break;
            case NhKind::unreachable: out += fmt::format("{} unreachable\n", head); break;
            case NhKind::forward:
                for (size_t i = 0; i < r.next_hops.size(); ++i) {
                    const InstalledNextHop& nh = r.next_hops[i];
                    out += fmt::format("{} via {} on {}, {}\n", i == 0 ? head : std::string(head.size(), ' '),
                                       nh.address.str(), fib.name_of(nh.ifindex),
                                       nh.resolved ? "MAC " + nh.mac.str() : std::string("unresolved"));
                }
                break;
        }
    }
    std::string inactive;
    for (auto& [p, why] : fib.unresolved_routes()) {
        if (family && p.addr.family != *family) continue;
        inactive += fmt::format("   {:<28} {}\n", p.str(), why);
    }
    if (!inactive.empty()) out += "Configured but not installed:\n" + inactive;
    out += fmt::format("{} route(s) shown\n", shown);
    return out;
}

std::string show_neighbors(const FibPublisher& fib) {
    std::string out = fmt::format("{:<12} {:<40} {:<18} {}\n", "Interface", "Address", "MAC", "Source");
    for (const NeighborEntry& n : fib.neighbors())
        out += fmt::format("{:<12} {:<40} {:<18} {}\n", fib.name_of(n.ifindex), n.address.str(), n.mac.str(),
                           n.is_static ? "static" : "kernel");
    return out;
}

std::string show_workers(const std::vector<WorkerRate>& rates) {
    std::string out = fmt::format("{:<7} {:<6} {:>14} {:>12} {:>11} {:>7}\n", "Worker", "lcore", "packets", "pps",
                                  "cycles/pkt", "busy%");
    for (const WorkerRate& r : rates)
        out += fmt::format("{:<7} {:<6} {:>14} {:>12.0f} {:>11.1f} {:>7.1f}\n", r.worker_id, r.lcore, r.packets, r.pps,
                           r.cycles_per_packet, r.busy_percent);
    return out;
}

}  // namespace rampart
