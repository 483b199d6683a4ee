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

void KernelMirror::check(const netlink::Status& s, Problems& problems, int tolerated) {
    if (!s.ok() && s.errnum != tolerated) problems.push_back(s.error);
}

bool KernelMirror::ensure_vlan_link(const std::string& name, int parent_ifindex, uint16_t vid, KernelIf& k,
                                    Problems& problems) {
    if (k.ifindex && k.parent_ifindex == parent_ifindex && k.vlan == vid) return true;
    std::string failed_before = std::move(k.failed);
    k = KernelIf{};
    auto fail = [&](std::string why) {
        if (why != failed_before) problems.push_back(why);
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
            check(netlink::set_interface_sysctl(Family::v6, name, knob, value), problems);
    }
    if (k.mtu != ic.mtu) {
        check(nl_.set_mtu(k.ifindex, ic.mtu), problems);
        k.mtu = ic.mtu;
    }
    for (const Prefix& a : k.addresses)
        if (std::find(ic.addresses.begin(), ic.addresses.end(), a) == ic.addresses.end())
            check(nl_.del_address(k.ifindex, a), problems, EADDRNOTAVAIL);
    for (const Prefix& a : ic.addresses)
        if (std::find(k.addresses.begin(), k.addresses.end(), a) == k.addresses.end())
            check(nl_.add_address(k.ifindex, a, netlink::Dad::skip), problems, EEXIST);
    k.addresses = ic.addresses;
    int up = ic.shutdown ? 0 : 1;
    if (k.up != up) {
        check(nl_.set_link_up(k.ifindex, up == 1), problems);
        k.up = up;
    }
}

std::vector<std::string> KernelMirror::sync(const RunningConfig& config, const FibPublisher& fib) {
    Problems problems;
    std::set<std::string> mtu_changed;  // twins whose MTU changed: the kernel clamps their VLAN links
    std::set<std::string> vlan_links;   // kernel names of the VLAN links the config wants
    for (const InterfaceConfig* ic : ordered_interfaces(config)) {  // ports before sub-interfaces
        const PortRuntime* rt = fib.port_of(ic->name);
        if (!rt || rt->twin_ifname.empty()) continue;
        if (ic->is_port()) {
            KernelIf& t = twins_[rt->twin_ifname];
            if (!t.ifindex) t.ifindex = nl_.ifindex(rt->twin_ifname);
            if (!t.ifindex) {
                problems.push_back(
                    fmt::format("TAP twin {} of {} not found in the kernel", rt->twin_ifname, ic->name));
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
            problems.push_back(fmt::format("sub-interface {}: kernel name {} is already taken by another "
                                           "sub-interface; rename a port",
                                           ic->name, name));
            continue;
        }
        KernelIf& v = vlans_[name];
        if (!ensure_vlan_link(name, parent->second.ifindex, ic->vlan, v, problems)) continue;
        if (mtu_changed.count(rt->twin_ifname)) v.mtu = 0;  // set it again, whatever the kernel did
        apply(*ic, name, v, problems);
    }

    // Static routes the data plane installed, through the twin or VLAN link of their first next hop.
    std::map<Prefix, MirroredRoute> want;
    for (const InstalledRoute& r : fib.installed_routes(std::nullopt))
        if (auto m = mirrored(r, fib)) want[r.prefix] = *m;
    for (auto& [p, m] : routes_) {
        auto w = want.find(p);
        if (w == want.end() || !(w->second == m)) check(nl_.del_route(p, m.gateway, m.ifindex), problems, ESRCH);
    }
    for (auto& [p, m] : want) {
        auto old = routes_.find(p);
        if (old == routes_.end() || !(old->second == m))
            check(nl_.add_route(p, m.gateway, m.ifindex), problems, EEXIST);
    }
    routes_ = std::move(want);

    // VLAN links of sub-interfaces that left the configuration (their routes are gone already).
    for (auto it = vlans_.begin(); it != vlans_.end();) {
        if (vlan_links.count(it->first)) {
            ++it;
            continue;
        }
        if (it->second.ifindex) check(nl_.del_link(it->second.ifindex), problems, ENODEV);
        it = vlans_.erase(it);
    }
    return problems;
}

}  // namespace rampart

namespace rampart {

std::optional<KernelMirror::MirroredRoute> KernelMirror::mirrored(const InstalledRoute& r, const FibPublisher& fib) {
    if (r.source != RouteSource::static_route || r.next_hops.empty()) return std::nullopt;
    std::string kname = fib.kernel_ifname(fib.name_of(r.next_hops[0].ifindex));
    if (kname.empty()) return std::nullopt;
    int kif = twin_ifindex(kname);
    if (!kif) return std::nullopt;
    return MirroredRoute{r.next_hops[0].address, kif};
}

std::vector<std::string> KernelMirror::sync_route(const Prefix& prefix, const FibPublisher& fib) {
    Problems problems;
    const Prefix p = prefix.network();
    std::optional<MirroredRoute> want;
    if (auto r = fib.installed_route(p)) want = mirrored(*r, fib);
    auto old = routes_.find(p);
    if (old != routes_.end() && !(want && *want == old->second)) {
        check(nl_.del_route(p, old->second.gateway, old->second.ifindex), problems, ESRCH);
        routes_.erase(old);
        old = routes_.end();
    }
    if (want && old == routes_.end()) {
        check(nl_.add_route(p, want->gateway, want->ifindex), problems, EEXIST);
        routes_[p] = *want;
    }
    return problems;
}

}  // namespace rampart
