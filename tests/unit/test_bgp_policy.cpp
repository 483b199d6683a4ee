// BGP policy (slowpath/bgp/policy.hpp): prefix lists with ge/le, each match
// condition holding and failing, each action, term order and dispositions,
// RPKI origin validity and ASPA through a Validator, and the policy applied
// by the RIB (import changes the decision, export changes what is sent,
// a new policy set applies by soft reconfiguration).
#include "slowpath/bgp/policy.hpp"

#include <catch2/catch.hpp>

#include "slowpath/bgp/rib.hpp"

using namespace rampart;
using namespace rampart::bgp;

namespace {

Prefix pfx(const char* s) { return *Prefix::parse(s); }
IpAddr ip(const char* s) { return *IpAddr::parse(s); }
AsPathSegment seq(std::vector<Asn> asns) { return AsPathSegment{AsPathSegment::Kind::sequence, std::move(asns)}; }

PathAttributes route(std::vector<Asn> path) {
    PathAttributes a;
    a.origin = Origin::igp;
    a.as_path = {seq(std::move(path))};
    a.next_hop = ip("192.0.2.11");
    return a;
}

PrefixListEntry entry(bool permit, const char* prefix, std::optional<uint8_t> ge = {}, std::optional<uint8_t> le = {}) {
    return PrefixListEntry{permit, pfx(prefix), ge, le};
}

PolicyContext ctx() { return PolicyContext{65001, 65000, std::nullopt, ip("192.0.2.1"), true}; }

// One policy "p" of the given terms.
BgpPolicyConfig one_policy(std::vector<PolicyTerm> terms) {
    BgpPolicyConfig c;
    uint32_t n = 10;
    for (auto& t : terms) c.policies["p"].terms[n += 10] = t;
    return c;
}

PolicyTerm accept_if(std::function<void(PolicyTerm&)> set) {
    PolicyTerm t;
    set(t);
    t.disposition = PolicyTerm::Disposition::accept;
    return t;
}

Policy::Result run(const Policies& ps, const char* prefix, const PathAttributes& a, PathAttributes* out = nullptr) {
    PathAttributes o;
    auto r = ps.find("p")->run(pfx(prefix), a, ctx(), o);
    if (out) *out = r == Policy::Result::accept_modified ? o : a;
    return r;
}

// A validator with one ROA (203.0.113.0/24 max 24, AS 65010) and a fixed ASPA answer.
class FixedValidator final : public rpki::Validator {
public:
    rpki::AspaValidity aspa = rpki::AspaValidity::unknown;
    bool roa = true;  // false: the ROA was withdrawn
    rpki::OriginValidity origin_validity(const Prefix& p, std::optional<rpki::Asn> origin) const override {
        if (!roa || !pfx("203.0.113.0/24").contains(p.addr) || p.len < 24) return rpki::OriginValidity::not_found;
        return origin == 65010u && p.len == 24 ? rpki::OriginValidity::valid : rpki::OriginValidity::invalid;
    }
    rpki::AspaValidity aspa_validity(const std::vector<AsPathSegment>&, rpki::Asn, bool) const override { return aspa; }
    uint64_t generation() const override { return 1; }
};

}  // namespace

TEST_CASE("Prefix lists: first matching entry decides, ge/le bound the length", "[bgp][policy]") {
    PrefixList l;
    l[5] = entry(false, "198.51.100.128/25", 25, 32);
    l[10] = entry(true, "198.51.100.0/24", std::nullopt, 26);
    l[20] = entry(true, "203.0.113.0/24");
    l[30] = entry(true, "2001:db8::/32", 48, std::nullopt);
    CHECK(prefix_list_permits(l, pfx("198.51.100.0/24")));
    CHECK(prefix_list_permits(l, pfx("198.51.100.64/26")));
    CHECK_FALSE(prefix_list_permits(l, pfx("198.51.100.64/27")));   // longer than le
    CHECK_FALSE(prefix_list_permits(l, pfx("198.51.100.128/26")));  // seq 5 denies first
    CHECK(prefix_list_permits(l, pfx("203.0.113.0/24")));
    CHECK_FALSE(prefix_list_permits(l, pfx("203.0.113.0/25")));    // exact length only
    CHECK_FALSE(prefix_list_permits(l, pfx("203.0.112.0/23")));    // does not lie within
    CHECK(prefix_list_permits(l, pfx("2001:db8:1::/48")));
    CHECK(prefix_list_permits(l, pfx("2001:db8:1:2::/64")));
    CHECK_FALSE(prefix_list_permits(l, pfx("2001:db8::/47")));
    CHECK_FALSE(prefix_list_permits(l, pfx("192.0.2.0/24")));       // no entry: deny
}

