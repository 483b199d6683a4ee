// MPLS and SR-MPLS through the real worker: every ILM action, label
// imposition, TTL models, VRFs, fast reroute and the label-plane security
// checks, compared byte for byte with frames built by packet_builder.hpp.
//
//   host A 198.51.100.10 — port0 (customer) [rampart] port1 (core, MPLS) — P1 203.0.113.2
//                                                     port2 (core, MPLS) — P2 203.0.113.130
#include <catch2/catch.hpp>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>

#include "tests/pipeline/harness.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {

const MacAddr kPortMac[3] = {mac("02:00:00:00:00:00"), mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")};
const MacAddr kPeerMac[3] = {mac("02:aa:00:00:00:0a"), mac("02:11:00:00:00:01"), mac("02:22:00:00:00:02")};
const IpAddr kHostA = addr("198.51.100.10"), kHostA6 = addr("2001:db8:a::10");
const IpAddr kPort1Ip = addr("203.0.113.1");
const IpAddr kRemote = addr("192.0.2.55"), kRemote6 = addr("2001:db8:c::55");

struct MplsLab : Pipeline {
    explicit MplsLab(bool customer_in_vrf = false) : Pipeline(3) {
        if (customer_in_vrf) {
            exec("vrf blue");
            exec("interface port0 vrf blue");
        }
        exec("interface port0 address 198.51.100.1/24");
        exec("interface port0 address 2001:db8:a::1/64");
        exec("interface port1 address 203.0.113.1/25");
        exec("interface port1 address 2001:db8:b::1/64");
        exec("interface port1 mpls");
        exec("interface port2 address 203.0.113.129/25");
        exec("interface port2 mpls");
        neighbor(0, "198.51.100.10", "02:aa:00:00:00:0a");
        neighbor(0, "2001:db8:a::10", "02:aa:00:00:00:0a");
        neighbor(1, "203.0.113.2", "02:11:00:00:00:01");
        neighbor(1, "2001:db8:b::2", "02:11:00:00:00:01");
        neighbor(2, "203.0.113.130", "02:22:00:00:00:02");
    }
    // A labelled frame as the peer on `port` sends it.
    void send_labelled(unsigned port, const std::vector<Lse>& stack, const Bytes& payload, bool bottom = true) {
        send(port, ether(kPortMac[port], kPeerMac[port], 0x8847, mpls(stack, payload, bottom)));
    }
    std::string show(const std::string& line) { return control->execute(line).text; }
};

Bytes ip4(const IpAddr& src, const IpAddr& dst, uint8_t ttl, uint8_t tos = 0, size_t payload = 18) {
    Ip4Opts o;
    o.tos = tos;
    return ipv4(src, dst, 17, ttl, udp(src, dst, 4000, 53, pattern(payload)), o);
}
Bytes ip6(const IpAddr& src, const IpAddr& dst, uint8_t hlim) {
    return ipv6(src, dst, 17, hlim, udp(src, dst, 4000, 53, pattern(18)));
}
// What rampart sends the peer on `port`.
Bytes to_peer(unsigned port, uint16_t type, const Bytes& payload) {
    return ether(kPeerMac[port], kPortMac[port], type, payload);
}
Bytes labelled_to_peer(unsigned port, const std::vector<Lse>& stack, const Bytes& payload) {
    return to_peer(port, 0x8847, mpls(stack, payload));
}
Bytes only(std::vector<Bytes> frames) {
    REQUIRE(frames.size() == 1);
    return frames[0];
}

}  // namespace

TEST_CASE("MPLS swap: one label, TTL decremented, TC kept", "[pipeline][mpls]") {
    MplsLab p;
    p.exec("mpls label 100 swap 200 via 203.0.113.130");
    const Bytes payload = ip4(kHostA, kRemote, 30);
    p.send_labelled(1, {{100, 64, 5}}, payload);
    p.run();
    CHECK(hex(only(p.wire_out(2))) == hex(labelled_to_peer(2, {{200, 63, 5}}, payload)));
    CHECK(p.show("show mpls label 100").find("1 packets") != std::string::npos);
}

