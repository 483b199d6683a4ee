// Fragments of ESP (or of ESP in UDP) addressed to the box are held until the
// datagram is whole (RFC 4303 §3.4.1: reassembly before decryption), in a
// bounded per-worker table (4096 datagrams, 2 s each), then the datagram goes
// through the IP stage again as if it had arrived whole.
//
// Registered for local delivery: fragmented UDP (it may be ESP in UDP 4500,
// RFC 3948) when some inbound SA uses NAT traversal; ESP fragments come
// through esp_local_input (esp_decrypt.cpp).
#include <rte_cycles.h>

#include "crypto/ipsec_internal.hpp"
#include "fastpath/local_demux.hpp"

namespace rampart {

void esp_reassemble(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned l3_len) noexcept {
    IpsecWorkerContext& x = w.ipsec_;
    const unsigned l2_len = meta.l2_len;
    m->l2_len = uint16_t(l2_len);
    m->l3_len = uint16_t(l3_len);
    // One call may put a stale and a failed datagram's fragments on the death row, which has
    // no bounds check of its own: make room first (found by fuzz_packet).
    if (x.death_row.cnt + 2 * (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1) > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN)
        rte_ip_frag_free_death_row(&x.death_row, 0);
    rte_mbuf* whole;
    if (meta.family == 4) {
        whole = rte_ipv4_frag_reassemble_packet(x.frag_tbl, &x.death_row, m, rte_rdtsc(),
                                                rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, l2_len));
    } else {
        auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, l2_len);
        auto* frag = rte_ipv6_frag_get_ipv6_fragment_header(ip);
        if (!frag) return w.drop(m, meta.ifindex, Drop::esp_reassembly_failed);  // behind other extension headers
        whole = rte_ipv6_frag_reassemble_packet(x.frag_tbl, &x.death_row, m, rte_rdtsc(), ip, frag);
    }
    if (!whole) return;  // held (or, on error, on the death row: the library frees it)
    if (whole->nb_segs > 1 && rte_pktmbuf_linearize(whole) != 0)
        return w.drop(whole, meta.ifindex, Drop::esp_reassembly_failed);
    PacketMeta again = meta;
    again.flags = kSavDone;  // each fragment passed SAV
    if (meta.family == 4) {
        auto* ip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, l2_len);
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        return ip4_forward(w, whole, again);
    }
    ip6_forward(w, whole, again);
}

void esp_reassembly_free_expired(Worker& w, unsigned prefetch) noexcept {
    if (w.ipsec_.death_row.cnt) rte_ip_frag_free_death_row(&w.ipsec_.death_row, prefetch);
}

namespace {

// Fragmented UDP to the box: reassembled here when some SA uses UDP
// encapsulation, then judged whole; otherwise the kernel gets the fragments.
void udp_fragment_input(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept {
    if (!w.tables_.nat_traversal_inbound()) return local_exception(w, m, meta, l4);
    esp_reassemble(w, m, meta, l4.off - meta.l2_len);
}

}  // namespace

RAMPART_LOCAL_UDP_FRAGMENTS(esp_in_udp, udp_fragment_input);

}  // namespace rampart
