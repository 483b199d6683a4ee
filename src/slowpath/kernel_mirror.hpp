// Keeps the kernel side of the exception path in step with the running
// configuration: each port's TAP twin, and each 802.1Q sub-interface's VLAN
// link on its parent's twin (created and deleted here), carry the interface's
// addresses, MTU and admin state; static routes are mirrored into the kernel
// through the twin or VLAN link of their next hop so that what the kernel
// originates (ICMP echo replies, TCP to the box) finds its way out.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "slowpath/config_model.hpp"
#include "slowpath/fib_publisher.hpp"
#include "slowpath/netlink.hpp"

namespace rampart {

class KernelMirror {
public:
    explicit KernelMirror(netlink::Socket& nl) : nl_(nl) {}

    // Returns one message per kernel change that failed.
    std::vector<std::string> sync(const RunningConfig& config, const FibPublisher& fib);
    // After a change to the routes of `prefix` only: O(log n) with a full table.
    std::vector<std::string> sync_route(const Prefix& prefix, const FibPublisher& fib);

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
    using Problems = std::vector<std::string>;
    // The kernel route for an installed static route: via its first next hop.
    std::optional<MirroredRoute> mirrored(const InstalledRoute& r, const FibPublisher& fib);

    // Creates (or adopts, or replaces) the VLAN link `name`; false on failure.
    // Retried at every sync; the same failure is reported only once.
    bool ensure_vlan_link(const std::string& name, int parent_ifindex, uint16_t vid, KernelIf& k,
                          Problems& problems);
    // MTU, addresses, IPv6 knobs and admin state of `ic` onto kernel interface `name`.
    void apply(const InterfaceConfig& ic, const std::string& name, KernelIf& k, Problems& problems);
    void check(const netlink::Status& s, Problems& problems, int tolerated = 0);

    netlink::Socket& nl_;
    std::map<std::string, KernelIf> twins_;  // ports' TAP twins, by kernel name
    std::map<std::string, KernelIf> vlans_;  // sub-interfaces' VLAN links (ours), by kernel name
    std::map<Prefix, MirroredRoute> routes_;
};

}  // namespace rampart
