// A polled run-to-completion worker: rx burst → pipeline → tx, then report an
// RCU quiescent state. Everything it touches per packet is preallocated here.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ip_frag.h>
#include <rte_ring.h>

#include "crypto/ipsec_context.hpp"
#include "fastpath/drop_reasons.hpp"
#include "fastpath/ingress_features.hpp"
#include "fastpath/limits.hpp"
#include "fastpath/local_demux.hpp"
#include "fastpath/packet_meta.hpp"
#include "fastpath/tables.hpp"

namespace rampart {

struct InterfaceCounters {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t punted;           // to the exception path
    uint64_t local_out;        // from the exception path to the wire
    uint64_t icmp_errors_sent;
    uint64_t icmp_errors_suppressed;  // rate-limited or not allowed (RFC 1812 §4.3.2.7)
    // SAV in monitor mode: refused sources counted per reason, and forwarded.
    uint64_t sav_monitor_no_rule, sav_monitor_wrong_interface;
    // Decapsulated ESP traffic with SAV on the ingress: its inner source was
    // already validated against the SA's traffic selectors (the tunnel-derived
    // rule), and the SAV table is not consulted for it.
    uint64_t sav_tunnel_validated;
    uint64_t frr_backup_tx;    // sent over a fast-reroute backup because the primary egress is down (counted on the backup egress)
    uint64_t drops[kNumDropReasons];
};

// Plain increments by the owning worker; the control core sums them on read.
struct alignas(64) WorkerCounters {
    uint64_t loops;
    uint64_t packets;
    uint64_t busy_cycles;  // TSC cycles spent in loops that moved packets
    uint64_t resolve_requests_dropped;
    InterfaceCounters iface[kMaxInterfaces];
};

// Per incoming label (ILM counter slot), per worker.
struct LabelCounter {
    uint64_t packets, bytes;
};

// Sent to the control core when a next hop has no MAC yet.
struct ResolveRequest {
    uint16_t ifindex;
    uint8_t family;  // 4 or 6
    uint8_t pad;
    uint8_t addr[16];
};
static_assert(sizeof(ResolveRequest) % 4 == 0);

struct SaCounters;

// Where a forwarded packet leaves: the adjacency, its interface and the labels imposed.
struct Egress {
    const Adjacency* adj;
    const InterfaceState* out;
    const LabelStack* labels;  // imposed on output (may be empty)
};

struct WorkerPort {
    uint16_t port_id = kNoPort;
    uint16_t twin_port_id = kNoPort;
    uint16_t queue = 0;  // rx and tx queue this worker owns on both
};

struct WorkerConfig {
    unsigned id = 0;  // also the RCU thread id
    ForwardingTables* tables = nullptr;
    rte_mempool* pool = nullptr;  // for ICMP errors and fragments
    std::array<WorkerPort, kMaxPorts> ports{};
    unsigned nb_ports = 0;
};

class Worker {
public:
    // Creates the resolve ring; throws std::runtime_error on failure.
    explicit Worker(const WorkerConfig& cfg);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // One iteration over every port (rx → process → tx). Returns packets received.
    // Does not report quiescence: run() does, tests call this while offline.
    unsigned poll_once() noexcept;
    // Loops until `running` turns false; registers with RCU for its lifetime.
    void run(const std::atomic<bool>& running) noexcept;

    // Process frames received on `port_index` (tests and the benchmark call this directly).
    void process_rx(unsigned port_index, rte_mbuf** pkts, unsigned n) noexcept;
    void flush() noexcept;

    const WorkerCounters& counters() const { return counters_; }
    const LabelCounter* label_counters() const { return label_counters_.get(); }
    const SaCounters* sa_counters() const { return ipsec_.sa_counters.get(); }
    WorkerCounters& counters_mut() { return counters_; }
    rte_ring* resolve_ring() const { return resolve_ring_; }
    rte_ring* acquire_ring() const { return ipsec_.acquire_ring; }
    rte_ring* sa_event_ring() const { return ipsec_.sa_event_ring; }
    unsigned id() const { return cfg_.id; }

    // Pipeline context shared by the stage functions (fastpath/*.cpp).
    struct TxBuffer {
        uint16_t count = 0;
        rte_mbuf* pkts[kBurst * 2];
    };
    struct TokenBucket {
        uint64_t last_tsc = 0;
        double tokens = 0;
        bool take(uint64_t now, double rate_per_tsc, double burst) noexcept;
    };

