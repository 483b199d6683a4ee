// The BGP RIBs (slowpath/bgp/rib.hpp) fed decoded UPDATEs by hand: the
// decision process one tie-breaker at a time (each case makes exactly one
// step decide, and shows the step deciding the other way when the attribute
// flips), interning, withdraw and implicit withdraw, graceful-restart stale
// paths and the End-of-RIB sweep, route reflection, RFC 9234 OTC, update
// packing, ECMP, next hops that become unreachable, max-prefix.
#include "slowpath/bgp/rib.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "slowpath/bgp/attr_store.hpp"
#include "slowpath/bgp/policy.hpp"

using namespace rampart;
using namespace rampart::bgp;

namespace {

constexpr Asn kLocalAs = 65000;
constexpr uint32_t kRouterId = 0x0a000001;  // 10.0.0.1

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
Prefix pfx(const char* s) { return *Prefix::parse(s); }

AsPathSegment seq(std::vector<Asn> asns) { return AsPathSegment{AsPathSegment::Kind::sequence, std::move(asns)}; }

PathAttributes attrs(std::vector<Asn> path, const char* next_hop) {
    PathAttributes a;
    a.origin = Origin::igp;
    if (!path.empty()) a.as_path = {seq(std::move(path))};
    a.next_hop = ip(next_hop);
    return a;
}

Update announce(std::vector<const char*> prefixes, const PathAttributes& a) {
    Update u;
    Update::FamilyRoutes fr{Prefix::parse(prefixes[0])->addr.is_v4() ? kIpv4Unicast : kIpv6Unicast, {}, {}};
    for (const char* p : prefixes) fr.announced.push_back(Nlri{pfx(p), 0, {}, {}});
    u.families.push_back(std::move(fr));
    u.attributes = a;
    return u;
}

Update withdraw(std::vector<const char*> prefixes) {
    Update u;
    Update::FamilyRoutes fr{kIpv4Unicast, {}, {}};
    for (const char* p : prefixes) fr.withdrawn.push_back(Nlri{pfx(p), 0, {}, {}});
    u.families.push_back(std::move(fr));
    return u;
}

// A policy "all" that accepts everything (eBGP needs one: RFC 8212).
BgpPolicyConfig accept_all_config() {
    BgpPolicyConfig c;
    PolicyTerm t;
    t.disposition = PolicyTerm::Disposition::accept;
    c.policies["all"].terms[10] = t;
    return c;
}

PeerInfo peer(PeerId id, Asn as, const char* address, uint32_t bgp_id, const char* local = "192.0.2.1") {
    PeerInfo p;
    p.id = id;
    p.address = ip(address);
    p.local_address = ip(local);
    p.peer_as = as;
    p.local_as = kLocalAs;
    p.peer_bgp_id = bgp_id;
    p.families = {kIpv4Unicast, kIpv6Unicast};
    if (as != kLocalAs) p.import_policy = p.export_policy = "all";
    return p;
}

struct Fixture {
    Policies policies{accept_all_config()};
    Rib rib{kLocalAs, kRouterId};
    Fixture() { rib.set_policies(&policies); }

    // The peer whose path is best for `prefix` (0: none).
    std::optional<PeerId> best(const char* prefix) {
        for (const auto& v : rib.paths(pfx(prefix)))
            if (v.best) return v.local ? PeerId(0) : v.peer;
        return std::nullopt;
    }
    // Next hops the FIB was last told for each prefix.
    std::map<Prefix, std::vector<IpAddr>> fib;
    void drain_fib() {
        for (auto& c : rib.take_fib_changes()) {
            if (c.next_hops.empty()) fib.erase(c.prefix);
            else fib[c.prefix] = c.next_hops;
        }
    }
};

}  // namespace

TEST_CASE("Decision: higher LOCAL_PREF wins first", "[bgp][rib][decision]") {
    Fixture f;
    f.rib.peer_up(peer(1, kLocalAs, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, kLocalAs, "192.0.2.12", 12));
    PathAttributes a = attrs({65010, 65020}, "192.0.2.11"), b = attrs({65010}, "192.0.2.12");
    a.local_pref = 200;  // longer path, but preferred locally
    b.local_pref = 100;
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(1));
    a.local_pref = 50;
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));
}

TEST_CASE("Decision: eBGP LOCAL_PREF is ignored, shorter AS path wins", "[bgp][rib][decision]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, 65002, "192.0.2.12", 12));
    PathAttributes a = attrs({65001, 65010}, "192.0.2.11"), b = attrs({65002}, "192.0.2.12");
    a.local_pref = 500;  // from an external peer: has no meaning here (RFC 4271 §5.1.5)
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));
    // An AS_SET counts one however many ASNs it holds.
    a.as_path = {seq({65001}), AsPathSegment{AsPathSegment::Kind::set, {1, 2, 3, 4}}};
    b.as_path = {seq({65002, 65020, 65030})};
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(1));
}

