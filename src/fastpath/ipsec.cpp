// IPsec in the worker: the SPD decision for forwarded packets (RFC 4301 §5.1:
// BYPASS / DISCARD / PROTECT, and §5.2: cleartext that must arrive protected
// is discarded), ESP tunnel-mode encapsulation through the SA's crypto engine
// (RFC 4303 §3.3), and ESP input: SAD by SPI, anti-replay, decryption, the
// trailer, and the decrypted packet checked against its SA's policy before it
// is forwarded in the SA's VRF. An SA's sequence counter and replay window
// are touched only by its owner worker; other workers hand the packet over.
#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "crypto/esp_crypto.hpp"
#include "crypto/ipsec_sa.hpp"
#include "fastpath/egress.hpp"
#include "fastpath/ip6_ext.hpp"
#include "fastpath/hash.hpp"
#include "fastpath/ip_ttl.hpp"
#include "fastpath/punt.hpp"
#include "fastpath/worker.hpp"

namespace rampart {

namespace {

constexpr uint8_t kOuterTtl = 64;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoSctp = 132, kProtoIcmp6 = 58;

void store_be32(uint8_t* p, uint32_t v) {
    v = rte_cpu_to_be_32(v);
    std::memcpy(p, &v, 4);
}

// The selector fields of the IP packet at `l3`. `reverse`: the packet comes
// from the remote side (inbound view: local = destination).
bool spd_fields(const rte_mbuf* m, unsigned l3, unsigned family, bool reverse, SpdPacket& p) {
    const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, l3);
    unsigned l4;
    bool first_fragment = true;
    if (family == 4) {
        if (m->data_len < l3 + sizeof(rte_ipv4_hdr)) return false;
        const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(ip);
        p.family = Family::v4;
        std::memcpy(p.local.data(), reverse ? &h->dst_addr : &h->src_addr, 4);
        std::memcpy(p.remote.data(), reverse ? &h->src_addr : &h->dst_addr, 4);
        p.protocol = h->next_proto_id;
        l4 = l3 + (h->version_ihl & 0xf) * 4u;
        first_fragment = (h->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) == 0;
    } else {
        if (m->data_len < l3 + sizeof(rte_ipv6_hdr)) return false;
        const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(ip);
        p.family = Family::v6;
        std::memcpy(p.local.data(), reverse ? h->dst_addr : h->src_addr, 16);
        std::memcpy(p.remote.data(), reverse ? h->src_addr : h->dst_addr, 16);
        // The next layer protocol is what follows the extension headers; a malformed
        // chain leaves the ports out (OPAQUE, RFC 4301 §4.4.1.1), as do non-initial fragments.
        Ip6Upper up;
        if (walk_ipv6_extensions(m, l3, up) != ExtWalk::ok) {
            p.protocol = h->proto;
            p.local_port = p.remote_port = 0;
            return true;
        }
        p.protocol = up.proto;
        l4 = up.l4_off;
        first_fragment = up.first_fragment;
    }
    p.local_port = p.remote_port = 0;
    if (!first_fragment || m->data_len < l4 + 4) return true;
    const uint8_t* t = rte_pktmbuf_mtod_offset(m, const uint8_t*, l4);
    uint16_t a, b;
    if (p.protocol == kProtoTcp || p.protocol == kProtoUdp || p.protocol == kProtoSctp) {
        a = uint16_t(t[0] << 8 | t[1]);  // source port
        b = uint16_t(t[2] << 8 | t[3]);
    } else if (p.protocol == kProtoIcmp || p.protocol == kProtoIcmp6) {
        // ICMP type and code take the place of the ports, whatever the direction.
        p.local_port = t[0];
        p.remote_port = t[1];
        return true;
    } else {
        return true;
    }
    p.local_port = reverse ? b : a;
    p.remote_port = reverse ? a : b;
    return true;
}

SaCounters& sa_counter(Worker& w, const IpsecSa& sa) { return w.sa_counters_[sa.counter % kMaxSas]; }

void tell(Worker& w, const IpsecSa& sa, bool hard) {
    SaEvent ev{sa.spi, uint8_t(sa.inbound), uint8_t(hard), 0};
    rte_ring_enqueue_elem(w.sa_event_ring_, &ev, sizeof ev);  // full: the control core is far behind
}

// Counts one packet against the SA's volume lifetimes (owner worker only).
// False when the hard lifetime is spent: the packet must not use the SA.
bool within_lifetime(Worker& w, const IpsecSa& sa, uint32_t bytes) {
    if (likely(!sa.hard_packets && !sa.hard_bytes)) return true;
    if ((sa.hard_packets && sa.used_packets >= sa.hard_packets) || (sa.hard_bytes && sa.used_bytes >= sa.hard_bytes)) {
        if (!sa.hard_told) {
            sa.hard_told = true;
            tell(w, sa, true);
        }
        return false;
    }
    ++sa.used_packets;
    sa.used_bytes += bytes;
    if (!sa.soft_told && ((sa.soft_packets && sa.used_packets >= sa.soft_packets) ||
                          (sa.soft_bytes && sa.used_bytes >= sa.soft_bytes))) {
        sa.soft_told = true;
        tell(w, sa, false);
    }
    return true;
}

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

constexpr unsigned kMaxFragments = 64;
constexpr unsigned kIpv6MinMtu = 1280;
constexpr unsigned kMaxOuterLen = 65535;  // IPv4 total length / IPv6 payload length

// The largest ESP packet the SA may send out of `e`: the egress MTU less
// imposed labels, or the SA's encapsulated-ip-mtu when smaller.
unsigned outer_limit(const IpsecSa& sa, unsigned egress_ip_mtu) {
    return sa.encapsulated_ip_mtu && sa.encapsulated_ip_mtu < egress_ip_mtu ? sa.encapsulated_ip_mtu : egress_ip_mtu;
}

// Fragmentation after encryption (the ISA guide's encapsulated-ip-mtu; IPv6
// packets up to 1280 bytes, which a tunnel must carry whatever its MTU, RFC
// 8200 §5; transport mode): the ESP packet, IP header at `l3_off`, becomes
// fragments of at most `limit` bytes, each handed to `emit` with its IP
// header first. The peer reassembles before decryption (RFC 4303 §3.4.1).
template <class Emit>
void fragment_outer(Worker& w, uint16_t ifindex, rte_mbuf* m, unsigned l3_off, Family family, unsigned limit,
                    Emit&& emit) {
    rte_pktmbuf_adj(m, uint16_t(l3_off));
    rte_mbuf* frags[kMaxFragments];
    int n;
    if (family == Family::v4) {
        rte_pktmbuf_mtod(m, rte_ipv4_hdr*)->fragment_offset = 0;  // our own header: DF off, whole datagram
        n = rte_ipv4_fragment_packet(m, frags, kMaxFragments, uint16_t(limit), w.cfg_.pool, w.cfg_.pool);
    } else {
        n = rte_ipv6_fragment_packet(m, frags, kMaxFragments, uint16_t(limit), w.cfg_.pool, w.cfg_.pool);
    }
    if (unlikely(n < 0)) return w.drop(m, ifindex, Drop::fragment_failed);
    rte_pktmbuf_free(m);
    // The library leaves IPv6 fragment identifications at 0: each datagram needs its own (RFC 8200 §4.5).
    const uint32_t id6 = rte_cpu_to_be_32(++w.frag_id6_ << 6 | (w.cfg_.id & 63));  // workers never collide
    for (int i = 0; i < n; ++i) {
        if (family == Family::v4) {
            auto* ip = rte_pktmbuf_mtod(frags[i], rte_ipv4_hdr*);
            ip->hdr_checksum = 0;
            ip->hdr_checksum = rte_ipv4_cksum(ip);
        } else {
            std::memcpy(rte_pktmbuf_mtod_offset(frags[i], uint8_t*, sizeof(rte_ipv6_hdr) + 4), &id6, 4);
        }
        emit(frags[i]);
    }
}

// RFC 3948 §2.1: the UDP header in front of ESP, from 4500 to the peer's port,
// checksum zero (filled in later where IPv6 needs one).
void write_nat_traversal_udp(rte_udp_hdr* udp, const IpsecSa& sa, unsigned udp_len) {
    udp->src_port = rte_cpu_to_be_16(kNatTraversalPort);
    udp->dst_port = rte_cpu_to_be_16(sa.nat_traversal_port);
    udp->dgram_len = rte_cpu_to_be_16(uint16_t(udp_len));
    udp->dgram_cksum = 0;
}

// The one's-complement sum of the UDP datagram `udp` (`udp_len` bytes, its checksum field
// as it is) with its pseudo-header taken from the IP header `ip` (RFC 768 / RFC 8200 §8.1);
// the UDP length is used, not the IP one, so IPv6 extension headers may sit in between.
// 0xffff when a datagram's checksum is right.
uint16_t udp_checksum_sum(const uint8_t* ip, Family family, const void* udp, unsigned udp_len) {
    uint32_t sum = family == Family::v4 ? __rte_raw_cksum(ip + 12, 8, 0) : __rte_raw_cksum(ip + 8, 32, 0);
    sum += rte_cpu_to_be_16(uint16_t(IPPROTO_UDP)) + rte_cpu_to_be_16(uint16_t(udp_len));
    return __rte_raw_cksum_reduce(__rte_raw_cksum(udp, udp_len, sum));
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
        h->packet_id = rte_cpu_to_be_16(w.ip_id_++);
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

// Adds `op` for the pending packet at esp_pending_[esp_count_]; runs the batch when full.
void queue_op(Worker& w, const crypto::EspOp& op) {
    reinterpret_cast<crypto::EspOp*>(w.esp_ops_.get())[w.esp_count_++] = op;
    if (w.esp_count_ == Worker::kMaxEspPending) w.run_esp();
}

// The encryption of the ESP packet at `esp` (header written, payload and
// trailer in place): IV, AAD (into `aad`, which must live until the batch runs)
// or the HMAC span, and where the ICV goes.
void fill_encrypt_op(const crypto::CryptoEngine& engine, const IpsecSa& sa, uint8_t* esp, uint64_t seq,
                     uint32_t encrypted_len, crypto::EspOp& op, uint8_t* aad) {
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
    if (unlikely(!w.crypto_)) return w.drop(m, in_ifindex, Drop::esp_crypto_error);
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
    store_be32(esp, sa.spi);
    store_be32(esp + 4, uint32_t(*seq));
    EspPending& p = w.esp_pending_[w.esp_count_];
    crypto::EspOp op;
    fill_encrypt_op(*w.crypto_, sa, esp, *seq, sz.encrypted_len, op, p.aad);
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
    p.in = nullptr;
    p.ifindex = in_ifindex;
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

// Transport mode (RFC 4303 §3.1.1): ESP goes between the IP header (kept,
// IPv4 options and IPv6 per-hop extension headers included) and its payload.
void transport_encapsulate(Worker& w, uint16_t port_id, uint16_t ifindex, const IpsecSa& sa, rte_mbuf* m,
                           unsigned l2_len, unsigned family) {
    SaCounters& c = sa_counter(w, sa);
    if (unlikely(!w.crypto_)) return w.drop(m, ifindex, Drop::esp_crypto_error);
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
    store_be32(esp, sa.spi);
    store_be32(esp + 4, uint32_t(*seq));
    EspPending& p = w.esp_pending_[w.esp_count_];
    crypto::EspOp op;
    fill_encrypt_op(*w.crypto_, sa, esp, *seq, sz.encrypted_len, op, p.aad);
    ++c.packets;
    c.bytes += payload_len;
    p.m = m;
    p.sa = &sa;
    p.in = nullptr;
    p.ifindex = ifindex;
    p.decrypt = false;
    p.transport = true;
    p.port_id = port_id;
    p.l2_len = uint8_t(l2_len);
    p.esp_off = esp_off;
    queue_op(w, op);
}

void finish_transport_out(Worker& w, const EspPending& p) {
    rte_mbuf* m = p.m;
    if (p.sa->nat_traversal_port && p.sa->family == Family::v6) {
        // Over IPv6 the UDP checksum is mandatory; extension headers may sit before the UDP header.
        const auto* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, p.l2_len);
        auto* u = rte_pktmbuf_mtod_offset(m, rte_udp_hdr*, p.esp_off - sizeof(rte_udp_hdr));
        const uint16_t folded = uint16_t(~udp_checksum_sum(ip, Family::v6, u, rte_be_to_cpu_16(u->dgram_len)));
        u->dgram_cksum = folded == 0 ? 0xffff : folded;
    }
    InterfaceCounters& c = w.counters_.iface[p.ifindex < kMaxInterfaces ? p.ifindex : 0];
    ++c.local_out;
    auto send = [&](rte_mbuf* f) {
        ++c.tx_packets;
        c.tx_bytes += f->pkt_len;
        f->hash.usr = p.ifindex;
        w.enqueue_tx(p.port_id, f);
    };
    // The kernel sized the clear packet for the MTU; ESP made it larger: fragment after encryption.
    const InterfaceState* out = w.tables_.iface(p.ifindex);
    const unsigned limit = outer_limit(*p.sa, out ? out->mtu : kMaxOuterLen);
    if (likely(m->pkt_len - p.l2_len <= limit)) return send(m);
    ++sa_counter(w, *p.sa).fragmented;
    uint8_t l2[32];
    const unsigned l2_len = p.l2_len;
    if (unlikely(l2_len > sizeof l2)) return w.drop(m, p.ifindex, Drop::fragment_failed);
    std::memcpy(l2, rte_pktmbuf_mtod(m, const uint8_t*), l2_len);
    fragment_outer(w, p.ifindex, m, l2_len, p.sa->family, limit, [&](rte_mbuf* f) {
        char* at = rte_pktmbuf_prepend(f, uint16_t(l2_len));
        if (unlikely(!at)) return w.drop(f, p.ifindex, Drop::fragment_failed);
        std::memcpy(at, l2, l2_len);
        send(f);
    });
}

constexpr uint8_t kIcmpUnreachable = 3, kCodeFragNeeded = 4, kIcmp6PacketTooBig = 2;

// Into the tunnel (RFC 4301 §5.1.2): a hop for the inner packet (TTL − 1).
// What does not fit the tunnel's MTU (the egress MTU less the ESP overhead,
// or the SA's ip-mtu) is fragmented before encryption when it may be (IPv4,
// DF clear), otherwise refused with ICMP fragmentation needed / packet too
// big carrying the inner MTU, so the sender's PMTU discovery converges.
void protect(Worker& w, uint16_t ifindex, const InterfaceState& in, const IpsecSa& sa, rte_mbuf* m, unsigned l2_len,
             unsigned family) {
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
            icmp4_error(w, ifindex, in, m, l2_len, kIcmpUnreachable, kCodeFragNeeded, inner_max);
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
            icmp6_error(w, ifindex, in, m, l2_len, kIcmp6PacketTooBig, 0, std::max(inner_max, kIpv6MinMtu));
            return w.drop(m, ifindex, Drop::esp_mtu_exceeded);
        }
        --rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, l2_len)->hop_limits;
    }
    esp_encapsulate(w, ifindex, sa, m, l2_len, family, e);
}