TEST_CASE("MPLS swap to a stack of labels keeps the labels below", "[pipeline][mpls]") {
    MplsLab p;
    p.exec("mpls label 101 swap 300/301/302 via 203.0.113.130");
    const Bytes payload = ip4(kHostA, kRemote, 30);
    p.send_labelled(1, {{101, 20, 1}, {999, 77, 0}}, payload);
    p.run();
    CHECK(hex(only(p.wire_out(2))) ==
          hex(labelled_to_peer(2, {{300, 19, 1}, {301, 19, 1}, {302, 19, 1}, {999, 77, 0}}, payload)));
}

TEST_CASE("MPLS PHP: pop and forward, TTL uniform and pipe (RFC 3443)", "[pipeline][mpls][ttl]") {
    MplsLab p;
    p.exec("mpls label 102 pop via 203.0.113.130");
    SECTION("uniform: the IP TTL takes the LSP's") {
        p.send_labelled(1, {{102, 10}}, ip4(kHostA, kRemote, 64));
        p.run();
        CHECK(hex(only(p.wire_out(2))) == hex(to_peer(2, 0x0800, ip4(kHostA, kRemote, 9))));
    }
    SECTION("pipe: the IP TTL is untouched by the LSP") {
        p.exec("mpls ttl-mode pipe");
        p.send_labelled(1, {{102, 10}}, ip4(kHostA, kRemote, 64));
        p.run();
        CHECK(hex(only(p.wire_out(2))) == hex(to_peer(2, 0x0800, ip4(kHostA, kRemote, 64))));
    }
    SECTION("IPv6 payload") {
        p.send_labelled(1, {{102, 10}}, ip6(kHostA6, kRemote6, 64));
        p.run();
        CHECK(hex(only(p.wire_out(2))) == hex(to_peer(2, 0x86dd, ip6(kHostA6, kRemote6, 9))));
    }
    SECTION("a payload that is not IP is dropped") {
        p.send_labelled(1, {{102, 10}}, pattern(40, 0x10));
        p.run();
        CHECK(p.wire_out(2).empty());
        CHECK(p.drops(1, Drop::mpls_bad_payload) == 1);
    }
}

TEST_CASE("FTN: a route imposes three labels, TC from DSCP, TTL uniform and pipe", "[pipeline][mpls][ftn]") {
    MplsLab p;
    p.exec("route 192.0.2.0/24 via 203.0.113.2 labels 16001/16002/16003");
    SECTION("uniform") {
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, kRemote, 64, 0xb8)));
        p.run();
        CHECK(hex(only(p.wire_out(1))) ==
              hex(labelled_to_peer(1, {{16001, 63, 5}, {16002, 63, 5}, {16003, 63, 5}}, ip4(kHostA, kRemote, 63, 0xb8))));
    }
    SECTION("pipe") {
        p.exec("mpls ttl-mode pipe");
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, kRemote, 64, 0x20)));
        p.run();
        CHECK(hex(only(p.wire_out(1))) ==
              hex(labelled_to_peer(1, {{16001, 255, 1}, {16002, 255, 1}, {16003, 255, 1}}, ip4(kHostA, kRemote, 63, 0x20))));
    }
    SECTION("labels take room from the MTU: DF set gets fragmentation needed with the reduced MTU") {
        Ip4Opts o;
        o.df = true;
        Bytes big = ipv4(kHostA, kRemote, 17, 64, udp(kHostA, kRemote, 4000, 53, pattern(1490 - 28)), o);
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, big));
        p.run();
        CHECK(p.wire_out(1).empty());
        Bytes back = only(p.wire_out(0));
        CHECK(back[14 + 20] == 3);
        CHECK(back[14 + 20 + 1] == 4);
        CHECK((back[14 + 20 + 6] << 8 | back[14 + 20 + 7]) == 1500 - 12);
        CHECK(p.drops(0, Drop::mtu_exceeded) == 1);
    }
    SECTION("DF clear: fragments, each labelled") {
        Bytes big = ipv4(kHostA, kRemote, 17, 64, udp(kHostA, kRemote, 4000, 53, pattern(1490 - 28)));
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, big));
        p.run();
        auto out = p.wire_out(1);
        REQUIRE(out.size() == 2);
        for (const Bytes& f : out) {
            CHECK(f.size() - 14 <= 1500);
            CHECK((f[12] << 8 | f[13]) == 0x8847);
            CHECK((f[14 + 8 + 2] & 1) == 1);  // third label is the bottom
        }
    }
}

