// Hand-off between workers: an SA's sequence counter and replay window are
// touched only by the worker that owns the SA (IpsecSa::owner), so a packet
// of an SA owned elsewhere goes to the owner's ring (multi-producer, 4096
// packets; full: Drop::ipsec_handoff_full) and is processed there again from
// the IP stage (or, for the box's own packets, from the SPD).
#include "crypto/ipsec_internal.hpp"

namespace rampart {

void hand_over(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned owner) noexcept {
    rte_ring* r = w.tables_.handoff_ring(owner);
    // Forwarded and ESP packets reach a hand-off after the SAV check of the IP stage.
    Handoff h{m, meta.ifindex, meta.vrf, meta.l2_len, meta.family,
                    uint8_t((meta.flags & kLocalOutput) | kSavDone), meta.features};
    if (unlikely(!r || rte_ring_enqueue_elem(r, &h, sizeof h) != 0)) w.drop(m, meta.ifindex, Drop::ipsec_handoff_full);
}

void ipsec_drain_handoff(Worker& w) noexcept {
    rte_ring* ring = w.ipsec_.handoff_ring;
    if (!ring) return;
    Handoff hs[kBurst];
    const unsigned n = rte_ring_dequeue_burst_elem(ring, hs, sizeof(Handoff), kBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        const Handoff& h = hs[i];
        // The interface is looked up again: the sender's pointer may be stale by now.
        const InterfaceState* in = w.tables_.iface(h.ifindex);
        if (unlikely(!in)) {
            w.drop(h.m, h.ifindex, Drop::ingress_down);
            continue;
        }
        const PacketMeta meta{in, h.ifindex, h.vrf, h.l2_len, h.family, h.flags, h.features};
        if (h.flags & kLocalOutput) {
            if (!ipsec_local_output(w, h.m, meta)) local_output_send(w, in->port_id, h.ifindex, h.m);
            continue;
        }
        if (h.family == 4) ip4_forward(w, h.m, meta);
        else ip6_forward(w, h.m, meta);
    }
    esp_run_pending(w);
}

}  // namespace rampart
