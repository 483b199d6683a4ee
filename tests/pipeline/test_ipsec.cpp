// ESP tunnel mode through the real worker and the IPsec-MB engine, checked
// against an independent OpenSSL implementation (tests/support/esp_oracle.hpp):
// what rampartd encrypts must open with the oracle, what the oracle seals must
// come out decrypted, for every transform and all four address-family
// combinations; the SPD's actions, anti-replay, tampering and policy checks.
//
//   host A 198.51.100.10 — port0 (protected) [rampart] port1 (public) — peer gateway 203.0.113.2 / 2001:db8:b::2
//   remote protected networks behind the peer: 192.0.2.0/24, 2001:db8:c::/48
#include <catch2/catch.hpp>

#include <rte_cycles.h>
#include <rte_ip.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "tests/pipeline/harness.hpp"
#include "tests/support/esp_oracle.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {

const MacAddr kPort0Mac = mac("02:00:00:00:00:00"), kPort1Mac = mac("02:00:00:00:00:01");
const MacAddr kHostAMac = mac("02:aa:00:00:00:0a"), kPeerMac = mac("02:cc:00:00:00:02");
const IpAddr kHostA = addr("198.51.100.10"), kHostA6 = addr("2001:db8:a::10");
const IpAddr kRemote = addr("192.0.2.55"), kRemote6 = addr("2001:db8:c::55");

std::string hex_of(const std::vector<uint8_t>& b) {
    std::string s;
    for (uint8_t x : b) s += fmt::format("{:02x}", x);
    return s;
}
std::vector<uint8_t> key_bytes(size_t n, uint8_t seed) {
    std::vector<uint8_t> k(n);
    for (size_t i = 0; i < n; ++i) k[i] = uint8_t(seed + 13 * i);
    return k;
}

struct Transform {
    const char* cipher;
    const char* integrity;
    size_t cipher_key, integrity_key;
};
const Transform kTransforms[] = {
    {"aes-gcm-128", "", 20, 0},           {"aes-gcm-256", "", 36, 0},
    {"chacha20-poly1305", "", 36, 0},     {"aes-cbc-128", "hmac-sha-256", 16, 32},
    {"aes-cbc-256", "hmac-sha-384", 32, 48}, {"aes-cbc-128", "hmac-sha-512", 16, 64},
    {"null", "hmac-sha-256", 0, 32},
};

// How the gateway's SA pair and policies get in: config lines, or the
// control-core API a keying protocol uses (owner "test-ike").
enum class Keying { config, api };

struct Gateway : Pipeline {
    EspOracleSa out_sa, in_sa;  // as rampartd has them: out = what it sends, in = what it accepts

    Gateway(const Transform& t, bool outer6, bool esn = false, bool nat_traversal = false, unsigned workers = 1,
            Keying keying = Keying::config)
        : Pipeline(2, true, workers) {
        exec("interface port0 address 198.51.100.1/24");
        exec("interface port0 address 2001:db8:a::1/64");
        exec("interface port1 address 203.0.113.1/24");
        exec("interface port1 address 2001:db8:b::1/64");
        neighbor(0, "198.51.100.10", "02:aa:00:00:00:0a");
        neighbor(0, "2001:db8:a::10", "02:aa:00:00:00:0a");
        neighbor(1, "203.0.113.2", "02:cc:00:00:00:02");
        neighbor(1, "2001:db8:b::2", "02:cc:00:00:00:02");
        const std::string tunnel = outer6 ? "2001:db8:b::1 2001:db8:b::2" : "203.0.113.1 203.0.113.2";
        IpsecChange change;
        for (auto [sa, name, dir, spi, seed] : {std::tuple{&out_sa, "out1", "outbound", 0x1001u, uint8_t(1)},
                                                std::tuple{&in_sa, "in1", "inbound", 0x2002u, uint8_t(7)}}) {
            sa->cipher = t.cipher;
            sa->integrity = t.integrity;
            sa->cipher_key = key_bytes(t.cipher_key, seed);
            sa->integrity_key = key_bytes(t.integrity_key, uint8_t(seed + 100));
            sa->spi = spi;
            sa->esn = esn;
            if (keying == Keying::api) {
                change.add_sas.emplace_back(name, sa_config(*sa, *dir == 'i', outer6, nat_traversal));
                continue;
            }
            exec(fmt::format("ipsec sa {} {} spi {} tunnel {}", name, dir, spi, tunnel));
            if (t.cipher_key) exec(fmt::format("ipsec sa {} encryption {} key {}", name, t.cipher, hex_of(sa->cipher_key)));
            else exec(fmt::format("ipsec sa {} encryption null", name));
            if (*t.integrity)
                exec(fmt::format("ipsec sa {} integrity {} key {}", name, t.integrity, hex_of(sa->integrity_key)));
            if (esn) exec(fmt::format("ipsec sa {} esn", name));
            // The peer sits behind a NAT that maps its port 4500 to 61000.
            if (nat_traversal) exec(fmt::format("ipsec sa {} nat-traversal remote-port 61000", name));
        }
        if (keying == Keying::api) {
            change.add_policies.push_back({"", 10, protect_policy("198.51.100.0/24", "192.0.2.0/24", "out1", "in1")});
            change.add_policies.push_back({"", 20, protect_policy("2001:db8:a::/48", "2001:db8:c::/48", "out1", "in1")});
            if (auto bad = control->ipsec_apply("test-ike", change)) throw std::runtime_error(*bad);
            return;
        }
        exec("ipsec policy 10 local 198.51.100.0/24 remote 192.0.2.0/24 protect out1 inbound in1");
        exec("ipsec policy 20 local 2001:db8:a::/48 remote 2001:db8:c::/48 protect out1 inbound in1");
    }

    // What a keying protocol hands the API for the oracle's SA `sa`.
    static IpsecSaConfig sa_config(const EspOracleSa& sa, bool inbound, bool outer6, bool nat_traversal = false) {
        IpsecSaConfig c;
        c.direction = inbound ? IpsecSaConfig::Direction::inbound : IpsecSaConfig::Direction::outbound;
        c.spi = sa.spi;
        c.local = addr(outer6 ? "2001:db8:b::1" : "203.0.113.1");
        c.remote = addr(outer6 ? "2001:db8:b::2" : "203.0.113.2");
        c.cipher = sa.cipher;
        c.cipher_key = sa.cipher_key;
        c.integrity = sa.integrity;
        c.integrity_key = sa.integrity_key;
        c.esn = sa.esn;
        if (nat_traversal) c.nat_traversal = 61000;
        return c;
    }
    static IpsecPolicyConfig protect_policy(const char* local, const char* remote, std::string out, std::string in) {
        IpsecPolicyConfig p;
        p.local = *Prefix::parse(local);
        p.remote = *Prefix::parse(remote);
        p.action = IpsecPolicyConfig::Action::protect;
        p.outbound_sa = std::move(out);
        p.inbound_sa = std::move(in);
        return p;
    }

    // The ESP bytes of a frame rampartd sent to the peer (checks the outer header).
    std::vector<uint8_t> esp_of(const Bytes& f, bool outer6) {
        REQUIRE(f.size() > 14 + 40);
        CHECK(std::equal(kPeerMac.bytes.begin(), kPeerMac.bytes.end(), f.begin()));
        if (!outer6) {
            REQUIRE((f[12] << 8 | f[13]) == 0x0800);
            CHECK(f[14] == 0x45);
            CHECK(f[14 + 8] == 64);  // outer TTL
            CHECK(f[14 + 9] == 50);  // ESP
            CHECK(checksum(f.data() + 14, 20) == 0);
            CHECK(size_t(f[16] << 8 | f[17]) == f.size() - 14);
            CHECK(Bytes(f.begin() + 26, f.begin() + 34) == Bytes{203, 0, 113, 1, 203, 0, 113, 2});
            return std::vector<uint8_t>(f.begin() + 34, f.end());
        }
        REQUIRE((f[12] << 8 | f[13]) == 0x86dd);
        CHECK(f[14 + 6] == 50);
        CHECK(f[14 + 7] == 64);
        CHECK(size_t(f[18] << 8 | f[19]) == f.size() - 54);
        return std::vector<uint8_t>(f.begin() + 54, f.end());
    }

    // A frame from the peer carrying `esp`.
    Bytes from_peer(const std::vector<uint8_t>& esp, bool outer6) {
        if (!outer6)
            return ether(kPort1Mac, kPeerMac, 0x0800, ipv4(addr("203.0.113.2"), addr("203.0.113.1"), 50, 64, esp));
        return ether(kPort1Mac, kPeerMac, 0x86dd, ipv6(addr("2001:db8:b::2"), addr("2001:db8:b::1"), 50, 64, esp));
    }
    std::vector<uint8_t> iv_for(const EspOracleSa& sa, uint8_t seed) { return key_bytes(sa.iv_len(), seed); }
    std::string show_text(const std::string& line) { return control->execute(line).text; }
};

Bytes inner4(const IpAddr& src, const IpAddr& dst, uint8_t ttl, size_t payload = 40) {
    Ip4Opts o;
    o.tos = 0x28;
    return ipv4(src, dst, 17, ttl, udp(src, dst, 4000, 53, pattern(payload)), o);
}
Bytes inner6(const IpAddr& src, const IpAddr& dst, uint8_t hlim, size_t payload = 40) {
    return ipv6(src, dst, 17, hlim, udp(src, dst, 4000, 53, pattern(payload)));
}

}  // namespace