TEST_CASE("FTN for IPv6", "[pipeline][mpls][ftn]") {
    MplsLab p;
    p.exec("route 2001:db8:c::/48 via 2001:db8:b::2 labels 17000");
    p.send(0, ether(kPortMac[0], kPeerMac[0], 0x86dd, ip6(kHostA6, kRemote6, 64)));
    p.run();
    CHECK(hex(only(p.wire_out(1))) == hex(labelled_to_peer(1, {{17000, 63, 0}}, ip6(kHostA6, kRemote6, 63))));
}

TEST_CASE("Explicit null: pop and look up in the interface's table", "[pipeline][mpls]") {
    MplsLab p;
    p.send_labelled(1, {{0, 50}}, ip4(kRemote, addr("203.0.113.130"), 64));
    p.send_labelled(1, {{2, 50}}, ip6(kRemote6, addr("2001:db8:b::2"), 64));
    p.send_labelled(1, {{0, 50}}, ip6(kRemote6, addr("2001:db8:b::2"), 64));  // IPv4 explicit null over IPv6
    p.run();
    CHECK(hex(only(p.wire_out(2))) == hex(to_peer(2, 0x0800, ip4(kRemote, addr("203.0.113.130"), 49))));
    CHECK(hex(only(p.wire_out(1))) == hex(to_peer(1, 0x86dd, ip6(kRemote6, addr("2001:db8:b::2"), 49))));
    CHECK(p.drops(1, Drop::mpls_bad_payload) == 1);
}

TEST_CASE("VPN label: pop and look up in the VRF; VRF routes impose transport + VPN labels", "[pipeline][mpls][vrf]") {
    MplsLab p(true);
    p.exec("vrf blue label 1000");
    SECTION("core to customer") {
        p.send_labelled(1, {{1000, 60}}, ip4(kRemote, kHostA, 64));
        p.run();
        CHECK(hex(only(p.wire_out(0))) == hex(to_peer(0, 0x0800, ip4(kRemote, kHostA, 59))));
        // The customer subnet is not in the default table: explicit null finds no route there.
        p.send_labelled(1, {{0, 60}}, ip4(kRemote, kHostA, 64));
        p.run();
        CHECK(p.wire_out(0).empty());
        CHECK(p.drops(1, Drop::no_route) == 1);
    }
    SECTION("customer to core") {
        p.exec("route vrf blue 192.0.2.0/24 via 203.0.113.2 interface port1 labels 16001/1000");
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, kRemote, 64)));
        p.run();
        CHECK(hex(only(p.wire_out(1))) == hex(labelled_to_peer(1, {{16001, 63}, {1000, 63}}, ip4(kHostA, kRemote, 63))));
        // Not in the default table, not leaked: the same destination from the core is not routed into the VRF.
        p.send(1, ether(kPortMac[1], kPeerMac[1], 0x0800, ip4(addr("203.0.113.5"), kHostA, 64)));
        p.run();
        CHECK(p.wire_out(0).empty());
    }
    SECTION("route leaking only where configured") {
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, addr("203.0.113.130"), 64)));
        p.run();
        CHECK(p.wire_out(2).empty());
        CHECK(p.drops(0, Drop::no_route) == 1);
        p.exec("route vrf blue 203.0.113.128/25 next-vrf default");
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, addr("203.0.113.130"), 64)));
        p.run();
        CHECK(hex(only(p.wire_out(2))) == hex(to_peer(2, 0x0800, ip4(kHostA, addr("203.0.113.130"), 63))));
    }
    SECTION("a VPN label that is not the bottom of the stack") {
        p.send_labelled(1, {{1000, 60}, {1000, 60}}, ip4(kRemote, kHostA, 64));
        p.run();
        CHECK(p.wire_out(0).empty());
        CHECK(p.drops(1, Drop::mpls_not_bottom) == 1);
    }
    CHECK(p.show("show vrf blue").find("VPN label 1000") != std::string::npos);
    CHECK(p.control->execute("show vrf").ok);
    CHECK(p.show("show vrf").find("VRF blue") != std::string::npos);
    CHECK(p.show("show mpls label 1000").find("pop, look up in vrf blue") != std::string::npos);
}

