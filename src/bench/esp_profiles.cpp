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

#include <rte_malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <unordered_set>

#include <fmt/format.h>

#include "slowpath/config_model.hpp"
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
    f.resize(kEthernetBytes + total);  // not insert(): GCC 12 warns about it (-Warray-bounds, a false positive)
    if (!payload.empty()) std::memcpy(f.data() + kEthernetBytes + kIpv4Bytes, payload.data(), payload.size());
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


// ---- scale: 50,000 tunnel pairs, 100,000 SAs -------------------------------------
//
// Every pair: an inbound and an outbound SA (AES-GCM-128, ESN, each with its
// own key and a random SPI, all SPIs distinct), one SPD protect entry naming
// both, for the pair's own /32 behind the peer: tunnel t protects
// 172.16.0.0 + t. The whole set goes in with one Control::install, as a
// startup configuration would (150,000 CLI lines through Control::execute
// would each copy the running configuration).
//
// The traffic uses kScaleTrafficTunnels pairs chosen at random, two frames per
// tunnel, the tunnels in a random order. Anti-replay as in the
// small decrypt profiles, per SA: a tunnel's two frames carry the low halves
// 1 and 1 + kScaleSeqStep, so going from the second back to the first (next
// pass) falls below that SA's 64-packet window and the receiver infers the
// next epoch; the generator's pass p is the high half. The GCM tag is linear
// in the AAD, so per SA tag(p) = tag(0) xor M(p), and M is linear in the bits
// of p: M(p) = xor of M(2^b) over the set bits b. The 32 masks M(2^b) of each
// SA come from oracle seals while building (all frames have one length, so a
// mask fits both frames of a tunnel); the generator keeps M(pass) per SA up to
// date when its pass changes (a sweep over the masks of the flipped bits,
// laid out bit-major) and XORs it into the ICV of each recycled frame.
//
// A tunnel's two frames are kept at least kScaleTrafficTunnels / 2 frames
// apart. The worker checks a whole burst against the windows before it
// verifies any ICV (RFC 4303 §3.4.3 order, replay.hpp) and moves a window only
// after; the second frame of a tunnel in the same burst as the first would be
// checked against the window as it was before the 2^32 - 1000 jump, inferred
// in the old epoch and dropped as a replay. A real peer never jumps like that
// (sequence numbers cross an epoch one by one, which the check infers right
// without the previous packet accepted), so the jump is the generator's
// artefact, and keeping the frames apart is what makes every frame new.

constexpr unsigned kScaleFramesPerTunnel = 2;
constexpr uint32_t kScaleSeqStep = 1000;           // > any replay window: see above
constexpr uint32_t kScaleRemoteNet = 0xac100000u;  // 172.16.0.0/12: tunnel t protects 172.16.0.0 + t
static_assert(kScaleTunnelPairs < (1u << 20) && kScaleTrafficTunnels <= kScaleTunnelPairs);

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double eal_in_use_mb() {
    rte_malloc_socket_stats heap{};
    if (rte_malloc_get_socket_stats(int(rte_socket_id()), &heap) != 0) return 0;
    return double(heap.heap_allocsz_bytes) / (1 << 20);
}

