// Randomized checks against simple references:
//  - the data-plane table (rte_fib/rte_fib6 + interned sets) against a linear
//    longest-prefix scan, after a full publish and after incremental applies;
//  - the incremental compiler against a compiler fed the same inputs from
//    scratch, and its change stream against its own rule list.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <atomic>
#include <random>
#include <thread>

#include "tests/unit/sav_fixture.hpp"

using namespace rampart;
using namespace rampart::sav;
using namespace rampart::sav::test;

namespace {

// Addresses cluster in a few regions so that prefixes nest and overlap.
IpAddr random_addr(std::mt19937_64& rng, Family f) {
    IpAddr a;
    a.family = f;
    const unsigned n = f == Family::v4 ? 4 : 16;
    for (unsigned i = 0; i < n; ++i) a.bytes[i] = uint8_t(rng());
    a.bytes[0] = f == Family::v4 ? uint8_t(10 + rng() % 3) : 0x20;
    if (f == Family::v6) a.bytes[1] = uint8_t(rng() % 3);
    if (rng() % 2) a.bytes[1 + (f == Family::v6)] = uint8_t(rng() % 4);
    return a;
}

Prefix random_prefix(std::mt19937_64& rng, Family f) {
    const unsigned max = f == Family::v4 ? 32 : 128;
    // Mostly around the DIR-24-8 / trie level boundaries, where tables break.
    static const unsigned v4_lens[] = {0, 1, 8, 12, 16, 20, 23, 24, 25, 28, 31, 32};
    static const unsigned v6_lens[] = {0, 3, 16, 24, 25, 32, 40, 47, 48, 56, 64, 96, 127, 128};
    unsigned len = rng() % 4 == 0 ? unsigned(rng() % (max + 1))
                   : f == Family::v4 ? v4_lens[rng() % std::size(v4_lens)]
                                     : v6_lens[rng() % std::size(v6_lens)];
    return Prefix{random_addr(rng, f), uint8_t(len)}.network();
}

SavVerdict reference_verdict(const std::map<Prefix, SavRule>& rules, const IpAddr& a, uint16_t ingress) {
    const SavRule* best = nullptr;
    for (auto& [p, r] : rules)  // linear scan on purpose
        if (p.contains(a) && (!best || p.len > best->prefix.len)) best = &r;
    if (!best) return SavVerdict::no_rule;
    if (best->allowed.has(ingress)) return SavVerdict::allowed;
    return best->no_rule ? SavVerdict::no_rule : SavVerdict::wrong_interface;
}

}  // namespace

