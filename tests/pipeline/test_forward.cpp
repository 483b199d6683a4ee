// Forwarding through the real worker code, compared byte for byte with
// packets built independently by tests/support/packet_builder.hpp.
#include <catch2/catch.hpp>

#include <rte_ring.h>

#include <set>

#include "tests/pipeline/fixture.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {
// The original datagram as quoted by an ICMP error: at most `limit` bytes.
Bytes quoted(const Bytes& frame, size_t l2, size_t limit) {
    size_t n = std::min(frame.size() - l2, limit);
    return Bytes(frame.begin() + long(l2), frame.begin() + long(l2 + n));
}

// The ICMP error rampartd sends host A about the untagged frame `in` (RFC 1812:
// as much of the original as fits in 576 bytes).
Bytes icmp_error_to_a(const Bytes& in, uint8_t type, uint8_t code, uint32_t rest) {
    Ip4Opts o;
    o.id = 0;
    o.tos = 0xc0;
    return ether(kHostAMac, kPort0Mac, 0x0800, ipv4(kPort0Ip, kHostA, 1, 64, icmp4(type, code, rest, quoted(in, 14, 548)), o));
}
}  // namespace

TEST_CASE("IPv4 forwarding via a gateway: TTL, checksum and MAC rewrite", "[pipeline][ipv4]") {
    TwoSided p;
    p.send(0, TwoSided::from_a(kRemote, 64));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    Bytes expected = ether(kRouterMac, kPort1Mac, 0x0800, ipv4(kHostA, kRemote, 17, 63, udp(kHostA, kRemote, 4000, 53, pattern(18))));
    CHECK(hex(out[0]) == hex(expected));
    CHECK(p.counters(0).rx_packets == 1);
    CHECK(p.counters(1).tx_packets == 1);
}

TEST_CASE("IPv4 incremental checksum matches a full recomputation for every TTL and header", "[pipeline][ipv4]") {
    TwoSided p;
    for (int ttl = 2; ttl <= 255; ttl += 1) {
        Ip4Opts o;
        o.id = uint16_t(ttl * 977);
        o.tos = uint8_t(ttl * 3);
        p.send(0, TwoSided::from_a(kHostB, uint8_t(ttl), size_t(ttl % 40), o));
        p.run();
        auto out = p.wire_out(1);
        REQUIRE(out.size() == 1);
        Bytes expected = ether(kHostBMac, kPort1Mac, 0x0800,
                               ipv4(kHostA, kHostB, 17, uint8_t(ttl - 1), udp(kHostA, kHostB, 4000, 53, pattern(size_t(ttl % 40))), o));
        REQUIRE(hex(out[0]) == hex(expected));
    }
}

TEST_CASE("IPv4 TTL expiry sends ICMP time exceeded to the source", "[pipeline][ipv4][icmp]") {
    TwoSided p;
    for (uint8_t ttl : {uint8_t(1), uint8_t(0)}) {
        Bytes in = TwoSided::from_a(kRemote, ttl);
        p.send(0, in);
        p.run();
        CHECK(p.wire_out(1).empty());
        auto back = p.wire_out(0);
        REQUIRE(back.size() == 1);
        CHECK(hex(back[0]) == hex(icmp_error_to_a(in, 11, 0, 0)));
    }
    CHECK(p.drops(0, Drop::ip4_ttl_expired) == 2);
    CHECK(p.counters(0).icmp_errors_sent == 2);
}

