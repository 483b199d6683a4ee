// Stage 2 (MPLS): labelled frames from core-facing interfaces. The top label
// is looked up in the flat incoming label map (the whole 20-bit space, one
// load) and its next-hop group says what to do: swap (replace with one or
// more labels), pop and forward (PHP), pop and look the payload up in a VRF
// (VPN label, our own node SID), or drop. Reserved labels are handled by
// value: explicit null (RFC 3032/4182), entropy label indicator (RFC 6790).
// The stack is walked once, bounded, before anything is read from it, so no
// read ever goes past the frame.
#include <algorithm>

#include <rte_byteorder.h>
#include <rte_ip.h>

#include "mpls/mpls_input.hpp"

#include "fastpath/egress.hpp"
#include "fastpath/hash.hpp"
#include "fastpath/ip_ttl.hpp"
#include "fastpath/worker.hpp"
#include "mpls/ilm.hpp"

namespace rampart {

namespace {

constexpr uint32_t kIpv4ExplicitNull = 0;
constexpr uint32_t kIpv6ExplicitNull = 2;
constexpr uint32_t kEntropyLabelIndicator = 7;
constexpr uint32_t kFirstUnreservedLabel = 16;
constexpr uint8_t kIcmpTimeExceeded = 11, kIcmp6TimeExceeded = 3;

struct LabelEntry {
    uint32_t label;
    uint8_t tc;
    bool bos;
    uint8_t ttl;
};

LabelEntry read_entry(const rte_mbuf* m, unsigned off) {
    uint32_t v;
    std::memcpy(&v, rte_pktmbuf_mtod_offset(m, const uint8_t*, off), 4);
    v = rte_be_to_cpu_32(v);
    return {v >> 12, uint8_t(v >> 9 & 7), bool(v >> 8 & 1), uint8_t(v)};
}

void write_ttl(rte_mbuf* m, unsigned off, uint8_t ttl) { *rte_pktmbuf_mtod_offset(m, uint8_t*, off + 3) = ttl; }

// The IP version of the payload at `off` when a whole IPv4/IPv6 header is
// there (enough to quote it in an ICMP error or rewrite its TTL), else 0.
unsigned payload_ip_version(const rte_mbuf* m, unsigned off) {
    if (m->data_len < off + sizeof(rte_ipv4_hdr)) return 0;
    const auto* p = rte_pktmbuf_mtod_offset(m, const uint8_t*, off);
    if ((p[0] >> 4) == 4) {
        const unsigned ihl = (p[0] & 0xf) * 4u;
        const unsigned total = unsigned(p[2]) << 8 | p[3];
        if (ihl < sizeof(rte_ipv4_hdr) || off + ihl > m->data_len || total < ihl || total > m->pkt_len - off) return 0;
        return 4;
    }
    if ((p[0] >> 4) == 6 && m->data_len >= off + sizeof(rte_ipv6_hdr)) return 6;
    return 0;
}

// Lowers the payload's TTL / hop limit to `ttl` (RFC 3443 §3.5 uniform model:
// the exposed header takes the label's oTTL), never raising it: a label TTL
// above the IP TTL (pipe-model ingress) must not give back hops already spent.
void lower_ip_ttl(rte_mbuf* m, unsigned off, unsigned version, uint8_t ttl) {
    if (version == 6) {
        auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, off);
        if (ip->hop_limits > ttl) ip->hop_limits = ttl;
        return;
    }
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, off);
    if (ip->time_to_live > ttl) ip4_set_ttl(ip, ttl);
}

// The TCP/UDP ports at `l4_off` when they are in the first segment, else 0.
uint32_t l4_ports(const rte_mbuf* m, unsigned l4_off, uint8_t proto) {
    if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || m->data_len < l4_off + 4) return 0;
    uint32_t ports;
    std::memcpy(&ports, rte_pktmbuf_mtod_offset(m, const uint8_t*, l4_off), 4);
    return ports;
}

