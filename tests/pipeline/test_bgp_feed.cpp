// BGP into the data plane (slowpath/bgp/rib_feeds.hpp): UPDATEs applied to
// a real Rib, its FIB changes fed as one batch (one FIB swap), packets
// forwarded by the worker along the BGP route and no longer after the
// withdrawal; next hops resolved through the FIB (a static route carries an
// iBGP next hop; an unreachable one keeps its routes out); a configured
// route wins over BGP's; and the Adj-RIB-In of a customer session feeding
// EFP-uRPF B, so spoofed sources are dropped and the customer's forwarded,
// changing with announcements and withdrawals.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

#include "slowpath/bgp/policy.hpp"
#include "slowpath/bgp/rib_feeds.hpp"
#include "tests/pipeline/fixture.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {

constexpr bgp::Asn kLocalAs = 64500, kCustomerAs = 64501;

bgp::BgpPolicyConfig accept_all() {
    bgp::BgpPolicyConfig c;
    bgp::PolicyTerm t;
    t.disposition = bgp::PolicyTerm::Disposition::accept;
    c.policies["all"].terms[10] = t;
    return c;
}

bgp::PeerInfo customer() {  // router R on port1, our customer
    bgp::PeerInfo p;
    p.id = 1;
    p.address = kRouter;
    p.local_address = kPort1Ip;
    p.peer_as = kCustomerAs;
    p.local_as = kLocalAs;
    p.peer_bgp_id = 0xcb007102;
    p.local_role = bgp::Role::provider;
    p.import_policy = p.export_policy = "all";
    p.sav_interface = 1;  // port1's ifindex
    return p;
}

bgp::Update announce(std::vector<const char*> prefixes, std::vector<bgp::Asn> path, const IpAddr& next_hop) {
    bgp::Update u;
    bgp::Update::FamilyRoutes fr{bgp::kIpv4Unicast, {}, {}};
    for (const char* p : prefixes) fr.announced.push_back(bgp::Nlri{*Prefix::parse(p), 0, {}, {}});
    u.families.push_back(std::move(fr));
    u.attributes.origin = bgp::Origin::igp;
    u.attributes.as_path = {bgp::AsPathSegment{bgp::AsPathSegment::Kind::sequence, std::move(path)}};
    u.attributes.next_hop = next_hop;
    return u;
}

bgp::Update withdraw(std::vector<const char*> prefixes) {
    bgp::Update u;
    bgp::Update::FamilyRoutes fr{bgp::kIpv4Unicast, {}, {}};
    for (const char* p : prefixes) fr.withdrawn.push_back(bgp::Nlri{*Prefix::parse(p), 0, {}, {}});
    u.families.push_back(std::move(fr));
    return u;
}

// Host A on port0 sends to `dst`.
Bytes from_a_to(const IpAddr& dst) {
    return ether(kPort0Mac, kHostAMac, 0x0800, ipv4(kHostA, dst, 17, 64, udp(kHostA, dst, 4000, 53, pattern(18))));
}
// Router R on port1 sends from `src` to host A.
Bytes from_r(const IpAddr& src) {
    return ether(kPort1Mac, kRouterMac, 0x0800, ipv4(src, kHostA, 17, 64, udp(src, kHostA, 4000, 53, pattern(18))));
}

bool routed(Pipeline& p, const char* a) { return p.tables->lookup4(addr(a).v4_host()) >= 0; }

struct BgpSide {
    bgp::Policies policies{accept_all()};
    bgp::Rib rib{kLocalAs, 0x0a000001};
    Pipeline& p;
    explicit BgpSide(Pipeline& pipeline) : p(pipeline) {
        rib.set_policies(&policies);
        rib.set_resolver(bgp::fib_resolver(*p.fib));
        rib.peer_up(customer());
    }
    // What the protocol does after each batch of UPDATEs.
    std::string drain() { return bgp::feed(*p.control, rib); }
};

}  // namespace