TEST_CASE("ESP tunnel: every transform, 4in4 4in6 6in4 6in6, both directions, against OpenSSL", "[pipeline][ipsec]") {
    for (const Transform& t : kTransforms)
        for (bool outer6 : {false, true}) {
            INFO(t.cipher << " " << t.integrity << (outer6 ? " over IPv6" : " over IPv4"));
            Gateway g(t, outer6);
            for (size_t payload : {size_t(0), size_t(1), size_t(40), size_t(1300)}) {
                // Out: host A's packet leaves encrypted; the oracle opens it.
                g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64, payload)));
                g.send(0, ether(kPort0Mac, kHostAMac, 0x86dd, inner6(kHostA6, kRemote6, 64, payload)));
                g.run();
                auto out = g.wire_out(1);
                REQUIRE(out.size() == 2);
                auto o4 = esp_open(g.out_sa, g.esp_of(out[0], outer6));
                auto o6 = esp_open(g.out_sa, g.esp_of(out[1], outer6));
                REQUIRE(o4);
                REQUIRE(o6);
                CHECK(o4->spi == 0x1001);
                CHECK(o4->next_header == 4);
                CHECK(o6->next_header == 41);
                CHECK(o6->seq == o4->seq + 1);
                CHECK(hex(o4->inner) == hex(inner4(kHostA, kRemote, 63, payload)));  // TTL decremented, checksum updated
                CHECK(hex(o6->inner) == hex(inner6(kHostA6, kRemote6, 63, payload)));

                // In: the peer's ESP comes out decrypted to host A.
                static uint32_t seq = 0;
                ++seq;
                auto e4 = esp_seal(g.in_sa, seq * 2, g.iv_for(g.in_sa, uint8_t(seq)), inner4(kRemote, kHostA, 64, payload), 4);
                auto e6 = esp_seal(g.in_sa, seq * 2 + 1, g.iv_for(g.in_sa, uint8_t(seq + 1)),
                                   inner6(kRemote6, kHostA6, 64, payload), 41);
                g.send(1, g.from_peer(e4, outer6));
                g.send(1, g.from_peer(e6, outer6));
                g.run();
                auto back = g.wire_out(0);
                REQUIRE(back.size() == 2);
                CHECK(hex(back[0]) == hex(ether(kHostAMac, kPort0Mac, 0x0800, inner4(kRemote, kHostA, 63, payload))));
                CHECK(hex(back[1]) == hex(ether(kHostAMac, kPort0Mac, 0x86dd, inner6(kRemote6, kHostA6, 63, payload))));
            }
            CHECK(g.show_text("show ipsec sa out1").find("8 packets") != std::string::npos);
        }
}

TEST_CASE("ESP input: replay, tampering, unknown SPI, policy mismatch are dropped and counted", "[pipeline][ipsec]") {
    Gateway g(kTransforms[0], false);
    auto seal = [&](uint64_t seq, const Bytes& inner) { return esp_seal(g.in_sa, seq, g.iv_for(g.in_sa, uint8_t(seq)), inner, 4); };
    const Bytes good = inner4(kRemote, kHostA, 64);
    g.send(1, g.from_peer(seal(5, good), false));
    g.send(1, g.from_peer(seal(5, good), false));  // replayed
    auto tampered = seal(6, good);
    tampered[20] ^= 1;
    g.send(1, g.from_peer(tampered, false));
    auto other_spi = seal(7, good);
    other_spi[3] ^= 0x40;
    g.send(1, g.from_peer(other_spi, false));
    g.send(1, g.from_peer(seal(8, inner4(addr("192.0.3.1"), kHostA, 64)), false));  // not the SA's traffic
    g.send(1, g.from_peer(std::vector<uint8_t>(good.begin(), good.begin() + 6), false));  // truncated
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    CHECK(g.drops(1, Drop::esp_replay_duplicate) == 1);
    CHECK(g.drops(1, Drop::esp_auth_failed) == 1);
    CHECK(g.drops(1, Drop::esp_unknown_spi) == 1);
    CHECK(g.drops(1, Drop::esp_policy_mismatch) == 1);
    CHECK(g.drops(1, Drop::esp_truncated) == 1);
    // After a failed ICV the sequence number is still open; a too-old one is refused.
    g.send(1, g.from_peer(seal(6, good), false));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    for (uint64_t s = 100; s < 200; ++s) g.send(1, g.from_peer(seal(s, good), false));
    g.run();
    CHECK(g.wire_out(0).size() == 100);
    g.send(1, g.from_peer(seal(9, good), false));  // 64-packet window: left of it now
    g.run();
    CHECK(g.drops(1, Drop::esp_replay_too_old) == 1);
    std::string sa = g.show_text("show ipsec sa in1");
    CHECK(sa.find("1 auth failed, 1 replayed, 1 too old") != std::string::npos);
    CHECK(sa.find("102 packets") != std::string::npos);
}

TEST_CASE("SPD: cleartext that must be protected is refused; bypass and discard", "[pipeline][ipsec][spd]") {
    Gateway g(kTransforms[0], false);
    g.exec("ipsec policy 5 local 198.51.100.0/24 remote 192.0.2.128/25 discard");
    g.exec("ipsec policy 6 local 198.51.100.0/24 remote 192.0.2.64/26 bypass");
    g.exec("route 192.0.2.0/24 via 203.0.113.2");
    // Clear from the peer's side into the protected network: refused.
    g.send(1, ether(kPort1Mac, kPeerMac, 0x0800, inner4(kRemote, kHostA, 64)));
    g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, addr("192.0.2.200"), 64)));  // discard
    g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, addr("192.0.2.70"), 64)));   // bypass: in clear
    g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, addr("203.0.113.9"), 64)));  // no entry: in clear
    g.run();
    CHECK(g.drops(1, Drop::ipsec_cleartext_protected) == 1);
    CHECK(g.drops(0, Drop::ipsec_policy_discard) == 1);
    auto out = g.wire_out(1);
    REQUIRE(out.size() == 1);  // 203.0.113.9 has no neighbour: resolution pending, dropped as unresolved
    CHECK(hex(out[0]) == hex(ether(kPeerMac, kPort1Mac, 0x0800, inner4(kHostA, addr("192.0.2.70"), 63))));
    CHECK(g.show_text("show ipsec spd").find("protect out out1 in in1") != std::string::npos);
}

TEST_CASE("ESP with extended sequence numbers opens with the oracle's ESN AAD", "[pipeline][ipsec]") {
    for (const Transform& t : {kTransforms[0], kTransforms[3]}) {
        Gateway g(t, false, true);
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64)));
        g.run();
        auto out = g.wire_out(1);
        REQUIRE(out.size() == 1);
        REQUIRE(esp_open(g.out_sa, g.esp_of(out[0], false), 0));
        auto esp = esp_seal(g.in_sa, 3, g.iv_for(g.in_sa, 3), inner4(kRemote, kHostA, 64), 4);
        g.send(1, g.from_peer(esp, false));
        g.run();
        CHECK(g.wire_out(0).size() == 1);
    }
}

TEST_CASE("NAT traversal (RFC 3948): ESP in UDP 4500 both ways; IKE and keepalives go to the kernel", "[pipeline][ipsec][natt]") {
    for (bool outer6 : {false, true}) {
        Gateway g(kTransforms[0], outer6, false, true);
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64)));
        g.run();
        auto out = g.wire_out(1);
        REQUIRE(out.size() == 1);
        const Bytes& f = out[0];
        const size_t l3 = 14, l4 = outer6 ? 54 : 34;
        CHECK(f[outer6 ? l3 + 6 : l3 + 9] == 17);
        CHECK((f[l4] << 8 | f[l4 + 1]) == 4500);
        CHECK((f[l4 + 2] << 8 | f[l4 + 3]) == 61000);
        CHECK(size_t(f[l4 + 4] << 8 | f[l4 + 5]) == f.size() - l4);
        if (outer6) {  // a real checksum over IPv6
            CHECK(checksum(f.data() + l4, f.size() - l4,
                           pseudo_sum(addr("2001:db8:b::1"), addr("2001:db8:b::2"), 17, f.size() - l4)) == 0);
        } else {
            CHECK((f[l4 + 6] | f[l4 + 7]) == 0);  // zero over IPv4 (§3.1.1)
        }
        auto opened = esp_open(g.out_sa, std::vector<uint8_t>(f.begin() + long(l4 + 8), f.end()));
        REQUIRE(opened);
        CHECK(hex(opened->inner) == hex(inner4(kHostA, kRemote, 63)));

        auto esp = esp_seal(g.in_sa, 1, g.iv_for(g.in_sa, 1), inner4(kRemote, kHostA, 64), 4);
        const IpAddr peer = outer6 ? addr("2001:db8:b::2") : addr("203.0.113.2");
        const IpAddr us = outer6 ? addr("2001:db8:b::1") : addr("203.0.113.1");
        auto in_udp = [&](const Bytes& payload) {
            Bytes u = udp(peer, us, 61000, 4500, payload);
            return outer6 ? ether(kPort1Mac, kPeerMac, 0x86dd, ipv6(peer, us, 17, 64, u))
                          : ether(kPort1Mac, kPeerMac, 0x0800, ipv4(peer, us, 17, 64, u));
        };
        g.send(1, in_udp(esp));
        g.send(1, in_udp(Bytes{0, 0, 0, 0, 0x11, 0x22}));  // IKE after the non-ESP marker
        g.send(1, in_udp(Bytes{0xff}));                    // NAT keepalive
        g.send(1, g.from_peer(esp_seal(g.in_sa, 2, g.iv_for(g.in_sa, 2), inner4(kRemote, kHostA, 64), 4), outer6));
        g.run();
        auto back = g.wire_out(0);
        REQUIRE(back.size() == 1);
        CHECK(hex(back[0]) == hex(ether(kHostAMac, kPort0Mac, 0x0800, inner4(kRemote, kHostA, 63))));
        CHECK(g.kernel_out(1).size() == 2);
        CHECK(g.drops(1, Drop::esp_encapsulation_mismatch) == 1);
    }
}

