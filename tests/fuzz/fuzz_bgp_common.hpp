// What the two BGP fuzz targets share: codec options from the input's first
// octet, so one corpus explores every negotiated variant (2- and 4-octet
// ASNs, extended messages, ADD-PATH per family, eBGP discards, labeled and
// VPN families).
#pragma once

#include <algorithm>
#include <cstdint>

#include "slowpath/bgp/message.hpp"

namespace rampart::bgp::fuzz {

inline CodecOptions options_from(uint8_t b) {
    CodecOptions o;
    o.four_octet_as = !(b & 1);
    o.extended_message = b & 2;
    if (b & 4) o.add_path_receive.push_back(kIpv4Unicast);
    if (b & 8) o.add_path_receive.push_back(kIpv6Unicast);
    o.external_peer = b & 16;
    if (b & 32)  // labeled unicast and VPN negotiated too
        o.families = {kIpv4Unicast, kIpv6Unicast, {Afi::ipv4, Safi::labeled_unicast}, {Afi::ipv6, Safi::labeled_unicast},
                      {Afi::ipv4, Safi::vpn}, {Afi::ipv6, Safi::vpn}};
    o.add_path_send = o.add_path_receive;  // re-encoding writes what was read
    return o;
}

// The partial bit is the only thing about an attribute that passing it on
// changes (RFC 4271 §5).
inline PathAttributes as_passed_on(PathAttributes a) {
    for (UnknownAttribute& u : a.unknown)
        if ((u.flags & kFlagOptional) && (u.flags & kFlagTransitive)) u.flags |= kFlagPartial;
    return a;
}

}  // namespace rampart::bgp::fuzz