TEST_CASE("Decision: lower ORIGIN wins", "[bgp][rib][decision]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, 65002, "192.0.2.12", 12));
    PathAttributes a = attrs({65001}, "192.0.2.11"), b = attrs({65002}, "192.0.2.12");
    a.origin = Origin::incomplete;  // peer 1 has the lower router id, but origin decides first
    b.origin = Origin::egp;
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));
    a.origin = Origin::igp;
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    CHECK(f.best("203.0.113.0/24") == PeerId(1));
}

TEST_CASE("Decision: MED within one neighbour AS, or always compared", "[bgp][rib][decision]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, 65001, "192.0.2.12", 12));
    f.rib.peer_up(peer(3, 65003, "192.0.2.13", 13));
    PathAttributes a = attrs({65001}, "192.0.2.11"), b = attrs({65001}, "192.0.2.12");
    a.med = 20;
    b.med = 10;
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));  // same AS: lower MED, though router id 11 < 12

    // A different neighbour AS: MEDs are not compared, the router id decides.
    PathAttributes c = attrs({65003}, "192.0.2.13");
    c.med = 1;
    f.rib.apply(1, withdraw({"203.0.113.0/24"}));
    f.rib.apply(3, announce({"203.0.113.0/24"}, c));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));
    f.rib.set_always_compare_med(true);
    CHECK(f.best("203.0.113.0/24") == PeerId(3));
    // A missing MED is the best MED (0).
    c.med.reset();
    b.med.reset();
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    f.rib.apply(3, announce({"203.0.113.0/24"}, c));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));
}

TEST_CASE("Decision: eBGP over iBGP, then IGP cost", "[bgp][rib][decision]") {
    Fixture f;
    f.rib.set_resolver([](const IpAddr& a) -> std::optional<Rib::Resolution> {
        if (a == ip("198.51.100.1")) return Rib::Resolution{{ip("192.0.2.254")}, 10};
        if (a == ip("198.51.100.2")) return Rib::Resolution{{ip("192.0.2.253")}, 5};
        return Rib::Resolution{{a}, 0};
    });
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 30));
    f.rib.peer_up(peer(2, kLocalAs, "192.0.2.12", 12));
    f.rib.peer_up(peer(3, kLocalAs, "192.0.2.13", 13));
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001}, "192.0.2.11")));
    f.rib.apply(2, announce({"203.0.113.0/24"}, attrs({65001}, "198.51.100.1")));
    f.rib.apply(3, announce({"203.0.113.0/24"}, attrs({65001}, "198.51.100.2")));
    CHECK(f.best("203.0.113.0/24") == PeerId(1));  // eBGP, though its router id is the highest
    f.rib.apply(1, withdraw({"203.0.113.0/24"}));
    CHECK(f.best("203.0.113.0/24") == PeerId(3));  // IGP cost 5 < 10 beats router id 12 < 13
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("192.0.2.253")});  // recursively resolved
}

TEST_CASE("Decision: router id (ORIGINATOR_ID in its place), cluster list, peer address", "[bgp][rib][decision]") {
    Fixture f;
    f.rib.peer_up(peer(1, kLocalAs, "192.0.2.21", 21));
    f.rib.peer_up(peer(2, kLocalAs, "192.0.2.12", 22));
    PathAttributes a = attrs({65001}, "192.0.2.99"), b = attrs({65001}, "192.0.2.99");
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(1));  // router id 21 < 22
    b.originator_id = 5;                            // reflected: its originator's id counts
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));

    // Same originator: the shorter CLUSTER_LIST.
    a.originator_id = 5;
    a.cluster_list = {7};
    b.cluster_list = {8, 9};
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(1));
    // Equal lengths: the lower peer address (192.0.2.12 < 192.0.2.21).
    b.cluster_list = {8};
    f.rib.apply(2, announce({"203.0.113.0/24"}, b));
    CHECK(f.best("203.0.113.0/24") == PeerId(2));
}

TEST_CASE("Locally originated routes win over learnt ones of equal LOCAL_PREF and stay out of the FIB",
          "[bgp][rib][decision]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001}, "192.0.2.11")));
    f.drain_fib();
    CHECK(f.fib.count(pfx("203.0.113.0/24")));
    PathAttributes own;
    own.as_path = {seq({64999, 64998, 64997})};  // longer, but ours
    f.rib.originate(pfx("203.0.113.0/24"), own);
    CHECK(f.best("203.0.113.0/24") == PeerId(0));
    f.drain_fib();
    CHECK_FALSE(f.fib.count(pfx("203.0.113.0/24")));  // our own: not a BGP route for the FIB
    f.rib.withdraw_originated(pfx("203.0.113.0/24"));
    CHECK(f.best("203.0.113.0/24") == PeerId(1));
}

