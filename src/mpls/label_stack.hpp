// Label stacks as the tables hold them and as they go on the wire (RFC 3032
// §2.1). A LabelStack is what a next-hop group member imposes: FTN label
// imposition on IP routes, or the labels that replace the incoming top label
// in an ILM entry (one label = swap, none = pop).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "fastpath/limits.hpp"

namespace rampart {

// Labels a member imposes, top first, as host-order label values. TTL, TC and
// bottom-of-stack are filled per packet.
struct LabelStack {
    uint8_t count = 0;
    std::array<uint32_t, kMaxPushLabels> label{};
};

// One MPLS label stack entry (RFC 3032 §2.1), in network order.
inline uint32_t mpls_entry_be(uint32_t label, uint8_t tc, bool bos, uint8_t ttl) noexcept {
    return rte_cpu_to_be_32(label << 12 | uint32_t(tc & 7) << 9 | uint32_t(bos) << 8 | ttl);
}

// Writes `s` so that it ends right before offset `payload_off` of `m`,
// prepending room when the bytes before it are too few. The bytes before the
// labels are left for l2_output to overwrite. Returns the offset where the
// stack starts, or -1 when the mbuf has no headroom left.
inline int impose_labels(rte_mbuf* m, unsigned payload_off, const LabelStack& s, uint8_t ttl, uint8_t tc,
                         bool bottom_is_bos) noexcept {
    const unsigned need = 4u * s.count;
    if (payload_off < need) {
        const unsigned grow = need - payload_off;
        if (unlikely(!rte_pktmbuf_prepend(m, uint16_t(grow)))) return -1;
        payload_off += grow;
    }
    auto* p = rte_pktmbuf_mtod_offset(m, uint32_t*, payload_off - need);
    for (unsigned i = 0; i < s.count; ++i) {
        uint32_t v = mpls_entry_be(s.label[i], tc, bottom_is_bos && i + 1 == s.count, ttl);
        std::memcpy(p + i, &v, 4);
    }
    return int(payload_off - need);
}

}  // namespace rampart
