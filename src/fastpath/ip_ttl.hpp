// IPv4 TTL rewrite with the header checksum updated incrementally (RFC 1624
// eqn. 3), shared by IP forwarding and the MPLS stages.
#pragma once

#include <rte_byteorder.h>
#include <rte_ip.h>

namespace rampart {

inline void ip4_set_ttl(rte_ipv4_hdr* ip, uint8_t ttl) noexcept {
    const uint16_t old_word = uint16_t(ip->time_to_live << 8 | ip->next_proto_id);
    ip->time_to_live = ttl;
    const uint16_t new_word = uint16_t(ttl << 8 | ip->next_proto_id);
    uint32_t sum = uint16_t(~rte_be_to_cpu_16(ip->hdr_checksum)) + uint16_t(~old_word) + uint32_t(new_word);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    ip->hdr_checksum = rte_cpu_to_be_16(uint16_t(~sum));
}

}  // namespace rampart
