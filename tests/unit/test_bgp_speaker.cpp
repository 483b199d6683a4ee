// Two BGP speakers (src/slowpath/bgp/speaker.hpp) against each other over
// real loopback TCP sockets: sessions, TCP-MD5, originated prefixes,
// max-prefix, route refresh. Interop with other daemons is in
// tests/interop/bgp.sh.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>

#include <catch2/catch.hpp>

#include "slowpath/bgp/speaker.hpp"

using namespace rampart;
using namespace rampart::bgp;
using namespace std::chrono_literals;

namespace {

const IpAddr kA = *IpAddr::parse("192.0.2.1");
const IpAddr kB = *IpAddr::parse("192.0.2.2");

// The test's own network namespace (root only, as the interop tests): the
// speakers' addresses on its loopback, which the codec accepts as next hops
// (127/8 it refuses, RFC 7606 §7.3), and nothing of the host's port space.
// The calling thread returns to its namespace at the end.
struct PrivateNetwork {
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    PrivateNetwork() {
        REQUIRE(home >= 0);
        INFO("needs root: unshare(CLONE_NEWNET)");
        REQUIRE(unshare(CLONE_NEWNET) == 0);
        REQUIRE(std::system("ip link set lo up && ip addr add 192.0.2.1/32 dev lo && "
                            "ip addr add 192.0.2.2/32 dev lo") == 0);
    }
    ~PrivateNetwork() {
        setns(home, CLONE_NEWNET);
        close(home);
    }
};

BgpConfig config(Asn as, uint32_t id, const IpAddr& peer, Asn peer_as, const IpAddr& local) {
    BgpConfig c;
    c.asn = as;
    c.router_id = id;
    BgpNeighborConfig n;
    n.remote_as = peer_as;
    n.local_address = local;
    n.import_policy = n.export_policy = "all";  // RFC 8212: eBGP needs both
    c.neighbors[peer] = n;
    return c;
}

// One policy that accepts everything.
BgpPolicyConfig accept_all() {
    BgpPolicyConfig p;
    PolicyTerm term;
    term.disposition = PolicyTerm::Disposition::accept;
    p.policies["all"].terms[10] = term;
    return p;
}

struct Pair {
    // Each test its own ports: no listener left over from the one before.
    explicit Pair(uint16_t base, Speaker::Hooks b_hooks = {})
        : a(base, uint16_t(base + 1)), b(uint16_t(base + 1), base, std::move(b_hooks)) {}
    PrivateNetwork network;  // before the speakers, gone after them
    Speaker a, b;
    BgpConfig ca = config(64500, 0xc0000201, kB, 64501, kA);
    BgpConfig cb = config(64501, 0xc0000202, kA, 64500, kB);
    BgpPolicyConfig policies = accept_all();
    void configure() {
        CHECK(a.configure(ca, policies, 0, steady_now()).empty());
        CHECK(b.configure(cb, policies, 0, steady_now()).empty());
    }
    // Runs both speakers until `done` or the time is up.
    bool run_until(const std::function<bool()>& done, Millis limit) {
        const Millis end = steady_now() + limit;
        while (steady_now() < end) {
            if (done()) return true;
            pollfd fds[2] = {{a.fd(), POLLIN, 0}, {b.fd(), POLLIN, 0}};
            poll(fds, 2, 10);
            const Millis now = steady_now();
            a.on_readable(now);
            b.on_readable(now);
            a.tick(now);
            b.tick(now);
        }
        return done();
    }
    bool both_established() { return a.state(kB) == State::established && b.state(kA) == State::established; }
};

}  // namespace

TEST_CASE("bgp speaker: two speakers establish over TCP and exchange originated prefixes", "[bgp][speaker]") {
    Pair p(17901);
    // An IPv6 prefix too: not for this IPv4-only session (RFC 4760 §7).
    p.ca.networks = {*Prefix::parse("198.51.100.0/24"), *Prefix::parse("203.0.113.0/25"),
                     *Prefix::parse("2001:db8:100::/48")};
    p.configure();
    REQUIRE(p.run_until([&] { return p.both_established(); }, 5s));
    // Both connected at once: one connection survived the collision.
    REQUIRE(p.run_until([&] { return p.b.prefixes_received(kA) == 2; }, 2s));
    CHECK(p.a.prefixes_received(kB) == 0);
    const std::string summary = p.a.show_summary(steady_now());
    CHECK(summary.find("BGP router identifier 192.0.2.1, local AS number 64500") != std::string::npos);
    CHECK(summary.find("192.0.2.2") != std::string::npos);
    const std::string detail = p.b.show_neighbors(kA, steady_now());
    CHECK(detail.find("BGP state = Established") != std::string::npos);
    CHECK(detail.find("IPv4 Unicast: 2 prefixes received, 2 accepted") != std::string::npos);

    // No longer originated: withdrawn, the session stays.
    p.ca.networks.erase(*Prefix::parse("203.0.113.0/25"));
    CHECK(p.a.configure(p.ca, p.policies, 0, steady_now()).empty());
    REQUIRE(p.run_until([&] { return p.b.prefixes_received(kA) == 1; }, 2s));
    CHECK(p.a.fsm(kB)->counters().established_transitions == 1);
    // An export policy that rejects: withdrawn by soft reconfiguration, no reset.
    p.policies.policies["none"].terms[10].disposition = PolicyTerm::Disposition::reject;
    p.ca.neighbors[kB].export_policy = "none";
    CHECK(p.a.configure(p.ca, p.policies, 0, steady_now()).empty());
    REQUIRE(p.run_until([&] { return p.b.prefixes_received(kA) == 0; }, 2s));
    p.ca.neighbors[kB].export_policy = "all";
    CHECK(p.a.configure(p.ca, p.policies, 0, steady_now()).empty());
    REQUIRE(p.run_until([&] { return p.b.prefixes_received(kA) == 1; }, 2s));
    CHECK(p.a.fsm(kB)->counters().established_transitions == 1);
    // `clear bgp`: a new session, the routes again.
    CHECK(!p.a.clear(kB, Speaker::Soft::none, steady_now()));
    REQUIRE(p.run_until([&] { return p.both_established() && p.b.prefixes_received(kA) == 1; }, 5s));
    CHECK(p.a.fsm(kB)->counters().established_transitions == 2);

    // Route refresh: B asks, A answers with its routes again.
    const uint64_t before = p.a.fsm(kB)->counters().refreshes_in;
    CHECK(!p.b.clear(kA, Speaker::Soft::in, steady_now()));
    REQUIRE(p.run_until([&] { return p.a.fsm(kB)->counters().refreshes_in > before; }, 2s));
    CHECK(p.both_established());
}