TEST_CASE("A protect entry whose SA is incomplete discards and raises one acquire: nothing leaves in clear", "[pipeline][ipsec][spd]") {
    Gateway g(kTransforms[0], false);
    g.exec("ipsec sa half outbound spi 9000 tunnel 203.0.113.1 203.0.113.2");
    g.exec("ipsec sa half encryption aes-cbc-128 key 000102030405060708090a0b0c0d0e0f");  // no integrity yet
    g.exec("ipsec policy 5 local 198.51.100.0/24 remote 192.0.2.128/25 protect half");
    g.exec("route 192.0.2.0/24 via 203.0.113.2");
    for (int i = 0; i < 3; ++i) g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, addr("192.0.2.200"), 64)));
    g.run();
    CHECK(g.wire_out(1).empty());
    CHECK(g.drops(0, Drop::ipsec_no_sa) == 3);
    CHECK(g.show_text("show ipsec sa half").find("not installed: incomplete") != std::string::npos);
    // One acquire for the key manager, not one per packet.
    CHECK(g.show_text("show ipsec spd").find("protect out half (1 acquires: no SA)") != std::string::npos);
}

TEST_CASE("Tunnel MTU: fragment before encryption when allowed, ICMP with the inner MTU otherwise", "[pipeline][ipsec][mtu]") {
    Gateway g(kTransforms[0], false);  // AES-GCM over IPv4: 20 + 8 + 8 + 16 bytes and 4-byte alignment
    const unsigned inner_max = (1500 - 20 - 8 - 8 - 16) / 4 * 4 - 2;  // 1446
    SECTION("exactly the inner MTU passes whole") {
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64, inner_max - 28)));
        g.run();
        auto out = g.wire_out(1);
        REQUIRE(out.size() == 1);
        CHECK(out[0].size() - 14 <= 1500);
        CHECK(esp_open(g.out_sa, g.esp_of(out[0], false)));
    }
    SECTION("DF set: fragmentation needed with the tunnel's inner MTU") {
        Ip4Opts o;
        o.df = true;
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800,
                        ipv4(kHostA, kRemote, 17, 64, udp(kHostA, kRemote, 4000, 53, pattern(inner_max - 27)), o)));
        g.run();
        CHECK(g.wire_out(1).empty());
        auto back = g.wire_out(0);
        REQUIRE(back.size() == 1);
        CHECK(back[0][14 + 20] == 3);
        CHECK(back[0][14 + 21] == 4);
        CHECK(unsigned(back[0][14 + 26] << 8 | back[0][14 + 27]) == inner_max);
        CHECK(g.drops(0, Drop::esp_mtu_exceeded) == 1);
    }
    SECTION("DF clear: fragments, each in its own ESP packet, reassembling to the packet") {
        const Bytes original = inner4(kHostA, kRemote, 64, 1900);
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, original));
        g.run();
        auto out = g.wire_out(1);
        REQUIRE(out.size() == 2);
        Bytes payload;
        for (const Bytes& f : out) {
            CHECK(f.size() - 14 <= 1500);
            auto o = esp_open(g.out_sa, g.esp_of(f, false));
            REQUIRE(o);
            CHECK(o->inner.size() <= inner_max);
            CHECK(checksum(o->inner.data(), 20) == 0);
            payload.insert(payload.end(), o->inner.begin() + 20, o->inner.end());
        }
        CHECK(hex(payload) == hex(Bytes(original.begin() + 20, original.end())));
    }
    SECTION("the SA's ip-mtu lowers it") {
        g.exec("ipsec sa out1 ip-mtu 1000");
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64, 1200)));
        g.run();
        auto out = g.wire_out(1);
        REQUIRE(out.size() == 2);
        for (const Bytes& f : out) CHECK(esp_open(g.out_sa, g.esp_of(f, false))->inner.size() <= 1000);
    }
    SECTION("IPv6: packet too big with the inner MTU") {
        g.send(0, ether(kPort0Mac, kHostAMac, 0x86dd, inner6(kHostA6, kRemote6, 64, 1440)));
        g.run();
        CHECK(g.wire_out(1).empty());
        auto back = g.wire_out(0);
        REQUIRE(back.size() == 1);
        CHECK(back[0][14 + 40] == 2);
        CHECK(unsigned(back[0][14 + 44] << 24 | back[0][14 + 45] << 16 | back[0][14 + 46] << 8 | back[0][14 + 47]) ==
              inner_max);
    }
}

namespace {
// `n` tunnels: SA pairs with random SPIs, each protecting its own /32 behind
// the peer. Built as a configuration and installed in one go, as at startup.
RunningConfig many_tunnels(unsigned n, std::mt19937& rng, std::vector<uint32_t>& inbound_spis) {
    RunningConfig c;
    std::string text = "interface port0 device ring0\ninterface port1 device ring1\n"
                       "interface port0 address 198.51.100.1/24\ninterface port1 address 203.0.113.1/24\n";
    if (auto err = load_config_text(c, text)) throw std::runtime_error(*err);
    std::set<uint32_t> used;
    auto spi = [&] {
        uint32_t s;
        do s = 256 + rng() % 0xfffffe00u; while (!used.insert(s).second);
        return s;
    };
    const std::vector<uint8_t> key = key_bytes(20, 1);
    for (unsigned i = 0; i < n; ++i) {
        IpsecSaConfig in, out;
        in.direction = IpsecSaConfig::Direction::inbound;
        out.direction = IpsecSaConfig::Direction::outbound;
        for (IpsecSaConfig* sa : {&in, &out}) {
            sa->spi = spi();
            sa->local = addr("203.0.113.1");
            sa->remote = addr("203.0.113.2");
            sa->cipher = "aes-gcm-128";
            sa->cipher_key = key;
        }
        inbound_spis.push_back(in.spi);
        c.ipsec.sas.emplace(fmt::format("in{}", i), in);
        c.ipsec.sas.emplace(fmt::format("out{}", i), out);
        IpsecPolicyConfig p;
        p.local = *Prefix::parse("198.51.100.0/24");
        p.remote = Prefix{IpAddr::v4(0x0a000000u + i), 32};
        p.action = IpsecPolicyConfig::Action::protect;
        p.outbound_sa = fmt::format("out{}", i);
        p.inbound_sa = fmt::format("in{}", i);
        c.ipsec.policies[""][i + 1] = p;
    }
    return c;
}
}  // namespace

TEST_CASE("IPsec at scale: many SA pairs installed at once, random SPIs decrypt", "[pipeline][ipsec][scale]") {
    const unsigned n = std::getenv("RAMPART_SCALE_TUNNELS") ? unsigned(std::atoi(std::getenv("RAMPART_SCALE_TUNNELS"))) : 5000;
    Gateway g(kTransforms[0], false);
    std::mt19937 rng(7);
    std::vector<uint32_t> spis;
    RunningConfig big = many_tunnels(n, rng, spis);
    const auto t0 = std::chrono::steady_clock::now();
    g.control->install(big);
    const double install_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    g.neighbor(0, "198.51.100.10", "02:aa:00:00:00:0a");
    g.neighbor(1, "203.0.113.2", "02:cc:00:00:00:02");
    const std::string shown = g.show_text("show ipsec sa in" + std::to_string(n - 1));
    CHECK(shown.find("owner worker") != std::string::npos);
    // A sample of tunnels, by their random SPIs: the peer's ESP comes out to host A.
    EspOracleSa sa = g.in_sa;
    sa.cipher_key = key_bytes(20, 1);
    unsigned delivered = 0;
    for (unsigned k = 0; k < 200; ++k) {
        const unsigned i = unsigned(rng() % n);
        sa.spi = spis[i];
        g.send(1, g.from_peer(esp_seal(sa, 1 + k, g.iv_for(sa, uint8_t(k)), inner4(IpAddr::v4(0x0a000000u + i), kHostA, 64), 4), false));
        g.run();
        delivered += unsigned(g.wire_out(0).size());
    }
    std::printf("IPsec scale: %u SA pairs (%u SAs) and %u SPD entries installed in %.2f s; 200 random SPIs: %u delivered\n",
                n, 2 * n, n, install_s, delivered);
    CHECK(delivered == 200);
}

TEST_CASE("Two workers: packets of an SA reaching the other worker are handed to its owner", "[pipeline][ipsec][handoff]") {
    Gateway g(kTransforms[0], false, false, false, 2);
    const std::string out_state = g.show_text("show ipsec sa out1"), in_state = g.show_text("show ipsec sa in1");
    INFO(out_state << in_state);
    auto frame_mbuf = [](const Bytes& f) {
        rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
        REQUIRE(m);
        std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
        return m;
    };
    Worker* workers[2] = {g.worker.get(), g.other_workers[0].get()};
    auto settle = [&] {
        for (int round = 0; round < 4; ++round)
            for (Worker* w : workers) w->poll_once();
    };
    // Ten packets each way, alternating the receiving worker.
    for (unsigned i = 0; i < 10; ++i) {
        rte_mbuf* out = frame_mbuf(ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64, 10 + i)));
        workers[i % 2]->process_rx(0, &out, 1);
        rte_mbuf* in = frame_mbuf(g.from_peer(
            esp_seal(g.in_sa, 1 + i, g.iv_for(g.in_sa, uint8_t(i)), inner4(kRemote, kHostA, 64, 10 + i), 4), false));
        workers[i % 2]->process_rx(1, &in, 1);
        settle();
    }
    std::set<uint32_t> seqs;
    for (const Bytes& f : g.wire_out(1)) {
        auto o = esp_open(g.out_sa, g.esp_of(f, false));
        REQUIRE(o);
        seqs.insert(o->seq);
    }
    CHECK(seqs == std::set<uint32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});  // one counter, owned by one worker
    CHECK(g.wire_out(0).size() == 10);
    uint64_t handoff_drops = 0;
    for (Worker* w : workers) handoff_drops += w->counters().iface[0].drops[unsigned(Drop::ipsec_handoff_full)];
    CHECK(handoff_drops == 0);
    CHECK(g.show_text("show ipsec sa out1").find("10 packets") != std::string::npos);
}