TEST_CASE("Interning: routes with equal attributes share one stored set", "[bgp][rib][interning]") {
    Fixture f;
    f.rib.peer_up(peer(1, kLocalAs, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, kLocalAs, "192.0.2.12", 12));
    Update u;
    Update::FamilyRoutes fr{kIpv4Unicast, {}, {}};
    for (uint32_t i = 0; i < 1000; ++i) fr.announced.push_back(Nlri{Prefix{IpAddr::v4(0x0a000000u + (i << 8)), 24}, 0, {}, {}});
    u.families.push_back(fr);
    u.attributes = attrs({65001, 65002}, "192.0.2.99");
    f.rib.apply(1, u);
    CHECK(f.rib.take_fib_changes().size() == 1000);
    CHECK(f.rib.stats().attribute_sets == 1);
    // The same set from another peer, in other UPDATEs: still one.
    for (uint32_t i = 0; i < 1000; i += 100) {
        Update one = u;
        one.families[0].announced = {fr.announced[i]};
        f.rib.apply(2, one);
    }
    CHECK(f.rib.stats().attribute_sets == 1);
    CHECK(f.rib.stats().paths == 1010);
    // A different set is a second one; when the last route using it goes, so does it.
    PathAttributes other = u.attributes;
    other.med = 5;
    f.rib.apply(2, announce({"10.0.0.0/24"}, other));
    CHECK(f.rib.stats().attribute_sets == 2);
    f.rib.apply(2, withdraw({"10.0.0.0/24"}));
    CHECK(f.rib.stats().attribute_sets == 1);
    f.rib.peer_down(1, false);
    f.rib.peer_down(2, false);
    CHECK(f.rib.take_fib_changes().size() == 1000);
    CHECK(f.rib.stats().attribute_sets == 0);
    CHECK(f.rib.stats().destinations == 0);
}

TEST_CASE("Withdraw and implicit withdraw", "[bgp][rib]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, 65002, "192.0.2.12", 12));
    auto r = f.rib.apply(1, announce({"203.0.113.0/24", "198.18.0.0/15"}, attrs({65001}, "192.0.2.11")));
    CHECK(r.announced == 2);
    f.rib.apply(2, announce({"203.0.113.0/24"}, attrs({65002, 65010}, "192.0.2.12")));
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("192.0.2.11")});
    CHECK(f.rib.adj_rib_in_size(1, kIpv4Unicast, false) == 2);
    // Implicit withdraw: the same prefix again replaces peer 1's path (still one path from it).
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001, 65020, 65030}, "192.0.2.11")));
    CHECK(f.rib.adj_rib_in_size(1, kIpv4Unicast, false) == 2);
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("192.0.2.12")});
    // Withdraw: the other path takes over; withdrawing the last empties the FIB entry.
    r = f.rib.apply(2, withdraw({"203.0.113.0/24", "192.0.2.0/24"}));  // the second was never announced
    CHECK(r.withdrawn == 1);
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("192.0.2.11")});
    f.rib.apply(1, withdraw({"203.0.113.0/24"}));
    f.drain_fib();
    CHECK_FALSE(f.fib.count(pfx("203.0.113.0/24")));
    CHECK(f.fib.count(pfx("198.18.0.0/15")));
    CHECK(f.rib.loc_rib_size(kIpv4Unicast) == 1);
    // RFC 7606 treat-as-withdraw.
    Update bad = announce({"198.18.0.0/15"}, attrs({65001}, "192.0.2.11"));
    bad.treat_as_withdraw = true;
    CHECK(f.rib.apply(1, bad).withdrawn == 1);
    CHECK(f.rib.loc_rib_size(kIpv4Unicast) == 0);
}

TEST_CASE("Graceful restart: stale paths keep forwarding until End-of-RIB sweeps the rest", "[bgp][rib][gr]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.apply(1, announce({"203.0.113.0/24", "198.18.0.0/15", "198.51.100.0/24"}, attrs({65001}, "192.0.2.11")));
    f.drain_fib();
    REQUIRE(f.fib.size() == 3);
    f.rib.peer_down(1, true);  // the peer restarts; we are its helper
    f.drain_fib();
    CHECK(f.fib.size() == 3);  // traffic keeps flowing
    for (auto& v : f.rib.paths(pfx("203.0.113.0/24"))) CHECK(v.stale);
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001}, "192.0.2.11")));  // refreshed
    for (auto& v : f.rib.paths(pfx("203.0.113.0/24"))) CHECK_FALSE(v.stale);
    Update eor;
    eor.end_of_rib = kIpv4Unicast;
    f.rib.apply(1, eor);
    f.drain_fib();
    CHECK(f.fib.size() == 1);
    CHECK(f.fib.count(pfx("203.0.113.0/24")));
    // Without End-of-RIB the stale timer does the sweep.
    f.rib.peer_down(1, true);
    f.rib.stale_timeout(1);
    f.drain_fib();
    CHECK(f.fib.empty());
}

