// The operator's intent as plain data: interfaces, addresses, static routes,
// knobs. A command is applied to a copy (the candidate); only a candidate in
// which every command succeeded replaces the running configuration, so a bad
// line never leaves half a change behind. The model knows nothing of DPDK.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/command.hpp"
#include "common/net.hpp"

namespace rampart {

struct InterfaceConfig {
    std::string name;
    std::string device;     // set for ports
    std::string parent;     // set for 802.1Q sub-interfaces
    uint16_t vlan = 0;
    uint16_t mtu = 1500;
    bool shutdown = false;
    std::string description;
    std::vector<Prefix> addresses;  // in the order they were configured
    std::map<IpAddr, MacAddr> static_neighbors;

    bool is_port() const { return parent.empty(); }
    friend bool operator==(const InterfaceConfig&, const InterfaceConfig&) = default;
};

struct RouteNextHop {
    enum class Kind : uint8_t { via, attached, blackhole, unreachable };
    Kind kind = Kind::via;
    IpAddr gateway;      // via
    std::string ifname;  // via (optional) and attached
    friend auto operator<=>(const RouteNextHop&, const RouteNextHop&) = default;
};

struct RunningConfig {
    std::map<std::string, InterfaceConfig> interfaces;
    std::map<Prefix, std::vector<RouteNextHop>> routes;  // key: network prefix; several next hops = ECMP
    uint32_t icmp_rate_pps = 100;

    friend bool operator==(const RunningConfig&, const RunningConfig&) = default;
};

// Applies one configuration command to `config`. Returns an error message
// naming the offending value, leaving `config` unchanged on error.
// `startup` allows commands that only the startup config may contain.
std::optional<std::string> apply_command(RunningConfig& config, const cmd::Parsed& command, bool startup);

// Lines that rebuild `config` through apply_command, in dependency order.
std::string render_running_config(const RunningConfig& config);

// Interfaces in creation-safe order: ports first, then sub-interfaces.
std::vector<const InterfaceConfig*> ordered_interfaces(const RunningConfig& config);

}  // namespace rampart

namespace rampart {
// Parses and applies a whole startup configuration text to `config`, line by
// line. On error returns "line N: <line>: <reason>" and leaves `config` as it was.
std::optional<std::string> load_config_text(RunningConfig& config, std::string_view text);
}  // namespace rampart
