// Local delivery (fastpath/local_demux.hpp): what is registered, where an
// unregistered protocol goes, and a handler registered from a file of its own
// (this one), as GRE / IP-IP / L2TP decapsulation will be. Also the ingress
// feature bits (fastpath/ingress_features.hpp) ForwardingTables derives.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include "crypto/esp_packet.hpp"
#include "fastpath/local_demux.hpp"
#include "tests/pipeline/fixture.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {

// RFC 3692: protocol 253 is for experimentation and testing.
constexpr uint8_t kTestProtocol = 253;

struct Seen {
    unsigned calls = 0;
    LocalL4 l4{};
    PacketMeta meta{};
} seen;

void test_protocol_input(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept {
    ++seen.calls;
    seen.l4 = l4;
    seen.meta = meta;
    rte_pktmbuf_free(m);
}

void never_called(Worker&, rte_mbuf*, PacketMeta, LocalL4) noexcept {}

}  // namespace

RAMPART_LOCAL_PROTOCOL(pipeline_test, kTestProtocol, test_protocol_input);

TEST_CASE("Local demux: ESP, UDP, NAT-T and ESP-in-UDP fragments are registered by their own files",
          "[pipeline][local]") {
    TwoSided p;
    const LocalDemux& d = p.worker->demux_;
    CHECK(d.protocol(kIpProtoEsp) != nullptr);
    CHECK(d.protocol(IPPROTO_UDP) != nullptr);
    CHECK(d.udp_port(rte_cpu_to_be_16(kNatTraversalPort)) != nullptr);
    CHECK(d.udp_fragments() != nullptr);
    CHECK(d.protocol(kTestProtocol) == &test_protocol_input);
    // Not (yet) handled in the data plane: the exception path.
    for (uint8_t proto : {uint8_t(IPPROTO_TCP), uint8_t(IPPROTO_ICMP), uint8_t(47), uint8_t(4), uint8_t(41)})
        CHECK(d.protocol(proto) == nullptr);
    CHECK(d.udp_port(rte_cpu_to_be_16(1701)) == nullptr);
    CHECK(d.udp_port(rte_cpu_to_be_16(500)) == nullptr);
}

TEST_CASE("Local demux: a key registered twice fails the worker's start", "[pipeline][local]") {
    using K = LocalDemuxEntry::Kind;
    const LocalDemuxEntry a{K::ip_protocol, 47, never_called, "gre", nullptr};
    const LocalDemuxEntry b{K::ip_protocol, 47, never_called, "gre-again", &a};
    LocalDemux d;
    CHECK_THROWS_WITH(d.fill(&b), Catch::Contains("IP protocol 47 registered twice"));
    const LocalDemuxEntry u1{K::udp_port, 1701, never_called, "l2tp", nullptr};
    const LocalDemuxEntry u2{K::udp_port, 1701, never_called, "l2tp-again", &u1};
    CHECK_THROWS_WITH(d.fill(&u2), Catch::Contains("UDP port 1701 registered twice"));
    const LocalDemuxEntry g{K::ip_protocol, 4, never_called, "ipip", &u1};
    d.fill(&g);
    CHECK(d.protocol(4) == &never_called);
    CHECK(d.udp_port(rte_cpu_to_be_16(1701)) == &never_called);
    CHECK(d.protocol(47) == nullptr);
}

TEST_CASE("Local demux: unregistered protocols and ports reach the kernel unchanged", "[pipeline][local]") {
    TwoSided p;
    const std::vector<Bytes> local = {
        ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, kPort0Ip, 47, 64, pattern(24))),   // GRE
        ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, kPort0Ip, 4, 64, pattern(40))),    // IP in IP
        ether(kPort0Mac, kHostAMac, 0x86dd, ipv6(kHostA6, kPort0Ip6, 41, 64, pattern(40))), // IPv6 in IPv6/IP
        ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, kPort0Ip, 17, 64, udp(kHostA, kPort0Ip, 1701, 1701, pattern(12)))),
        ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, kPort0Ip, 17, 64, udp(kHostA, kPort0Ip, 500, 500, pattern(12)))),
    };
    for (auto& f : local) p.send(0, f);
    p.run();
    auto up = p.kernel_out(0);
    REQUIRE(up.size() == local.size());
    for (size_t i = 0; i < local.size(); ++i) CHECK(hex(up[i]) == hex(local[i]));
    CHECK(p.counters(0).punted == local.size());
}

TEST_CASE("Local demux: a registered protocol's handler gets the packet and where its header is",
          "[pipeline][local]") {
    TwoSided p;
    seen = {};
    p.send(0, ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, kPort1Ip, kTestProtocol, 64, pattern(30))));
    p.run();
    REQUIRE(seen.calls == 1);
    CHECK(seen.l4.proto == kTestProtocol);
    CHECK(seen.l4.off == 14 + 20);
    CHECK(seen.l4.len == 30);
    CHECK_FALSE(seen.l4.fragment);
    CHECK(seen.meta.ifindex == 0);
    CHECK(seen.meta.family == 4);
    CHECK(seen.meta.l2_len == 14);
    CHECK(seen.meta.vrf == 0);

    // IPv6 behind a destination options header: the handler sees the upper layer.
    Bytes dstopts = {kTestProtocol, 0, 1, 4, 0, 0, 0, 0};  // next header, length 0 (8 bytes), PadN
    append(dstopts, pattern(16));
    p.send(0, ether(kPort0Mac, kHostAMac, 0x86dd, ipv6(kHostA6, kPort0Ip6, 60, 64, dstopts)));
    p.run();
    REQUIRE(seen.calls == 2);
    CHECK(seen.l4.proto == kTestProtocol);
    CHECK(seen.l4.off == 14 + 40 + 8);
    CHECK(seen.l4.len == 16);
    CHECK(seen.meta.family == 6);
    CHECK(p.kernel_out(0).empty());
    CHECK(p.counters(0).punted == 0);
}

TEST_CASE("Ingress features: SAV and SPD bits follow the interface's mode and its VRF's SPD", "[pipeline][local]") {
    TwoSided p;
    const uint8_t sav = feature_bit(IngressFeature::sav), spd = feature_bit(IngressFeature::spd);
    CHECK(p.tables->iface(0)->ingress_features == 0);
    CHECK(p.tables->iface(1)->ingress_features == 0);
    p.exec("interface port0 sav strict monitor");
    CHECK(p.tables->iface(0)->ingress_features == sav);
    p.exec("ipsec policy 30 local 0.0.0.0/0 remote 100.67.0.0/16 bypass");
    CHECK(p.tables->iface(0)->ingress_features == (sav | spd));
    CHECK(p.tables->iface(1)->ingress_features == spd);
    p.exec("vrf blue");
    p.exec("interface port1 vrf blue");
    CHECK(p.tables->iface(1)->ingress_features == 0);  // blue has no SPD
    p.exec("no ipsec policy 30 local 0.0.0.0/0 remote 100.67.0.0/16 bypass");
    CHECK(p.tables->iface(0)->ingress_features == sav);
    p.exec("interface port0 sav off");
    CHECK(p.tables->iface(0)->ingress_features == 0);
    for (unsigned i = 0; i < kNumIngressFeatures; ++i) CHECK_FALSE(kIngressFeatureInfo[i].text.empty());
}
