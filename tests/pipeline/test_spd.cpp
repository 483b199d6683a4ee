// The rte_acl SPD classifier against the obvious first-match list walk, on
// random policies and packets (both families, prefixes of every length,
// protocols, port and ICMP type/code ranges), and the edge cases by hand.
#include <catch2/catch.hpp>

#include <random>

#include "crypto/spd.hpp"
#include "tests/support/packet_builder.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {

SpdPacket packet4(const char* local, const char* remote, uint8_t proto, uint16_t lport, uint16_t rport) {
    SpdPacket p;
    p.family = Family::v4;
    p.local = addr(local).bytes;
    p.remote = addr(remote).bytes;
    p.protocol = proto;
    p.local_port = lport;
    p.remote_port = rport;
    return p;
}

SpdSelector sel(const char* local, const char* remote, std::optional<uint8_t> proto = std::nullopt,
                PortRange lport = {}, PortRange rport = {}) {
    return SpdSelector{*Prefix::parse(local), *Prefix::parse(remote), proto, lport, rport};
}

}  // namespace

TEST_CASE("SPD: first match in list order wins, by hand", "[pipeline][spd]") {
    std::vector<SpdSelector> rules = {
        sel("198.51.100.0/24", "203.0.113.5/32", 6, {}, {443, 443}),  // 0: HTTPS to one host
        sel("198.51.100.0/24", "203.0.113.0/24"),                     // 1: the subnets
        sel("0.0.0.0/0", "0.0.0.0/0", 1, {8, 8}, {0, 0}),            // 2: ICMP echo request (type 8 code 0)
        sel("2001:db8:a::/48", "2001:db8:b::/48", 17, {500, 500}, {}),  // 3: IKE from our side
        sel("::/0", "::/0"),                                          // 4: everything else v6
    };
    SpdClassifier spd(rules, "spd_hand");
    CHECK(spd.classify(packet4("198.51.100.7", "203.0.113.5", 6, 40000, 443)) == 0);
    CHECK(spd.classify(packet4("198.51.100.7", "203.0.113.5", 6, 40000, 80)) == 1);
    CHECK(spd.classify(packet4("198.51.100.7", "203.0.113.99", 17, 1, 2)) == 1);
    CHECK(spd.classify(packet4("192.0.2.1", "192.0.2.2", 1, 8, 0)) == 2);
    CHECK(spd.classify(packet4("192.0.2.1", "192.0.2.2", 1, 0, 0)) == -1);  // echo reply: no rule
    SpdPacket ike{};
    ike.family = Family::v6;
    ike.local = addr("2001:db8:a::1").bytes;
    ike.remote = addr("2001:db8:b::1").bytes;
    ike.protocol = 17;
    ike.local_port = 500;
    ike.remote_port = 500;
    CHECK(spd.classify(ike) == 3);
    ike.local_port = 4500;
    CHECK(spd.classify(ike) == 4);
    CHECK(classify_linear(rules, ike) == 4);
}

TEST_CASE("SPD: rte_acl agrees with the list walk on random policies", "[pipeline][spd]") {
    std::mt19937_64 rng(20261125);
    auto pick = [&](unsigned n) { return unsigned(rng() % n); };
    // Addresses from a few /16s so that random prefixes and packets overlap.
    auto random_addr = [&](Family f, std::array<uint8_t, 16>& a) {
        a.fill(0);
        if (f == Family::v4) {
            a[0] = uint8_t(198 + pick(2));
            a[1] = uint8_t(51 + pick(2));
            a[2] = uint8_t(pick(4));
            a[3] = uint8_t(pick(256));
        } else {
            a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8;
            a[5] = uint8_t(pick(3));
            for (unsigned i = 6; i < 16; ++i) a[i] = uint8_t(pick(3) == 0 ? pick(256) : 0);
        }
    };
    auto random_prefix = [&](Family f) {
        IpAddr a;
        a.family = f;
        random_addr(f, a.bytes);
        const unsigned bits = f == Family::v4 ? 32 : 128;
        unsigned len = pick(4) == 0 ? 0 : pick(bits + 1);
        return Prefix{a, uint8_t(len)}.network();
    };
    auto random_range = [&] {
        if (pick(2)) return PortRange{};
        uint16_t a = uint16_t(pick(8)), b = uint16_t(pick(8));
        return PortRange{std::min(a, b), std::max(a, b)};
    };
    for (int round = 0; round < 20; ++round) {
        std::vector<SpdSelector> rules;
        const unsigned n = 1 + pick(60);
        for (unsigned i = 0; i < n; ++i) {
            Family f = pick(2) ? Family::v4 : Family::v6;
            SpdSelector s{random_prefix(f), random_prefix(f), std::nullopt, random_range(), random_range()};
            if (pick(2)) s.protocol = uint8_t(pick(3) == 0 ? 1 : (pick(2) ? 6 : 17));
            rules.push_back(s);
        }
        SpdClassifier spd(rules, "spd_rand");
        unsigned matched = 0;
        for (int k = 0; k < 2000; ++k) {
            SpdPacket p;
            p.family = pick(2) ? Family::v4 : Family::v6;
            random_addr(p.family, p.local);
            random_addr(p.family, p.remote);
            p.protocol = uint8_t(pick(3) == 0 ? 1 : (pick(2) ? 6 : 17));
            p.local_port = uint16_t(pick(9));
            p.remote_port = uint16_t(pick(9));
            const int32_t want = classify_linear(rules, p);
            matched += want >= 0;
            REQUIRE(spd.classify(p) == want);
        }
        CHECK(matched > 0);
    }
}

TEST_CASE("SPD: a rule mixing families is refused", "[pipeline][spd]") {
    CHECK_THROWS_WITH(SpdClassifier({sel("192.0.2.0/24", "2001:db8::/32")}, "spd_bad"),
                      Catch::Contains("mixes IPv4 and IPv6"));
}
