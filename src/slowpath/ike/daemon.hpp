// The IKE daemon: owns the IKE SAs of the configured connections (one
// `IkeSa` state machine each, sa_state.hpp), feeds them the transport's
// datagrams (dispatched by SPI) and the clock, and turns their events into
// IPsec API changes: a Child SA's inbound and outbound SA and its protect
// policy are installed together (owner "ike"); `start-action trap` installs a
// trap policy whose acquires start negotiation; `start` initiates when
// configured. Liveness checks (DPD) run at the configured interval. At a
// Child SA's lifetime it is rekeyed with CREATE_CHILD_SA (§1.3.3): the policy
// moves to the new SAs at once, the old inbound SA stays accepted through
// `older_inbound_sas` until the old Child SA is deleted (hitless). If the peer
// refuses, a new IKE SA and Child SA replace the old ones the same way
// (make-before-break) and the old IKE SA is deleted. Peers' rekeys are
// answered likewise.
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
    /// Sends one IKE message (transport: UdpTransport::send).
    std::function<void(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t>)> send;
    uint16_t ike_port = 500;
    uint16_t natt_port = 4500;
    /// Responder cookies (§2.6): with this many half-open responder IKE SAs
    /// (all connections), a new IKE_SA_INIT without a valid COOKIE gets a
    /// stateless COOKIE response and nothing is kept.
    size_t cookie_threshold = 8;
};

/// The PeerConfig a connection negotiates with (exposed for tests).
PeerConfig peer_config(const IkeConnectionConfig& c, bool initiator, uint16_t ike_port,
                       const std::optional<Credentials>& cert = std::nullopt);
/// Fast-path SA names for an ESP suite: {cipher, integrity}; nullopt if the fast path has none.
std::optional<std::pair<std::string, std::string>> esp_names(const CipherSuite& s);

class IkeDaemon {
public:
    explicit IkeDaemon(DaemonHooks hooks);
    ~IkeDaemon();

    /// Brings the connections in line with the configuration: new or changed
    /// ones (re)start, removed ones are torn down (the peer is told).
    void configure(const std::map<std::string, IkeConnectionConfig>& conns, Millis now);
    void receive(const Datagram& d, Millis now);
    /// Retransmissions, liveness checks, restarts; call every few tens of ms.
    void tick(Millis now);
    void on_acquire(const IpsecAcquire& a, Millis now);
    void on_lifetime(const IpsecLifetimeEvent& e, Millis now);

    /// Exec commands: nullopt on success, else the problem.
    std::optional<std::string> initiate(const std::string& name, Millis now);
    std::optional<std::string> terminate(const std::string& name, Millis now);

    std::string show_sa(bool detail, Millis now) const;
    /// IKE SAs by state, Child SAs, connections and the counters: one screen however many tunnels.
    std::string show_summary() const;
    std::string show_peers() const;  // "locked-out" shows a lockout that has not been lifted by a success yet

    struct Counters {
        uint64_t received = 0, malformed = 0, no_sa = 0, no_connection = 0, dropped_by_sa = 0;
        uint64_t established = 0, failed = 0, auth_failed = 0, child_refused = 0, install_failed = 0;
        uint64_t dpd_sent = 0, dpd_failed = 0, rekeys = 0, ike_reestablished = 0, deleted_by_peer = 0;
        uint64_t lockouts = 0, locked_out = 0;
        uint64_t cookies_sent = 0, cookies_accepted = 0;  // lockouts started; requests refused while locked out
    };
    const Counters& counters() const { return counters_; }
    /// State name of a connection's newest IKE SA ("down" when none), for tests and show.
    std::string state(const std::string& name) const;
    /// The names of the fast-path SAs a connection's sessions installed.
    std::vector<std::string> installed_sas(const std::string& name) const;

private:
    struct Session;
    struct Conn;
    Conn* find_conn(const std::string& name);
    void start_session(Conn& c, bool initiator, Millis now);
    void handle(Conn& c, Session& s, Output out, Millis now);
    void child_up(Conn& c, Session& s, ChildSa child, Millis now);
    void session_ended(Conn& c, Session& s, Millis now);
    void remove_children(Conn& c, Session& s, const std::vector<uint32_t>& spis, Millis now);
    void start_rekey(Conn& c, Session& s, Millis now);
    void teardown(Conn& c, Millis now, bool tell_peer);
    void install_trap(Conn& c);
    void reap(Conn& c);
    std::optional<std::string> apply(IpsecChange& change);
    /// §2.6 under load: true when the request may create state, else answered with a COOKIE.
    bool cookie_ok(const Datagram& d, Millis now);
    Bytes cookie_for(const Datagram& d, std::span<const uint8_t> ni) const;
    Bytes cookie_secret_;

    DaemonHooks hooks_;
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
