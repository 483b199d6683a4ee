// The IKE daemon: owns the IKE SAs of the configured connections (one
// `IkeSa` state machine each, sa_state.hpp), feeds them the transport's
// datagrams (dispatched by SPI) and the clock, and turns their events into
// IPsec API changes: a Child SA's inbound and outbound SA and its protect
// policies (one per pair of narrowed selectors) are installed together (owner
// "ike"), with reverse routes for its remote prefixes when configured;
// `start-action trap` installs trap policies whose acquires start negotiation; `start` initiates when
// configured. Liveness checks (DPD) run at the configured interval. At a
// Child SA's lifetime it is rekeyed with CREATE_CHILD_SA (§1.3.3, with PFS
// when `pfs GROUP` is configured): the policy moves to the new SAs at once,
// the old inbound SA stays accepted through `older_inbound_sas` until the old
// Child SA is deleted (hitless). At the IKE SA's lifetime the IKE SA is
// rekeyed in place (§1.3.2): the new IKE SA becomes a new session with the
// same Child SAs (untouched in the fast path), the old one stays until its
// Delete exchange ends. If the peer refuses a rekey (other than with
// TEMPORARY_FAILURE, which is retried), a new IKE SA and Child SA replace the
// old ones (make-before-break) and the old IKE SA is deleted. Peers' rekeys
// are answered likewise; collisions (§2.8.1, §2.8.2) leave one new SA on
// both sides, the redundant one installed inbound-only until it is deleted.
// Selectors are narrowed against the connection's TS-list and the PAD
// (IkeSettings); authentication failures lock a peer address out for a while.
//
// No sockets, no DPDK: the transport and the IPsec API are hooks, so tests
// run two daemons against each other in-process. Never logs key material.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "slowpath/config_model.hpp"
#include "slowpath/ike/sa_state.hpp"
#include "slowpath/ike/transport.hpp"
#include "slowpath/ipsec_api.hpp"

namespace rampart::ike {

struct DaemonHooks {
    /// Installs/removes through the IPsec API (Control::ipsec_apply with owner "ike").
    std::function<std::optional<std::string>(const IpsecChange&)> apply;
    /// Installs/removes reverse routes (rampartd: Control::route_apply with owner "ike").
    std::function<std::optional<std::string>(const OwnedRouteChange&)> routes;
    /// Sends one IKE message (transport: UdpTransport::send).
    std::function<void(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t>)> send;
    /// Sends a NAT-keepalive (RFC 3948 §2.3; UdpTransport::send_keepalive).
    std::function<void(const Endpoint& local, const Endpoint& remote)> keepalive;
    uint16_t ike_port = 500;
    uint16_t natt_port = 4500;
};

/// `show ike pad`: the identities and the remote prefixes they may have.
std::string show_ike_pad(const IkeSettings& settings);
/// A selector's address range as the fewest prefixes that cover exactly it
/// (one when it is a prefix), in address order; empty for a reversed range
/// or one that needs more than 64 (exposed for tests).
std::vector<Prefix> range_prefixes(const TrafficSelector& ts);
/// The ID payload of a configured identity (a DN as its DER encoding);
/// nullopt and `why` when it cannot be encoded.
std::optional<IdPayload> id_payload(const IkeIdentity& id, std::string& why);
/// The PeerConfig a connection negotiates with (exposed for tests): its
/// identities, TS-list (remote selectors narrowed to what `pad` authorizes
/// for the remote identity), algorithms and credentials. nullopt and `why`
/// when an identity cannot be encoded.
std::optional<PeerConfig> peer_config(const IkeConnectionConfig& c, bool initiator, uint16_t ike_port,
                                      const std::optional<Credentials>& cert, const IkeSettings& settings,
                                      std::string& why);
/// Fast-path SA names for an ESP suite: {cipher, integrity}; nullopt if the fast path has none.
std::optional<std::pair<std::string, std::string>> esp_names(const CipherSuite& s);

class IkeDaemon {
public:
    explicit IkeDaemon(DaemonHooks hooks);
    ~IkeDaemon();

    /// Brings the connections in line with the configuration: new or changed
    /// ones (re)start, removed ones are torn down (the peer is told).
    void configure(const std::map<std::string, IkeConnectionConfig>& conns, Millis now);
    /// Lockout, cookie threshold and PAD; a PAD change applies to the Child
    /// SAs negotiated from then on (as a TS-list change does).
    void configure_settings(const IkeSettings& settings);
    void receive(const Datagram& d, Millis now);
    /// Retransmissions, liveness checks, restarts; call every few tens of ms.
    void tick(Millis now);
    void on_acquire(const IpsecAcquire& a, Millis now);
    void on_lifetime(const IpsecLifetimeEvent& e, Millis now);

    /// Exec commands: nullopt on success, else the problem.
    std::optional<std::string> initiate(const std::string& name, Millis now);
    std::optional<std::string> terminate(const std::string& name, Millis now);
    /// `ike rekey NAME [child]`: rekey the IKE SA (or its Child SA) now.
    std::optional<std::string> rekey(const std::string& name, bool child, Millis now);

