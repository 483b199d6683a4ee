// The IPv6 extension-header chain (RFC 8200 §4), walked once and bounded:
// forwarding needs the upper-layer protocol and ports, the SPD needs them as
// selectors (RFC 4301 §4.4.1.1: non-initial fragments have no ports).
#pragma once

#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

namespace rampart {

inline constexpr unsigned kMaxExtensionHeaders = 8;

enum class ExtWalk { ok, truncated, too_long, routing_type0 };

struct Ip6Upper {
    uint8_t proto = 0;
    unsigned l4_off = 0;          // from the start of the mbuf
    bool fragment = false;        // a fragment header was seen
    bool first_fragment = true;   // no fragment header, or one with offset 0
};

inline ExtWalk walk_ipv6_extensions(const rte_mbuf* m, unsigned l3_off, Ip6Upper& up) {
    uint8_t proto = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, l3_off)->proto;
    unsigned off = l3_off + sizeof(rte_ipv6_hdr);
    up.fragment = false;
    up.first_fragment = true;
    for (unsigned n = 0;; ++n) {
        if (proto != IPPROTO_HOPOPTS && proto != IPPROTO_ROUTING && proto != IPPROTO_DSTOPTS &&
            proto != IPPROTO_FRAGMENT && proto != IPPROTO_AH)
            break;
        if (n == kMaxExtensionHeaders) return ExtWalk::too_long;
        if (off + 8 > m->data_len) return ExtWalk::truncated;
        const uint8_t* h = rte_pktmbuf_mtod_offset(m, const uint8_t*, off);
        unsigned len;
        if (proto == IPPROTO_FRAGMENT) {
            len = 8;
            up.fragment = true;
            up.first_fragment = (h[2] | (h[3] & 0xf8)) == 0;
        } else if (proto == IPPROTO_AH) {
            len = (h[1] + 2u) * 4u;
        } else {
            len = (h[1] + 1u) * 8u;
        }
        if (proto == IPPROTO_ROUTING && h[2] == 0 && h[3] != 0) return ExtWalk::routing_type0;
        if (off + len > m->data_len) return ExtWalk::truncated;
        proto = h[0];
        off += len;
    }
    up.proto = proto;
    up.l4_off = off;
    return ExtWalk::ok;
}

}  // namespace rampart
