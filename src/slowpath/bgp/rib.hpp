// The BGP RIBs (RFC 4271 §3.2, §9): per peer an Adj-RIB-In kept before
// policy (soft reconfiguration, the SAV compiler's input), the Loc-RIB with
// the decision process, per peer an Adj-RIB-Out. Attribute sets are interned:
// routes that carry the same PathAttributes share one copy.
//
// No sockets, no DPDK, no clock of its own: the protocol (bgp_protocol.cpp)
// feeds it decoded UPDATEs and session events and drains three outputs —
// Loc-RIB changes for the FIB, Adj-RIB-In changes for SAV, UPDATEs for each
// peer — each as a batch (one FIB publication for many routes).
//
// This is the contract between the session side and the RIB side; each side
// may add to it, neither changes what is here without telling the other.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "slowpath/bgp/message.hpp"

namespace rampart::bgp {

using PeerId = uint32_t;  // stable while the neighbour is configured

// What the RIB needs to know of an established session.
struct PeerInfo {
    PeerId id = 0;
    IpAddr address;               // the neighbour's address
    IpAddr local_address;         // ours on that session (next hop self)
    Asn peer_as = 0;
    Asn local_as = 0;
    uint32_t peer_bgp_id = 0;     // host order
    bool ibgp() const { return peer_as == local_as; }
    bool route_reflector_client = false;
    std::optional<Role> local_role;  // RFC 9234 role we play toward this peer (OTC rules)
    std::vector<AddressFamily> families;  // negotiated
    CodecOptions codec;           // negotiated (ADD-PATH send/receive ...)
    std::string import_policy;    // names of policies ("" = none: RFC 8212 for eBGP)
    std::string export_policy;
    std::optional<uint32_t> max_prefixes;  // per family, Adj-RIB-In after import? before: counted on receipt
    std::optional<uint16_t> sav_interface;  // the SAV interface id its routes arrive on
};

// One Loc-RIB best-path change, for the FIB (ECMP: several next hops).
struct FibChange {
    Prefix prefix;
    std::vector<IpAddr> next_hops;  // empty: withdrawn from the FIB
};

// One Adj-RIB-In change of a peer with a SAV interface, for the SAV compiler.
struct SavChange {
    uint16_t sav_interface = 0;
    Prefix prefix;
    bool withdrawn = false;
    std::vector<AsPathSegment> as_path;  // when announced
    std::vector<uint32_t> communities;
};

struct ApplyResult {
    size_t announced = 0, withdrawn = 0;
    // Set when the peer crossed its max-prefix: the session sends this
    // NOTIFICATION (Cease / Maximum Number of Prefixes Reached, RFC 4486).
    std::optional<Notification> reset;
};

class Policies;  // policy.hpp: named import/export policies

class Rib {
public:
    Rib(Asn local_as, uint32_t router_id);
    ~Rib();

    // ---- session events ----
    void peer_up(const PeerInfo& peer);
    // keep_stale: graceful restart helper (RFC 4724): the peer's routes stay,
    // marked stale, until end_of_rib() or stale_timeout(); otherwise they go now.
    void peer_down(PeerId peer, bool keep_stale);
    void end_of_rib(PeerId peer, AddressFamily family);  // drops what is still stale
    void stale_timeout(PeerId peer);
    ApplyResult apply(PeerId peer, const Update& update);
    // Route refresh: re-run import policy over the Adj-RIB-In (soft in), or
    // queue the whole Adj-RIB-Out again (soft out / a ROUTE-REFRESH received).
    void soft_in(PeerId peer);
    // An established peer's settings changed (import/export policy names,
    // max-prefix, route-reflector client): applied by soft reconfiguration,
    // import again over its Adj-RIB-In and a diff of its Adj-RIB-Out (added
    // by the session side; peer_up would resend everything without
    // withdrawing what the new export policy refuses).
    void peer_changed(const PeerInfo& peer);
    void resend(PeerId peer, AddressFamily family);

    // ---- configuration ----
    void set_policies(const Policies* policies);  // re-evaluated by soft_in of every peer
    void originate(const Prefix& prefix, const PathAttributes& attributes);  // `bgp network`
    void withdraw_originated(const Prefix& prefix);
    // How the next hops of learnt routes resolve (recursively, through the
    // FIB): the immediate next hop(s) and the IGP cost, or nothing when
    // unreachable. Routes whose next hop becomes unreachable leave the Loc-RIB.
    struct Resolution {
        std::vector<IpAddr> next_hops;
        uint32_t igp_cost = 0;
    };
    void set_resolver(std::function<std::optional<Resolution>(const IpAddr&)> resolver);
    void next_hops_changed();  // the FIB changed: re-resolve
    void set_multipath(unsigned max_paths);
    // MED compared between paths from different neighbour ASes too (RFC 4271
    // §9.1.2.2 c compares it only within one neighbour AS).
    void set_always_compare_med(bool on);
    // RFC 4456 CLUSTER_ID when reflecting (the router id unless set).
    void set_cluster_id(uint32_t cluster_id);

    // ---- outputs, drained by the protocol after each batch of input ----
    std::vector<FibChange> take_fib_changes();
    std::vector<SavChange> take_sav_changes();
    // UPDATEs for `peer`, packed (many prefixes per attribute set), already
    // through export policy; the caller encodes them with the peer's codec
    // options and honours MRAI by when it calls this.
    std::vector<Update> take_updates(PeerId peer);

    // ---- show ----
    // One path of a destination as `show bgp PREFIX` lists it.
    struct PathView {
        PeerId peer = 0;              // meaningless when `local`
        bool local = false;           // originated here (`bgp network`)
        IpAddr peer_address;
        uint32_t path_id = 0;
        PathAttributes received;      // as the peer sent it (Adj-RIB-In)
        PathAttributes attributes;    // after import policy (when accepted)
        bool accepted = false;        // import policy and loop checks let it in
        bool reachable = false;       // its next hop resolves
        bool stale = false;           // kept through the peer's graceful restart
        bool best = false;
        bool multipath = false;       // one of the ECMP members (the best is one too)
        std::string why_not_best;     // the decision step it lost at ("higher MED", ...), for show
    };
    std::vector<PathView> paths(const Prefix& prefix) const;
    // The Loc-RIB of `family`: each destination's best path (`show bgp ipv4`).
    void for_each_best(AddressFamily family, const std::function<void(const Prefix&, const PathView&)>& f) const;
    // A peer's Adj-RIB-In as received, `accepted` telling the import verdict
    // (`show bgp neighbors ADDR received-routes`), and its Adj-RIB-Out as
    // sent (`advertised-routes`).
    void for_each_received(PeerId peer, AddressFamily family,
                           const std::function<void(const Prefix&, const PathView&)>& f) const;
    void for_each_advertised(PeerId peer, AddressFamily family,
                             const std::function<void(const Prefix&, const PathAttributes&)>& f) const;
    // The RPKI view changed (rpki::Validator::generation() moved): import
    // policies that match on it run again over their Adj-RIBs-In, export
    // policies that do over the Loc-RIB.
    void revalidate();
    struct Stats {
        size_t destinations = 0, paths = 0, attribute_sets = 0, next_hops = 0;
    };
    Stats stats() const;
    size_t loc_rib_size(AddressFamily family) const;
    size_t adj_rib_in_size(PeerId peer, AddressFamily family, bool accepted_only) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace rampart::bgp
