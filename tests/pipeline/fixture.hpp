// The two-sided topology most pipeline tests share:
//   host A 198.51.100.10 / 2001:db8:a::10 — port0 [rampart] port1 — host B 203.0.113.10 / 2001:db8:b::10
//   router R 203.0.113.2 / 2001:db8:b::2 on port1 is the gateway to 192.0.2.0/24 and 2001:db8:c::/48.
#pragma once

#include "tests/pipeline/harness.hpp"

namespace rampart::test {

inline const MacAddr kPort0Mac = mac("02:00:00:00:00:00");
inline const MacAddr kPort1Mac = mac("02:00:00:00:00:01");
inline const MacAddr kHostAMac = mac("02:aa:00:00:00:0a");
inline const MacAddr kHostBMac = mac("02:bb:00:00:00:0b");
inline const MacAddr kRouterMac = mac("02:cc:00:00:00:02");
inline const IpAddr kPort0Ip = addr("198.51.100.1"), kHostA = addr("198.51.100.10");
inline const IpAddr kPort1Ip = addr("203.0.113.1"), kHostB = addr("203.0.113.10"), kRouter = addr("203.0.113.2");
inline const IpAddr kPort0Ip6 = addr("2001:db8:a::1"), kHostA6 = addr("2001:db8:a::10");
inline const IpAddr kPort1Ip6 = addr("2001:db8:b::1"), kHostB6 = addr("2001:db8:b::10"), kRouter6 = addr("2001:db8:b::2");
inline const IpAddr kRemote = addr("192.0.2.55"), kRemote6 = addr("2001:db8:c::55");

struct TwoSided : Pipeline {
    TwoSided() : Pipeline(2) {
        exec("interface port0 address 198.51.100.1/24");
        exec("interface port0 address 2001:db8:a::1/64");
        exec("interface port1 address 203.0.113.1/24");
        exec("interface port1 address 2001:db8:b::1/64");
        exec("route 192.0.2.0/24 via 203.0.113.2");
        exec("route 2001:db8:c::/48 via 2001:db8:b::2");
        neighbor(0, "198.51.100.10", "02:aa:00:00:00:0a");
        neighbor(0, "2001:db8:a::10", "02:aa:00:00:00:0a");
        neighbor(1, "203.0.113.10", "02:bb:00:00:00:0b");
        neighbor(1, "2001:db8:b::10", "02:bb:00:00:00:0b");
        neighbor(1, "203.0.113.2", "02:cc:00:00:00:02");
        neighbor(1, "2001:db8:b::2", "02:cc:00:00:00:02");
    }
    // A UDP datagram from host A, as it arrives on port0.
    static Bytes from_a(const IpAddr& dst, uint8_t ttl, size_t payload = 18, Ip4Opts o = {}) {
        return ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, dst, 17, ttl, udp(kHostA, dst, 4000, 53, pattern(payload)), o));
    }
    static Bytes from_a6(const IpAddr& dst, uint8_t hlim, size_t payload = 18) {
        return ether(kPort0Mac, kHostAMac, 0x86dd, ipv6(kHostA6, dst, 17, hlim, udp(kHostA6, dst, 4000, 53, pattern(payload))));
    }
};

}  // namespace rampart::test