// ECMP hash: the label values of the stack (not TTL/TC, which may change along
// the path) and the payload's 5-tuple when it is IP (addresses and protocol;
// ports of unfragmented TCP/UDP, and of IPv6 without extension headers).
uint32_t stack_hash(const rte_mbuf* m, unsigned top, unsigned payload_off) {
    uint32_t h = 0;
    for (unsigned off = top; off < payload_off; off += 4) h = rte_hash_crc_4byte(read_entry(m, off).label, h);
    switch (payload_ip_version(m, payload_off)) {
        case 4: {
            const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, payload_off);
            h = rte_hash_crc_4byte(ip->src_addr, h);
            h = rte_hash_crc_4byte(ip->dst_addr, h);
            const bool fragment = ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG);
            const unsigned l4_off = payload_off + (ip->version_ihl & 0xf) * 4u;
            return rte_hash_crc_4byte(fragment ? ip->next_proto_id : l4_ports(m, l4_off, ip->next_proto_id) ^ ip->next_proto_id, h);
        }
        case 6: {
            const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, payload_off);
            h = hash_unaligned_words(rte_pktmbuf_mtod_offset(m, const uint8_t*, payload_off + 8), 4, h);
            return rte_hash_crc_4byte(l4_ports(m, payload_off + sizeof(rte_ipv6_hdr), ip->proto) ^ ip->proto, h);
        }
        default: return h;
    }
}

// RFC 3032 §2.3.2: an expiring labelled packet whose payload is IP gets an
// ICMP time exceeded about that payload.
void mpls_ttl_expired(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned payload_off) {
    switch (payload_ip_version(m, payload_off)) {
        case 4: icmp4_error(w, meta, m, payload_off, kIcmpTimeExceeded, 0, 0); break;
        case 6: icmp6_error(w, meta, m, payload_off, kIcmp6TimeExceeded, 0, 0); break;
        default: break;
    }
    w.drop(m, meta.ifindex, Drop::mpls_ttl_expired);
}

// Removes the whole stack and hands the payload to the IP stage of `vrf`, as
// if it had arrived unlabelled (so punting and ICMP quoting see plain IP).
// `want_version` 4 or 6 for explicit null, 0 to go by the payload.
void pop_and_lookup(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned payload_off, uint8_t ttl, uint16_t vrf,
                    unsigned want_version) {
    const unsigned l2_len = meta.l2_len;
    const unsigned version = payload_ip_version(m, payload_off);
    if (unlikely(version == 0 || (want_version && version != want_version)))
        return w.drop(m, meta.ifindex, Drop::mpls_bad_payload);
    if (!w.tables_.ilm().ttl_pipe()) lower_ip_ttl(m, payload_off, version, ttl);
    auto* h = rte_pktmbuf_mtod(m, uint8_t*);
    const unsigned stack_len = payload_off - l2_len;
    std::memmove(h + stack_len, h, l2_len);
    rte_pktmbuf_adj(m, uint16_t(stack_len));
    h += stack_len;
    const uint16_t ethertype = version == 4 ? RTE_BE16(RTE_ETHER_TYPE_IPV4) : RTE_BE16(RTE_ETHER_TYPE_IPV6);
    std::memcpy(h + l2_len - 2, &ethertype, 2);
    PacketMeta ip = meta_in_vrf(w.tables_, meta, vrf);
    ip.family = uint8_t(version);
    if (version == 4) return ip4_forward(w, m, ip);
    ip6_forward(w, m, ip);
}

// Swap (labels replace the top one) or pop-and-forward (PHP when it was the bottom).
void label_forward(Worker& w, rte_mbuf* m, PacketMeta meta, const NhGroup& g, unsigned top, unsigned payload_off,
                   const LabelEntry& entry, uint8_t ttl, uint32_t entropy) {
    const uint16_t ifindex = meta.ifindex;
    if (unlikely(ttl <= 1)) return mpls_ttl_expired(w, m, meta, payload_off);
    uint32_t hash = 0;
    if (g.count > 1) hash = entropy ? entropy : stack_hash(m, top, payload_off);
    Egress e;
    if (!select_egress(w, g, hash, ifindex, m, e)) return;
    const unsigned after_pop = top + 4;
    if (e.labels->count == 0 && entry.bos) {
        // Penultimate hop popping: the payload leaves unlabelled.
        const unsigned version = payload_ip_version(m, after_pop);
        if (unlikely(version == 0)) return w.drop(m, ifindex, Drop::mpls_bad_payload);
        if (unlikely(m->pkt_len - after_pop > e.out->mtu)) return w.drop(m, ifindex, Drop::mtu_exceeded);
        if (!w.tables_.ilm().ttl_pipe()) lower_ip_ttl(m, after_pop, version, uint8_t(ttl - 1));
        return l2_output(w, *e.adj, *e.out, m, after_pop,
                         version == 4 ? RTE_BE16(RTE_ETHER_TYPE_IPV4) : RTE_BE16(RTE_ETHER_TYPE_IPV6));
    }
    const int at = impose_labels(m, after_pop, *e.labels, uint8_t(ttl - 1), entry.tc, entry.bos);
    if (unlikely(at < 0)) return w.drop(m, ifindex, Drop::fragment_failed);
    // A pop that exposes the next label (adjacency SID) hands it the TTL.
    if (e.labels->count == 0) write_ttl(m, unsigned(at), uint8_t(ttl - 1));
    if (unlikely(m->pkt_len - unsigned(at) > e.out->mtu)) return w.drop(m, ifindex, Drop::mtu_exceeded);
    l2_output(w, *e.adj, *e.out, m, unsigned(at), RTE_BE16(RTE_ETHER_TYPE_MPLS));
}

}  // namespace