TEST_CASE("SAV table agrees with a linear longest-prefix scan", "[sav][table][random]") {
    Qsbr qsbr;
    std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
    std::vector<InterfaceSet> pool;
    for (int i = 0; i < 12; ++i) {
        InterfaceSet s;
        for (int k = 0, n = int(rng() % 5); k < n; ++k) s.add(unsigned(rng() % 256));
        pool.push_back(s);
    }
    std::map<Prefix, SavRule> reference;
    for (int i = 0; i < 600; ++i) {
        const Family f = i % 3 ? Family::v4 : Family::v6;
        const Prefix p = random_prefix(rng, f);
        reference[p] = {p, pool[rng() % pool.size()], rng() % 10 == 0};
    }
    SavTablePublisher pub(qsbr.v, SavTableSizes{}, SOCKET_ID_ANY);
    std::vector<SavRule> all;
    for (auto& [p, r] : reference) all.push_back(r);
    pub.publish_all(all);

    auto check_many = [&](int n) {
        for (int i = 0; i < n; ++i) {
            const Family f = i % 2 ? Family::v4 : Family::v6;
            IpAddr a = random_addr(rng, f);
            if (rng() % 2 && !reference.empty()) {  // often inside an existing rule, at its edges
                auto it = reference.begin();
                std::advance(it, rng() % reference.size());
                if (it->first.addr.family == f) {
                    a = it->first.addr;
                    if (rng() % 2) {
                        const unsigned host_bits = a.bits() - it->first.len;
                        for (unsigned b = 0; b < host_bits; ++b) {
                            const unsigned bit = a.bits() - 1 - b;
                            a.bytes[bit / 8] |= uint8_t(0x80 >> (bit % 8));
                        }
                    }
                }
            }
            const uint16_t ingress = rng() % 3 ? uint16_t(rng() % 256) : uint16_t(rng() % 8);
            const SavVerdict want = reference_verdict(reference, a, ingress);
            const SavVerdict got = sav_check(*pub.current(), a, ingress);
            if (got != want) {
                FAIL(fmt::format("{} on if {}: table says {}, reference {}", a.str(), ingress, to_string(got),
                                 to_string(want)));
            }
        }
    };
    check_many(20000);

    // The burst variants agree with the single lookups.
    for (int burst = 0; burst < 200; ++burst) {
        constexpr unsigned kMax = 2 * kSavMaxBurst + 7;  // more than one bulk lookup
        uint32_t v4[kMax];
        uint8_t v6[kMax][16];
        uint16_t ingress[kMax];
        SavVerdict out4[kMax], out6[kMax];
        const unsigned n = 1 + unsigned(rng() % kMax);
        for (unsigned i = 0; i < n; ++i) {
            v4[i] = random_addr(rng, Family::v4).v4_host();
            const IpAddr a6 = random_addr(rng, Family::v6);
            std::memcpy(v6[i], a6.bytes.data(), 16);
            ingress[i] = uint16_t(rng() % 256);
        }
        sav_check4_bulk(*pub.current(), v4, ingress, out4, n);
        sav_check6_bulk(*pub.current(), v6, ingress, out6, n);
        for (unsigned i = 0; i < n; ++i) {
            REQUIRE(out4[i] == sav_check4(*pub.current(), v4[i], ingress[i]));
            REQUIRE(out6[i] == sav_check6(*pub.current(), v6[i], ingress[i]));
        }
    }

    // Incremental: add, replace and remove rules through apply().
    for (int round = 0; round < 20; ++round) {
        std::vector<SavRuleChange> changes;
        for (int k = 0; k < 30; ++k) {
            if (rng() % 3 == 0 && !reference.empty()) {
                auto it = reference.begin();
                std::advance(it, rng() % reference.size());
                changes.push_back({it->first, true, {}, false});
                reference.erase(it);
            } else {
                const Prefix p = random_prefix(rng, rng() % 2 ? Family::v4 : Family::v6);
                SavRule r{p, pool[rng() % pool.size()], rng() % 10 == 0};
                reference[p] = r;
                changes.push_back({p, false, r.allowed, r.no_rule});
            }
        }
        REQUIRE(pub.apply(changes) == 0);
        check_many(2000);
    }
    CHECK(pub.set_count() <= pool.size() * 2 + 1);
}

TEST_CASE("SAV verdict function: bit per interface, no_rule vs wrong_interface", "[sav][table]") {
    Qsbr qsbr;
    SavTablePublisher pub(qsbr.v, SavTableSizes{}, SOCKET_ID_ANY);
    const SavTable& empty = *pub.current();
    CHECK(sav_check(empty, addr("192.0.2.1"), 3) == SavVerdict::no_rule);
    CHECK(sav_check(empty, addr("2001:db8::1"), 3) == SavVerdict::no_rule);
    pub.publish_all({{pfx("0.0.0.0/0"), ifset({0, 255}), true},
                     {pfx("192.0.2.0/24"), ifset({3, 64, 130}), false},
                     {pfx("2001:db8::/32"), ifset({63}), false}});
    const SavTable& t = *pub.current();
    CHECK(pub.memory_bytes() >= 2 * (size_t(1) << 25));  // at least the two IPv4 first levels
    CHECK(sav_check(t, addr("192.0.2.1"), 3) == SavVerdict::allowed);
    CHECK(sav_check(t, addr("192.0.2.1"), 64) == SavVerdict::allowed);
    CHECK(sav_check(t, addr("192.0.2.1"), 130) == SavVerdict::allowed);
    CHECK(sav_check(t, addr("192.0.2.1"), 4) == SavVerdict::wrong_interface);
    CHECK(sav_check(t, addr("198.51.100.1"), 255) == SavVerdict::allowed);
    CHECK(sav_check(t, addr("198.51.100.1"), 1) == SavVerdict::no_rule);
    CHECK(sav_check(t, addr("2001:db8::1"), 63) == SavVerdict::allowed);
    CHECK(sav_check(t, addr("2001:db8::1"), 62) == SavVerdict::wrong_interface);
    CHECK(sav_check(t, addr("2001:db9::1"), 63) == SavVerdict::no_rule);  // no IPv6 /0 published
}

