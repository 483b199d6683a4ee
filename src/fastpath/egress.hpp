// Next-hop selection and output shared by the IPv4, IPv6 and MPLS stages.
#pragma once

#include <rte_byteorder.h>

#include "fastpath/worker.hpp"
#include "mpls/label_stack.hpp"  // impose_labels: FTN imposition

namespace rampart {

// Picks the ECMP member for `flow_hash` and checks that it can carry the
// packet. When the member's egress interface is down and it has a fast-reroute
// backup, the backup (with its repair stack) is used at once: the workers do
// not wait for the control core to recompute. On failure the packet is
// dropped (counted on `in_ifindex`) and false is returned.
inline bool select_egress(Worker& w, const NhGroup& g, uint32_t flow_hash, uint16_t in_ifindex,
                          rte_mbuf* m, Egress& e) noexcept {
    const uint32_t member = g.count > 1 ? flow_hash % g.count : 0;
    const ForwardingTables& t = w.tables_;
    e.adj = t.adjacency(g.adj[member]);
    e.labels = &g.push[member];
    e.out = e.adj ? t.iface(e.adj->ifindex) : nullptr;
    if (unlikely(!e.out || !e.out->up)) {
        const Adjacency* backup = g.has_backup ? t.adjacency(g.backup_adj[member]) : nullptr;
        const InterfaceState* bout = backup ? t.iface(backup->ifindex) : nullptr;
        if (!bout || !bout->up) {
            w.drop(m, in_ifindex, e.adj ? Drop::egress_down : Drop::no_route);
            return false;
        }
        e.adj = backup;
        e.out = bout;
        e.labels = &g.backup_push[member];
        ++w.counters_.iface[bout->ifindex].frr_backup_tx;
    }
    if (unlikely(!e.adj->resolved)) {
        w.request_resolve(e.adj->ifindex, e.adj->next_hop);
        w.drop(m, in_ifindex, Drop::neighbor_unresolved);
        return false;
    }
    return true;
}

// Sends an IP packet (IP header at `l2_len`) out of `e`, labelled when the
// member imposes labels (FTN). `ttl`/`tc` are those of the imposed labels.
inline void ip_output(Worker& w, const Egress& e, rte_mbuf* m, unsigned l2_len, uint16_t ip_ethertype_be,
                      uint8_t ttl, uint8_t tc) noexcept {
    if (e.labels->count == 0) return l2_output(w, *e.adj, *e.out, m, l2_len, ip_ethertype_be);
    const int at = impose_labels(m, l2_len, *e.labels, ttl, tc, true);
    if (unlikely(at < 0)) return w.drop(m, e.out->ifindex, Drop::fragment_failed);
    l2_output(w, *e.adj, *e.out, m, unsigned(at), RTE_BE16(RTE_ETHER_TYPE_MPLS));
}

}  // namespace rampart