void mpls_input(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept {
    const uint16_t ifindex = meta.ifindex;
    const InterfaceState& in = *meta.in;
    const unsigned l2_len = meta.l2_len;
    // RFC 8402 / SR-MPLS security: labels are trusted only from core-facing interfaces.
    if (unlikely(!in.mpls)) return w.drop(m, ifindex, Drop::mpls_disabled);

    // Walk to the bottom of the stack first: every later read is inside it.
    unsigned payload_off = l2_len;
    for (unsigned depth = 0;; ++depth) {
        if (unlikely(depth == kMaxStackWalk)) return w.drop(m, ifindex, Drop::mpls_stack_too_deep);
        if (unlikely(payload_off + 4 > m->data_len)) return w.drop(m, ifindex, Drop::mpls_truncated);
        const bool bos = *rte_pktmbuf_mtod_offset(m, const uint8_t*, payload_off + 2) & 1;
        payload_off += 4;
        if (bos) break;
    }

    const ForwardingTables& t = w.tables_;
    const IlmTable& ilm = t.ilm();
    const bool uniform = !ilm.ttl_pipe();
    unsigned top = l2_len;
    uint8_t carried_ttl = 255;  // uniform model: a popped label's TTL carries to what it exposes
    uint32_t entropy = 0;
    while (top < payload_off) {
        const LabelEntry entry = read_entry(m, top);
        const uint8_t ttl = uniform ? std::min(entry.ttl, carried_ttl) : entry.ttl;
        if (unlikely(entry.label < kFirstUnreservedLabel)) {
            if (entry.label == kIpv4ExplicitNull || entry.label == kIpv6ExplicitNull) {
                // RFC 4182: pop; at the bottom the payload is looked up in the interface's table.
                if (!entry.bos) {
                    carried_ttl = ttl;
                    top += 4;
                    continue;
                }
                return pop_and_lookup(w, m, meta, payload_off, ttl, in.vrf, entry.label == kIpv4ExplicitNull ? 4 : 6);
            }
            if (entry.label == kEntropyLabelIndicator && !entry.bos) {
                // RFC 6790: the entropy label below the ELI is the flow's hash; both are popped.
                entropy = read_entry(m, top + 4).label | 1;  // never 0 (0 = none)
                const bool el_bos = read_entry(m, top + 4).bos;
                top += 8;
                carried_ttl = ttl;
                if (el_bos) return pop_and_lookup(w, m, meta, payload_off, ttl, in.vrf, 0);
                continue;
            }
            // Router alert, implicit null on the wire, GAL, OAM alert and unassigned values.
            return w.drop(m, ifindex, Drop::mpls_reserved_label);
        }
        if (unlikely(!ilm.in_range(entry.label))) return w.drop(m, ifindex, Drop::mpls_label_out_of_range);
        IlmTable::Hit hit;
        const NhGroup* g = ilm.lookup(entry.label, hit) ? t.group(hit.group) : nullptr;
        if (unlikely(!g)) return w.drop(m, ifindex, Drop::mpls_unknown_label);
        LabelCounter& lc = w.label_counters_[hit.counter];
        ++lc.packets;
        lc.bytes += m->pkt_len;

        switch (g->kind) {
            case NhKind::forward:
                return label_forward(w, m, meta, *g, top, payload_off, entry, ttl, entropy);
            case NhKind::vrf_lookup:
                if (entry.bos) return pop_and_lookup(w, m, meta, payload_off, ttl, g->vrf, 0);
                // Not the bottom: only our own node SID (default table) pops and goes on;
                // the TTL is decremented once, by whatever acts on the label below.
                if (unlikely(g->vrf != 0)) return w.drop(m, ifindex, Drop::mpls_not_bottom);
                carried_ttl = ttl;
                top += 4;
                continue;
            default: return w.drop(m, ifindex, Drop::mpls_label_drop);
        }
    }
    // ELI/EL pairs or explicit nulls popped down to an empty stack with no bottom entry handled.
    w.drop(m, ifindex, Drop::mpls_truncated);
}

}  // namespace rampart
