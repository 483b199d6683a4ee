// SAV mechanisms against the topologies of RFC 8704 (figures 1-4) and of the
// inter-domain SAVNET problem statement (draft-wu-savnet-inter-domain-
// problem-statement, figures 1-4). Every flow goes through the real
// data-plane table (compiler -> SavTablePublisher -> sav_check), in IPv4 and
// in IPv6 (each IPv4 prefix 10.X.0.0/16 has the twin 2001:db8:X::/48).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "tests/unit/sav_fixture.hpp"

using namespace rampart;
using namespace rampart::sav;
using namespace rampart::sav::test;

namespace {

struct ScenarioIface {
    uint16_t id;
    const char* name;
    Role role;
    Asn neighbor;
};
struct ScenarioRoute {
    uint16_t iface;
    Route route;
};
struct Flow {
    const char* what;
    bool legitimate;
    uint16_t iface;
    const char* src;  // IPv4; the IPv6 twin is derived
};
struct Scenario {
    const char* name;
    Asn local;
    std::vector<ScenarioIface> ifaces;
    std::vector<ScenarioRoute> routes;
    std::vector<Roa> roas;
    std::vector<Aspa> aspas;
    std::vector<std::pair<const char*, InterfaceSet>> allow;
    std::vector<Flow> flows;
};

// 10.X.a.b/n -> 2001:db8:X::a:b/(n + 32): the same tree shape in IPv6.
Prefix twin6(const Prefix& p) {
    const auto& b = p.addr.bytes;
    return pfx(fmt::format("2001:db8:{:x}:{:x}::/{}", b[1], (b[2] << 8) | b[3], p.len + 32).c_str());
}
IpAddr twin6(const IpAddr& a) {
    const auto& b = a.bytes;
    return addr(fmt::format("2001:db8:{:x}:{:x}::1", b[1], (b[2] << 8) | b[3]).c_str());
}

// The box's FIB as BGP would choose it: customer over peer over provider
// (LOCAL_PREF by role), then the shorter AS path, then the lower interface.
std::map<Prefix, InterfaceSet> best_paths(const Scenario& s, const std::vector<ScenarioRoute>& routes) {
    auto pref = [&](uint16_t iface) {
        for (auto& i : s.ifaces)
            if (i.id == iface) return i.role == Role::customer ? 3 : i.role == Role::lateral_peer ? 2 : 1;
        return 0;
    };
    auto path_len = [](const Route& r) {
        size_t n = 0;
        for (auto& seg : r.as_path) n += seg.is_set ? 1 : seg.asns.size();
        return n;
    };
    std::map<Prefix, const ScenarioRoute*> best;
    for (auto& sr : routes) {
        auto& b = best[sr.route.prefix.network()];
        if (!b || pref(sr.iface) > pref(b->iface) ||
            (pref(sr.iface) == pref(b->iface) && path_len(sr.route) < path_len(b->route)))
            b = &sr;
    }
    std::map<Prefix, InterfaceSet> fib;
    for (auto& [p, sr] : best) fib[p] = ifset({sr->iface});
    return fib;
}

RuleCompiler compile(const Scenario& s, Mechanism m) {
    RuleCompiler c(s.local);
    for (auto& i : s.ifaces) c.set_interface({i.id, i.name, i.role, m, i.neighbor});
    std::vector<ScenarioRoute> routes = s.routes;
    for (auto& sr : s.routes) {
        ScenarioRoute v6 = sr;
        v6.route.prefix = twin6(sr.route.prefix);
        routes.push_back(v6);
    }
    for (auto& sr : routes) c.announce(sr.iface, sr.route);
    for (auto& [p, egress] : best_paths(s, routes)) c.set_fib_route(p, egress);
    std::vector<Roa> roas = s.roas;
    for (auto& r : s.roas) roas.push_back({twin6(r.prefix), uint8_t(r.max_length + 32), r.origin});
    c.set_roas(roas);
    c.set_aspas(s.aspas);
    for (auto& [p, ifs] : s.allow) {
        c.set_allow(pfx(p), ifs);
        c.set_allow(twin6(pfx(p)), ifs);
    }
    c.recompute();
    return c;
}

std::vector<SavRule> all_rules(const RuleCompiler& c) {
    auto v4 = c.rules(Family::v4), v6 = c.rules(Family::v6);
    v4.insert(v4.end(), v6.begin(), v6.end());
    return v4;
}

struct Outcome {
    bool improper_block = false, improper_permit = false;
    std::vector<std::string> wrong;  // which flows, for the failure message
    std::string str() const {
        if (improper_block && improper_permit) return "improper block+permit";
        if (improper_block) return "improper block";
        if (improper_permit) return "improper permit";
        return "correct";
    }
};

Outcome run_flows(const Scenario& s, Mechanism m, Qsbr& qsbr) {
    RuleCompiler c = compile(s, m);
    SavTablePublisher pub(qsbr.v, SavTableSizes{}, SOCKET_ID_ANY);
    pub.publish_all(all_rules(c));
    Outcome o;
    for (const Flow& f : s.flows)
        for (const IpAddr& src : {addr(f.src), twin6(addr(f.src))}) {
            const bool permitted = sav_check(*pub.current(), src, f.iface) == SavVerdict::allowed;
            if (permitted == f.legitimate) continue;
            (f.legitimate ? o.improper_block : o.improper_permit) = true;
            o.wrong.push_back(fmt::format("{} [{} on if {}]: {}", f.what, src.str(), f.iface,
                                          permitted ? "permitted" : "blocked"));
            for (auto& line : c.explain(Prefix{src, uint8_t(src.bits())}, f.iface)) o.wrong.push_back("    " + line);
        }
    return o;
}

constexpr Asn AS1 = 65001, AS2 = 65002, AS3 = 65003, AS4 = 65004, AS5 = 65005, AS9 = 65009;
constexpr Mechanism kColumns[] = {Mechanism::off,        Mechanism::strict_urpf,        Mechanism::loose_urpf,
                                  Mechanism::loose_urpf_with_default, Mechanism::feasible_path_urpf,
                                  Mechanism::efp_urpf_a, Mechanism::efp_urpf_b, Mechanism::bar_sav};

std::vector<Roa> roas_for(std::initializer_list<std::pair<const char*, Asn>> list) {
    std::vector<Roa> out;
    for (auto& [p, a] : list) out.push_back({pfx(p), pfx(p).len, a});
    return out;
}

// ---- the problem statement's figures; AS4 is the box ----
// P1 = 10.1/16 (AS1), P2 = 10.2/16 (AS2), P3 = 10.3/16 (AS3), 10.9/16 is
// beyond AS3 (AS9).

Scenario reflection_attack() {  // figure 1
    Scenario s{"fig1 reflection attack from provider", AS4};
    s.ifaces = {{1, "to-AS3", Role::provider, AS3}, {2, "to-AS1", Role::customer, AS1}, {3, "to-AS2", Role::customer, AS2}};
    s.routes = {{1, route("10.3.0.0/16", {AS3})}, {1, route("10.9.0.0/16", {AS3, AS9})},
                {2, route("10.1.0.0/16", {AS1})}, {3, route("10.2.0.0/16", {AS2})}};
    s.roas = roas_for({{"10.1.0.0/16", AS1}, {"10.2.0.0/16", AS2}, {"10.3.0.0/16", AS3}, {"10.9.0.0/16", AS9}});
    s.aspas = {{AS1, {AS4}}, {AS2, {AS4}}, {AS4, {AS3}}};
    s.flows = {{"server reply from AS3", true, 1, "10.3.0.10"},
               {"traffic from beyond AS3", true, 1, "10.9.1.1"},
               {"victim AS1's own traffic", true, 2, "10.1.0.10"},
               {"attacker in AS3 spoofing victim P1", false, 1, "10.1.0.10"}};
    return s;
}

Scenario spoofing_within_cone() {  // figure 2
    Scenario s = reflection_attack();
    s.name = "fig2 spoofing within a customer cone";
    s.flows = {{"AS1's own traffic", true, 2, "10.1.0.10"},
               {"AS2's own traffic", true, 3, "10.2.0.10"},
               {"traffic from AS3", true, 1, "10.3.0.10"},
               {"attacker in AS2 spoofing P1", false, 3, "10.1.0.10"}};
    return s;
}

Scenario no_export(bool as3_is_peer) {  // figure 3
    Scenario s{as3_is_peer ? "fig3 NO_EXPORT, AS3 lateral peer" : "fig3 NO_EXPORT, AS3 customer", AS4};
    s.ifaces = {{1, "to-AS2", Role::customer, AS2},
                {2, "to-AS3", as3_is_peer ? Role::lateral_peer : Role::customer, AS3}};
    // AS1 tags P1 NO_EXPORT towards AS2, so only AS3 passes it on.
    s.routes = {{1, route("10.2.0.0/16", {AS2})}, {2, route("10.3.0.0/16", {AS3})},
                {2, route("10.1.0.0/16", {AS3, AS1})}};
    s.roas = roas_for({{"10.1.0.0/16", AS1}, {"10.2.0.0/16", AS2}, {"10.3.0.0/16", AS3}});
    s.aspas = {{AS1, {AS2, AS3}}, {AS2, {AS4}}};
    if (!as3_is_peer) s.aspas.push_back({AS3, {AS4}});
    s.flows = {{"AS1 via AS2 (NO_EXPORT path)", true, 1, "10.1.0.10"},
               {"AS1 via AS3", true, 2, "10.1.0.10"},
               {"AS2's own traffic", true, 1, "10.2.0.10"},
               {"AS3's own traffic", true, 2, "10.3.0.10"}};
    if (as3_is_peer)
        s.flows.push_back({"peer AS3 spoofing customer AS2's P2", false, 2, "10.2.0.10"});
    else
        s.flows.push_back({"AS2 spoofing AS3's P3", false, 1, "10.3.0.10"});
    return s;
}

Scenario direct_server_return() {  // figure 4
    Scenario s{"fig4 anycast direct server return", AS4};
    s.ifaces = {{1, "to-AS3", Role::provider, AS3}, {2, "to-AS1", Role::customer, AS1}, {3, "to-AS2", Role::customer, AS2}};
    s.routes = {{1, route("10.3.0.0/16", {AS3})}, {2, route("10.1.0.0/16", {AS1})}, {3, route("10.2.0.0/16", {AS2})}};
    s.roas = roas_for({{"10.1.0.0/16", AS1}, {"10.2.0.0/16", AS2}, {"10.3.0.0/16", AS3}});
    s.aspas = {{AS1, {AS4}}, {AS2, {AS4}}, {AS4, {AS3}}};
    // The CDN told us its edge servers in AS2 answer from the anycast prefix.
    s.allow = {{"10.3.0.0/16", ifset({3})}};
    s.flows = {{"DSR reply from the edge server in AS2 (anycast source)", true, 3, "10.3.0.53"},
               {"anycast traffic from AS3", true, 1, "10.3.0.53"},
               {"AS2's own traffic", true, 3, "10.2.0.10"},
               {"attacker in AS2 spoofing user P1", false, 3, "10.1.0.10"}};
    return s;
}

}  // namespace