TEST_CASE("Policy matches: each holds and fails", "[bgp][policy]") {
    const PathAttributes a = [] {
        PathAttributes x = route({65001, 65002, 65003});
        x.communities = {65001u << 16 | 7};
        x.large_communities = {{65001, 1, 2}};
        return x;
    }();
    auto check = [&](std::function<void(PolicyTerm&)> holds, std::function<void(PolicyTerm&)> fails) {
        Policies yes(one_policy({accept_if(holds)}));
        Policies no(one_policy({accept_if(fails)}));
        CHECK(run(yes, "203.0.113.0/24", a) == Policy::Result::accept);
        CHECK(run(no, "203.0.113.0/24", a) == Policy::Result::reject);
    };
    check([](PolicyTerm& t) { t.path_contains = {65002}; }, [](PolicyTerm& t) { t.path_contains = {65002, 65009}; });
    check([](PolicyTerm& t) { t.origin_as = 65003; }, [](PolicyTerm& t) { t.origin_as = 65001; });
    check([](PolicyTerm& t) { t.neighbor_as = 65001; }, [](PolicyTerm& t) { t.neighbor_as = 65003; });
    check([](PolicyTerm& t) { t.path_length_ge = 3; }, [](PolicyTerm& t) { t.path_length_ge = 4; });
    check([](PolicyTerm& t) { t.path_length_le = 3; }, [](PolicyTerm& t) { t.path_length_le = 2; });
    check([](PolicyTerm& t) { t.communities = {65001u << 16 | 7}; }, [](PolicyTerm& t) { t.communities = {1}; });
    check([](PolicyTerm& t) { t.large_communities = {{65001, 1, 2}}; },
          [](PolicyTerm& t) { t.large_communities = {{65001, 1, 3}}; });
    // Prefix lists by name; an unknown list never matches.
    BgpPolicyConfig c = one_policy({accept_if([](PolicyTerm& t) { t.prefix_list = "l"; })});
    c.prefix_lists["l"][10] = entry(true, "203.0.113.0/24");
    Policies with_list(c);
    CHECK(run(with_list, "203.0.113.0/24", a) == Policy::Result::accept);
    CHECK(run(with_list, "198.51.100.0/24", a) == Policy::Result::reject);
    Policies no_list(one_policy({accept_if([](PolicyTerm& t) { t.prefix_list = "none"; })}));
    CHECK(run(no_list, "203.0.113.0/24", a) == Policy::Result::reject);
}

TEST_CASE("Policy matches on RPKI origin validity and ASPA through the Validator", "[bgp][policy][rpki]") {
    FixedValidator v;
    auto with = [&](rpki::OriginValidity o) {
        return std::make_unique<Policies>(one_policy({accept_if([o](PolicyTerm& t) { t.rpki = o; })}), &v);
    };
    auto valid = with(rpki::OriginValidity::valid), invalid = with(rpki::OriginValidity::invalid),
         not_found = with(rpki::OriginValidity::not_found);
    CHECK(valid->find("p")->uses_rpki());
    CHECK(run(*valid, "203.0.113.0/24", route({65001, 65010})) == Policy::Result::accept);
    CHECK(run(*invalid, "203.0.113.0/24", route({65001, 65011})) == Policy::Result::accept);
    CHECK(run(*valid, "203.0.113.0/24", route({65001, 65011})) == Policy::Result::reject);
    CHECK(run(*invalid, "203.0.113.128/25", route({65001, 65010})) == Policy::Result::accept);  // too long
    CHECK(run(*not_found, "198.51.100.0/24", route({65001, 65010})) == Policy::Result::accept);
    // Without a validator everything is not-found / unknown.
    Policies bare(one_policy({accept_if([](PolicyTerm& t) { t.rpki = rpki::OriginValidity::not_found; })}));
    CHECK(run(bare, "203.0.113.0/24", route({65001, 65011})) == Policy::Result::accept);

    Policies aspa_invalid(one_policy({accept_if([](PolicyTerm& t) { t.aspa = rpki::AspaValidity::invalid; })}), &v);
    CHECK(run(aspa_invalid, "198.51.100.0/24", route({65001})) == Policy::Result::reject);
    v.aspa = rpki::AspaValidity::invalid;
    CHECK(run(aspa_invalid, "198.51.100.0/24", route({65001})) == Policy::Result::accept);
}

