// Keeps the kernel side of the exception path in step with the running
// configuration: each port's TAP twin carries the port's addresses, MTU and
// admin state, and static routes are mirrored into the kernel so that what the
// kernel originates (ICMP echo replies, TCP to the box) finds its way out.
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

    // Kernel ifindex of a port's twin, 0 when unknown.
    int twin_ifindex(const std::string& twin_ifname);

private:
    struct MirroredRoute {
        IpAddr gateway;
        int ifindex;
        friend bool operator==(const MirroredRoute&, const MirroredRoute&) = default;
    };
    struct TwinState {
        int ifindex = 0;
        std::vector<Prefix> addresses;
        uint16_t mtu = 0;
        int up = -1;
    };

    netlink::Socket& nl_;
    std::map<std::string, TwinState> twins_;  // by twin name
    std::map<Prefix, MirroredRoute> routes_;
};

}  // namespace rampart
