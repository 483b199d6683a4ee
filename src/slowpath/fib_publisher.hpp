// The single writer of the forwarding tables. It turns the running
// configuration, the ports' runtime state and the neighbours the kernel
// resolved into interfaces, adjacencies, next-hop groups and FIB entries, and
// publishes only what changed. Groups and adjacencies are shared and
// reference-counted; a new one is published before any FIB entry points at it
// and an old one is retired only after the last entry stopped pointing at it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "fastpath/tables.hpp"
#include "slowpath/change_set.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/protocol_routes.hpp"
#include "slowpath/publish_problem.hpp"

namespace rampart {

struct PortRuntime {
    uint16_t port_id = kNoPort;
    uint16_t twin_port_id = kNoPort;
    MacAddr mac;
    std::string twin_ifname;
    std::string driver;
    bool link_up = true;
};

// Kernel name of a sub-interface's exception path: an 802.1Q link on its parent
// port's TAP twin. "<twin>.<vid>" when that fits the kernel's 15 characters,
// otherwise as much of the twin's name as fits, '~', 4 hex digits of a hash of
// the whole twin name, ".<vid>" ("rp-cor~f4f4.100" for twin "rp-core-uplink1").
// Deterministic; '~' cannot occur in a twin's name, so the forms never collide.
std::string vlan_twin_name(const std::string& parent_twin, uint16_t vid);

enum class RouteSource : uint8_t { local, connected, neighbor, static_route, bgp };
const char* route_source_name(RouteSource s);

struct InstalledNextHop {
    uint16_t ifindex = kNoInterface;
    IpAddr address;
    bool resolved = false;
    MacAddr mac;
    LabelList labels;  // imposed (route) or replacing the incoming label (ILM); empty = none / pop
    // Fast-reroute backup (ifindex kNoInterface: none).
    uint16_t backup_ifindex = kNoInterface;
    IpAddr backup_address;
    LabelList backup_labels;
};

struct InstalledRoute {
    Prefix prefix;
    RouteSource source;
    NhKind kind;
    uint16_t ifindex;  // local/glean
    std::vector<InstalledNextHop> next_hops;
    uint16_t vrf = 0;
    uint16_t target_vrf = 0;  // vrf_lookup
};

// An entry of the incoming label map.
struct InstalledLabel {
    uint32_t label;
    std::string owner;  // "static", "vpn vrf blue", "prefix-sid 192.0.2.1/32", ...
    NhKind kind;        // forward (swap/pop), vrf_lookup (pop and look up), blackhole (drop)
    uint16_t vrf = 0;   // vrf_lookup
    std::vector<InstalledNextHop> paths;
    uint32_t counter_slot;
};

// A route's identity: its table and prefix.
struct RouteKey {
    uint16_t vrf = 0;
    Prefix prefix;
    friend auto operator<=>(const RouteKey&, const RouteKey&) = default;
};

struct NeighborEntry {
    uint16_t ifindex;
    IpAddr address;
    MacAddr mac;
    bool is_static;
};

class FibPublisher {
public:
    explicit FibPublisher(ForwardingTables& tables) : tables_(tables) {}

    // Declares a port opened at startup; `config` must later name it with a device.
    void register_port(const std::string& name, const PortRuntime& rt);
    void set_link_state(const std::string& name, bool up);

    // Brings the tables in line with `config`, which must stay alive: the
    // publisher reads its routes from it. Interfaces, VRFs and labels are
    // compared with the last applied ones; every prefix is re-checked when
    // the interfaces changed or `change` says every route may have
    // (Routes::all), only the listed ones for Routes::listed (O(k log n) with
    // a full table), none otherwise. The FIB changes of one sync go into each
    // table's standby copy together: one swap, one grace period. Returns one
    // problem per route, label, VRF or interface that could not be installed
    // (FIB full, gateway not on any subnet, ...). Protocols reach it with
    // batches of routes through Control::route_apply (Routes::listed).
    PublishProblems sync(const RunningConfig& config, const ChangeSet& change);

