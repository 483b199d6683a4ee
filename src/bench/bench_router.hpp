// The device under test, assembled from the pieces rampartd itself runs:
// ForwardingTables, FibPublisher and Control install the configuration, and a
// Worker forwards between in-process ring ports (rte_eth_from_rings), so the
// benchmark exercises the same code a NIC-driven rampartd runs.
//
// Addressing plan shared by every profile (RFC 2544 / RFC 5180 benchmarking ranges):
//
//   senders 198.18.0.0/24, 2001:2::/64                 gateways 198.19.0.2 .3, 2001:2:0:1::2 ::3
//        ── port0 [ rampart ] port1 ──  198.19.0.0/24, 2001:2:0:1::/64, hosts .100.. / ::100..
//
// Traffic enters port0 and leaves port1, towards a gateway or a connected host.
// A profile may make port0 core-facing (MPLS enabled) and put port1 in a VRF,
// as on a PE whose customer sits behind port1 (see PortRoles).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "common/net.hpp"
#include "fastpath/tables.hpp"
#include "fastpath/worker.hpp"
#include "slowpath/control.hpp"
#include "slowpath/fib_publisher.hpp"

namespace rampart::bench {

namespace plan {
inline constexpr unsigned kIngressPort = 0;
inline constexpr unsigned kEgressPort = 1;
inline constexpr unsigned kGateways = 2;
inline constexpr unsigned kConnectedHosts = 8;  // resolved neighbours on port1

MacAddr port_mac(unsigned port);        // 02:00:00:00:00:0N
IpAddr sender4(unsigned host);          // 198.18.0.(10 + host % 200)
IpAddr sender6(unsigned host);          // 2001:2::(10 + host)
IpAddr gateway4(unsigned i);            // 198.19.0.(2 + i)
IpAddr gateway6(unsigned i);            // 2001:2:0:1::(2 + i)
MacAddr gateway_mac(unsigned i);        // 02:cc:00:00:00:(2 + i)
IpAddr connected_host4(unsigned i);     // 198.19.0.(100 + i)
IpAddr connected_host6(unsigned i);     // 2001:2:0:1::(100 + i)
MacAddr connected_host_mac(unsigned i); // 02:dd:00:00:00:i
// 198.18.0.0/15 holds both connected subnets: generated routes stay out of it.
inline constexpr uint32_t kPlanNet4 = 0xc6120000;
inline constexpr unsigned kPlanLen4 = 15;
}  // namespace plan

// What a profile changes in the shared plan before the neighbours are learnt.
struct PortRoles {
    bool ingress_mpls = false;  // `interface port0 mpls`: labelled frames are accepted on the ingress port
    std::string egress_vrf;     // non-empty: `vrf V` and `interface port1 vrf V` (customer-facing egress)
};

// One ethdev whose rx queue reads `rx` and whose tx queue writes `tx`.
struct RingPort {
    uint16_t port_id = kNoPort;
    rte_ring* rx = nullptr;  // the generator fills it, the worker receives from it
    rte_ring* tx = nullptr;  // the worker transmits into it, the generator drains it
};

// Two wire ports and their exception-path twins, opened once per process:
// ethdevs cannot be created and destroyed cheaply, the tables around them can.
class RingTopology {
public:
    static constexpr unsigned kPorts = 2;
    // Ring capacity (one slot stays empty): well above the frames in flight.
    static constexpr unsigned kRingSize = 4096;

    explicit RingTopology(rte_mempool* pool);  // throws std::runtime_error on a DPDK error
    ~RingTopology();
    RingTopology(const RingTopology&) = delete;
    RingTopology& operator=(const RingTopology&) = delete;

    const RingPort& wire(unsigned port) const { return wire_[port]; }
    const RingPort& twin(unsigned port) const { return twin_[port]; }
    // Every ring the worker transmits into except the egress wire: where lost traffic would go.
    std::vector<rte_ring*> side_outputs() const;
    // Frees every mbuf still queued on any ring. Returns how many.
    unsigned drain_all();

private:
    std::array<RingPort, kPorts> wire_{}, twin_{};
};

// Tables, publisher, control and one worker, configured with the shared
// addressing plan (adapted by `roles`) and its neighbours. A profile adds its
// routes, labels and VRF contents on top.
class BenchRouter {
public:
    BenchRouter(const RingTopology& topology, const TableSizes& sizes, rte_mempool* pool, unsigned worker_lcore,
                const PortRoles& roles = {});
    BenchRouter(const BenchRouter&) = delete;
    BenchRouter& operator=(const BenchRouter&) = delete;

    // One configuration line through Control::execute; throws with Control's message.
    void exec(std::string_view line);

    ForwardingTables& tables() { return tables_; }
    FibPublisher& fib() { return fib_; }
    Control& control() { return control_; }
    Worker& worker() { return worker_; }

private:
    static WorkerConfig worker_config(const RingTopology& topology, ForwardingTables& tables, rte_mempool* pool);

    ForwardingTables tables_;
    FibPublisher fib_;
    Worker worker_;
    Control control_;
};

}  // namespace rampart::bench