TEST_CASE("SAVNET problem statement scenarios x mechanisms through the data-plane table", "[sav][scenario]") {
    Qsbr qsbr;
    const std::vector<Scenario> scenarios = {reflection_attack(), spoofing_within_cone(), no_export(false), no_export(true),
                                             direct_server_return()};
    // Expected outcomes, from the analysis in the problem statement (and, for
    // strict/FP, RFC 3704). EFP-A/B run loose uRPF on provider/peer
    // interfaces as RFC 8704 recommends.
    const std::map<std::string, std::map<Mechanism, std::string>> expected = {
        {"fig1 reflection attack from provider",
         {{Mechanism::off, "improper permit"}, {Mechanism::strict_urpf, "correct"},
          {Mechanism::loose_urpf, "improper permit"}, {Mechanism::loose_urpf_with_default, "improper permit"},
          {Mechanism::feasible_path_urpf, "correct"}, {Mechanism::efp_urpf_a, "improper permit"},
          {Mechanism::efp_urpf_b, "improper permit"}, {Mechanism::bar_sav, "correct"}}},
        {"fig2 spoofing within a customer cone",
         {{Mechanism::off, "improper permit"}, {Mechanism::strict_urpf, "correct"},
          {Mechanism::loose_urpf, "improper permit"}, {Mechanism::loose_urpf_with_default, "improper permit"},
          {Mechanism::feasible_path_urpf, "correct"}, {Mechanism::efp_urpf_a, "correct"},
          {Mechanism::efp_urpf_b, "improper permit"}, {Mechanism::bar_sav, "correct"}}},
        {"fig3 NO_EXPORT, AS3 customer",
         {{Mechanism::off, "improper permit"}, {Mechanism::strict_urpf, "improper block"},
          {Mechanism::loose_urpf, "improper permit"}, {Mechanism::loose_urpf_with_default, "improper permit"},
          {Mechanism::feasible_path_urpf, "improper block"}, {Mechanism::efp_urpf_a, "improper block"},
          {Mechanism::efp_urpf_b, "improper permit"}, {Mechanism::bar_sav, "correct"}}},
        {"fig3 NO_EXPORT, AS3 lateral peer",
         {{Mechanism::off, "improper permit"}, {Mechanism::strict_urpf, "improper block"},
          {Mechanism::loose_urpf, "improper permit"}, {Mechanism::loose_urpf_with_default, "improper permit"},
          {Mechanism::feasible_path_urpf, "improper block"}, {Mechanism::efp_urpf_a, "improper block+permit"},
          {Mechanism::efp_urpf_b, "improper block+permit"}, {Mechanism::bar_sav, "correct"}}},
        {"fig4 anycast direct server return",
         {{Mechanism::off, "improper permit"}, {Mechanism::strict_urpf, "improper block"},
          {Mechanism::loose_urpf, "improper permit"}, {Mechanism::loose_urpf_with_default, "improper permit"},
          {Mechanism::feasible_path_urpf, "improper block"}, {Mechanism::efp_urpf_a, "improper block"},
          {Mechanism::efp_urpf_b, "improper block+permit"}, {Mechanism::bar_sav, "correct"}}},
    };

    std::string table = fmt::format("{:<38}", "scenario \\ mechanism");
    for (Mechanism m : kColumns) table += fmt::format(" | {:<23}", to_string(m));
    table += "\n";
    for (const Scenario& s : scenarios) {
        table += fmt::format("{:<38}", s.name);
        for (Mechanism m : kColumns) {
            const Outcome o = run_flows(s, m, qsbr);
            table += fmt::format(" | {:<23}", o.str());
            INFO(s.name << " / " << to_string(m));
            std::string why;
            for (auto& w : o.wrong) why += w + "\n";
            INFO(why);
            CHECK(o.str() == expected.at(s.name).at(m));
        }
        table += "\n";
    }
    std::printf("\nSAV scenario x mechanism (IPv4 and IPv6 flows):\n%s\n", table.c_str());
}

