// ESP addressed to the box (RFC 4303 §3.4): the SA by SPI and destination
// (RFC 4301 §4.1), the anti-replay check, the decryption queued for the crypto
// engine; once the batch has run, the replay window moves (authenticated
// packets only), the trailer is checked and the decrypted packet is matched
// against its SA's policy (RFC 4301 §5.2 (4)) before it is forwarded in the
// SA's VRF (tunnel mode) or handed to the kernel (transport mode). ESP in
// UDP 4500 (RFC 3948) arrives through nat_traversal_input.
//
// Registered for local delivery: IP protocol 50, UDP port 4500.
#include "crypto/ipsec_internal.hpp"
#include "fastpath/local_demux.hpp"
#include "fastpath/punt.hpp"

namespace rampart {

namespace {

Drop esp_drop(EspError e) {
    switch (e) {
        case EspError::esp_bad_alignment: return Drop::esp_bad_alignment;
        case EspError::esp_bad_pad_length:
        case EspError::esp_bad_padding: return Drop::esp_bad_trailer;
        default: return Drop::esp_truncated;
    }
}

// UDP to our port 4500 (RFC 3948): ESP goes to esp_input; IKE (non-ESP marker)
// and NAT keepalives go up to the control core.
void nat_traversal_input(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept {
    const unsigned udp_off = l4.off, udp_avail = l4.len;
    if (udp_avail < 8 || m->data_len < udp_off + 8) return punt(w, m, meta);  // the kernel judges it
    const uint8_t* u = rte_pktmbuf_mtod_offset(m, const uint8_t*, udp_off);
    const unsigned udp_len = unsigned(u[4]) << 8 | u[5];
    if (udp_len < 8 || udp_len > udp_avail || m->data_len < udp_off + udp_len) return punt(w, m, meta);
    const unsigned payload = udp_len - 8;
    const uint8_t* p = u + 8;
    // RFC 3948 §2.2: a zero non-ESP marker is IKE; a single 0xFF byte a NAT keepalive.
    if ((payload >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0) || (payload == 1 && p[0] == 0xff))
        return punt(w, m, meta);
    // The checksum is checked when present (ESP's ICV protects the payload, not the
    // ports; RFC 3948 §3.1.2 lets a receiver skip it, but a corrupted header must not
    // reach an SA). Over IPv6 it is mandatory (RFC 8200 §8.1).
    if ((u[6] | u[7]) != 0 || meta.family == 6) {
        // Pseudo-header with the UDP length (IPv6 extension headers may sit in between).
        const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, meta.l2_len);
        if (unlikely(udp_checksum_sum(ip, meta.family == 4 ? Family::v4 : Family::v6, u, udp_len) != 0xffff))
            return w.drop(m, meta.ifindex, Drop::esp_udp_checksum);
    }
    esp_input(w, m, meta.with(kInUdp), udp_off + 8, payload);
}

// IP protocol 50 to the box: fragments are held until whole (esp_reassembly.cpp).
void esp_local_input(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept {
    if (unlikely(l4.fragment)) return esp_reassemble(w, m, meta, l4.off - meta.l2_len);
    esp_input(w, m, meta, l4.off, l4.len);
}

}  // namespace

void esp_input(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned esp_off, unsigned esp_len) noexcept {
    const ForwardingTables& t = w.tables_;
    const uint16_t ifindex = meta.ifindex;
    const unsigned l2_len = meta.l2_len, family = meta.family;
    const bool in_udp = meta.has(kInUdp);
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
    if (!owned_here(w, *sa)) return hand_over(w, m, meta, sa->owner);
    if (unlikely(!w.ipsec_.engine)) return w.drop(m, ifindex, Drop::esp_crypto_error);
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
    EspPending& p = next_pending(w);
    p.m = m;
    p.sa = sa;
    p.meta = meta;
    p.decrypt = true;
    p.transport = sa->transport;
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
    const unsigned l2_len = p.meta.l2_len;
    const unsigned hdr = p.esp_off - (p.meta.has(kInUdp) ? sizeof(rte_udp_hdr) : 0) - l2_len;  // the IP header's length
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
        return w.drop(m, p.meta.ifindex, Drop::esp_policy_mismatch);
    }
    ++c.packets;
    c.bytes += payload_len;
    punt(w, m, p.meta);
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

}  // namespace

void finish_decrypt(Worker& w, const EspPending& p, const crypto::EspOp& op) noexcept {
    rte_mbuf* m = p.m;
    const IpsecSa* sa = p.sa;
    const uint16_t ifindex = p.meta.ifindex;
    const unsigned l2_len = p.meta.l2_len, esp_off = p.esp_off;
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
    PacketMeta inner = meta_in_vrf(w.tables_, p.meta, sa->vrf);
    inner.family = uint8_t(inner_family);
    inner.flags = kDecrypted;
    if (inner_family == 4) return ip4_forward(w, m, inner);
    ip6_forward(w, m, inner);
}

RAMPART_LOCAL_PROTOCOL(esp, kIpProtoEsp, esp_local_input);
RAMPART_LOCAL_UDP_PORT(nat_traversal, kNatTraversalPort, nat_traversal_input);

}  // namespace rampart