// Resident set of the whole process: the SAs' key schedules and the control
// core's copies of the configuration live on the ordinary heap, not in EAL memory.
double rss_mb() {
    long pages = 0, resident = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

struct ScaleTunnels {
    std::vector<uint32_t> in_spi, out_spi;
    uint64_t key_seed = 0;

    std::vector<uint8_t> key(unsigned t, bool inbound) const {
        uint64_t x = key_seed ^ (uint64_t(t) << 1 | (inbound ? 1 : 0)) * 0xd1342543de82ef95ull;
        std::vector<uint8_t> k(20);  // 16-byte key + 4-byte salt
        for (size_t i = 0; i < k.size(); i += 8) {
            const uint64_t v = splitmix64(x);
            std::memcpy(k.data() + i, &v, std::min<size_t>(8, k.size() - i));
        }
        return k;
    }
    test::EspOracleSa oracle(unsigned t, bool inbound) const {
        test::EspOracleSa sa;
        sa.spi = inbound ? in_spi[t] : out_spi[t];
        sa.esn = true;
        sa.cipher = "aes-gcm-128";
        sa.cipher_key = key(t, inbound);
        return sa;
    }
};

// Builds and installs the 50,000 pairs; says how long it took and what memory it took.
ScaleTunnels install_scale_tunnels(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup,
                                   const std::string& profile, const IpAddr& local, const IpAddr& peer,
                                   const Prefix& protected_local) {
    ScaleTunnels tunnels;
    tunnels.key_seed = rng();
    auto t = Clock::now();
    std::unordered_set<uint32_t> used;
    used.reserve(4 * kScaleTunnelPairs);
    auto random_spi = [&] {
        for (;;) {
            const uint32_t spi = uint32_t(rng());
            if (spi >= 256 && used.insert(spi).second) return spi;  // 1..255: reserved (RFC 4303 §2.1)
        }
    };
    RunningConfig config = router.control().config();
    for (unsigned i = 0; i < kScaleTunnelPairs; ++i) {
        tunnels.in_spi.push_back(random_spi());
        tunnels.out_spi.push_back(random_spi());
        for (bool inbound : {true, false}) {
            IpsecSaConfig sa;
            sa.direction = inbound ? IpsecSaConfig::Direction::inbound : IpsecSaConfig::Direction::outbound;
            sa.spi = inbound ? tunnels.in_spi[i] : tunnels.out_spi[i];
            sa.local = local;
            sa.remote = peer;
            sa.cipher = "aes-gcm-128";
            sa.cipher_key = tunnels.key(i, inbound);
            sa.esn = true;
            config.ipsec.sas.emplace(fmt::format("t{}-{}", i, inbound ? "in" : "out"), std::move(sa));
        }
        IpsecPolicyConfig p;
        p.local = protected_local;
        p.remote = Prefix{IpAddr::v4(kScaleRemoteNet + i), 32};
        p.action = IpsecPolicyConfig::Action::protect;
        p.outbound_sa = fmt::format("t{}-out", i);
        p.inbound_sa = fmt::format("t{}-in", i);
        config.ipsec.policies[""][i + 1] = std::move(p);
    }
    const double config_s = seconds_since(t);

    fmt::print(stderr, "[{}] installing {} SAs and {} SPD entries through Control::install ...\n", profile,
               2 * kScaleTunnelPairs, kScaleTunnelPairs);
    const double eal_before = eal_in_use_mb(), rss_before = rss_mb();
    t = Clock::now();
    std::string warnings = router.control().install(config);
    const double install_s = seconds_since(t);
    config = RunningConfig{};  // the control core keeps its own copy
    const double eal_after = eal_in_use_mb(), rss_after = rss_mb();
    if (!warnings.empty()) throw std::runtime_error("installing the 100k SAs: " + warnings.substr(0, 400));
    fmt::print(stderr, "[{}] installed in {:.2f} s; EAL memory in use {:.0f} MB (+{:.0f}), process RSS {:.0f} MB (+{:.0f})\n",
               profile, install_s, eal_after, eal_after - eal_before, rss_after, rss_after - rss_before);
    // The last pair is in the SAD with an owner, as `show` reports it.
    const std::string name = fmt::format("t{}-in", kScaleTunnelPairs - 1);
    CommandResult shown = router.control().execute("show ipsec sa " + name);
    if (!shown.ok || shown.text.find("owner worker") == std::string::npos)
        throw std::runtime_error(fmt::format("after the install, 'show ipsec sa {}' says: {}", name, shown.text.substr(0, 300)));

    setup.notes.push_back(fmt::format(
        "{} tunnel pairs installed at once: {} SAs (random SPIs, a key each) + {} SPD protect entries (one /32 "
        "each); RunningConfig built {:.2f} s, Control::install {:.2f} s",
        kScaleTunnelPairs, 2 * kScaleTunnelPairs, kScaleTunnelPairs, config_s, install_s));
    setup.notes.push_back(fmt::format(
        "memory: EAL in use {:.0f} MB -> {:.0f} MB by the install (+{:.0f}), process RSS {:.0f} MB -> {:.0f} MB (+{:.0f})",
        eal_before, eal_after, eal_after - eal_before, rss_before, rss_after, rss_after - rss_before));
    setup.metrics.insert(setup.metrics.end(),
                         {{"sas", double(2 * kScaleTunnelPairs)},
                          {"spd_entries", double(kScaleTunnelPairs)},
                          {"traffic_tunnels", double(kScaleTrafficTunnels)},
                          {"sa_config_s", config_s},
                          {"sa_install_s", install_s},
                          {"eal_mb_before_install", eal_before},
                          {"eal_mb_after_install", eal_after},
                          {"rss_mb_before_install", rss_before},
                          {"rss_mb_after_install", rss_after}});
    return tunnels;
}

// Which tunnel each frame template belongs to: kScaleTrafficTunnels random
// pairs ("slots"), two frames each, shuffled; occurrence = the frame's rank
// within its tunnel.
struct ScaleTraffic {
    std::vector<unsigned> tunnel_of_slot;
    std::vector<uint32_t> slot_of_frame, occurrence;
};

ScaleTraffic scale_traffic(std::mt19937_64& rng) {
    ScaleTraffic tr;
    std::vector<unsigned> all(kScaleTunnelPairs);
    std::iota(all.begin(), all.end(), 0u);
    for (unsigned i = 0; i < kScaleTrafficTunnels; ++i) {  // partial Fisher-Yates
        std::uniform_int_distribution<unsigned> pick(i, kScaleTunnelPairs - 1);
        std::swap(all[i], all[pick(rng)]);
    }
    tr.tunnel_of_slot.assign(all.begin(), all.begin() + kScaleTrafficTunnels);
    // A random order of the tunnels, then the same order rotated by half: a
    // tunnel's two frames are at least kScaleTrafficTunnels / 2 frames apart,
    // within a pass and across the wrap to the next one (see above).
    std::vector<uint32_t> order(kScaleTrafficTunnels);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), rng);
    static_assert(kScaleFramesPerTunnel == 2);
    for (unsigned k = 0; k < kScaleTrafficTunnels; ++k) tr.slot_of_frame.push_back(order[k]);
    for (unsigned k = 0; k < kScaleTrafficTunnels; ++k)
        tr.slot_of_frame.push_back(order[(k + kScaleTrafficTunnels / 2) % kScaleTrafficTunnels]);
    std::vector<uint32_t> seen(kScaleTrafficTunnels, 0);
    for (uint32_t s : tr.slot_of_frame) tr.occurrence.push_back(seen[s]++);
    return tr;
}

