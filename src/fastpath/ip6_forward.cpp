// Stage 2 (IPv6): validate, SAV, extension-header walk, local delivery
// (local_demux.hpp) or forwarding: SPD, hop limit, MTU (no router
// fragmentation in IPv6), ECMP, rewrite.
#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>

#include "crypto/ipsec_stages.hpp"
#include "fastpath/egress.hpp"
#include "fastpath/hash.hpp"
#include "fastpath/ip6_ext.hpp"
#include "fastpath/local_demux.hpp"
#include "fastpath/punt.hpp"
#include "fastpath/sav_ingress.hpp"
#include "fastpath/worker.hpp"

namespace rampart {

namespace {

constexpr uint8_t kIcmp6Unreachable = 1, kIcmp6PacketTooBig = 2, kIcmp6TimeExceeded = 3;
constexpr uint8_t kCodeNoRoute = 0, kCodeBeyondScope = 2, kCodeRejectRoute = 5;

bool is_unspecified(const uint8_t* a) {
    static constexpr uint8_t zero[16] = {};
    return std::memcmp(a, zero, 16) == 0;
}
bool is_loopback(const uint8_t* a) {
    static constexpr uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(a, one, 16) == 0;
}
bool is_link_local(const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }

// The chain as forwarding uses it.
ExtWalk walk_extensions(const rte_mbuf* m, unsigned l3_off, uint8_t& proto, unsigned& l4_off, bool& fragment) {
    Ip6Upper up;
    const ExtWalk r = walk_ipv6_extensions(m, l3_off, up);
    proto = up.proto;
    l4_off = up.l4_off;
    fragment = up.fragment;
    return r;
}

void decrement_hop_limit(rte_ipv6_hdr* ip) { --ip->hop_limits; }

uint32_t flow_hash6(const rte_ipv6_hdr* ip, const rte_mbuf* m, uint8_t proto, unsigned l4_off, bool fragment) {
    uint32_t h = hash_unaligned_words(ip->src_addr, 4, proto);  // src and dst are adjacent
    if (!fragment && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) && m->data_len >= l4_off + 4) {
        uint32_t ports;
        std::memcpy(&ports, rte_pktmbuf_mtod_offset(m, const uint8_t*, l4_off), 4);
        h = rte_hash_crc_4byte(ports, h);
    }
    return h;
}

}  // namespace