TEST_CASE("RFC 8704 figure 1: multihomed customer, prefix learned over a lateral peer", "[sav][rfc8704]") {
    // At AS2: AS1 (customer) sends P1 to AS2 and P2 to AS3; AS3 (lateral
    // peer) passes P2 on. Data from AS1 with a source in P2 arrives on the
    // customer interface.
    Qsbr qsbr;
    Scenario s{"rfc8704 fig1", AS2};
    s.ifaces = {{1, "to-AS1", Role::customer, AS1}, {2, "to-AS3", Role::lateral_peer, AS3}};
    s.routes = {{1, route("10.1.0.0/16", {AS1})}, {2, route("10.2.0.0/16", {AS3, AS1})}};
    s.flows = {{"AS1 with a source in P2 via the customer link", true, 1, "10.2.0.1"}};
    CHECK(run_flows(s, Mechanism::strict_urpf, qsbr).improper_block);
    CHECK(run_flows(s, Mechanism::feasible_path_urpf, qsbr).improper_block);
    CHECK(run_flows(s, Mechanism::efp_urpf_a, qsbr).str() == "correct");
    CHECK(run_flows(s, Mechanism::efp_urpf_b, qsbr).str() == "correct");
    CHECK(run_flows(s, Mechanism::loose_urpf, qsbr).str() == "correct");  // works, "but not desirable"
}

