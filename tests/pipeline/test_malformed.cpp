// Malformed frames are dropped with the precise reason and never read past
// the buffer (the ASan build of this suite checks the latter), and a storm of
// random mutations keeps every packet accounted for.
#include <catch2/catch.hpp>

#include <random>

#include "tests/pipeline/fixture.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {
Bytes eth_with(uint16_t type, const Bytes& l3) { return ether(kPort0Mac, kHostAMac, type, l3); }
Bytes valid_ip4() { return ipv4(kHostA, kHostB, 17, 64, udp(kHostA, kHostB, 1, 2, pattern(8))); }
Bytes valid_ip6() { return ipv6(kHostA6, kHostB6, 17, 64, udp(kHostA6, kHostB6, 1, 2, pattern(8))); }
Bytes with_checksum(Bytes ip) {
    size_t ihl = size_t(ip[0] & 0xf) * 4;
    ip[10] = ip[11] = 0;
    if (ihl <= ip.size()) {
        uint16_t c = checksum(ip.data(), ihl);
        ip[10] = uint8_t(c >> 8);
        ip[11] = uint8_t(c);
    }
    return ip;
}
}  // namespace

TEST_CASE("Malformed frames and headers are dropped with their reason", "[pipeline][malformed]") {
    struct Case {
        const char* what;
        Bytes frame;
        Drop reason;
    };
    std::vector<Case> cases;
    for (size_t n : {0, 1, 6, 13}) cases.push_back({"runt", Bytes(n, 0x02), Drop::eth_runt});
    {
        Bytes f = ether(kPort0Mac, kHostAMac, 0x8100, Bytes{0x00});
        cases.push_back({"802.1Q tag cut short", f, Drop::eth_runt});
    }
    const Bytes ip4 = valid_ip4(), ip6 = valid_ip6();
    cases.push_back({"IPv4 header cut short", eth_with(0x0800, Bytes(ip4.begin(), ip4.begin() + 19)), Drop::ip4_truncated});
    {
        Bytes ip = valid_ip4();
        ip[0] = 0x65;
        cases.push_back({"IPv4 version 6", eth_with(0x0800, with_checksum(ip)), Drop::ip4_bad_version});
        ip = valid_ip4();
        ip[0] = 0x44;
        cases.push_back({"IHL 4", eth_with(0x0800, with_checksum(ip)), Drop::ip4_bad_ihl});
        ip = valid_ip4();
        ip[0] = 0x4f;  // 60-byte header in a 36-byte packet
        cases.push_back({"IHL beyond the frame", eth_with(0x0800, ip), Drop::ip4_bad_ihl});
        ip = valid_ip4();
        ip[2] = 0x01;  // total length 256+ > frame
        cases.push_back({"total length beyond the frame", eth_with(0x0800, with_checksum(ip)), Drop::ip4_bad_length});
        ip = valid_ip4();
        ip[2] = 0;
        ip[3] = 12;  // below the header
        cases.push_back({"total length below the header", eth_with(0x0800, with_checksum(ip)), Drop::ip4_bad_length});
        ip = valid_ip4();
        ip[10] ^= 0x55;
        cases.push_back({"bad header checksum", eth_with(0x0800, ip), Drop::ip4_bad_checksum});
    }
    for (const char* src : {"0.0.0.0", "127.0.0.1", "224.0.0.9", "255.255.255.255", "240.0.0.1"})
        cases.push_back({"martian source", eth_with(0x0800, ipv4(addr(src), kHostB, 17, 64, pattern(8))), Drop::ip4_bad_source});
    cases.push_back({"loopback destination", eth_with(0x0800, ipv4(kHostA, addr("127.0.0.2"), 17, 64, pattern(8))), Drop::ip4_bad_destination});
    {
        Ip4Opts o;
        o.options = {0x44, 0x00, 0x05, 0x00};  // timestamp option with length 0
        cases.push_back({"option length 0", eth_with(0x0800, ipv4(kHostA, kHostB, 17, 64, pattern(8), o)), Drop::ip4_bad_options});
        o.options = {0x01, 0x01, 0x07, 0x09};  // record route claiming 9 bytes in 2
        cases.push_back({"option beyond the header", eth_with(0x0800, ipv4(kHostA, kHostB, 17, 64, pattern(8), o)), Drop::ip4_bad_options});
        o.options = {0x83, 0x03, 0x04, 0x00};  // LSRR
        cases.push_back({"loose source route", eth_with(0x0800, ipv4(kHostA, kHostB, 17, 64, pattern(8), o)), Drop::ip4_source_route});
        o.options = {0x89, 0x03, 0x04, 0x00};  // SSRR
        cases.push_back({"strict source route", eth_with(0x0800, ipv4(kHostA, kHostB, 17, 64, pattern(8), o)), Drop::ip4_source_route});
    }
    cases.push_back({"IPv6 header cut short", eth_with(0x86dd, Bytes(ip6.begin(), ip6.begin() + 39)), Drop::ip6_truncated});
    {
        Bytes ip = valid_ip6();
        ip[0] = 0x40;
        cases.push_back({"IPv6 version 4", eth_with(0x86dd, ip), Drop::ip6_bad_version});
        ip = valid_ip6();
        ip[4] = 0x10;  // payload length 4096+
        cases.push_back({"IPv6 payload length beyond the frame", eth_with(0x86dd, ip), Drop::ip6_bad_length});
    }
    cases.push_back({"IPv6 multicast source", eth_with(0x86dd, ipv6(addr("ff02::1"), kHostB6, 17, 64, pattern(8))), Drop::ip6_bad_source});
    cases.push_back({"IPv6 unspecified source", eth_with(0x86dd, ipv6(addr("::"), kHostB6, 17, 64, pattern(8))), Drop::ip6_bad_source});
    cases.push_back({"IPv6 loopback destination", eth_with(0x86dd, ipv6(kHostA6, addr("::1"), 17, 64, pattern(8))), Drop::ip6_bad_destination});
    cases.push_back({"IPv6 link-local source", eth_with(0x86dd, ipv6(addr("fe80::1"), kHostB6, 17, 64, pattern(8))), Drop::ip6_link_local});
    {
        Bytes hbh = {17, 0, 1, 4, 0, 0, 0, 0};  // hop-by-hop header, claims 8 bytes; frame gives 6
        cases.push_back({"extension header cut short", eth_with(0x86dd, ipv6(kHostA6, kHostB6, 0, 64, Bytes(hbh.begin(), hbh.begin() + 6))), Drop::ip6_ext_truncated});
        Bytes rh0 = {17, 2, 0, 1, 0, 0, 0, 0};  // type 0, one segment left
        Bytes body = rh0;
        append(body, Bytes(16, 0x20));
        append(body, pattern(8));
        cases.push_back({"type 0 routing header", eth_with(0x86dd, ipv6(kHostA6, kHostB6, 43, 64, body)), Drop::ip6_routing_type0});
        Bytes chain;
        for (int k = 0; k < 9; ++k) append(chain, Bytes{uint8_t(k == 8 ? 17 : 60), 0, 1, 4, 0, 0, 0, 0});
        cases.push_back({"nine destination-options headers", eth_with(0x86dd, ipv6(kHostA6, kHostB6, 60, 64, chain)), Drop::ip6_ext_chain_too_long});
    }

    for (const Case& c : cases) {
        TwoSided p;
        p.send(0, c.frame);
        p.run();
        INFO(c.what << ": " << hex(c.frame));
        CHECK(p.drops(0, c.reason) == 1);
        CHECK(p.wire_out(1).empty());
        CHECK(p.kernel_out(0).empty());
    }
}

