// ESP tunnel-mode profiles: esp-{enc,dec}-{gcm128,cbc128sha256}-{64,512,1420}.
//
// Encrypt: clear IPv4/UDP frames from the senders on port0 (the protected
// side) to 172.16.0.0/12 behind a peer gateway; the SPD protects them and
// ESP leaves port1 towards the peer 198.19.0.2. Every output of the check
// before measuring is opened with the OpenSSL oracle (tests/support) and must
// carry the sent packet, TTL lowered by one.
//
// Decrypt: the peer 198.18.0.2 on port0 sends ESP to 198.18.0.1, sealed by the
// oracle; the inner packets (from 172.16.0.0/12 to the ipv4-fwd destinations
// behind port1) must come out of port1 byte for byte as forwarded.
//
// Anti-replay with recycled frames: the generator offers the same templates
// over and over, so without care every pass after the first would be a
// replay. Both SAs use extended sequence numbers (RFC 4304). Template i
// carries the low half i + 1; the generator's pass p stands for the high half
// p, which is not on the wire but is covered by the ICV. Going from the last
// template back to the first, the low half falls below the window (512
// templates, 64-packet window), so the receiver infers the next epoch
// (RFC 4303 appendix A2.2): every frame is a fresh, higher sequence number,
// as if 2^32 - 512 packets had been lost between passes. Only the ICV
// changes per pass, and the generator recomputes it:
//   AES-GCM: the tag is linear in the AAD (GHASH), and all templates have the
//     same length, so tag(p) = tag(0) xor M(p) with one mask per pass, taken
//     from one oracle seal of template 0 with high half p (once per pass);
//   HMAC-SHA-256: the high half is appended after the ESP packet, so the
//     inner hash state over key-xor-ipad and the packet is kept per template;
//     a refresh is the 4 bytes, the final blocks and the outer hash.
// Nothing is disabled: the worker's replay window checks and accepts every
// frame; any replay (or any other) drop fails the profile.
#include "bench/esp_profiles.hpp"

// The low-level SHA-256 interface keeps a hash state that can be copied and
// resumed, which EVP offers only with allocation per copy.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "tests/support/esp_oracle.hpp"