TEST_CASE("RFC 8704 figure 2: prepending makes the peer route the shorter one", "[sav][rfc8704]") {
    // At AS2: AS1 sends P1[AS1] and P2[AS1 AS1 AS1]; AS3 has P2[AS1],
    // P1[AS1 AS1 AS1] and passes them on over the peering.
    Qsbr qsbr;
    Scenario s{"rfc8704 fig2", AS2};
    s.ifaces = {{1, "to-AS1", Role::customer, AS1}, {2, "to-AS3", Role::lateral_peer, AS3}};
    s.routes = {{1, route("10.1.0.0/16", {AS1})},
                {1, route("10.2.0.0/16", {AS1, AS1, AS1})},
                {2, route("10.2.0.0/16", {AS3, AS1})},
                {2, route("10.1.0.0/16", {AS3, AS1, AS1, AS1})}};
    s.flows = {{"AS1 with a source in P1 via AS3", true, 2, "10.1.0.1"},
               {"AS1 with a source in P2 directly", true, 1, "10.2.0.1"},
               {"AS1 with a source in P1 directly", true, 1, "10.1.0.1"}};
    CHECK(run_flows(s, Mechanism::strict_urpf, qsbr).improper_block);  // customer route preferred for both
    CHECK(run_flows(s, Mechanism::feasible_path_urpf, qsbr).str() == "correct");
    CHECK(run_flows(s, Mechanism::efp_urpf_a, qsbr).str() == "correct");
    CHECK(run_flows(s, Mechanism::efp_urpf_b, qsbr).str() == "correct");
}

