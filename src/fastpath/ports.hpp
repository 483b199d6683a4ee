// Bringing DPDK ports up: device probing from an operator's device string,
// queue set-up (one rx/tx queue pair per worker), and the TAP twin that
// carries the exception path to the kernel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <rte_mempool.h>

#include "common/net.hpp"

namespace rampart {

struct PortSpec {
    std::string name;      // logical interface name, for messages
    std::string device;    // DPDK device string: "net_af_packet0,iface=veth0", "0000:01:00.0", ...
    uint16_t nb_queues = 1;
    bool with_twin = true;
    std::string twin_ifname;  // kernel name of the TAP twin
    std::optional<MacAddr> mac;  // set instead of the device's own (`interface NAME mac`); the twin gets it too
};

struct OpenedPort {
    uint16_t port_id = UINT16_MAX;
    uint16_t twin_port_id = UINT16_MAX;
    MacAddr mac;
    std::string driver;
};

// Creates the packet buffer pool. Throws std::runtime_error naming the DPDK error.
rte_mempool* create_packet_pool(const std::string& name, unsigned nb_mbufs, int socket_id);

// Probes, configures and starts the port (and its twin). Throws
// std::runtime_error with the device string and the DPDK error on any failure.
OpenedPort open_port(const PortSpec& spec, rte_mempool* pool);

// Stops and closes a port opened by open_port (twin included). Never throws.
void close_port(const OpenedPort& port);

bool port_link_up(uint16_t port_id);

}  // namespace rampart