TEST_CASE("MPLS TTL expiry: ICMP time exceeded about the IP payload (RFC 3032 §2.3.2)", "[pipeline][mpls][ttl]") {
    MplsLab p;
    p.exec("mpls label 100 swap 200 via 203.0.113.130");
    for (uint8_t ttl : {uint8_t(1), uint8_t(0)}) {
        const Bytes payload = ip4(kHostA, kRemote, 40);
        p.send_labelled(1, {{100, ttl}}, payload);
        p.run();
        CHECK(p.wire_out(2).empty());
        Ip4Opts o;
        o.id = 0;
        o.tos = 0xc0;
        CHECK(hex(only(p.wire_out(0))) == hex(to_peer(0, 0x0800, ipv4(kPort1Ip, kHostA, 1, 64, icmp4(11, 0, 0, payload), o))));
    }
    CHECK(p.drops(1, Drop::mpls_ttl_expired) == 2);
    // Not IP under the stack: no ICMP, still counted.
    p.send_labelled(1, {{100, 1}}, pattern(30));
    p.run();
    CHECK(p.wire_out(0).empty());
    CHECK(p.drops(1, Drop::mpls_ttl_expired) == 3);
}

TEST_CASE("Label-plane security and malformed stacks are dropped and counted", "[pipeline][mpls][security]") {
    MplsLab p;
    p.exec("mpls label-range 16 50000");
    p.exec("mpls label 100 swap 200 via 203.0.113.130");
    p.exec("mpls label 105 drop");
    const Bytes payload = ip4(kHostA, kRemote, 30);
    p.send_labelled(0, {{100}}, payload);  // customer-facing: MPLS not enabled
    p.send_labelled(1, {{60000}}, payload);
    p.send_labelled(1, {{5000}}, payload);
    p.send_labelled(1, {{1}}, payload);   // router alert
    p.send_labelled(1, {{3}}, payload);   // implicit null never appears on the wire
    p.send_labelled(1, {{13}}, payload);  // GAL
    p.send_labelled(1, {{105}}, payload);
    p.send(1, ether(kPortMac[1], kPeerMac[1], 0x8847, Bytes{0x00, 0x06}));          // half a label
    p.send_labelled(1, {{100}, {200}, {300}}, {}, false);                           // no bottom of stack
    std::vector<Lse> deep(17, Lse{100});
    p.send_labelled(1, deep, payload);                                              // 17 labels
    std::vector<Lse> sixteen(16, Lse{100});
    p.send_labelled(1, sixteen, payload);                                           // 16: parsed, swapped
    p.run();
    CHECK(p.drops(0, Drop::mpls_disabled) == 1);
    CHECK(p.drops(1, Drop::mpls_label_out_of_range) == 1);
    CHECK(p.drops(1, Drop::mpls_unknown_label) == 1);
    CHECK(p.drops(1, Drop::mpls_reserved_label) == 3);
    CHECK(p.drops(1, Drop::mpls_label_drop) == 1);
    CHECK(p.drops(1, Drop::mpls_truncated) == 2);
    CHECK(p.drops(1, Drop::mpls_stack_too_deep) == 1);
    CHECK(p.wire_out(2).size() == 1);
    CHECK(p.wire_out(0).empty());
    CHECK(p.wire_out(1).empty());
}

TEST_CASE("MPLS MTU: a swap that grows the frame past the MTU is dropped", "[pipeline][mpls]") {
    MplsLab p;
    p.exec("mpls label 101 swap 300/301/302 via 203.0.113.130");
    p.send_labelled(1, {{101}}, ip4(kHostA, kRemote, 30, 0, 1500 - 4 - 28));  // 1500 bytes labelled, 1508 after
    p.run();
    CHECK(p.wire_out(2).empty());
    CHECK(p.drops(1, Drop::mtu_exceeded) == 1);
}