TEST_CASE("BGP routes reach the FIB in one swap per batch and forward; a withdrawal takes them out",
          "[pipeline][bgp]") {
    TwoSided p;
    BgpSide bgp(p);
    bgp::Update u = announce({"10.1.0.0/16"}, {kCustomerAs}, kRouter);
    for (uint32_t i = 0; i < 1000; ++i)
        u.families[0].announced.push_back(bgp::Nlri{Prefix{IpAddr::v4(0x0a800000u + (i << 8)), 24}, 0, {}, {}});
    bgp.rib.apply(1, u);
    const uint64_t swaps = p.tables->fib_swaps();
    CHECK(bgp.drain().empty());
    CHECK(p.tables->fib_swaps() - swaps == 1);  // 1001 routes, one swap
    CHECK(routed(p, "10.1.2.3"));
    CHECK(routed(p, "10.131.231.1"));  // the last /24 (10.128.0.0 + 999)
    auto installed = p.fib->installed_route(*Prefix::parse("10.1.0.0/16"));
    REQUIRE(installed);
    CHECK(installed->source == RouteSource::bgp);
    CHECK(p.control->execute("show route 10.1.0.0/16").text.find("B  10.1.0.0/16") != std::string::npos);

    // Forwarded along it: out of port1 to router R's MAC.
    p.send(0, from_a_to(addr("10.1.2.3")));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    CHECK(Bytes(out[0].begin(), out[0].begin() + 6) == Bytes(kRouterMac.bytes.begin(), kRouterMac.bytes.end()));

    bgp.rib.apply(1, withdraw({"10.1.0.0/16"}));
    CHECK(bgp.drain().empty());
    CHECK_FALSE(routed(p, "10.1.2.3"));
    CHECK(routed(p, "10.128.0.1"));
    CHECK(p.control->protocol_routes().size() == 1000);
    // The kernel is not asked (no mirror here) and the running configuration does not hold them.
    CHECK(p.control->config().routes.size() == 2);
}

TEST_CASE("BGP next hops resolve through the FIB; configured routes win over BGP's", "[pipeline][bgp]") {
    TwoSided p;
    BgpSide bgp(p);
    bgp::PeerInfo ibgp;
    ibgp.id = 2;
    ibgp.address = addr("192.0.2.77");  // a loopback behind R (route 192.0.2.0/24 via R)
    ibgp.local_address = kPort1Ip;
    ibgp.peer_as = ibgp.local_as = kLocalAs;
    ibgp.peer_bgp_id = 0xc000024d;
    bgp.rib.peer_up(ibgp);
    // iBGP next hop 192.0.2.77: resolved through the static route to R.
    bgp.rib.apply(2, announce({"172.16.0.0/12"}, {64999}, addr("192.0.2.77")));
    // A next hop nothing routes: the route stays out of the Loc-RIB and the FIB.
    bgp.rib.apply(2, announce({"172.32.0.0/12"}, {64999}, addr("100.64.0.1")));
    CHECK(bgp.drain().empty());
    CHECK(routed(p, "172.16.0.1"));
    CHECK_FALSE(routed(p, "172.32.0.1"));
    CHECK(bgp.rib.loc_rib_size(bgp::kIpv4Unicast) == 1);
    auto r = p.fib->installed_route(*Prefix::parse("172.16.0.0/12"));
    REQUIRE(r);
    REQUIRE(r->next_hops.size() == 1);
    CHECK(r->next_hops[0].address == kRouter);
    // The operator's route for the same prefix wins; when it goes, BGP's is back.
    p.exec("route 172.16.0.0/12 blackhole");
    CHECK(p.fib->installed_route(*Prefix::parse("172.16.0.0/12"))->kind == NhKind::blackhole);
    p.exec("no route 172.16.0.0/12 blackhole");
    CHECK(p.fib->installed_route(*Prefix::parse("172.16.0.0/12"))->source == RouteSource::bgp);
    // The static route to the next hop goes: the resolver says so, the route leaves the FIB.
    p.exec("no route 192.0.2.0/24 via 203.0.113.2");
    bgp.rib.next_hops_changed();
    CHECK(bgp.drain().empty());
    CHECK_FALSE(routed(p, "172.16.0.1"));
}