TEST_CASE("RFC 8704 figure 3: customer multihomed to two customers and a lateral peer", "[sav][rfc8704]") {
    // At AS4: P1[AS2 AS1] from customer AS2, P2[AS3 AS1] from customer AS3,
    // P3[AS5 AS1] from lateral peer AS5. AS1 may send from P1, P2 or P3
    // through AS2 or AS3.
    Qsbr qsbr;
    Scenario s{"rfc8704 fig3", AS4};
    s.ifaces = {{1, "to-AS2", Role::customer, AS2}, {2, "to-AS3", Role::customer, AS3}, {3, "to-AS5", Role::lateral_peer, AS5}};
    s.routes = {{1, route("10.1.0.0/16", {AS2, AS1})}, {2, route("10.2.0.0/16", {AS3, AS1})},
                {3, route("10.3.0.0/16", {AS5, AS1})}};
    for (uint16_t i : {1, 2})
        for (const char* src : {"10.1.0.1", "10.2.0.1", "10.3.0.1"}) s.flows.push_back({"AS1's traffic", true, i, src});
    CHECK(run_flows(s, Mechanism::feasible_path_urpf, qsbr).improper_block);
    CHECK(run_flows(s, Mechanism::strict_urpf, qsbr).improper_block);
    CHECK(run_flows(s, Mechanism::efp_urpf_a, qsbr).str() == "correct");
    CHECK(run_flows(s, Mechanism::efp_urpf_b, qsbr).str() == "correct");

    // Algorithm A's list on the AS2 interface: every prefix with origin AS1.
    RuleCompiler c = compile(s, Mechanism::efp_urpf_a);
    auto lines = c.explain(pfx("10.3.0.0/16"), 1);
    bool mentions_origin = false;
    for (auto& l : lines) mentions_origin = mentions_origin || l.find("origin AS65001") != std::string::npos;
    CHECK(mentions_origin);
    CHECK(lines.back() == "verdict: allowed");
}

