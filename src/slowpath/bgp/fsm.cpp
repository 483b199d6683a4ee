#include "slowpath/bgp/fsm.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace rampart::bgp {

namespace {

// RFC 4271 §8.2.2: a large hold time while the OPEN is awaited.
constexpr Millis kOpenHoldTime{240'000};
// How long a restarted peer's stale routes wait for its End-of-RIB once the
// session is back (FRR's stalepath-time default).
constexpr Millis kStalePathTime{360'000};

Notification fsm_error(State state, std::string reason) {
    // RFC 6608 subcodes: 1 OpenSent, 2 OpenConfirm, 3 Established.
    uint8_t sub = state == State::open_sent ? 1 : state == State::open_confirm ? 2 : state == State::established ? 3 : 0;
    return Notification{error::kFsm, sub, {}, std::move(reason)};
}

Notification open_error(uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
    return Notification{error::kOpen, subcode, std::move(data), std::move(reason)};
}

// RFC 9234 §4.2: the pairs that agree.
bool roles_agree(Role ours, Role theirs) {
    switch (ours) {
        case Role::provider: return theirs == Role::customer;
        case Role::customer: return theirs == Role::provider;
        case Role::rs: return theirs == Role::rs_client;
        case Role::rs_client: return theirs == Role::rs;
        case Role::peer: return theirs == Role::peer;
    }
    return false;
}

const char* role_name(Role r) {
    switch (r) {
        case Role::provider: return "provider";
        case Role::customer: return "customer";
        case Role::rs: return "rs";
        case Role::rs_client: return "rs-client";
        case Role::peer: return "peer";
    }
    return "?";
}

}  // namespace

std::string_view state_name(State s) {
    switch (s) {
        case State::idle: return "Idle";
        case State::connect: return "Connect";
        case State::active: return "Active";
        case State::open_sent: return "OpenSent";
        case State::open_confirm: return "OpenConfirm";
        case State::established: return "Established";
    }
    return "?";
}

// ---------------------------------------------------------------------------
// OPEN and capability negotiation
// ---------------------------------------------------------------------------

Open PeerFsm::our_open() const {
    Open o;
    o.my_as = settings_.local_as <= 0xffff ? uint16_t(settings_.local_as) : uint16_t(kAsTrans);
    o.hold_time = settings_.hold_time;
    o.bgp_id = settings_.router_id;
    auto& caps = o.capabilities;
    caps.multiprotocol = settings_.families;
    caps.route_refresh = true;
    caps.extended_message = true;
    caps.four_octet_as = settings_.local_as;
    if (settings_.graceful_restart) {
        // Helper only (RFC 4724 §3): no families, we keep no forwarding
        // state across our own restart; the capability tells the peer we
        // keep its routes across its restart.
        GracefulRestart gr;
        gr.restart_time = std::min<uint16_t>(settings_.restart_time, 4095);
        caps.graceful_restart = gr;
    }
    caps.add_path = settings_.add_path;
    caps.role = settings_.role;
    return o;
}

std::variant<Negotiated, Notification> PeerFsm::negotiate(const Open& peer) const {
    if (peer.version != 4)
        return open_error(error::kUnsupportedVersion, {0, 4}, fmt::format("peer speaks BGP version {}", peer.version));
    if (peer.hold_time == 1 || peer.hold_time == 2)
        return open_error(error::kUnacceptableHoldTime, {}, fmt::format("peer hold time {} s", peer.hold_time));
    const Asn peer_as = peer.asn();
    if (peer_as != settings_.peer_as) {
        std::vector<uint8_t> data{uint8_t(peer.my_as >> 8), uint8_t(peer.my_as)};
        return open_error(error::kBadPeerAs, std::move(data),
                          fmt::format("peer is AS {}, configured remote-as {}", peer_as, settings_.peer_as));
    }
    if (peer.bgp_id == 0 || (peer_as == settings_.local_as && peer.bgp_id == settings_.router_id))
        return open_error(error::kBadBgpId, {}, fmt::format("peer BGP identifier {}", IpAddr::v4(peer.bgp_id).str()));
    const auto& caps = peer.capabilities;
    if (settings_.role) {
        if (caps.role && !roles_agree(*settings_.role, *caps.role))
            return open_error(error::kRoleMismatch, {},
                              fmt::format("role mismatch: we are {}, the peer says it is {}", role_name(*settings_.role),
                                          role_name(*caps.role)));
        if (!caps.role && settings_.strict_role)
            return open_error(error::kRoleMismatch, {}, "the peer announces no role (strict mode)");
    }

    Negotiated n;
    n.peer_open = peer;
    n.peer_as = peer_as;
    n.peer_id = peer.bgp_id;
    n.hold_time = std::min(settings_.hold_time, peer.hold_time);
    n.keepalive_time = uint16_t(n.hold_time / 3);
    // RFC 4760 §8: a peer without the capability speaks IPv4 unicast only.
    std::vector<AddressFamily> theirs = caps.multiprotocol;
    if (theirs.empty()) theirs.push_back(kIpv4Unicast);
    for (auto& f : settings_.families)
        if (std::find(theirs.begin(), theirs.end(), f) != theirs.end()) n.families.push_back(f);
    n.codec.families = n.families;  // MP NLRI of other families are skipped on decode (RFC 4760 §7)
    n.codec.four_octet_as = caps.four_octet_as.has_value();
    n.codec.extended_message = caps.extended_message;  // we always offer it
    n.codec.external_peer = peer_as != settings_.local_as;
    for (auto& ours : settings_.add_path) {
        if (std::find(n.families.begin(), n.families.end(), ours.family) == n.families.end()) continue;
        for (auto& their : caps.add_path) {
            if (their.family != ours.family) continue;
            if (ours.receive && their.send) n.codec.add_path_receive.push_back(ours.family);
            if (ours.send && their.receive) n.codec.add_path_send.push_back(ours.family);
        }
    }
    n.route_refresh = caps.route_refresh || caps.enhanced_route_refresh;
    n.enhanced_route_refresh = caps.enhanced_route_refresh;
    if (settings_.graceful_restart) n.peer_graceful_restart = caps.graceful_restart;
    n.peer_role = caps.role;
    return n;
}

// ---------------------------------------------------------------------------
// connections
// ---------------------------------------------------------------------------

std::optional<Side> PeerFsm::side_of(ConnId id) const {
    for (Side s : {Side::outbound, Side::inbound})
        if (conn(s).state != State::idle && conn(s).id == id) return s;
    return std::nullopt;
}

ConnId PeerFsm::open_slot(Side side, State state) {
    Connection& c = conn(side);
    c = Connection{};
    c.id = next_id_++;
    c.state = state;
    return c.id;
}

bool PeerFsm::any_connection() const {
    return conn(Side::outbound).state != State::idle || conn(Side::inbound).state != State::idle;
}

std::optional<ConnId> PeerFsm::established_conn() const {
    for (Side s : {Side::outbound, Side::inbound})
        if (conn(s).state == State::established) return conn(s).id;
    return std::nullopt;
}

std::optional<Side> PeerFsm::established_side() const {
    for (Side s : {Side::outbound, Side::inbound})
        if (conn(s).state == State::established) return s;
    return std::nullopt;
}

State PeerFsm::state() const {
    State best = State::idle;
    for (Side s : {Side::outbound, Side::inbound}) best = std::max(best, conn(s).state);
    if (best != State::idle) return best;
    if (enabled_ && !held_down_ && !idle_until_) return State::active;  // waiting for the peer or the next attempt
    return State::idle;
}

void PeerFsm::restart_hold(Connection& c, Millis now) {
    const uint16_t hold = c.negotiated ? c.negotiated->hold_time : 0;
    if (hold) c.hold_deadline = now + Millis(uint64_t(hold) * 1000);
    else c.hold_deadline.reset();
}

void PeerFsm::send_open(Side side, Millis now, Actions& out) {
    Connection& c = conn(side);
    out.push_back(Send{c.id, our_open()});
    ++counters_.opens_out;
    c.state = State::open_sent;
    c.hold_deadline = now + kOpenHoldTime;
}

void PeerFsm::send_notification(Side side, Notification n, Actions& out) {
    Connection& c = conn(side);
    if (c.state == State::idle) return;
    ++counters_.notifications_out;
    last_sent_ = n;
    // A NOTIFICATION needs a TCP connection that is up (not Connect).
    if (c.state != State::connect) out.push_back(Send{c.id, std::move(n)});
}

void PeerFsm::drop_connection(Side side, Actions& out) {
    Connection& c = conn(side);
    if (c.state == State::idle) return;
    out.push_back(Close{c.id});
    c = Connection{};
}

void PeerFsm::connection_failed(Side side, Millis now, const std::string& why, Actions& out, Cause cause) {
    const bool was_established = conn(side).state == State::established;
    drop_connection(side, out);
    if (was_established) {
        const std::optional<GracefulRestart> gr = negotiated_ ? negotiated_->peer_graceful_restart : std::nullopt;
        // RFC 4724 §4.2: routes are kept through a TCP failure (not a
        // NOTIFICATION) when the peer announced graceful restart with families.
        const bool keep = gr && !gr->families.empty() && cause != Cause::notification;
        last_error_ = why;
        negotiated_.reset();
        out.push_back(SessionDown{why, keep});
        if (keep) stale_until_ = now + Millis(uint64_t(gr->restart_time) * 1000);
        // A flap counts when the session did not hold long enough.
        if (now - established_since_ >= settings_.stable_after) flaps_ = 0;
        if (cause == Cause::peer_restarting) return;  // the peer is already connecting again
        enter_idle(now, out);
        return;
    }
    if (any_connection()) return;  // the other connection carries on
    last_error_ = why;
    enter_idle(now, out);
}

void PeerFsm::enter_idle(Millis now, Actions& out) {
    for (Side s : {Side::outbound, Side::inbound}) drop_connection(s, out);
    connect_retry_deadline_.reset();
    if (!enabled_ || held_down_) return;
    ++flaps_;
    Millis hold = settings_.idle_hold;
    for (unsigned i = 1; i < flaps_ && hold < settings_.idle_hold_max; ++i) hold *= 2;
    idle_hold_now_ = std::min(hold, settings_.idle_hold_max);
    idle_until_ = now + idle_hold_now_;
}

void PeerFsm::begin(Millis now, Actions& out) {
    idle_until_.reset();
    if (settings_.passive) return;  // Active: the peer connects to us
    if (conn(Side::outbound).state != State::idle) return;
    out.push_back(Connect{open_slot(Side::outbound, State::connect)});
    connect_retry_deadline_ = now + settings_.connect_retry;
}

// ---------------------------------------------------------------------------
// administrative events
// ---------------------------------------------------------------------------

Actions PeerFsm::start(Millis now) {
    Actions out;
    enabled_ = true;
    held_down_ = false;
    if (!any_connection()) begin(now, out);
    return out;
}

Actions PeerFsm::stop(Millis now, const Notification& why) {
    Actions out = reset(now, why, true);
    enabled_ = false;
    held_down_ = false;
    stale_until_.reset();
    return out;
}

Actions PeerFsm::reset(Millis now, const Notification& why, bool hold_down) {
    Actions out;
    const bool was_established = established();
    for (Side s : {Side::outbound, Side::inbound}) {
        if (conn(s).state >= State::open_sent) send_notification(s, why, out);
        drop_connection(s, out);
    }
    if (was_established) {
        negotiated_.reset();
        out.push_back(SessionDown{describe(why), false});
    }
    last_error_ = describe(why);
    connect_retry_deadline_.reset();
    idle_until_.reset();
    if (hold_down) {
        held_down_ = true;
        return out;
    }
    // An operator's reset is no flap: the base idle hold, then again.
    if (enabled_) {
        idle_hold_now_ = settings_.idle_hold;
        idle_until_ = now + settings_.idle_hold;
    }
    return out;
}

// ---------------------------------------------------------------------------
// transport events
// ---------------------------------------------------------------------------

Actions PeerFsm::connected(ConnId id, Millis now) {
    Actions out;
    auto side = side_of(id);
    if (side != Side::outbound || conn(Side::outbound).state != State::connect) {
        out.push_back(Close{id});  // a connection we no longer want
        return out;
    }
    connect_retry_deadline_.reset();
    send_open(Side::outbound, now, out);
    return out;
}

Actions PeerFsm::connect_failed(ConnId id, Millis now, const std::string& why) {
    Actions out;
    if (side_of(id) != Side::outbound || conn(Side::outbound).state != State::connect) return out;
    conn(Side::outbound) = Connection{};
    last_error_ = why;
    // Active: the connect-retry timer brings the next attempt (RFC 4271 §8.2.2, Connect state, event 18).
    if (!connect_retry_deadline_) connect_retry_deadline_ = now + settings_.connect_retry;
    return out;
}

std::optional<ConnId> PeerFsm::accepted(Millis now, Actions& out) {
    // Stopped or held down (max-prefix) refuses. The idle hold does not: it
    // damps our own attempts, and a peer that damps its own too would
    // otherwise keep meeting a refusal (both sides waiting in turn).
    if (!enabled_ || held_down_) return std::nullopt;
    const std::optional<Side> est = established_side();
    const bool peer_gr = negotiated_ && negotiated_->peer_graceful_restart &&
                         !negotiated_->peer_graceful_restart->families.empty();
    if (est && peer_gr) {
        // RFC 4724 §4.2: a new connection from a peer that announced graceful
        // restart means it restarted: the old session ends, its routes stay.
        connection_failed(*est, now, "the peer restarted (new connection)", out, Cause::peer_restarting);
    } else if (conn(Side::inbound).state != State::idle) {
        return std::nullopt;  // one inbound connection at a time
    }
    // An established session without graceful restart keeps running; the new
    // connection's OPEN then loses the collision against it (§6.8).
    idle_until_.reset();
    const ConnId id = open_slot(Side::inbound, State::connect);
    send_open(Side::inbound, now, out);
    return id;
}

Actions PeerFsm::closed(ConnId id, Millis now, const std::string& why) {
    Actions out;
    auto side = side_of(id);
    if (!side) return out;
    connection_failed(*side, now, why, out, Cause::transport);
    return out;
}

Actions PeerFsm::decode_error(ConnId id, const Notification& n, Millis now) {
    Actions out;
    auto side = side_of(id);
    if (!side) return out;
    send_notification(*side, n, out);
    connection_failed(*side, now, "sent " + describe(n), out,
                      Cause::notification);
    return out;
}

// ---------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------

Actions PeerFsm::receive(ConnId id, Message message, Millis now) {
    Actions out;
    auto side = side_of(id);
    if (!side) {
        ++counters_.dropped;
        return out;
    }
    Connection& c = conn(*side);
    auto unexpected = [&](const char* what) {
        Notification n = fsm_error(c.state, fmt::format("{} in {}", what, state_name(c.state)));
        send_notification(*side, n, out);
        connection_failed(*side, now, "sent " + describe(n), out, Cause::notification);
    };
    if (auto* n = std::get_if<Notification>(&message)) {
        ++counters_.notifications_in;
        last_received_ = *n;
        connection_failed(*side, now, "notification received: " + describe(*n), out, Cause::notification);
        return out;
    }
    if (auto* open = std::get_if<Open>(&message)) {
        ++counters_.opens_in;
        if (c.state != State::open_sent) {
            unexpected("OPEN");
            return out;
        }
        return on_open(*side, *open, now);
    }
    if (std::holds_alternative<Keepalive>(message)) {
        ++counters_.keepalives_in;
        if (c.state == State::open_confirm || c.state == State::established) return on_keepalive(*side, now);
        unexpected("KEEPALIVE");
        return out;
    }
    if (auto* update = std::get_if<Update>(&message)) {
        ++counters_.updates_in;
        if (c.state != State::established) {
            unexpected("UPDATE");
            return out;
        }
        restart_hold(c, now);
        out.push_back(UpdateReceived{std::move(*update)});
        return out;
    }
    if (auto* rr = std::get_if<RouteRefresh>(&message)) {
        ++counters_.refreshes_in;
        if (c.state != State::established) {
            unexpected("ROUTE-REFRESH");
            return out;
        }
        restart_hold(c, now);
        out.push_back(RefreshRequested{*rr});
        return out;
    }
    return out;
}

Actions PeerFsm::on_open(Side side, const Open& open, Millis now) {
    Actions out;
    auto result = negotiate(open);
    if (auto* n = std::get_if<Notification>(&result)) {
        send_notification(side, *n, out);
        connection_failed(side, now, "sent " + describe(*n), out, Cause::notification);
        return out;
    }
    // Collision detection (RFC 4271 §6.8): the peer's identifier is known now.
    const Side other = side == Side::outbound ? Side::inbound : Side::outbound;
    const State other_state = conn(other).state;
    const Notification collision{error::kCease, error::kCollisionResolution, {}, "connection collision"};
    if (other_state == State::established) {
        send_notification(side, collision, out);
        drop_connection(side, out);
        return out;
    }
    if (other_state == State::open_confirm) {
        // The connection opened by the side with the higher identifier stays.
        const uint32_t peer_id = std::get<Negotiated>(result).peer_id;
        const Side loser = settings_.router_id < peer_id ? Side::outbound : Side::inbound;
        send_notification(loser, collision, out);
        drop_connection(loser, out);
        if (loser == side) return out;
    }
    Connection& c = conn(side);
    c.negotiated = std::move(std::get<Negotiated>(result));
    c.state = State::open_confirm;
    out.push_back(Send{c.id, Keepalive{}});
    ++counters_.keepalives_out;
    restart_hold(c, now);
    if (c.negotiated->keepalive_time)
        c.keepalive_deadline = now + Millis(uint64_t(c.negotiated->keepalive_time) * 1000);
    return out;
}

Actions PeerFsm::on_keepalive(Side side, Millis now) {
    Actions out;
    Connection& c = conn(side);
    restart_hold(c, now);
    if (c.state == State::established) return out;
    // OpenConfirm -> Established.
    c.state = State::established;
    const Side other = side == Side::outbound ? Side::inbound : Side::outbound;
    if (conn(other).state != State::idle) {
        send_notification(other, Notification{error::kCease, error::kCollisionResolution, {}, "connection collision"}, out);
        drop_connection(other, out);
    }
    connect_retry_deadline_.reset();
    idle_until_.reset();
    negotiated_ = c.negotiated;
    established_since_ = now;
    ++counters_.established_transitions;
    // A restarted peer is back: its stale routes wait for its End-of-RIB, at most the stale-path time.
    if (stale_until_) stale_until_ = now + kStalePathTime;
    out.push_back(SessionUp{c.id, *c.negotiated});
    return out;
}

// ---------------------------------------------------------------------------
// time
// ---------------------------------------------------------------------------

Actions PeerFsm::tick(Millis now) {
    Actions out;
    for (Side s : {Side::outbound, Side::inbound}) {
        Connection& c = conn(s);
        if (c.state == State::idle) continue;
        if (c.hold_deadline && now >= *c.hold_deadline) {
            Notification n{error::kHoldTimer, 0, {}, "hold timer expired"};
            send_notification(s, n, out);
            // RFC 4724 §4.2 counts the hold timer with the TCP failures: routes are kept.
            connection_failed(s, now, "hold timer expired", out, Cause::transport);
            continue;
        }
        if (c.keepalive_deadline && now >= *c.keepalive_deadline &&
            (c.state == State::open_confirm || c.state == State::established)) {
            out.push_back(Send{c.id, Keepalive{}});
            ++counters_.keepalives_out;
            c.keepalive_deadline = now + Millis(uint64_t(c.negotiated->keepalive_time) * 1000);
        }
    }
    if (connect_retry_deadline_ && now >= *connect_retry_deadline_) {
        connect_retry_deadline_.reset();
        if (enabled_ && !held_down_ && !established() && !settings_.passive) {
            // Connect timed out (or failed): abandon that attempt, try again.
            if (conn(Side::outbound).state == State::connect) drop_connection(Side::outbound, out);
            if (conn(Side::outbound).state == State::idle) begin(now, out);
        }
    }
    if (idle_until_ && now >= *idle_until_) {
        idle_until_.reset();
        if (enabled_ && !held_down_ && !any_connection()) begin(now, out);
    }
    if (stale_until_ && now >= *stale_until_) {
        stale_until_.reset();
        out.push_back(StaleExpired{});
    }
    return out;
}

std::optional<Millis> PeerFsm::next_deadline() const {
    std::optional<Millis> next;
    auto consider = [&](const std::optional<Millis>& t) {
        if (t && (!next || *t < *next)) next = t;
    };
    for (Side s : {Side::outbound, Side::inbound}) {
        consider(conn(s).hold_deadline);
        consider(conn(s).keepalive_deadline);
    }
    consider(connect_retry_deadline_);
    consider(idle_until_);
    consider(stale_until_);
    return next;
}

}  // namespace rampart::bgp
