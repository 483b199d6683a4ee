// Stage 1: Ethernet / 802.1Q classification. The frame's interface (port +
// VLAN) gives the PacketMeta the later stages carry: ingress interface, L2
// length, the VRF to look up in, the interface's ingress features.
#include <rte_ether.h>

#include "fastpath/punt.hpp"
#include "fastpath/worker.hpp"
#include "mpls/mpls_input.hpp"

namespace rampart {

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

    PacketMeta meta{in, ifindex, in->vrf, uint8_t(l2_len), 0, 0, in->ingress_features};
    switch (ethertype) {
        case RTE_BE16(RTE_ETHER_TYPE_IPV4): meta.family = 4; return ip4_forward(w, m, meta);
        case RTE_BE16(RTE_ETHER_TYPE_IPV6): meta.family = 6; return ip6_forward(w, m, meta);
        case RTE_BE16(RTE_ETHER_TYPE_MPLS): return mpls_input(w, m, meta);
        case RTE_BE16(RTE_ETHER_TYPE_ARP): return punt(w, m, meta);
        default: return w.drop(m, ifindex, Drop::eth_unsupported_type);
    }
}

}  // namespace rampart
