// ESP encapsulation (RFC 4303): tunnel mode for forwarded packets that a
// protect entry covers (into the tunnel: TTL, tunnel MTU, fragmentation
// before or after encryption, outer header) and transport mode for the box's
// own packets. The packet is prepared here and queued for the crypto engine;
// finish_encrypt sends it once the batch has run (ipsec_context.cpp).
#include <rte_hash_crc.h>

#include "crypto/ipsec_internal.hpp"
#include "fastpath/egress.hpp"
#include "fastpath/ip_ttl.hpp"

namespace rampart {

namespace {

// The egress of the tunnel: the outer destination in the default table.
bool tunnel_egress(Worker& w, const IpsecSa& sa, uint16_t in_ifindex, rte_mbuf* m, Egress& e) {
    const ForwardingTables& t = w.tables_;
    int64_t nh;
    if (sa.family == Family::v4) {
        uint32_t dst;
        std::memcpy(&dst, sa.remote.data(), 4);
        nh = t.lookup4(rte_be_to_cpu_32(dst), 0);
    } else {
        nh = t.lookup6(sa.remote.data(), 0);
    }
    const NhGroup* g = nh >= 0 ? t.group(uint32_t(nh)) : nullptr;
    if (unlikely(!g || g->kind != NhKind::forward)) {
        if (g && g->kind == NhKind::glean) w.request_resolve(g->ifindex, IpAddr{sa.family, sa.remote});
        w.drop(m, in_ifindex, g && g->kind == NhKind::glean ? Drop::neighbor_unresolved : Drop::no_route);
        return false;
    }
    return select_egress(w, *g, rte_hash_crc_4byte(sa.spi, 0), in_ifindex, m, e);
}

// The outer header size, UDP encapsulation included.
unsigned outer_header_len(const IpsecSa& sa) {
    return (sa.family == Family::v4 ? sizeof(rte_ipv4_hdr) : sizeof(rte_ipv6_hdr)) +
           (sa.nat_traversal_port ? sizeof(rte_udp_hdr) : 0);
}

// The largest inner packet whose ESP packet fits `mtu` bytes of outer IP.
unsigned max_inner_len(const IpsecSa& sa, unsigned mtu) {
    const EspLayout& L = sa.layout;
    const unsigned fixed = outer_header_len(sa) + kEspHeaderLen + L.iv_len + L.icv_len;
    if (mtu <= fixed + kEspTrailerLen) return 0;
    const unsigned align = L.align > 4 ? L.align : 4;
    return (mtu - fixed) / align * align - kEspTrailerLen;
}

// RFC 3948 §2.1: the UDP header in front of ESP, from 4500 to the peer's port,
// checksum zero (filled in later where IPv6 needs one).
void write_nat_traversal_udp(rte_udp_hdr* udp, const IpsecSa& sa, unsigned udp_len) {
    udp->src_port = rte_cpu_to_be_16(kNatTraversalPort);
    udp->dst_port = rte_cpu_to_be_16(sa.nat_traversal_port);
    udp->dgram_len = rte_cpu_to_be_16(uint16_t(udp_len));
    udp->dgram_cksum = 0;
}

// Builds the outer header at `outer_off` and sends the ESP packet out of `e`.
void send_outer(Worker& w, const IpsecSa& sa, rte_mbuf* m, unsigned outer_off, unsigned esp_total, uint8_t tos,
                bool df, const Egress& e) {
    uint8_t* o = rte_pktmbuf_mtod_offset(m, uint8_t*, outer_off);
    uint16_t ethertype;
    if (sa.family == Family::v4) {
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(o);
        h->version_ihl = 0x45;
        h->type_of_service = tos;
        h->total_length = rte_cpu_to_be_16(uint16_t(sizeof(rte_ipv4_hdr) + esp_total));
        h->packet_id = rte_cpu_to_be_16(w.ipsec_.ip_id++);
        h->fragment_offset = df ? RTE_BE16(RTE_IPV4_HDR_DF_FLAG) : 0;
        h->time_to_live = kOuterTtl;
        h->next_proto_id = sa.nat_traversal_port ? uint8_t(IPPROTO_UDP) : kIpProtoEsp;
        std::memcpy(&h->src_addr, sa.local.data(), 4);
        std::memcpy(&h->dst_addr, sa.remote.data(), 4);
        h->hdr_checksum = 0;
        h->hdr_checksum = rte_ipv4_cksum(h);
        ethertype = RTE_BE16(RTE_ETHER_TYPE_IPV4);
    } else {
        auto* h = reinterpret_cast<rte_ipv6_hdr*>(o);
        h->vtc_flow = rte_cpu_to_be_32(6u << 28 | uint32_t(tos) << 20);
        h->payload_len = rte_cpu_to_be_16(uint16_t(esp_total));
        h->proto = sa.nat_traversal_port ? uint8_t(IPPROTO_UDP) : kIpProtoEsp;
        h->hop_limits = kOuterTtl;
        std::memcpy(h->src_addr, sa.local.data(), 16);
        std::memcpy(h->dst_addr, sa.remote.data(), 16);
        if (sa.nat_traversal_port) {  // IPv6 has no zero UDP checksum for this (RFC 6935 is for tunnels that opt in)
            auto* udp = reinterpret_cast<rte_udp_hdr*>(h + 1);
            udp->dgram_cksum = rte_ipv6_udptcp_cksum(h, udp);
        }
        ethertype = RTE_BE16(RTE_ETHER_TYPE_IPV6);
    }
    const uint8_t label_ttl = w.tables_.ttl_pipe() ? 255 : kOuterTtl, tc = uint8_t(tos >> 5);
    const unsigned outer_len = (sa.family == Family::v4 ? sizeof(rte_ipv4_hdr) : sizeof(rte_ipv6_hdr)) + esp_total;
    const unsigned limit = outer_limit(sa, e.out->mtu - 4u * e.labels->count);
    if (likely(outer_len <= limit)) return ip_output(w, e, m, outer_off, ethertype, label_ttl, tc);
    ++sa_counter(w, sa).fragmented;
    fragment_outer(w, e.out->ifindex, m, outer_off, sa.family, limit,
                   [&](rte_mbuf* f) { ip_output(w, e, f, 0, ethertype, label_ttl, tc); });
}

// The ESP header at `esp` (SPI, low half of the sequence number) and the
// encryption of the packet behind it (payload and trailer in place): IV, AAD
// (into `aad`, which must live until the batch runs) or the HMAC span, and
// where the ICV goes.
void fill_encrypt_op(const crypto::CryptoEngine& engine, const IpsecSa& sa, uint8_t* esp, uint64_t seq,
                     uint32_t encrypted_len, crypto::EspOp& op, uint8_t* aad) {
    store_be32(esp, sa.spi);
    store_be32(esp + 4, uint32_t(seq));
    const EspLayout& L = sa.layout;
    uint8_t* iv = esp + kEspHeaderLen;
    if (L.iv_len == 8) {
        // AEAD nonce: unique per key, which a counter guarantees (RFC 4106 §3.1).
        const uint64_t v = rte_cpu_to_be_64(sa.iv_base + seq);
        std::memcpy(iv, &v, 8);
    } else if (L.iv_len == 16) {
        engine.cbc_iv(*sa.crypto, seq, iv);  // CBC: unpredictable (RFC 3602 §3)
    }
    op.sa = sa.crypto.get();
    op.dir = crypto::EspDir::encrypt;
    op.iv = iv;
    op.cipher_start = iv + L.iv_len;
    op.cipher_len = encrypted_len;
    op.icv = op.cipher_start + encrypted_len;
    if (sa.crypto->transform().aead()) {
        // RFC 4106 §5 / RFC 7634 §2.1: SPI and sequence number, with the high half under ESN.
        std::memcpy(aad, esp, 4);
        if (sa.esn) store_be32(aad + 4, uint32_t(seq >> 32));
        std::memcpy(aad + (sa.esn ? 8 : 4), esp + 4, 4);
        op.aad = aad;
        op.aad_len = sa.esn ? 12 : 8;
    } else {
        op.auth_start = esp;
        op.auth_len = kEspHeaderLen + L.iv_len + encrypted_len;
        op.esn = sa.esn;
        op.esn_high = uint32_t(seq >> 32);
    }
}

// Tunnel mode (RFC 4303 §3.1.2): the whole inner packet at `l2_len` is the payload.
// `e`: the tunnel's egress. The inner TTL has been decremented already.
void esp_encapsulate(Worker& w, uint16_t in_ifindex, const IpsecSa& sa, rte_mbuf* m, unsigned l2_len, unsigned family,
                     const Egress& e) {
    SaCounters& c = sa_counter(w, sa);
    if (unlikely(!w.ipsec_.engine)) return w.drop(m, in_ifindex, Drop::esp_crypto_error);
    sa.crypto->prefetch();
    if (unlikely(!within_lifetime(w, sa, m->pkt_len - l2_len))) return w.drop(m, in_ifindex, Drop::esp_lifetime_expired);
    const std::optional<uint64_t> seq = sa.sequence.next();
    if (unlikely(!seq)) {
        ++c.sequence_exhausted;
        return w.drop(m, in_ifindex, Drop::esp_sequence_exhausted);
    }
    if (unlikely(m->nb_segs != 1 && rte_pktmbuf_linearize(m) != 0)) return w.drop(m, in_ifindex, Drop::esp_no_room);

    // DSCP/ECN and DF are copied to the outer header.
    const auto* inner = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len);
    uint8_t tos;
    bool df = false;
    if (family == 4) {
        const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(inner);
        tos = ip->type_of_service;
        df = ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
    } else {
        tos = uint8_t(rte_be_to_cpu_32(reinterpret_cast<const rte_ipv6_hdr*>(inner)->vtc_flow) >> 20);
    }
    const uint32_t inner_len = m->pkt_len - l2_len;
    const EspLayout& L = sa.layout;
    const EspEncapSizes sz = esp_encap_sizes(inner_len, L);
    const unsigned outer_hdr = outer_header_len(sa);
    const unsigned front = outer_hdr + kEspHeaderLen + L.iv_len;  // what goes before the inner packet
    unsigned inner_off = l2_len;
    if (inner_off < front) {
        if (unlikely(!rte_pktmbuf_prepend(m, uint16_t(front - inner_off)))) return w.drop(m, in_ifindex, Drop::esp_no_room);
        inner_off = front;
    }
    const unsigned tail = sz.encrypted_len - inner_len + L.icv_len;
    uint8_t* tail_at = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(tail)));
    if (unlikely(!tail_at)) return w.drop(m, in_ifindex, Drop::esp_no_room);
    write_esp_trailer(tail_at, uint8_t(sz.pad_len), family == 4 ? kNextHeaderIpv4 : kNextHeaderIpv6);

    const unsigned esp_off = inner_off - L.iv_len - kEspHeaderLen;
    uint8_t* esp = rte_pktmbuf_mtod_offset(m, uint8_t*, esp_off);
    EspPending& p = next_pending(w);
    crypto::EspOp op;
    fill_encrypt_op(*w.ipsec_.engine, sa, esp, *seq, sz.encrypted_len, op, p.aad);
    ++c.packets;
    c.bytes += inner_len;
    unsigned esp_total = sz.total_len;
    if (sa.nat_traversal_port) {
        esp_total += sizeof(rte_udp_hdr);
        write_nat_traversal_udp(rte_pktmbuf_mtod_offset(m, rte_udp_hdr*, esp_off - sizeof(rte_udp_hdr)), sa,
                                esp_total);
    }
    p.m = m;
    p.sa = &sa;
    p.meta = PacketMeta{nullptr, in_ifindex, 0, 0, uint8_t(family), 0, 0};
    p.decrypt = false;
    p.transport = false;
    p.tos = tos;
    p.df = df;
    p.esp_off = esp_off;
    p.esp_len = esp_total;
    p.outer_off = esp_off - outer_hdr;
    p.egress = e;
    queue_op(w, op);
}

