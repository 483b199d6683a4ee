// sav-scale: the SAV compiler and table at Internet scale (not a timed test).
// Writes an MRT TABLE_DUMP_V2 file of N IPv4 + M IPv6 routes spread over a
// provider, a lateral peer and customers, plus ROAs and ASPAs; loads it,
// compiles (every interface on a realistic mechanism), builds the data-plane
// table, then measures incremental updates. Prints times and memory.
//
//   sav-scale [--v4 1000000] [--v6 200000] [--dir /tmp] [--keep] [--seed 1]
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <unordered_set>

#include <fmt/format.h>

#include "sav/mrt.hpp"
#include "sav/rules.hpp"
#include "sav/table.hpp"

using namespace rampart;
using namespace rampart::sav;

namespace {

// Wall time and this process's CPU time: the machine may be shared, and the
// CPU time is what the work itself costs.
struct Stamp {
    std::chrono::steady_clock::time_point wall;
    double cpu;
    static Stamp now() {
        timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return {std::chrono::steady_clock::now(), double(ts.tv_sec) + double(ts.tv_nsec) / 1e9};
    }
};
struct Clock {
    static Stamp now() { return Stamp::now(); }
};
std::string seconds_since(const Stamp& t) {
    const Stamp n = Stamp::now();
    return fmt::format("{:8.4f} s (cpu {:.4f} s)", std::chrono::duration<double>(n.wall - t.wall).count(), n.cpu - t.cpu);
}

// Resident and peak memory of the process, from the kernel.
std::string process_memory() {
    std::ifstream f("/proc/self/status");
    std::string line, rss = "?", hwm = "?";
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) rss = line.substr(6);
        if (line.rfind("VmHWM:", 0) == 0) hwm = line.substr(6);
    }
    auto trim = [](std::string s) { return s.erase(0, s.find_first_not_of(" \t")); };
    return fmt::format("RSS {}, peak {}", trim(rss), trim(hwm));
}

size_t dpdk_heap_bytes() {
    rte_malloc_socket_stats st{};
    if (rte_malloc_get_socket_stats(0, &st) != 0) return 0;
    return st.heap_allocsz_bytes;
}

// The number of tbl8 groups the LPMs need: one per distinct address byte
// string below each 8-bit level that a longer rule reaches (DIR-24-8 for
// IPv4: only below /24; the IPv6 trie: below /24, /32, ..., /120).
uint32_t tbl8s_needed(const std::vector<SavRule>& rules, Family f) {
    std::set<std::pair<unsigned, std::array<uint8_t, 16>>> groups;
    for (const SavRule& r : rules) {
        if (r.prefix.addr.family != f) continue;
        for (unsigned level = 24; level < r.prefix.len; level += 8) {
            std::array<uint8_t, 16> key{};
            std::memcpy(key.data(), r.prefix.addr.bytes.data(), level / 8);
            groups.emplace(level, key);
            if (f == Family::v4) break;
        }
    }
    return uint32_t(groups.size());
}

struct Options {
    size_t v4 = 1000000, v6 = 200000;
    std::string dir = "/tmp";
    bool keep = false;
    unsigned seed = 1;
};

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--v4") o.v4 = std::stoul(value());
        else if (a == "--v6") o.v6 = std::stoul(value());
        else if (a == "--dir") o.dir = value();
        else if (a == "--seed") o.seed = unsigned(std::stoul(value()));
        else if (a == "--keep") o.keep = true;
        else throw std::invalid_argument("unknown option " + a);
    }
    return o;
}

// Interfaces: 0 provider, 1 lateral peer, 2..5 customers.
constexpr Asn kLocal = 64500, kProvider = 64600, kPeer = 64700, kCustomer0 = 64800;
constexpr unsigned kCustomers = 4, kOrigins = 60000;

struct Generated {
    std::vector<MrtPeer> peers;
    std::vector<Roa> roas;
    std::vector<Aspa> aspas;
};