namespace {
// Splits an IPv4 datagram (header without options) into two fragments at `at` payload bytes (multiple of 8).
std::pair<Bytes, Bytes> split4(const Bytes& dgram, size_t at) {
    auto make = [&](size_t off, size_t len, bool more) {
        Bytes h(dgram.begin(), dgram.begin() + 20);
        const size_t total = 20 + len;
        h[2] = uint8_t(total >> 8), h[3] = uint8_t(total);
        const uint16_t fo = uint16_t((more ? 0x2000 : 0) | (off / 8));
        h[6] = uint8_t(fo >> 8), h[7] = uint8_t(fo);
        h[10] = h[11] = 0;
        const uint16_t c = checksum(h.data(), 20);
        h[10] = uint8_t(c >> 8), h[11] = uint8_t(c);
        h.insert(h.end(), dgram.begin() + long(20 + off), dgram.begin() + long(20 + off + len));
        return h;
    };
    return {make(0, at, true), make(at, dgram.size() - 20 - at, false)};
}
// The same for IPv6 with a fragment header.
std::pair<Bytes, Bytes> split6(const Bytes& dgram, size_t at, uint32_t id) {
    auto make = [&](size_t off, size_t len, bool more) {
        Bytes h(dgram.begin(), dgram.begin() + 40);
        const uint8_t next = h[6];
        h[6] = 44;
        const size_t plen = 8 + len;
        h[4] = uint8_t(plen >> 8), h[5] = uint8_t(plen);
        Bytes frag{next, 0, uint8_t((off >> 8) & 0xff), uint8_t((off & 0xf8) | (more ? 1 : 0))};
        put32(frag, id);
        h.insert(h.end(), frag.begin(), frag.end());
        h.insert(h.end(), dgram.begin() + long(40 + off), dgram.begin() + long(40 + off + len));
        return h;
    };
    return {make(0, at, true), make(at, dgram.size() - 40 - at, false)};
}
}  // namespace

TEST_CASE("Fragmented ESP is reassembled before decryption, in any order", "[pipeline][ipsec][mtu]") {
    for (bool outer6 : {false, true}) {
        Gateway g(kTransforms[3], outer6);  // AES-CBC + HMAC-SHA-256
        const Bytes inner = inner4(kRemote, kHostA, 64, 1300);
        auto esp = esp_seal(g.in_sa, 1, g.iv_for(g.in_sa, 1), inner, 4);
        const Bytes outer = outer6 ? ipv6(addr("2001:db8:b::2"), addr("2001:db8:b::1"), 50, 64, esp)
                                   : ipv4(addr("203.0.113.2"), addr("203.0.113.1"), 50, 64, esp);
        auto [first, second] = outer6 ? split6(outer, 800, 77) : split4(outer, 800);
        const uint16_t type = outer6 ? 0x86dd : 0x0800;
        g.send(1, ether(kPort1Mac, kPeerMac, type, second));
        g.run();
        CHECK(g.wire_out(0).empty());  // held
        g.send(1, ether(kPort1Mac, kPeerMac, type, first));
        g.run();
        auto out = g.wire_out(0);
        REQUIRE(out.size() == 1);
        CHECK(hex(out[0]) == hex(ether(kHostAMac, kPort0Mac, 0x0800, inner4(kRemote, kHostA, 63, 1300))));
    }
}

TEST_CASE("SA lifetimes: soft tells the control core, hard ends the SA until it is rekeyed", "[pipeline][ipsec][lifetime]") {
    Gateway g(kTransforms[0], false);
    g.exec("ipsec sa out1 lifetime packets 3 5");
    for (int i = 0; i < 7; ++i) g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64)));
    g.run();
    CHECK(g.wire_out(1).size() == 5);
    CHECK(g.drops(0, Drop::esp_lifetime_expired) == 2);
    CHECK(g.show_text("show ipsec sa out1").find("hard volume lifetime reached") != std::string::npos);

    // Time: the SA ends after 1 s; packets then find no SA (and raise an acquire).
    g.exec("ipsec sa in1 lifetime seconds 1 1");
    auto seal = [&](uint64_t seq) {
        return g.from_peer(esp_seal(g.in_sa, seq, g.iv_for(g.in_sa, uint8_t(seq)), inner4(kRemote, kHostA, 64), 4), false);
    };
    g.send(1, seal(1));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    rte_delay_us_sleep(1100 * 1000);
    g.control->ipsec_housekeeping();
    g.send(1, seal(2));
    g.run();
    CHECK(g.wire_out(0).empty());
    CHECK(g.drops(1, Drop::esp_unknown_spi) == 1);
    CHECK(g.show_text("show ipsec sa in1").find("not installed: hard lifetime reached") != std::string::npos);
    // Rekeyed (here: a longer lifetime) it is a new SA again.
    g.exec("ipsec sa in1 lifetime seconds 100 200");
    g.send(1, seal(3));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
}

TEST_CASE("A changed inbound SA replaces the old one under the same SPI", "[pipeline][ipsec][replace]") {
    Gateway g(kTransforms[0], false);
    auto seal = [&](uint64_t seq) {
        return g.from_peer(esp_seal(g.in_sa, seq, g.iv_for(g.in_sa, uint8_t(seq)), inner4(kRemote, kHostA, 64), 4), false);
    };
    g.send(1, seal(1));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    g.exec("ipsec sa in1 replay-window 128");
    g.send(1, seal(2));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    CHECK(g.drops(1, Drop::esp_unknown_spi) == 0);
}

namespace {
// The datagram payload carried by outer fragments `frames` (Ethernet frames,
// any order), checking each fits `limit` bytes of IP and the fragment
// fields agree (one IPv6 identification, offsets contiguous, MF on all but the last).
Bytes join_fragments(const std::vector<Bytes>& frames, bool outer6, size_t limit, uint8_t& next_header) {
    std::map<size_t, std::pair<Bytes, bool>> pieces;  // offset -> payload, more fragments
    std::set<uint32_t> ids;
    for (const Bytes& f : frames) {
        CHECK(f.size() - 14 <= limit);
        if (!outer6) {
            const size_t ihl = (f[14] & 0xf) * 4u;
            CHECK(checksum(f.data() + 14, ihl) == 0);
            CHECK((f[14 + 6] & 0x40) == 0);  // no DF on a fragment
            const size_t off = size_t((f[14 + 6] & 0x1f) << 8 | f[14 + 7]) * 8;
            next_header = f[14 + 9];
            pieces[off] = {Bytes(f.begin() + long(14 + ihl), f.end()), (f[14 + 6] & 0x20) != 0};
        } else {
            REQUIRE(f[14 + 6] == 44);
            const uint8_t* fh = f.data() + 54;
            next_header = fh[0];
            ids.insert(uint32_t(fh[4]) << 24 | fh[5] << 16 | fh[6] << 8 | fh[7]);
            const size_t off = size_t(fh[2] << 8 | (fh[3] & 0xf8));
            pieces[off] = {Bytes(f.begin() + 62, f.end()), (fh[3] & 1) != 0};
        }
    }
    if (outer6) CHECK(ids.size() == 1);
    Bytes whole;
    size_t n = 0;
    for (auto& [off, piece] : pieces) {
        CHECK(off == whole.size());
        CHECK(piece.second == (++n < pieces.size()));
        whole.insert(whole.end(), piece.first.begin(), piece.first.end());
    }
    return whole;
}
}  // namespace

