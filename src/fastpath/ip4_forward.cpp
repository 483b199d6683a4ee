// Stage 2 (IPv4): validate, SAV, local delivery (local_demux.hpp) or
// forwarding: SPD, TTL, MTU, ECMP, rewrite.
#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>

#include "crypto/ipsec_stages.hpp"
#include "fastpath/egress.hpp"
#include "fastpath/ip_ttl.hpp"
#include "fastpath/local_demux.hpp"
#include "fastpath/punt.hpp"
#include "fastpath/sav_ingress.hpp"
#include "fastpath/worker.hpp"

namespace rampart {

namespace {

constexpr uint8_t kIcmpUnreachable = 3, kIcmpTimeExceeded = 11;
constexpr uint8_t kCodeNetUnreachable = 0, kCodeHostUnreachable = 1, kCodeFragNeeded = 4;
constexpr unsigned kMaxFragments = 64;  // 9216-byte frame over a 68-byte MTU needs ~200; larger are refused

bool martian_source(uint32_t src) {
    return src == 0 || (src >> 24) == 127 || (src >> 28) >= 0xe;  // zero, loopback, multicast, class E, broadcast
}

// RFC 791 option walk. Returns false for malformed options; sets source_route
// for LSRR/SSRR, which a backbone router refuses (RFC 7126 §4.3, §4.4).
bool check_options(const uint8_t* opt, unsigned len, bool& source_route) {
    unsigned i = 0;
    while (i < len) {
        uint8_t type = opt[i];
        if (type == 0) return true;  // end of option list
        if (type == 1) {             // no-op
            ++i;
            continue;
        }
        if (i + 1 >= len) return false;
        uint8_t olen = opt[i + 1];
        if (olen < 2 || i + olen > len) return false;
        if (type == 131 || type == 137) source_route = true;
        i += olen;
    }
    return true;
}

void decrement_ttl(rte_ipv4_hdr* ip) { ip4_set_ttl(ip, uint8_t(ip->time_to_live - 1)); }

uint32_t flow_hash4(const rte_ipv4_hdr* ip, const rte_mbuf* m, unsigned l3_off, unsigned ihl) {
    uint32_t h = rte_hash_crc_4byte(ip->src_addr, ip->dst_addr);
    h = rte_hash_crc_4byte(ip->next_proto_id, h);
    bool first_fragment = (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) == 0;
    if (first_fragment && (ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_UDP) &&
        m->data_len >= l3_off + ihl + 4) {
        uint32_t ports;
        std::memcpy(&ports, reinterpret_cast<const uint8_t*>(ip) + ihl, 4);
        h = rte_hash_crc_4byte(ports, h);
    }
    return h;
}

// Fragments a DF-clear packet that exceeds the room left on the egress (RFC 791 §3.2).
void fragment_and_send(Worker& w, uint16_t in_ifindex, const Egress& e, rte_mbuf* m, unsigned l2_len,
                       unsigned ip_mtu, uint8_t label_ttl, uint8_t tc) {
    rte_pktmbuf_adj(m, uint16_t(l2_len));  // rte_ipv4_fragment_packet wants the IP header first
    rte_mbuf* frags[kMaxFragments];
    int n = rte_ipv4_fragment_packet(m, frags, kMaxFragments, uint16_t(ip_mtu), w.cfg_.pool, w.cfg_.pool);
    if (n < 0) return w.drop(m, in_ifindex, Drop::fragment_failed);
    rte_pktmbuf_free(m);
    for (int i = 0; i < n; ++i) {
        auto* fip = rte_pktmbuf_mtod(frags[i], rte_ipv4_hdr*);
        fip->hdr_checksum = 0;
        fip->hdr_checksum = rte_ipv4_cksum(fip);
        ip_output(w, e, frags[i], 0, RTE_BE16(RTE_ETHER_TYPE_IPV4), label_ttl, tc);
    }
}

}  // namespace

void ip4_forward(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept {
    const ForwardingTables& t = w.tables_;
    const uint16_t ifindex = meta.ifindex;
    const unsigned l2_len = meta.l2_len;
    if (unlikely(m->data_len < l2_len + sizeof(rte_ipv4_hdr))) return w.drop(m, ifindex, Drop::ip4_truncated);
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, l2_len);
    if (unlikely((ip->version_ihl >> 4) != 4)) return w.drop(m, ifindex, Drop::ip4_bad_version);
    const unsigned ihl = (ip->version_ihl & 0xf) * 4u;
    if (unlikely(ihl < sizeof(rte_ipv4_hdr) || l2_len + ihl > m->data_len))
        return w.drop(m, ifindex, Drop::ip4_bad_ihl);
    const unsigned total = rte_be_to_cpu_16(ip->total_length);
    const unsigned l3_len = m->pkt_len - l2_len;
    if (unlikely(total < ihl || total > l3_len)) return w.drop(m, ifindex, Drop::ip4_bad_length);
    if (unlikely(rte_raw_cksum(ip, ihl) != 0xffff)) return w.drop(m, ifindex, Drop::ip4_bad_checksum);
    if (total < l3_len) rte_pktmbuf_trim(m, uint16_t(l3_len - total));  // Ethernet padding

    const uint32_t src = rte_be_to_cpu_32(ip->src_addr);
    const uint32_t dst = rte_be_to_cpu_32(ip->dst_addr);
    // Multicast and limited broadcast are link-local control traffic for the kernel.
    if ((dst >> 28) == 0xe || dst == UINT32_MAX) return punt(w, m, meta);
    if (unlikely(martian_source(src))) return w.drop(m, ifindex, Drop::ip4_bad_source);
    // SAV on the ingress interface, before the local/forward decision (sav_ingress.hpp).
    if ((meta.features & feature_bit(IngressFeature::sav)) && !meta.has(kSavDone) &&
        !sav_admit(w, m, meta, [&](const sav::SavTable& st) { return sav::sav_check4(st, src, ifindex); }))
        return;
    if (unlikely(dst == 0 || (dst >> 24) == 127)) return w.drop(m, ifindex, Drop::ip4_bad_destination);
    if (unlikely(ihl > sizeof(rte_ipv4_hdr))) {
        bool source_route = false;
        if (!check_options(reinterpret_cast<const uint8_t*>(ip + 1), ihl - sizeof(rte_ipv4_hdr), source_route))
            return w.drop(m, ifindex, Drop::ip4_bad_options);
        if (source_route) return w.drop(m, ifindex, Drop::ip4_source_route);
    }

    const uint16_t vrf = meta.vrf;
    int64_t nh = t.lookup4(dst, vrf);
    const NhGroup* g = nh >= 0 ? t.group(uint32_t(nh)) : nullptr;
    if (unlikely(g && g->kind == NhKind::vrf_lookup)) {  // route leaking: one more lookup, never a chain
        nh = t.lookup4(dst, g->vrf);
        g = nh >= 0 ? t.group(uint32_t(nh)) : nullptr;
        if (unlikely(g && g->kind == NhKind::vrf_lookup)) return w.drop(m, ifindex, Drop::vrf_leak_loop);
    }
    if (g && g->kind == NhKind::local) {
        // For the box: the handler registered for the protocol (local_demux.hpp), else the kernel.
        const bool fragment = ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG);
        return local_deliver(w, m, meta, LocalL4{l2_len + ihl, total - ihl, ip->next_proto_id, fragment});
    }
    // The SPD decides before the FIB: protected destinations need no route of their own.
    if ((meta.features & feature_bit(IngressFeature::spd)) && !meta.has(kDecrypted)) {
        if (const SpdTable* spd = t.spd(vrf)) {
            if (unlikely(ip->time_to_live <= 1)) {
                icmp4_error(w, meta, m, l2_len, kIcmpTimeExceeded, 0, 0);
                return w.drop(m, ifindex, Drop::ip4_ttl_expired);
            }
            if (ipsec_forward(w, m, meta, *spd)) return;
        }
    }
    if (unlikely(!g)) {
        icmp4_error(w, meta, m, l2_len, kIcmpUnreachable, kCodeNetUnreachable, 0);
        return w.drop(m, ifindex, Drop::no_route);
    }
    if (unlikely(ip->time_to_live <= 1)) {
        icmp4_error(w, meta, m, l2_len, kIcmpTimeExceeded, 0, 0);
        return w.drop(m, ifindex, Drop::ip4_ttl_expired);
    }
    switch (g->kind) {
        case NhKind::forward: break;
        case NhKind::glean:
            w.request_resolve4(g->ifindex, ip->dst_addr);
            return w.drop(m, ifindex, Drop::neighbor_unresolved);
        case NhKind::blackhole: return w.drop(m, ifindex, Drop::blackhole_route);
        case NhKind::unreachable:
        default:
            icmp4_error(w, meta, m, l2_len, kIcmpUnreachable, kCodeHostUnreachable, 0);
            return w.drop(m, ifindex, Drop::unreachable_route);
    }

    Egress e;
    if (!select_egress(w, *g, g->count > 1 ? flow_hash4(ip, m, l2_len, ihl) : 0, ifindex, m, e)) return;
    // Imposed labels take room from the MTU (RFC 3032 §3).
    const unsigned ip_mtu = e.out->mtu - 4u * e.labels->count;
    if (unlikely(total > ip_mtu)) {
        if (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_DF_FLAG)) {
            icmp4_error(w, meta, m, l2_len, kIcmpUnreachable, kCodeFragNeeded, ip_mtu);
            return w.drop(m, ifindex, Drop::mtu_exceeded);
        }
        decrement_ttl(ip);
        return fragment_and_send(w, ifindex, e, m, l2_len, ip_mtu, t.ttl_pipe() ? 255 : ip->time_to_live,
                                 uint8_t(ip->type_of_service >> 5));
    }
    decrement_ttl(ip);
    // RFC 3443: uniform copies the IP TTL into the labels, pipe hides the LSP; TC from the DSCP's class selector.
    ip_output(w, e, m, l2_len, RTE_BE16(RTE_ETHER_TYPE_IPV4), t.ttl_pipe() ? 255 : ip->time_to_live,
              uint8_t(ip->type_of_service >> 5));
}

}  // namespace rampart
