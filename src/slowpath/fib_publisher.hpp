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
#include <vector>

#include "common/net.hpp"
#include "fastpath/tables.hpp"
#include "slowpath/config_model.hpp"

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

enum class RouteSource : uint8_t { local, connected, neighbor, static_route };
const char* route_source_name(RouteSource s);

struct InstalledNextHop {
    uint16_t ifindex;
    IpAddr address;
    bool resolved;
    MacAddr mac;
};

struct InstalledRoute {
    Prefix prefix;
    RouteSource source;
    NhKind kind;
    uint16_t ifindex;  // local/glean
    std::vector<InstalledNextHop> next_hops;
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
    // publisher reads its routes from it. Interfaces are compared with the last
    // applied ones; every prefix is re-checked when they changed or when
    // `sweep_routes` asks for it. Returns one message per route that could not
    // be installed (FIB full, gateway not on any subnet, ...).
    std::vector<std::string> reconcile(const RunningConfig& config, bool sweep_routes = true);
    // After a change to the routes of `prefix` only: O(log n) with a full table.
    std::vector<std::string> reconcile_route(const RunningConfig& config, const Prefix& prefix);

    // A neighbour the kernel resolved (mac set) or lost (nullopt).
    void neighbor_update(uint16_t ifindex, const IpAddr& ip, const std::optional<MacAddr>& mac);

    // ---- read side for `show` and the kernel mirror ----
    std::optional<uint16_t> ifindex_of(const std::string& name) const;
    const std::string& name_of(uint16_t ifindex) const;
    const PortRuntime* port_of(const std::string& name) const;  // the port itself, or a sub-interface's parent
    std::vector<std::string> interface_names() const;
    std::vector<InstalledRoute> installed_routes(std::optional<Family> family) const;
    std::optional<InstalledRoute> installed_route(const Prefix& prefix) const;
    std::vector<NeighborEntry> neighbors() const;
    // Next hops that routes use but whose MAC is not known yet.
    std::vector<std::pair<uint16_t, IpAddr>> unresolved_next_hops() const;
    // Static routes whose next hop is not reachable, with the reason.
    const std::map<Prefix, std::string>& unresolved_routes() const { return unresolved_; }
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
    struct GroupKey {
        NhKind kind = NhKind::forward;
        uint16_t ifindex = kNoInterface;
        std::vector<AdjKey> adjs;  // sorted
        friend auto operator<=>(const GroupKey&, const GroupKey&) = default;
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

    std::optional<Want> desired(const Prefix& p) const;
    InstalledRoute describe(const Prefix& p, const Want& w) const;
    std::optional<std::string> resolve_static(const Prefix& p, const std::vector<RouteNextHop>& hops, GroupKey& key) const;
    // Returns an error message when the FIB refused the entry.
    std::optional<std::string> sync_prefix(const Prefix& p);
    uint32_t acquire_group(const GroupKey& key);
    void release_group(const GroupKey& key);
    uint32_t acquire_adjacency(const AdjKey& key);
    void release_adjacency(const AdjKey& key);
    Adjacency build_adjacency(const AdjKey& key) const;
    void publish_interface(const IfRuntime& r);
    bool iface_up(const IfRuntime& r) const;
    const IfRuntime* runtime(uint16_t ifindex) const;
    void collect_prefixes(std::vector<Prefix>& out) const;
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
    std::map<Prefix, Want> fib_;
    std::map<Prefix, std::string> unresolved_;
    std::map<std::string, uint16_t> by_kernel_name_;  // kernel_ifname -> ifindex
};

}  // namespace rampart