// The first SPD entry `p` matches, or null.
const SpdEntry* spd_match(Worker& w, const SpdTable& spd, const SpdPacket& p) {
    static_assert(sizeof(SpdPacket) == 38, "the cache compares keys bytewise: no padding");
    SpdCacheEntry& c = w.spd_cache_[rte_hash_crc(&p, sizeof p, 0) & (kSpdCacheEntries - 1)];
    int32_t rule;
    if (c.generation == spd.generation && std::memcmp(&c.key, &p, sizeof p) == 0) {
        rule = c.rule;
    } else {
        rule = spd.classifier->classify(p);
        c.generation = spd.generation;
        c.key = p;
        c.rule = rule;
    }
    return rule >= 0 && size_t(rule) < spd.entries.size() ? &spd.entries[size_t(rule)] : nullptr;
}

// Tells the control core that protect entry `seq` needs an SA for `p`.
void raise_acquire(Worker& w, uint16_t vrf, unsigned family, const SpdPacket& p, uint32_t seq) {
    AcquireRequest a{};
    a.vrf = vrf;
    a.family = uint8_t(family);
    a.protocol = p.protocol;
    a.seq = seq;
    std::memcpy(a.src, p.local.data(), 16);
    std::memcpy(a.dst, p.remote.data(), 16);
    w.request_acquire(a);
}