TEST_CASE("Policy actions change a copy; terms run in order with next/accept/reject", "[bgp][policy]") {
    PolicyTerm tag;  // matches everything, changes, goes on
    tag.set_local_pref = 200;
    tag.set_med = 7;
    tag.add_communities = {65000u << 16 | 1};
    tag.remove_communities = {65001u << 16 | 9};
    tag.add_large_communities = {{65000, 0, 1}};
    tag.prepend_as = 65000;
    tag.prepend_count = 2;
    PolicyTerm refuse_long;
    refuse_long.path_length_ge = 5;  // after the prepend: 3 + 2
    refuse_long.disposition = PolicyTerm::Disposition::reject;
    PolicyTerm nh;
    nh.next_hop_self = true;
    nh.disposition = PolicyTerm::Disposition::accept;
    Policies ps(one_policy({tag, refuse_long, nh}));

    PathAttributes a = route({65001, 65002});
    a.communities = {65001u << 16 | 9, 65001u << 16 | 10};
    PathAttributes out;
    REQUIRE(run(ps, "203.0.113.0/24", a, &out) == Policy::Result::accept_modified);
    CHECK(out.local_pref == 200u);
    CHECK(out.med == 7u);
    CHECK(out.communities == std::vector<uint32_t>{65001u << 16 | 10, 65000u << 16 | 1});
    CHECK(out.large_communities == std::vector<LargeCommunity>{{65000, 0, 1}});
    CHECK(out.as_path == std::vector<AsPathSegment>{seq({65000, 65000, 65001, 65002})});
    CHECK(out.next_hop == ip("192.0.2.1"));
    CHECK(a.local_pref == std::nullopt);  // the input is left alone
    // The later term sees the earlier term's changes: a 3-AS path becomes 5 long and is refused.
    CHECK(run(ps, "203.0.113.0/24", route({65001, 65002, 65003})) == Policy::Result::reject);
    // Accepted unchanged: `accept`, not `accept_modified`.
    PolicyTerm plain;
    plain.disposition = PolicyTerm::Disposition::accept;
    Policies p2(one_policy({plain}));
    CHECK(run(p2, "203.0.113.0/24", a) == Policy::Result::accept);
    // No term accepts: refused.
    Policies p3(one_policy({tag}));
    CHECK(run(p3, "203.0.113.0/24", a) == Policy::Result::reject);
}

