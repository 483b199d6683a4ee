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

CommandResult show_interfaces(const RunningConfig& cfg, const FibPublisher& fib, const CounterView& counters,
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
        out += fmt::format("  MAC {}, IP MTU {}, vrf {}, MPLS {}\n", rt->mac.str(), ic->mtu,
                           ic->vrf.empty() ? "default" : ic->vrf, ic->mpls ? "enabled" : "disabled");
        std::string addrs;
        for (auto& a : ic->addresses) addrs += (addrs.empty() ? "" : ", ") + a.str();
        out += fmt::format("  Addresses: {}\n", addrs.empty() ? "none" : addrs);
        InterfaceCounters c = counters.sum(*ifindex);
        out += fmt::format("  rx {} packets, {} bytes; tx {} packets, {} bytes\n", c.rx_packets, c.rx_bytes,
                           c.tx_packets, c.tx_bytes);
        out += fmt::format("  exception path: {} punted, {} local out; ICMP errors: {} sent, {} suppressed\n",
                           c.punted, c.local_out, c.icmp_errors_sent, c.icmp_errors_suppressed);
        if (c.frr_backup_tx) out += fmt::format("  fast reroute: {} packets sent here as a backup path\n", c.frr_backup_tx);
        uint64_t total = 0;
        std::string drops;
        for (unsigned r = 0; r < kNumDropReasons; ++r) {
            if (!c.drops[r]) continue;
            total += c.drops[r];
            drops += fmt::format("    {:<24} {:>12}  {}\n", kDropInfo[r].name, c.drops[r], kDropInfo[r].text);
        }
        out += fmt::format("  drops: {}\n{}", total, drops);
    }
    if (only && out.empty()) return {false, fmt::format("% unknown interface {}\n", *only)};
    return {true, out};
}

namespace {

std::string label_text(const LabelList& labels) {
    std::string out;
    for (uint32_t l : labels) out += (out.empty() ? "" : "/") + std::to_string(l);
    return out;
}

// "via 198.51.100.2 on core1, MAC ..., push 16001/16002 [backup via ... push ...]"
std::string next_hop_text(const FibPublisher& fib, const InstalledNextHop& nh, std::string_view label_verb) {
    std::string out = fmt::format("via {} on {}, {}", nh.address.str(), fib.name_of(nh.ifindex),
                                  nh.resolved ? "MAC " + nh.mac.str() : std::string("unresolved"));
    if (!nh.labels.empty()) out += fmt::format(", {} {}", label_verb, label_text(nh.labels));
    if (nh.backup_ifindex != kNoInterface) {
        out += fmt::format("; backup via {} on {}", nh.backup_address.str(), fib.name_of(nh.backup_ifindex));
        if (!nh.backup_labels.empty()) out += fmt::format(", {} {}", label_verb, label_text(nh.backup_labels));
    }
    return out;
}

std::string label_action(const FibPublisher& fib, const InstalledLabel& l, size_t path) {
    switch (l.kind) {
        case NhKind::vrf_lookup: return fmt::format("pop, look up in vrf {}", fib.vrf_name(l.vrf));
        case NhKind::forward: {
            const InstalledNextHop& nh = l.paths[path];
            // "swap to 200/201 via ..." / "pop, via ..."; a backup's repair stack replaces the label.
            std::string head = nh.labels.empty() ? "pop," : "swap to " + label_text(nh.labels);
            InstalledNextHop shown = nh;
            shown.labels.clear();
            return head + " " + next_hop_text(fib, shown, "swap to");
        }
        default: return "drop";
    }
}

}  // namespace

LabelCounter LabelCounterView::sum(uint32_t slot) const {
    LabelCounter s{};
    if (slot >= kMaxIlmEntries) return s;
    for (const Worker* w : workers) {
        s.packets += w->label_counters()[slot].packets;
        s.bytes += w->label_counters()[slot].bytes;
    }
    if (baseline && slot < baseline->size()) {
        s.packets -= (*baseline)[slot].packets;
        s.bytes -= (*baseline)[slot].bytes;
    }
    return s;
}

