// Every reason the data plane drops a packet, from one list (the VPP X-macro
// idiom) so the enum, the counter arrays and the `show` strings never drift.
#pragma once

#include <cstdint>
#include <string_view>

namespace rampart {

#define RAMPART_DROP_REASONS(_)                                                              \
    _(eth_runt, "frame shorter than its Ethernet/802.1Q header")                           \
    _(eth_not_for_us, "destination MAC is not ours")                                       \
    _(eth_unknown_vlan, "802.1Q tag with no matching sub-interface")                       \
    _(eth_unsupported_type, "unsupported EtherType")                                       \
    _(ingress_down, "ingress interface administratively down")                             \
    _(sav_no_rule, "SAV: no rule covers the source address (interface in enforce mode)")     \
    _(sav_wrong_interface, "SAV: the source may not enter on this interface (enforce mode)") \
    _(ip4_truncated, "IPv4 header truncated")                                              \
    _(ip4_bad_version, "IPv4 version field is not 4")                                      \
    _(ip4_bad_ihl, "IPv4 IHL below 5 or beyond the frame")                                 \
    _(ip4_bad_length, "IPv4 total length below the header or beyond the frame")            \
    _(ip4_bad_checksum, "IPv4 header checksum mismatch")                                   \
    _(ip4_bad_source, "IPv4 source is zero, loopback, multicast or broadcast")             \
    _(ip4_bad_destination, "IPv4 destination is zero or loopback")                         \
    _(ip4_bad_options, "malformed IPv4 options")                                           \
    _(ip4_source_route, "IPv4 source-route option refused")                                \
    _(ip4_ttl_expired, "IPv4 TTL expired in transit")                                      \
    _(ip6_truncated, "IPv6 header truncated")                                              \
    _(ip6_bad_version, "IPv6 version field is not 6")                                      \
    _(ip6_bad_length, "IPv6 payload length beyond the frame")                              \
    _(ip6_bad_source, "IPv6 source is multicast, loopback or unspecified")                 \
    _(ip6_bad_destination, "IPv6 destination is unspecified or loopback")                  \
    _(ip6_link_local, "IPv6 link-local address cannot be forwarded")                       \
    _(ip6_ext_truncated, "IPv6 extension header truncated")                                \
    _(ip6_ext_chain_too_long, "IPv6 extension header chain too long")                      \
    _(ip6_routing_type0, "IPv6 type 0 routing header (RFC 5095)")                          \
    _(ip6_hop_limit_expired, "IPv6 hop limit expired in transit")                          \
    _(no_route, "no route to destination")                                                 \
    _(blackhole_route, "blackhole route")                                                  \
    _(unreachable_route, "unreachable route")                                              \
    _(neighbor_unresolved, "next-hop neighbour not resolved")                              \
    _(egress_down, "egress interface down")                                                \
    _(mtu_exceeded, "packet larger than egress MTU")                                       \
    _(fragment_failed, "IPv4 fragmentation failed (no buffers)")                           \
    _(punt_no_twin, "local traffic but the port has no exception-path twin")               \
    _(punt_policed, "exception-path policer exceeded")                                     \
    _(local_out_malformed, "malformed frame from the exception path")                      \
    _(mpls_disabled, "labelled packet on an interface without MPLS (customer-facing)")     \
    _(mpls_truncated, "MPLS stack truncated: no bottom-of-stack label within the frame")   \
    _(mpls_stack_too_deep, "MPLS label stack deeper than the parser walks (16)")           \
    _(mpls_label_out_of_range, "MPLS label outside the configured label range")            \
    _(mpls_unknown_label, "MPLS label with no incoming-label entry")                       \
    _(mpls_reserved_label, "reserved MPLS label not accepted (router alert, GAL, null...)") \
    _(mpls_ttl_expired, "MPLS TTL expired in transit")                                     \
    _(mpls_label_drop, "incoming-label entry with the drop action")                        \
    _(mpls_bad_payload, "payload under the bottom label is not the expected IPv4/IPv6")    \
    _(mpls_not_bottom, "VPN or explicit-null label that must be bottom of stack is not")   \
    _(vrf_leak_loop, "route leaking points at another leaking route")                      \
    _(ipsec_policy_discard, "SPD entry with the discard action")                           \
    _(ipsec_no_sa, "protect entry without an installed SA (acquire sent to the control core)") \
    _(ipsec_cleartext_protected, "cleartext packet that the SPD says must arrive protected") \
    _(esp_unknown_spi, "ESP with an SPI that is not an inbound SA of this address")        \
    _(esp_encapsulation_mismatch, "ESP in UDP for a plain SA, or plain ESP for a NAT-T SA") \
    _(esp_truncated, "ESP shorter than header, IV, trailer and ICV")                       \
    _(esp_reassembly_failed, "ESP fragments that could not be reassembled (table full, overlap, too big)") \
    _(esp_bad_alignment, "ESP encrypted part not a multiple of the cipher block")          \
    _(esp_replay_duplicate, "ESP sequence number already received (anti-replay)")          \
    _(esp_replay_too_old, "ESP sequence number left of the anti-replay window")            \
    _(esp_auth_failed, "ESP integrity check failed")                                       \
    _(esp_bad_trailer, "ESP padding or pad length wrong after decryption")                 \
    _(esp_bad_next_header, "ESP payload is not IPv4/IPv6 (tunnel mode)")                   \
    _(esp_dummy_packet, "ESP dummy packet (next header 59, RFC 4303 §2.6)")                 \
    _(esp_policy_mismatch, "decrypted packet does not match its SA's policy")              \
    _(esp_ecn_ce_not_ect, "outer header congestion-marked, inner not ECN-capable (RFC 6040 §4.2)") \
    _(esp_udp_checksum, "UDP-encapsulated ESP with a wrong UDP checksum")                   \
    _(esp_sequence_exhausted, "outbound SA used up its sequence numbers (rekey needed)")   \
    _(esp_lifetime_expired, "SA past its hard packet/byte lifetime (rekey needed)")          \
    _(esp_no_room, "no head/tail room or a chained mbuf for ESP encapsulation")            \
    _(esp_crypto_error, "the crypto engine refused or failed the operation")               \
    _(esp_mtu_exceeded, "ESP packet larger than the egress MTU")                           \
    _(ipsec_handoff_full, "hand-off ring to the SA's owner worker full")                   \
    _(tx_queue_full, "transmit queue full")

enum class Drop : uint8_t {
#define RAMPART_DROP_ENUM(name, text) name,
    RAMPART_DROP_REASONS(RAMPART_DROP_ENUM)
#undef RAMPART_DROP_ENUM
};

inline constexpr unsigned kNumDropReasons = 0
#define RAMPART_DROP_COUNT(name, text) +1
    RAMPART_DROP_REASONS(RAMPART_DROP_COUNT)
#undef RAMPART_DROP_COUNT
    ;

struct DropInfo {
    std::string_view name;
    std::string_view text;
};

inline constexpr DropInfo kDropInfo[kNumDropReasons] = {
#define RAMPART_DROP_INFO(name, text) {#name, text},
    RAMPART_DROP_REASONS(RAMPART_DROP_INFO)
#undef RAMPART_DROP_INFO
};

}  // namespace rampart