TEST_CASE("Transport mode: the box's own GRE to its peer is protected both ways; cleartext refused", "[pipeline][ipsec][transport]") {
    for (bool v6 : {false, true}) {
        Pipeline p(2);
        p.exec("interface port1 address 203.0.113.1/24");
        p.exec("interface port1 address 2001:db8:b::1/64");
        p.neighbor(1, "203.0.113.2", "02:cc:00:00:00:02");
        p.neighbor(1, "2001:db8:b::2", "02:cc:00:00:00:02");
        const IpAddr us = v6 ? addr("2001:db8:b::1") : addr("203.0.113.1");
        const IpAddr peer = v6 ? addr("2001:db8:b::2") : addr("203.0.113.2");
        EspOracleSa out_sa, in_sa;
        for (auto [sa, name, dir, spi, seed] : {std::tuple{&out_sa, "t-out", "outbound", 5001u, uint8_t(3)},
                                                std::tuple{&in_sa, "t-in", "inbound", 5002u, uint8_t(9)}}) {
            sa->cipher = "aes-gcm-128";
            sa->cipher_key = key_bytes(20, seed);
            sa->spi = spi;
            p.exec(fmt::format("ipsec sa {} {} spi {} transport {} {}", name, dir, spi, us.str(), peer.str()));
            p.exec(fmt::format("ipsec sa {} encryption aes-gcm-128 key {}", name, hex_of(sa->cipher_key)));
        }
        p.exec(fmt::format("ipsec policy 10 local {}/{} remote {}/{} protocol 47 protect t-out inbound t-in", us.str(),
                           v6 ? 128 : 32, peer.str(), v6 ? 128 : 32));
        const Bytes gre = pattern(120, 0x47);
        auto ip = [&](const IpAddr& s, const IpAddr& d, uint8_t proto, const Bytes& payload) {
            return v6 ? ipv6(s, d, proto, 64, payload) : ipv4(s, d, proto, 64, payload);
        };
        const uint16_t type = v6 ? 0x86dd : 0x0800;
        const size_t hdr = v6 ? 40 : 20;

        // Out: what the kernel sends leaves with ESP between the IP header and the GRE payload.
        p.send_from_kernel(1, ether(kPeerMac, kPort1Mac, type, ip(us, peer, 47, gre)));
        p.run();
        auto out = p.wire_out(1);
        REQUIRE(out.size() == 1);
        const Bytes& f = out[0];
        CHECK(f[14 + (v6 ? 6 : 9)] == 50);
        if (!v6) {
            CHECK(checksum(f.data() + 14, 20) == 0);
            CHECK(size_t(f[16] << 8 | f[17]) == f.size() - 14);
        } else {
            CHECK(size_t(f[18] << 8 | f[19]) == f.size() - 54);
        }
        auto opened = esp_open(out_sa, std::vector<uint8_t>(f.begin() + long(14 + hdr), f.end()));
        REQUIRE(opened);
        CHECK(opened->next_header == 47);
        CHECK(hex(opened->inner) == hex(gre));

        // In: the peer's ESP reaches the kernel as the GRE packet it protected.
        p.send(1, ether(kPort1Mac, kPeerMac, type, ip(peer, us, 50, esp_seal(in_sa, 1, key_bytes(8, 1), gre, 47))));
        // Not the policy's protocol inside: refused.
        p.send(1, ether(kPort1Mac, kPeerMac, type, ip(peer, us, 50, esp_seal(in_sa, 2, key_bytes(8, 2), gre, 17))));
        // GRE in clear, which the SPD says must arrive protected: refused.
        p.send(1, ether(kPort1Mac, kPeerMac, type, ip(peer, us, 47, gre)));
        p.run();
        auto up = p.kernel_out(1);
        REQUIRE(up.size() == 1);
        CHECK(hex(up[0]) == hex(ether(kPort1Mac, kPeerMac, type, ip(peer, us, 47, gre))));
        CHECK(p.drops(1, Drop::esp_policy_mismatch) == 1);
        CHECK(p.drops(1, Drop::ipsec_cleartext_protected) == 1);

        // The kernel fills the 1500-byte MTU; with ESP added the packet is fragmented after encryption.
        const Bytes big_gre = pattern(1500 - hdr, 0x47);
        p.send_from_kernel(1, ether(kPeerMac, kPort1Mac, type, ip(us, peer, 47, big_gre)));
        p.run();
        auto frags = p.wire_out(1);
        REQUIRE(frags.size() == 2);
        uint8_t next = 0;
        auto whole = esp_open(out_sa, join_fragments(frags, v6, 1500, next));
        CHECK(next == 50);
        REQUIRE(whole);
        CHECK(whole->next_header == 47);
        CHECK(hex(whole->inner) == hex(big_gre));
        for (const Bytes& f : frags) CHECK(std::equal(kPeerMac.bytes.begin(), kPeerMac.bytes.end(), f.begin()));
    }
}

// The outbound transport-mode SA `t-out` (SPI 5001, AES-GCM-128) from `us` to
// `peer`, and the oracle's copy of it.
static EspOracleSa transport_out_sa(Pipeline& p, const IpAddr& us, const IpAddr& peer) {
    EspOracleSa sa;
    sa.cipher = "aes-gcm-128";
    sa.cipher_key = key_bytes(20, 3);
    sa.spi = 5001;
    p.exec(fmt::format("ipsec sa t-out outbound spi 5001 transport {} {}", us.str(), peer.str()));
    p.exec(fmt::format("ipsec sa t-out encryption aes-gcm-128 key {}", hex_of(sa.cipher_key)));
    return sa;
}

TEST_CASE("Transport mode over every protocol: the box's own IKE (UDP 500/4500) stays in clear both ways, the rest is protected",
          "[pipeline][ipsec][transport]") {
    Pipeline p(2);
    p.exec("interface port1 address 203.0.113.1/24");
    p.neighbor(1, "203.0.113.2", "02:cc:00:00:00:02");
    const IpAddr us = addr("203.0.113.1"), peer = addr("203.0.113.2");
    const EspOracleSa out_sa = transport_out_sa(p, us, peer);
    p.exec(fmt::format("ipsec sa t-in inbound spi 5002 transport {} {}", us.str(), peer.str()));
    p.exec(fmt::format("ipsec sa t-in encryption aes-gcm-128 key {}", hex_of(key_bytes(20, 9))));
    p.exec("ipsec policy 10 local 203.0.113.1/32 remote 203.0.113.2/32 protect t-out inbound t-in");  // every protocol
    const Bytes ike = pattern(200, 0x1e);
    auto frame_out = [&](uint16_t sport, uint16_t dport) {
        return ether(kPeerMac, kPort1Mac, 0x0800, ipv4(us, peer, 17, 64, udp(us, peer, sport, dport, ike)));
    };
    auto frame_in = [&](uint16_t sport, uint16_t dport) {
        return ether(kPort1Mac, kPeerMac, 0x0800, ipv4(peer, us, 17, 64, udp(peer, us, sport, dport, ike)));
    };

    // Out: IKE from 500 and from 4500 leaves as it is; DNS from the same host is encrypted.
    p.send_from_kernel(1, frame_out(500, 500));
    p.send_from_kernel(1, frame_out(4500, 4500));
    p.send_from_kernel(1, frame_out(5353, 53));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 3);
    size_t clear = 0, esp = 0;
    for (const Bytes& f : out) {
        if (f[14 + 9] == 17) {
            ++clear;
            CHECK((f[14 + 20] << 8 | f[14 + 21]) != 5353);
        } else if (f[14 + 9] == 50) {
            ++esp;
            auto opened = esp_open(out_sa, std::vector<uint8_t>(f.begin() + 34, f.end()));
            REQUIRE(opened);
            CHECK(opened->next_header == 17);
        }
    }
    CHECK(clear == 2);
    CHECK(esp == 1);

    // In: the peer's IKE in clear reaches the kernel; its cleartext DNS is refused.
    p.send(1, frame_in(500, 500));
    p.send(1, frame_in(53, 5353));
    p.run();
    auto up = p.kernel_out(1);
    REQUIRE(up.size() == 1);
    CHECK(hex(up[0]) == hex(frame_in(500, 500)));
    CHECK(p.drops(1, Drop::ipsec_cleartext_protected) == 1);
}

// ---------------------------------------------------------------------------
// The control-core IPsec API (slowpath/ipsec_api.hpp), as IKEv2 uses it.
// ---------------------------------------------------------------------------

TEST_CASE("IPsec API: SAs and policies from a keying protocol carry traffic, shown with their owner, never in the config", "[pipeline][ipsec][api]") {
    for (const Transform& t : {kTransforms[0], kTransforms[3]})
        for (bool outer6 : {false, true}) {
            INFO(t.cipher << (outer6 ? " over IPv6" : " over IPv4"));
            Gateway g(t, outer6, false, false, 1, Keying::api);
            g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64)));
            g.send(0, ether(kPort0Mac, kHostAMac, 0x86dd, inner6(kHostA6, kRemote6, 64)));
            g.run();
            auto out = g.wire_out(1);
            REQUIRE(out.size() == 2);
            auto o4 = esp_open(g.out_sa, g.esp_of(out[0], outer6));
            REQUIRE(o4);
            CHECK(hex(o4->inner) == hex(inner4(kHostA, kRemote, 63)));
            REQUIRE(esp_open(g.out_sa, g.esp_of(out[1], outer6)));
            g.send(1, g.from_peer(esp_seal(g.in_sa, 1, g.iv_for(g.in_sa, 1), inner4(kRemote, kHostA, 64), 4), outer6));
            g.run();
            auto back = g.wire_out(0);
            REQUIRE(back.size() == 1);
            CHECK(hex(back[0]) == hex(ether(kHostAMac, kPort0Mac, 0x0800, inner4(kRemote, kHostA, 63))));

            const std::string sas = g.show_text("show ipsec sa");
            CHECK(sas.find("SA in1 inbound SPI 8194") != std::string::npos);
            CHECK(sas.find("installed by test-ike") != std::string::npos);
            CHECK(sas.find("1 packets") != std::string::npos);
            CHECK(g.show_text("show ipsec spd").find("protect out out1 in in1 [test-ike]") != std::string::npos);
            CHECK(g.show_text("show ipsec sa spi 8194").rfind("SA in1 inbound SPI 8194", 0) == 0);
            CHECK(g.show_text("show ipsec sa spi 77") == "% no ipsec sa with spi 77\n");
            const std::string running = g.show_text("show running-config secrets");
            CHECK(running.find("ipsec") == std::string::npos);
        }
}