// RFC 4301 §5.2: cleartext that a protect entry says must arrive encrypted is dropped.
bool refuse_cleartext(Worker& w, const SpdTable& spd, uint16_t ifindex, rte_mbuf* m, unsigned l2_len, unsigned family) {
    SpdPacket r;
    if (!spd_fields(m, l2_len, family, true, r)) return false;
    const SpdEntry* e = spd_match(w, spd, r);
    if (!e || e->action != SpdAction::protect) return false;
    w.drop(m, ifindex, Drop::ipsec_cleartext_protected);
    return true;
}

bool owned_here(Worker& w, const IpsecSa& sa) { return sa.owner == w.cfg_.id || w.tables_.max_workers() == 1; }

void hand_over(Worker& w, uint16_t ifindex, rte_mbuf* m, unsigned l2_len, unsigned family, uint16_t vrf, unsigned owner,
               bool local_output = false) {
    rte_ring* r = w.tables_.handoff_ring(owner);
    // Forwarded and ESP packets reach a hand-off after the SAV check of the IP stage.
    Handoff h{m, ifindex, uint8_t(l2_len), uint8_t(family), vrf, uint8_t(local_output), 1};
    if (unlikely(!r || rte_ring_enqueue_elem(r, &h, sizeof h) != 0)) w.drop(m, ifindex, Drop::ipsec_handoff_full);
}