std::string show_route(const FibPublisher& fib, std::optional<Family> family, const std::optional<Prefix>& prefix,
                       uint16_t vrf, const std::map<Prefix, std::string>& owners) {
    std::string out = "Codes: L local, C connected, N neighbor, S static, B bgp\n";
    if (vrf) out = fmt::format("VRF {}\n", fib.vrf_name(vrf)) + out;
    auto code = [](RouteSource s) {
        switch (s) {
            case RouteSource::local: return 'L';
            case RouteSource::connected: return 'C';
            case RouteSource::neighbor: return 'N';
            case RouteSource::static_route: return 'S';
            case RouteSource::bgp: return 'B';
        }
        return '?';
    };
    size_t shown = 0;
    for (const InstalledRoute& r : fib.installed_routes(family, vrf)) {
        if (prefix && !(prefix->network() == r.prefix) && !(prefix->len == prefix->addr.bits() && r.prefix.contains(prefix->addr)))
            continue;
        ++shown;
        std::string head = fmt::format("{}  {:<28}", code(r.source), r.prefix.str());
        switch (r.kind) {
            case NhKind::local: out += fmt::format("{} local on {}\n", head, fib.name_of(r.ifindex)); break;
            case NhKind::glean: out += fmt::format("{} attached to {}\n", head, fib.name_of(r.ifindex)); break;
            case NhKind::blackhole: out += fmt::format("{} blackhole\n", head); break;
            case NhKind::unreachable: out += fmt::format("{} unreachable\n", head); break;
            case NhKind::vrf_lookup: out += fmt::format("{} lookup in vrf {}\n", head, fib.vrf_name(r.target_vrf)); break;
            case NhKind::forward: {
                auto owner = owners.find(r.prefix);
                const std::string by = owner == owners.end() ? "" : "  [" + owner->second + "]";
                for (size_t i = 0; i < r.next_hops.size(); ++i)
                    out += fmt::format("{} {}{}\n", i == 0 ? head : std::string(head.size(), ' '),
                                       next_hop_text(fib, r.next_hops[i], "labels"), by);
                break;
            }
        }
    }
    std::string inactive;
    for (auto& [k, why] : fib.unresolved_routes()) {
        if (k.vrf != vrf || (family && k.prefix.addr.family != *family)) continue;
        inactive += fmt::format("   {:<28} {}\n", k.prefix.str(), why);
    }
    if (!inactive.empty()) out += "Configured but not installed:\n" + inactive;
    out += fmt::format("{} route(s) shown\n", shown);
    return out;
}

std::string show_mpls_ilm(const FibPublisher& fib, const LabelCounterView& counters) {
    std::string out = fmt::format("{:<8} {:<34} {:>12} {:>14}  {}\n", "Label", "Owner", "Packets", "Bytes", "Action");
    for (const InstalledLabel& l : fib.installed_labels()) {
        LabelCounter c = counters.sum(l.counter_slot);
        const size_t rows = l.kind == NhKind::forward ? l.paths.size() : 1;
        for (size_t i = 0; i < rows; ++i) {
            if (i == 0)
                out += fmt::format("{:<8} {:<34} {:>12} {:>14}  {}\n", l.label, l.owner, c.packets, c.bytes,
                                   label_action(fib, l, i));
            else
                out += fmt::format("{:<8} {:<34} {:>12} {:>14}  {}\n", "", "", "", "", label_action(fib, l, i));
        }
    }
    if (!fib.unresolved_labels().empty()) {
        out += "Configured but not installed:\n";
        for (auto& [label, why] : fib.unresolved_labels()) out += fmt::format("   {:<8} {}\n", label, why);
    }
    return out;
}

CommandResult show_mpls_label(const FibPublisher& fib, const LabelCounterView& counters, uint32_t label) {
    auto l = fib.installed_label(label);
    if (!l) {
        auto why = fib.unresolved_labels().find(label);
        if (why != fib.unresolved_labels().end()) return {false, fmt::format("% label {} not installed: {}\n", label, why->second)};
        return {false, fmt::format("% no entry for label {}\n", label)};
    }
    LabelCounter c = counters.sum(l->counter_slot);
    std::string out = fmt::format("Label {} ({})\n  {} packets, {} bytes\n", label, l->owner, c.packets, c.bytes);
    const size_t rows = l->kind == NhKind::forward ? l->paths.size() : 1;
    for (size_t i = 0; i < rows; ++i) out += "  " + label_action(fib, *l, i) + "\n";
    return {true, out};
}

