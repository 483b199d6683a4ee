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

#include "fastpath/drop_reasons.hpp"
#include "fastpath/limits.hpp"
#include "crypto/spd.hpp"
#include "fastpath/tables.hpp"

namespace rampart::crypto {
class CryptoEngine;
}

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
struct IpsecSa;

// Where a forwarded packet leaves: the adjacency, its interface and the labels imposed.
struct Egress {
    const Adjacency* adj;
    const InterfaceState* out;
    const LabelStack* labels;  // imposed on output (may be empty)
};

// An ESP packet prepared for the crypto engine; the engine runs once per
// burst over all of them (multi-buffer lanes stay busy), then each is finished.
struct EspPending {
    rte_mbuf* m;
    const IpsecSa* sa;
    const InterfaceState* in;  // decrypt: the ingress interface
    uint16_t ifindex;
    bool decrypt;
    bool transport;         // encrypt: the box's own packet, out of `port_id` as it is; decrypt: to the kernel
    bool in_udp;            // decrypt: arrived in UDP 4500
    uint16_t port_id;       // transport encrypt
    uint8_t l2_len;         // decrypt, transport encrypt
    uint8_t tos;            // encrypt: copied to the outer header
    bool df;                // encrypt
    uint32_t esp_off;
    uint32_t esp_len;       // decrypt: ESP length; encrypt: ESP (+UDP) length after the outer header
    uint32_t outer_off;     // encrypt
    uint32_t seq_high, seq_low;  // decrypt: for the replay window after authentication
    uint8_t aad[12];
    Egress egress;          // encrypt: where the ESP packet goes
};

// The SPD's answer for one exact packet key (RFC 4301 selectors are a function
// of it): a direct-mapped per-worker cache in front of rte_acl, as VPP's SPD
// flow cache. An entry is valid only for the table generation it was filled from.
struct alignas(64) SpdCacheEntry {
    uint64_t generation;  // 0: empty
    SpdPacket key;
    int32_t rule;
};
inline constexpr unsigned kSpdCacheEntries = 32768;  // 2 MB per worker (VPP defaults to 1M flows)

// A packet handed to the worker that owns its SA: processed again from the IP
// stage on that worker.
struct Handoff {
    rte_mbuf* m;
    uint16_t ifindex;
    uint8_t l2_len;
    uint8_t family;  // 4 or 6
    uint16_t vrf;
    uint8_t local_output;  // 1: the box's own packet from the kernel, leaving by port `ifindex` (transport mode)
    uint8_t sav_done;      // 1: passed SAV on the sending worker (not checked or counted again)
};
static_assert(sizeof(Handoff) == 16);

// Sent to the control core when traffic matches a protect entry that has no
// SA yet (RFC 4301 §5.1: an "acquire" for the key manager). Rate-limited.
struct AcquireRequest {
    uint16_t vrf;
    uint8_t family;  // 4 or 6
    uint8_t protocol;
    uint32_t seq;    // the SPD entry
    uint8_t src[16], dst[16];
};
static_assert(sizeof(AcquireRequest) % 4 == 0);

// An SA reached a volume lifetime: soft (rekey now) or hard (the SA has ended).
struct SaEvent {
    uint32_t spi;
    uint8_t inbound;
    uint8_t hard;
    uint16_t pad;
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
    const SaCounters* sa_counters() const { return sa_counters_.get(); }
    WorkerCounters& counters_mut() { return counters_; }
    rte_ring* resolve_ring() const { return resolve_ring_; }
    rte_ring* acquire_ring() const { return acquire_ring_; }
    rte_ring* sa_event_ring() const { return sa_event_ring_; }
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
    std::unique_ptr<SaCounters[]> sa_counters_;       // [kMaxSas]
    std::unique_ptr<crypto::CryptoEngine> crypto_;    // null if the CPU cannot (ESP is then dropped, counted)
    rte_ring* handoff_ring_ = nullptr;                // packets of SAs this worker owns, from other workers
    rte_ring* acquire_ring_ = nullptr;                // AcquireRequest to the control core
    rte_ring* sa_event_ring_ = nullptr;               // SaEvent to the control core
    rte_ip_frag_tbl* frag_tbl_ = nullptr;             // fragmented ESP waiting for its other fragments (bounded)
    rte_ip_frag_death_row death_row_{};
    std::array<uint64_t, 64> acquire_recent_{};       // per (vrf, entry) hash: TSC of the last acquire sent
    void request_acquire(const AcquireRequest& r) noexcept;
    static constexpr unsigned kMaxEspPending = 64;    // the engine's chunk
    // Two batches: one being filled, one being finished (finishing may queue
    // packets again, e.g. a hub decrypting and re-encrypting); run_esp swaps them.
    std::unique_ptr<EspPending[]> esp_pending_, esp_pending_spare_;
    std::unique_ptr<uint8_t[]> esp_ops_, esp_ops_spare_;  // crypto::EspOp[kMaxEspPending], opaque here
    std::unique_ptr<SpdCacheEntry[]> spd_cache_;
    unsigned esp_count_ = 0;
    void run_esp() noexcept;                          // runs and finishes the pending ESP packets
    void prefetch_inbound_sas(rte_mbuf** pkts, unsigned n) noexcept;
    uint16_t ip_id_ = 0;                              // outer IPv4 identification
    uint32_t frag_id6_ = 0;                           // outer IPv6 fragment identification
    void drain_handoff() noexcept;
    std::array<TxBuffer, kMaxPorts> tx_{};
    std::array<uint16_t, kMaxPorts> tx_queue_{};  // by DPDK port id
    rte_ring* resolve_ring_ = nullptr;
    TokenBucket icmp_bucket_, punt_bucket_;
    std::array<uint64_t, 256> resolve_recent_{};  // hash → TSC of the last request, to rate-limit
    double tsc_hz_ = 0;
};

