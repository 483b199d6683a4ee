// Static routes of the default table and the VRFs (ECMP, labels pushed,
// fast-reroute backups, route leaking, SR policy steering), and the routes
// protocols install (IKE reverse routes).
#include <algorithm>

#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { Route, ShowRoute };

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::Route), "route",
     "route [vrf <vrf:WORD>] <prefix:PREFIX> via <gateway:IP> [interface <ifname:IFNAME>] [labels <labels:LABELS>] "
     "[backup <backup:IP> [backup-interface <backup-ifname:IFNAME>] [backup-labels <backup-labels:LABELS>]]",
     "Add a static route through a gateway",
     {kRoute, kInVrf, kVrfName, kDestination, kVia, kGateway, kViaIf, kOutInterface,
      "Push an MPLS label stack (FTN)", kLabelStack, kBackup, kBackupGateway, kBackupIf, kOutInterface,
      kBackupLabels, kBackupStack},
     Negatable::yes, kBoth},
    {int(Cmd::Route), "route", "route [vrf <vrf:WORD>] <prefix:PREFIX> interface <ifname:IFNAME>",
     "Add a directly attached static route",
     {kRoute, kInVrf, kVrfName, kDestination, "Directly attached: send straight out of an interface", kOutInterface},
     Negatable::yes, kBoth},
    {int(Cmd::Route), "route", "route [vrf <vrf:WORD>] <prefix:PREFIX> blackhole",
     "Add a route that silently discards packets",
     {kRoute, kInVrf, kVrfName, kDestination, "Silently discard matching packets"},
     Negatable::yes, kBoth},
    {int(Cmd::Route), "route", "route [vrf <vrf:WORD>] <prefix:PREFIX> unreachable",
     "Add a route that discards packets and answers ICMP unreachable",
     {kRoute, kInVrf, kVrfName, kDestination, "Discard matching packets and answer ICMP unreachable"},
     Negatable::yes, kBoth},
    {int(Cmd::Route), "route", "route [vrf <vrf:WORD>] <prefix:PREFIX> next-vrf <target:WORD>",
     "Add a route that looks the destination up in another VRF (route leaking)",
     {kRoute, kInVrf, kVrfName, kDestination, "Look the destination up in another VRF",
      "VRF to look it up in; \"default\" for the default table"},
     Negatable::yes, kBoth},
    {int(Cmd::Route), "route", "route [vrf <vrf:WORD>] <prefix:PREFIX> policy <policy:WORD>",
     "Add a route that steers packets into an SR policy",
     {kRoute, kInVrf, kVrfName, kDestination, "Steer matching packets into an SR policy", kPolicyName},
     Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kShowRows[] = {
    {int(Cmd::ShowRoute), "show", "show route [vrf <vrf:WORD>] [ipv4|ipv6] [<prefix:PREFIX>]", "Show the routing table",
     {kShow, "The routing table", "A VRF's table instead of the default one", kVrfName, "IPv4 routes only",
      "IPv6 routes only", "Only the route that this prefix resolves to"},
     Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"routes", 20, kRows}};
const cmd::CommandRegistration kShowGroup{{"routes", 110, kShowRows}};


bool is_ecmp_kind(RouteNextHop::Kind k) { return k == RouteNextHop::Kind::via || k == RouteNextHop::Kind::attached; }

// Two next hops that go the same way, whatever labels or backups they carry.
bool same_way(const RouteNextHop& a, const RouteNextHop& b) {
    return a.kind == b.kind && a.gateway == b.gateway && a.ifname == b.ifname && a.target == b.target;
}

std::optional<std::string> apply_route(RunningConfig& cfg, const cmd::Parsed& c) {
    Prefix prefix = c.prefix("prefix").network();
    std::string vrf;
    RouteTable* table = &cfg.routes;
    if (c.has("vrf")) {
        vrf = c.word("vrf");
        auto v = cfg.vrfs.find(vrf);
        if (v == cfg.vrfs.end()) return fmt::format("unknown vrf {}", shown(vrf));
        table = &v->second.routes;
    }
    const std::string name = route_name(vrf, prefix);

    RouteNextHop nh;
    if (c.has("gateway")) {
        nh.kind = RouteNextHop::Kind::via;
        nh.gateway = c.ip("gateway");
        if (nh.gateway.family != prefix.addr.family)
            return fmt::format("gateway {} is not of the same address family as {}", nh.gateway.str(), prefix.str());
        if (c.has("ifname")) nh.ifname = c.word("ifname");
        if (c.has("labels")) nh.labels = c.labels("labels");
        if (auto bad = read_backup(cfg, c, prefix.addr.family, nh.backup)) return bad;
        if (nh.backup && nh.backup->gateway == nh.gateway && nh.backup->ifname == nh.ifname &&
            nh.backup->labels == nh.labels)
            return fmt::format("backup {} is the primary path itself", nh.backup->gateway.str());
    } else if (c.has("blackhole")) {
        nh.kind = RouteNextHop::Kind::blackhole;
    } else if (c.has("unreachable")) {
        nh.kind = RouteNextHop::Kind::unreachable;
    } else if (c.has("next-vrf")) {
        nh.kind = RouteNextHop::Kind::next_vrf;
        nh.target = vrf_ref(c.word("target"));  // "" = the default table
        if (nh.target == vrf)
            return fmt::format("{} cannot look the destination up in its own table ({})", name, table_name(vrf));
        if (!nh.target.empty() && !cfg.vrfs.count(nh.target)) return fmt::format("unknown vrf {}", shown(nh.target));
    } else if (c.has("policy")) {
        nh.kind = RouteNextHop::Kind::policy;
        nh.target = c.word("policy");
        if (!cfg.sr.policies.count(nh.target))
            return fmt::format("unknown segment-routing policy {}", shown(nh.target));
    } else {
        nh.kind = RouteNextHop::Kind::attached;
        nh.ifname = c.word("ifname");
    }
    if (auto bad = check_interface_exists(cfg, nh.ifname)) return bad;

    auto it = table->find(prefix);
    if (it != table->end())
        for (const RouteNextHop& h : it->second)
            if (!h.owner.empty())
                return fmt::format("{} is installed by {}; it goes when {} removes it", name, h.owner, h.owner);
    if (c.negated) {
        if (it == table->end()) return fmt::format("no {}", name);
        auto pos = std::find(it->second.begin(), it->second.end(), nh);
        if (pos == it->second.end()) return fmt::format("{} has no such next hop", name);
        it->second.erase(pos);
        if (it->second.empty()) table->erase(it);
        return std::nullopt;
    }
    static const std::vector<RouteNextHop> kNone;
    const std::vector<RouteNextHop>& hops = it == table->end() ? kNone : it->second;
    if (std::find(hops.begin(), hops.end(), nh) != hops.end()) return fmt::format("{} already has this next hop", name);
    for (auto& h : hops) {
        if (!is_ecmp_kind(nh.kind) || !is_ecmp_kind(h.kind))
            return fmt::format("{} already exists with another kind of next hop; delete it first", name);
        if (same_way(h, nh))
            return fmt::format("{} already has this next hop with other labels or backup; delete it first", name);
    }
    if (hops.size() >= kMaxEcmpNextHops)
        return fmt::format("{} already has {} next hops (the ECMP maximum)", name, kMaxEcmpNextHops);
    (*table)[prefix].push_back(std::move(nh));  // validated: only now change anything
    return std::nullopt;
}

std::string route_line(const std::string& vrf, const Prefix& p, const RouteNextHop& h) {
    std::string out = route_name(vrf, p);
    switch (h.kind) {
        case RouteNextHop::Kind::via:
            out += " via " + h.gateway.str();
            if (!h.ifname.empty()) out += " interface " + h.ifname;
            if (!h.labels.empty()) out += " labels " + labels_text(h.labels);
            out += backup_text(h.backup);
            break;
        case RouteNextHop::Kind::attached: out += " interface " + h.ifname; break;
        case RouteNextHop::Kind::blackhole: out += " blackhole"; break;
        case RouteNextHop::Kind::unreachable: out += " unreachable"; break;
        case RouteNextHop::Kind::next_vrf: out += " next-vrf " + (h.target.empty() ? "default" : h.target); break;
        case RouteNextHop::Kind::policy: out += " policy " + h.target; break;
    }
    return out + "\n";
}

std::string render_routes(const RunningConfig& config, bool) {
    std::string out;
    if (!config.routes.empty()) out += "!\n";
    for (auto& [p, hops] : config.routes)
        for (auto& h : hops)
            if (h.owner.empty()) out += route_line("", p, h);  // owned ones are the protocol's state
    for (auto& [name, vrf] : config.vrfs) {
        if (!vrf.routes.empty()) out += "!\n";
        for (auto& [p, hops] : vrf.routes)
            for (auto& h : hops) out += route_line(name, p, h);
    }
    return out;
}

// The first route of `table` (of VRF `vrf`) that `uses`.
template <typename Uses>
std::optional<std::pair<std::string, Prefix>> first_route(const RunningConfig& cfg, Uses&& uses,
                                                          const std::string* skip_vrf = nullptr) {
    auto in = [&](const RouteTable& table) -> std::optional<Prefix> {
        for (auto& [p, hops] : table)
            for (auto& h : hops)
                if (uses(h)) return p;
        return std::nullopt;
    };
    if (auto p = in(cfg.routes)) return std::pair{std::string(), *p};
    for (auto& [vrf, v] : cfg.vrfs)
        if (!skip_vrf || vrf != *skip_vrf)
            if (auto p = in(v.routes)) return std::pair{vrf, *p};
    return std::nullopt;
}

class RoutesSection final : public Section {
public:
    RoutesSection() : Section("routes", 30) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        return apply_route(cfg, c);
    }

    ChangeSet changes(const cmd::Parsed& c) const override {
        return ChangeSet::route({c.has_arg("vrf") ? c.word("vrf") : std::string(), c.prefix("prefix").network()});
    }

    std::optional<std::string> user(const RunningConfig& cfg, Ref what, const std::string& name) const override {
        switch (what) {
            case Ref::interface:
                if (auto r = first_route(cfg, [&](const RouteNextHop& h) {
                        return h.ifname == name || (h.backup && h.backup->ifname == name);
                    }))
                    return fmt::format("{} uses interface {}; delete the route first", route_name(r->first, r->second),
                                       name);
                return std::nullopt;
            case Ref::vrf:
                if (auto r = first_route(
                        cfg,
                        [&](const RouteNextHop& h) { return h.kind == RouteNextHop::Kind::next_vrf && h.target == name; },
                        &name))
                    return fmt::format("{} leaks into vrf {} (next-vrf); delete the route first",
                                       route_name(r->first, r->second), name);
                return std::nullopt;
            case Ref::sr_policy:
                if (auto r = first_route(cfg, [&](const RouteNextHop& h) {
                        return h.kind == RouteNextHop::Kind::policy && h.target == name;
                    }))
                    return fmt::format("{} steers into policy {}; delete the route first",
                                       route_name(r->first, r->second), name);
                return std::nullopt;
        }
        return std::nullopt;
    }

    std::vector<RenderPart> render_parts() const override { return {{80, render_routes}}; }

    CommandResult exec(Control& control, const cmd::Parsed& c) const override {
        std::optional<Family> fam;
        if (c.has("ipv4")) fam = Family::v4;
        if (c.has("ipv6")) fam = Family::v6;
        std::optional<Prefix> p;
        if (c.has("prefix")) p = c.prefix("prefix");
        uint16_t vrf = 0;
        if (c.has_arg("vrf")) {
            auto id = control.fib().vrf_id(c.word("vrf"));
            if (!id) return {false, fmt::format("% unknown vrf {}\n", c.word("vrf"))};
            vrf = *id;
        }
        std::map<Prefix, std::string> owners;
        if (vrf == 0)
            for (auto& [prefix, hops] : control.config().routes)
                if (!hops.empty() && !hops.front().owner.empty()) owners[prefix] = hops.front().owner;
        return {true, show_route(control.fib(), fam, p, vrf, owners)};
    }
};