std::string scale_description(const EspProfileSpec& spec, size_t frames) {
    const EspSizes sz = esp_sizes(spec.transform, spec.frame_size);
    return fmt::format(
        "{} {}-byte clear frames ({}-byte inner IPv4 packets), ESP tunnel 4in4 aes-gcm-128, ESN; ESP frames {} bytes; "
        "{} frames over {} random tunnels of the {} (random SPIs), {} per tunnel, tunnels in random order",
        spec.decrypt ? "decrypts" : "encrypts", spec.frame_size, sz.inner_ip, sz.esp_frame + kFcsBytes, frames,
        kScaleTrafficTunnels, kScaleTunnelPairs, kScaleFramesPerTunnel);
}

// The per-SA GCM tag masks (see above).
class ScaleGcmRefresher {
public:
    struct Mask {
        uint64_t a = 0, b = 0;
        Mask& operator^=(const Mask& o) {
            a ^= o.a;
            b ^= o.b;
            return *this;
        }
    };
    ScaleGcmRefresher(size_t frame_len, std::vector<uint32_t> slot_of_frame)
        : len_(frame_len), slot_of_frame_(std::move(slot_of_frame)), masks_(32 * kScaleTrafficTunnels),
          current_(kScaleTrafficTunnels) {}

    // The masks of a slot from one of its frames: the tag under high half 2^b against high half 0.
    void add_slot(uint32_t slot, const test::EspOracleSa& sa, uint64_t low, const std::vector<uint8_t>& iv,
                  const std::vector<uint8_t>& inner, std::span<const uint8_t> tag0) {
        for (unsigned b = 0; b < 32; ++b) {
            std::vector<uint8_t> sealed = test::esp_seal(sa, uint64_t(1u << b) << 32 | low, iv, inner, 4);
            uint8_t m[16];
            for (unsigned k = 0; k < 16; ++k) m[k] = uint8_t(sealed[sealed.size() - 16 + k] ^ tag0[k]);
            std::memcpy(&masks_[size_t(b) * kScaleTrafficTunnels + slot], m, 16);
        }
    }