void ip6_forward(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept {
    const ForwardingTables& t = w.tables_;
    const uint16_t ifindex = meta.ifindex, vrf = meta.vrf;
    const unsigned l2_len = meta.l2_len;
    if (unlikely(m->data_len < l2_len + sizeof(rte_ipv6_hdr))) return w.drop(m, ifindex, Drop::ip6_truncated);
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, l2_len);
    if (unlikely((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6)) return w.drop(m, ifindex, Drop::ip6_bad_version);
    const unsigned total = sizeof(rte_ipv6_hdr) + rte_be_to_cpu_16(ip->payload_len);
    const unsigned l3_len = m->pkt_len - l2_len;
    if (unlikely(total > l3_len)) return w.drop(m, ifindex, Drop::ip6_bad_length);
    if (total < l3_len) rte_pktmbuf_trim(m, uint16_t(l3_len - total));

    // Multicast (ND, MLD, routing protocols) and link-local unicast belong to the kernel.
    if (ip->dst_addr[0] == 0xff || is_link_local(ip->dst_addr)) return punt(w, m, meta);
    if (unlikely(ip->src_addr[0] == 0xff || is_loopback(ip->src_addr) || is_unspecified(ip->src_addr)))
        return w.drop(m, ifindex, Drop::ip6_bad_source);
    // SAV on the ingress interface, before the local/forward decision (sav_ingress.hpp).
    if ((meta.features & feature_bit(IngressFeature::sav)) && !meta.has(kSavDone) &&
        !sav_admit(w, m, meta, [&](const sav::SavTable& st) { return sav::sav_check6(st, ip->src_addr, ifindex); }))
        return;
    if (unlikely(is_unspecified(ip->dst_addr) || is_loopback(ip->dst_addr)))
        return w.drop(m, ifindex, Drop::ip6_bad_destination);

    int64_t nh = t.lookup6(ip->dst_addr, vrf);
    const NhGroup* g = nh >= 0 ? t.group(uint32_t(nh)) : nullptr;
    if (unlikely(g && g->kind == NhKind::vrf_lookup)) {  // route leaking: one more lookup, never a chain
        nh = t.lookup6(ip->dst_addr, g->vrf);
        g = nh >= 0 ? t.group(uint32_t(nh)) : nullptr;
        if (unlikely(g && g->kind == NhKind::vrf_lookup)) return w.drop(m, ifindex, Drop::vrf_leak_loop);
    }
    uint8_t proto;
    unsigned l4_off = 0;
    bool fragment;
    const ExtWalk walk = walk_extensions(m, l2_len, proto, l4_off, fragment);
    if (g && g->kind == NhKind::local) {
        // The kernel judges its own malformed extension headers.
        if (walk != ExtWalk::ok) return punt(w, m, meta);
        // For the box: the handler registered for the protocol (local_demux.hpp), else the kernel.
        return local_deliver(w, m, meta, LocalL4{l4_off, total - (l4_off - l2_len), proto, fragment});
    }
    switch (walk) {
        case ExtWalk::ok: break;
        case ExtWalk::truncated: return w.drop(m, ifindex, Drop::ip6_ext_truncated);
        case ExtWalk::too_long: return w.drop(m, ifindex, Drop::ip6_ext_chain_too_long);
        case ExtWalk::routing_type0: return w.drop(m, ifindex, Drop::ip6_routing_type0);
    }
    // The SPD decides before the FIB: protected destinations need no route of their own.
    if ((meta.features & feature_bit(IngressFeature::spd)) && !meta.has(kDecrypted)) {
        if (const SpdTable* spd = t.spd(vrf)) {
            if (unlikely(ip->hop_limits <= 1)) {
                icmp6_error(w, meta, m, l2_len, kIcmp6TimeExceeded, 0, 0);
                return w.drop(m, ifindex, Drop::ip6_hop_limit_expired);
            }
            if (ipsec_forward(w, m, meta, *spd)) return;
        }
    }
    if (unlikely(!g)) {
        icmp6_error(w, meta, m, l2_len, kIcmp6Unreachable, kCodeNoRoute, 0);
        return w.drop(m, ifindex, Drop::no_route);
    }
    if (unlikely(ip->hop_limits <= 1)) {
        icmp6_error(w, meta, m, l2_len, kIcmp6TimeExceeded, 0, 0);
        return w.drop(m, ifindex, Drop::ip6_hop_limit_expired);
    }
    if (unlikely(is_link_local(ip->src_addr))) {
        icmp6_error(w, meta, m, l2_len, kIcmp6Unreachable, kCodeBeyondScope, 0);
        return w.drop(m, ifindex, Drop::ip6_link_local);
    }
    switch (g->kind) {
        case NhKind::forward: break;
        case NhKind::glean:
            w.request_resolve6(g->ifindex, ip->dst_addr);
            return w.drop(m, ifindex, Drop::neighbor_unresolved);
        case NhKind::blackhole: return w.drop(m, ifindex, Drop::blackhole_route);
        case NhKind::unreachable:
        default:
            // RFC 4443 §3.1: code 5, reject route to destination (code 3, address
            // unreachable, is for a destination the router cannot resolve).
            icmp6_error(w, meta, m, l2_len, kIcmp6Unreachable, kCodeRejectRoute, 0);
            return w.drop(m, ifindex, Drop::unreachable_route);
    }

    Egress e;
    if (!select_egress(w, *g, g->count > 1 ? flow_hash6(ip, m, proto, l4_off, fragment) : 0, ifindex, m, e)) return;
    const unsigned ip_mtu = e.out->mtu - 4u * e.labels->count;  // imposed labels take room (RFC 3032 §3)
    if (unlikely(total > ip_mtu)) {
        icmp6_error(w, meta, m, l2_len, kIcmp6PacketTooBig, 0, ip_mtu);
        return w.drop(m, ifindex, Drop::mtu_exceeded);
    }
    decrement_hop_limit(ip);
    const uint8_t tc = uint8_t(rte_be_to_cpu_32(ip->vtc_flow) >> 25 & 7);  // class selector of the DSCP
    ip_output(w, e, m, l2_len, RTE_BE16(RTE_ETHER_TYPE_IPV6), t.ttl_pipe() ? 255 : ip->hop_limits, tc);
}

}  // namespace rampart