TEST_CASE("MPLS ECMP spreads flows by stack and payload and keeps each flow on one path", "[pipeline][mpls][ecmp]") {
    MplsLab p;
    p.exec("mpls label 104 swap 204 via 203.0.113.2");
    p.exec("mpls label 104 swap 205 via 203.0.113.130");
    std::set<unsigned> ports_of_flow[64];
    for (int round = 0; round < 2; ++round)
        for (unsigned f = 0; f < 64; ++f) {
            p.send_labelled(1, {{104}}, ip4(IpAddr::v4(0xc6336400u + f), kRemote, 30));
            p.run();
            auto a = p.wire_out(1), b = p.wire_out(2);
            REQUIRE(a.size() + b.size() == 1);
            if (!a.empty()) CHECK(((a[0][14] << 12) | (a[0][15] << 4) | (a[0][16] >> 4)) == 204);
            if (!b.empty()) CHECK(((b[0][14] << 12) | (b[0][15] << 4) | (b[0][16] >> 4)) == 205);
            ports_of_flow[f].insert(a.empty() ? 2u : 1u);
        }
    unsigned on1 = 0;
    for (auto& s : ports_of_flow) {
        CHECK(s.size() == 1);
        on1 += s.count(1);
    }
    CHECK(on1 > 10);
    CHECK(on1 < 54);
}

TEST_CASE("SR-MPLS: prefix SIDs from the next hop's SRGB, node SID, adjacency SID", "[pipeline][mpls][sr]") {
    MplsLab p;
    p.exec("segment-routing srgb 16000 23999");
    p.exec("segment-routing neighbor-srgb 203.0.113.130 20000 27999");
    p.exec("route 192.0.2.1/32 via 203.0.113.2");
    p.exec("route 192.0.2.2/32 via 203.0.113.130");
    p.exec("segment-routing prefix-sid 192.0.2.1/32 index 1");
    p.exec("segment-routing prefix-sid 192.0.2.2/32 index 2");
    p.exec("segment-routing prefix-sid 203.0.113.1/32 index 9");
    p.exec("segment-routing adjacency-sid 24001 via 203.0.113.130");
    const IpAddr d1 = addr("192.0.2.1"), d2 = addr("192.0.2.2");
    SECTION("FTN: IP traffic to a SID's prefix gets its label") {
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, d1, 64)));
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, d2, 64)));
        p.run();
        CHECK(hex(only(p.wire_out(1))) == hex(labelled_to_peer(1, {{16001, 63}}, ip4(kHostA, d1, 63))));
        CHECK(hex(only(p.wire_out(2))) == hex(labelled_to_peer(2, {{20002, 63}}, ip4(kHostA, d2, 63))));
    }
    SECTION("transit: our SRGB label swapped to the next hop's") {
        p.send_labelled(2, {{16001, 9}}, ip4(kRemote, d1, 64));
        p.send_labelled(1, {{16002, 9}}, ip4(kRemote, d2, 64));
        p.run();
        CHECK(hex(only(p.wire_out(1))) == hex(labelled_to_peer(1, {{16001, 8}}, ip4(kRemote, d1, 64))));
        CHECK(hex(only(p.wire_out(2))) == hex(labelled_to_peer(2, {{20002, 8}}, ip4(kRemote, d2, 64))));
    }
    SECTION("our node SID pops and the next segment is processed") {
        p.send_labelled(2, {{16009, 20}, {16001, 20}}, ip4(kRemote, d1, 64));
        p.run();
        CHECK(hex(only(p.wire_out(1))) == hex(labelled_to_peer(1, {{16001, 19}}, ip4(kRemote, d1, 64))));
    }
    SECTION("adjacency SID: pop and send to that neighbour, whatever the IGP says") {
        p.send_labelled(1, {{24001, 30}, {16001, 30}}, ip4(kRemote, d1, 64));
        p.run();
        CHECK(hex(only(p.wire_out(2))) == hex(labelled_to_peer(2, {{16001, 29}}, ip4(kRemote, d1, 64))));
    }
    std::string sr = p.show("show segment-routing");
    CHECK(sr.find("SRGB 16000-23999") != std::string::npos);
    CHECK(sr.find("label 16001") != std::string::npos);
    CHECK(p.show("show mpls ilm").find("24001") != std::string::npos);
}