TEST_CASE("SAV follows BGP: EFP-uRPF B on a customer session allows its announced space, live", "[pipeline][bgp][sav]") {
    TwoSided p;
    p.exec("interface port1 sav-role customer asn 64501");
    p.exec("interface port1 sav efp-b");
    BgpSide bgp(p);
    auto send_all = [&] {
        p.send(1, from_r(addr("10.1.2.3")));    // the customer's own
        p.send(1, from_r(addr("10.2.200.1")));  // its customer's
        p.send(1, from_r(addr("172.16.0.1")));  // nobody's
        p.run();
    };
    send_all();  // nothing announced yet: all refused
    CHECK(p.wire_out(0).empty());
    CHECK(p.drops(1, Drop::sav_no_rule) == 3);

    bgp.rib.apply(1, announce({"10.1.0.0/16"}, {kCustomerAs}, kRouter));
    bgp.rib.apply(1, announce({"10.2.0.0/16"}, {kCustomerAs, 64502}, kRouter));
    CHECK(bgp.drain().empty());
    CHECK(p.control->sav().live_routes(1) == 2);
    send_all();
    CHECK(p.wire_out(0).size() == 2);
    CHECK(p.drops(1, Drop::sav_no_rule) == 4);
    auto why = p.control->execute("show sav prefix 10.2.0.0/16");
    INFO(why.text);
    CHECK(why.text.find("port1 (efp-b): allowed") != std::string::npos);

    // Withdrawn: its sources are refused again at once.
    bgp.rib.apply(1, withdraw({"10.2.0.0/16"}));
    CHECK(bgp.drain().empty());
    p.send(1, from_r(addr("10.2.200.1")));
    p.run();
    CHECK(p.wire_out(0).empty());
    CHECK(p.drops(1, Drop::sav_no_rule) + p.drops(1, Drop::sav_wrong_interface) == 5);
}

// Not run by default (prints, asserts no time): a full table from one BGP
// peer through the Rib into the FIB, in batches as the protocol drains them,
// against the same routes through Control::route_apply (owned routes in the
// running configuration).
// `RAMPART_PIPELINE_EAL_MB=3072 pipeline-tests "[.bench][bgp-fib]"`.
TEST_CASE("Benchmark: 1M BGP routes to the FIB", "[.bench][bgp-fib]") {
    constexpr uint32_t kRoutes = 1000000, kBatch = 100000;
    Pipeline p(2, true, 1, TableSizes{1u << 20, 1u << 8, 1u << 10, 1u << 8});
    p.exec("interface port0 address 198.51.100.1/24");
    p.exec("interface port1 address 203.0.113.1/24");
    p.neighbor(1, "203.0.113.2", "02:cc:00:00:00:02");
    BgpSide bgp(p);
    auto nth = [](uint32_t i) { return Prefix{IpAddr::v4(0x01000000u + (i << 8)), 24}; };
    auto seconds_since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    // UPDATEs of 4 prefixes each, one AS path per UPDATE.
    std::vector<bgp::Update> updates;
    for (uint32_t i = 0; i < kRoutes; i += 4) {
        bgp::Update u = announce({}, {kCustomerAs, 64000 + (i % 1000)}, kRouter);
        for (uint32_t k = i; k < i + 4 && k < kRoutes; ++k) u.families[0].announced.push_back(bgp::Nlri{nth(k), 0, {}, {}});
        updates.push_back(std::move(u));
    }
    const uint64_t swaps = p.tables->fib_swaps();
    auto t = std::chrono::steady_clock::now();
    double in_rib = 0;
    for (size_t i = 0; i < updates.size();) {
        auto t0 = std::chrono::steady_clock::now();
        for (size_t end = std::min(updates.size(), i + kBatch / 4); i < end; ++i) bgp.rib.apply(1, updates[i]);
        auto changes = bgp.rib.take_fib_changes();
        in_rib += seconds_since(t0);
        REQUIRE(bgp::feed_fib(*p.control, changes).empty());
    }
    const double to_fib = seconds_since(t);
    REQUIRE(routed(p, "1.0.0.1"));
    REQUIRE(p.tables->lookup4(nth(kRoutes - 1).addr.v4_host()) >= 0);
    std::printf("BGP: %u routes to the FIB in %.2f s (RIB %.2f s, FIB %.2f s), %llu swaps\n", kRoutes, to_fib, in_rib,
                to_fib - in_rib, (unsigned long long)(p.tables->fib_swaps() - swaps));

    t = std::chrono::steady_clock::now();
    p.exec("interface port0 description changed");  // an interface change re-checks every route
    std::printf("BGP: an interface change afterwards: %.2f s\n", seconds_since(t));

    t = std::chrono::steady_clock::now();
    bgp.rib.peer_down(1, false);
    REQUIRE(bgp::feed_fib(*p.control, bgp.rib.take_fib_changes()).empty());
    std::printf("BGP: withdrawn from the FIB in %.2f s\n", seconds_since(t));
    REQUIRE_FALSE(routed(p, "1.0.0.1"));

    // The same routes as owned routes through the running configuration.
    OwnedRouteChange ch;
    for (uint32_t i = 0; i < kRoutes; ++i) ch.add.emplace_back(nth(i), kRouter);
    t = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ch.add.size(); i += kBatch) {
        OwnedRouteChange batch;
        batch.add.assign(ch.add.begin() + ptrdiff_t(i), ch.add.begin() + ptrdiff_t(std::min(ch.add.size(), i + kBatch)));
        REQUIRE_FALSE(p.control->route_apply("bgp", batch));
    }
    std::printf("route_apply: %u owned routes to the FIB in %.2f s\n", kRoutes, seconds_since(t));
    t = std::chrono::steady_clock::now();
    p.exec("interface port0 description again");
    std::printf("route_apply: an interface change afterwards: %.2f s\n", seconds_since(t));
}