    void refresh(uint8_t* frame, size_t i, uint64_t pass) {
        if (pass != pass_) advance(pass);
        uint8_t* icv = frame + len_ - 16;
        Mask t;
        std::memcpy(&t, icv, 16);
        t ^= current_[slot_of_frame_[i]];
        std::memcpy(icv, &t, 16);
    }

private:
    void advance(uint64_t pass) {
        const uint32_t flipped = uint32_t(pass) ^ uint32_t(pass_);
        for (unsigned b = 0; b < 32; ++b) {
            if (!(flipped >> b & 1)) continue;
            const Mask* m = &masks_[size_t(b) * kScaleTrafficTunnels];
            for (unsigned s = 0; s < kScaleTrafficTunnels; ++s) current_[s] ^= m[s];
        }
        pass_ = pass;
    }

    size_t len_;
    std::vector<uint32_t> slot_of_frame_;
    std::vector<Mask> masks_;    // bit-major: [b * kScaleTrafficTunnels + slot]
    std::vector<Mask> current_;  // M(pass_) per slot
    uint64_t pass_ = 0;
};

FrameTemplates prepare_decrypt_scale(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup,
                                     const EspProfileSpec& spec, const std::string& profile) {
    const IpAddr local = IpAddr::v4(0xc6120001u), peer = IpAddr::v4(0xc6120002u);  // 198.18.0.1 <- 198.18.0.2
    for (unsigned r = 0; r < kEspRoutes; ++r)
        router.exec(fmt::format("route 10.{}.0.0/16 via {}", r, plan::gateway4(r % plan::kGateways).str()));
    const ScaleTunnels tunnels =
        install_scale_tunnels(router, rng, setup, profile, local, peer, *Prefix::parse("10.0.0.0/8"));
    const ScaleTraffic tr = scale_traffic(rng);
    setup.routes = kEspRoutes;
    setup.frame_size = spec.frame_size;

    const auto t = Clock::now();
    const EspSizes sz = esp_sizes(spec.transform, spec.frame_size);
    FrameTemplates frames(std::max(sz.esp_frame, spec.frame_size));
    auto refresher = std::make_shared<ScaleGcmRefresher>(sz.esp_frame, tr.slot_of_frame);
    std::vector<test::EspOracleSa> sas;
    for (unsigned tunnel : tr.tunnel_of_slot) sas.push_back(tunnels.oracle(tunnel, true));
    struct Probe {
        std::vector<uint8_t> frame;
        uint32_t slot;
    };
    std::vector<Probe> probes;  // for the self-check below: the first frames and both frames of one tunnel
    const uint32_t probe_slot = tr.slot_of_frame[0];
    for (uint32_t f = 0; f < tr.slot_of_frame.size(); ++f) {
        const uint32_t slot = tr.slot_of_frame[f];
        const unsigned tunnel = tr.tunnel_of_slot[slot];
        const IpAddr dst = IpAddr::v4(0x0a000000u | (f % kEspRoutes) << 16 | (f / 8 % 256) << 8 | (1 + f % 250));
        std::vector<uint8_t> clear = build_udp_frame(clear_flow(f, IpAddr::v4(kScaleRemoteNet + tunnel), dst), spec.frame_size);
        std::vector<uint8_t> inner(clear.begin() + kEthernetBytes, clear.end());
        const std::vector<uint8_t> iv = {uint8_t(f >> 24), uint8_t(f >> 16), uint8_t(f >> 8), uint8_t(f),
                                         0xa5, uint8_t(tunnel >> 16), uint8_t(tunnel >> 8), uint8_t(tunnel)};
        const uint64_t low = 1 + uint64_t(tr.occurrence[f]) * kScaleSeqStep;
        std::vector<uint8_t> esp = test::esp_seal(sas[slot], low, iv, inner, 4);
        std::vector<uint8_t> frame = ipv4_frame(plan::port_mac(plan::kIngressPort), kPeerMac, peer, local, kIpprotoEsp, esp);
        if (frame.size() != sz.esp_frame)
            throw std::logic_error(fmt::format("ESP frame of {} bytes, expected {}", frame.size(), sz.esp_frame));
        if (tr.occurrence[f] == 0)
            refresher->add_slot(slot, sas[slot], low, iv, inner, std::span<const uint8_t>(esp).last(16));
        std::vector<uint8_t> out = clear;
        set_ipv4_ttl(out, kEthernetBytes, uint8_t(out[kEthernetBytes + 8] - 1));
        set_ethernet(out, plan::gateway_mac(f % kEspRoutes % plan::kGateways), plan::port_mac(plan::kEgressPort), 0x0800);
        if (f < 4 || slot == probe_slot) probes.push_back({frame, slot});
        frames.add(frame, std::move(out));
    }
    const double build_s = seconds_since(t);
    // The generator's ICVs must be the oracle's for the same full sequence numbers.
    for (uint32_t high : {1u, 2u, 77u, 1000u, 0x89abcdefu, 3u}) {
        for (const Probe& p : probes) {
            std::vector<uint8_t> copy = p.frame;
            const size_t f = size_t(std::find_if(tr.slot_of_frame.begin(), tr.slot_of_frame.end(),
                                                 [&](uint32_t s) { return s == p.slot; }) - tr.slot_of_frame.begin());
            refresher->refresh(copy.data(), f, high);
            std::vector<uint8_t> esp(p.frame.begin() + kEthernetBytes + kIpv4Bytes, p.frame.end());
            auto opened = test::esp_open(sas[p.slot], esp, 0);
            if (!opened) throw std::logic_error("ESP template does not open");
            std::vector<uint8_t> iv(esp.begin() + 8, esp.begin() + 16);
            std::vector<uint8_t> sealed = test::esp_seal(sas[p.slot], uint64_t(high) << 32 | be32_at(esp, 4), iv,
                                                         opened->inner, opened->next_header);
            if (!std::equal(copy.end() - 16, copy.end(), sealed.end() - 16))
                throw std::logic_error(fmt::format("refreshed ICV for high half {} is not the oracle's", high));
        }
    }
    frames.set_refresh([refresher](uint8_t* frame, size_t i, uint64_t pass) { refresher->refresh(frame, i, pass); });

    setup.notes.push_back(scale_description(spec, frames.size()));
    setup.notes.push_back(fmt::format(
        "ESP from {} into port0, inner packets (from the tunnel's own 172.16/12 /32) out of port1 checked byte for "
        "byte; per SA 64-packet replay window, every frame new to it: a tunnel's frames carry low halves 1 and {}, "
        "the generator's pass is the high half, ICVs recomputed per SA and pass (see esp_profiles.cpp); frames and "
        "per-SA tag masks built in {:.2f} s",
        peer.str(), 1 + kScaleSeqStep, build_s));
    setup.metrics.emplace_back("esp_encrypted_bytes", double(sz.encrypted));
    setup.metrics.emplace_back("esp_frame_bytes", double(sz.esp_frame + kFcsBytes));
    return frames;
}