TEST_CASE("IPv4 without a route: ICMP net unreachable; blackhole and unreachable routes", "[pipeline][ipv4][icmp]") {
    TwoSided p;
    Bytes in = TwoSided::from_a(addr("100.64.1.1"), 64, 600);  // long: quote capped at 576 bytes in all
    p.send(0, in);
    p.run();
    auto back = p.wire_out(0);
    REQUIRE(back.size() == 1);
    CHECK(hex(back[0]) == hex(icmp_error_to_a(in, 3, 0, 0)));
    CHECK(back[0].size() == 14 + 576);
    CHECK(p.drops(0, Drop::no_route) == 1);

    p.exec("route 100.64.0.0/16 blackhole");
    p.send(0, in);
    p.run();
    CHECK(p.wire_out(0).empty());
    CHECK(p.drops(0, Drop::blackhole_route) == 1);

    p.exec("no route 100.64.0.0/16 blackhole");
    p.exec("route 100.64.0.0/16 unreachable");
    p.send(0, in);
    p.run();
    back = p.wire_out(0);
    REQUIRE(back.size() == 1);
    CHECK(back[0][14 + 20] == 3);
    CHECK(back[0][14 + 21] == 1);  // host unreachable
    CHECK(p.drops(0, Drop::unreachable_route) == 1);
}

TEST_CASE("IPv4 larger than the egress MTU: DF gets fragmentation-needed, otherwise fragmented", "[pipeline][ipv4][mtu]") {
    TwoSided p;
    p.exec("interface port1 mtu 1000");
    Ip4Opts df;
    df.df = true;
    Bytes in = TwoSided::from_a(kHostB, 64, 1200, df);
    p.send(0, in);
    p.run();
    CHECK(p.wire_out(1).empty());
    auto back = p.wire_out(0);
    REQUIRE(back.size() == 1);
    CHECK(hex(back[0]) == hex(icmp_error_to_a(in, 3, 4, 1000)));
    CHECK(p.drops(0, Drop::mtu_exceeded) == 1);

    // Without DF: fragments that each fit, reassembling to the original payload.
    p.exec("interface port1 mtu 600");
    Bytes datagram = ipv4(kHostA, kHostB, 17, 64, udp(kHostA, kHostB, 4000, 53, pattern(1900)));
    p.send(0, ether(kPort0Mac, kHostAMac, 0x0800, datagram));
    p.run();
    auto frags = p.wire_out(1);
    REQUIRE(frags.size() == 4);  // 1928 bytes of payload in 576-byte pieces
    Bytes reassembled;
    for (size_t i = 0; i < frags.size(); ++i) {
        const Bytes& f = frags[i];
        CHECK(Bytes(f.begin(), f.begin() + 12) == Bytes{0x02, 0xbb, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x01});
        const uint8_t* iph = f.data() + 14;
        size_t total = size_t(iph[2]) << 8 | iph[3];
        CHECK(total <= 600);
        CHECK(f.size() == 14 + total);
        CHECK(iph[8] == 63);                              // TTL decremented once
        CHECK(checksum(iph, 20) == 0);                    // header checksum valid
        uint16_t frag = uint16_t(iph[6] << 8 | iph[7]);
        CHECK(size_t(frag & 0x1fff) * 8 == reassembled.size());
        CHECK(bool(frag & 0x2000) == (i + 1 < frags.size()));
        reassembled.insert(reassembled.end(), f.begin() + 34, f.end());
    }
    CHECK(reassembled == Bytes(datagram.begin() + 20, datagram.end()));
}

TEST_CASE("IPv6 forwarding: hop limit and MAC rewrite", "[pipeline][ipv6]") {
    TwoSided p;
    p.send(0, TwoSided::from_a6(kRemote6, 64));
    p.send(0, TwoSided::from_a6(kHostB6, 2));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 2);
    CHECK(hex(out[0]) == hex(ether(kRouterMac, kPort1Mac, 0x86dd, ipv6(kHostA6, kRemote6, 17, 63, udp(kHostA6, kRemote6, 4000, 53, pattern(18))))));
    CHECK(hex(out[1]) == hex(ether(kHostBMac, kPort1Mac, 0x86dd, ipv6(kHostA6, kHostB6, 17, 1, udp(kHostA6, kHostB6, 4000, 53, pattern(18))))));
}

