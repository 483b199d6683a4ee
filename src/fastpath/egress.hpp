// Next-hop selection shared by the IPv4 and IPv6 stages.
#pragma once

#include "fastpath/worker.hpp"

namespace rampart {

struct Egress {
    const Adjacency* adj;
    const InterfaceState* out;
};

// Picks the ECMP member for `flow_hash` and checks that it can carry the
// packet. On failure the packet is dropped (counted on `in_ifindex`) and
// false is returned.
inline bool select_egress(Worker& w, const NhGroup& g, uint32_t flow_hash, uint16_t in_ifindex,
                          rte_mbuf* m, Egress& e) noexcept {
    uint32_t member = g.count > 1 ? flow_hash % g.count : 0;
    e.adj = w.tables_.adjacency(g.adj[member]);
    if (unlikely(!e.adj)) {
        w.drop(m, in_ifindex, Drop::no_route);
        return false;
    }
    e.out = w.tables_.iface(e.adj->ifindex);
    if (unlikely(!e.out || !e.out->up)) {
        w.drop(m, in_ifindex, Drop::egress_down);
        return false;
    }
    if (unlikely(!e.adj->resolved)) {
        w.request_resolve(e.adj->ifindex, e.adj->next_hop);
        w.drop(m, in_ifindex, Drop::neighbor_unresolved);
        return false;
    }
    return true;
}

}  // namespace rampart
