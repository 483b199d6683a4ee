// Stage 1: Ethernet / 802.1Q classification, and the exception path in both
// directions (punt to the TAP twin, local output from it).
#include <rte_ether.h>

#include "fastpath/punt.hpp"
#include "fastpath/worker.hpp"

namespace rampart {

void punt(Worker& w, uint16_t ifindex, const InterfaceState& in, rte_mbuf* m) noexcept {
    if (unlikely(in.twin_port_id == kNoPort)) return w.drop(m, ifindex, Drop::punt_no_twin);
    if (unlikely(!w.punt_allowed())) return w.drop(m, ifindex, Drop::punt_policed);
    ++w.counters_.iface[ifindex].punted;
    m->hash.usr = kNoInterface;  // not counted as wire tx
    w.enqueue_tx(in.twin_port_id, m);
}

void eth_input(Worker& w, uint16_t port_id, rte_mbuf* m) noexcept {
    const ForwardingTables& t = w.tables_;
    const uint16_t base_ifindex = t.iface_of(port_id, 0);
    if (unlikely(m->data_len < sizeof(rte_ether_hdr))) return w.drop(m, base_ifindex, Drop::eth_runt);

    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    uint16_t ethertype = eth->ether_type;
    unsigned l2_len = sizeof(rte_ether_hdr);
    uint16_t vlan = 0;
    if (ethertype == RTE_BE16(RTE_ETHER_TYPE_VLAN)) {
        if (unlikely(m->data_len < sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr)))
            return w.drop(m, base_ifindex, Drop::eth_runt);
        auto* vh = reinterpret_cast<rte_vlan_hdr*>(eth + 1);
        vlan = rte_be_to_cpu_16(vh->vlan_tci) & 0xfff;
        ethertype = vh->eth_proto;
        l2_len += sizeof(rte_vlan_hdr);
    }
    const uint16_t ifindex = vlan ? t.iface_of(port_id, vlan) : base_ifindex;
    const InterfaceState* in = t.iface(ifindex);
    if (unlikely(!in)) return w.drop(m, base_ifindex, Drop::eth_unknown_vlan);

    InterfaceCounters& c = w.counters_.iface[ifindex];
    ++c.rx_packets;
    c.rx_bytes += m->pkt_len;
    if (unlikely(!in->up)) return w.drop(m, ifindex, Drop::ingress_down);
    if (rte_is_unicast_ether_addr(&eth->dst_addr) &&
        unlikely(std::memcmp(eth->dst_addr.addr_bytes, in->mac.data(), 6) != 0))
        return w.drop(m, ifindex, Drop::eth_not_for_us);

    switch (ethertype) {
        case RTE_BE16(RTE_ETHER_TYPE_IPV4): return ip4_forward(w, ifindex, *in, m, l2_len, in->vrf);
        case RTE_BE16(RTE_ETHER_TYPE_IPV6): return ip6_forward(w, ifindex, *in, m, l2_len, in->vrf);
        case RTE_BE16(RTE_ETHER_TYPE_MPLS): return mpls_input(w, ifindex, *in, m, l2_len);
        case RTE_BE16(RTE_ETHER_TYPE_ARP): return punt(w, ifindex, *in, m);
        default: return w.drop(m, ifindex, Drop::eth_unsupported_type);
    }
}

void local_output(Worker& w, uint16_t port_id, rte_mbuf* m) noexcept {
    const ForwardingTables& t = w.tables_;
    uint16_t ifindex = t.iface_of(port_id, 0);
    if (unlikely(m->data_len < sizeof(rte_ether_hdr) || ifindex >= kMaxInterfaces))
        return w.drop(m, ifindex, Drop::local_out_malformed);
    // What the kernel sends on a sub-interface's VLAN link arrives tagged: it goes
    // out as it is, counted on the sub-interface when the VLAN is one of ours.
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_VLAN) &&
        m->data_len >= sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr)) {
        const auto* vh = reinterpret_cast<const rte_vlan_hdr*>(eth + 1);
        const uint16_t vlan = rte_be_to_cpu_16(vh->vlan_tci) & 0xfff;
        const uint16_t sub = vlan ? t.iface_of(port_id, vlan) : kNoInterface;
        if (sub < kMaxInterfaces) ifindex = sub;
    }
    // The box's own traffic under an SPD: transport-mode ESP (untagged frames).
    const InterfaceState* st = t.iface(ifindex);
    if (st && t.spd(st->vrf) && m->data_len >= sizeof(rte_ether_hdr) + 20) {
        const unsigned family = eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)   ? 4
                                : eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6) ? 6
                                                                                   : 0;
        if (family && ipsec_local_output(w, port_id, ifindex, m, sizeof(rte_ether_hdr), family, st->vrf)) return;
    }
    InterfaceCounters& c = w.counters_.iface[ifindex];
    ++c.local_out;
    ++c.tx_packets;
    c.tx_bytes += m->pkt_len;
    m->hash.usr = ifindex;
    w.enqueue_tx(port_id, m);
}

void l2_output(Worker& w, const Adjacency& adj, const InterfaceState& out, rte_mbuf* m,
               unsigned l2_len, uint16_t ethertype_be) noexcept {
    int delta = int(adj.l2_len) - int(l2_len);
    if (delta > 0) {
        if (unlikely(!rte_pktmbuf_prepend(m, uint16_t(delta)))) return w.drop(m, out.ifindex, Drop::fragment_failed);
    } else if (delta < 0) {
        rte_pktmbuf_adj(m, uint16_t(-delta));
    }
    auto* h = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(h, adj.l2.data(), adj.l2_len - 2u);
    std::memcpy(h + adj.l2_len - 2, &ethertype_be, 2);
    InterfaceCounters& c = w.counters_.iface[out.ifindex];
    ++c.tx_packets;
    c.tx_bytes += m->pkt_len;
    m->hash.usr = out.ifindex;
    w.enqueue_tx(out.port_id, m);
}

}  // namespace rampart