    // Routes of a protocol (BGP), read from `table` (which must outlive its
    // use) after the configured ones: see protocol_routes.hpp.
    void set_protocol_routes(const ProtocolRouteTable* table) { protocol_routes_ = table; }
    // The table's `prefixes` changed: their FIB entries follow, all in one
    // swap per FIB table. Returns the problems (next hop unreachable, FIB full).
    PublishProblems sync_protocol_routes(const std::vector<Prefix>& prefixes);

    // A neighbour the kernel resolved (mac set) or lost (nullopt).
    void neighbor_update(uint16_t ifindex, const IpAddr& ip, const std::optional<MacAddr>& mac);

    // ---- read side for `show` and the kernel mirror ----
    std::optional<uint16_t> ifindex_of(const std::string& name) const;
    const std::string& name_of(uint16_t ifindex) const;
    const PortRuntime* port_of(const std::string& name) const;  // the port itself, or a sub-interface's parent
    std::vector<std::string> interface_names() const;
    // `only`: routes of that source alone, the others skipped before they are
    // described (the kernel mirror wants the few static routes of a FIB that
    // may hold a full BGP table).
    std::vector<InstalledRoute> installed_routes(std::optional<Family> family, uint16_t vrf = 0,
                                                 std::optional<RouteSource> only = std::nullopt) const;
    std::optional<InstalledRoute> installed_route(const Prefix& prefix, uint16_t vrf = 0) const;
    // VRF ids: "" and "default" are 0; nullopt for a VRF that does not exist.
    std::optional<uint16_t> vrf_id(const std::string& name) const;
    const std::string& vrf_name(uint16_t vrf) const;
    std::vector<InstalledLabel> installed_labels() const;
    std::optional<InstalledLabel> installed_label(uint32_t label) const;
    // Labels configured but not installed (next hop unreachable, route missing...), with the reason.
    const std::map<uint32_t, std::string>& unresolved_labels() const { return unresolved_labels_; }
    // Label counter slots handed out since the last call: their counters start from the current sums.
    std::vector<uint32_t> take_new_label_counters() { return std::exchange(new_label_counters_, {}); }
    std::vector<NeighborEntry> neighbors() const;
    // Next hops that routes use but whose MAC is not known yet.
    std::vector<std::pair<uint16_t, IpAddr>> unresolved_next_hops() const;
    // Static routes whose next hop is not reachable, with the reason.
    const std::map<RouteKey, std::string>& unresolved_routes() const { return unresolved_; }
    // Kernel interface that carries `name`'s exception path: a port's TAP twin, a
    // sub-interface's VLAN link on its parent's twin (vlan_twin_name); empty when
    // there is none.
    std::string kernel_ifname(const std::string& name) const;
    // The interface whose exception path is kernel interface `kernel_ifname`
    // (a TAP twin or a sub-interface's VLAN link), for neighbour events.
    std::optional<uint16_t> ifindex_of_twin(const std::string& kernel_ifname) const;

private:
    struct AdjKey {
        uint16_t ifindex;
        IpAddr next_hop;
        friend auto operator<=>(const AdjKey&, const AdjKey&) = default;
    };
    struct MemberKey {
        AdjKey adj;
        LabelList labels;
        std::optional<AdjKey> backup;
        LabelList backup_labels;
        friend auto operator<=>(const MemberKey&, const MemberKey&) = default;
    };
    struct GroupKey {
        NhKind kind = NhKind::forward;
        uint16_t ifindex = kNoInterface;
        uint16_t vrf = 0;
        std::vector<MemberKey> members;  // sorted
        friend auto operator<=>(const GroupKey&, const GroupKey&) = default;
    };
    struct LabelWant {
        std::string owner;
        GroupKey key;
    };
    struct LabelState {
        LabelWant want;
        uint32_t group;
        uint32_t counter;
    };
    struct Slot {
        uint32_t index;
        uint32_t refs;
    };
    struct Want {
        RouteSource source;
        GroupKey key;
    };
    struct IfRuntime {
        uint16_t ifindex = kNoInterface;
        PortRuntime port;   // for sub-interfaces: a copy of the parent's
        InterfaceConfig cfg;
        bool present = false;  // in the last applied config
    };

