// The BGP peer state machine (src/slowpath/bgp/fsm.hpp) driven directly:
// events and time in, actions checked, no sockets.
#include <catch2/catch.hpp>

#include "slowpath/bgp/fsm.hpp"

using namespace rampart;
using namespace rampart::bgp;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kOurId = 0xc0000201;    // 192.0.2.1
constexpr uint32_t kPeerId = 0xc0000202;   // 192.0.2.2 (higher)

SessionSettings settings(bool passive = false) {
    SessionSettings s;
    s.local_as = 64500;
    s.router_id = kOurId;
    s.peer_as = 64501;
    s.passive = passive;
    s.families = {kIpv4Unicast, kIpv6Unicast};
    return s;
}

Open peer_open(Asn as = 64501, uint16_t hold = 90, uint32_t id = kPeerId) {
    Open o;
    o.my_as = as <= 0xffff ? uint16_t(as) : uint16_t(kAsTrans);
    o.hold_time = hold;
    o.bgp_id = id;
    o.capabilities.four_octet_as = as;
    o.capabilities.multiprotocol = {kIpv4Unicast};
    o.capabilities.route_refresh = true;
    return o;
}

template <typename T>
std::vector<T> all(const Actions& actions) {
    std::vector<T> out;
    for (auto& a : actions)
        if (auto* x = std::get_if<T>(&a)) out.push_back(*x);
    return out;
}

template <typename M>
std::vector<M> sent(const Actions& actions) {
    std::vector<M> out;
    for (auto& s : all<Send>(actions))
        if (auto* m = std::get_if<M>(&s.message)) out.push_back(*m);
    return out;
}

// Brings an active FSM to Established over its outbound connection.
ConnId establish(PeerFsm& fsm, Millis now, const Open& open = peer_open()) {
    auto a = fsm.start(now);
    auto connects = all<Connect>(a);
    REQUIRE(connects.size() == 1);
    const ConnId id = connects[0].conn;
    a = fsm.connected(id, now);
    REQUIRE(sent<Open>(a).size() == 1);
    a = fsm.receive(id, open, now);
    REQUIRE(sent<Keepalive>(a).size() == 1);
    CHECK(fsm.state() == State::open_confirm);
    a = fsm.receive(id, Keepalive{}, now);
    REQUIRE(all<SessionUp>(a).size() == 1);
    CHECK(fsm.state() == State::established);
    return id;
}

}  // namespace