// Origin ASes 100000.. ; the first 2% sit in the customer cones (ASPA names
// a customer as provider), the rest are reached through provider or peer.
Asn origin_asn(unsigned i) { return 100000 + i; }

Generated write_mrt(const Options& o, const std::string& path) {
    std::mt19937_64 rng(o.seed);
    Generated g;
    g.peers.push_back({1, IpAddr::v4(0xc0000201), kProvider});
    g.peers.push_back({2, IpAddr::v4(0xc0000202), kPeer});
    for (unsigned c = 0; c < kCustomers; ++c) g.peers.push_back({3 + c, IpAddr::v4(0xc0000203 + c), kCustomer0 + c});
    MrtWriter w;
    w.peer_index_table(0x0a000001, "sav-scale", g.peers);

    const unsigned cone_origins = kOrigins / 50;
    // Which neighbour carries a route of this origin, and its AS path.
    auto route_for = [&](const Prefix& p, unsigned oi) {
        MrtRibRoute r;
        r.route.prefix = p;
        const Asn origin = origin_asn(oi);
        if (oi < cone_origins) {
            const unsigned c = oi % kCustomers;
            r.peer_index = uint16_t(2 + c);
            r.route.as_path.push_back({false, {kCustomer0 + c, origin}});
        } else if (oi % 10 == 0) {
            r.peer_index = 1;
            r.route.as_path.push_back({false, {kPeer, origin}});
        } else {
            r.peer_index = 0;
            r.route.as_path.push_back({false, {kProvider, Asn(3000 + rng() % 500), origin}});
        }
        if (rng() % 50 == 0) r.route.communities.push_back(kCommunityNoExport);
        return r;
    };
    uint32_t seq = 0;
    std::unordered_set<uint64_t> seen4;
    while (seen4.size() < o.v4) {
        const unsigned roll = unsigned(rng() % 100);
        const uint8_t len = roll < 60 ? 24 : roll < 80 ? uint8_t(22 + rng() % 2) : uint8_t(16 + rng() % 6);
        uint32_t a = uint32_t(rng()) & (len ? ~uint32_t(0) << (32 - len) : 0);
        if ((a >> 24) == 0 || (a >> 24) >= 224 || (a >> 24) == 127) continue;
        if (!seen4.insert(uint64_t(a) << 8 | len).second) continue;
        const Prefix p{IpAddr::v4(a), len};
        const unsigned oi = unsigned(rng() % kOrigins);
        w.rib(seq++, p, {route_for(p, oi)});
        if (rng() % 10 < 4) g.roas.push_back({p, len, origin_asn(oi)});
    }
    // IPv6: allocations /32 under 2a00::/12, more specifics inside them.
    std::set<std::pair<std::array<uint8_t, 16>, uint8_t>> seen6;
    std::vector<std::array<uint8_t, 16>> allocations(std::max<size_t>(1, o.v6 / 8));
    for (auto& a : allocations) {
        a = {};
        a[0] = 0x2a;
        a[1] = uint8_t(rng() & 0x0f);
        a[2] = uint8_t(rng());
        a[3] = uint8_t(rng());
    }
    while (seen6.size() < o.v6) {
        std::array<uint8_t, 16> b = allocations[rng() % allocations.size()];
        const unsigned roll = unsigned(rng() % 100);
        const uint8_t len = roll < 25 ? 32 : roll < 45 ? uint8_t(36 + 4 * (rng() % 3)) : 48;
        for (unsigned i = 4; i < 6; ++i) b[i] = uint8_t(rng());
        Prefix p;
        p.addr = IpAddr::v6(b.data());
        p.len = len;
        p = p.network();
        std::array<uint8_t, 16> key;
        std::memcpy(key.data(), p.addr.bytes.data(), 16);
        if (!seen6.emplace(key, len).second) continue;
        const unsigned oi = unsigned(rng() % kOrigins);
        w.rib(seq++, p, {route_for(p, oi)});
        if (rng() % 10 < 4) g.roas.push_back({p, len, origin_asn(oi)});
    }
    // ASPA: every cone origin names its customer interface's AS; a tenth
    // of the others name transit ASes.
    for (unsigned oi = 0; oi < kOrigins; ++oi) {
        if (oi < cone_origins)
            g.aspas.push_back({origin_asn(oi), {kCustomer0 + oi % kCustomers}});
        else if (oi % 10 == 1)
            g.aspas.push_back({origin_asn(oi), {Asn(3000 + oi % 500)}});
    }
    for (unsigned c = 0; c < kCustomers; ++c) g.aspas.push_back({kCustomer0 + c, {kLocal}});
    g.aspas.push_back({kLocal, {kProvider}});
    w.write_file(path);
    return g;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    try {
        o = parse_options(argc, argv);
    } catch (const std::exception& e) {
        fprintf(stderr, "sav-scale: %s\nusage: sav-scale [--v4 N] [--v6 N] [--dir DIR] [--keep] [--seed N]\n", e.what());
        return 2;
    }
    const std::string prefix = "--file-prefix=rp-sav-scale-" + std::to_string(getpid());
    const char* eal[] = {"sav-scale", "--no-huge", "--no-pci", "-m", "4096", "-l", "0", "--log-level=error",
                         "--no-telemetry", prefix.c_str()};
    if (rte_eal_init(int(std::size(eal)), const_cast<char**>(eal)) < 0) {
        fprintf(stderr, "sav-scale: EAL init failed\n");
        return 1;
    }
    int rc = 0;
    try {
        const std::string path = fmt::format("{}/sav-scale-{}.mrt", o.dir, getpid());
        auto t = Clock::now();
        const Generated g = write_mrt(o, path);
        std::ifstream sz(path, std::ios::binary | std::ios::ate);
        fmt::print("write MRT        {}  {} IPv4 + {} IPv6 routes, {:.1f} MB, {} ROAs, {} ASPAs\n", seconds_since(t),
                   o.v4, o.v6, double(sz.tellg()) / 1e6, g.roas.size(), g.aspas.size());

        t = Clock::now();
        const MrtDump dump = load_mrt_file(path);
        fmt::print("parse MRT        {}  {} records  ({})\n", seconds_since(t), dump.records, process_memory());
        if (!o.keep) std::remove(path.c_str());

        RuleCompiler compiler(kLocal);
        compiler.set_interface({0, "provider", Role::provider, Mechanism::bar_sav, kProvider});
        compiler.set_interface({1, "peer", Role::lateral_peer, Mechanism::bar_sav, kPeer});
        for (unsigned c = 0; c < kCustomers; ++c)
            compiler.set_interface({uint16_t(2 + c), fmt::format("customer{}", c), Role::customer,
                                    c % 2 ? Mechanism::efp_urpf_a : Mechanism::bar_sav, kCustomer0 + c});
        t = Clock::now();
        feed_mrt(compiler, dump, [&](const MrtPeer& p) -> std::optional<uint16_t> {
            for (size_t i = 0; i < g.peers.size(); ++i)
                if (g.peers[i].asn == p.asn) return uint16_t(i);
            return std::nullopt;
        });
        // The FIB: every route's prefix leaves through the interface it came in on.
        for (const MrtRibRoute& r : dump.rib) {
            InterfaceSet e;
            e.add(r.peer_index);
            compiler.set_fib_route(r.route.prefix, e);
        }
        compiler.set_roas(g.roas);
        compiler.set_aspas(g.aspas);
        const std::string feed_s = seconds_since(t);
        t = Clock::now();
        const size_t evaluated = compiler.recompute();
        const std::string compile_s = seconds_since(t);
        compiler.take_changes();
        fmt::print("feed compiler    {}  {} routes\n", feed_s, compiler.route_count());
        fmt::print("compile          {}  {} prefixes evaluated  ({})\n", compile_s, evaluated, process_memory());

        auto v4 = compiler.rules(Family::v4), v6 = compiler.rules(Family::v6);
        SavTableSizes sizes;
        sizes.v4_max_routes = uint32_t(v4.size() + v4.size() / 8 + 1024);
        sizes.v4_tbl8s = tbl8s_needed(v4, Family::v4) * 5 / 4 + 256;
        sizes.v6_max_routes = uint32_t(v6.size() + v6.size() / 8 + 1024);
        sizes.v6_tbl8s = tbl8s_needed(v6, Family::v6) * 5 / 4 + 256;
        const size_t qsbr_size = rte_rcu_qsbr_get_memsize(1);
        auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("sav_scale_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
        if (!qsbr || rte_rcu_qsbr_init(qsbr, 1) != 0) throw std::runtime_error("cannot create the RCU state");
        const size_t heap_before = dpdk_heap_bytes();
        {
            SavTablePublisher pub(qsbr, sizes, SOCKET_ID_ANY);
            const size_t heap_one_table = dpdk_heap_bytes() - heap_before;
            std::vector<SavRule> all = v4;
            all.insert(all.end(), v6.begin(), v6.end());
            t = Clock::now();
            pub.publish_all(all);
            fmt::print("build table      {}  {} IPv4 + {} IPv6 rules, {} interface sets, tbl8 groups {} + {}\n",
                       seconds_since(t), v4.size(), v6.size(), pub.set_count(), sizes.v4_tbl8s, sizes.v6_tbl8s);
            fmt::print("memory           table {:.0f} MB of DPDK heap (both copies; as the publisher measured it: {:.0f} MB), "
                       "heap now {:.0f} MB, process {}\n",
                       double(heap_one_table) / 1e6, double(pub.memory_bytes()) / 1e6,
                       double(dpdk_heap_bytes() - heap_before) / 1e6, process_memory());

            // Incremental: a customer announces a new more specific; the
            // provider withdraws a route; a new ASPA puts an origin into a cone.
            struct Step {
                const char* what;
                std::function<void()> change;
            };
            const MrtRibRoute& some_provider_route =
                *std::find_if(dump.rib.begin(), dump.rib.end(), [](const MrtRibRoute& r) { return r.peer_index == 0; });
            Route fresh;
            fresh.prefix = Prefix{IpAddr::v4(0x64400000), 24};  // 100.64.0.0/24
            fresh.as_path.push_back({false, {kCustomer0, origin_asn(0)}});
            std::vector<Aspa> aspas = g.aspas;
            // An origin so far reached only through the provider (no ASPA of
            // its own) declares customer2 (BAR-SAV) as its provider.
            aspas.push_back({origin_asn(kOrigins - 3), {kCustomer0 + 2}});
            const Step steps[] = {
                {"customer announces a /24", [&] { compiler.announce(2, fresh); }},
                {"provider withdraws a route", [&] { compiler.withdraw(0, some_provider_route.route.prefix); }},
                {"one ASPA added (origin joins a cone)", [&] { compiler.set_aspas(aspas); }},
            };
            for (const Step& s : steps) {
                t = Clock::now();
                s.change();
                const size_t n = compiler.recompute();
                const auto changes = compiler.take_changes();
                const std::string compile_inc = seconds_since(t);
                t = Clock::now();
                const int arc = pub.apply(changes);
                if (arc != 0) throw std::runtime_error(fmt::format("apply failed: {}", arc));
                fmt::print("incremental      compile {} ({} prefixes evaluated, {} rule changes) + table {}: {}\n",
                           compile_inc, n, changes.size(), seconds_since(t), s.what);
            }
            const SavVerdict v = sav_check(*pub.current(), fresh.prefix.addr, 2);
            fmt::print("check            100.64.0.1 on customer0: {}\n", to_string(v));
            if (v != SavVerdict::allowed) rc = 1;
        }
        rte_free(qsbr);
    } catch (const std::exception& e) {
        fprintf(stderr, "sav-scale: %s\n", e.what());
        rc = 1;
    }
    rte_eal_cleanup();
    return rc;
}