    std::optional<Want> desired(const RouteKey& k) const;
    InstalledRoute describe(const RouteKey& k, const Want& w) const;
    std::vector<InstalledNextHop> describe_members(const std::vector<MemberKey>& members) const;
    // The adjacency that reaches `gateway` (on `ifname` if given) within `vrf`, or why not.
    std::optional<AdjKey> resolve_gateway(const IpAddr& gateway, const std::string& ifname, uint16_t vrf,
                                          std::string& why) const;
    std::optional<MemberKey> resolve_member(const IpAddr& gateway, const std::string& ifname, const LabelList& labels,
                                            const std::optional<BackupPath>& backup, uint16_t vrf,
                                            std::string& why) const;
    std::optional<std::string> resolve_static(const RouteKey& k, const std::vector<RouteNextHop>& hops, GroupKey& key) const;
    const std::vector<RouteNextHop>* configured_routes(const RouteKey& k) const;
    LabelBlock srgb_of(const IpAddr& neighbor) const;
    PublishProblems reconcile(const RunningConfig& config, bool sweep_routes, const std::vector<RouteRef>& listed);
    // Decides what `k` should point at and stages the FIB change (if any) for
    // flush_routes(); problems that need no FIB change are reported at once.
    void stage_prefix(const RouteKey& k, PublishProblems& problems);
    // Writes the staged changes (ForwardingTables::update_routes: one swap per
    // table) and settles fib_, the groups' references and unresolved_.
    void flush_routes(PublishProblems& problems);
    // Brings the ILM in line with the configuration and the installed routes (prefix SIDs follow them).
    void sync_labels(PublishProblems& problems);
    void sync_vrfs(PublishProblems& problems);
    uint16_t vrf_of(const IfRuntime& r) const;
    uint32_t acquire_group(const GroupKey& key);
    void release_group(const GroupKey& key);
    uint32_t acquire_adjacency(const AdjKey& key);
    void release_adjacency(const AdjKey& key);
    Adjacency build_adjacency(const AdjKey& key) const;
    void publish_interface(const IfRuntime& r);
    bool iface_up(const IfRuntime& r) const;
    const IfRuntime* runtime(uint16_t ifindex) const;
    void collect_prefixes(std::vector<RouteKey>& out) const;
    std::string kernel_ifname(const IfRuntime& r) const;
    void index_kernel_names();

    ForwardingTables& tables_;
    const RunningConfig* config_ = nullptr;
    std::map<std::string, InterfaceConfig> interfaces_;  // as last applied
    std::map<std::string, IfRuntime> ifs_;
    std::vector<std::string> names_ = std::vector<std::string>(kMaxInterfaces);
    std::map<AdjKey, MacAddr> learned_neigh_;  // from the kernel
    std::map<AdjKey, MacAddr> static_neigh_;   // from the configuration; wins over learned
    std::map<AdjKey, MacAddr> neigh_;          // in effect: static, else learned
    std::map<AdjKey, Slot> adjs_;
    std::map<GroupKey, Slot> groups_;
    std::map<RouteKey, Want> fib_;
    struct StagedRoute {
        RouteKey key;
        std::optional<Want> want;  // nullopt: remove
        uint32_t group = 0;        // the group `want` holds a reference to
    };
    std::vector<StagedRoute> staged_;  // between stage_prefix and flush_routes
    std::map<RouteKey, std::string> unresolved_;
    std::map<std::string, uint16_t> vrf_ids_;  // non-default VRFs whose tables exist
    std::vector<std::string> vrf_names_ = std::vector<std::string>(kMaxVrfs);
    std::map<uint32_t, LabelState> labels_;
    std::map<uint32_t, std::string> unresolved_labels_;
    std::vector<uint32_t> new_label_counters_;
    std::map<std::string, uint16_t> by_kernel_name_;  // kernel_ifname -> ifindex
    const ProtocolRouteTable* protocol_routes_ = nullptr;
};

}  // namespace rampart