Drop esp_drop(EspError e) {
    switch (e) {
        case EspError::esp_bad_alignment: return Drop::esp_bad_alignment;
        case EspError::esp_bad_pad_length:
        case EspError::esp_bad_padding: return Drop::esp_bad_trailer;
        default: return Drop::esp_truncated;
    }
}

}  // namespace

bool ipsec_forward(Worker& w, uint16_t ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len, uint16_t vrf,
                   const SpdTable& spd, unsigned family) noexcept {
    SpdPacket p;
    if (!spd_fields(m, l2_len, family, false, p)) return false;
    if (const SpdEntry* match = spd_match(w, spd, p)) {
        const SpdEntry& e = *match;
        switch (e.action) {
            case SpdAction::bypass: return false;
            case SpdAction::discard: w.drop(m, ifindex, Drop::ipsec_policy_discard); return true;
            case SpdAction::protect:
                if (unlikely(!e.outbound)) {
                    raise_acquire(w, vrf, family, p, e.seq);
                    w.drop(m, ifindex, Drop::ipsec_no_sa);
                    return true;
                }
                if (!owned_here(w, *e.outbound)) {
                    hand_over(w, ifindex, m, l2_len, family, vrf, e.outbound->owner);
                    return true;
                }
                protect(w, ifindex, in, *e.outbound, m, l2_len, family);
                return true;
        }
    }
    // Not for protection on the way out; but traffic that the SPD protects
    // coming the other way must not be accepted in clear.
    return refuse_cleartext(w, spd, ifindex, m, l2_len, family);
}