FrameTemplates prepare_encrypt_scale(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup,
                                     const EspProfileSpec& spec, const std::string& profile) {
    const IpAddr local = IpAddr::v4(0xc6130001u), peer = plan::gateway4(0);  // 198.19.0.1 -> 198.19.0.2
    router.exec(fmt::format("route 172.16.0.0/12 via {}", peer.str()));
    const ScaleTunnels tunnels =
        install_scale_tunnels(router, rng, setup, profile, local, peer, *Prefix::parse("198.18.0.0/24"));
    const ScaleTraffic tr = scale_traffic(rng);
    setup.routes = 1;
    setup.frame_size = spec.frame_size;

    const EspSizes sz = esp_sizes(spec.transform, spec.frame_size);
    FrameTemplates frames(std::max(sz.esp_frame, spec.frame_size));
    auto sas = std::make_shared<std::vector<test::EspOracleSa>>();
    for (unsigned tunnel : tr.tunnel_of_slot) sas->push_back(tunnels.oracle(tunnel, false));
    auto clear = std::make_shared<std::vector<std::vector<uint8_t>>>();
    for (uint32_t f = 0; f < tr.slot_of_frame.size(); ++f) {
        const unsigned tunnel = tr.tunnel_of_slot[tr.slot_of_frame[f]];
        std::vector<uint8_t> frame =
            build_udp_frame(clear_flow(f, plan::sender4(f % 64), IpAddr::v4(kScaleRemoteNet + tunnel)), spec.frame_size);
        frames.add(frame);
        std::vector<uint8_t> inner(frame.begin() + kEthernetBytes, frame.end());
        set_ipv4_ttl(inner, 0, uint8_t(inner[8] - 1));
        clear->push_back(std::move(inner));
    }
    const MacAddr peer_mac = plan::gateway_mac(0);
    auto slot_of = std::make_shared<std::vector<uint32_t>>(tr.slot_of_frame);
    frames.set_output_check([sas, slot_of, clear, peer_mac, local, peer, sz](size_t i, std::span<const uint8_t> got) -> std::string {
        if (got.size() != sz.esp_frame) return fmt::format("{} bytes, expected an ESP frame of {}", got.size(), sz.esp_frame);
        if (!std::equal(peer_mac.bytes.begin(), peer_mac.bytes.end(), got.begin()) || got[12] != 0x08 || got[13] != 0)
            return "not an IPv4 frame to the peer's MAC";
        const uint8_t* ip = got.data() + kEthernetBytes;
        if (ip[0] != 0x45 || ip[9] != kIpprotoEsp || std::memcmp(ip + 12, local.bytes.data(), 4) != 0 ||
            std::memcmp(ip + 16, peer.bytes.data(), 4) != 0)
            return "outer header is not IPv4 ESP from the tunnel's local to its remote address";
        const test::EspOracleSa& sa = (*sas)[(*slot_of)[i]];
        std::vector<uint8_t> esp(got.begin() + kEthernetBytes + kIpv4Bytes, got.end());
        if (be32_at(esp, 0) != sa.spi) return fmt::format("SPI {:#x}, expected the tunnel's {:#x}", be32_at(esp, 0), sa.spi);
        auto opened = test::esp_open(sa, esp, 0);
        if (!opened) return fmt::format("ESP (sequence number {}) does not open with the oracle", be32_at(esp, 4));
        if (opened->next_header != 4) return fmt::format("next header {}", opened->next_header);
        if (opened->inner != (*clear)[i]) return "the decrypted inner packet is not the one sent (TTL - 1)";
        return {};
    });
    setup.notes.push_back(scale_description(spec, frames.size()));
    setup.notes.push_back(fmt::format("port0 protected (198.18.0.0/24 -> the tunnels' /32s in 172.16.0.0/12), "
                                      "ESP out of port1 to {}; before measuring every output opened with the OpenSSL "
                                      "oracle under its tunnel's outbound SA",
                                      peer.str()));
    setup.metrics.emplace_back("esp_encrypted_bytes", double(sz.encrypted));
    setup.metrics.emplace_back("esp_frame_bytes", double(sz.esp_frame + kFcsBytes));
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

FrameTemplates prepare_esp_scale(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup,
                                 const EspProfileSpec& spec) {
    if (spec.transform != EspTransform::gcm128) throw std::logic_error("the scale profiles are AES-GCM-128 only");
    const std::string name = fmt::format("esp-{}-gcm128-100k-sas-{}", spec.decrypt ? "dec" : "enc", spec.frame_size);
    return spec.decrypt ? prepare_decrypt_scale(router, rng, setup, spec, name)
                        : prepare_encrypt_scale(router, rng, setup, spec, name);
}

namespace {

const Profile kEspProfiles[] = {
#define RAMPART_ESP_PROFILE(dir, decrypt, algo, transform, what, size)                                            \
    {"esp-" #dir "-" #algo "-" #size,                                                                               \
     (decrypt ? "ESP tunnel decrypt, " what ", " #size "-byte clear frames inside, 512 flows"                        \
              : "ESP tunnel encrypt, " what ", " #size "-byte clear frames, 512 flows"),                             \
     TableSizes{},                                                                                                  \
     [](BenchRouter& router, std::mt19937_64&, ProfileSetup& setup) {                                              \
         return prepare_esp(router, setup, EspProfileSpec{EspTransform::transform, decrypt, size});                \
     },                                                                                                             \
     PortRoles{},                                                                                                   \
     EspProfileSpec{EspTransform::transform, decrypt, size}}
#define RAMPART_ESP_SIZES(dir, decrypt, algo, transform, what)                                                     \
    RAMPART_ESP_PROFILE(dir, decrypt, algo, transform, what, 64),                                                  \
    RAMPART_ESP_PROFILE(dir, decrypt, algo, transform, what, 512),                                                 \
    RAMPART_ESP_PROFILE(dir, decrypt, algo, transform, what, 1420)
    RAMPART_ESP_SIZES(enc, false, gcm128, gcm128, "AES-GCM-128"),
    RAMPART_ESP_SIZES(dec, true, gcm128, gcm128, "AES-GCM-128"),
    RAMPART_ESP_SIZES(enc, false, cbc128sha256, cbc128_sha256, "AES-CBC-128 + HMAC-SHA-256-128"),
    RAMPART_ESP_SIZES(dec, true, cbc128sha256, cbc128_sha256, "AES-CBC-128 + HMAC-SHA-256-128"),
#define RAMPART_ESP_SCALE_PROFILE(dir, decrypt, size)                                                             \
    {"esp-" #dir "-gcm128-100k-sas-" #size,                                                                         \
     (decrypt ? "ESP tunnel decrypt, AES-GCM-128, " #size "-byte clear frames inside, 100,000 SAs installed "        \
                "(50,000 pairs), traffic over 16384 random tunnels/SPIs"                                            \
              : "ESP tunnel encrypt, AES-GCM-128, " #size "-byte clear frames, 100,000 SAs installed (50,000 "       \
                "pairs, 50,000 SPD entries), traffic over 16384 random tunnels"),                                    \
     TableSizes{},                                                                                                  \
     [](BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup) {                                          \
         return prepare_esp_scale(router, rng, setup, EspProfileSpec{EspTransform::gcm128, decrypt, size});        \
     },                                                                                                             \
     PortRoles{},                                                                                                   \
     EspProfileSpec{EspTransform::gcm128, decrypt, size}}
    RAMPART_ESP_SCALE_PROFILE(enc, false, 64),
    RAMPART_ESP_SCALE_PROFILE(enc, false, 1420),
    RAMPART_ESP_SCALE_PROFILE(dec, true, 64),
    RAMPART_ESP_SCALE_PROFILE(dec, true, 1420),
#undef RAMPART_ESP_SCALE_PROFILE
#undef RAMPART_ESP_SIZES
#undef RAMPART_ESP_PROFILE
};

RAMPART_BENCH_PROFILES(esp, 20, kEspProfiles);

}  // namespace

}  // namespace rampart::bench
