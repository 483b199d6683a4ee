#include "slowpath/config_model.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace rampart {

namespace {

constexpr size_t kMaxEcmpNextHops = 8;

std::string quote_if_needed(const std::string& s) {
    bool plain = !s.empty() && s.find_first_of(" \t\"\\") == std::string::npos;
    if (plain) return s;
    std::string q = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    return q + "\"";
}

std::optional<std::string> apply_interface(RunningConfig& cfg, const cmd::Parsed& c, bool startup) {
    const std::string& name = c.word("name");
    auto it = cfg.interfaces.find(name);
    using cmd::Id;

    if (c.id == Id::InterfaceDevice) {
        if (!startup) return "ports are bound to devices in the startup configuration only (restart rampartd to add one)";
        if (it != cfg.interfaces.end()) return fmt::format("interface {} already exists", name);
        InterfaceConfig i;
        i.name = name;
        i.device = c.word("dev");
        cfg.interfaces.emplace(name, std::move(i));
        return std::nullopt;
    }
    if (c.id == Id::InterfaceVlan) {
        const std::string& parent = c.word("parent");
        uint16_t vid = uint16_t(c.number("vid"));
        if (c.negated) {
            if (it == cfg.interfaces.end() || it->second.parent != parent || it->second.vlan != vid)
                return fmt::format("no sub-interface {} with vlan {} on {}", name, vid, parent);
            // A deleted sub-interface must not leave routes pointing at it.
            for (auto& [p, hops] : cfg.routes)
                for (auto& h : hops)
                    if (h.ifname == name)
                        return fmt::format("route {} uses interface {}; delete the route first", p.str(), name);
            cfg.interfaces.erase(it);
            return std::nullopt;
        }
        if (it != cfg.interfaces.end()) return fmt::format("interface {} already exists", name);
        auto p = cfg.interfaces.find(parent);
        if (p == cfg.interfaces.end()) return fmt::format("unknown parent interface {}", parent);
        if (!p->second.is_port()) return fmt::format("parent {} is itself a sub-interface", parent);
        for (auto& [n, i] : cfg.interfaces)
            if (i.parent == parent && i.vlan == vid) return fmt::format("vlan {} on {} is already {}", vid, parent, n);
        InterfaceConfig i;
        i.name = name;
        i.parent = parent;
        i.vlan = vid;
        cfg.interfaces.emplace(name, std::move(i));
        return std::nullopt;
    }
    if (it == cfg.interfaces.end()) return fmt::format("unknown interface {}", name);
    InterfaceConfig& i = it->second;
    switch (c.id) {
        case Id::InterfaceAddress: {
            Prefix p = c.prefix("prefix");
            auto pos = std::find(i.addresses.begin(), i.addresses.end(), p);
            if (c.negated) {
                if (pos == i.addresses.end()) return fmt::format("{} has no address {}", name, p.str());
                i.addresses.erase(pos);
                return std::nullopt;
            }
            if (pos != i.addresses.end()) return fmt::format("{} already has address {}", name, p.str());
            if (p.network().addr == p.addr && p.len < p.addr.bits() - (p.addr.is_v4() ? 1 : 0))
                return fmt::format("{} is a network address, not a host address", p.str());
            for (auto& [n, other] : cfg.interfaces)
                for (auto& a : other.addresses)
                    if (a.addr == p.addr) return fmt::format("address {} is already on {}", p.addr.str(), n);
            i.addresses.push_back(p);
            return std::nullopt;
        }
        case Id::InterfaceNeighbor: {
            IpAddr a = c.ip("address");
            auto pos = i.static_neighbors.find(a);
            if (c.negated) {
                if (pos == i.static_neighbors.end()) return fmt::format("{} has no static neighbor {}", name, a.str());
                i.static_neighbors.erase(pos);
                return std::nullopt;
            }
            MacAddr m = c.mac("mac");
            if (m.bytes[0] & 1) return fmt::format("{} is a multicast MAC address", m.str());
            i.static_neighbors[a] = m;
            return std::nullopt;
        }
        case Id::InterfaceMtu:
            i.mtu = c.negated ? 1500 : uint16_t(c.number("mtu"));
            return std::nullopt;
        case Id::InterfaceShutdown:
            i.shutdown = !c.negated;
            return std::nullopt;
        case Id::InterfaceDescription:
            i.description = c.negated ? "" : c.word("text");
            return std::nullopt;
        default: return "not an interface command";
    }
}

std::optional<std::string> apply_route(RunningConfig& cfg, const cmd::Parsed& c) {
    Prefix prefix = c.prefix("prefix").network();
    RouteNextHop nh;
    if (c.has("gateway")) {
        nh.kind = RouteNextHop::Kind::via;
        nh.gateway = c.ip("gateway");
        if (nh.gateway.family != prefix.addr.family)
            return fmt::format("gateway {} is not of the same address family as {}", nh.gateway.str(), prefix.str());
        if (c.has("ifname")) nh.ifname = c.word("ifname");
    } else if (c.has("blackhole")) {
        nh.kind = RouteNextHop::Kind::blackhole;
    } else if (c.has("unreachable")) {
        nh.kind = RouteNextHop::Kind::unreachable;
    } else {
        nh.kind = RouteNextHop::Kind::attached;
        nh.ifname = c.word("ifname");
    }
    if (!nh.ifname.empty() && !cfg.interfaces.count(nh.ifname))
        return fmt::format("unknown interface {}", nh.ifname);

    auto it = cfg.routes.find(prefix);
    if (c.negated) {
        if (it == cfg.routes.end()) return fmt::format("no route {}", prefix.str());
        auto pos = std::find(it->second.begin(), it->second.end(), nh);
        if (pos == it->second.end()) return fmt::format("route {} has no such next hop", prefix.str());
        it->second.erase(pos);
        if (it->second.empty()) cfg.routes.erase(it);
        return std::nullopt;
    }
    static const std::vector<RouteNextHop> kNone;
    const std::vector<RouteNextHop>& hops = it == cfg.routes.end() ? kNone : it->second;
    if (std::find(hops.begin(), hops.end(), nh) != hops.end()) {
        return fmt::format("route {} already has this next hop", prefix.str());
    }
    bool is_ecmp_kind = nh.kind == RouteNextHop::Kind::via || nh.kind == RouteNextHop::Kind::attached;
    for (auto& h : hops) {
        bool other_ecmp = h.kind == RouteNextHop::Kind::via || h.kind == RouteNextHop::Kind::attached;
        if (!is_ecmp_kind || !other_ecmp) {
            return fmt::format("route {} already exists with another kind of next hop; delete it first", prefix.str());
        }
    }
    if (hops.size() >= kMaxEcmpNextHops)
        return fmt::format("route {} already has {} next hops (the ECMP maximum)", prefix.str(), kMaxEcmpNextHops);
    cfg.routes[prefix].push_back(nh);  // validated: only now change anything
    return std::nullopt;
}

}  // namespace