TEST_CASE("Update packing: prefixes sharing attributes go in one UPDATE", "[bgp][rib][out]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.apply(1, announce({"203.0.113.0/24", "198.18.0.0/15", "198.51.100.0/24"}, attrs({65001}, "192.0.2.11")));
    f.rib.apply(1, announce({"192.0.2.128/25"}, attrs({65001, 65005}, "192.0.2.11")));
    f.rib.peer_up(peer(2, 65002, "192.0.2.12", 12, "192.0.2.1"));
    auto ups = f.rib.take_updates(2);
    REQUIRE(ups.size() == 2);  // two attribute sets
    size_t three = ups[0].families[0].announced.size() == 3 ? 0 : 1;
    CHECK(ups[three].families[0].announced.size() == 3);
    CHECK(ups[1 - three].families[0].announced.size() == 1);
    // eBGP: our AS in front, next hop self.
    CHECK(ups[three].attributes.as_path == std::vector<AsPathSegment>{seq({kLocalAs, 65001})});
    CHECK(ups[three].attributes.next_hop == ip("192.0.2.1"));
    CHECK_FALSE(ups[three].attributes.local_pref);
    // Nothing new: nothing to send. Never back to the peer it came from.
    CHECK(f.rib.take_updates(2).empty());
    CHECK(f.rib.take_updates(1).empty());
    // Withdrawals come packed in one UPDATE.
    f.rib.apply(1, withdraw({"203.0.113.0/24", "198.18.0.0/15"}));
    ups = f.rib.take_updates(2);
    REQUIRE(ups.size() == 1);
    CHECK(ups[0].families[0].withdrawn.size() == 2);
    CHECK(ups[0].families[0].announced.empty());
    // Route refresh: everything again.
    f.rib.resend(2, kIpv4Unicast);
    ups = f.rib.take_updates(2);
    size_t n = 0;
    for (auto& u : ups) n += u.families[0].announced.size();
    CHECK(n == 2);
}

TEST_CASE("RFC 8212: an eBGP session without policy imports and exports nothing", "[bgp][rib][policy]") {
    Fixture f;
    PeerInfo p1 = peer(1, 65001, "192.0.2.11", 11);
    p1.import_policy.clear();
    f.rib.peer_up(p1);
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001}, "192.0.2.11")));
    CHECK(f.rib.adj_rib_in_size(1, kIpv4Unicast, false) == 1);  // kept before policy (soft reconfiguration)
    CHECK(f.rib.adj_rib_in_size(1, kIpv4Unicast, true) == 0);
    CHECK(f.rib.loc_rib_size(kIpv4Unicast) == 0);
    // A policy named later applies by soft reconfiguration, no new UPDATE needed.
    p1.import_policy = "all";
    f.rib.peer_up(p1);
    CHECK(f.rib.loc_rib_size(kIpv4Unicast) == 1);
    PeerInfo p2 = peer(2, 65002, "192.0.2.12", 12);
    p2.export_policy.clear();
    f.rib.peer_up(p2);
    CHECK(f.rib.take_updates(2).empty());
    // iBGP without a policy takes and sends everything.
    f.rib.peer_up(peer(3, kLocalAs, "192.0.2.13", 13));
    CHECK(f.rib.take_updates(3).size() == 1);
}

TEST_CASE("Loops: our AS in the path, our router id as originator, our cluster in the list", "[bgp][rib]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, kLocalAs, "192.0.2.12", 12));
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001, kLocalAs, 65002}, "192.0.2.11")));
    f.rib.apply(1, announce({"198.51.100.0/24"}, attrs({65009}, "192.0.2.11")));  // does not start with the peer's AS
    PathAttributes a = attrs({65001}, "192.0.2.11");
    a.originator_id = kRouterId;
    f.rib.apply(2, announce({"198.18.0.0/15"}, a));
    a.originator_id = 77;
    a.cluster_list = {1, kRouterId};
    f.rib.apply(2, announce({"198.19.0.0/16"}, a));
    CHECK(f.rib.loc_rib_size(kIpv4Unicast) == 0);
    CHECK(f.rib.adj_rib_in_size(1, kIpv4Unicast, false) == 2);
    a.cluster_list = {1};
    f.rib.apply(2, announce({"198.19.0.0/16"}, a));
    CHECK(f.rib.loc_rib_size(kIpv4Unicast) == 1);
}