// IPv6 transport mode (RFC 4303 §3.1.1): ESP follows the extension headers
// that routers read — hop-by-hop options, routing, fragment, and destination
// options placed before a routing header. Returns their length after the fixed
// header (0 if none) and where the next-header byte to point at ESP sits, or
// -1 when the chain is malformed within `avail` bytes.
int ipv6_per_hop_headers(uint8_t* ip, unsigned avail, uint8_t*& next_field) {
    next_field = ip + 6;
    unsigned off = sizeof(rte_ipv6_hdr);
    for (unsigned n = 0; n < 8; ++n) {
        const uint8_t nh = *next_field;
        bool per_hop = nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_FRAGMENT;
        if (nh == IPPROTO_DSTOPTS) {  // before a routing header only
            if (avail < off + 2) return -1;
            const unsigned len = (unsigned(ip[off + 1]) + 1) * 8;
            per_hop = avail >= off + len + 1 && ip[off] == IPPROTO_ROUTING;
        }
        if (!per_hop) return int(off - sizeof(rte_ipv6_hdr));
        if (avail < off + 8) return -1;
        const unsigned len = nh == IPPROTO_FRAGMENT ? 8 : (unsigned(ip[off + 1]) + 1) * 8;
        if (avail < off + len) return -1;
        next_field = ip + off;
        off += len;
    }
    return -1;  // more than 8 headers before the payload: refuse rather than walk on
}

}  // namespace