bool ipsec_local_output(Worker& w, uint16_t port_id, uint16_t ifindex, rte_mbuf* m, unsigned l2_len, unsigned family,
                        uint16_t vrf) noexcept {
    const SpdTable* spd = w.tables_.spd(vrf);
    SpdPacket p;
    if (!spd || !spd_fields(m, l2_len, family, false, p)) return false;
    const SpdEntry* match = spd_match(w, *spd, p);
    if (!match) return false;
    const SpdEntry& e = *match;
    switch (e.action) {
        case SpdAction::bypass: return false;
        case SpdAction::discard: w.drop(m, ifindex, Drop::ipsec_policy_discard); return true;
        case SpdAction::protect: break;
    }
    if (unlikely(!e.outbound || !e.outbound->transport)) {
        // No SA yet, or a tunnel SA named for the box's own traffic: nothing leaves in clear.
        if (!e.outbound) raise_acquire(w, vrf, family, p, e.seq);
        w.drop(m, ifindex, e.outbound ? Drop::ipsec_policy_discard : Drop::ipsec_no_sa);
        return true;
    }
    if (!owned_here(w, *e.outbound)) {
        hand_over(w, port_id, m, l2_len, family, vrf, e.outbound->owner, true);
        return true;
    }
    transport_encapsulate(w, port_id, ifindex, *e.outbound, m, l2_len, family);
    return true;
}

bool ipsec_refuse_cleartext(Worker& w, uint16_t ifindex, rte_mbuf* m, unsigned l2_len, unsigned family,
                            uint16_t vrf) noexcept {
    const SpdTable* spd = w.tables_.spd(vrf);
    return spd && refuse_cleartext(w, *spd, ifindex, m, l2_len, family);
}

void esp_reassemble(Worker& w, uint16_t ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
                    unsigned l3_len, unsigned family, uint16_t vrf) noexcept {
    m->l2_len = uint16_t(l2_len);
    m->l3_len = uint16_t(l3_len);
    // One call may put a stale and a failed datagram's fragments on the death row, which has
    // no bounds check of its own: make room first (found by fuzz_packet).
    if (w.death_row_.cnt + 2 * (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1) > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN)
        rte_ip_frag_free_death_row(&w.death_row_, 0);
    rte_mbuf* whole;
    if (family == 4) {
        whole = rte_ipv4_frag_reassemble_packet(w.frag_tbl_, &w.death_row_, m, rte_rdtsc(),
                                                rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, l2_len));
    } else {
        auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, l2_len);
        auto* frag = rte_ipv6_frag_get_ipv6_fragment_header(ip);
        if (!frag) return w.drop(m, ifindex, Drop::esp_reassembly_failed);  // behind other extension headers
        whole = rte_ipv6_frag_reassemble_packet(w.frag_tbl_, &w.death_row_, m, rte_rdtsc(), ip, frag);
    }
    if (!whole) return;  // held (or, on error, on the death row: the library frees it)
    if (whole->nb_segs > 1 && rte_pktmbuf_linearize(whole) != 0) return w.drop(whole, ifindex, Drop::esp_reassembly_failed);
    if (family == 4) {
        auto* ip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, l2_len);
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        return ip4_forward(w, ifindex, in, whole, l2_len, vrf, false, true);  // each fragment passed SAV
    }
    ip6_forward(w, ifindex, in, whole, l2_len, vrf, false, true);
}

void nat_traversal_input(Worker& w, uint16_t ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
                         unsigned udp_off, unsigned udp_avail, unsigned family, uint16_t vrf) noexcept {
    if (udp_avail < 8 || m->data_len < udp_off + 8) return punt(w, ifindex, in, m);  // the kernel judges it
    const uint8_t* u = rte_pktmbuf_mtod_offset(m, const uint8_t*, udp_off);
    const unsigned udp_len = unsigned(u[4]) << 8 | u[5];
    if (udp_len < 8 || udp_len > udp_avail || m->data_len < udp_off + udp_len) return punt(w, ifindex, in, m);
    const unsigned payload = udp_len - 8;
    const uint8_t* p = u + 8;
    // RFC 3948 §2.2: a zero non-ESP marker is IKE; a single 0xFF byte a NAT keepalive.
    if ((payload >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0) || (payload == 1 && p[0] == 0xff))
        return punt(w, ifindex, in, m);
    // The checksum is checked when present (ESP's ICV protects the payload, not the
    // ports; RFC 3948 §3.1.2 lets a receiver skip it, but a corrupted header must not
    // reach an SA). Over IPv6 it is mandatory (RFC 8200 §8.1).
    if ((u[6] | u[7]) != 0 || family == 6) {
        // Pseudo-header with the UDP length (IPv6 extension headers may sit in between).
        const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len);
        if (unlikely(udp_checksum_sum(ip, family == 4 ? Family::v4 : Family::v6, u, udp_len) != 0xffff))
            return w.drop(m, ifindex, Drop::esp_udp_checksum);
    }
    esp_input(w, ifindex, in, m, l2_len, udp_off + 8, payload, family, vrf, true);
}