TEST_CASE("IPv6 hop limit expiry, no route and packet too big produce ICMPv6 errors", "[pipeline][ipv6][icmp]") {
    TwoSided p;
    p.exec("interface port1 mtu 1280");
    struct Case {
        Bytes in;
        uint8_t type, code;
        uint32_t rest;
        Drop reason;
    };
    std::vector<Case> cases = {
        {TwoSided::from_a6(kRemote6, 1), 3, 0, 0, Drop::ip6_hop_limit_expired},
        {TwoSided::from_a6(addr("2001:db8:ffff::1"), 64), 1, 0, 0, Drop::no_route},
        {TwoSided::from_a6(kHostB6, 64, 1400), 2, 0, 1280, Drop::mtu_exceeded},
    };
    for (auto& c : cases) {
        p.send(0, c.in);
        p.run();
        auto back = p.wire_out(0);
        REQUIRE(back.size() == 1);
        Bytes expected = ether(kHostAMac, kPort0Mac, 0x86dd,
                               ipv6(kPort0Ip6, kHostA6, 58, 64, icmp6(kPort0Ip6, kHostA6, c.type, c.code, c.rest, quoted(c.in, 14, 1232))));
        CHECK(hex(back[0]) == hex(expected));
        CHECK(back[0].size() <= 14 + 1280);
        CHECK(p.drops(0, c.reason) == 1);
    }
    CHECK(p.wire_out(1).empty());
}

TEST_CASE("IPv6 unreachable route: ICMPv6 destination unreachable, code 5 reject route (RFC 4443 §3.1)",
          "[pipeline][ipv6][icmp]") {
    TwoSided p;
    p.exec("route 2001:db8:dead::/48 unreachable");
    const Bytes in = TwoSided::from_a6(addr("2001:db8:dead::1"), 64);
    p.send(0, in);
    p.run();
    auto back = p.wire_out(0);
    REQUIRE(back.size() == 1);
    const Bytes expected = ether(kHostAMac, kPort0Mac, 0x86dd,
                                 ipv6(kPort0Ip6, kHostA6, 58, 64, icmp6(kPort0Ip6, kHostA6, 1, 5, 0, quoted(in, 14, 1232))));
    CHECK(hex(back[0]) == hex(expected));
    CHECK(back[0][14 + 40 + 1] == 5);  // not 3 (address unreachable: a neighbour that cannot be resolved)
    CHECK(p.drops(0, Drop::unreachable_route) == 1);
    CHECK(p.wire_out(1).empty());
}

TEST_CASE("ECMP spreads flows over next hops and keeps each flow on one", "[pipeline][ecmp]") {
    TwoSided p;
    p.neighbor(1, "203.0.113.3", "02:cc:00:00:00:03");
    p.exec("route 192.0.2.0/24 via 203.0.113.3");
    std::map<uint16_t, uint8_t> flow_nh;
    std::set<uint8_t> used;
    for (int round = 0; round < 2; ++round) {
        for (uint16_t sport = 1000; sport < 1200; ++sport) {
            p.send(0, ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, kRemote, 17, 64, udp(kHostA, kRemote, sport, 53, pattern(8)))));
            p.run();
            auto out = p.wire_out(1);
            REQUIRE(out.size() == 1);
            uint8_t nh = out[0][5];
            used.insert(nh);
            if (round == 0) flow_nh[sport] = nh;
            else CHECK(flow_nh[sport] == nh);
        }
    }
    CHECK(used == std::set<uint8_t>{0x02, 0x03});
}