// Not run by default: a full table from a customer session into the SAV
// table (EFP-uRPF B on its interface) and the FIB together, in batches.
// `RAMPART_PIPELINE_EAL_MB=3072 pipeline-tests "[.bench][bgp-sav]"`.
TEST_CASE("Benchmark: 1M BGP routes to the FIB and the SAV table", "[.bench][bgp-sav]") {
    constexpr uint32_t kRoutes = 1000000, kBatch = 100000;
    Pipeline p(2, true, 1, TableSizes{1u << 20, 1u << 8, 1u << 10, 1u << 8});
    p.control->set_sav_sizes(sav::SavTableSizes{1u << 21, 1u << 12, 1u << 10, 1u << 10});
    p.exec("interface port0 address 198.51.100.1/24");
    p.exec("interface port1 address 203.0.113.1/24");
    p.exec("interface port1 sav-role customer asn 64501");
    p.exec("interface port1 sav efp-b");
    p.neighbor(1, "203.0.113.2", "02:cc:00:00:00:02");
    BgpSide bgp(p);
    auto nth = [](uint32_t i) { return Prefix{IpAddr::v4(0x01000000u + (i << 8)), 24}; };
    auto seconds_since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    std::vector<bgp::Update> updates;
    for (uint32_t i = 0; i < kRoutes; i += 4) {
        bgp::Update u = announce({}, {kCustomerAs, 64000 + (i % 1000)}, kRouter);
        for (uint32_t k = i; k < i + 4 && k < kRoutes; ++k) u.families[0].announced.push_back(bgp::Nlri{nth(k), 0, {}, {}});
        updates.push_back(std::move(u));
    }
    double rib_s = 0;
    auto t = std::chrono::steady_clock::now();
    for (size_t i = 0; i < updates.size();) {
        auto t0 = std::chrono::steady_clock::now();
        for (size_t end = std::min(updates.size(), i + kBatch / 4); i < end; ++i) bgp.rib.apply(1, updates[i]);
        rib_s += seconds_since(t0);
        REQUIRE(bgp.drain().empty());
    }
    std::printf("BGP+SAV: %u routes in the FIB and the SAV table in %.2f s (RIB %.2f s)\n", kRoutes,
                seconds_since(t), rib_s);
    // The last one's sources are allowed on port1.
    const IpAddr last = IpAddr::v4(nth(kRoutes - 1).addr.v4_host() + 9);
    p.send(1, ether(kPort1Mac, kRouterMac, 0x0800, ipv4(last, kHostA, 17, 64, udp(last, kHostA, 1, 2, pattern(8)))));
    p.run();
    CHECK(p.drops(1, Drop::sav_no_rule) + p.drops(1, Drop::sav_wrong_interface) == 0);
}