// Transport mode (RFC 4303 §3.1.1): ESP goes between the IP header (kept,
// IPv4 options and IPv6 per-hop extension headers included) and its payload.
void transport_encapsulate(Worker& w, rte_mbuf* m, PacketMeta meta, const IpsecSa& sa) noexcept {
    const uint16_t ifindex = meta.ifindex;
    const unsigned l2_len = meta.l2_len, family = meta.family;
    SaCounters& c = sa_counter(w, sa);
    if (unlikely(!w.ipsec_.engine)) return w.drop(m, ifindex, Drop::esp_crypto_error);
    if (unlikely(m->nb_segs != 1 && rte_pktmbuf_linearize(m) != 0)) return w.drop(m, ifindex, Drop::esp_no_room);
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
    unsigned hdr = family == 4 ? (ip[0] & 0xf) * 4u : sizeof(rte_ipv6_hdr);
    const unsigned total = family == 4 ? (unsigned(ip[2]) << 8 | ip[3]) : sizeof(rte_ipv6_hdr) + (unsigned(ip[4]) << 8 | ip[5]);
    if (unlikely(total < hdr || l2_len + total > m->data_len)) return w.drop(m, ifindex, Drop::local_out_malformed);
    uint8_t* next_field = ip + (family == 4 ? 9 : 6);
    if (family == 6) {
        const int ext = ipv6_per_hop_headers(ip, total, next_field);
        if (unlikely(ext < 0)) return w.drop(m, ifindex, Drop::local_out_malformed);
        hdr += unsigned(ext);
    }
    const unsigned next_field_off = unsigned(next_field - ip);
    if (total + l2_len < m->pkt_len) rte_pktmbuf_trim(m, uint16_t(m->pkt_len - l2_len - total));
    const uint32_t payload_len = total - hdr;
    if (unlikely(!within_lifetime(w, sa, payload_len))) return w.drop(m, ifindex, Drop::esp_lifetime_expired);
    const std::optional<uint64_t> seq = sa.sequence.next();
    if (unlikely(!seq)) {
        ++c.sequence_exhausted;
        return w.drop(m, ifindex, Drop::esp_sequence_exhausted);
    }
    const EspLayout& L = sa.layout;
    const EspEncapSizes sz = esp_encap_sizes(payload_len, L);
    const unsigned udp = sa.nat_traversal_port ? sizeof(rte_udp_hdr) : 0;
    const unsigned front = udp + kEspHeaderLen + L.iv_len;
    const unsigned tail = sz.encrypted_len - payload_len + L.icv_len;
    if (unlikely(total + front + tail > kMaxOuterLen)) return w.drop(m, ifindex, Drop::esp_mtu_exceeded);
    if (unlikely(!rte_pktmbuf_prepend(m, uint16_t(front)))) return w.drop(m, ifindex, Drop::esp_no_room);
    uint8_t* h = rte_pktmbuf_mtod(m, uint8_t*);
    std::memmove(h, h + front, l2_len + hdr);  // L2 and IP header move to the front; the payload stays
    uint8_t* tail_at = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(tail)));
    if (unlikely(!tail_at)) return w.drop(m, ifindex, Drop::esp_no_room);
    ip = h + l2_len;
    const uint8_t upper = ip[next_field_off];
    write_esp_trailer(tail_at, uint8_t(sz.pad_len), upper);
    const unsigned new_total = total + front + tail;
    const uint8_t proto = sa.nat_traversal_port ? uint8_t(IPPROTO_UDP) : kIpProtoEsp;
    if (family == 4) {
        auto* v4 = reinterpret_cast<rte_ipv4_hdr*>(ip);
        v4->total_length = rte_cpu_to_be_16(uint16_t(new_total));
        v4->next_proto_id = proto;
        v4->hdr_checksum = 0;
        v4->hdr_checksum = rte_ipv4_cksum(v4);
    } else {
        auto* v6 = reinterpret_cast<rte_ipv6_hdr*>(ip);
        v6->payload_len = rte_cpu_to_be_16(uint16_t(new_total - sizeof(rte_ipv6_hdr)));
        ip[next_field_off] = proto;  // the fixed header's or the last per-hop extension header's
    }
    const unsigned esp_off = l2_len + hdr + udp;
    if (udp) write_nat_traversal_udp(reinterpret_cast<rte_udp_hdr*>(ip + hdr), sa, new_total - hdr);
    uint8_t* esp = h + esp_off;
    EspPending& p = next_pending(w);
    crypto::EspOp op;
    fill_encrypt_op(*w.ipsec_.engine, sa, esp, *seq, sz.encrypted_len, op, p.aad);
    ++c.packets;
    c.bytes += payload_len;
    p.m = m;
    p.sa = &sa;
    p.meta = meta;
    p.decrypt = false;
    p.transport = true;
    p.port_id = meta.in->port_id;
    p.esp_off = esp_off;
    queue_op(w, op);
}