TEST_CASE("IPsec API: a bad change is refused whole, with the reason, and changes nothing", "[pipeline][ipsec][api]") {
    Gateway g(kTransforms[0], false, false, false, 1, Keying::api);
    g.exec("ipsec sa cfg-out outbound spi 7000 tunnel 203.0.113.1 203.0.113.9");
    const IpsecInstalled before = g.control->ipsec_installed();
    IpsecSaConfig good = Gateway::sa_config(g.in_sa, true, false);
    good.spi = 0x3003;
    auto refused = [&](const IpsecChange& c, const std::string& owner = "test-ike") {
        auto bad = g.control->ipsec_apply(owner, c);
        CHECK(g.control->ipsec_installed() == before);
        return bad.value_or("(accepted)");
    };
    {
        IpsecChange c;  // one good SA, one with a short key: neither goes in
        c.add_sas.emplace_back("in2", good);
        IpsecSaConfig short_key = good;
        short_key.spi = 0x3004;
        short_key.cipher_key.resize(16);
        c.add_sas.emplace_back("in3", short_key);
        const std::string why = refused(c);
        CHECK(why.find("ipsec sa in3: aes-gcm-128 needs a 20-byte key") != std::string::npos);
        CHECK(why.find(hex_of(good.cipher_key).substr(0, 8)) == std::string::npos);  // no key bytes
        CHECK(g.show_text("show ipsec sa in2").find("unknown ipsec sa") != std::string::npos);
    }
    {
        IpsecChange c;  // a policy naming an SA nobody has
        c.add_sas.emplace_back("in2", good);
        c.add_policies.push_back({"", 30, Gateway::protect_policy("198.51.100.0/24", "192.0.2.0/24", "nope", "in2")});
        CHECK(refused(c) == "ipsec policy 30: unknown ipsec sa nope");
    }
    {
        IpsecChange c;  // the inbound SPI is taken by in1
        IpsecSaConfig dup = good;
        dup.spi = 0x2002;
        c.add_sas.emplace_back("in2", dup);
        CHECK(refused(c) == "spi 8194 is already used by inbound ipsec sa in1");
    }
    {
        IpsecChange c;  // configured things are the operator's
        c.add_sas.emplace_back("cfg-out", good);
        CHECK(refused(c) == "ipsec sa cfg-out is configured; the API cannot replace it");
        IpsecChange d;
        d.remove_sas.push_back("cfg-out");
        CHECK(refused(d) == "no installed ipsec sa cfg-out");
    }
    {
        IpsecChange c;  // another owner's SA
        c.remove_sas.push_back("in1");
        CHECK(refused(c, "other") == "ipsec sa in1 belongs to test-ike, not to other");
        IpsecChange d;  // still used by policies 10 and 20
        d.remove_sas.push_back("in1");
        CHECK(refused(d).find("unknown ipsec sa in1") != std::string::npos);
    }
    {
        IpsecChange c;
        IpsecSaConfig bad_vrf = good;
        bad_vrf.vrf = "blue";
        c.add_sas.emplace_back("in2", bad_vrf);
        CHECK(refused(c) == "ipsec sa in2: unknown vrf blue");
    }
    // And the configuration cannot take the API's names.
    CHECK(g.control->execute("ipsec sa in1 inbound spi 9999 tunnel 203.0.113.1 203.0.113.2").text ==
          "% ipsec sa in1 is installed by test-ike; configure another name\n");
    CHECK(!g.control->execute("ipsec policy 10 local 10.0.0.0/8 remote 10.0.0.0/8 bypass").ok);
    // Traffic still flows through what was there.
    g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64)));
    g.run();
    CHECK(g.wire_out(1).size() == 1);
}

TEST_CASE("IPsec API: hitless rekey — new pair in, policy moved, old inbound kept until removed", "[pipeline][ipsec][api]") {
    Gateway g(kTransforms[0], false, false, false, 1, Keying::api);
    EspOracleSa out2 = g.out_sa, in2 = g.in_sa;
    out2.spi = 0x1101;
    out2.cipher_key = key_bytes(20, 41);
    in2.spi = 0x2202;
    in2.cipher_key = key_bytes(20, 47);
    auto seal = [&](const EspOracleSa& sa, uint64_t seq) {
        return g.from_peer(esp_seal(sa, seq, g.iv_for(sa, uint8_t(seq)), inner4(kRemote, kHostA, 64), 4), false);
    };
    IpsecChange rekey;
    rekey.add_sas.emplace_back("out2", Gateway::sa_config(out2, false, false));
    rekey.add_sas.emplace_back("in2", Gateway::sa_config(in2, true, false));
    rekey.add_policies.push_back({"", 10, Gateway::protect_policy("198.51.100.0/24", "192.0.2.0/24", "out2", "in2")});
    rekey.add_policies.push_back({"", 20, Gateway::protect_policy("2001:db8:a::/48", "2001:db8:c::/48", "out2", "in2")});
    for (auto& p : rekey.add_policies) p.entry.older_inbound_sas = {"in1"};
    g.send(1, seal(g.in_sa, 1));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    REQUIRE(!g.control->ipsec_apply("test-ike", rekey));

    // Outbound moves to the new SA at once.
    g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64)));
    g.run();
    auto out = g.wire_out(1);
    REQUIRE(out.size() == 1);
    auto opened = esp_open(out2, g.esp_of(out[0], false));
    REQUIRE(opened);
    CHECK(opened->seq == 1);
    // Inbound: the peer may still send on the old SA (in flight) and already on the new one.
    g.send(1, seal(g.in_sa, 2));
    g.send(1, seal(in2, 1));
    g.run();
    CHECK(g.wire_out(0).size() == 2);
    CHECK(g.drops(1, Drop::esp_policy_mismatch) == 0);

    CHECK(g.show_text("show ipsec spd").find("protect out out2 in in2 (and in1 until rekeyed) [test-ike]") !=
          std::string::npos);
    IpsecChange retire;  // the entries drop in1, then it goes
    retire.add_policies = rekey.add_policies;
    for (auto& p : retire.add_policies) p.entry.older_inbound_sas.clear();
    retire.remove_sas = {"out1", "in1"};
    REQUIRE(!g.control->ipsec_apply("test-ike", retire));
    g.send(1, seal(g.in_sa, 3));
    g.send(1, seal(in2, 2));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    CHECK(g.drops(1, Drop::esp_unknown_spi) == 1);
}

TEST_CASE("IPsec API: a trap policy raises acquires to the handler; lifetimes reach it by SA name", "[pipeline][ipsec][api]") {
    Gateway g(kTransforms[0], false, false, false, 1, Keying::api);
    std::vector<IpsecAcquire> acquires;
    std::vector<IpsecLifetimeEvent> lifetimes;
    g.control->on_ipsec_acquire([&](const IpsecAcquire& a) { acquires.push_back(a); });
    g.control->on_ipsec_lifetime([&](const IpsecLifetimeEvent& e) { lifetimes.push_back(e); });
    g.exec("route 192.0.2.0/24 via 203.0.113.2");

    IpsecChange trap;
    IpsecPolicyConfig p = Gateway::protect_policy("198.51.100.0/24", "192.0.2.128/25", "", "");
    p.protocol = 17;
    trap.add_policies.push_back({"", 5, p});
    REQUIRE(!g.control->ipsec_apply("test-ike", trap));
    for (int i = 0; i < 3; ++i) g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, addr("192.0.2.200"), 64)));
    g.run();
    CHECK(g.wire_out(1).empty());
    CHECK(g.drops(0, Drop::ipsec_no_sa) == 3);
    g.control->drain_acquires();
    REQUIRE(acquires.size() == 1);  // rate-limited: one per entry, not one per packet
    CHECK(acquires[0].vrf.empty());
    CHECK(acquires[0].seq == 5);
    CHECK(acquires[0].src == kHostA);
    CHECK(acquires[0].dst == addr("192.0.2.200"));
    CHECK(acquires[0].protocol == 17);
    CHECK(g.show_text("show ipsec spd").find("protect, no SA yet (trap) (1 acquires: no SA) [test-ike]") != std::string::npos);

    // A volume lifetime on an API SA reaches the handler under the SA's name.
    IpsecChange limited;
    IpsecSaConfig out = Gateway::sa_config(g.out_sa, false, false);
    out.life_packets = {2, 4};
    limited.add_sas.emplace_back("out1", out);  // replaces the owner's own SA
    REQUIRE(!g.control->ipsec_apply("test-ike", limited));
    for (int i = 0; i < 5; ++i) g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, kRemote, 64)));
    g.run();
    CHECK(g.wire_out(1).size() == 4);
    g.control->ipsec_housekeeping();
    REQUIRE(lifetimes.size() == 2);
    CHECK(lifetimes[0].sa == "out1");
    CHECK(!lifetimes[0].hard);
    CHECK(lifetimes[0].volume);
    CHECK(lifetimes[1].hard);
}