    std::string show_sa(bool detail, Millis now) const;
    /// IKE SAs by state, Child SAs, connections and the counters: one screen however many tunnels.
    std::string show_summary() const;
    std::string show_peers() const;  // "locked-out" shows a lockout that has not been lifted by a success yet
    /// Peers with authentication failures in the window or locked out.
    std::string show_lockout(Millis now) const;
    std::string show_pad() const { return show_ike_pad(settings_); }
    /// Lifts the lockout of `peer` (of every peer when nullopt) and forgets
    /// its failures; how many peers it cleared.
    size_t clear_lockout(const std::optional<IpAddr>& peer);

    struct Counters {
        uint64_t received = 0, malformed = 0, no_sa = 0, no_connection = 0, dropped_by_sa = 0;
        uint64_t established = 0, failed = 0, auth_failed = 0, child_refused = 0, install_failed = 0;
        uint64_t dpd_sent = 0, dpd_failed = 0, rekeys = 0, ike_reestablished = 0, deleted_by_peer = 0;
        uint64_t ike_rekeys = 0;  // IKE SAs rekeyed in place, by either side
        uint64_t keepalives_sent = 0;  // NAT-keepalives: we are behind a NAT (§2.23, RFC 3948 §2.3)
        uint64_t lockouts = 0, locked_out = 0;  // lockouts started; requests refused while locked out
        uint64_t lockouts_cleared = 0;
        uint64_t cookies_sent = 0, cookies_accepted = 0;
        uint64_t ts_unacceptable = 0;  // Child SAs refused for their traffic selectors (TS-list, PAD), either side
        uint64_t not_authorized = 0;   // Child SAs the PAD allowed nothing for (also in ts_unacceptable as responder)
        uint64_t reverse_routes = 0, reverse_route_failed = 0;  // routes installed; changes refused
    };
    const Counters& counters() const { return counters_; }
    /// State name of a connection's newest IKE SA ("down" when none), for tests and show.
    std::string state(const std::string& name) const;
    /// The reverse routes a connection installed.
    std::vector<Prefix> reverse_routes(const std::string& name) const;
    /// The names of the fast-path SAs a connection's sessions installed.
    std::vector<std::string> installed_sas(const std::string& name) const;

private:
    struct Session;
    struct Conn;
    Conn* find_conn(const std::string& name);
    /// `alternatives` (responder): other connections to the same peer the
    /// initiator's IDi may pick (PeerConfig::alternatives).
    void start_session(Conn& c, bool initiator, Millis now, const std::vector<Conn*>& alternatives = {});
    void handle(Conn& c, Session& s, Output out, Millis now);
    void child_up(Conn& c, Session& s, ChildSa child, Millis now);
    void session_ended(Conn& c, Session& s, Millis now);
    void remove_children(Conn& c, Session& s, const std::vector<uint32_t>& spis, Millis now);
    void start_rekey(Conn& c, Session& s, Millis now);
    void start_ike_rekey(Conn& c, Session& s, Millis now);
    void ike_rekeyed(Conn& c, Session& s, const IkeSaRekeyed& ev, Millis now);
    void reestablish(Conn& c, Session& s, Millis now);
    void teardown(Conn& c, Millis now, bool tell_peer);
    void install_trap(Conn& c);
    /// Brings the connection's reverse routes in line with its active Child SAs.
    void sync_reverse_routes(Conn& c);
    /// Adds `entries` to `ch` as the connection's SPD entries (seq, seq+1, ...)
    /// and removes the ones beyond them that are installed now.
    void set_policies(Conn& c, IpsecChange& ch, std::vector<IpsecPolicyConfig> entries) const;
    void reap(Conn& c);
    std::optional<std::string> apply(IpsecChange& change);
    /// §2.6 under load: true when the request may create state, else answered with a COOKIE.
    bool cookie_ok(const Datagram& d, Millis now);
    Bytes cookie_for(const Datagram& d, std::span<const uint8_t> ni) const;
    Bytes cookie_secret_;

    DaemonHooks hooks_;
    IkeSettings settings_;
    // Lockout by peer address (as a carrier gateway's): it outlives changes
    // of the peer's connection, so a corrected key does not lift it.
    struct PeerLockout {
        std::vector<Millis> failures;  // within the window
        std::optional<Millis> until;
    };
    std::map<IpAddr, PeerLockout> lockouts_;
    /// When `peer`'s lockout ends, if it is locked out at `now`.
    std::optional<Millis> locked_until(const IpAddr& peer, Millis now) const;
    void count_auth_failure(Conn& c, Millis now);
    std::map<std::string, std::unique_ptr<Conn>> conns_;
    std::multimap<IpAddr, Conn*> by_remote_;  // conns_ by peer address, in name order (dispatch without a pass over all)
    std::vector<Conn*> conn_list_;            // conns_ in name order, for the timer pass (no tree walk per tick)
    // Sessions by their IKE SA's initiator SPI: dispatch when thousands of
    // connections share a peer address (a miss falls back to the pass over them).
    std::unordered_multimap<uint64_t, std::pair<Conn*, Session*>> by_spi_i_;
    void index_session(Conn& c, Session& s);
    // Half-open responder IKE SAs, counted over every session at most every
    // 100 ms and counted up as responders start in between (thousands of
    // tunnels: no pass over all of them per IKE_SA_INIT).
    size_t half_open_ = 0;
    std::optional<Millis> half_open_at_;
    Counters counters_;
    uint64_t next_serial_ = 1;
};

}  // namespace rampart::ike