void esp_input(Worker& w, uint16_t ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len, unsigned esp_off,
               unsigned esp_len, unsigned family, uint16_t vrf, bool in_udp) noexcept {
    const ForwardingTables& t = w.tables_;
    if (unlikely(esp_len < kEspHeaderLen || m->data_len < esp_off + esp_len))
        return w.drop(m, ifindex, Drop::esp_truncated);
    uint8_t* esp = rte_pktmbuf_mtod_offset(m, uint8_t*, esp_off);
    uint32_t spi;
    std::memcpy(&spi, esp, 4);
    const IpsecSa* sa = t.inbound_sa(rte_be_to_cpu_32(spi));
    // The SA must be ours at this destination (RFC 4301 §4.1: SPI + destination).
    const uint8_t* dst = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len + (family == 4 ? 16 : 24));
    if (unlikely(!sa || sa->family != (family == 4 ? Family::v4 : Family::v6) ||
                 std::memcmp(dst, sa->local.data(), family == 4 ? 4 : 16) != 0))
        return w.drop(m, ifindex, Drop::esp_unknown_spi);
    if (unlikely(in_udp != (sa->nat_traversal_port != 0))) return w.drop(m, ifindex, Drop::esp_encapsulation_mismatch);
    if (!owned_here(w, *sa)) return hand_over(w, ifindex, m, l2_len, family, vrf, sa->owner);
    if (unlikely(!w.crypto_)) return w.drop(m, ifindex, Drop::esp_crypto_error);
    SaCounters& c = sa_counter(w, *sa);

    const EspLayout& L = sa->layout;
    EspHeader hdr;
    if (EspError err = parse_esp_header(esp, esp_len, L, hdr); err != EspError::none)
        return w.drop(m, ifindex, esp_drop(err));
    const ReplayVerdict v = sa->window.check(hdr.seq);
    if (unlikely(!v.ok())) {
        const bool dup = v.result == ReplayResult::replay_duplicate;
        ++(dup ? c.replay_duplicate : c.replay_too_old);
        return w.drop(m, ifindex, dup ? Drop::esp_replay_duplicate : Drop::esp_replay_too_old);
    }
    uint8_t aad[12];
    crypto::EspOp op;
    op.sa = sa->crypto.get();
    op.dir = crypto::EspDir::decrypt;
    op.iv = esp + kEspHeaderLen;
    op.cipher_start = esp + kEspHeaderLen + L.iv_len;
    op.cipher_len = esp_len - kEspHeaderLen - L.iv_len - L.icv_len;
    op.icv = esp + esp_len - L.icv_len;
    if (sa->crypto->transform().aead()) {
        std::memcpy(aad, esp, 4);
        if (sa->esn) store_be32(aad + 4, v.seq_high);
        std::memcpy(aad + (sa->esn ? 8 : 4), esp + 4, 4);
        op.aad = aad;
        op.aad_len = sa->esn ? 12 : 8;
    } else {
        op.auth_start = esp;
        op.auth_len = esp_len - L.icv_len;
        op.esn = sa->esn;
        op.esn_high = v.seq_high;
    }
    EspPending& p = w.esp_pending_[w.esp_count_];
    p.m = m;
    p.sa = sa;
    p.in = &in;
    p.ifindex = ifindex;
    p.decrypt = true;
    p.transport = sa->transport;
    p.in_udp = in_udp;
    p.l2_len = uint8_t(l2_len);
    p.esp_off = esp_off;
    p.esp_len = esp_len;
    p.seq_high = v.seq_high;
    p.seq_low = hdr.seq;
    if (op.aad) {
        std::memcpy(p.aad, aad, sizeof aad);
        op.aad = p.aad;
    }
    queue_op(w, op);
}