TEST_CASE("bgp speaker: TCP-MD5 keys must match", "[bgp][speaker]") {
    Pair p(17911);
    p.ca.neighbors[kB].password = "right key";
    p.cb.neighbors[kA].password = "wrong key";
    p.configure();
    CHECK_FALSE(p.run_until([&] { return p.both_established(); }, 3s));
    CHECK(p.a.state(kB) != State::established);
    p.cb.neighbors[kA].password = "right key";
    CHECK(p.b.configure(p.cb, p.policies, 0, steady_now()).empty());
    REQUIRE(p.run_until([&] { return p.both_established(); }, 8s));
    CHECK(p.a.show_neighbors(kB, steady_now()).find("MD5 on") != std::string::npos);
}

TEST_CASE("bgp speaker: max-prefix closes the session with the RFC 4486 cease until cleared", "[bgp][speaker]") {
    Pair p(17921);
    p.ca.networks = {*Prefix::parse("198.51.100.0/24"), *Prefix::parse("203.0.113.0/25"),
                     *Prefix::parse("203.0.113.128/25")};
    p.cb.neighbors[kA].max_prefix = 2;
    p.configure();
    REQUIRE(p.run_until([&] { return p.a.fsm(kB)->last_notification_received().has_value(); }, 5s));
    const Notification n = *p.a.fsm(kB)->last_notification_received();
    CHECK(n.code == error::kCease);
    CHECK(n.subcode == error::kMaxPrefixes);
    CHECK(p.b.fsm(kA)->held_down());
    CHECK(p.b.state(kA) == State::idle);
    CHECK(p.b.show_summary(steady_now()).find("Idle (PfxCt)") != std::string::npos);
    // Stays down (A keeps trying, B refuses) ...
    CHECK_FALSE(p.run_until([&] { return p.both_established(); }, 1500ms));
    // ... until the limit is raised or the operator clears it.
    p.cb.neighbors[kA].max_prefix = 10;
    CHECK(p.b.configure(p.cb, p.policies, 0, steady_now()).empty());
    REQUIRE(p.run_until([&] { return p.both_established() && p.b.prefixes_received(kA) == 3; }, 8s));
}

TEST_CASE("bgp speaker: the RIB's outputs reach the hooks (FIB, SAV)", "[bgp][speaker]") {
    std::vector<FibChange> fib;
    std::vector<SavChange> sav;
    Speaker::Hooks hooks;
    hooks.fib = [&](const std::vector<FibChange>& c) { fib.insert(fib.end(), c.begin(), c.end()); };
    hooks.sav = [&](const std::vector<SavChange>& c) { sav.insert(sav.end(), c.begin(), c.end()); };
    hooks.sav_interface = [](const IpAddr& a) -> std::optional<uint16_t> {
        if (a == kA) return 7;
        return std::nullopt;
    };
    Pair p(17931, hooks);
    p.ca.networks = {*Prefix::parse("198.51.100.0/24")};
    p.configure();
    REQUIRE(p.run_until([&] { return !fib.empty() && !sav.empty(); }, 5s));
    CHECK(fib.at(0).prefix == *Prefix::parse("198.51.100.0/24"));
    CHECK(fib.at(0).next_hops == std::vector<IpAddr>{kA});
    CHECK(sav.at(0).sav_interface == 7);
    CHECK(sav.at(0).prefix == *Prefix::parse("198.51.100.0/24"));
    CHECK_FALSE(sav.at(0).withdrawn);
    CHECK(sav.at(0).as_path == std::vector<AsPathSegment>{{AsPathSegment::Kind::sequence, {64500}}});
    // Withdrawn: out of the FIB and of the interface's Adj-RIB-In.
    fib.clear();
    sav.clear();
    p.ca.networks.clear();
    CHECK(p.a.configure(p.ca, p.policies, 0, steady_now()).empty());
    REQUIRE(p.run_until([&] { return !fib.empty() && !sav.empty(); }, 5s));
    CHECK(fib.at(0).next_hops.empty());
    CHECK(sav.at(0).withdrawn);
}