TEST_CASE("IPsec API at scale: thousands of Child SAs one change at a time and in batches; traffic reaches each", "[pipeline][ipsec][api][scale]") {
    // RAMPART_API_TUNNELS (default 600) Child SAs as an IKE daemon installs
    // them: two SAs and a protect entry per change. The first half one change
    // at a time (each published on its own), the second half in batches of 50
    // (published once per batch). The times are printed, never asserted.
    const unsigned n = std::getenv("RAMPART_API_TUNNELS") ? unsigned(std::atoi(std::getenv("RAMPART_API_TUNNELS"))) : 600;
    Gateway g(kTransforms[0], false, false, false, 1, Keying::api);
    auto tunnel = [&](unsigned i) {
        IpsecChange c;
        IpsecSaConfig in = Gateway::sa_config(g.in_sa, true, false), out = Gateway::sa_config(g.out_sa, false, false);
        in.spi = 0x100000 + 2 * i;
        out.spi = 0x100001 + 2 * i;
        const std::string tag = fmt::format("ike-t{}", i);
        c.add_sas.emplace_back(tag + "-in", in);
        c.add_sas.emplace_back(tag + "-out", out);
        const std::string remote = fmt::format("10.{}.{}.0/24", i >> 8, i & 255);
        c.add_policies.push_back({"", 1000 + i, Gateway::protect_policy("198.51.100.0/24", remote.c_str(), tag + "-out", tag + "-in")});
        return c;
    };
    const unsigned half = n / 2;
    auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < half; ++i) REQUIRE(!g.control->ipsec_apply("test-ike", tunnel(i)));
    const double single_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t0 = std::chrono::steady_clock::now();
    for (unsigned i = half; i < n;) {
        g.control->ipsec_batch_begin();
        for (unsigned k = 0; k < 50 && i < n; ++k, ++i) REQUIRE(!g.control->ipsec_apply("test-ike", tunnel(i)));
        REQUIRE(g.control->ipsec_batch_commit().empty());
    }
    const double batched_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("IPsec API: {} Child SAs one at a time in {:.3f} s ({:.0f}/s), {} in batches of 50 in {:.3f} s ({:.0f}/s)\n",
               half, single_s, half / single_s, n - half, batched_s, (n - half) / batched_s);
    CHECK(g.control->ipsec_installed().entries.sas.size() == 2 + 2 * size_t(n));
    // A tunnel from each half carries traffic through its own SA (the SPI on the wire).
    for (unsigned i : {0u, half - 1, half, n - 1}) {
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, IpAddr::v4(0x0a000001u + (i << 8)), 64)));
        g.run();
        auto out = g.wire_out(1);
        REQUIRE(out.size() == 1);
        EspOracleSa sa = g.out_sa;
        sa.spi = 0x100001 + 2 * i;
        CHECK(esp_open(sa, g.esp_of(out[0], false)));
    }
    // In a batch, a bad change is refused at once and alone; the others land at the commit.
    g.control->ipsec_batch_begin();
    REQUIRE(!g.control->ipsec_apply("test-ike", tunnel(n)));
    IpsecChange dup = tunnel(n + 1);
    dup.add_sas[0].second.spi = 0x100000;  // tunnel 0's inbound SPI
    CHECK(g.control->ipsec_apply("test-ike", dup) == "spi 1048576 is already used by inbound ipsec sa ike-t0-in");
    IpsecChange gone;  // a later change of the batch removes what an earlier one added
    gone.remove_sas = {"ike-t1-in", "ike-t1-out"};
    gone.remove_policies.push_back({"", 1001});
    REQUIRE(!g.control->ipsec_apply("test-ike", gone));
    CHECK(g.control->ipsec_batch_commit().empty());
    CHECK(g.show_text(fmt::format("show ipsec sa ike-t{}-in", n)).find("installed by test-ike") != std::string::npos);
    CHECK(g.show_text(fmt::format("show ipsec sa ike-t{}-in", n + 1)).find("unknown ipsec sa") != std::string::npos);
    CHECK(g.show_text("show ipsec sa ike-t1-in").find("unknown ipsec sa") != std::string::npos);
    g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, inner4(kHostA, IpAddr::v4(0x0a000001u + (n << 8)), 64)));
    g.run();
    CHECK(g.wire_out(1).size() == 1);
}

TEST_CASE("ECN on decapsulation (RFC 6040 §4.2): CE survives, CE over Not-ECT is dropped, ECT(1) propagates", "[pipeline][ipsec][ecn]") {
    Gateway g(kTransforms[0], false);
    uint64_t seq = 0;
    // The peer's ESP with the inner ECN field `inner` under an outer header marked `outer`.
    auto deliver = [&](uint8_t outer, uint8_t inner) -> std::optional<Bytes> {
        Ip4Opts io;
        io.tos = uint8_t(0x28 | inner);
        Bytes in = ipv4(kRemote, kHostA, 17, 64, udp(kRemote, kHostA, 4000, 53, pattern(40)), io);
        ++seq;
        Ip4Opts oo;
        oo.tos = uint8_t(0x28 | outer);
        g.send(1, ether(kPort1Mac, kPeerMac, 0x0800,
                        ipv4(addr("203.0.113.2"), addr("203.0.113.1"), 50, 64,
                             esp_seal(g.in_sa, seq, g.iv_for(g.in_sa, uint8_t(seq)), in, 4), oo)));
        g.run();
        auto out = g.wire_out(0);
        if (out.empty()) return std::nullopt;
        REQUIRE(out.size() == 1);
        CHECK(checksum(out[0].data() + 14, 20) == 0);
        return out[0];
    };
    struct Case {
        uint8_t outer, inner, expected;
    };
    for (Case c : {Case{0, 0, 0}, Case{0, 2, 2}, Case{2, 0, 0}, Case{1, 0, 0}, Case{1, 2, 1}, Case{1, 1, 1},
                   Case{3, 2, 3}, Case{3, 1, 3}, Case{3, 3, 3}, Case{2, 3, 3}}) {
        INFO("outer " << int(c.outer) << " inner " << int(c.inner));
        auto f = deliver(c.outer, c.inner);
        REQUIRE(f);
        CHECK(((*f)[15] & 3) == c.expected);
        CHECK(((*f)[15] & 0xfc) == 0x28);  // DSCP: the inner one
    }
    CHECK(!deliver(3, 0));
    CHECK(g.drops(1, Drop::esp_ecn_ce_not_ect) == 1);
}

TEST_CASE("NAT-T: a UDP checksum, when present, must be right (always over IPv6)", "[pipeline][ipsec][natt]") {
    for (bool outer6 : {false, true}) {
        Gateway g(kTransforms[0], outer6, false, true);
        const IpAddr peer = outer6 ? addr("2001:db8:b::2") : addr("203.0.113.2");
        const IpAddr us = outer6 ? addr("2001:db8:b::1") : addr("203.0.113.1");
        auto frame = [&](uint64_t seq, int corrupt_checksum, bool zero_checksum) {
            Bytes u = udp(peer, us, 61000, 4500,
                          esp_seal(g.in_sa, seq, g.iv_for(g.in_sa, uint8_t(seq)), inner4(kRemote, kHostA, 64), 4));
            if (zero_checksum) u[6] = u[7] = 0;
            u[7] = uint8_t(u[7] + corrupt_checksum);
            return outer6 ? ether(kPort1Mac, kPeerMac, 0x86dd, ipv6(peer, us, 17, 64, u))
                          : ether(kPort1Mac, kPeerMac, 0x0800, ipv4(peer, us, 17, 64, u));
        };
        g.send(1, frame(1, 0, false));
        g.send(1, frame(2, 1, false));
        g.send(1, frame(3, 0, true));
        g.run();
        CHECK(g.wire_out(0).size() == (outer6 ? 1u : 2u));  // zero is "none" over IPv4 only
        CHECK(g.drops(1, Drop::esp_udp_checksum) == (outer6 ? 2u : 1u));
    }
}


TEST_CASE("encapsulated-ip-mtu: the ESP packet is fragmented after encryption, the clear one is not", "[pipeline][ipsec][mtu]") {
    for (bool outer6 : {false, true}) {
        INFO((outer6 ? "over IPv6" : "over IPv4"));
        Gateway g(kTransforms[0], outer6);
        const unsigned limit = outer6 ? 1280 : 600;
        g.exec(fmt::format("ipsec sa out1 encapsulated-ip-mtu {}", limit));
        Ip4Opts df;
        df.df = true;  // the inner DF is about the inner path: the tunnel packet is ours to fragment
        df.tos = 0x28;
        const Bytes clear = ipv4(kHostA, kRemote, 17, 64, udp(kHostA, kRemote, 4000, 53, pattern(1400)), df);
        g.send(0, ether(kPort0Mac, kHostAMac, 0x0800, clear));
        g.send(0, ether(kPort0Mac, kHostAMac, 0x86dd, inner6(kHostA6, kRemote6, 64, 1400)));
        g.run();
        CHECK(g.wire_out(0).empty());  // no ICMP
        auto out = g.wire_out(1);
        REQUIRE(out.size() >= 4);
        // Two datagrams, each in fragments; split them by identification / first offset.
        std::vector<std::vector<Bytes>> datagrams;
        for (const Bytes& f : out) {
            const bool first = outer6 ? (f[54 + 2] == 0 && (f[54 + 3] & 0xf8) == 0) : ((f[20] & 0x1f) == 0 && f[21] == 0);
            if (first) datagrams.emplace_back();
            REQUIRE(!datagrams.empty());
            datagrams.back().push_back(f);
        }
        REQUIRE(datagrams.size() == 2);
        uint8_t next = 0;
        auto o4 = esp_open(g.out_sa, join_fragments(datagrams[0], outer6, limit, next));
        CHECK(next == 50);
        auto o6 = esp_open(g.out_sa, join_fragments(datagrams[1], outer6, limit, next));
        REQUIRE(o4);
        REQUIRE(o6);
        Bytes expected = clear;
        expected[8] = 63;  // TTL − 1, checksum updated
        expected[10] = expected[11] = 0;
        const uint16_t c = checksum(expected.data(), 20);
        expected[10] = uint8_t(c >> 8), expected[11] = uint8_t(c);
        CHECK(hex(o4->inner) == hex(expected));
        CHECK(hex(o6->inner) == hex(inner6(kHostA6, kRemote6, 63, 1400)));
        CHECK(g.show_text("show ipsec sa out1").find("2 packets fragmented after encryption") != std::string::npos);
    }
}