TEST_CASE("SR policy: steering by prefix and by binding SID", "[pipeline][mpls][sr]") {
    MplsLab p;
    p.exec("segment-routing policy pol1 segments 16001/16002/16003 via 203.0.113.130");
    p.exec("segment-routing policy pol1 binding-sid 30000");
    p.exec("route 100.64.0.0/16 policy pol1");
    const IpAddr d = addr("100.64.1.1");
    p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, d, 64)));
    p.send_labelled(1, {{30000, 40}}, ip4(kRemote, d, 64));
    p.run();
    auto out = p.wire_out(2);
    REQUIRE(out.size() == 2);
    CHECK(hex(out[0]) == hex(labelled_to_peer(2, {{16001, 63}, {16002, 63}, {16003, 63}}, ip4(kHostA, d, 63))));
    CHECK(hex(out[1]) == hex(labelled_to_peer(2, {{16001, 39}, {16002, 39}, {16003, 39}}, ip4(kRemote, d, 64))));
    CHECK(p.show("show mpls ftn").find("100.64.0.0/16") != std::string::npos);
}

TEST_CASE("Fast reroute: the workers switch to the repair path before the control plane recomputes",
          "[pipeline][mpls][frr]") {
    MplsLab p;
    p.exec("route 192.0.2.0/24 via 203.0.113.2 labels 16001 backup 203.0.113.130 backup-labels 24002/16001");
    p.exec("mpls label 110 swap 210 via 203.0.113.2 backup 203.0.113.130 backup-labels 24002/210");
    auto send_both = [&] {
        p.send(0, ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, kRemote, 64)));
        p.send_labelled(2, {{110, 50}}, ip4(kRemote, kHostA, 64));
        p.run();
    };
    send_both();
    auto primary = p.wire_out(1);
    REQUIRE(primary.size() == 2);
    CHECK(hex(primary[0]) == hex(labelled_to_peer(1, {{16001, 63}}, ip4(kHostA, kRemote, 63))));
    CHECK(hex(primary[1]) == hex(labelled_to_peer(1, {{210, 49}}, ip4(kRemote, kHostA, 64))));

    // Only the interface state is published (what the link poll does first).
    p.fib->set_link_state("port1", false);
    send_both();
    CHECK(p.wire_out(1).empty());
    auto repaired = p.wire_out(2);
    REQUIRE(repaired.size() == 2);
    CHECK(hex(repaired[0]) == hex(labelled_to_peer(2, {{24002, 63}, {16001, 63}}, ip4(kHostA, kRemote, 63))));
    CHECK(hex(repaired[1]) == hex(labelled_to_peer(2, {{24002, 49}, {210, 49}}, ip4(kRemote, kHostA, 64))));
    CHECK(p.counters(2).frr_backup_tx == 2);
    CHECK(p.show("show mpls label 110").find("swap to 210 via 203.0.113.2 on port1") != std::string::npos);
    CHECK(p.show("show mpls label 110").find("backup via 203.0.113.130 on port2, swap to 24002/210") != std::string::npos);

    // The control plane converges: the backup becomes the route; same packets.
    p.control->on_link_change("port1", false);
    send_both();
    CHECK(p.wire_out(2).size() == 2);
    CHECK(p.counters(2).frr_backup_tx == 2);
    CHECK(p.show("show route 192.0.2.0/24").find("via 203.0.113.130") != std::string::npos);

    p.control->on_link_change("port1", true);
    send_both();
    CHECK(p.wire_out(1).size() == 2);
}

namespace {
std::atomic<bool> frr_running{false};
int frr_worker(void* w) {
    static_cast<Worker*>(w)->run(frr_running);
    return 0;
}
}  // namespace