namespace {

struct Inputs {
    std::map<uint16_t, InterfaceConfig> ifaces;
    std::map<std::pair<uint16_t, Prefix>, Route> routes;
    std::map<Prefix, InterfaceSet> fib, allow, deny;
    std::vector<Roa> roas;
    std::vector<Aspa> aspas;

    RuleCompiler build(Asn local) const {
        RuleCompiler c(local);
        for (auto& [id, cfg] : ifaces) c.set_interface(cfg);
        for (auto& [key, r] : routes) c.announce(key.first, r);
        for (auto& [p, e] : fib) c.set_fib_route(p, e);
        for (auto& [p, e] : allow) c.set_allow(p, e);
        for (auto& [p, e] : deny) c.set_deny(p, e);
        c.set_roas(roas);
        c.set_aspas(aspas);
        c.recompute();
        return c;
    }
};

}  // namespace

TEST_CASE("incremental compilation equals compiling from scratch", "[sav][rules][random]") {
    std::mt19937_64 rng(GENERATE(11u, 12u, 13u, 14u, 15u, 16u, 17u, 18u, 19u, 20u));
    const Asn local = 64500;
    std::vector<Prefix> prefixes;
    for (int i = 0; i < 40; ++i) prefixes.push_back(random_prefix(rng, i % 4 ? Family::v4 : Family::v6));
    prefixes.push_back(pfx("0.0.0.0/0"));
    auto some_asn = [&] { return Asn(64501 + rng() % 10); };
    auto some_ifset = [&] {
        InterfaceSet s;
        for (int k = 0, n = int(rng() % 3); k < n; ++k) s.add(unsigned(rng() % 6));
        return s;
    };
    Inputs in;
    RuleCompiler live(local);
    std::map<Prefix, SavRule> shadow;  // the live compiler's change stream, applied
    const Mechanism mechs[] = {Mechanism::off, Mechanism::strict_urpf, Mechanism::loose_urpf,
                               Mechanism::loose_urpf_with_default, Mechanism::feasible_path_urpf,
                               Mechanism::efp_urpf_a, Mechanism::efp_urpf_b, Mechanism::bar_sav};
    for (int step = 0; step < 300; ++step) {
        switch (rng() % 10) {
            case 0: {
                InterfaceConfig cfg{uint16_t(rng() % 6), "if", Role(rng() % 3), mechs[rng() % std::size(mechs)],
                                    rng() % 4 ? some_asn() : 0};
                in.ifaces[cfg.id] = cfg;
                live.set_interface(cfg);
                break;
            }
            case 1:
            case 2:
            case 3: {
                if (in.ifaces.empty()) break;
                auto it = in.ifaces.begin();
                std::advance(it, rng() % in.ifaces.size());
                Route r;
                r.prefix = prefixes[rng() % prefixes.size()];
                std::vector<Asn> path;
                for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k) path.push_back(some_asn());
                r.as_path.push_back({false, path});
                if (rng() % 8 == 0) r.as_path.push_back({true, {some_asn(), some_asn()}});
                in.routes[{it->first, r.prefix}] = r;
                live.announce(it->first, r);
                break;
            }
            case 4: {
                if (in.routes.empty()) break;
                auto it = in.routes.begin();
                std::advance(it, rng() % in.routes.size());
                live.withdraw(it->first.first, it->first.second);
                in.routes.erase(it);
                break;
            }
            case 5: {
                const Prefix p = prefixes[rng() % prefixes.size()];
                if (rng() % 3 == 0) {
                    in.fib.erase(p);
                    live.remove_fib_route(p);
                } else {
                    in.fib[p] = some_ifset();
                    live.set_fib_route(p, in.fib[p]);
                }
                break;
            }
            case 6: {
                in.roas.clear();
                for (int k = 0, n = int(rng() % 12); k < n; ++k) {
                    const Prefix p = prefixes[rng() % prefixes.size()];
                    in.roas.push_back({p, p.len, some_asn()});
                }
                live.set_roas(in.roas);
                break;
            }
            case 7: {
                in.aspas.clear();
                for (int k = 0, n = int(rng() % 8); k < n; ++k) {
                    Aspa a{some_asn(), {}};
                    for (int j = 0, m = int(rng() % 3); j < m; ++j) a.providers.push_back(rng() % 5 ? some_asn() : local);
                    in.aspas.push_back(a);
                }
                live.set_aspas(in.aspas);
                break;
            }
            case 8: {
                const Prefix p = prefixes[rng() % prefixes.size()];
                auto& list = rng() % 2 ? in.allow : in.deny;
                const bool is_allow = &list == &in.allow;
                if (rng() % 3 == 0) {
                    list.erase(p);
                    is_allow ? live.remove_allow(p) : live.remove_deny(p);
                } else {
                    list[p] = some_ifset();
                    is_allow ? live.set_allow(p, list[p]) : live.set_deny(p, list[p]);
                }
                break;
            }
            case 9: {
                if (in.ifaces.empty() || rng() % 3) break;
                auto it = in.ifaces.begin();
                std::advance(it, rng() % in.ifaces.size());
                const uint16_t id = it->first;
                live.remove_interface(id);
                in.ifaces.erase(it);
                for (auto r = in.routes.begin(); r != in.routes.end();)
                    r = r->first.first == id ? in.routes.erase(r) : std::next(r);
                break;
            }
        }
        if (rng() % 4 != 0) continue;  // batch several changes per recompute
        live.recompute();
        for (auto& ch : live.take_changes()) {
            if (ch.removed)
                shadow.erase(ch.prefix);
            else
                shadow[ch.prefix] = {ch.prefix, ch.allowed, ch.no_rule};
        }
        const RuleCompiler fresh = in.build(local);
        for (Family f : {Family::v4, Family::v6}) {
            const auto want = fresh.rules(f);
            const auto got = live.rules(f);
            if (got.size() != want.size()) {
                std::string diff;
                for (auto& r : got) diff += "live: " + r.prefix.str() + " " + r.allowed.str() + "\n";
                for (auto& r : want) diff += "fresh: " + r.prefix.str() + " " + r.allowed.str() + "\n";
                FAIL("step " << step << ": rule lists differ\n" << diff);
            }
            for (size_t i = 0; i < want.size(); ++i) {
                INFO("step " << step << " rule " << want[i].prefix.str());
                REQUIRE(got[i].prefix == want[i].prefix);
                for (auto& line : fresh.explain(want[i].prefix, 0)) UNSCOPED_INFO(line);
                REQUIRE(got[i].allowed.str() == want[i].allowed.str());
                REQUIRE(got[i].no_rule == want[i].no_rule);
                REQUIRE(shadow.count(want[i].prefix));
                REQUIRE(shadow[want[i].prefix] == got[i]);
            }
        }
        size_t total = live.rules(Family::v4).size() + live.rules(Family::v6).size();
        REQUIRE(shadow.size() == total);
    }
}

