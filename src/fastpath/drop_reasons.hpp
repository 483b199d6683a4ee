// Every reason the data plane drops a packet, from one list (the VPP X-macro
// idiom) so the enum, the counter arrays and the `show` strings never drift.
#pragma once

#include <cstdint>
#include <string_view>

#include "crypto/ipsec_drop_reasons.hpp"
#include "mpls/mpls_drop_reasons.hpp"

namespace rampart {

// The reasons of src/fastpath's own stages; the other modules' lists are in
// their folders and joined below (a module adds its header and one line).
#define RAMPART_FASTPATH_DROP_REASONS(_)                                                     \
    _(eth_runt, "frame shorter than its Ethernet/802.1Q header")                             \
    _(eth_not_for_us, "destination MAC is not ours")                                         \
    _(eth_unknown_vlan, "802.1Q tag with no matching sub-interface")                         \
    _(eth_unsupported_type, "unsupported EtherType")                                         \
    _(ingress_down, "ingress interface administratively down")                               \
    _(sav_no_rule, "SAV: no rule covers the source address (interface in enforce mode)")     \
    _(sav_wrong_interface, "SAV: the source may not enter on this interface (enforce mode)") \
    _(ip4_truncated, "IPv4 header truncated")                                                \
    _(ip4_bad_version, "IPv4 version field is not 4")                                        \
    _(ip4_bad_ihl, "IPv4 IHL below 5 or beyond the frame")                                   \
    _(ip4_bad_length, "IPv4 total length below the header or beyond the frame")              \
    _(ip4_bad_checksum, "IPv4 header checksum mismatch")                                     \
    _(ip4_bad_source, "IPv4 source is zero, loopback, multicast or broadcast")               \
    _(ip4_bad_destination, "IPv4 destination is zero or loopback")                           \
    _(ip4_bad_options, "malformed IPv4 options")                                             \
    _(ip4_source_route, "IPv4 source-route option refused")                                  \
    _(ip4_ttl_expired, "IPv4 TTL expired in transit")                                        \
    _(ip6_truncated, "IPv6 header truncated")                                                \
    _(ip6_bad_version, "IPv6 version field is not 6")                                        \
    _(ip6_bad_length, "IPv6 payload length beyond the frame")                                \
    _(ip6_bad_source, "IPv6 source is multicast, loopback or unspecified")                   \
    _(ip6_bad_destination, "IPv6 destination is unspecified or loopback")                    \
    _(ip6_link_local, "IPv6 link-local address cannot be forwarded")                         \
    _(ip6_ext_truncated, "IPv6 extension header truncated")                                  \
    _(ip6_ext_chain_too_long, "IPv6 extension header chain too long")                        \
    _(ip6_routing_type0, "IPv6 type 0 routing header (RFC 5095)")                            \
    _(ip6_hop_limit_expired, "IPv6 hop limit expired in transit")                            \
    _(no_route, "no route to destination")                                                   \
    _(blackhole_route, "blackhole route")                                                    \
    _(unreachable_route, "unreachable route")                                                \
    _(neighbor_unresolved, "next-hop neighbour not resolved")                                \
    _(egress_down, "egress interface down")                                                  \
    _(mtu_exceeded, "packet larger than egress MTU")                                         \
    _(fragment_failed, "IPv4 fragmentation failed (no buffers)")                             \
    _(punt_no_twin, "local traffic but the port has no exception-path twin")                 \
    _(punt_policed, "exception-path policer exceeded")                                       \
    _(local_out_malformed, "malformed frame from the exception path")                        \
    _(vrf_leak_loop, "route leaking points at another leaking route")

#define RAMPART_DROP_REASONS(_)      \
    RAMPART_FASTPATH_DROP_REASONS(_) \
    RAMPART_MPLS_DROP_REASONS(_)     \
    RAMPART_IPSEC_DROP_REASONS(_)    \
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