namespace {

// Transport mode in: the IP header stays, ESP (and UDP) leave; the packet is
// for the box, so after its policy check it goes to the kernel.
void finish_transport_in(Worker& w, const EspPending& p, const crypto::EspOp& op, uint32_t payload_len,
                         uint8_t next_header) {
    rte_mbuf* m = p.m;
    const IpsecSa* sa = p.sa;
    const unsigned l2_len = p.l2_len;
    const unsigned hdr = p.esp_off - (p.in_udp ? sizeof(rte_udp_hdr) : 0) - l2_len;  // the IP header's length
    const unsigned payload_off = unsigned(op.cipher_start - rte_pktmbuf_mtod(m, uint8_t*));
    rte_pktmbuf_trim(m, uint16_t(m->pkt_len - payload_off - payload_len));
    const unsigned shift = payload_off - l2_len - hdr;
    uint8_t* h = rte_pktmbuf_mtod(m, uint8_t*);
    std::memmove(h + shift, h, l2_len + hdr);
    rte_pktmbuf_adj(m, uint16_t(shift));
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
    if (sa->family == Family::v4) {
        auto* v4 = reinterpret_cast<rte_ipv4_hdr*>(ip);
        v4->total_length = rte_cpu_to_be_16(uint16_t(hdr + payload_len));
        v4->next_proto_id = next_header;
        v4->hdr_checksum = 0;
        v4->hdr_checksum = rte_ipv4_cksum(v4);
    } else {
        auto* v6 = reinterpret_cast<rte_ipv6_hdr*>(ip);
        v6->payload_len = rte_cpu_to_be_16(uint16_t(hdr - sizeof(rte_ipv6_hdr) + payload_len));
        // The header that said ESP (the fixed one or the last extension header) now names the payload.
        uint8_t* next_field = ip + 6;
        for (unsigned off = sizeof(rte_ipv6_hdr); off + 8 <= hdr;) {
            next_field = ip + off;
            off += next_field[0] == IPPROTO_FRAGMENT ? 8 : (unsigned(ip[off + 1]) + 1) * 8;
        }
        *next_field = next_header;
    }
    SaCounters& c = sa_counter(w, *sa);
    const SpdTable* spd = w.tables_.spd(sa->vrf);
    SpdPacket fields;
    if (!spd || !spd_fields(m, l2_len, sa->family == Family::v4 ? 4 : 6, true, fields) ||
        !spd->inbound_allows(sa, fields)) {
        ++c.policy_mismatch;
        return w.drop(m, p.ifindex, Drop::esp_policy_mismatch);
    }
    ++c.packets;
    c.bytes += payload_len;
    punt(w, p.ifindex, *p.in, m);
}

// RFC 6040 §4.2, normal mode: congestion experienced on the outer header
// must survive decapsulation (or the packet is dropped when the inner one
// cannot carry it); outer ECT(1) over inner ECT(0) becomes ECT(1).
constexpr uint8_t kEcnMask = 0x03, kEcnNotEct = 0x00, kEcnEct1 = 0x01, kEcnEct0 = 0x02, kEcnCe = 0x03;

uint8_t outer_ecn(const rte_mbuf* m, unsigned l3_off, Family family) {
    const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, l3_off);
    return family == Family::v4 ? ip[1] & kEcnMask : uint8_t(((ip[0] << 4 | ip[1] >> 4) & 0xff) & kEcnMask);
}

// Applies `outer` to the inner header at `l3_off`; false: drop (CE over Not-ECT).
bool decapsulate_ecn(rte_mbuf* m, unsigned l3_off, unsigned family, uint8_t outer) {
    if (outer == kEcnNotEct || outer == kEcnEct0) return true;
    uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l3_off);
    const uint8_t inner = family == 4 ? ip[1] & kEcnMask : uint8_t((ip[1] >> 4) & kEcnMask);
    uint8_t result = inner;
    if (outer == kEcnCe) {
        if (inner == kEcnNotEct) return false;
        result = kEcnCe;
    } else if (inner == kEcnEct0) {  // outer ECT(1)
        result = kEcnEct1;
    }
    if (result == inner) return true;
    if (family == 4) {
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
        h->type_of_service = uint8_t((h->type_of_service & ~kEcnMask) | result);
        h->hdr_checksum = 0;
        h->hdr_checksum = rte_ipv4_cksum(h);
    } else {
        ip[1] = uint8_t((ip[1] & ~(kEcnMask << 4)) | result << 4);
    }
    return true;
}