namespace rampart::bench {

namespace {

constexpr unsigned kEthernetBytes = 14;
constexpr unsigned kIpv4Bytes = 20;
constexpr unsigned kEspHeaderBytes = 8;
constexpr uint8_t kIpprotoEsp = 50;
constexpr unsigned kEspFlows = 512;   // > the 64-packet replay window: see above
constexpr unsigned kEspRoutes = 8;    // decrypt: the ipv4-fwd routes behind port1
constexpr unsigned kConnectedEvery = 4;
constexpr uint32_t kOutboundSpi = 0x1001, kInboundSpi = 0x2002;
const MacAddr kPeerMac{{0x02, 0xee, 0, 0, 0, 0x02}};

std::vector<uint8_t> key_bytes(size_t n, uint8_t seed) {
    std::vector<uint8_t> k(n);
    for (size_t i = 0; i < n; ++i) k[i] = uint8_t(seed + 29 * i + (i >> 3));
    return k;
}

std::string hex_of(std::span<const uint8_t> b) {
    std::string s;
    for (uint8_t x : b) s += fmt::format("{:02x}", x);
    return s;
}

test::EspOracleSa oracle_sa(EspTransform t, uint32_t spi, uint8_t seed) {
    test::EspOracleSa sa;
    sa.spi = spi;
    sa.esn = true;
    if (t == EspTransform::gcm128) {
        sa.cipher = "aes-gcm-128";
        sa.cipher_key = key_bytes(20, seed);  // 16-byte key + 4-byte salt
    } else {
        sa.cipher = "aes-cbc-128";
        sa.cipher_key = key_bytes(16, seed);
        sa.integrity = "hmac-sha-256";
        sa.integrity_key = key_bytes(32, uint8_t(seed + 100));
    }
    return sa;
}

void configure_sa(BenchRouter& router, const test::EspOracleSa& sa, const char* name, const char* direction,
                  const std::string& tunnel) {
    router.exec(fmt::format("ipsec sa {} {} spi {} tunnel {}", name, direction, sa.spi, tunnel));
    router.exec(fmt::format("ipsec sa {} encryption {} key {}", name, sa.cipher, hex_of(sa.cipher_key)));
    if (!sa.integrity.empty())
        router.exec(fmt::format("ipsec sa {} integrity {} key {}", name, sa.integrity, hex_of(sa.integrity_key)));
    router.exec(fmt::format("ipsec sa {} esn", name));
}

uint32_t be32_at(std::span<const uint8_t> b, size_t at) {
    return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

IpAddr remote_host(unsigned flow) { return IpAddr::v4(0xac100000u | (flow / 250) << 8 | (1 + flow % 250)); }

UdpFlow clear_flow(unsigned f, const IpAddr& src, const IpAddr& dst) {
    UdpFlow u;
    u.dst_mac = plan::port_mac(plan::kIngressPort);
    u.src_mac = MacAddr{{0x02, 0xaa, 0, 0, 0, uint8_t(f % 64)}};
    u.src = src;
    u.dst = dst;
    u.src_port = uint16_t(1024 + f);
    u.dst_port = uint16_t(5000 + f % 16);
    return u;
}

IpAddr decrypt_destination(unsigned f) {
    if (f % kConnectedEvery == kConnectedEvery - 1) return plan::connected_host4(f % plan::kConnectedHosts);
    return IpAddr::v4(0x0a000000u | (f % kEspRoutes) << 16 | (f / 8 % 256) << 8 | (1 + f % 250));
}
MacAddr decrypt_next_hop(unsigned f) {
    if (f % kConnectedEvery == kConnectedEvery - 1) return plan::connected_host_mac(f % plan::kConnectedHosts);
    return plan::gateway_mac(f % kEspRoutes % plan::kGateways);
}

// An Ethernet + IPv4 (no options) frame carrying `payload` with protocol `proto`.
std::vector<uint8_t> ipv4_frame(const MacAddr& dst_mac, const MacAddr& src_mac, const IpAddr& src, const IpAddr& dst,
                                uint8_t proto, std::span<const uint8_t> payload) {
    std::vector<uint8_t> f(kEthernetBytes + kIpv4Bytes);
    std::memcpy(f.data(), dst_mac.bytes.data(), 6);
    std::memcpy(f.data() + 6, src_mac.bytes.data(), 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t* ip = f.data() + kEthernetBytes;
    const unsigned total = kIpv4Bytes + unsigned(payload.size());
    ip[0] = 0x45;
    ip[2] = uint8_t(total >> 8);
    ip[3] = uint8_t(total);
    ip[8] = 64;
    ip[9] = proto;
    std::memcpy(ip + 12, src.bytes.data(), 4);
    std::memcpy(ip + 16, dst.bytes.data(), 4);
    uint32_t sum = 0;
    for (unsigned i = 0; i < kIpv4Bytes; i += 2) sum += uint32_t(ip[i]) << 8 | ip[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = uint8_t(~sum >> 8);
    ip[11] = uint8_t(~sum);
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

void describe(ProfileSetup& setup, const EspProfileSpec& spec, const test::EspOracleSa& sa) {
    const EspSizes sz = esp_sizes(spec.transform, spec.frame_size);
    setup.frame_size = spec.frame_size;
    setup.notes.push_back(fmt::format(
        "{} {}-byte clear frames ({}-byte inner IPv4 packets), ESP tunnel 4in4 {}, ESN; ESP frames {} bytes "
        "({} encrypted + {}-byte ICV); {} flows",
        spec.decrypt ? "decrypts" : "encrypts", spec.frame_size, sz.inner_ip, sa.integrity.empty() ? sa.cipher
        : sa.cipher + " + " + sa.integrity, sz.esp_frame + kFcsBytes, sz.encrypted, sz.icv, kEspFlows));
    setup.metrics = {{"esp_encrypted_bytes", double(sz.encrypted)}, {"esp_frame_bytes", double(sz.esp_frame + kFcsBytes)}};
}

// ---- encrypt -----------------------------------------------------------------

FrameTemplates prepare_encrypt(BenchRouter& router, ProfileSetup& setup, const EspProfileSpec& spec) {
    auto out_sa = std::make_shared<test::EspOracleSa>(oracle_sa(spec.transform, kOutboundSpi, 1));
    const test::EspOracleSa in_sa = oracle_sa(spec.transform, kInboundSpi, 7);
    const IpAddr local = IpAddr::v4(0xc6130001u), peer = plan::gateway4(0);  // 198.19.0.1 -> 198.19.0.2
    const std::string tunnel = fmt::format("{} {}", local.str(), peer.str());
    configure_sa(router, *out_sa, "bench-out", "outbound", tunnel);
    configure_sa(router, in_sa, "bench-in", "inbound", tunnel);
    router.exec(fmt::format("route 172.16.0.0/12 via {}", peer.str()));
    router.exec("ipsec policy 10 local 198.18.0.0/24 remote 172.16.0.0/12 protect bench-out inbound bench-in");
    describe(setup, spec, *out_sa);
    setup.routes = 1;
    setup.notes.push_back(fmt::format("port0 protected (198.18.0.0/24 -> 172.16.0.0/12), ESP out of port1 to {}; "
                                      "before measuring every output opened with the OpenSSL oracle",
                                      peer.str()));

    const EspSizes sz = esp_sizes(spec.transform, spec.frame_size);
    FrameTemplates frames(std::max(sz.esp_frame, spec.frame_size));
    auto clear = std::make_shared<std::vector<std::vector<uint8_t>>>();
    for (unsigned f = 0; f < kEspFlows; ++f) {
        std::vector<uint8_t> frame = build_udp_frame(clear_flow(f, plan::sender4(f % 64), remote_host(f)), spec.frame_size);
        frames.add(frame);
        std::vector<uint8_t> inner(frame.begin() + kEthernetBytes, frame.end());
        set_ipv4_ttl(inner, 0, uint8_t(inner[8] - 1));
        clear->push_back(std::move(inner));
    }
    const MacAddr peer_mac = plan::gateway_mac(0);
    frames.set_output_check([out_sa, clear, peer_mac, local, peer, sz](size_t i, std::span<const uint8_t> got) -> std::string {
        if (got.size() != sz.esp_frame) return fmt::format("{} bytes, expected an ESP frame of {}", got.size(), sz.esp_frame);
        if (!std::equal(peer_mac.bytes.begin(), peer_mac.bytes.end(), got.begin()) || got[12] != 0x08 || got[13] != 0)
            return "not an IPv4 frame to the peer's MAC";
        const uint8_t* ip = got.data() + kEthernetBytes;
        if (ip[0] != 0x45 || ip[9] != kIpprotoEsp || std::memcmp(ip + 12, local.bytes.data(), 4) != 0 ||
            std::memcmp(ip + 16, peer.bytes.data(), 4) != 0)
            return "outer header is not IPv4 ESP from the tunnel's local to its remote address";
        std::vector<uint8_t> esp(got.begin() + kEthernetBytes + kIpv4Bytes, got.end());
        if (be32_at(esp, 0) != out_sa->spi) return fmt::format("SPI {:#x}", be32_at(esp, 0));
        auto opened = test::esp_open(*out_sa, esp, 0);
        if (!opened) return fmt::format("ESP (sequence number {}) does not open with the oracle", be32_at(esp, 4));
        if (opened->next_header != 4) return fmt::format("next header {}", opened->next_header);
        if (opened->inner != (*clear)[i]) return "the decrypted inner packet is not the one sent (TTL - 1)";
        return {};
    });
    return frames;
}

// ---- decrypt -----------------------------------------------------------------

// Per-pass ICVs for the recycled ESP frames (see the top of the file).
class IcvRefresher {
public:
    IcvRefresher(test::EspOracleSa sa, size_t esp_at, size_t frame_len) : sa_(std::move(sa)), esp_at_(esp_at), len_(frame_len) {}

    // Called once per template while building, with the complete frame (ICV included).
    void add_template(const std::vector<uint8_t>& frame) {
        const uint8_t* esp = frame.data() + esp_at_;
        const size_t esp_len = len_ - esp_at_;
        if (sa_.aead()) {
            if (!ref_esp_.empty()) return;
            ref_esp_.assign(esp, esp + esp_len);
            tag0_.assign(esp + esp_len - 16, esp + esp_len);
            return;
        }
        if (inner_.empty()) {  // HMAC pads, once
            uint8_t ipad[64] = {}, opad[64] = {};
            std::memcpy(ipad, sa_.integrity_key.data(), sa_.integrity_key.size());
            std::memcpy(opad, sa_.integrity_key.data(), sa_.integrity_key.size());
            for (unsigned k = 0; k < 64; ++k) ipad[k] ^= 0x36, opad[k] ^= 0x5c;
            SHA256_Init(&ipad_);
            SHA256_Update(&ipad_, ipad, 64);
            SHA256_Init(&opad_);
            SHA256_Update(&opad_, opad, 64);
        }
        SHA256_CTX c = ipad_;
        SHA256_Update(&c, esp, esp_len - 16);
        inner_.push_back(c);
    }

    void refresh(uint8_t* frame, size_t i, uint64_t pass) {
        const uint32_t high = uint32_t(pass);
        uint8_t be[4] = {uint8_t(high >> 24), uint8_t(high >> 16), uint8_t(high >> 8), uint8_t(high)};
        uint8_t* icv = frame + len_ - 16;
        if (sa_.aead()) {
            if (pass != mask_pass_) compute_mask(high);
            for (unsigned k = 0; k < 16; ++k) icv[k] ^= mask_[k];
            return;
        }
        SHA256_CTX c = inner_[i];
        uint8_t digest[32];
        SHA256_Update(&c, be, 4);
        SHA256_Final(digest, &c);
        c = opad_;
        SHA256_Update(&c, digest, 32);
        SHA256_Final(digest, &c);
        std::memcpy(icv, digest, 16);
    }

    // What the refresh would write for template i in `pass`, through the oracle: a self-check.
    std::vector<uint8_t> oracle_icv(const std::vector<uint8_t>& frame, uint32_t high) const {
        std::vector<uint8_t> esp(frame.begin() + long(esp_at_), frame.end());
        const uint64_t seq = uint64_t(high) << 32 | be32_at(esp, 4);
        // Re-seal the same inner packet with the same IV: the ICV for that full sequence number.
        auto opened = test::esp_open(sa_, esp, 0);
        if (!opened) throw std::logic_error("ESP template does not open");
        std::vector<uint8_t> iv(esp.begin() + 8, esp.begin() + 8 + long(sa_.iv_len()));
        std::vector<uint8_t> sealed = test::esp_seal(sa_, seq, iv, opened->inner, opened->next_header);
        return std::vector<uint8_t>(sealed.end() - 16, sealed.end());
    }

private:
    void compute_mask(uint32_t high) {
        // The oracle's tag of template 0 under high half `high`, against high half 0.
        auto opened = test::esp_open(sa_, ref_esp_, 0);
        std::vector<uint8_t> iv(ref_esp_.begin() + 8, ref_esp_.begin() + 16);
        const uint64_t seq = uint64_t(high) << 32 | be32_at(ref_esp_, 4);
        std::vector<uint8_t> sealed = test::esp_seal(sa_, seq, iv, opened->inner, opened->next_header);
        for (unsigned k = 0; k < 16; ++k) mask_[k] = uint8_t(sealed[sealed.size() - 16 + k] ^ tag0_[k]);
        mask_pass_ = high;
    }

    test::EspOracleSa sa_;
    size_t esp_at_, len_;
    std::vector<uint8_t> ref_esp_, tag0_;
    uint8_t mask_[16] = {};
    uint64_t mask_pass_ = 0;
    SHA256_CTX ipad_{}, opad_{};
    std::vector<SHA256_CTX> inner_;
};

FrameTemplates prepare_decrypt(BenchRouter& router, ProfileSetup& setup, const EspProfileSpec& spec) {
    const test::EspOracleSa out_sa = oracle_sa(spec.transform, kOutboundSpi, 1);
    const test::EspOracleSa in_sa = oracle_sa(spec.transform, kInboundSpi, 7);
    const IpAddr local = IpAddr::v4(0xc6120001u), peer = IpAddr::v4(0xc6120002u);  // 198.18.0.1 <- 198.18.0.2
    const std::string tunnel = fmt::format("{} {}", local.str(), peer.str());
    configure_sa(router, out_sa, "bench-out", "outbound", tunnel);
    configure_sa(router, in_sa, "bench-in", "inbound", tunnel);
    for (unsigned r = 0; r < kEspRoutes; ++r)
        router.exec(fmt::format("route 10.{}.0.0/16 via {}", r, plan::gateway4(r % plan::kGateways).str()));
    router.exec("ipsec policy 10 local 10.0.0.0/8 remote 172.16.0.0/12 protect bench-out inbound bench-in");
    router.exec("ipsec policy 20 local 198.19.0.0/24 remote 172.16.0.0/12 protect bench-out inbound bench-in");
    describe(setup, spec, in_sa);
    setup.routes = kEspRoutes;
    setup.notes.push_back(fmt::format(
        "ESP from {} into port0, inner packets out of port1 checked byte for byte; ESN, 64-packet replay window: "
        "the generator's pass p is the high half of the sequence numbers, ICVs recomputed per pass (see esp_profiles.cpp)",
        peer.str()));

    const EspSizes sz = esp_sizes(spec.transform, spec.frame_size);
    FrameTemplates frames(std::max(sz.esp_frame, spec.frame_size));
    auto refresher = std::make_shared<IcvRefresher>(in_sa, kEthernetBytes + kIpv4Bytes, sz.esp_frame);
    std::vector<std::vector<uint8_t>> built;
    for (unsigned f = 0; f < kEspFlows; ++f) {
        std::vector<uint8_t> clear =
            build_udp_frame(clear_flow(f, remote_host(f), decrypt_destination(f)), spec.frame_size);
        std::vector<uint8_t> inner(clear.begin() + kEthernetBytes, clear.end());
        std::vector<uint8_t> iv = key_bytes(in_sa.iv_len(), uint8_t(f * 7 + 3));
        iv[0] = uint8_t(f >> 8);
        iv[1] = uint8_t(f);
        std::vector<uint8_t> esp = test::esp_seal(in_sa, f + 1, iv, inner, 4);
        std::vector<uint8_t> frame =
            ipv4_frame(plan::port_mac(plan::kIngressPort), kPeerMac, peer, local, kIpprotoEsp, esp);
        if (frame.size() != sz.esp_frame)
            throw std::logic_error(fmt::format("ESP frame of {} bytes, expected {}", frame.size(), sz.esp_frame));
        std::vector<uint8_t> out = clear;
        set_ipv4_ttl(out, kEthernetBytes, uint8_t(out[kEthernetBytes + 8] - 1));
        set_ethernet(out, decrypt_next_hop(f), plan::port_mac(plan::kEgressPort), 0x0800);
        refresher->add_template(frame);
        frames.add(frame, std::move(out));
        if (f < 2) built.push_back(std::move(frame));
    }
    // The generator's ICVs must be the oracle's for the same sequence numbers.
    for (uint32_t high : {1u, 2u, 77u}) {
        for (size_t i = 0; i < built.size(); ++i) {
            std::vector<uint8_t> copy = built[i];
            refresher->refresh(copy.data(), i, high);
            if (!std::equal(copy.end() - 16, copy.end(), refresher->oracle_icv(built[i], high).begin()))
                throw std::logic_error(fmt::format("refreshed ICV of template {} for high half {} is not the oracle's", i, high));
        }
    }
    frames.set_refresh([refresher](uint8_t* frame, size_t i, uint64_t pass) { refresher->refresh(frame, i, pass); });
    return frames;
}

}  // namespace

EspSizes esp_sizes(EspTransform t, unsigned frame_size) {
    EspSizes s;
    s.inner_ip = frame_size - kFcsBytes - kEthernetBytes;
    const unsigned align = t == EspTransform::gcm128 ? 4 : 16;
    s.encrypted = (s.inner_ip + 2 + align - 1) / align * align;
    s.iv = t == EspTransform::gcm128 ? 8 : 16;
    s.icv = 16;
    s.esp_frame = kEthernetBytes + kIpv4Bytes + kEspHeaderBytes + s.iv + s.encrypted + s.icv;
    return s;
}

FrameTemplates prepare_esp(BenchRouter& router, ProfileSetup& setup, const EspProfileSpec& spec) {
    return spec.decrypt ? prepare_decrypt(router, setup, spec) : prepare_encrypt(router, setup, spec);
}

}  // namespace rampart::bench
