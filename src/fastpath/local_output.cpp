// The exception path out of the kernel: what the kernel sends through a TAP
// twin (ARP/ND, ICMP, BGP, IKE...) leaves by the twin's port. Under an SPD
// the box's own traffic is protected in transport mode first
// (crypto/spd_output.cpp, ipsec_local_output).
#include <rte_ether.h>

#include "crypto/ipsec_stages.hpp"
#include "fastpath/worker.hpp"

namespace rampart {

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
    if (st && (st->ingress_features & feature_bit(IngressFeature::spd)) && m->data_len >= sizeof(rte_ether_hdr) + 20) {
        const uint8_t family = eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)   ? 4
                               : eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6) ? 6
                                                                                  : 0;
        const PacketMeta meta{st, ifindex, st->vrf, uint8_t(sizeof(rte_ether_hdr)), family, kLocalOutput,
                              st->ingress_features};
        if (family && ipsec_local_output(w, m, meta)) return;
    }
    local_output_send(w, port_id, ifindex, m);
}

void local_output_send(Worker& w, uint16_t port_id, uint16_t ifindex, rte_mbuf* m) noexcept {
    InterfaceCounters& c = w.counters_.iface[ifindex];
    ++c.local_out;
    ++c.tx_packets;
    c.tx_bytes += m->pkt_len;
    m->hash.usr = ifindex;
    w.enqueue_tx(port_id, m);
}

}  // namespace rampart
