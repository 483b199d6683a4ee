// The BGP-4 finite state machine of one peer (RFC 4271 §8), pure: events and
// the time go in, actions come out. No sockets, no clock, no codec: the
// protocol (bgp_protocol.cpp) turns bytes into Messages and actions into
// bytes and socket calls, and unit tests drive it directly.
//
// A peer has up to two TCP connections at once, the one we opened
// (outbound) and the one the peer opened (inbound); each runs the
// Connect/OpenSent/OpenConfirm/Established part of §8 on its own, and the
// peer resolves a collision between them by BGP Identifier (§6.8). The
// peer-level states are what `show bgp summary` prints.
//
// Capabilities (RFC 5492) are negotiated here: 4-octet AS (RFC 6793),
// multiprotocol families (RFC 4760), ADD-PATH (RFC 7911), route refresh
// (RFC 2918, 7313), graceful restart in helper mode (RFC 4724), extended
// messages (RFC 8654) and BGP roles (RFC 9234, the Role Mismatch
// notification). A flapping peer waits longer each time before the next
// attempt (idle hold, doubled per flap up to a ceiling, BIRD's and FRR's
// "error wait"/"idle hold" damping).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "slowpath/bgp/message.hpp"

namespace rampart::bgp {

using Millis = std::chrono::milliseconds;

enum class State : uint8_t { idle, connect, active, open_sent, open_confirm, established };
std::string_view state_name(State s);  // "Idle", "Connect", ... (as FRR and BIRD print them)

// Who opened a connection: we (outbound) or the peer (inbound).
enum class Side : uint8_t { outbound, inbound };
// Names one TCP connection for its whole life (never reused by the same
// PeerFsm): an event about a connection that is gone is recognised as stale.
using ConnId = uint64_t;

// What the FSM needs of the neighbour's configuration.
struct SessionSettings {
    Asn local_as = 0;
    uint32_t router_id = 0;  // host order
    Asn peer_as = 0;
    bool passive = false;           // never connect out, wait for the peer
    uint16_t hold_time = 90;        // proposed; 0 or 3..65535 (RFC 4271 §4.2)
    Millis connect_retry{10'000};   // RFC 4271 suggests 120 s; peers in a lab come up in seconds
    Millis idle_hold{1'000};        // after a session error, before the next attempt (doubled per flap)
    Millis idle_hold_max{120'000};
    Millis stable_after{60'000};    // established this long: the flap count starts over
    std::vector<AddressFamily> families{kIpv4Unicast};
    std::vector<AddPathFamily> add_path;  // what we offer: receive and/or send per family
    bool graceful_restart = true;   // helper mode: advertise the capability, keep a restarting peer's routes
    uint16_t restart_time = 120;    // ours, advertised (we do not preserve forwarding state ourselves)
    std::optional<Role> role;       // RFC 9234: ours toward this peer
    bool strict_role = false;       // RFC 9234 §4.2: the peer must announce a role too
    friend bool operator==(const SessionSettings&, const SessionSettings&) = default;
};

// What an established session agreed on.
struct Negotiated {
    Open peer_open;                 // the OPEN the peer sent
    Asn peer_as = 0;
    uint32_t peer_id = 0;
    uint16_t hold_time = 0;         // min(ours, theirs); 0: no keepalives, no hold timer
    uint16_t keepalive_time = 0;    // hold_time / 3
    std::vector<AddressFamily> families;  // both announced (IPv4 unicast when the peer sent no MP capability)
    CodecOptions codec;             // 4-octet AS, extended messages, ADD-PATH per direction
    bool route_refresh = false;     // the peer accepts ROUTE-REFRESH from us
    bool enhanced_route_refresh = false;
    std::optional<GracefulRestart> peer_graceful_restart;  // its routes are kept stale if it restarts
    std::optional<Role> peer_role;
};

// ---- actions ----
struct Connect { ConnId conn; };                    // open the outbound connection, known as `conn`
struct Send { ConnId conn; Message message; };      // encode and send on that connection
struct Close { ConnId conn; };                      // close it (after what was sent before)
struct SessionUp { ConnId conn; Negotiated negotiated; };
// The established session ended. `keep_stale`: the peer negotiated graceful
// restart, its routes stay (stale) until its End-of-RIB or StaleExpired.
struct SessionDown { std::string reason; bool keep_stale = false; };
struct StaleExpired {};                             // the restarting peer did not come back in its restart time
struct UpdateReceived { Update update; };
struct RefreshRequested { RouteRefresh refresh; };  // the peer asked for our routes again (or marks begin/end)
using Action = std::variant<Connect, Send, Close, SessionUp, SessionDown, StaleExpired, UpdateReceived, RefreshRequested>;
using Actions = std::vector<Action>;

class PeerFsm {
public:
    explicit PeerFsm(SessionSettings settings) : settings_(std::move(settings)) {}

    // ---- administrative events (RFC 4271 §8.1.2, events 1 and 2) ----
    Actions start(Millis now);                           // ManualStart (passive: ManualStart_with_PassiveTcpEstablishment)
    Actions stop(Millis now, const Notification& why);   // ManualStop: tell the peer, stay Idle
    // Tell the peer and start over (`clear bgp`, a changed setting that needs
    // a new OPEN); hold_down: stay Idle until start() (max-prefix cease).
    Actions reset(Millis now, const Notification& why, bool hold_down = false);
    // The settings for the next OPEN (takes effect on the next session).
    void set_settings(SessionSettings s) { settings_ = std::move(s); }

    // ---- transport events (about a stale ConnId: ignored, or Close for it) ----
    Actions connected(ConnId conn, Millis now);                           // event 16/17
    Actions connect_failed(ConnId conn, Millis now, const std::string& why);  // event 18
    // The peer connected to us: the new connection's id, or nothing when it
    // is refused (Idle, or a connection of the peer's is already in place:
    // the caller closes it without a word). Its OPEN is in `out`.
    std::optional<ConnId> accepted(Millis now, Actions& out);
    Actions closed(ConnId conn, Millis now, const std::string& why);      // TCP closed or reset under us

    // ---- messages ----
    Actions receive(ConnId conn, Message message, Millis now);
    // The codec refused what arrived on `conn`: send this NOTIFICATION, close.
    Actions decode_error(ConnId conn, const Notification& notification, Millis now);

    // ---- time ----
    Actions tick(Millis now);
    // When tick() next has something to do (for tests and for a lazy caller).
    std::optional<Millis> next_deadline() const;

    // ---- state ----
    State state() const;
    bool established() const { return established_conn().has_value(); }
    std::optional<ConnId> established_conn() const;
    std::optional<Side> established_side() const;
    const std::optional<Negotiated>& negotiated() const { return negotiated_; }
    const SessionSettings& settings() const { return settings_; }
    bool held_down() const { return held_down_; }
    bool stale_pending() const { return stale_until_.has_value(); }
    unsigned flaps() const { return flaps_; }
    Millis idle_hold() const { return idle_hold_now_; }
    Millis established_since() const { return established_since_; }
    const std::string& last_error() const { return last_error_; }
    const std::optional<Notification>& last_notification_sent() const { return last_sent_; }
    const std::optional<Notification>& last_notification_received() const { return last_received_; }
    struct Counters {
        uint64_t opens_in = 0, opens_out = 0, updates_in = 0, updates_out = 0, keepalives_in = 0, keepalives_out = 0,
                 notifications_in = 0, notifications_out = 0, refreshes_in = 0, refreshes_out = 0;
        uint64_t established_transitions = 0, dropped = 0;
    };
    Counters& counters() { return counters_; }
    const Counters& counters() const { return counters_; }

    // The OPEN we send (exposed for tests and `show bgp neighbors`).
    Open our_open() const;
    // Checks a received OPEN against the settings (RFC 4271 §6.2, RFC 9234
    // §4.2) and negotiates; the Notification when it is unacceptable.
    std::variant<Negotiated, Notification> negotiate(const Open& peer) const;

private:
    struct Connection {
        ConnId id = 0;
        State state = State::idle;  // connect (outbound in progress), open_sent, open_confirm, established
        std::optional<Millis> hold_deadline;
        std::optional<Millis> keepalive_deadline;
        std::optional<Negotiated> negotiated;  // from its OPEN (open_confirm onwards)
    };
    Connection& conn(Side s) { return conns_[size_t(s)]; }
    const Connection& conn(Side s) const { return conns_[size_t(s)]; }
    std::optional<Side> side_of(ConnId id) const;
    ConnId open_slot(Side side, State state);
    bool any_connection() const;

    void send_open(Side side, Millis now, Actions& out);
    void send_notification(Side side, Notification n, Actions& out);
    void drop_connection(Side side, Actions& out);  // Close + slot cleared
    // A connection ended by error or by the peer: if it carried the session,
    // the session goes down (and the idle hold starts). Graceful restart keeps
    // routes through a transport failure, not through a NOTIFICATION.
    enum class Cause { transport, notification, peer_restarting };
    void connection_failed(Side side, Millis now, const std::string& why, Actions& out, Cause cause);
    void enter_idle(Millis now, Actions& out);   // after an error: idle hold, then start again
    void begin(Millis now, Actions& out);        // from Idle: connect out, or wait (passive)
    Actions on_open(Side side, const Open& open, Millis now);
    Actions on_keepalive(Side side, Millis now);
    void restart_hold(Connection& c, Millis now);

    SessionSettings settings_;
    Connection conns_[2];
    bool enabled_ = false;     // started, not stopped
    bool held_down_ = false;   // stays Idle until start()
    ConnId next_id_ = 1;
    std::optional<Millis> connect_retry_deadline_;
    std::optional<Millis> idle_until_;
    std::optional<Millis> stale_until_;
    std::optional<Negotiated> negotiated_;  // of the established session
    Millis established_since_{0};
    Millis idle_hold_now_{0};
    unsigned flaps_ = 0;
    std::string last_error_;
    std::optional<Notification> last_sent_, last_received_;
    Counters counters_;
};

}  // namespace rampart::bgp