std::string show_mpls_ftn(const RunningConfig& cfg, const FibPublisher& fib) {
    std::string out = fmt::format("{:<10} {:<28} {}\n", "VRF", "Prefix", "Imposition");
    std::vector<uint16_t> vrfs{0};
    for (auto& [name, v] : cfg.vrfs)
        if (auto id = fib.vrf_id(name)) vrfs.push_back(*id);
    for (uint16_t vrf : vrfs)
        for (const InstalledRoute& r : fib.installed_routes(std::nullopt, vrf)) {
            bool labelled = false;
            for (auto& nh : r.next_hops) labelled |= !nh.labels.empty() || !nh.backup_labels.empty();
            if (!labelled) continue;
            for (size_t i = 0; i < r.next_hops.size(); ++i)
                out += fmt::format("{:<10} {:<28} {}\n", i ? "" : fib.vrf_name(vrf), i ? "" : r.prefix.str(),
                                   next_hop_text(fib, r.next_hops[i], "push"));
        }
    return out;
}

std::string show_segment_routing(const RunningConfig& cfg, const FibPublisher& fib) {
    const SegmentRoutingConfig& sr = cfg.sr;
    std::string out;
    if (sr.srgb) out += fmt::format("SRGB {}-{} ({} labels)\n", sr.srgb->lo, sr.srgb->hi, sr.srgb->hi - sr.srgb->lo + 1);
    else out += "SRGB not configured\n";
    auto state = [&](uint32_t label) -> std::string {
        if (fib.installed_label(label)) return "installed";
        auto why = fib.unresolved_labels().find(label);
        return why == fib.unresolved_labels().end() ? "not installed" : "not installed: " + why->second;
    };
    if (!sr.prefix_sids.empty()) {
        out += "Prefix SIDs:\n";
        for (auto& [p, index] : sr.prefix_sids) {
            if (!sr.srgb) break;
            out += fmt::format("  {:<28} index {:<6} label {:<8} {}\n", p.str(), index, sr.srgb->lo + index,
                               state(sr.srgb->lo + index));
        }
    }
    if (!sr.neighbor_srgbs.empty()) {
        out += "Neighbor SRGBs:\n";
        for (auto& [nh, b] : sr.neighbor_srgbs) out += fmt::format("  {:<28} {}-{}\n", nh.str(), b.lo, b.hi);
    }
    if (!sr.adjacency_sids.empty()) {
        out += "Adjacency SIDs:\n";
        for (auto& [label, path] : sr.adjacency_sids)
            out += fmt::format("  label {:<8} via {}{}  {}\n", label, path.gateway.str(),
                               path.ifname.empty() ? "" : " interface " + path.ifname, state(label));
    }
    if (!sr.policies.empty()) {
        out += "Policies:\n";
        for (auto& [name, pol] : sr.policies) {
            out += fmt::format("  {:<16} segments {} via {}{}", name, label_text(pol.segments), pol.gateway.str(),
                               pol.ifname.empty() ? "" : " interface " + pol.ifname);
            if (pol.binding_sid) out += fmt::format(", binding SID {} ({})", *pol.binding_sid, state(*pol.binding_sid));
            out += "\n";
            const std::string& policy_name = name;  // clang 14 cannot capture structured bindings
            auto steer = [&](const std::string& vrf, const RouteTable& routes) {
                for (auto& [p, hops] : routes)
                    for (auto& h : hops)
                        if (h.kind == RouteNextHop::Kind::policy && h.target == policy_name)
                            out += fmt::format("    steers {}{}\n", vrf.empty() ? "" : "vrf " + vrf + " ", p.str());
            };
            steer("", cfg.routes);
            for (auto& [vn, v] : cfg.vrfs) steer(vn, v.routes);
        }
    }
    return out;
}