TEST_CASE("RFC 8704 figure 4: NO_EXPORT towards one provider defeats algorithm A, not B", "[sav][rfc8704]") {
    // At AS4: AS1 sends P1, P2 to AS2 with NO_EXPORT (AS2 keeps them) and
    // to AS3, which passes them on. AS1's traffic arrives through AS2.
    Qsbr qsbr;
    Scenario s{"rfc8704 fig4", AS4};
    s.ifaces = {{1, "to-AS2", Role::customer, AS2}, {2, "to-AS3", Role::customer, AS3}};
    s.routes = {{1, route("10.20.0.0/16", {AS2})},
                {2, route("10.1.0.0/16", {AS3, AS1})},
                {2, route("10.2.0.0/16", {AS3, AS1})}};
    s.flows = {{"AS1 via AS2, P1", true, 1, "10.1.0.1"}, {"AS1 via AS2, P2", true, 1, "10.2.0.1"},
               {"AS1 via AS3, P1", true, 2, "10.1.0.1"}};
    CHECK(run_flows(s, Mechanism::feasible_path_urpf, qsbr).improper_block);
    CHECK(run_flows(s, Mechanism::efp_urpf_a, qsbr).improper_block);
    CHECK(run_flows(s, Mechanism::efp_urpf_b, qsbr).str() == "correct");
    CHECK(run_flows(s, Mechanism::loose_urpf, qsbr).str() == "correct");
}

TEST_CASE("explain names the mechanism, the routes and the records used", "[sav][explain]") {
    const Scenario s = reflection_attack();
    RuleCompiler c = compile(s, Mechanism::bar_sav);
    auto refused = c.explain(pfx("10.1.0.10/32"), 1);
    std::string all;
    for (auto& l : refused) all += l + "\n";
    INFO(all);
    CHECK(all.find("mechanism bar-sav") != std::string::npos);
    CHECK(all.find("most specific rule covering 10.1.0.10/32: 10.1.0.0/16") != std::string::npos);
    CHECK(all.find("origin AS65001 (ROA)") != std::string::npos);
    CHECK(refused.back() == "verdict: refused");

    auto cone = c.explain(pfx("10.1.0.0/16"), 2);
    all.clear();
    for (auto& l : cone) all += l + "\n";
    INFO(all);
    CHECK(all.find("customer cone of this interface (ASPA + AS paths): AS65001") != std::string::npos);
    CHECK(cone.back() == "verdict: allowed");

    RuleCompiler strict = compile(s, Mechanism::strict_urpf);
    auto st = strict.explain(pfx("10.1.0.10/32"), 1);
    CHECK(st.back() == "verdict: refused");
    CHECK(st[2].find("longest FIB route 10.1.0.0/16 leaves through {2}") != std::string::npos);
}

TEST_CASE("deny-list wins over every mechanism but off; allow-list is BAR-SAV's", "[sav][lists]") {
    RuleCompiler c(AS4);
    c.set_interface({1, "c", Role::customer, Mechanism::loose_urpf, AS1});
    c.set_interface({2, "d", Role::customer, Mechanism::off, AS2});
    c.set_interface({3, "b", Role::customer, Mechanism::bar_sav, AS5});
    c.announce(1, route("10.1.0.0/16", {AS1}));
    c.set_fib_route(pfx("10.1.0.0/16"), ifset({1}));
    c.set_deny(pfx("10.1.128.0/17"), {});
    c.set_allow(pfx("192.0.2.0/24"), ifset({1, 3}));
    c.recompute();
    std::map<Prefix, SavRule> by;
    for (auto& r : c.rules(Family::v4)) by[r.prefix] = r;
    CHECK(by.at(pfx("10.1.0.0/16")).allowed == ifset({1, 2}));
    CHECK(by.at(pfx("10.1.128.0/17")).allowed == ifset({2}));
    CHECK(by.at(pfx("192.0.2.0/24")).allowed == ifset({2, 3}));
    CHECK(by.at(pfx("0.0.0.0/0")).no_rule);
    CHECK(by.at(pfx("0.0.0.0/0")).allowed == ifset({2}));
}