namespace {

void finish_transport_out(Worker& w, const EspPending& p) {
    const uint16_t ifindex = p.meta.ifindex;
    const unsigned l2_len = p.meta.l2_len;
    rte_mbuf* m = p.m;
    if (p.sa->nat_traversal_port && p.sa->family == Family::v6) {
        // Over IPv6 the UDP checksum is mandatory; extension headers may sit before the UDP header.
        const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len);
        auto* u = rte_pktmbuf_mtod_offset(m, rte_udp_hdr*, p.esp_off - sizeof(rte_udp_hdr));
        const uint16_t folded = uint16_t(~udp_checksum_sum(ip, Family::v6, u, rte_be_to_cpu_16(u->dgram_len)));
        u->dgram_cksum = folded == 0 ? 0xffff : folded;
    }
    InterfaceCounters& c = w.counters_.iface[ifindex < kMaxInterfaces ? ifindex : 0];
    ++c.local_out;
    auto send = [&](rte_mbuf* f) {
        ++c.tx_packets;
        c.tx_bytes += f->pkt_len;
        f->hash.usr = ifindex;
        w.enqueue_tx(p.port_id, f);
    };
    // The kernel sized the clear packet for the MTU; ESP made it larger: fragment after encryption.
    const InterfaceState* out = w.tables_.iface(ifindex);
    const unsigned limit = outer_limit(*p.sa, out ? out->mtu : kMaxOuterLen);
    if (likely(m->pkt_len - l2_len <= limit)) return send(m);
    ++sa_counter(w, *p.sa).fragmented;
    uint8_t l2[32];
    if (unlikely(l2_len > sizeof l2)) return w.drop(m, ifindex, Drop::fragment_failed);
    std::memcpy(l2, rte_pktmbuf_mtod(m, const uint8_t*), l2_len);
    fragment_outer(w, ifindex, m, l2_len, p.sa->family, limit, [&](rte_mbuf* f) {
        char* at = rte_pktmbuf_prepend(f, uint16_t(l2_len));
        if (unlikely(!at)) return w.drop(f, ifindex, Drop::fragment_failed);
        std::memcpy(at, l2, l2_len);
        send(f);
    });
}