TEST_CASE("Route reflection (RFC 4456): client routes to all, non-client routes to clients", "[bgp][rib][rr]") {
    Fixture f;
    PeerInfo c1 = peer(1, kLocalAs, "192.0.2.11", 11), c2 = peer(2, kLocalAs, "192.0.2.12", 12);
    c1.route_reflector_client = c2.route_reflector_client = true;
    PeerInfo n3 = peer(3, kLocalAs, "192.0.2.13", 13), n4 = peer(4, kLocalAs, "192.0.2.14", 14);
    f.rib.peer_up(c1);
    f.rib.peer_up(c2);
    f.rib.peer_up(n3);
    f.rib.peer_up(n4);
    auto sent_to = [&](PeerId to) {
        size_t n = 0;
        for (auto& u : f.rib.take_updates(to))
            for (auto& fr : u.families) n += fr.announced.size();
        return n;
    };
    // From a client: to the other client and to both non-clients, never back.
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001}, "198.51.100.1")));
    CHECK(sent_to(1) == 0);
    auto ups = f.rib.take_updates(2);
    REQUIRE(ups.size() == 1);
    CHECK(ups[0].attributes.originator_id == 11u);
    CHECK(ups[0].attributes.cluster_list == std::vector<uint32_t>{kRouterId});
    CHECK(ups[0].attributes.next_hop == ip("198.51.100.1"));  // unchanged on iBGP
    CHECK(ups[0].attributes.local_pref == 100u);
    CHECK(sent_to(3) == 1);
    CHECK(sent_to(4) == 1);
    // From a non-client: to the clients only.
    f.rib.apply(3, announce({"198.18.0.0/15"}, attrs({65001}, "198.51.100.3")));
    CHECK(sent_to(1) == 1);
    CHECK(sent_to(2) == 1);
    CHECK(sent_to(4) == 0);
    // Without any client (a plain iBGP speaker): iBGP routes go to no iBGP peer.
    Fixture g;
    g.rib.peer_up(peer(1, kLocalAs, "192.0.2.11", 11));
    g.rib.peer_up(peer(2, kLocalAs, "192.0.2.12", 12));
    g.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001}, "198.51.100.1")));
    CHECK(g.rib.take_updates(2).empty());
}

TEST_CASE("RFC 9234 OTC: ingress leak checks and marking, egress marking and suppression", "[bgp][rib][otc]") {
    Fixture f;
    PeerInfo customer = peer(1, 65001, "192.0.2.11", 11);
    customer.local_role = Role::provider;  // we are its provider
    PeerInfo provider = peer(2, 65002, "192.0.2.12", 12);
    provider.local_role = Role::customer;
    PeerInfo lateral = peer(3, 65003, "192.0.2.13", 13);
    lateral.local_role = Role::peer;
    for (auto& p : {customer, provider, lateral}) f.rib.peer_up(p);

    // From a customer with OTC: a leak, refused.
    PathAttributes leaked = attrs({65001}, "192.0.2.11");
    leaked.otc = 65099;
    f.rib.apply(1, announce({"203.0.113.0/24"}, leaked));
    CHECK(f.rib.adj_rib_in_size(1, kIpv4Unicast, true) == 0);
    // From a peer with an OTC other than its AS: a leak. With its own AS: fine.
    PathAttributes from_peer = attrs({65003}, "192.0.2.13");
    from_peer.otc = 65099;
    f.rib.apply(3, announce({"198.51.100.0/24"}, from_peer));
    CHECK(f.rib.adj_rib_in_size(3, kIpv4Unicast, true) == 0);
    from_peer.otc = 65003;
    f.rib.apply(3, announce({"198.51.100.0/24"}, from_peer));
    CHECK(f.rib.adj_rib_in_size(3, kIpv4Unicast, true) == 1);
    // From a provider without OTC: marked with the provider's AS ...
    f.rib.apply(2, announce({"198.18.0.0/15"}, attrs({65002}, "192.0.2.12")));
    for (auto& v : f.rib.paths(pfx("198.18.0.0/15"))) CHECK(v.attributes.otc == 65002u);
    // ... and so goes to the customer only, not to the lateral peer.
    auto count = [&](PeerId to, const char* prefix) {
        size_t n = 0;
        for (auto& u : f.rib.take_updates(to))
            for (auto& fr : u.families)
                for (auto& nl : fr.announced) n += nl.prefix == pfx(prefix);
        return n;
    };
    CHECK(count(3, "198.18.0.0/15") == 0);
    CHECK(count(1, "198.18.0.0/15") == 1);
    // A customer route without OTC: to the provider without one, to the peer with ours.
    f.rib.apply(1, announce({"192.0.2.0/25"}, attrs({65001}, "192.0.2.11")));
    for (auto& u : f.rib.take_updates(2)) CHECK_FALSE(u.attributes.otc);
    bool marked = false;
    for (auto& u : f.rib.take_updates(3))
        for (auto& fr : u.families)
            for (auto& nl : fr.announced)
                if (nl.prefix == pfx("192.0.2.0/25")) marked = u.attributes.otc == kLocalAs;
    CHECK(marked);
}

TEST_CASE("ECMP: equally good paths share the FIB entry", "[bgp][rib][ecmp]") {
    Fixture f;
    f.rib.set_multipath(4);
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, 65002, "192.0.2.12", 12));
    f.rib.peer_up(peer(3, 65003, "192.0.2.13", 13));
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001, 65100}, "192.0.2.11")));
    f.rib.apply(2, announce({"203.0.113.0/24"}, attrs({65002, 65100}, "192.0.2.12")));
    f.rib.apply(3, announce({"203.0.113.0/24"}, attrs({65003, 65004, 65100}, "192.0.2.13")));  // longer: not a member
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("192.0.2.11"), ip("192.0.2.12")});
    size_t members = 0;
    for (auto& v : f.rib.paths(pfx("203.0.113.0/24"))) members += v.multipath;
    CHECK(members == 2);
    f.rib.set_multipath(1);
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("192.0.2.11")});
}