CommandResult show_vrf(const RunningConfig& cfg, const FibPublisher& fib, const std::optional<std::string>& only) {
    std::string out;
    for (auto& [name, v] : cfg.vrfs) {
        if (only && *only != name) continue;
        auto id = fib.vrf_id(name);
        out += fmt::format("VRF {} (id {}){}\n", name, id ? std::to_string(*id) : std::string("-, no tables"),
                           v.label ? fmt::format(", VPN label {}", *v.label) : std::string());
        std::string ifs;
        for (auto& [n, ic] : cfg.interfaces)
            if (ic.vrf == name) ifs += (ifs.empty() ? "" : ", ") + n;
        out += fmt::format("  Interfaces: {}\n", ifs.empty() ? "none" : ifs);
        if (id) {
            size_t v4 = fib.installed_routes(Family::v4, *id).size(), v6 = fib.installed_routes(Family::v6, *id).size();
            out += fmt::format("  Routes installed: {} IPv4, {} IPv6; configured static: {}\n", v4, v6, v.routes.size());
        }
    }
    if (only && out.empty()) return {false, fmt::format("% unknown vrf {}\n", *only)};
    if (out.empty()) out = "no VRFs configured\n";
    return {true, out};
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

CommandResult show_ipsec_sa(const IpsecConfig& all, const IpsecInstalled& installed, const IpsecPublisher& ipsec,
                          const std::optional<std::string>& only) {
    std::string out;
    for (const IpsecSaState& st : ipsec.sa_states(all)) {
        if (only && *only != st.name) continue;
        const IpsecSaConfig& c = *st.config;
        const bool in = c.direction == IpsecSaConfig::Direction::inbound;
        const std::string* owner = installed.owner_of_sa(st.name);
        out += fmt::format("SA {} {} SPI {} (0x{:08x}), {} {} -> {}, vrf {}{}\n", st.name, in ? "inbound" : "outbound",
                           c.spi, c.spi, c.transport ? "transport" : "tunnel", c.local.str(), c.remote.str(),
                           c.vrf.empty() ? "default" : c.vrf, owner ? ", installed by " + *owner : std::string());
        out += fmt::format("  {}{}{}{}\n", c.cipher.empty() ? "no encryption yet" : c.cipher,
                           c.integrity.empty() ? "" : " " + c.integrity, c.esn ? ", ESN" : "",
                           in ? fmt::format(", replay window {}", c.replay_window) : std::string());
        if (!st.lifetime.empty()) out += fmt::format("  lifetime: {}\n", st.lifetime);
        if (!st.installed) {
            out += fmt::format("  not installed: {}\n", st.reason);
            continue;
        }
        const SaCounters n = ipsec.counters(st.counter);
        out += fmt::format("  owner worker {}; {} packets, {} bytes{}\n", st.owner, n.packets, n.bytes,
                           in ? std::string() : fmt::format("; {} sequence numbers used", st.sequence_used));
        if (in)
            out += fmt::format("  drops: {} auth failed, {} replayed, {} too old, {} bad trailer, {} policy mismatch\n",
                               n.auth_failed, n.replay_duplicate, n.replay_too_old, n.bad_trailer, n.policy_mismatch);
        else if (n.sequence_exhausted)
            out += fmt::format("  drops: {} sequence exhausted (rekey needed)\n", n.sequence_exhausted);
        if (!in && n.fragmented) out += fmt::format("  {} packets fragmented after encryption\n", n.fragmented);
    }
    if (only && out.empty()) return {false, fmt::format("% unknown ipsec sa {}\n", *only)};
    if (out.empty()) out = "no IPsec SAs configured\n";
    return {true, out};
}

std::string show_ipsec_spd(const IpsecConfig& all, const IpsecInstalled& installed, const std::optional<std::string>& vrf,
                           const std::function<uint64_t(const std::string& vrf, uint32_t seq)>& acquires) {
    std::string out;
    for (auto& [vrf_name, entries] : all.policies) {
        if (vrf && *vrf != vrf_name && !(vrf_name.empty() && *vrf == "default")) continue;
        out += fmt::format("SPD of vrf {}\n", vrf_name.empty() ? "default" : vrf_name);
        for (auto& [seq, p] : entries) {
            std::string sel = fmt::format("local {} remote {}", p.local.str(), p.remote.str());
            if (p.protocol) sel += fmt::format(" protocol {}", *p.protocol);
            if (p.local_port_lo != 0 || p.local_port_hi != 65535)
                sel += fmt::format(" local-ports {}-{}", p.local_port_lo, p.local_port_hi);
            if (p.remote_port_lo != 0 || p.remote_port_hi != 65535)
                sel += fmt::format(" remote-ports {}-{}", p.remote_port_lo, p.remote_port_hi);
            std::string action = p.action == IpsecPolicyConfig::Action::bypass    ? "bypass"
                                 : p.action == IpsecPolicyConfig::Action::discard ? "discard"
                                 : p.outbound_sa.empty()                          ? std::string("protect, no SA yet (trap)")
                                                                                  : "protect out " + p.outbound_sa;
            if (p.action == IpsecPolicyConfig::Action::protect && !p.inbound_sa.empty()) action += " in " + p.inbound_sa;
            for (auto& older : p.older_inbound_sas) action += " (and " + older + " until rekeyed)";
            if (uint64_t n = acquires ? acquires(vrf_name, seq) : 0) action += fmt::format(" ({} acquires: no SA)", n);
            if (const std::string* owner = installed.owner_of_policy(vrf_name, seq)) action += " [" + *owner + "]";
            out += fmt::format("  {:>5}  {}  {}\n", seq, sel, action);
        }
    }
    if (out.empty()) out = "no SPD entries\n";
    return out;
}

}  // namespace rampart