TEST_CASE("a route update re-evaluates only the prefixes it touches", "[sav][rules][incremental]") {
    RuleCompiler c(64500);
    c.set_interface({1, "cust", Role::customer, Mechanism::efp_urpf_a, 64501});
    c.set_interface({2, "prov", Role::provider, Mechanism::bar_sav, 64600});
    for (int i = 0; i < 200; ++i)
        c.announce(2, route(fmt::format("10.{}.{}.0/24", i / 200, i % 200).c_str(), {64600, Asn(65000 + i)}));
    c.announce(1, route("172.16.0.0/16", {64501}));
    c.recompute();
    c.take_changes();
    // A new more specific from the customer, same origin: itself only.
    c.announce(1, route("172.16.5.0/24", {64501}));
    CHECK(c.recompute() == 1);
    // Withdraw it again: the /24 goes, nothing else is evaluated but its place.
    c.withdraw(1, pfx("172.16.5.0/24"));
    CHECK(c.recompute() <= 1);
    auto ch = c.take_changes();
    REQUIRE(ch.size() == 2);
    CHECK(!ch[0].removed);
    CHECK(ch[1].removed);
}

TEST_CASE("a bulk load (whole-tree recompute) equals the same inputs applied in small batches", "[sav][rules][random]") {
    std::mt19937_64 rng(21);
    const Asn local = 64500;
    auto configure = [](RuleCompiler& c) {
        c.set_interface({0, "prov", Role::provider, Mechanism::bar_sav, 64600});
        c.set_interface({1, "peer", Role::lateral_peer, Mechanism::bar_sav, 64700});
        c.set_interface({2, "cust", Role::customer, Mechanism::bar_sav, 64800});
        c.set_interface({3, "cust-efp", Role::customer, Mechanism::efp_urpf_b, 64801});
        c.set_interface({4, "strict", Role::customer, Mechanism::strict_urpf, 64802});
    };
    RuleCompiler bulk(local), batched(local);
    configure(bulk);
    configure(batched);
    batched.recompute();
    std::vector<Aspa> aspas = {{64800, {local}}, {64801, {local}}, {64802, {local}}, {local, {64600}}};
    for (Asn a = 65000; a < 65100; ++a) aspas.push_back({a, {Asn(64800 + a % 3)}});
    bulk.set_aspas(aspas);
    batched.set_aspas(aspas);
    std::vector<Roa> roas;
    for (int i = 0; i < 8000; ++i) {
        const Prefix p = random_prefix(rng, i % 5 ? Family::v4 : Family::v6);
        const uint16_t iface = uint16_t(rng() % 5);
        const Asn origin = Asn(65000 + rng() % 200);
        Route r = route("0.0.0.0/0", {Asn(64600 + 100 * std::min<unsigned>(iface, 2) + (iface > 2 ? iface - 2 : 0)), origin});
        r.prefix = p;
        bulk.announce(iface, r);
        batched.announce(iface, r);
        bulk.set_fib_route(p, ifset({iface}));
        batched.set_fib_route(p, ifset({iface}));
        if (rng() % 3 == 0) roas.push_back({p, p.len, origin});
        if (i % 100 == 99) batched.recompute();
    }
    bulk.set_roas(roas);
    batched.set_roas(roas);
    bulk.recompute();
    batched.recompute();
    for (Family f : {Family::v4, Family::v6}) {
        const auto a = bulk.rules(f), b = batched.rules(f);
        REQUIRE(a.size() == b.size());
        for (size_t i = 0; i < a.size(); ++i) {
            INFO(a[i].prefix.str());
            REQUIRE(a[i] == b[i]);
        }
    }
}

