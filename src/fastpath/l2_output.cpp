// The last stage: the adjacency's prebuilt L2 header replaces the frame's,
// and the frame is queued on the egress port (sent at the end of the burst).
#include "fastpath/worker.hpp"

namespace rampart {

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