TEST_CASE("The RIB applies import and export policies, and new ones by soft reconfiguration", "[bgp][policy][rib]") {
    BgpPolicyConfig c;
    c.prefix_lists["mine"][10] = entry(true, "203.0.113.0/24");
    PolicyTerm prefer;
    prefer.prefix_list = "mine";
    prefer.set_local_pref = 300;
    prefer.disposition = PolicyTerm::Disposition::accept;
    PolicyTerm rest;
    rest.disposition = PolicyTerm::Disposition::accept;
    c.policies["in"].terms = {{10, prefer}, {20, rest}};
    PolicyTerm out_med;
    out_med.set_med = 42;
    out_med.add_communities = {65000u << 16 | 5};
    out_med.disposition = PolicyTerm::Disposition::accept;
    c.policies["out"].terms = {{10, out_med}};
    auto policies = std::make_unique<Policies>(c);

    Rib rib(65000, 1);
    rib.set_policies(policies.get());
    PeerInfo a;
    a.id = 1;
    a.address = ip("192.0.2.11");
    a.local_address = ip("192.0.2.1");
    a.peer_as = 65001;
    a.local_as = 65000;
    a.peer_bgp_id = 11;
    a.import_policy = "in";
    a.export_policy = "out";
    PeerInfo b = a;
    b.id = 2;
    b.address = ip("192.0.2.12");
    b.peer_as = 65002;
    b.peer_bgp_id = 12;
    rib.peer_up(a);
    rib.peer_up(b);
    Update u;
    u.families.push_back({kIpv4Unicast, {}, {Nlri{pfx("203.0.113.0/24"), 0, {}, {}}, Nlri{pfx("198.51.100.0/24"), 0, {}, {}}}});
    u.attributes = route({65001, 65009});
    rib.apply(1, u);
    for (auto& v : rib.paths(pfx("203.0.113.0/24"))) CHECK(v.attributes.local_pref == 300u);
    for (auto& v : rib.paths(pfx("198.51.100.0/24"))) CHECK_FALSE(v.attributes.local_pref);
    // Export to peer 2: MED and community set by "out", our AS in front.
    auto ups = rib.take_updates(2);
    REQUIRE(ups.size() == 1);
    CHECK(ups[0].attributes.med == 42u);
    CHECK(ups[0].attributes.communities == std::vector<uint32_t>{65000u << 16 | 5});
    CHECK(ups[0].attributes.as_path == std::vector<AsPathSegment>{seq({65000, 65001, 65009})});

    // A new policy set: "in" refuses the list's prefix now. Soft reconfiguration: no new UPDATE.
    PolicyTerm refuse = prefer;
    refuse.set_local_pref.reset();
    refuse.disposition = PolicyTerm::Disposition::reject;
    c.policies["in"].terms[10] = refuse;
    auto next = std::make_unique<Policies>(c);
    rib.set_policies(next.get());
    CHECK(rib.loc_rib_size(kIpv4Unicast) == 1);
    CHECK(rib.adj_rib_in_size(1, kIpv4Unicast, false) == 2);
    CHECK(rib.adj_rib_in_size(1, kIpv4Unicast, true) == 1);
    ups = rib.take_updates(2);
    REQUIRE(ups.size() == 1);
    CHECK(ups[0].families[0].withdrawn == std::vector<Nlri>{Nlri{pfx("203.0.113.0/24"), 0, {}, {}}});
}

TEST_CASE("RPKI changes re-run the policies that match on it (Rib::revalidate)", "[bgp][policy][rpki]") {
    FixedValidator v;
    BgpPolicyConfig c;
    PolicyTerm drop_invalid;
    drop_invalid.rpki = rpki::OriginValidity::invalid;
    drop_invalid.disposition = PolicyTerm::Disposition::reject;
    PolicyTerm rest;
    rest.disposition = PolicyTerm::Disposition::accept;
    c.policies["rov"].terms = {{10, drop_invalid}, {20, rest}};
    Policies policies(c, &v);
    Rib rib(65000, 1);
    rib.set_policies(&policies);
    PeerInfo a;
    a.id = 1;
    a.address = ip("192.0.2.11");
    a.local_address = ip("192.0.2.1");
    a.peer_as = 65001;
    a.local_as = 65000;
    a.peer_bgp_id = 11;
    a.import_policy = "rov";
    rib.peer_up(a);
    Update u;
    u.families.push_back({kIpv4Unicast, {}, {Nlri{pfx("203.0.113.0/24"), 0, {}, {}}}});
    u.attributes = route({65001, 65011});  // the ROA says 65010: invalid
    rib.apply(1, u);
    CHECK(rib.loc_rib_size(kIpv4Unicast) == 0);
    for (auto& p : rib.paths(pfx("203.0.113.0/24"))) CHECK(p.why_not_best == "refused by import policy or a loop check");
    // The ROA is withdrawn: the route is not-found now, accepted without a new UPDATE.
    v.roa = false;
    rib.revalidate();
    CHECK(rib.loc_rib_size(kIpv4Unicast) == 1);
    v.roa = true;
    rib.revalidate();
    CHECK(rib.loc_rib_size(kIpv4Unicast) == 0);
    // A route the ROA authorises is valid, and stays in.
    u.attributes = route({65001, 65010});
    rib.apply(1, u);
    CHECK(rib.loc_rib_size(kIpv4Unicast) == 1);
    rib.revalidate();
    CHECK(rib.loc_rib_size(kIpv4Unicast) == 1);
}