TEST_CASE("a worker reading during incremental applies and full rebuilds sees whole tables only", "[sav][table][rcu]") {
    // One registered reader thread reports quiescent states like a worker;
    // the writer flips a rule between two interface sets (apply: standby
    // copy, flip, grace, other copy) and rebuilds the table (publish_all:
    // new table, pointer swap, grace, free). The covered source must always
    // be allowed on exactly one of the two interfaces, never "no rule", and
    // the untouched rule must never change.
    Qsbr qsbr;
    SavTablePublisher pub(qsbr.v, SavTableSizes{}, SOCKET_ID_ANY);
    const SavRule stable{pfx("198.51.100.0/24"), ifset({7}), false};
    auto flip_rule = [](bool second) { return SavRule{pfx("192.0.2.0/24"), ifset({uint16_t(second ? 2 : 1)}), false}; };
    pub.publish_all({stable, flip_rule(false), {pfx("2001:db8::/32"), ifset({1}), false}});

    REQUIRE(rte_rcu_qsbr_thread_register(qsbr.v, 0) == 0);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> reads{0}, bad{0};
    std::thread reader([&] {
        rte_rcu_qsbr_thread_online(qsbr.v, 0);
        const IpAddr flipping = addr("192.0.2.77"), fixed = addr("198.51.100.1"), v6 = addr("2001:db8::1");
        while (!stop.load(std::memory_order_relaxed)) {
            const SavTable& t = *pub.current();
            const SavVerdict on1 = sav_check(t, flipping, 1);
            const SavVerdict on2 = sav_check(t, flipping, 2);
            // Two lookups may straddle one flip: each alone must be a whole state.
            if (on1 == SavVerdict::no_rule || on2 == SavVerdict::no_rule) ++bad;
            if (sav_check(t, fixed, 7) != SavVerdict::allowed) ++bad;
            if (sav_check(t, v6, 1) != SavVerdict::allowed) ++bad;
            ++reads;
            rte_rcu_qsbr_quiescent(qsbr.v, 0);
        }
        rte_rcu_qsbr_thread_offline(qsbr.v, 0);
    });
    for (int i = 0; i < 400; ++i) {
        const bool second = i % 2 == 0;
        if (i % 50 == 49) {
            pub.publish_all({stable, flip_rule(second), {pfx("2001:db8::/32"), ifset({1}), false}});
        } else {
            const SavRule r = flip_rule(second);
            REQUIRE(pub.apply({{r.prefix, false, r.allowed, false}}) == 0);
        }
    }
    stop = true;
    reader.join();
    rte_rcu_qsbr_thread_unregister(qsbr.v, 0);
    INFO(reads.load() << " reads");
    CHECK(reads.load() > 0);
    CHECK(bad.load() == 0);
}

