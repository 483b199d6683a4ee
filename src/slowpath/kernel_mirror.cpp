#include "slowpath/kernel_mirror.hpp"

#include <algorithm>
#include <cerrno>
#include <set>

#include <fmt/format.h>

namespace rampart {

int KernelMirror::twin_ifindex(const std::string& kernel_ifname) {
    for (auto* known : {&twins_, &vlans_}) {
        auto it = known->find(kernel_ifname);
        if (it != known->end() && it->second.ifindex) return it->second.ifindex;
    }
    return nl_.ifindex(kernel_ifname);
}

void KernelMirror::check(const netlink::Status& s, const std::string& subject, Problems& problems, int tolerated) {
    if (!s.ok() && s.errnum != tolerated) problems.push_back({PublishProblem::Kind::kernel, subject, s.error});
}

bool KernelMirror::ensure_vlan_link(const std::string& name, int parent_ifindex, uint16_t vid, KernelIf& k,
                                    Problems& problems) {
    if (k.ifindex && k.parent_ifindex == parent_ifindex && k.vlan == vid) return true;
    std::string failed_before = std::move(k.failed);
    k = KernelIf{};
    auto fail = [&](std::string why) {
        if (why != failed_before) problems.push_back({PublishProblem::Kind::kernel, name, why});
        k.failed = std::move(why);
        return false;
    };
    if (auto existing = nl_.link(name)) {
        if (existing->kind == "vlan" && existing->link == parent_ifindex && existing->vlan_id == vid) {
            // Ours from before (e.g. the sub-interface was removed while its deletion
            // failed): adopt it; apply() sets everything again.
            k.ifindex = existing->ifindex;
        } else {
            // Something else carries the name: the name is ours, replace it.
            auto st = nl_.del_link(existing->ifindex);
            if (!st.ok() && st.errnum != ENODEV) return fail(st.error);
        }
    }
    if (!k.ifindex) {
        auto st = nl_.add_vlan_link(netlink::VlanLink{name, parent_ifindex, vid});
        if (!st.ok()) return fail(st.error);
        k.ifindex = nl_.ifindex(name);
        if (!k.ifindex) return fail(fmt::format("VLAN link {} created but not found in the kernel", name));
    }
    k.parent_ifindex = parent_ifindex;
    k.vlan = vid;
    return true;
}

void KernelMirror::apply(const InterfaceConfig& ic, const std::string& name, KernelIf& k, Problems& problems) {
    if (k.up < 0) {
        // A router's interface: no SLAAC, no router solicitations. Before the
        // link goes up, or it would already have solicited.
        for (auto [knob, value] : {std::pair{"accept_ra", "0"}, std::pair{"autoconf", "0"},
                                   std::pair{"router_solicitations", "0"}})
            check(netlink::set_interface_sysctl(Family::v6, name, knob, value), name, problems);
    }
    if (k.mtu != ic.mtu) {
        check(nl_.set_mtu(k.ifindex, ic.mtu), name, problems);
        k.mtu = ic.mtu;
    }
    for (const Prefix& a : k.addresses)
        if (std::find(ic.addresses.begin(), ic.addresses.end(), a) == ic.addresses.end())
            check(nl_.del_address(k.ifindex, a), name, problems, EADDRNOTAVAIL);
    for (const Prefix& a : ic.addresses)
        if (std::find(k.addresses.begin(), k.addresses.end(), a) == k.addresses.end())
            check(nl_.add_address(k.ifindex, a, netlink::Dad::skip), name, problems, EEXIST);
    k.addresses = ic.addresses;
    int up = ic.shutdown ? 0 : 1;
    if (k.up != up) {
        check(nl_.set_link_up(k.ifindex, up == 1), name, problems);
        k.up = up;
    }
}

PublishProblems KernelMirror::sync(const RunningConfig& config, const ChangeSet& change) {
    Problems problems;
    sync_interfaces(config, problems);
    if (change.routes != ChangeSet::Routes::listed) {
        sync_routes(problems);
    } else {
        // The kernel mirrors the default table only.
        for (const RouteRef& r : change.prefixes)
            if (r.vrf.empty()) sync_route(r.prefix, problems);
    }
    remove_stale_vlan_links(problems);
    return problems;
}

void KernelMirror::sync_interfaces(const RunningConfig& config, Problems& problems) {
    const FibPublisher& fib = fib_;
    std::set<std::string> mtu_changed;  // twins whose MTU changed: the kernel clamps their VLAN links
    std::set<std::string> vlan_links;   // kernel names of the VLAN links the config wants
    for (const InterfaceConfig* ic : ordered_interfaces(config)) {  // ports before sub-interfaces
        const PortRuntime* rt = fib.port_of(ic->name);
        if (!rt || rt->twin_ifname.empty()) continue;
        if (ic->is_port()) {
            KernelIf& t = twins_[rt->twin_ifname];
            if (!t.ifindex) t.ifindex = nl_.ifindex(rt->twin_ifname);
            if (!t.ifindex) {
                problems.push_back({PublishProblem::Kind::kernel, ic->name,
                                    fmt::format("TAP twin {} of {} not found in the kernel", rt->twin_ifname, ic->name)});
                continue;
            }
            if (t.mtu != ic->mtu) mtu_changed.insert(rt->twin_ifname);
            apply(*ic, rt->twin_ifname, t, problems);
            continue;
        }
        auto parent = twins_.find(rt->twin_ifname);
        if (parent == twins_.end() || !parent->second.ifindex) continue;  // reported with the port
        std::string name = fib.kernel_ifname(ic->name);
        if (!vlan_links.insert(name).second) {
            problems.push_back({PublishProblem::Kind::kernel, ic->name,
                                fmt::format("sub-interface {}: kernel name {} is already taken by another "
                                            "sub-interface; rename a port",
                                            ic->name, name)});
            continue;
        }
        KernelIf& v = vlans_[name];
        if (!ensure_vlan_link(name, parent->second.ifindex, ic->vlan, v, problems)) continue;
        if (mtu_changed.count(rt->twin_ifname)) v.mtu = 0;  // set it again, whatever the kernel did
        apply(*ic, name, v, problems);
    }

    vlan_links_ = std::move(vlan_links);
}

void KernelMirror::sync_routes(Problems& problems) {
    // Static routes the data plane installed, through the twin or VLAN link of their first next hop.
    const FibPublisher& fib = fib_;
    std::map<Prefix, MirroredRoute> want;
    for (const InstalledRoute& r : fib.installed_routes(std::nullopt, 0, RouteSource::static_route))
        if (auto m = mirrored(r)) want[r.prefix] = *m;
    for (auto& [p, m] : routes_) {
        auto w = want.find(p);
        if (w == want.end() || !(w->second == m)) check(nl_.del_route(p, m.gateway, m.ifindex), p.str(), problems, ESRCH);
    }
    for (auto& [p, m] : want) {
        auto old = routes_.find(p);
        if (old == routes_.end() || !(old->second == m))
            check(nl_.add_route(p, m.gateway, m.ifindex), p.str(), problems, EEXIST);
    }
    routes_ = std::move(want);
}

void KernelMirror::remove_stale_vlan_links(Problems& problems) {
    // VLAN links of sub-interfaces that left the configuration (their routes are gone already).
    for (auto it = vlans_.begin(); it != vlans_.end();) {
        if (vlan_links_.count(it->first)) {
            ++it;
            continue;
        }
        if (it->second.ifindex) check(nl_.del_link(it->second.ifindex), it->first, problems, ENODEV);
        it = vlans_.erase(it);
    }
}

}  // namespace rampart

