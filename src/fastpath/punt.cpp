// The exception path into the kernel: frames for the box that no stage
// handles go to the ingress port's TAP twin, unchanged (punt.hpp).
#include "fastpath/punt.hpp"

namespace rampart {

void punt(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept {
    const InterfaceState& in = *meta.in;
    if (unlikely(in.twin_port_id == kNoPort)) return w.drop(m, meta.ifindex, Drop::punt_no_twin);
    if (unlikely(!w.punt_allowed())) return w.drop(m, meta.ifindex, Drop::punt_policed);
    ++w.counters_.iface[meta.ifindex].punted;
    m->hash.usr = kNoInterface;  // not counted as wire tx
    w.enqueue_tx(in.twin_port_id, m);
}

}  // namespace rampart