TEST_CASE("a table that runs out of room keeps serving the rules it had", "[sav][table]") {
    Qsbr qsbr;
    SavTableSizes tiny;
    tiny.v4_max_routes = 16;
    tiny.v6_max_routes = 16;
    SavTablePublisher pub(qsbr.v, tiny, SOCKET_ID_ANY);
    pub.publish_all({{pfx("0.0.0.0/0"), {}, true}, {pfx("192.0.2.0/24"), ifset({1}), false}});

    // A full rebuild that does not fit throws; the old table stays.
    std::vector<SavRule> too_many;
    for (unsigned i = 0; i < 100; ++i) too_many.push_back({pfx(fmt::format("10.{}.0.0/16", i).c_str()), ifset({2}), false});
    CHECK_THROWS_WITH(pub.publish_all(too_many), Catch::Contains("SAV table: cannot add"));
    CHECK(sav_check(*pub.current(), addr("192.0.2.1"), 1) == SavVerdict::allowed);

    // An incremental update that does not fit fails before the flip: the
    // workers keep the complete old rules; further applies are refused
    // until a rebuild.
    std::vector<SavRuleChange> changes;
    for (auto& r : too_many) changes.push_back({r.prefix, false, r.allowed, false});
    const int rc = pub.apply(changes);
    CHECK(rc < 0);
    CHECK(sav_check(*pub.current(), addr("192.0.2.1"), 1) == SavVerdict::allowed);
    CHECK(sav_check(*pub.current(), addr("10.0.0.1"), 2) == SavVerdict::no_rule);
    CHECK(pub.apply({{pfx("198.51.100.0/24"), false, ifset({3}), false}}) == -EAGAIN);
    pub.publish_all({{pfx("0.0.0.0/0"), {}, true}, {pfx("192.0.2.0/24"), ifset({4}), false}});
    CHECK(pub.apply({{pfx("198.51.100.0/24"), false, ifset({3}), false}}) == 0);
    CHECK(sav_check(*pub.current(), addr("198.51.100.9"), 3) == SavVerdict::allowed);
    CHECK(sav_check(*pub.current(), addr("192.0.2.1"), 4) == SavVerdict::allowed);
    CHECK(sav_check(*pub.current(), addr("192.0.2.1"), 1) == SavVerdict::wrong_interface);
}