const RoutesSection kSection;

}  // namespace
}  // namespace rampart::config

namespace rampart {

std::optional<std::string> apply_owned_route_change(RunningConfig& cfg, const std::string& owner,
                                                    const OwnedRouteChange& change) {
    if (owner.empty()) return std::string("an owned route needs an owner");
    auto owned_by_owner = [&](const std::vector<RouteNextHop>& hops) {
        return !hops.empty() && std::all_of(hops.begin(), hops.end(), [&](auto& h) { return h.owner == owner; });
    };
    for (const Prefix& p : change.remove) {
        auto it = cfg.routes.find(p.network());
        if (it == cfg.routes.end() || !owned_by_owner(it->second))
            return fmt::format("route {} is not installed by {}", p.network().str(), owner);
    }
    for (auto& [p, gateway] : change.add) {
        if (gateway.family != p.addr.family)
            return fmt::format("gateway {} is not of the same address family as {}", gateway.str(), p.str());
        auto it = cfg.routes.find(p.network());
        if (it == cfg.routes.end() || owned_by_owner(it->second)) continue;
        const std::string& holder = it->second.front().owner;
        return holder.empty() ? fmt::format("route {} is configured", p.network().str())
                              : fmt::format("route {} is installed by {}", p.network().str(), holder);
    }
    for (const Prefix& p : change.remove) cfg.routes.erase(p.network());
    for (auto& [p, gateway] : change.add) {
        RouteNextHop nh;
        nh.kind = RouteNextHop::Kind::via;
        nh.gateway = gateway;
        nh.owner = owner;
        cfg.routes[p.network()] = {nh};
    }
    return std::nullopt;
}

}  // namespace rampart