TEST_CASE("IPv6 into a tunnel (ISA guide): up to 1280 bytes always goes through, larger gets packet too big >= 1280", "[pipeline][ipsec][mtu]") {
    Gateway g(kTransforms[0], false);
    g.exec("ipsec sa out1 ip-mtu 1000");
    g.exec("interface port1 mtu 1300");
    // 1280 bytes: above ip-mtu and above what fits the 1300-byte egress after ESP, still carried.
    g.send(0, ether(kPort0Mac, kHostAMac, 0x86dd, inner6(kHostA6, kRemote6, 64, 1280 - 48)));
    g.run();
    auto out = g.wire_out(1);
    REQUIRE(out.size() == 2);
    uint8_t next = 0;
    auto opened = esp_open(g.out_sa, join_fragments(out, false, 1300, next));
    REQUIRE(opened);
    CHECK(opened->inner.size() == 1280);
    // 1281 bytes: refused, announcing 1280 (never less, RFC 8201 §4).
    g.send(0, ether(kPort0Mac, kHostAMac, 0x86dd, inner6(kHostA6, kRemote6, 64, 1281 - 48)));
    g.run();
    CHECK(g.wire_out(1).empty());
    auto back = g.wire_out(0);
    REQUIRE(back.size() == 1);
    CHECK(back[0][14 + 40] == 2);
    CHECK(unsigned(back[0][14 + 46] << 8 | back[0][14 + 47]) == 1280);
    CHECK(g.drops(0, Drop::esp_mtu_exceeded) == 1);
}

TEST_CASE("Fragmented ESP in UDP (NAT-T) is reassembled before decryption", "[pipeline][ipsec][natt][mtu]") {
    for (bool outer6 : {false, true}) {
        Gateway g(kTransforms[0], outer6, false, true);
        const IpAddr peer = outer6 ? addr("2001:db8:b::2") : addr("203.0.113.2");
        const IpAddr us = outer6 ? addr("2001:db8:b::1") : addr("203.0.113.1");
        const Bytes u = udp(peer, us, 61000, 4500,
                            esp_seal(g.in_sa, 1, g.iv_for(g.in_sa, 1), inner4(kRemote, kHostA, 64, 1300), 4));
        const Bytes outer = outer6 ? ipv6(peer, us, 17, 64, u) : ipv4(peer, us, 17, 64, u);
        auto [first, second] = outer6 ? split6(outer, 800, 99) : split4(outer, 800);
        const uint16_t type = outer6 ? 0x86dd : 0x0800;
        g.send(1, ether(kPort1Mac, kPeerMac, type, second));
        g.send(1, ether(kPort1Mac, kPeerMac, type, first));
        g.run();
        auto out = g.wire_out(0);
        REQUIRE(out.size() == 1);
        CHECK(hex(out[0]) == hex(ether(kHostAMac, kPort0Mac, 0x0800, inner4(kRemote, kHostA, 63, 1300))));
        CHECK(g.kernel_out(1).empty());
    }
}

TEST_CASE("IPv6 transport mode: ESP goes after hop-by-hop options, which stay in clear; the selectors see GRE", "[pipeline][ipsec][transport]") {
    Pipeline p(2);
    p.exec("interface port1 address 2001:db8:b::1/64");
    p.neighbor(1, "2001:db8:b::2", "02:cc:00:00:00:02");
    const IpAddr us = addr("2001:db8:b::1"), peer = addr("2001:db8:b::2");
    EspOracleSa out_sa, in_sa;
    for (auto [sa, name, dir, spi, seed] : {std::tuple{&out_sa, "t-out", "outbound", 5001u, uint8_t(3)},
                                            std::tuple{&in_sa, "t-in", "inbound", 5002u, uint8_t(9)}}) {
        sa->cipher = "aes-gcm-128";
        sa->cipher_key = key_bytes(20, seed);
        sa->spi = spi;
        p.exec(fmt::format("ipsec sa {} {} spi {} transport {} {}", name, dir, spi, us.str(), peer.str()));
        p.exec(fmt::format("ipsec sa {} encryption aes-gcm-128 key {}", name, hex_of(sa->cipher_key)));
    }
    p.exec("ipsec policy 10 local 2001:db8:b::1/128 remote 2001:db8:b::2/128 protocol 47 protect t-out inbound t-in");
    const Bytes gre = pattern(120, 0x47);
    auto hop_by_hop = [](uint8_t next) { return Bytes{next, 0, 1, 4, 0, 0, 0, 0}; };  // PadN
    auto with = [](Bytes a, const Bytes& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    };
    // Out: the kernel's GRE behind a hop-by-hop header.
    p.send_from_kernel(1, ether(kPeerMac, kPort1Mac, 0x86dd, ipv6(us, peer, 0, 64, with(hop_by_hop(47), gre))));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    const Bytes& f = out[0];
    CHECK(f[14 + 6] == 0);        // hop-by-hop first
    CHECK(f[54] == 50);           // ... then ESP
    CHECK(size_t(f[18] << 8 | f[19]) == f.size() - 54);
    auto opened = esp_open(out_sa, std::vector<uint8_t>(f.begin() + 62, f.end()));
    REQUIRE(opened);
    CHECK(opened->next_header == 47);
    CHECK(hex(opened->inner) == hex(gre));
    // In: the kernel gets the hop-by-hop header naming GRE again.
    p.send(1, ether(kPort1Mac, kPeerMac, 0x86dd,
                    ipv6(peer, us, 0, 64, with(hop_by_hop(50), esp_seal(in_sa, 1, key_bytes(8, 1), gre, 47)))));
    p.run();
    auto up = p.kernel_out(1);
    REQUIRE(up.size() == 1);
    CHECK(hex(up[0]) == hex(ether(kPort1Mac, kPeerMac, 0x86dd, ipv6(peer, us, 0, 64, with(hop_by_hop(47), gre)))));
}

TEST_CASE("SAV and ESP: the outer source is validated; decrypted traffic is held to the SA's selectors instead",
          "[pipeline][ipsec][sav]") {
    Gateway g(kTransforms[0], false);
    g.exec("interface port1 sav strict");  // the peer 203.0.113.2 is on port1's subnet
    auto seal = [&](uint64_t seq, const Bytes& inner) { return esp_seal(g.in_sa, seq, g.iv_for(g.in_sa, uint8_t(seq)), inner, 4); };
    g.send(1, g.from_peer(seal(1, inner4(kRemote, kHostA, 64)), false));
    g.run();
    CHECK(g.wire_out(0).size() == 1);
    // The inner source 192.0.2.x has no route back through port1: the SAV
    // table would refuse it, but decrypted traffic is checked against the
    // SA's remote selector (the tunnel-derived rule), not looked up.
    CHECK(g.counters(1).sav_tunnel_validated == 1);
    CHECK(g.drops(1, Drop::sav_no_rule) + g.drops(1, Drop::sav_wrong_interface) == 0);
    // An inner source outside the selectors: refused by the policy check.
    g.send(1, g.from_peer(seal(2, inner4(addr("192.0.3.1"), kHostA, 64)), false));
    // A spoofed outer source: refused by SAV before the SAD is consulted.
    g.send(1, ether(kPort1Mac, kPeerMac, 0x0800,
                    ipv4(addr("100.64.1.1"), addr("203.0.113.1"), 50, 64, seal(3, inner4(kRemote, kHostA, 64)))));
    g.run();
    CHECK(g.wire_out(0).empty());
    CHECK(g.drops(1, Drop::esp_policy_mismatch) == 1);
    CHECK(g.drops(1, Drop::sav_no_rule) == 1);
    CHECK(g.show_text("show sav interface port1").find("selectors): 1") != std::string::npos);
}

TEST_CASE("IPv6 transport mode with NAT-T: the UDP header follows the hop-by-hop header and carries a valid checksum", "[pipeline][ipsec][transport][natt]") {
    Pipeline p(2);
    p.exec("interface port1 address 2001:db8:b::1/64");
    p.neighbor(1, "2001:db8:b::2", "02:cc:00:00:00:02");
    const IpAddr us = addr("2001:db8:b::1"), peer = addr("2001:db8:b::2");
    const EspOracleSa out_sa = transport_out_sa(p, us, peer);
    p.exec("ipsec sa t-out nat-traversal");
    p.exec("ipsec policy 10 local 2001:db8:b::1/128 remote 2001:db8:b::2/128 protocol 47 protect t-out");
    Bytes packet = {47, 0, 1, 4, 0, 0, 0, 0};  // hop-by-hop (PadN), then GRE
    const Bytes gre = pattern(120, 0x47);
    packet.insert(packet.end(), gre.begin(), gre.end());
    p.send_from_kernel(1, ether(kPeerMac, kPort1Mac, 0x86dd, ipv6(us, peer, 0, 64, packet)));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    const Bytes& f = out[0];
    CHECK(f[14 + 6] == 0);  // hop-by-hop first
    CHECK(f[54] == 17);     // ... naming UDP
    const size_t udp_at = 62, udp_len = f.size() - udp_at;
    CHECK((f[udp_at] << 8 | f[udp_at + 1]) == 4500);
    CHECK((f[udp_at + 2] << 8 | f[udp_at + 3]) == 4500);
    CHECK(size_t(f[udp_at + 4] << 8 | f[udp_at + 5]) == udp_len);
    CHECK((f[udp_at + 6] | f[udp_at + 7]) != 0);
    CHECK(checksum(f.data() + udp_at, udp_len, pseudo_sum(us, peer, 17, udp_len)) == 0);
    auto opened = esp_open(out_sa, std::vector<uint8_t>(f.begin() + long(udp_at + 8), f.end()));
    REQUIRE(opened);
    CHECK(opened->next_header == 47);
    CHECK(hex(opened->inner) == hex(gre));
}