TEST_CASE("bgp fsm: an active peer connects, exchanges OPENs and comes up", "[bgp][fsm]") {
    PeerFsm fsm(settings());
    CHECK(fsm.state() == State::idle);
    const ConnId id = establish(fsm, 0ms);
    const auto& n = *fsm.negotiated();
    CHECK(n.peer_as == 64501);
    CHECK(n.hold_time == 90);
    CHECK(n.keepalive_time == 30);
    CHECK(n.families == std::vector<AddressFamily>{kIpv4Unicast});  // the peer offered IPv4 only
    CHECK(n.route_refresh);
    CHECK(n.codec.four_octet_as);
    CHECK(fsm.established_conn() == id);

    // Keepalives every third of the hold time; the hold timer restarts on every message.
    auto a = fsm.tick(29'999ms);
    CHECK(sent<Keepalive>(a).empty());
    a = fsm.tick(30'000ms);
    CHECK(sent<Keepalive>(a).size() == 1);
    fsm.receive(id, Keepalive{}, 80'000ms);
    a = fsm.tick(169'999ms);
    CHECK(fsm.established());
    a = fsm.tick(170'000ms);
    auto notes = sent<Notification>(a);
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].code == error::kHoldTimer);
    REQUIRE(all<SessionDown>(a).size() == 1);
    CHECK(all<Close>(a).size() == 1);
    CHECK_FALSE(fsm.established());
}

TEST_CASE("bgp fsm: our OPEN carries the capabilities", "[bgp][fsm]") {
    SessionSettings s = settings();
    s.local_as = 4200000001;
    s.add_path = {{kIpv4Unicast, true, false}};
    s.role = Role::customer;
    s.graceful_restart = true;
    PeerFsm fsm(s);
    const Open o = fsm.our_open();
    CHECK(o.my_as == kAsTrans);
    CHECK(o.capabilities.four_octet_as == 4200000001u);
    CHECK(o.capabilities.multiprotocol == std::vector<AddressFamily>{kIpv4Unicast, kIpv6Unicast});
    CHECK(o.capabilities.route_refresh);
    CHECK(o.capabilities.extended_message);
    CHECK(o.capabilities.role == Role::customer);
    REQUIRE(o.capabilities.graceful_restart);
    CHECK(o.capabilities.graceful_restart->families.empty());  // helper only
    CHECK(o.capabilities.add_path.size() == 1);
}

TEST_CASE("bgp fsm: connect failures retry on the connect-retry timer", "[bgp][fsm]") {
    PeerFsm fsm(settings());
    auto a = fsm.start(0ms);
    const ConnId first = all<Connect>(a).at(0).conn;
    CHECK(fsm.state() == State::connect);
    a = fsm.connect_failed(first, 100ms, "connection refused");
    CHECK(a.empty());
    CHECK(fsm.state() == State::active);
    CHECK(all<Connect>(fsm.tick(9'999ms)).empty());
    a = fsm.tick(10'000ms);
    auto again = all<Connect>(a);
    REQUIRE(again.size() == 1);
    CHECK(again[0].conn != first);
    // An event about the old connection is stale: ignored.
    CHECK(fsm.connect_failed(first, 10'001ms, "late").empty());
    CHECK(fsm.state() == State::connect);
    // A connect that never completes is abandoned at the next retry.
    a = fsm.tick(20'000ms);
    CHECK(all<Close>(a).size() == 1);
    CHECK(all<Connect>(a).size() == 1);
}

TEST_CASE("bgp fsm: a passive peer never connects and accepts the peer's connection", "[bgp][fsm]") {
    PeerFsm fsm(settings(true));
    CHECK(fsm.start(0ms).empty());
    CHECK(fsm.state() == State::active);
    CHECK(fsm.tick(60'000ms).empty());
    Actions a;
    auto id = fsm.accepted(61'000ms, a);
    REQUIRE(id);
    CHECK(sent<Open>(a).size() == 1);
    CHECK(fsm.state() == State::open_sent);
    // One inbound connection at a time.
    Actions b;
    CHECK_FALSE(fsm.accepted(61'001ms, b));
    fsm.receive(*id, peer_open(), 61'002ms);
    a = fsm.receive(*id, Keepalive{}, 61'003ms);
    CHECK(all<SessionUp>(a).size() == 1);
    CHECK(fsm.established_side() == Side::inbound);
}

TEST_CASE("bgp fsm: OPEN errors are answered with the RFC's NOTIFICATION", "[bgp][fsm]") {
    struct Case {
        Open open;
        uint8_t subcode;
    };
    Open bad_version = peer_open();
    bad_version.version = 3;
    Case cases[] = {
        {peer_open(64999), error::kBadPeerAs},
        {peer_open(64501, 2), error::kUnacceptableHoldTime},
        {peer_open(64501, 90, 0), error::kBadBgpId},
        {bad_version, error::kUnsupportedVersion},
    };
    for (auto& c : cases) {
        PeerFsm fsm(settings());
        auto a = fsm.start(0ms);
        const ConnId id = all<Connect>(a).at(0).conn;
        fsm.connected(id, 0ms);
        a = fsm.receive(id, c.open, 1ms);
        auto notes = sent<Notification>(a);
        REQUIRE(notes.size() == 1);
        CHECK(notes[0].code == error::kOpen);
        CHECK(notes[0].subcode == c.subcode);
        CHECK(all<Close>(a).size() == 1);
        CHECK(fsm.state() == State::idle);  // idle hold, then again
        CHECK(fsm.last_notification_sent()->subcode == c.subcode);
    }
}

TEST_CASE("bgp fsm: RFC 9234 roles must agree", "[bgp][fsm]") {
    SessionSettings s = settings();
    s.role = Role::provider;
    {
        PeerFsm fsm(s);
        Open o = peer_open();
        o.capabilities.role = Role::provider;  // both providers
        auto r = fsm.negotiate(o);
        REQUIRE(std::holds_alternative<Notification>(r));
        CHECK(std::get<Notification>(r).code == error::kOpen);
        CHECK(std::get<Notification>(r).subcode == error::kRoleMismatch);
        o.capabilities.role = Role::customer;
        REQUIRE(std::holds_alternative<Negotiated>(fsm.negotiate(o)));
        CHECK(std::get<Negotiated>(fsm.negotiate(o)).peer_role == Role::customer);
        o.capabilities.role.reset();  // not strict: a peer without roles is fine
        CHECK(std::holds_alternative<Negotiated>(fsm.negotiate(o)));
    }
    s.strict_role = true;
    PeerFsm strict(s);
    auto r = strict.negotiate(peer_open());
    REQUIRE(std::holds_alternative<Notification>(r));
    CHECK(std::get<Notification>(r).subcode == error::kRoleMismatch);
    s.role = Role::rs;
    PeerFsm rs(s);
    Open o = peer_open();
    o.capabilities.role = Role::rs_client;
    CHECK(std::holds_alternative<Negotiated>(rs.negotiate(o)));
    o.capabilities.role = Role::peer;
    CHECK(std::holds_alternative<Notification>(rs.negotiate(o)));
}

TEST_CASE("bgp fsm: capability negotiation", "[bgp][fsm]") {
    SessionSettings s = settings();
    s.add_path = {{kIpv4Unicast, true, true}, {kIpv6Unicast, true, false}};
    s.hold_time = 30;
    PeerFsm fsm(s);
    Open o = peer_open(64501, 180);
    o.capabilities.multiprotocol = {kIpv6Unicast, kIpv4Unicast};
    o.capabilities.add_path = {{kIpv4Unicast, false, true}, {kIpv6Unicast, true, true}};
    o.capabilities.extended_message = true;
    GracefulRestart gr;
    gr.restart_time = 120;
    gr.families = {{kIpv4Unicast, true}};
    o.capabilities.graceful_restart = gr;
    auto n = std::get<Negotiated>(fsm.negotiate(o));
    CHECK(n.hold_time == 30);
    CHECK(n.keepalive_time == 10);
    CHECK(n.families == std::vector<AddressFamily>{kIpv4Unicast, kIpv6Unicast});
    // IPv4: we receive (it sends); we would send but it does not receive.
    // IPv6: we receive (it sends).
    CHECK(n.codec.add_path_receive == std::vector<AddressFamily>{kIpv4Unicast, kIpv6Unicast});
    CHECK(n.codec.add_path_send.empty());
    CHECK(n.codec.extended_message);
    CHECK(n.peer_graceful_restart);
    // Without MP capability the peer speaks IPv4 unicast; hold time 0 is no timers.
    Open plain = peer_open(64501, 0);
    plain.capabilities = {};
    plain.my_as = 64501;
    auto p = std::get<Negotiated>(fsm.negotiate(plain));
    CHECK(p.families == std::vector<AddressFamily>{kIpv4Unicast});
    CHECK(p.hold_time == 0);
    CHECK_FALSE(p.codec.four_octet_as);
}

TEST_CASE("bgp fsm: connection collision keeps the connection of the higher identifier", "[bgp][fsm]") {
    for (bool we_are_higher : {false, true}) {
        SessionSettings s = settings();
        s.router_id = we_are_higher ? 0xc0000203 : kOurId;
        PeerFsm fsm(s);
        auto a = fsm.start(0ms);
        const ConnId out = all<Connect>(a).at(0).conn;
        fsm.connected(out, 0ms);
        Actions acc;
        const auto in = fsm.accepted(1ms, acc);
        REQUIRE(in);
        // The OPEN on the outbound one first: OpenConfirm there.
        fsm.receive(out, peer_open(), 2ms);
        // Then on the inbound: the collision is decided.
        a = fsm.receive(*in, peer_open(), 3ms);
        auto closes = all<Close>(a);
        REQUIRE(closes.size() == 1);
        auto notes = sent<Notification>(a);
        REQUIRE(notes.size() == 1);
        CHECK(notes[0].code == error::kCease);
        CHECK(notes[0].subcode == error::kCollisionResolution);
        // We higher: the connection we opened stays; else the peer's.
        const ConnId loser = we_are_higher ? *in : out;
        const ConnId winner = we_are_higher ? out : *in;
        CHECK(closes[0].conn == loser);
        a = fsm.receive(winner, Keepalive{}, 4ms);
        CHECK(all<SessionUp>(a).size() == 1);
        CHECK(fsm.established_conn() == winner);
    }
}

TEST_CASE("bgp fsm: a new connection loses against an established session", "[bgp][fsm]") {
    PeerFsm fsm(settings());
    establish(fsm, 0ms);
    Actions a;
    auto in = fsm.accepted(1ms, a);
    REQUIRE(in);  // accepted, so that its OPEN can be answered properly
    a = fsm.receive(*in, peer_open(), 2ms);
    REQUIRE(all<Close>(a).size() == 1);
    CHECK(all<Close>(a)[0].conn == *in);
    CHECK(sent<Notification>(a).at(0).subcode == error::kCollisionResolution);
    CHECK(fsm.established());
}

TEST_CASE("bgp fsm: flapping peers wait longer each time", "[bgp][fsm]") {
    SessionSettings s = settings();
    s.idle_hold = 1000ms;
    s.idle_hold_max = 8000ms;
    PeerFsm fsm(s);
    Millis now = 0ms;
    std::vector<Millis> holds;
    ConnId id = establish(fsm, now);
    for (int i = 0; i < 6; ++i) {
        now += 1000ms;
        auto a = fsm.closed(id, now, "reset by peer");
        CHECK(all<SessionDown>(a).size() == 1);
        CHECK(fsm.state() == State::idle);
        holds.push_back(fsm.idle_hold());
        // Nothing until the idle hold is over, then a new attempt.
        CHECK(all<Connect>(fsm.tick(now + fsm.idle_hold() - 1ms)).empty());
        now += fsm.idle_hold();
        a = fsm.tick(now);
        auto c = all<Connect>(a);
        REQUIRE(c.size() == 1);
        id = c[0].conn;
        fsm.connected(id, now);
        fsm.receive(id, peer_open(), now);
        fsm.receive(id, Keepalive{}, now);
        REQUIRE(fsm.established());
    }
    CHECK(holds == std::vector<Millis>{1000ms, 2000ms, 4000ms, 8000ms, 8000ms, 8000ms});
    // A session that held for the stable time starts the count over.
    now += 61'000ms;
    fsm.receive(id, Keepalive{}, now - 1ms);
    fsm.closed(id, now, "reset");
    CHECK(fsm.idle_hold() == 1000ms);
}

TEST_CASE("bgp fsm: messages out of place are FSM errors", "[bgp][fsm]") {
    PeerFsm fsm(settings());
    auto a = fsm.start(0ms);
    const ConnId id = all<Connect>(a).at(0).conn;
    fsm.connected(id, 0ms);
    a = fsm.receive(id, Update{}, 1ms);  // in OpenSent
    auto notes = sent<Notification>(a);
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].code == error::kFsm);
    CHECK(notes[0].subcode == 1);  // RFC 6608: OpenSent
    CHECK(fsm.state() == State::idle);
}

TEST_CASE("bgp fsm: updates and route refresh pass up while established", "[bgp][fsm]") {
    PeerFsm fsm(settings());
    const ConnId id = establish(fsm, 0ms);
    Update u;
    u.families.push_back({kIpv4Unicast, {}, {Nlri{*Prefix::parse("198.51.100.0/24"), 0, {}, {}}}});
    auto a = fsm.receive(id, u, 10ms);
    REQUIRE(all<UpdateReceived>(a).size() == 1);
    CHECK(all<UpdateReceived>(a)[0].update.families.at(0).announced.size() == 1);
    a = fsm.receive(id, RouteRefresh{kIpv4Unicast, RouteRefresh::Subtype::request}, 20ms);
    CHECK(all<RefreshRequested>(a).size() == 1);
    CHECK(fsm.counters().updates_in == 1);
    CHECK(fsm.counters().refreshes_in == 1);
    // A NOTIFICATION from the peer ends the session.
    a = fsm.receive(id, Notification{error::kCease, error::kAdminShutdown, {}, ""}, 30ms);
    REQUIRE(all<SessionDown>(a).size() == 1);
    CHECK_FALSE(all<SessionDown>(a)[0].keep_stale);
    CHECK(fsm.last_notification_received()->subcode == error::kAdminShutdown);
}

TEST_CASE("bgp fsm: max-prefix holds the peer down until started again", "[bgp][fsm]") {
    PeerFsm fsm(settings());
    establish(fsm, 0ms);
    Notification cease{error::kCease, error::kMaxPrefixes, {0, 1, 1, 0, 0, 0, 10}, "more than 10"};
    auto a = fsm.reset(5ms, cease, true);
    CHECK(sent<Notification>(a).at(0).subcode == error::kMaxPrefixes);
    CHECK(all<SessionDown>(a).size() == 1);
    CHECK(fsm.held_down());
    CHECK(fsm.state() == State::idle);
    CHECK(fsm.tick(600'000ms).empty());  // no retry of its own
    Actions b;
    CHECK_FALSE(fsm.accepted(600'001ms, b));  // nor from the peer
    a = fsm.start(600'002ms);
    CHECK(all<Connect>(a).size() == 1);
}

TEST_CASE("bgp fsm: graceful restart keeps routes through a transport failure", "[bgp][fsm]") {
    SessionSettings s = settings();
    s.graceful_restart = true;
    PeerFsm fsm(s);
    Open o = peer_open();
    GracefulRestart gr;
    gr.restart_time = 60;
    gr.families = {{kIpv4Unicast, true}};
    o.capabilities.graceful_restart = gr;
    const ConnId id = establish(fsm, 0ms, o);
    // The restarted peer connects again before we noticed the old session go.
    Actions a;
    auto in = fsm.accepted(1000ms, a);
    REQUIRE(in);
    auto down = all<SessionDown>(a);
    REQUIRE(down.size() == 1);
    CHECK(down[0].keep_stale);
    CHECK(all<Close>(a).at(0).conn == id);
    CHECK(fsm.stale_pending());
    // It does not come back within its restart time: the stale routes go.
    a = fsm.tick(61'000ms);
    CHECK(all<StaleExpired>(a).size() == 1);
    CHECK_FALSE(fsm.stale_pending());

    // Without the capability, a TCP failure drops the routes.
    PeerFsm plain(settings());
    const ConnId pid = establish(plain, 0ms);
    a = plain.closed(pid, 10ms, "reset");
    CHECK_FALSE(all<SessionDown>(a).at(0).keep_stale);
}

TEST_CASE("bgp fsm: stop tells the peer and stays idle", "[bgp][fsm]") {
    PeerFsm fsm(settings());
    establish(fsm, 0ms);
    auto a = fsm.stop(1ms, Notification{error::kCease, error::kAdminShutdown, {}, "shutdown"});
    CHECK(sent<Notification>(a).at(0).subcode == error::kAdminShutdown);
    CHECK(all<SessionDown>(a).size() == 1);
    CHECK(fsm.state() == State::idle);
    CHECK(fsm.tick(1'000'000ms).empty());
}