namespace rampart {

std::optional<KernelMirror::MirroredRoute> KernelMirror::mirrored(const InstalledRoute& r) {
    const FibPublisher& fib = fib_;
    if (r.source != RouteSource::static_route || r.next_hops.empty()) return std::nullopt;
    std::string kname = fib.kernel_ifname(fib.name_of(r.next_hops[0].ifindex));
    if (kname.empty()) return std::nullopt;
    int kif = twin_ifindex(kname);
    if (!kif) return std::nullopt;
    return MirroredRoute{r.next_hops[0].address, kif};
}

void KernelMirror::sync_route(const Prefix& prefix, Problems& problems) {
    const FibPublisher& fib = fib_;
    const Prefix p = prefix.network();
    std::optional<MirroredRoute> want;
    if (auto r = fib.installed_route(p)) want = mirrored(*r);
    auto old = routes_.find(p);
    if (old != routes_.end() && !(want && *want == old->second)) {
        check(nl_.del_route(p, old->second.gateway, old->second.ifindex), p.str(), problems, ESRCH);
        routes_.erase(old);
        old = routes_.end();
    }
    if (want && old == routes_.end()) {
        check(nl_.add_route(p, want->gateway, want->ifindex), p.str(), problems, EEXIST);
        routes_[p] = *want;
    }
}

}  // namespace rampart
