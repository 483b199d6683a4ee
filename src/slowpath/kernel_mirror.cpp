#include "slowpath/kernel_mirror.hpp"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace rampart {

int KernelMirror::twin_ifindex(const std::string& twin_ifname) {
    TwinState& t = twins_[twin_ifname];
    if (t.ifindex == 0) t.ifindex = nl_.ifindex(twin_ifname);
    return t.ifindex;
}

std::vector<std::string> KernelMirror::sync(const RunningConfig& config, const FibPublisher& fib) {
    std::vector<std::string> problems;
    auto check = [&](netlink::Status s, int tolerated = 0) {
        if (!s.ok() && s.errnum != tolerated) problems.push_back(s.error);
    };
    for (const InterfaceConfig* ic : ordered_interfaces(config)) {
        if (!ic->is_port()) continue;  // sub-interfaces have no kernel twin of their own yet
        const PortRuntime* rt = fib.port_of(ic->name);
        if (!rt || rt->twin_ifname.empty()) continue;
        int kif = twin_ifindex(rt->twin_ifname);
        if (kif == 0) {
            problems.push_back(fmt::format("TAP twin {} of {} not found in the kernel", rt->twin_ifname, ic->name));
            continue;
        }
        TwinState& t = twins_[rt->twin_ifname];
        if (t.up < 0) {
            // The twin is a router's interface: no SLAAC, no router solicitations.
            for (auto [knob, value] : {std::pair{"accept_ra", "0"}, std::pair{"autoconf", "0"}, std::pair{"router_solicitations", "0"}}) {
                auto st = netlink::set_interface_sysctl(Family::v6, rt->twin_ifname, knob, value);
                if (!st.ok()) problems.push_back(st.error);
            }
        }
        if (t.mtu != ic->mtu) {
            check(nl_.set_mtu(kif, ic->mtu));
            t.mtu = ic->mtu;
        }
        for (const Prefix& a : t.addresses)
            if (std::find(ic->addresses.begin(), ic->addresses.end(), a) == ic->addresses.end())
                check(nl_.del_address(kif, a), EADDRNOTAVAIL);
        for (const Prefix& a : ic->addresses)
            if (std::find(t.addresses.begin(), t.addresses.end(), a) == t.addresses.end())
                check(nl_.add_address(kif, a, netlink::Dad::skip), EEXIST);
        t.addresses = ic->addresses;
        int up = ic->shutdown ? 0 : 1;
        if (t.up != up) {
            check(nl_.set_link_up(kif, up == 1));
            t.up = up;
        }
    }

    // Static routes the data plane installed, through the twin of their first next hop.
    std::map<Prefix, MirroredRoute> want;
    for (const InstalledRoute& r : fib.installed_routes(std::nullopt)) {
        if (r.source != RouteSource::static_route || r.next_hops.empty()) continue;
        const PortRuntime* rt = fib.port_of(fib.name_of(r.next_hops[0].ifindex));
        if (!rt || rt->twin_ifname.empty()) continue;
        int kif = twin_ifindex(rt->twin_ifname);
        if (kif) want[r.prefix] = MirroredRoute{r.next_hops[0].address, kif};
    }
    for (auto& [p, m] : routes_) {
        auto w = want.find(p);
        if (w == want.end() || !(w->second == m)) check(nl_.del_route(p, m.gateway, m.ifindex), ESRCH);
    }
    for (auto& [p, m] : want) {
        auto old = routes_.find(p);
        if (old == routes_.end() || !(old->second == m)) check(nl_.add_route(p, m.gateway, m.ifindex), EEXIST);
    }
    routes_ = std::move(want);
    return problems;
}

}  // namespace rampart