// Every branch validates before it changes anything, so a failed command
// leaves the configuration as it was without copying it (a million routes
// would make each CLI change cost a copy).
std::optional<std::string> apply_command(RunningConfig& config, const cmd::Parsed& c, bool startup) {
    using cmd::Id;
    switch (c.id) {
        case Id::InterfaceDevice:
        case Id::InterfaceVlan:
        case Id::InterfaceAddress:
        case Id::InterfaceMtu:
        case Id::InterfaceShutdown:
        case Id::InterfaceDescription:
        case Id::InterfaceNeighbor: return apply_interface(config, c, startup);
        case Id::Route: return apply_route(config, c);
        case Id::IcmpRateLimit: config.icmp_rate_pps = c.negated ? 100 : c.number("pps"); return std::nullopt;
        default: return "not a configuration command";
    }
}

std::vector<const InterfaceConfig*> ordered_interfaces(const RunningConfig& config) {
    std::vector<const InterfaceConfig*> out;
    for (auto& [n, i] : config.interfaces)
        if (i.is_port()) out.push_back(&i);
    for (auto& [n, i] : config.interfaces)
        if (!i.is_port()) out.push_back(&i);
    return out;
}

std::string render_running_config(const RunningConfig& config) {
    std::string out = "! rampartd running configuration\n";
    for (const InterfaceConfig* i : ordered_interfaces(config)) {
        out += "!\n";
        if (i->is_port()) out += fmt::format("interface {} device {}\n", i->name, quote_if_needed(i->device));
        else out += fmt::format("interface {} vlan {} parent {}\n", i->name, i->vlan, i->parent);
        if (!i->description.empty())
            out += fmt::format("interface {} description {}\n", i->name, quote_if_needed(i->description));
        if (i->mtu != 1500) out += fmt::format("interface {} mtu {}\n", i->name, i->mtu);
        for (auto& a : i->addresses) out += fmt::format("interface {} address {}\n", i->name, a.str());
        for (auto& [a, m] : i->static_neighbors)
            out += fmt::format("interface {} neighbor {} {}\n", i->name, a.str(), m.str());
        if (i->shutdown) out += fmt::format("interface {} shutdown\n", i->name);
    }
    if (!config.routes.empty()) out += "!\n";
    for (auto& [p, hops] : config.routes) {
        for (auto& h : hops) {
            switch (h.kind) {
                case RouteNextHop::Kind::via:
                    out += h.ifname.empty() ? fmt::format("route {} via {}\n", p.str(), h.gateway.str())
                                            : fmt::format("route {} via {} interface {}\n", p.str(), h.gateway.str(), h.ifname);
                    break;
                case RouteNextHop::Kind::attached: out += fmt::format("route {} interface {}\n", p.str(), h.ifname); break;
                case RouteNextHop::Kind::blackhole: out += fmt::format("route {} blackhole\n", p.str()); break;
                case RouteNextHop::Kind::unreachable: out += fmt::format("route {} unreachable\n", p.str()); break;
            }
        }
    }
    if (config.icmp_rate_pps != 100) out += fmt::format("!\nicmp rate-limit {}\n", config.icmp_rate_pps);
    return out;
}

}  // namespace rampart

namespace rampart {
std::optional<std::string> load_config_text(RunningConfig& config, std::string_view text) {
    RunningConfig candidate = config;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (cmd::is_blank_or_comment(line)) continue;
        auto parsed = cmd::parse(line);
        if (auto* e = std::get_if<cmd::ParseError>(&parsed))
            return fmt::format("line {}: {}: {}", line_no, line, e->message);
        const auto& c = std::get<cmd::Parsed>(parsed);
        if (cmd::scope(c.id) == cmd::Scope::exec_only)
            return fmt::format("line {}: {}: '{}' is not allowed in a configuration file", line_no, line,
                               c.line.substr(0, c.line.find(' ')));
        if (auto err = apply_command(candidate, c, true)) return fmt::format("line {}: {}: {}", line_no, line, *err);
    }
    config = std::move(candidate);
    return std::nullopt;
}
}  // namespace rampart