TEST_CASE("A next hop that becomes unreachable withdraws the routes that depend on it", "[bgp][rib][nexthop]") {
    Fixture f;
    bool reachable = true;
    f.rib.set_resolver([&](const IpAddr& a) -> std::optional<Rib::Resolution> {
        if (a == ip("198.51.100.1") && !reachable) return std::nullopt;
        return Rib::Resolution{{a}, 1};
    });
    f.rib.peer_up(peer(1, kLocalAs, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, kLocalAs, "192.0.2.12", 12));
    f.rib.apply(1, announce({"203.0.113.0/24", "198.18.0.0/15"}, attrs({65001}, "198.51.100.1")));
    f.rib.apply(2, announce({"198.18.0.0/15"}, attrs({65001, 65002}, "198.51.100.2")));
    f.drain_fib();
    CHECK(f.fib[pfx("198.18.0.0/15")] == std::vector<IpAddr>{ip("198.51.100.1")});
    reachable = false;
    f.rib.next_hops_changed();
    f.drain_fib();
    CHECK_FALSE(f.fib.count(pfx("203.0.113.0/24")));
    CHECK(f.fib[pfx("198.18.0.0/15")] == std::vector<IpAddr>{ip("198.51.100.2")});  // the other path
    reachable = true;
    f.rib.next_hops_changed();
    f.drain_fib();
    CHECK(f.fib.count(pfx("203.0.113.0/24")));
    CHECK(f.fib[pfx("198.18.0.0/15")] == std::vector<IpAddr>{ip("198.51.100.1")});
}

TEST_CASE("Max-prefix: crossing the limit asks for the RFC 4486 cease", "[bgp][rib]") {
    Fixture f;
    PeerInfo p = peer(1, 65001, "192.0.2.11", 11);
    p.max_prefixes = 2;
    f.rib.peer_up(p);
    CHECK_FALSE(f.rib.apply(1, announce({"203.0.113.0/24", "198.18.0.0/15"}, attrs({65001}, "192.0.2.11"))).reset);
    auto r = f.rib.apply(1, announce({"198.51.100.0/24"}, attrs({65001}, "192.0.2.11")));
    REQUIRE(r.reset);
    CHECK(r.reset->code == error::kCease);
    CHECK(r.reset->subcode == error::kMaxPrefixes);
    CHECK(r.reset->data == std::vector<uint8_t>{0, 1, 1, 0, 0, 0, 2});  // AFI 1, SAFI 1, limit 2
}

TEST_CASE("SAV changes follow the Adj-RIB-In of a peer with a SAV interface, before policy", "[bgp][rib][sav]") {
    Fixture f;
    PeerInfo p = peer(1, 65001, "192.0.2.11", 11);
    p.sav_interface = 3;
    p.import_policy = "missing";  // refuses everything: SAV still learns what the neighbour announces
    f.rib.peer_up(p);
    PathAttributes a = attrs({65001, 65002}, "192.0.2.11");
    a.communities = {0xFDE80001};
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    auto s = f.rib.take_sav_changes();
    REQUIRE(s.size() == 1);
    CHECK(s[0].sav_interface == 3);
    CHECK_FALSE(s[0].withdrawn);
    CHECK(s[0].as_path == a.as_path);
    CHECK(s[0].communities == a.communities);
    f.rib.apply(1, withdraw({"203.0.113.0/24"}));
    s = f.rib.take_sav_changes();
    REQUIRE(s.size() == 1);
    CHECK(s[0].withdrawn);
    CHECK(s[0].prefix == pfx("203.0.113.0/24"));
}

TEST_CASE("IPv6 routes and families are kept apart", "[bgp][rib]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "2001:db8::11", 11, "2001:db8::1"));
    f.rib.apply(1, announce({"2001:db8:100::/48"}, attrs({65001}, "2001:db8::11")));
    f.rib.apply(1, announce({"203.0.113.0/24"}, attrs({65001}, "192.0.2.11")));
    CHECK(f.rib.loc_rib_size(kIpv6Unicast) == 1);
    CHECK(f.rib.loc_rib_size(kIpv4Unicast) == 1);
    CHECK(f.rib.adj_rib_in_size(1, kIpv6Unicast, false) == 1);
    f.drain_fib();
    CHECK(f.fib[pfx("2001:db8:100::/48")] == std::vector<IpAddr>{ip("2001:db8::11")});
}