TEST_CASE("Fast reroute under load: loss and switch-over time when the primary port goes down",
          "[pipeline][mpls][frr][live]") {
    MplsLab p;
    p.exec("route 192.0.2.0/24 via 203.0.113.2 labels 16001 backup 203.0.113.130 backup-labels 24002/16001");
    const unsigned lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    REQUIRE(lcore < RTE_MAX_LCORE);
    frr_running = true;
    REQUIRE(rte_eal_remote_launch(frr_worker, p.worker.get(), lcore) == 0);
    // Whatever happens below, the worker lcore stops before the pipeline goes away.
    struct StopWorker {
        unsigned lcore;
        ~StopWorker() {
            frr_running = false;
            rte_eal_wait_lcore(lcore);
        }
    } stop_worker{lcore};
    // A loaded machine may leave the worker behind: a frame that finds the rx
    // ring full is not sent (and not counted as sent).
    auto offer = [&](const Bytes& f) {
        rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
        if (!m) return false;
        std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
        if (rte_ring_enqueue(p.ports[0].wire.rx, m) == 0) return true;
        rte_pktmbuf_free(m);
        return false;
    };

    const Bytes frame = ether(kPortMac[0], kPeerMac[0], 0x0800, ip4(kHostA, kRemote, 64));
    uint64_t sent = 0, on_primary = 0, on_backup = 0;
    uint64_t fail_tsc = 0, first_backup_tsc = 0;
    double converge_us = 0;
    const uint64_t hz = rte_get_tsc_hz();
    auto collect = [&] {
        on_primary += p.wire_out(1).size();
        size_t b = p.wire_out(2).size();
        if (b && !first_backup_tsc) first_backup_tsc = rte_rdtsc();
        on_backup += b;
    };
    const uint64_t start = rte_rdtsc();
    while (rte_rdtsc() - start < hz / 2) {  // 0.5 s at ~100 kpps
        for (int k = 0; k < 8; ++k) sent += offer(frame);
        if (!fail_tsc && rte_rdtsc() - start > hz / 4) {
            // What rampartd does on link loss, in two steps so that each is timed:
            // the interface state published to the workers (they switch to the
            // backups), then the control plane's recomputation.
            collect();
            fail_tsc = rte_rdtsc();
            p.fib->set_link_state("port1", false);
            sent += offer(frame);
            while (!first_backup_tsc && rte_rdtsc() - fail_tsc < hz / 100) collect();
            const uint64_t t0 = rte_rdtsc();
            p.control->on_link_change("port1", false);
            converge_us = double(rte_rdtsc() - t0) * 1e6 / double(hz);
        }
        rte_delay_us_block(80);
        collect();
    }
    for (int i = 0; i < 1000 && rte_ring_count(p.ports[0].wire.rx); ++i) rte_delay_us_sleep(1000);
    rte_delay_us_sleep(10000);
    frr_running = false;
    rte_eal_wait_lcore(lcore);
    p.worker->flush();
    collect();
    const uint64_t lost = sent - on_primary - on_backup;
    const double switch_us = first_backup_tsc > fail_tsc ? double(first_backup_tsc - fail_tsc) * 1e6 / double(hz) : -1;
    std::printf("FRR under load: %lu sent, %lu over the primary, %lu over the backup, %lu lost; "
                "first packet on the backup %.1f us after the interface went down in the data plane; "
                "control-plane recomputation %.1f us\n",
                (unsigned long)sent, (unsigned long)on_primary, (unsigned long)on_backup, (unsigned long)lost, switch_us,
                converge_us);
    CHECK(on_primary > 0);
    CHECK(on_backup > 0);
    CHECK(lost == 0);
}

TEST_CASE("MPLS ECMP uses the payload's ports too: one host pair spreads over paths", "[pipeline][mpls][ecmp]") {
    MplsLab p;
    p.exec("mpls label 104 swap 204 via 203.0.113.2");
    p.exec("mpls label 104 swap 205 via 203.0.113.130");
    unsigned on1 = 0, on2 = 0;
    for (uint16_t sport = 1000; sport < 1064; ++sport) {
        p.send_labelled(1, {{104}}, ipv4(kHostA, kRemote, 17, 30, udp(kHostA, kRemote, sport, 53, pattern(18))));
        p.run();
        on1 += unsigned(p.wire_out(1).size());
        on2 += unsigned(p.wire_out(2).size());
    }
    CHECK(on1 + on2 == 64);
    CHECK(on1 > 10);
    CHECK(on2 > 10);
}
