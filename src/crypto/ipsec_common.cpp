// Helpers the IPsec stages share: SPD selectors of a packet, SA volume
// lifetimes, the UDP checksum of ESP in UDP, outer fragment identifications.
#include "crypto/ipsec_internal.hpp"
#include "fastpath/ip6_ext.hpp"

namespace rampart {

namespace {
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoSctp = 132, kProtoIcmp6 = 58;

void tell(Worker& w, const IpsecSa& sa, bool hard) {
    SaEvent ev{sa.spi, uint8_t(sa.inbound), uint8_t(hard), 0};
    rte_ring_enqueue_elem(w.ipsec_.sa_event_ring, &ev, sizeof ev);  // full: the control core is far behind
}
}  // namespace

bool spd_fields(const rte_mbuf* m, unsigned l3, unsigned family, bool reverse, SpdPacket& p) noexcept {
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

bool count_lifetime(Worker& w, const IpsecSa& sa, uint32_t bytes) noexcept {
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

uint16_t udp_checksum_sum(const uint8_t* ip, Family family, const void* udp, unsigned udp_len) noexcept {
    uint32_t sum = family == Family::v4 ? __rte_raw_cksum(ip + 12, 8, 0) : __rte_raw_cksum(ip + 8, 32, 0);
    sum += rte_cpu_to_be_16(uint16_t(IPPROTO_UDP)) + rte_cpu_to_be_16(uint16_t(udp_len));
    return __rte_raw_cksum_reduce(__rte_raw_cksum(udp, udp_len, sum));
}

uint32_t next_fragment_id6(Worker& w) noexcept {
    return rte_cpu_to_be_32(++w.ipsec_.frag_id6 << 6 | (w.cfg_.id & 63));  // workers never collide
}

}  // namespace rampart
