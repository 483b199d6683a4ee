#include "bench/bench_router.hpp"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <stdexcept>

#include <fmt/format.h>

#include "slowpath/config_model.hpp"

namespace rampart::bench {

namespace plan {

namespace {
MacAddr mac_with_tail(uint8_t second, uint8_t last) { return MacAddr{{0x02, second, 0, 0, 0, last}}; }
IpAddr v6_with_tail(uint16_t fourth_group, uint16_t last_group) {
    uint8_t b[16] = {0x20, 0x01, 0x00, 0x02, 0, 0, uint8_t(fourth_group >> 8), uint8_t(fourth_group)};
    b[14] = uint8_t(last_group >> 8);
    b[15] = uint8_t(last_group);
    return IpAddr::v6(b);
}
}  // namespace

MacAddr port_mac(unsigned port) { return mac_with_tail(0x00, uint8_t(port)); }
IpAddr sender4(unsigned host) { return IpAddr::v4(0xc6120000u + 10 + host % 200); }
IpAddr sender6(unsigned host) { return v6_with_tail(0, uint16_t(10 + host)); }
IpAddr gateway4(unsigned i) { return IpAddr::v4(0xc6130000u + 2 + i); }
IpAddr gateway6(unsigned i) { return v6_with_tail(1, uint16_t(2 + i)); }
MacAddr gateway_mac(unsigned i) { return mac_with_tail(0xcc, uint8_t(2 + i)); }
IpAddr connected_host4(unsigned i) { return IpAddr::v4(0xc6130000u + 100 + i); }
IpAddr connected_host6(unsigned i) { return v6_with_tail(1, uint16_t(0x100 + i)); }
MacAddr connected_host_mac(unsigned i) { return mac_with_tail(0xdd, uint8_t(i)); }

}  // namespace plan

namespace {

RingPort open_ring_port(const std::string& name, rte_mempool* pool) {
    RingPort p;
    // Single producer and single consumer on each side: the ring PMD then
    // uses the lock-free SP/SC paths, like a NIC queue owned by one lcore.
    p.rx = rte_ring_create((name + "_rx").c_str(), RingTopology::kRingSize, SOCKET_ID_ANY,
                           RING_F_SP_ENQ | RING_F_SC_DEQ);
    p.tx = rte_ring_create((name + "_tx").c_str(), RingTopology::kRingSize, SOCKET_ID_ANY,
                           RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!p.rx || !p.tx) throw std::runtime_error(fmt::format("cannot create the rings of {}", name));
    int id = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY);
    if (id < 0) throw std::runtime_error(fmt::format("rte_eth_from_rings({}) failed", name));
    p.port_id = uint16_t(id);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(p.port_id, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(p.port_id, 0, 1024, SOCKET_ID_ANY, nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(p.port_id, 0, 1024, SOCKET_ID_ANY, nullptr) != 0 || rte_eth_dev_start(p.port_id) != 0)
        throw std::runtime_error(fmt::format("cannot start ring port {}", name));
    return p;
}

void close_ring_port(RingPort& p) {
    if (p.port_id != kNoPort) {
        rte_eth_dev_stop(p.port_id);
        rte_eth_dev_close(p.port_id);
    }
    rte_ring_free(p.rx);
    rte_ring_free(p.tx);
    p = RingPort{};
}

unsigned free_ring_contents(rte_ring* r) {
    unsigned freed = 0;
    void* burst[64];
    while (unsigned n = rte_ring_dequeue_burst(r, burst, 64, nullptr)) {
        for (unsigned i = 0; i < n; ++i) rte_pktmbuf_free(static_cast<rte_mbuf*>(burst[i]));
        freed += n;
    }
    return freed;
}

// The startup configuration every profile starts from, as an operator would write it.
std::string base_config_text(const PortRoles& roles) {
    std::string text;
    for (unsigned i = 0; i < RingTopology::kPorts; ++i)
        text += fmt::format("interface port{} device bench-ring{}\n", i, i);
    if (roles.ingress_mpls) text += fmt::format("interface port{} mpls\n", plan::kIngressPort);
    if (!roles.egress_vrf.empty()) {
        text += fmt::format("vrf {}\n", roles.egress_vrf);
        text += fmt::format("interface port{} vrf {}\n", plan::kEgressPort, roles.egress_vrf);
    }
    text += "interface port0 address 198.18.0.1/24\n";
    text += "interface port0 address 2001:2::1/64\n";
    text += "interface port1 address 198.19.0.1/24\n";
    text += "interface port1 address 2001:2:0:1::1/64\n";
    return text;
}

}  // namespace

RingTopology::RingTopology(rte_mempool* pool) {
    try {
        for (unsigned i = 0; i < kPorts; ++i) {
            wire_[i] = open_ring_port(fmt::format("bench_w{}", i), pool);
            twin_[i] = open_ring_port(fmt::format("bench_t{}", i), pool);
        }
    } catch (...) {
        for (unsigned i = 0; i < kPorts; ++i) {
            close_ring_port(wire_[i]);
            close_ring_port(twin_[i]);
        }
        throw;
    }
}

RingTopology::~RingTopology() {
    drain_all();
    for (unsigned i = 0; i < kPorts; ++i) {
        close_ring_port(wire_[i]);
        close_ring_port(twin_[i]);
    }
}

std::vector<rte_ring*> RingTopology::side_outputs() const {
    std::vector<rte_ring*> out;
    for (unsigned i = 0; i < kPorts; ++i) {
        if (i != plan::kEgressPort) out.push_back(wire_[i].tx);
        out.push_back(twin_[i].tx);
    }
    return out;
}

unsigned RingTopology::drain_all() {
    unsigned freed = 0;
    for (unsigned i = 0; i < kPorts; ++i)
        for (const RingPort* p : {&wire_[i], &twin_[i]})
            if (p->rx) freed += free_ring_contents(p->rx) + free_ring_contents(p->tx);
    return freed;
}

WorkerConfig BenchRouter::worker_config(const RingTopology& topology, ForwardingTables& tables, rte_mempool* pool) {
    WorkerConfig wc;
    wc.id = 0;
    wc.tables = &tables;
    wc.pool = pool;
    for (unsigned i = 0; i < RingTopology::kPorts; ++i)
        wc.ports[wc.nb_ports++] = WorkerPort{topology.wire(i).port_id, topology.twin(i).port_id, 0};
    return wc;
}

BenchRouter::BenchRouter(const RingTopology& topology, const TableSizes& sizes, rte_mempool* pool,
                         unsigned worker_lcore, const PortRoles& roles)
    : tables_(1, sizes, int(rte_socket_id())),
      fib_(tables_),
      worker_(worker_config(topology, tables_, pool)),
      control_(tables_, fib_, nullptr, nullptr, {{&worker_, worker_lcore}}) {
    for (unsigned i = 0; i < RingTopology::kPorts; ++i)
        fib_.register_port(fmt::format("port{}", i), PortRuntime{topology.wire(i).port_id, topology.twin(i).port_id,
                                                                 plan::port_mac(i), "", "net_ring", true});
    RunningConfig startup;
    if (auto err = load_config_text(startup, base_config_text(roles))) throw std::runtime_error(*err);
    std::string warnings = control_.install(startup);
    if (!warnings.empty()) throw std::runtime_error("base configuration: " + warnings);
    // Neighbours as the kernel mirror would report them once ARP/ND resolved.
    const uint16_t egress = *fib_.ifindex_of(fmt::format("port{}", plan::kEgressPort));
    for (unsigned i = 0; i < plan::kGateways; ++i) {
        fib_.neighbor_update(egress, plan::gateway4(i), plan::gateway_mac(i));
        fib_.neighbor_update(egress, plan::gateway6(i), plan::gateway_mac(i));
    }
    for (unsigned i = 0; i < plan::kConnectedHosts; ++i) {
        fib_.neighbor_update(egress, plan::connected_host4(i), plan::connected_host_mac(i));
        fib_.neighbor_update(egress, plan::connected_host6(i), plan::connected_host_mac(i));
    }
}

void BenchRouter::exec(std::string_view line) {
    CommandResult r = control_.execute(line);
    if (!r.ok || !r.text.empty()) throw std::runtime_error(fmt::format("{}: {}", line, r.text));
}

}  // namespace rampart::bench