TEST_CASE("802.1Q sub-interfaces classify, forward tagged and drop unknown VLANs", "[pipeline][vlan]") {
    TwoSided p;
    p.exec("interface port1.100 vlan 100 parent port1");
    p.exec("interface port1.100 address 198.18.0.1/24");
    p.neighbor(2, "198.18.0.10", "02:dd:00:00:00:10");
    const IpAddr dst = addr("198.18.0.10");
    p.send(0, TwoSided::from_a(dst, 64));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    CHECK(hex(out[0]) == hex(ether(mac("02:dd:00:00:00:10"), kPort1Mac, 0x0800,
                                   ipv4(kHostA, dst, 17, 63, udp(kHostA, dst, 4000, 53, pattern(18))), uint16_t(100))));

    // Tagged in on VLAN 100, untagged out on port0.
    p.send(1, ether(kPort1Mac, mac("02:dd:00:00:00:10"), 0x0800, ipv4(dst, kHostA, 17, 9, udp(dst, kHostA, 1, 2, pattern(4))), uint16_t(100)));
    p.send(1, ether(kPort1Mac, mac("02:dd:00:00:00:10"), 0x0800, ipv4(dst, kHostA, 17, 9, udp(dst, kHostA, 1, 2, pattern(4))), uint16_t(200)));
    p.run();
    out = p.wire_out(0);
    REQUIRE(out.size() == 1);
    CHECK(hex(out[0]) == hex(ether(kHostAMac, kPort0Mac, 0x0800, ipv4(dst, kHostA, 17, 8, udp(dst, kHostA, 1, 2, pattern(4))))));
    CHECK(p.counters(2).rx_packets == 1);
    CHECK(p.drops(1, Drop::eth_unknown_vlan) == 1);

    p.exec("no interface port1.100 address 198.18.0.1/24");
    p.exec("no interface port1.100 vlan 100 parent port1");
    p.send(1, ether(kPort1Mac, mac("02:dd:00:00:00:10"), 0x0800, ipv4(dst, kHostA, 17, 9, udp(dst, kHostA, 1, 2, pattern(4))), uint16_t(100)));
    p.run();
    CHECK(p.wire_out(0).empty());
    CHECK(p.drops(1, Drop::eth_unknown_vlan) == 2);
}

TEST_CASE("A sub-interface's exception path: tagged to the parent's twin and back, unchanged", "[pipeline][vlan][exception]") {
    TwoSided p;
    p.exec("interface port1.100 vlan 100 parent port1");
    p.exec("interface port1.100 address 198.18.0.1/24");
    p.exec("interface port1.100 address 2001:db8:100::1/64");
    const MacAddr peer = mac("02:dd:00:00:00:10");
    const IpAddr peer4 = addr("198.18.0.10"), peer6 = addr("2001:db8:100::10");
    const IpAddr own4 = addr("198.18.0.1"), own6 = addr("2001:db8:100::1");
    // What the kernel's VLAN link on the twin must see: the frames as they came, tags included.
    std::vector<Bytes> up = {
        ether(mac("ff:ff:ff:ff:ff:ff"), peer, 0x0806, pattern(28), uint16_t(100)),  // ARP
        ether(kPort1Mac, peer, 0x0800, ipv4(peer4, own4, 1, 64, icmp4(8, 0, 0x00070001, pattern(8))), uint16_t(100)),
        ether(mac("33:33:ff:00:00:01"), peer, 0x86dd,
              ipv6(peer6, addr("ff02::1:ff00:1"), 58, 255, icmp6(peer6, addr("ff02::1:ff00:1"), 135, 0, 0, pattern(24))),
              uint16_t(100)),  // neighbour solicitation
        ether(kPort1Mac, peer, 0x86dd, ipv6(peer6, own6, 58, 64, icmp6(peer6, own6, 128, 0, 0x00070001, pattern(8))),
              uint16_t(100)),
    };
    for (auto& f : up) p.send(1, f);
    p.run();
    auto punted = p.kernel_out(1);
    REQUIRE(punted.size() == up.size());
    for (size_t i = 0; i < up.size(); ++i) CHECK(hex(punted[i]) == hex(up[i]));
    CHECK(p.counters(2).punted == up.size());
    CHECK(p.counters(1).punted == 0);

    // The kernel answers on the VLAN link: tagged frames leave the port as they are,
    // counted on the sub-interface; untagged ones on the port; unknown VLANs on the port.
    Bytes reply = ether(peer, kPort1Mac, 0x0800, ipv4(own4, peer4, 1, 64, icmp4(0, 0, 0x00070001, pattern(8))), uint16_t(100));
    Bytes untagged = ether(kHostBMac, kPort1Mac, 0x0806, pattern(28));
    Bytes other_vlan = ether(peer, kPort1Mac, 0x0806, pattern(28), uint16_t(300));
    for (auto& f : {reply, untagged, other_vlan}) p.send_from_kernel(1, f);
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 3);
    CHECK(hex(out[0]) == hex(reply));
    CHECK(hex(out[1]) == hex(untagged));
    CHECK(hex(out[2]) == hex(other_vlan));
    CHECK(p.counters(2).local_out == 1);
    CHECK(p.counters(2).tx_packets == 1);
    CHECK(p.counters(2).tx_bytes == reply.size());
    CHECK(p.counters(1).local_out == 2);
    CHECK(p.wire_out(0).empty());

    // The kernel side: neighbours learnt on the VLAN link belong to the sub-interface.
    CHECK(p.fib->kernel_ifname("port1") == "rp-port1");
    CHECK(p.fib->kernel_ifname("port1.100") == "rp-port1.100");
    CHECK(p.fib->ifindex_of_twin("rp-port1") == uint16_t{1});
    CHECK(p.fib->ifindex_of_twin("rp-port1.100") == uint16_t{2});
    p.exec("no interface port1.100 vlan 100 parent port1");
    CHECK_FALSE(p.fib->ifindex_of_twin("rp-port1.100"));
    CHECK(p.fib->kernel_ifname("port1.100").empty());
}

