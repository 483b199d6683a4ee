// BGP's part of the running configuration (config/bgp.cpp parses and renders
// it, bgp_protocol.cpp runs it): plain data, compared whole.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "slowpath/bgp/message.hpp"

namespace rampart {

struct BgpNeighborConfig {
    bgp::Asn remote_as = 0;
    std::optional<IpAddr> local_address;      // source of our connection (and the only address it is accepted on)
    std::string password;                     // TCP-MD5 key (RFC 2385); empty: none
    std::optional<uint8_t> ttl_security_hops; // GTSM (RFC 5082): the peer is at most this many hops away
    std::optional<uint8_t> ebgp_multihop;     // TTL of our packets to an eBGP peer (default 1)
    bool passive = false;                     // never connect out
    std::optional<uint16_t> hold_time;        // proposed; default 90 s
    std::optional<uint32_t> max_prefix;       // Cease / Maximum Number of Prefixes Reached past this (RFC 4486)
    bool graceful_restart = false;            // helper mode (RFC 4724)
    std::optional<bgp::Role> role;            // RFC 9234: our role toward this peer
    bool role_strict = false;                 // the peer must announce its role
    bool add_path_receive = false, add_path_send = false;  // RFC 7911, on every family of the session
    std::string import_policy, export_policy;
    bool route_reflector_client = false;      // RFC 4456
    std::set<bgp::AddressFamily> families;    // empty: the family of the neighbour's address
    friend bool operator==(const BgpNeighborConfig&, const BgpNeighborConfig&) = default;
};

struct BgpConfig {
    bgp::Asn asn = 0;                         // 0: BGP is not configured
    std::optional<uint32_t> router_id;        // host order; default: the highest IPv4 interface address
    std::map<IpAddr, BgpNeighborConfig> neighbors;
    std::set<Prefix> networks;                // originated (`bgp network`)
    friend bool operator==(const BgpConfig&, const BgpConfig&) = default;
};

}  // namespace rampart