void finish_decrypt(Worker& w, const EspPending& p, const crypto::EspOp& op) {
    rte_mbuf* m = p.m;
    const IpsecSa* sa = p.sa;
    const uint16_t ifindex = p.ifindex;
    const InterfaceState& in = *p.in;
    const unsigned l2_len = p.l2_len, esp_off = p.esp_off;
    const EspLayout& L = sa->layout;
    SaCounters& c = sa_counter(w, *sa);
    if (unlikely(op.status != crypto::EspStatus::ok)) {
        if (op.status == crypto::EspStatus::auth_failed) {
            ++c.auth_failed;
            return w.drop(m, ifindex, Drop::esp_auth_failed);
        }
        return w.drop(m, ifindex, Drop::esp_crypto_error);
    }
    // Only an authenticated packet moves the window (RFC 4303 §3.4.3); a
    // second copy in the same burst is caught here.
    const ReplayResult accepted = sa->window.accept(p.seq_high, p.seq_low);
    if (unlikely(accepted != ReplayResult::ok)) {
        const bool dup = accepted == ReplayResult::replay_duplicate;
        ++(dup ? c.replay_duplicate : c.replay_too_old);
        return w.drop(m, ifindex, dup ? Drop::esp_replay_duplicate : Drop::esp_replay_too_old);
    }
    if (unlikely(!within_lifetime(w, *sa, op.cipher_len))) return w.drop(m, ifindex, Drop::esp_lifetime_expired);
    uint32_t payload_len;
    uint8_t next_header;
    if (check_esp_trailer(op.cipher_start, op.cipher_len, L, payload_len, next_header) != EspError::none) {
        ++c.bad_trailer;
        return w.drop(m, ifindex, Drop::esp_bad_trailer);
    }
    if (next_header == kNextHeaderNoNext) return w.drop(m, ifindex, Drop::esp_dummy_packet);
    if (sa->transport) return finish_transport_in(w, p, op, payload_len, next_header);
    if (next_header != kNextHeaderIpv4 && next_header != kNextHeaderIpv6)
        return w.drop(m, ifindex, Drop::esp_bad_next_header);
    const unsigned inner_family = next_header == kNextHeaderIpv4 ? 4 : 6;
    const uint8_t ecn = outer_ecn(m, l2_len, sa->family);

    // Strip outer header, ESP header, IV, trailer and ICV; keep the L2 header in front.
    const unsigned inner_off = esp_off + kEspHeaderLen + L.iv_len;
    rte_pktmbuf_trim(m, uint16_t(m->pkt_len - inner_off - payload_len));
    auto* h = rte_pktmbuf_mtod(m, uint8_t*);
    std::memmove(h + inner_off - l2_len, h, l2_len);
    rte_pktmbuf_adj(m, uint16_t(inner_off - l2_len));
    h = rte_pktmbuf_mtod(m, uint8_t*);
    const uint16_t ethertype = inner_family == 4 ? RTE_BE16(RTE_ETHER_TYPE_IPV4) : RTE_BE16(RTE_ETHER_TYPE_IPV6);
    std::memcpy(h + l2_len - 2, &ethertype, 2);

    // RFC 4301 §5.2 (4): the decrypted packet must match the SA's policy.
    const SpdTable* spd = w.tables_.spd(sa->vrf);
    SpdPacket fields;
    if (!spd || !spd_fields(m, l2_len, inner_family, true, fields) || !spd->inbound_allows(sa, fields)) {
        ++c.policy_mismatch;
        return w.drop(m, ifindex, Drop::esp_policy_mismatch);
    }
    if (unlikely(!decapsulate_ecn(m, l2_len, inner_family, ecn))) return w.drop(m, ifindex, Drop::esp_ecn_ce_not_ect);
    ++c.packets;
    c.bytes += payload_len;
    if (inner_family == 4) return ip4_forward(w, ifindex, in, m, l2_len, sa->vrf, true);
    ip6_forward(w, ifindex, in, m, l2_len, sa->vrf, true);
}

}  // namespace

void Worker::run_esp() noexcept {
    // Finishing a decryption forwards the inner packet, which may be protected
    // again (hub): those are queued and run in the next round.
    for (unsigned round = 0; esp_count_ && crypto_ && round < 4; ++round) {
        const unsigned n = esp_count_;
        std::swap(esp_pending_, esp_pending_spare_);  // aad pointers stay valid: the arrays do not move
        std::swap(esp_ops_, esp_ops_spare_);
        const EspPending* batch = esp_pending_spare_.get();
        auto* batch_ops = reinterpret_cast<crypto::EspOp*>(esp_ops_spare_.get());
        esp_count_ = 0;
        crypto_->run(batch_ops, n);
        for (unsigned i = 0; i < n; ++i) {
            const EspPending& p = batch[i];
            if (p.decrypt) {
                finish_decrypt(*this, p, batch_ops[i]);
            } else if (unlikely(batch_ops[i].status != crypto::EspStatus::ok)) {
                drop(p.m, p.ifindex, Drop::esp_crypto_error);
            } else if (p.transport) {
                finish_transport_out(*this, p);
            } else {
                send_outer(*this, *p.sa, p.m, p.outer_off, p.esp_len, p.tos, p.df, p.egress);
            }
        }
    }
    for (unsigned i = 0; i < esp_count_; ++i) drop(esp_pending_[i].m, esp_pending_[i].ifindex, Drop::esp_crypto_error);
    esp_count_ = 0;
}

void Worker::drain_handoff() noexcept {
    if (!handoff_ring_) return;
    Handoff hs[kBurst];
    const unsigned n = rte_ring_dequeue_burst_elem(handoff_ring_, hs, sizeof(Handoff), kBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        if (hs[i].local_output) {
            // `ifindex` carries the port here; the interface is looked up again.
            const uint16_t port = hs[i].ifindex;
            const uint16_t ifx = tables_.iface_of(port, 0);
            if (!ipsec_local_output(*this, port, ifx, hs[i].m, hs[i].l2_len, hs[i].family, hs[i].vrf)) {
                hs[i].m->hash.usr = ifx;
                enqueue_tx(port, hs[i].m);
            }
            continue;
        }
        const InterfaceState* in = tables_.iface(hs[i].ifindex);
        if (unlikely(!in)) {
            drop(hs[i].m, hs[i].ifindex, Drop::ingress_down);
            continue;
        }
        if (hs[i].family == 4) ip4_forward(*this, hs[i].ifindex, *in, hs[i].m, hs[i].l2_len, hs[i].vrf, false, hs[i].sav_done);
        else ip6_forward(*this, hs[i].ifindex, *in, hs[i].m, hs[i].l2_len, hs[i].vrf, false, hs[i].sav_done);
    }
    run_esp();
}

}  // namespace rampart