TEST_CASE("Kernel names of VLAN links fit IFNAMSIZ and stay deterministic", "[pipeline][vlan]") {
    CHECK(vlan_twin_name("rp-pb", 100) == "rp-pb.100");
    CHECK(vlan_twin_name("rp-uplink01", 1) == "rp-uplink01.1");
    CHECK(vlan_twin_name("rp-uplink0", 4094) == "rp-uplink0.4094");  // exactly 15
    // 16 characters would not fit: a prefix of the twin, '~' and a hash of it.
    const std::string a = vlan_twin_name("rp-uplink01", 4094), b = vlan_twin_name("rp-uplink02", 4094);
    CHECK(a.size() == 15);
    CHECK(a.rfind("rp-up~", 0) == 0);
    CHECK(a.substr(a.size() - 5) == ".4094");
    CHECK(a == vlan_twin_name("rp-uplink01", 4094));
    CHECK(a != b);
    std::set<std::string> names;
    size_t longest = 0;
    for (uint16_t vid = 1; vid < 4095; ++vid) {
        std::string n = vlan_twin_name("rp-abcdefghijkl", vid);  // the longest twin name
        longest = std::max(longest, n.size());
        names.insert(n);
    }
    CHECK(longest == 15);
    CHECK(names.size() == 4094);
}

TEST_CASE("Traffic for the box goes to the TAP twin; the twin's output goes to the wire", "[pipeline][exception]") {
    TwoSided p;
    std::vector<Bytes> local = {
        TwoSided::from_a(kPort0Ip, 64),
        TwoSided::from_a(kPort1Ip, 1),  // local delivery ignores TTL 1
        TwoSided::from_a6(kPort0Ip6, 64),
        ether(mac("ff:ff:ff:ff:ff:ff"), kHostAMac, 0x0806, pattern(28)),  // ARP
        TwoSided::from_a(addr("224.0.0.5"), 1),
        ether(mac("33:33:ff:00:00:01"), kHostAMac, 0x86dd, ipv6(kHostA6, addr("ff02::1:ff00:1"), 58, 255, icmp6(kHostA6, addr("ff02::1:ff00:1"), 135, 0, 0, pattern(24)))),
    };
    for (auto& f : local) p.send(0, f);
    p.run();
    auto up = p.kernel_out(0);
    REQUIRE(up.size() == local.size());
    for (size_t i = 0; i < local.size(); ++i) CHECK(hex(up[i]) == hex(local[i]));
    CHECK(p.counters(0).punted == local.size());
    CHECK(p.wire_out(1).empty());

    Bytes reply = ether(kHostAMac, kPort0Mac, 0x0800, ipv4(kPort0Ip, kHostA, 1, 64, icmp4(0, 0, 0x00010001, pattern(8))));
    p.send_from_kernel(0, reply);
    p.run();
    auto out = p.wire_out(0);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == reply);
    CHECK(p.counters(0).local_out == 1);
}