TEST_CASE("Random mutations of valid frames: nothing crashes, every packet is accounted for", "[pipeline][malformed]") {
    TwoSided p;
    p.exec("icmp rate-limit 0");
    std::mt19937 rng(20261125);
    std::vector<Bytes> seeds = {TwoSided::from_a(kRemote, 64), TwoSided::from_a(kHostB, 2), TwoSided::from_a6(kRemote6, 64),
                                TwoSided::from_a6(kHostB6, 64), TwoSided::from_a(kPort0Ip, 64)};
    const unsigned rounds = 20000;
    uint64_t injected = 0;
    for (unsigned r = 0; r < rounds; ++r) {
        Bytes f = seeds[r % seeds.size()];
        unsigned flips = 1 + rng() % 6;
        for (unsigned k = 0; k < flips; ++k) f[12 + rng() % (f.size() - 12)] = uint8_t(rng());
        if (rng() % 4 == 0) f.resize(rng() % f.size());
        if (f.size() >= 6) std::memcpy(f.data(), kPort0Mac.bytes.data(), 6);  // reach the IP stages
        p.send(0, f);
        ++injected;
        if (r % 32 == 31) p.run();
    }
    p.run();
    uint64_t out = p.wire_out(0).size() + p.wire_out(1).size();
    const InterfaceCounters& c = p.counters(0);
    uint64_t dropped = 0;
    for (auto d : c.drops) dropped += d;
    uint64_t punted = p.kernel_out(0).size();
    // Frames that cannot be classified to an interface are counted before rx.
    CHECK(c.rx_packets + c.drops[unsigned(Drop::eth_runt)] + c.drops[unsigned(Drop::eth_unknown_vlan)] == injected);
    CHECK(out + punted + dropped == injected);
    CHECK(punted == c.punted);
}