// Stages (one file each). All noexcept, burst-local, no allocation but mbufs.
void eth_input(Worker& w, uint16_t port_id, rte_mbuf* m) noexcept;
// `vrf`: the table the destination is looked up in (the ingress interface's,
// or the one an MPLS pop-and-lookup label names).
// `decrypted`: the packet came out of an ESP SA whose policy it matched, so
// the SPD is not consulted again (nor the SAV table: sav_ingress.hpp).
// `sav_done`: the packet already passed SAV on this ingress (a packet handed
// to another worker, a datagram reassembled from checked fragments).
void ip4_forward(Worker& w, uint16_t in_ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
                 uint16_t vrf, bool decrypted = false, bool sav_done = false) noexcept;
void ip6_forward(Worker& w, uint16_t in_ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
                 uint16_t vrf, bool decrypted = false, bool sav_done = false) noexcept;
// IPsec (fastpath/ipsec.cpp). ipsec_forward: the SPD decision for a packet
// about to be forwarded in `vrf` (IP header at l2_len, TTL already checked);
// returns false when the packet is to be forwarded in clear (bypass),
// otherwise it was consumed (protected, discarded or handed off).
struct SpdTable;
bool ipsec_forward(Worker& w, uint16_t in_ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
                   uint16_t vrf, const SpdTable& spd, unsigned family) noexcept;
// Fragments of ESP (or of ESP in UDP) addressed to us: held until the datagram
// is whole (RFC 4303 §3.4.1: reassembly before decryption), then processed.
void esp_reassemble(Worker& w, uint16_t in_ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
                    unsigned l3_len, unsigned family, uint16_t vrf) noexcept;
// The box's own packets from the kernel (local output) in a VRF with an SPD:
// transport-mode protection. Returns false when the packet goes out as it is.
bool ipsec_local_output(Worker& w, uint16_t port_id, uint16_t ifindex, rte_mbuf* m, unsigned l2_len,
                        unsigned family, uint16_t vrf) noexcept;
// Cleartext to the box that a protect entry says must arrive encrypted (RFC 4301 §5.2): true if dropped.
bool ipsec_refuse_cleartext(Worker& w, uint16_t ifindex, rte_mbuf* m, unsigned l2_len, unsigned family,
                            uint16_t vrf) noexcept;
// ESP addressed to us: `esp_off`/`esp_len` locate the ESP header and what follows.
void esp_input(Worker& w, uint16_t in_ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
               unsigned esp_off, unsigned esp_len, unsigned family, uint16_t vrf, bool in_udp = false) noexcept;
// UDP to our port 4500 (RFC 3948): ESP goes to esp_input; IKE (non-ESP marker)
// and NAT keepalives go up to the control core.
void nat_traversal_input(Worker& w, uint16_t in_ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len,
                         unsigned udp_off, unsigned udp_avail, unsigned family, uint16_t vrf) noexcept;
// Labelled frames (EtherType 0x8847): ILM lookup, swap/pop/pop-and-lookup.
void mpls_input(Worker& w, uint16_t in_ifindex, const InterfaceState& in, rte_mbuf* m, unsigned l2_len) noexcept;
void local_output(Worker& w, uint16_t port_id, rte_mbuf* m) noexcept;
// Builds and sends ICMP/ICMPv6 errors about `orig` (data at its IP header). `orig` is not consumed.
void icmp4_error(Worker& w, uint16_t in_ifindex, const InterfaceState& in, const rte_mbuf* orig,
                 unsigned l3_offset, uint8_t type, uint8_t code, uint32_t extra) noexcept;
void icmp6_error(Worker& w, uint16_t in_ifindex, const InterfaceState& in, const rte_mbuf* orig,
                 unsigned l3_offset, uint8_t type, uint8_t code, uint32_t extra) noexcept;
// Rewrites the L2 header for `adj` (the frame currently has `l2_len` bytes of L2) and queues it.
void l2_output(Worker& w, const Adjacency& adj, const InterfaceState& out, rte_mbuf* m,
               unsigned l2_len, uint16_t ethertype_be) noexcept;

}  // namespace rampart
