// Runs the real worker code on ring-backed DPDK ports inside the test process:
// frames are injected into a port's rx ring, Worker::poll_once() processes
// them exactly as on a NIC, and what it transmits is read back from the tx
// rings. Configuration goes through the real Control/FibPublisher path.
#pragma once

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastpath/tables.hpp"
#include "fastpath/worker.hpp"
#include "slowpath/control.hpp"
#include "slowpath/fib_publisher.hpp"
#include "tests/support/packet_builder.hpp"

namespace rampart::test {

rte_mempool* test_pool();  // created once by the test main

struct RingPort {
    uint16_t port_id = kNoPort;
    rte_ring* rx = nullptr;  // what the worker receives
    rte_ring* tx = nullptr;  // what the worker sends
};

inline RingPort make_ring_port(const std::string& name) {
    static unsigned serial = 0;
    std::string base = name + "_" + std::to_string(serial++);
    RingPort p;
    p.rx = rte_ring_create((base + "_rx").c_str(), 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    p.tx = rte_ring_create((base + "_tx").c_str(), 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!p.rx || !p.tx) throw std::runtime_error("ring create failed");
    int id = rte_eth_from_rings(base.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY);
    if (id < 0) throw std::runtime_error("rte_eth_from_rings failed");
    p.port_id = uint16_t(id);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(p.port_id, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(p.port_id, 0, 1024, SOCKET_ID_ANY, nullptr, test_pool()) != 0 ||
        rte_eth_tx_queue_setup(p.port_id, 0, 1024, SOCKET_ID_ANY, nullptr) != 0 || rte_eth_dev_start(p.port_id) != 0)
        throw std::runtime_error("ring port start failed");
    return p;
}

class Pipeline {
public:
    struct Port {
        std::string name;
        RingPort wire, twin;
        MacAddr mac;
    };

    // Ports named port0..port{n-1}, MACs 02:00:00:00:00:0N, each with a ring twin.
    // `workers` > 1: more Worker objects (ids 1..) on the same ports, polled by
    // the test itself (poll_once on other_workers), for hand-off between workers.
    // `sizes`: the FIBs' (the default fits 65536 IPv4 routes and 256 tbl8 groups).
    explicit Pipeline(unsigned nports, bool start_worker_object = true, unsigned workers = 1,
                      const TableSizes& sizes = TableSizes{1u << 16, 1u << 8, 1u << 12, 1u << 10}) {
        tables = std::make_unique<ForwardingTables>(workers, sizes, SOCKET_ID_ANY);
        fib = std::make_unique<FibPublisher>(*tables);
        WorkerConfig wc;
        wc.id = 0;
        wc.tables = tables.get();
        wc.pool = test_pool();
        std::string config;
        for (unsigned i = 0; i < nports; ++i) {
            Port p;
            p.name = "port" + std::to_string(i);
            p.wire = make_ring_port("w" + std::to_string(i));
            p.twin = make_ring_port("t" + std::to_string(i));
            p.mac = *MacAddr::parse("02:00:00:00:00:0" + std::to_string(i));
            // The twin's kernel name only names things here: there is no kernel mirror.
            fib->register_port(p.name, PortRuntime{p.wire.port_id, p.twin.port_id, p.mac, "rp-" + p.name, "ring", true});
            wc.ports[wc.nb_ports++] = WorkerPort{p.wire.port_id, p.twin.port_id, 0};
            config += "interface " + p.name + " device ring" + std::to_string(i) + "\n";
            ports.push_back(p);
        }
        if (start_worker_object) worker = std::make_unique<Worker>(wc);
        worker_config = wc;
        std::vector<Control::WorkerSlot> slots{{worker.get(), 1}};
        for (unsigned id = 1; id < workers; ++id) {
            WorkerConfig more = wc;
            more.id = id;
            other_workers.push_back(std::make_unique<Worker>(more));
            slots.push_back({other_workers.back().get(), 1 + id});
        }
        RunningConfig rc;
        if (auto err = load_config_text(rc, config)) throw std::runtime_error(*err);
        control = std::make_unique<Control>(*tables, *fib, nullptr, nullptr, slots);
        control->install(rc);
    }
    ~Pipeline() {
        control.reset();  // IPsec SAs go before the workers whose rings name them
        worker.reset();
        other_workers.clear();
        for (auto& p : ports)
            for (RingPort* r : {&p.wire, &p.twin}) {
                drain(r->tx);
                drain(r->rx);
                rte_eth_dev_stop(r->port_id);
                rte_eth_dev_close(r->port_id);
                rte_ring_free(r->rx);
                rte_ring_free(r->tx);
            }
    }

    // Applies a CLI/config line; fails the test on error.
    void exec(const std::string& line) {
        CommandResult r = control->execute(line);
        if (!r.ok) throw std::runtime_error(line + ": " + r.text);
    }
    void neighbor(unsigned port, const char* address, const char* mac_text) {
        fib->neighbor_update(uint16_t(port), *IpAddr::parse(address), *MacAddr::parse(mac_text));
    }

    static void inject(rte_ring* ring, const Bytes& frame) {
        rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
        if (!m) throw std::runtime_error("pool empty");
        char* d = rte_pktmbuf_append(m, uint16_t(frame.size()));
        if (!d) throw std::runtime_error("frame too large for one mbuf");
        if (!frame.empty()) std::memcpy(d, frame.data(), frame.size());
        if (rte_ring_enqueue(ring, m) != 0) throw std::runtime_error("rx ring full");
    }
    void send(unsigned port, const Bytes& frame) { inject(ports[port].wire.rx, frame); }
    void send_from_kernel(unsigned port, const Bytes& frame) { inject(ports[port].twin.rx, frame); }
    void run() {
        while (worker->poll_once() != 0) {}
    }
    static std::vector<Bytes> drain(rte_ring* ring) {
        std::vector<Bytes> out;
        void* obj;
        while (rte_ring_dequeue(ring, &obj) == 0) {
            auto* m = static_cast<rte_mbuf*>(obj);
            Bytes b(m->pkt_len);
            rte_pktmbuf_read(m, 0, m->pkt_len, b.data());
            const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
            if (m->nb_segs == 1) b.assign(p, p + m->pkt_len);
            else {
                size_t off = 0;
                for (rte_mbuf* s = m; s; s = s->next) {
                    std::memcpy(b.data() + off, rte_pktmbuf_mtod(s, uint8_t*), s->data_len);
                    off += s->data_len;
                }
            }
            rte_pktmbuf_free(m);
            out.push_back(std::move(b));
        }
        return out;
    }
    std::vector<Bytes> wire_out(unsigned port) { return drain(ports[port].wire.tx); }
    std::vector<Bytes> kernel_out(unsigned port) { return drain(ports[port].twin.tx); }
    uint64_t drops(unsigned ifindex, Drop reason) const {
        return worker->counters().iface[ifindex].drops[unsigned(reason)];
    }
    const InterfaceCounters& counters(unsigned ifindex) const { return worker->counters().iface[ifindex]; }

    std::unique_ptr<ForwardingTables> tables;
    std::unique_ptr<FibPublisher> fib;
    std::unique_ptr<Worker> worker;
    std::vector<std::unique_ptr<Worker>> other_workers;
    std::unique_ptr<Control> control;
    WorkerConfig worker_config;
    std::vector<Port> ports;
};

}  // namespace rampart::test
