// The BGP speaker: every configured neighbour's state machine (fsm.hpp) joined
// to its TCP connections (transport.hpp), the codec (message.hpp) and the RIB
// (rib.hpp). Bytes in are framed, decoded and fed to the FSM; the FSM's
// actions become bytes out, socket calls and session events; UPDATEs go to
// the RIB, and after each batch of input the RIB's outputs are drained: its
// UPDATEs to the peers, its Loc-RIB and Adj-RIB-In changes to the hooks (the
// FIB and SAV feeds, rib_feeds.hpp). No DPDK and no Control: the protocol
// (bgp_protocol.cpp) owns one Speaker and hands it the configuration, the
// loop's wakeups, the exec commands and the hooks; unit tests run two
// Speakers against each other over real sockets.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "slowpath/bgp/bgp_config.hpp"
#include "slowpath/bgp/fsm.hpp"
#include "slowpath/bgp/policy.hpp"
#include "slowpath/bgp/rib.hpp"
#include "slowpath/bgp/transport.hpp"

namespace rampart::bgp {

Millis steady_now();

class Speaker {
public:
    // Where the RIB's outputs go and how it resolves next hops (all optional:
    // without a resolver every next hop is reachable as itself).
    struct Hooks {
        // Both data-plane outputs of a batch at once (bgp::feed: one FIB swap
        // and one SAV compilation); when set, `fib` and `sav` are not called.
        std::function<void(Rib&)> data_plane;
        std::function<void(const std::vector<FibChange>&)> fib;
        std::function<void(const std::vector<SavChange>&)> sav;
        std::function<std::optional<Rib::Resolution>(const IpAddr&)> resolver;
        // The SAV interface a neighbour's routes arrive on (its Adj-RIB-In
        // then feeds EFP-uRPF / BAR-SAV live), if any.
        std::function<std::optional<uint16_t>(const IpAddr&)> sav_interface;
    };
    // `listen_port` / `connect_port`: 179 on the box; tests use others.
    explicit Speaker(uint16_t listen_port = kBgpPort, uint16_t connect_port = kBgpPort, Hooks hooks = {});
    ~Speaker();
    Speaker(const Speaker&) = delete;
    Speaker& operator=(const Speaker&) = delete;

    // Starts, adapts or stops from the configuration. `fallback_router_id`:
    // used when none is configured (the highest IPv4 interface address).
    // Returns the problems (empty: none), e.g. port 179 already taken.
    std::string configure(const BgpConfig& config, const BgpPolicyConfig& policies, uint32_t fallback_router_id,
                          Millis now);
    // The FIB changed: next hops resolve again.
    void next_hops_changed();
    // Tells every peer (Cease / Administrative Shutdown) and closes everything.
    void stop(Millis now);

    // The one descriptor to poll (all sockets behind it); -1 when not running.
    int fd() const;
    void on_readable(Millis now);
    void tick(Millis now);

    // ---- exec ----
    enum class Soft { none, in, out };
    std::optional<std::string> clear(const IpAddr& neighbor, Soft soft, Millis now);
    std::string show_summary(Millis now) const;
    std::string show_neighbors(const std::optional<IpAddr>& only, Millis now) const;
    // `show bgp ipv4|ipv6 [PREFIX]`: the Loc-RIB, or every path of one prefix.
    std::string show_table(AddressFamily family, const std::optional<Prefix>& prefix) const;
    // `show bgp neighbors ADDR received-routes|advertised-routes`.
    std::string show_neighbor_routes(const IpAddr& neighbor, bool advertised) const;

    // ---- state, for the protocol and tests ----
    bool running() const { return poller_ != nullptr; }
    std::optional<State> state(const IpAddr& neighbor) const;
    // Prefixes the neighbour announced and has not withdrawn (all families),
    // and of them those its import policy accepted.
    size_t prefixes_received(const IpAddr& neighbor) const;
    size_t prefixes_accepted(const IpAddr& neighbor) const;
    const Rib* rib() const { return rib_.get(); }
    const PeerFsm* fsm(const IpAddr& neighbor) const;
    struct Counters {
        uint64_t refused_unknown = 0;   // connections from addresses that are no neighbour
        uint64_t refused_busy = 0;      // from a neighbour that is Idle or already connected
        uint64_t refused_local = 0;     // to an address of ours other than the neighbour's local-address
    };
    const Counters& counters() const { return counters_; }

private:
    struct Peer;
    struct Conn;
    Peer* find(const IpAddr& a);
    SessionSettings settings_for(const IpAddr& addr, const BgpNeighborConfig& n) const;
    SocketOptions socket_options(const BgpNeighborConfig& n) const;
    void run(Peer& peer, Actions actions, Millis now);
    void do_connect(Peer& peer, ConnId id, Actions& follow, Millis now);
    void drop(Peer& peer, ConnId id);
    void send(Peer& peer, ConnId id, const Message& m, Actions& follow, Millis now);
    void send_bytes(Peer& peer, ConnId id, std::span<const uint8_t> bytes, Actions& follow, Millis now);
    void on_session_up(Peer& peer, const SessionUp& up, Actions& follow, Millis now);
    void on_update(Peer& peer, const Update& update, Actions& follow, Millis now);
    PeerInfo peer_info(const Peer& peer) const;
    void drain(Millis now);  // the RIB's outputs: UPDATEs to the peers, changes to the hooks
    void start_rib();
    void service(Peer& peer, ConnId id, bool readable, bool writable, Millis now);
    void accept(int listen_fd, Millis now);
    void update_watch(Conn& c);

    uint16_t listen_port_, connect_port_;
    Hooks hooks_;
    BgpConfig config_;
    BgpPolicyConfig policy_config_;
    std::unique_ptr<Policies> policies_;
    std::unique_ptr<Rib> rib_;
    PeerId next_peer_id_ = 1;
    uint32_t router_id_ = 0;
    std::unique_ptr<Poller> poller_;
    std::unique_ptr<Listener> listener_;
    std::map<IpAddr, std::unique_ptr<Peer>> peers_;
    std::map<int, std::pair<IpAddr, ConnId>> by_fd_;
    Counters counters_;
};

}  // namespace rampart::bgp