TEST_CASE("The attribute store's encoding gives back every field, and equal sets share one entry",
          "[bgp][rib][interning]") {
    PathAttributes a;
    a.origin = Origin::egp;
    a.as_path = {seq({65001, 4200000000u}), AsPathSegment{AsPathSegment::Kind::set, {7, 8}},
                 AsPathSegment{AsPathSegment::Kind::confed_sequence, {65530}}};
    a.next_hop = ip("2001:db8::1");
    a.link_local_next_hop = ip("fe80::1");
    a.med = 300;
    a.local_pref = 0;  // present and zero is not absent
    a.atomic_aggregate = true;
    a.aggregator = Aggregator{65001, 0xc0000201};
    a.communities = {0xFFFFFF01, 65001u << 16 | 2};
    a.extended_communities = {0x0002fde800000001ull};
    a.large_communities = {{65001, 1, 2}, {4200000000u, 0, 0xffffffff}};
    a.originator_id = 0x0a000009;
    a.cluster_list = {1, 2, 3};
    a.otc = 65002;
    a.unknown = {UnknownAttribute{0xc0, 99, {1, 2, 3}}, UnknownAttribute{0xe0, 200, {}}};
    std::vector<uint8_t> bytes;
    encode_attributes(a, bytes);
    CHECK(decode_attributes(bytes.data(), bytes.size()) == a);
    CHECK(bytes.size() < sizeof(PathAttributes));  // every field present, still smaller than the struct alone
    // Each field alone differs from the empty set, and from each other.
    PathAttributes empty;
    encode_attributes(empty, bytes);
    CHECK(decode_attributes(bytes.data(), bytes.size()) == empty);

    AttrStore store;
    const AttrRef r1 = store.intern(a);
    PathAttributes b = a;
    const AttrRef r2 = store.intern(b);
    CHECK(r1 == r2);
    CHECK(store.refs(r1) == 2);
    b.local_pref.reset();
    const AttrRef r3 = store.intern(b);
    CHECK(r3 != r1);
    CHECK(store.get(r3) == b);
    CHECK(store.get(r1) == a);
    CHECK(store.facts(r1).local_pref == 0);
    CHECK(store.facts(r3).local_pref == 100);
    CHECK(store.facts(r1).path_length == 3);  // 2 + the set's 1; confederation segments count nothing
    CHECK(store.facts(r1).neighbor_as == 65001);
    store.unref(r1);
    store.unref(r2);
    CHECK(store.size() == 1);
    CHECK(store.intern(a) != kNoAttr);
    CHECK(store.get(r3) == b);
}

TEST_CASE("Show: each path says the decision step it lost at; walks of the Loc-RIB and the Adj-RIBs",
          "[bgp][rib][show]") {
    Fixture f;
    f.rib.set_resolver([](const IpAddr& a) -> std::optional<Rib::Resolution> {
        if (a == ip("198.51.100.9")) return std::nullopt;
        return Rib::Resolution{{a}, 0};
    });
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, 65002, "192.0.2.12", 12));
    f.rib.peer_up(peer(3, 65001, "192.0.2.13", 13));
    f.rib.peer_up(peer(4, kLocalAs, "192.0.2.14", 14));
    PathAttributes best = attrs({65001}, "192.0.2.11"), longer = attrs({65002, 65009}, "192.0.2.12");
    PathAttributes med = attrs({65001}, "192.0.2.13");
    best.med = 1;
    med.med = 2;
    f.rib.apply(1, announce({"203.0.113.0/24"}, best));
    f.rib.apply(2, announce({"203.0.113.0/24"}, longer));
    f.rib.apply(3, announce({"203.0.113.0/24"}, med));
    f.rib.apply(4, announce({"203.0.113.0/24"}, attrs({65001}, "198.51.100.9")));
    std::map<PeerId, std::string> why;
    for (auto& v : f.rib.paths(pfx("203.0.113.0/24"))) why[v.peer] = v.best ? "best" : v.why_not_best;
    CHECK(why[1] == "best");
    CHECK(why[2] == "longer AS path");
    CHECK(why[3] == "higher MED");
    CHECK(why[4] == "next hop unreachable");
    f.rib.set_always_compare_med(false);
    med.med = 1;
    f.rib.apply(3, announce({"203.0.113.0/24"}, med));
    for (auto& v : f.rib.paths(pfx("203.0.113.0/24")))
        if (v.peer == 3) CHECK(v.why_not_best == "higher router id");

    f.rib.apply(2, announce({"198.51.100.0/24"}, longer));
    size_t best_count = 0;
    f.rib.for_each_best(kIpv4Unicast, [&](const Prefix& p, const Rib::PathView& v) {
        ++best_count;
        CHECK(v.best);
        if (p == pfx("198.51.100.0/24")) CHECK(v.peer == 2);
    });
    CHECK(best_count == 2);
    size_t received = 0;
    f.rib.for_each_received(2, kIpv4Unicast, [&](const Prefix&, const Rib::PathView& v) {
        ++received;
        CHECK(v.accepted);
    });
    CHECK(received == 2);
    // Peer 4 (iBGP) is sent the two best paths, both learnt over eBGP.
    std::vector<Prefix> advertised;
    f.rib.for_each_advertised(4, kIpv4Unicast, [&](const Prefix& p, const PathAttributes& a) {
        advertised.push_back(p);
        CHECK(a.local_pref == 100u);
    });
    CHECK(advertised.size() == 2);
}