constexpr uint8_t kIcmpUnreachable = 3, kCodeFragNeeded = 4, kIcmp6PacketTooBig = 2;

}  // namespace

// Into the tunnel (RFC 4301 §5.1.2): a hop for the inner packet (TTL − 1).
// What does not fit the tunnel's MTU (the egress MTU less the ESP overhead,
// or the SA's ip-mtu) is fragmented before encryption when it may be (IPv4,
// DF clear), otherwise refused with ICMP fragmentation needed / packet too
// big carrying the inner MTU, so the sender's PMTU discovery converges.
void protect(Worker& w, rte_mbuf* m, PacketMeta meta, const IpsecSa& sa) noexcept {
    const uint16_t ifindex = meta.ifindex;
    const unsigned l2_len = meta.l2_len, family = meta.family;
    Egress e;
    if (!tunnel_egress(w, sa, ifindex, m, e)) return;
    // With an encapsulated-ip-mtu the tunnel packet is fragmented after
    // encryption, so only ip-mtu limits the clear packet.
    unsigned inner_max = max_inner_len(sa, sa.encapsulated_ip_mtu ? kMaxOuterLen : e.out->mtu - 4u * e.labels->count);
    if (sa.ip_mtu && sa.ip_mtu < inner_max) inner_max = sa.ip_mtu;
    const unsigned inner_len = m->pkt_len - l2_len;
    if (family == 4) {
        auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, l2_len);
        if (inner_len > inner_max && (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_DF_FLAG))) {
            icmp4_error(w, meta, m, l2_len, kIcmpUnreachable, kCodeFragNeeded, inner_max);
            return w.drop(m, ifindex, Drop::esp_mtu_exceeded);
        }
        ip4_set_ttl(ip, uint8_t(ip->time_to_live - 1));
        if (inner_len > inner_max) {
            rte_pktmbuf_adj(m, uint16_t(l2_len));
            rte_mbuf* frags[kMaxFragments];
            const int n = rte_ipv4_fragment_packet(m, frags, kMaxFragments, uint16_t(inner_max), w.cfg_.pool, w.cfg_.pool);
            if (n < 0) return w.drop(m, ifindex, Drop::fragment_failed);
            rte_pktmbuf_free(m);
            for (int i = 0; i < n; ++i) {
                auto* fip = rte_pktmbuf_mtod(frags[i], rte_ipv4_hdr*);
                fip->hdr_checksum = 0;
                fip->hdr_checksum = rte_ipv4_cksum(fip);
                esp_encapsulate(w, ifindex, sa, frags[i], 0, 4, e);
            }
            return;
        }
    } else {
        // IPv6 (ISA guide): a packet of up to 1280 bytes goes through whatever the
        // tunnel MTU (fragmented after encryption); a larger one that does not fit
        // is refused with packet too big, never announcing less than 1280.
        if (inner_len > inner_max && inner_len > kIpv6MinMtu) {
            icmp6_error(w, meta, m, l2_len, kIcmp6PacketTooBig, 0, std::max(inner_max, kIpv6MinMtu));
            return w.drop(m, ifindex, Drop::esp_mtu_exceeded);
        }
        --rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, l2_len)->hop_limits;
    }
    esp_encapsulate(w, ifindex, sa, m, l2_len, family, e);
}

void finish_encrypt(Worker& w, const EspPending& p, const crypto::EspOp& op) noexcept {
    if (unlikely(op.status != crypto::EspStatus::ok)) return w.drop(p.m, p.meta.ifindex, Drop::esp_crypto_error);
    if (p.transport) return finish_transport_out(w, p);
    send_outer(w, *p.sa, p.m, p.outer_off, p.esp_len, p.tos, p.df, p.egress);
}

}  // namespace rampart
