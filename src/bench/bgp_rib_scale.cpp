// bgp-rib-scale: how fast and how big the BGP RIB (slowpath/bgp/rib.hpp) is
// with a full table, without sockets or codec: the RIB alone, fed decoded
// UPDATEs. Prints, per step, the time and the heap it took:
//   1. one eBGP peer announces N IPv4 prefixes (an Internet-like mix of
//      prefix lengths, AS paths of 2-7 ASNs, ~3 prefixes per attribute set),
//      until the Loc-RIB and the FIB change list hold them all;
//   2. peers 2..P announce the same prefixes with their own paths (the
//      "extra paths" BIRD's ~120 B and FRR's ~450 B per path compare with);
//   3. one peer withdraws everything; then every peer goes down.
// Not a test: nothing is asserted; the numbers are for the table
// (BIRD 2 loads 10 x ~1M in 37 s, FRR in 73 s, bgperf2 2026).
//
//   bgp-rib-scale [--prefixes N] [--peers P]
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "slowpath/bgp/policy.hpp"
#include "slowpath/bgp/rib.hpp"

using namespace rampart;
using namespace rampart::bgp;

namespace {

constexpr Asn kLocalAs = 64512;

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

size_t heap_in_use() { return mallinfo2().uordblks + mallinfo2().hblkhd; }

// N distinct IPv4 prefixes, lengths drawn like a 2026 full table (about
// 60% /24, then /22, /23, /20, /21 ... down to /8).
std::vector<Prefix> make_prefixes(size_t n, std::mt19937_64& rng) {
    struct Share {
        uint8_t len;
        double weight;
    };
    constexpr Share kShares[] = {{24, 60}, {23, 8}, {22, 11}, {21, 5}, {20, 5}, {19, 4}, {18, 2}, {17, 1.5},
                                 {16, 2.5}, {15, 0.3}, {14, 0.3}, {13, 0.2}, {12, 0.1}, {11, 0.05}, {10, 0.03}, {8, 0.02}};
    std::vector<double> w;
    for (auto& s : kShares) w.push_back(s.weight);
    std::discrete_distribution<size_t> pick(w.begin(), w.end());
    std::uniform_int_distribution<uint32_t> addr(0x01000000u, 0xdfffffffu);
    std::unordered_set<uint64_t> seen;
    seen.reserve(n * 2);
    std::vector<Prefix> out;
    out.reserve(n);
    while (out.size() < n) {
        const uint8_t len = kShares[pick(rng)].len;
        const uint32_t a = addr(rng) & (len == 0 ? 0 : ~uint32_t(0) << (32 - len));
        if (!seen.insert(uint64_t(a) << 8 | len).second) continue;
        out.push_back(Prefix{IpAddr::v4(a), len});
    }
    return out;
}

// The UPDATEs one peer sends for `prefixes`: groups of 1-8 prefixes (about 3
// on average) share an attribute set with a path starting at the peer's AS.
std::vector<Update> make_updates(const std::vector<Prefix>& prefixes, Asn peer_as, const IpAddr& next_hop,
                                 std::mt19937_64& rng) {
    std::geometric_distribution<int> group(0.33);
    std::uniform_int_distribution<int> hops(1, 6);
    std::uniform_int_distribution<Asn> asn(1, 400000);
    std::uniform_int_distribution<int> ncomm(0, 3);
    std::vector<Update> out;
    size_t i = 0;
    while (i < prefixes.size()) {
        Update u;
        u.attributes.origin = Origin::igp;
        u.attributes.next_hop = next_hop;
        AsPathSegment seg{AsPathSegment::Kind::sequence, {peer_as}};
        for (int h = hops(rng); h > 0; --h) seg.asns.push_back(asn(rng));
        u.attributes.as_path = {std::move(seg)};
        for (int c = ncomm(rng); c > 0; --c) u.attributes.communities.push_back(peer_as << 16 | uint32_t(asn(rng) & 0xffff));
        Update::FamilyRoutes fr{kIpv4Unicast, {}, {}};
        const size_t n = std::min<size_t>(prefixes.size() - i, size_t(1 + std::min(group(rng), 7)));
        for (size_t k = 0; k < n; ++k) fr.announced.push_back(Nlri{prefixes[i++], 0, {}, {}});
        u.families.push_back(std::move(fr));
        out.push_back(std::move(u));
    }
    return out;
}

PeerInfo peer(PeerId id) {
    PeerInfo p;
    p.id = id;
    p.address = IpAddr::v4(0xc0000200u + id);  // 192.0.2.x
    p.local_address = IpAddr::v4(0xc0000201u);
    p.peer_as = 65000 + id;
    p.local_as = kLocalAs;
    p.peer_bgp_id = 0x0a000000u + id;
    p.families = {kIpv4Unicast};
    p.import_policy = "accept";  // eBGP needs one (RFC 8212)
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    size_t n_prefixes = 1000000;
    unsigned n_peers = 10;
    bool monitor = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--prefixes") && i + 1 < argc) n_prefixes = std::strtoull(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--peers") && i + 1 < argc) n_peers = unsigned(std::strtoul(argv[++i], nullptr, 10));
        else if (!std::strcmp(argv[i], "--monitor")) monitor = true;
        else {
            std::fprintf(stderr, "usage: %s [--prefixes N] [--peers P] [--monitor]\n", argv[0]);
            return 2;
        }
    }
    std::mt19937_64 rng(20261208);
    const std::vector<Prefix> prefixes = make_prefixes(n_prefixes, rng);

    BgpPolicyConfig pc;
    PolicyTerm accept;
    accept.disposition = PolicyTerm::Disposition::accept;
    pc.policies["accept"].terms[10] = accept;
    Policies policies(pc);
    Rib rib(kLocalAs, 0x0a0000ffu);
    rib.set_policies(&policies);

    std::printf("bgp-rib-scale: %zu IPv4 prefixes, %u peers%s\n", n_prefixes, n_peers,
                monitor ? ", an iBGP monitor peer sent every best-path change" : "");
    constexpr PeerId kMonitor = 1000;
    if (monitor) {  // bgperf's monitor: an iBGP session that receives the Loc-RIB
        PeerInfo m = peer(kMonitor);
        m.peer_as = kLocalAs;
        m.import_policy.clear();
        rib.peer_up(m);
    }
    size_t rib_bytes = 0;  // what the RIB grew by, the inputs left out
    double total = 0;
    for (unsigned id = 1; id <= n_peers; ++id) {
        std::vector<Update> updates = make_updates(prefixes, 65000 + id, IpAddr::v4(0xc0000200u + id), rng);
        const size_t before = heap_in_use();
        rib.peer_up(peer(id));
        auto t = std::chrono::steady_clock::now();
        for (const Update& u : updates) rib.apply(id, u);
        const double apply_s = seconds_since(t);
        const size_t fib = rib.take_fib_changes().size();
        const size_t loc = rib.loc_rib_size(kIpv4Unicast);
        const double s = seconds_since(t);
        total += s;
        if (monitor) {
            auto t0 = std::chrono::steady_clock::now();
            size_t messages = 0, routes = 0;
            for (const Update& u : rib.take_updates(kMonitor)) {
                ++messages;
                for (auto& fr : u.families) routes += fr.announced.size() + fr.withdrawn.size();
            }
            std::printf("         monitor: %zu UPDATEs (%zu routes) built in %.2f s\n", messages, routes, seconds_since(t0));
        }
        const size_t grown = heap_in_use() - before;
        rib_bytes += grown;
        const Rib::Stats st = rib.stats();
        std::printf("peer %2u: %zu UPDATEs in %.2f s (apply %.2f s, %.0f prefixes/s); Loc-RIB %zu, FIB changes %zu; "
                    "+%.1f MB = %.0f B per %s path; attribute sets %zu\n",
                    id, updates.size(), s, apply_s, n_prefixes / s, loc, fib, grown / 1e6,
                    double(grown) / double(n_prefixes), id == 1 ? "first" : "extra", st.attribute_sets);
    }
    const Rib::Stats st = rib.stats();
    std::printf("total: %u x %zu paths in %.2f s; %zu paths, %zu destinations, %zu attribute sets, %.0f B per path overall\n",
                n_peers, n_prefixes, total, st.paths, st.destinations, st.attribute_sets,
                double(rib_bytes) / double(st.paths ? st.paths : 1));

    // Withdraw-all from one peer (the others' paths take over), then every peer down.
    {
        Update w;
        Update::FamilyRoutes fr{kIpv4Unicast, {}, {}};
        for (const Prefix& p : prefixes) fr.withdrawn.push_back(Nlri{p, 0, {}, {}});
        w.families.push_back(std::move(fr));
        auto t = std::chrono::steady_clock::now();
        rib.apply(1, w);
        const size_t fib = rib.take_fib_changes().size();
        std::printf("peer 1 withdraws all: %.2f s, %zu FIB changes\n", seconds_since(t), fib);
    }
    auto t = std::chrono::steady_clock::now();
    for (unsigned id = 1; id <= n_peers; ++id) rib.peer_down(id, false);
    const size_t fib = rib.take_fib_changes().size();
    std::printf("all peers down: %.2f s, %zu FIB changes, Loc-RIB %zu\n", seconds_since(t), fib,
                rib.loc_rib_size(kIpv4Unicast));
    return 0;
}