TEST_CASE("FlatIndex agrees with std::map under random inserts and erases", "[bgp][rib][index]") {
    // Keys live outside the index (as the RIB's destinations do): value i names keys[i].
    std::mt19937 rng(7);
    std::vector<uint64_t> keys;
    std::map<uint64_t, uint32_t> reference;
    FlatIndex index;
    auto hash = [](uint64_t k) { return mix64(k) & 0xffff00ff; };  // collisions on purpose
    for (int step = 0; step < 200000; ++step) {
        const uint64_t k = rng() % 5000;
        auto eq = [&](uint32_t v) { return keys[v] == k; };
        const uint32_t found = index.find(hash(k), eq);
        auto it = reference.find(k);
        REQUIRE((found == FlatIndex::kNone) == (it == reference.end()));
        if (it != reference.end()) REQUIRE(found == it->second);
        if (rng() % 3 == 0 && it != reference.end()) {
            REQUIRE(index.erase(hash(k), eq));
            reference.erase(it);
        } else if (it == reference.end()) {
            keys.push_back(k);
            index.insert(hash(k), uint32_t(keys.size() - 1));
            reference[k] = uint32_t(keys.size() - 1);
        }
        REQUIRE(index.size() == reference.size());
    }
}

TEST_CASE("ADD-PATH receive: paths of one peer told apart by path id", "[bgp][rib]") {
    Fixture f;
    f.rib.set_multipath(2);
    f.rib.peer_up(peer(1, kLocalAs, "192.0.2.11", 11));
    Update u = announce({"203.0.113.0/24"}, attrs({65001}, "198.51.100.1"));
    u.families[0].announced[0].path_id = 1;
    f.rib.apply(1, u);
    u.attributes = attrs({65001}, "198.51.100.2");
    u.families[0].announced[0].path_id = 2;
    f.rib.apply(1, u);
    CHECK(f.rib.adj_rib_in_size(1, kIpv4Unicast, false) == 2);
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("198.51.100.1"), ip("198.51.100.2")});
    Update w = withdraw({"203.0.113.0/24"});
    w.families[0].withdrawn[0].path_id = 1;
    f.rib.apply(1, w);
    f.drain_fib();
    CHECK(f.fib[pfx("203.0.113.0/24")] == std::vector<IpAddr>{ip("198.51.100.2")});
}

TEST_CASE("Export to eBGP: MED not passed on, unknown transitive attributes marked partial, the rest dropped; "
          "NO_EXPORT and NO_ADVERTISE honoured", "[bgp][rib][out]") {
    Fixture f;
    f.rib.peer_up(peer(1, 65001, "192.0.2.11", 11));
    f.rib.peer_up(peer(2, 65002, "192.0.2.12", 12));
    f.rib.peer_up(peer(3, kLocalAs, "192.0.2.13", 13));
    PathAttributes a = attrs({65001}, "192.0.2.11");
    a.med = 50;
    a.unknown = {UnknownAttribute{kFlagOptional | kFlagTransitive, 99, {1}}, UnknownAttribute{kFlagOptional, 100, {2}}};
    f.rib.apply(1, announce({"203.0.113.0/24"}, a));
    PathAttributes no_export = attrs({65001}, "192.0.2.11");
    no_export.communities = {0xFFFFFF01};
    f.rib.apply(1, announce({"198.51.100.0/24"}, no_export));
    PathAttributes no_adv = attrs({65001}, "192.0.2.11");
    no_adv.communities = {0xFFFFFF02};
    f.rib.apply(1, announce({"198.18.0.0/15"}, no_adv));

    auto to_ebgp = f.rib.take_updates(2);
    REQUIRE(to_ebgp.size() == 1);
    const PathAttributes& out = to_ebgp[0].attributes;
    CHECK_FALSE(out.med);
    REQUIRE(out.unknown.size() == 1);
    CHECK(out.unknown[0].type == 99);
    CHECK(out.unknown[0].flags == (kFlagOptional | kFlagTransitive | kFlagPartial));
    CHECK(to_ebgp[0].families[0].announced == std::vector<Nlri>{Nlri{pfx("203.0.113.0/24"), 0, {}, {}}});
    // iBGP gets NO_EXPORT routes (they stay in the AS) but not NO_ADVERTISE ones; the MED stays.
    size_t n = 0;
    for (auto& u : f.rib.take_updates(3)) {
        for (auto& fr : u.families) {
            for (auto& nl : fr.announced) {
                CHECK(nl.prefix != pfx("198.18.0.0/15"));
                if (nl.prefix == pfx("203.0.113.0/24")) CHECK(u.attributes.med == 50u);
                ++n;
            }
        }
    }
    CHECK(n == 2);
}