TEST_CASE("Unresolved next hops are counted and asked of the control core", "[pipeline][neighbor]") {
    TwoSided p;
    p.send(0, TwoSided::from_a(addr("203.0.113.77"), 64));
    p.exec("route 192.0.2.0/24 via 203.0.113.9");
    p.exec("no route 192.0.2.0/24 via 203.0.113.2");
    p.send(0, TwoSided::from_a(kRemote, 64));
    p.run();
    CHECK(p.wire_out(1).empty());
    CHECK(p.drops(0, Drop::neighbor_unresolved) == 2);
    std::set<std::string> asked;
    ResolveRequest r;
    while (rte_ring_dequeue_elem(p.worker->resolve_ring(), &r, sizeof r) == 0) {
        IpAddr a = IpAddr::v4(0);
        std::memcpy(a.bytes.data(), r.addr, 4);
        CHECK(r.ifindex == 1);
        asked.insert(a.str());
    }
    CHECK(asked == std::set<std::string>{"203.0.113.77", "203.0.113.9"});

    // Once the kernel resolves it, traffic flows.
    p.neighbor(1, "203.0.113.9", "02:cc:00:00:00:09");
    p.send(0, TwoSided::from_a(kRemote, 64));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    CHECK(out[0][5] == 0x09);
}

TEST_CASE("Interface state and L2 checks drop with their reasons", "[pipeline][drops]") {
    TwoSided p;
    p.send(0, ether(mac("02:99:99:99:99:99"), kHostAMac, 0x0800, ipv4(kHostA, kHostB, 17, 64, pattern(8))));
    p.send(0, ether(kPort0Mac, kHostAMac, 0x88cc, pattern(40)));  // LLDP
    p.run();
    CHECK(p.drops(0, Drop::eth_not_for_us) == 1);
    CHECK(p.drops(0, Drop::eth_unsupported_type) == 1);

    p.exec("interface port0 shutdown");
    p.send(0, TwoSided::from_a(kHostB, 64));
    p.run();
    CHECK(p.drops(0, Drop::ingress_down) == 1);
    p.exec("no interface port0 shutdown");
    p.exec("interface port1 shutdown");
    p.send(0, TwoSided::from_a(kHostB, 64));
    p.run();
    CHECK(p.wire_out(1).empty());
    CHECK(p.drops(0, Drop::no_route) == 1);  // port1's connected and neighbour routes are withdrawn
}

TEST_CASE("ICMP errors are rate-limited per worker", "[pipeline][icmp]") {
    TwoSided p;
    p.exec("icmp rate-limit 0");
    p.send(0, TwoSided::from_a(kRemote, 1));
    p.run();
    CHECK(p.wire_out(0).empty());
    CHECK(p.counters(0).icmp_errors_suppressed == 1);
    p.exec("icmp rate-limit 10");  // burst of max(10, rate/10) = 10
    for (int i = 0; i < 30; ++i) p.send(0, TwoSided::from_a(kRemote, 1));
    p.run();
    size_t sent = p.wire_out(0).size();
    CHECK(sent >= 10);
    CHECK(sent < 30);
}

TEST_CASE("Static neighbours resolve next hops and win over the kernel", "[pipeline][neighbor]") {
    TwoSided p;
    const IpAddr dst = addr("203.0.113.20");
    p.exec("interface port1 neighbor 203.0.113.20 02:00:5e:00:53:14");
    p.neighbor(1, "203.0.113.20", "02:00:5e:00:53:99");  // the kernel disagrees: ignored
    p.send(0, TwoSided::from_a(dst, 64));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    CHECK(hex(out[0]) == hex(ether(mac("02:00:5e:00:53:14"), kPort1Mac, 0x0800, ipv4(kHostA, dst, 17, 63, udp(kHostA, dst, 4000, 53, pattern(18))))));
    // Removing the static entry falls back to what the kernel learnt.
    p.exec("no interface port1 neighbor 203.0.113.20 02:00:5e:00:53:14");
    p.send(0, TwoSided::from_a(dst, 64));
    p.run();
    out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    CHECK(out[0][5] == 0x99);
    CHECK(p.control->execute("show neighbors").text.find("203.0.113.20") != std::string::npos);
}