    void drop(rte_mbuf* m, uint16_t ifindex, Drop reason) noexcept;
    void enqueue_tx(uint16_t port_id, rte_mbuf* m) noexcept;
    void transmit(uint16_t port_id) noexcept;  // sends the port's tx buffer now
    void request_resolve(uint16_t ifindex, const IpAddr& nh) noexcept;
    void request_resolve4(uint16_t ifindex, uint32_t ip_be) noexcept;
    void request_resolve6(uint16_t ifindex, const uint8_t* ip) noexcept;
    bool icmp_allowed() noexcept;
    bool punt_allowed() noexcept;

    const WorkerConfig cfg_;
    ForwardingTables& tables_;
    WorkerCounters counters_{};
    std::unique_ptr<LabelCounter[]> label_counters_;  // [kMaxIlmEntries]
    LocalDemux demux_;                                // local delivery by protocol / UDP port (local_demux.hpp)
    IpsecWorkerContext ipsec_;                        // SPD cache, ESP batches, reassembly, hand-off (crypto/)
    std::array<TxBuffer, kMaxPorts> tx_{};
    std::array<uint16_t, kMaxPorts> tx_queue_{};  // by DPDK port id
    rte_ring* resolve_ring_ = nullptr;
    TokenBucket icmp_bucket_, punt_bucket_;
    std::array<uint64_t, 256> resolve_recent_{};  // hash → TSC of the last request, to rate-limit
    double tsc_hz_ = 0;
};

// This worker's ring `<prefix><id>` (taken over if a previous Worker left
// it); throws std::runtime_error naming `what` on failure.
rte_ring* make_worker_ring(const char* prefix, unsigned id, unsigned elem_size, unsigned count, unsigned flags,
                           const char* what);

// The stages of src/fastpath (one file each; the IPsec stages are declared in
// crypto/ipsec_stages.hpp, the MPLS one in mpls/mpls_input.hpp). All
// noexcept, burst-local, no allocation but mbufs.
void eth_input(Worker& w, uint16_t port_id, rte_mbuf* m) noexcept;
// IPv4/IPv6 at meta.l2_len, looked up in meta.vrf (the ingress interface's,
// or the one an MPLS pop-and-lookup label or an ESP SA names).
void ip4_forward(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept;
void ip6_forward(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept;
// Frames from the kernel's TAP twin of `port_id` (local_output.cpp);
// local_output_send queues one as it is, counted on `ifindex`.
void local_output(Worker& w, uint16_t port_id, rte_mbuf* m) noexcept;
void local_output_send(Worker& w, uint16_t port_id, uint16_t ifindex, rte_mbuf* m) noexcept;
// Builds and sends ICMP/ICMPv6 errors about `orig` (data at its IP header),
// from the address of meta.in, charged to meta.ifindex. `orig` is not consumed.
void icmp4_error(Worker& w, PacketMeta meta, const rte_mbuf* orig, unsigned l3_offset, uint8_t type, uint8_t code,
                 uint32_t extra) noexcept;
void icmp6_error(Worker& w, PacketMeta meta, const rte_mbuf* orig, unsigned l3_offset, uint8_t type, uint8_t code,
                 uint32_t extra) noexcept;
// Rewrites the L2 header for `adj` (the frame currently has `l2_len` bytes of L2) and queues it.
void l2_output(Worker& w, const Adjacency& adj, const InterfaceState& out, rte_mbuf* m,
               unsigned l2_len, uint16_t ethertype_be) noexcept;

// `meta` moved into the table of `vrf` (MPLS pop-and-lookup, ESP
// decapsulation): the VRF-derived ingress features follow the new table.
inline PacketMeta meta_in_vrf(const ForwardingTables& t, PacketMeta meta, uint16_t vrf) noexcept {
    if (vrf == meta.vrf) return meta;
    meta.vrf = vrf;
    meta.features = uint8_t((meta.features & ~feature_bit(IngressFeature::spd)) |
                            (t.spd(vrf) ? feature_bit(IngressFeature::spd) : 0));
    return meta;
}

}  // namespace rampart
