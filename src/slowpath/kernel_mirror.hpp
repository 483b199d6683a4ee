// Keeps the kernel side of the exception path in step with the running
// configuration: each port's TAP twin, and each 802.1Q sub-interface's VLAN
// link on its parent's twin (created and deleted here), carry the interface's
// addresses, MTU and admin state; static routes are mirrored into the kernel
// through the twin or VLAN link of their next hop so that what the kernel
// originates (ICMP echo replies, TCP to the box) finds its way out.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "slowpath/change_set.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/fib_publisher.hpp"
#include "slowpath/netlink.hpp"
#include "slowpath/publish_problem.hpp"

namespace rampart {

class KernelMirror {
public:
    // `fib`: what the data plane installed (routes are mirrored from it).
    KernelMirror(netlink::Socket& nl, const FibPublisher& fib) : nl_(nl), fib_(fib) {}

    // Interfaces always (nothing is sent for what did not change); the routes
    // of the default table: only the listed ones for Routes::listed (O(k log n)
    // with a full table), otherwise all of them. Returns one problem per
    // kernel change that failed.
    PublishProblems sync(const RunningConfig& config, const ChangeSet& change);

    // Kernel ifindex of an exception-path interface (a port's TAP twin or a
    // sub-interface's VLAN link, by kernel name), 0 when unknown.
    int twin_ifindex(const std::string& kernel_ifname);

private:
    struct MirroredRoute {
        IpAddr gateway;
        int ifindex;
        friend bool operator==(const MirroredRoute&, const MirroredRoute&) = default;
    };
    // What we last told the kernel about one TAP twin or VLAN link.
    struct KernelIf {
        int ifindex = 0;
        uint16_t vlan = 0;       // VLAN links only
        int parent_ifindex = 0;  // VLAN links only: the parent's twin
        std::vector<Prefix> addresses;
        uint16_t mtu = 0;
        int up = -1;             // -1: not configured yet (IPv6 knobs not set)
        std::string failed;      // VLAN links: why the last creation failed (reported once)
    };
    using Problems = PublishProblems;
    void sync_interfaces(const RunningConfig& config, Problems& problems);
    void sync_routes(Problems& problems);
    void sync_route(const Prefix& prefix, Problems& problems);
    void remove_stale_vlan_links(Problems& problems);
    // The kernel route for an installed static route: via its first next hop.
    std::optional<MirroredRoute> mirrored(const InstalledRoute& r);

    // Creates (or adopts, or replaces) the VLAN link `name`; false on failure.
    // Retried at every sync; the same failure is reported only once.
    bool ensure_vlan_link(const std::string& name, int parent_ifindex, uint16_t vid, KernelIf& k,
                          Problems& problems);
    // MTU, addresses, IPv6 knobs and admin state of `ic` onto kernel interface `name`.
    void apply(const InterfaceConfig& ic, const std::string& name, KernelIf& k, Problems& problems);
    void check(const netlink::Status& s, const std::string& subject, Problems& problems, int tolerated = 0);

    netlink::Socket& nl_;
    const FibPublisher& fib_;
    std::set<std::string> vlan_links_;       // kernel names of the VLAN links the config wants
    std::map<std::string, KernelIf> twins_;  // ports' TAP twins, by kernel name
    std::map<std::string, KernelIf> vlans_;  // sub-interfaces' VLAN links (ours), by kernel name
    std::map<Prefix, MirroredRoute> routes_;
};

}  // namespace rampart
