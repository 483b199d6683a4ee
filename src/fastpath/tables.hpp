// The forwarding tables shared by the control core (single writer) and the
// workers (lock-free readers).
//
// Our own objects (interfaces, adjacencies, next-hop groups) are immutable once
// published: an update builds a new object, publishes it with a release store
// into a fixed slot array, and retires the old one through the RCU defer queue.
// A slot index is reused only after a grace period, so a worker that got an
// index from the FIB always finds the object the FIB entry was built for, or a
// newer version of it. The FIBs are rte_fib (IPv4, DIR-24-8 over an rte_rib:
// adding 1M routes takes seconds, where rte_lpm's linear rule scan takes
// minutes) and rte_lpm6. Neither has RCU reclamation in DPDK 22.11, so each is
// double-buffered (fastpath/double_buffered.hpp); a batch of route changes
// costs one swap and one grace period per table it touches.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <rte_branch_prediction.h>
#include <rte_fib.h>
#include <rte_lpm6.h>
#include <rte_rcu_qsbr.h>

#include "common/net.hpp"
#include "fastpath/double_buffered.hpp"
#include "fastpath/limits.hpp"
#include "mpls/ilm.hpp"
#include "mpls/label_stack.hpp"
#include "sav/table.hpp"

struct rte_hash;

namespace rampart {

struct IpsecSa;
struct SpdTable;

// Source address validation on an interface (the mechanism itself lives in
// the rule compiler; the data plane only needs to know what to do with a
// verdict). off: no lookup at all. enforce: refused sources are dropped and
// counted per reason (Drop::sav_no_rule / sav_wrong_interface). monitor: they
// are counted (InterfaceCounters::sav_monitor_*) and forwarded.
enum class SavMode : uint8_t { off, enforce, monitor };

// The SAV rules are compiled with the interface index as the interface id:
// one bit per interface in the table's sets.
static_assert(kMaxInterfaces <= sav::kMaxSavInterfaces);

// One logical interface: a port or an 802.1Q sub-interface of one.
struct InterfaceState {
    uint16_t ifindex = kNoInterface;
    uint16_t port_id = kNoPort;      // DPDK port carrying the frames
    uint16_t twin_port_id = kNoPort; // DPDK net_tap twin for the exception path
    uint16_t vlan = 0;               // 0: untagged
    uint16_t mtu = 1500;             // IP MTU (also the MPLS MTU: labelled frames must fit it)
    uint16_t vrf = 0;                // FIB that arriving IP packets are looked up in
    bool up = false;
    bool mpls = false;               // labelled packets accepted (core-facing)
    std::array<uint8_t, 6> mac{};
    uint32_t ip4_be = 0;             // primary IPv4 address (source of ICMP errors), 0 if none
    bool has_ip6 = false;
    std::array<uint8_t, 16> ip6{};   // primary global IPv6 address
    SavMode sav_mode = SavMode::off; // what a SAV verdict does to packets arriving here (id: ifindex)
    // IngressFeature bits (fastpath/ingress_features.hpp). Derived by
    // ForwardingTables::set_iface from the fields above and the VRF's tables;
    // what a caller puts here is ignored.
    uint8_t ingress_features = 0;
};

// Where a forwarded packet leaves: the interface and the prebuilt L2 header.
struct Adjacency {
    uint16_t ifindex = kNoInterface;
    bool resolved = false;
    IpAddr next_hop;                 // for resolution requests and `show`
    uint8_t l2_len = 14;             // 14, or 18 with an 802.1Q tag
    std::array<uint8_t, 18> l2{};    // dst MAC, src MAC, [0x8100 TCI], EtherType filled per packet
};

enum class NhKind : uint8_t {
    forward,      // ECMP over adj[0..count); each member may impose a label stack
    local,        // addressed to the box: punt to the exception path
    glean,        // connected subnet: host not resolved yet
    blackhole,    // drop silently (counted)
    unreachable,  // drop with ICMP unreachable
    vrf_lookup,   // look the destination up again in `vrf` (route leaking, MPLS pop-and-lookup)
};

// A next-hop group: what a FIB entry or an incoming label points at. Used by
// the IP FIBs (labels = FTN imposition) and the ILM (labels replace the
// incoming top label: one label = swap, none = pop).
struct NhGroup {
    NhKind kind = NhKind::forward;
    uint8_t count = 0;
    uint16_t ifindex = kNoInterface;  // glean: the attached interface
    uint16_t vrf = 0;                 // vrf_lookup: the table to look in
    bool has_backup = false;          // some member has a fast-reroute backup
    std::array<uint32_t, kMaxEcmp> adj{};
    std::array<LabelStack, kMaxEcmp> push{};
    // Fast reroute: used by the workers, per member, while the primary's
    // egress interface is down (kNoAdjacency: no backup).
    std::array<uint32_t, kMaxEcmp> backup_adj{};
    std::array<LabelStack, kMaxEcmp> backup_push{};
};

struct TableSizes {
    uint32_t fib4_max_routes = 1u << 18;  // a full table needs --fib4-routes 2000000 and more EAL memory
    uint32_t fib4_tbl8s = 1u << 12;
    uint32_t fib6_max_routes = 1u << 16;
    uint32_t fib6_tbl8s = 1u << 14;
};

// Slot indexes of one object table. A freed index is given back only once its
// grace period has passed (see ForwardingTables::free_group).
class SlotIndexPool {
public:
    SlotIndexPool(uint32_t capacity, const char* what) : capacity_(capacity), what_(what) {}
    uint32_t take();  // throws std::runtime_error naming the table when it is full
    void release() { --in_use_; }
    void reuse(uint32_t index) { free_.push_back(index); }
    size_t in_use() const { return in_use_; }

private:
    uint32_t capacity_;
    const char* what_;
    std::vector<uint32_t> free_;
    uint32_t next_ = 0;
    size_t in_use_ = 0;
};

class ForwardingTables {
public:
    // Fails (throws std::runtime_error naming the DPDK error) when EAL memory is short.
    ForwardingTables(unsigned max_workers, const TableSizes& sizes, int socket_id);
    ~ForwardingTables();
    ForwardingTables(const ForwardingTables&) = delete;
    ForwardingTables& operator=(const ForwardingTables&) = delete;

    // ---- reader side (workers) ----
    rte_rcu_qsbr* qsbr() const { return qsbr_; }
    const InterfaceState* iface(uint16_t ifindex) const {
        return ifindex < kMaxInterfaces ? ifaces_[ifindex].load(std::memory_order_acquire) : nullptr;
    }
    // Interface of an arriving frame: port + VLAN (0 = untagged).
    uint16_t iface_of(uint16_t port_id, uint16_t vlan) const {
        return port_id < kMaxPorts
                   ? port_vlan_iface_[port_id][vlan & 0xfff].load(std::memory_order_relaxed)
                   : kNoInterface;
    }
    const NhGroup* group(uint32_t index) const {
        return index < kMaxGroups ? groups_[index].load(std::memory_order_acquire) : nullptr;
    }
    const Adjacency* adjacency(uint32_t index) const {
        return index < kMaxAdjacencies ? adjs_[index].load(std::memory_order_acquire) : nullptr;
    }
    // Returns the next-hop group index, or -1 when no route matches.
    // `vrf` must be a VRF that exists; an unknown one misses.
    int64_t lookup4(uint32_t dst_host_order, uint16_t vrf = 0) const {
        const Fib* f = vrf < kMaxVrfs ? fibs_[vrf].load(std::memory_order_acquire) : nullptr;
        if (unlikely(!f)) return -1;
        uint64_t nh;
        rte_fib_lookup_bulk(f->v4.active(), &dst_host_order, &nh, 1);
        return nh == kFib4Miss ? -1 : int64_t(nh);
    }
    int64_t lookup6(const uint8_t* dst, uint16_t vrf = 0) const {
        const Fib* f = vrf < kMaxVrfs ? fibs_[vrf].load(std::memory_order_acquire) : nullptr;
        if (unlikely(!f)) return -1;
        uint32_t nh;
        return rte_lpm6_lookup(f->v6.active(), dst, &nh) == 0 ? int64_t(nh) : -1;
    }
    // Incoming label map, label range and TTL model (src/mpls/ilm.hpp).
    const IlmTable& ilm() const { return ilm_; }
    bool ttl_pipe() const { return ilm_.ttl_pipe(); }
    // Some inbound SA is UDP-encapsulated: UDP fragments to the box may be ESP to reassemble.
    bool nat_traversal_inbound() const { return nat_traversal_inbound_.load(std::memory_order_relaxed); }
    // IPsec: the inbound SA of an SPI, the SPD of a VRF (null: none configured).
    const IpsecSa* inbound_sa(uint32_t spi) const;
    // Up to 64 SPIs at once (rte_hash's bulk lookup overlaps the bucket misses); misses are null.
    void inbound_sas(const uint32_t* spis, unsigned n, const IpsecSa** out) const;
    bool any_inbound_sa() const { return any_inbound_sa_.load(std::memory_order_relaxed); }
    void set_any_inbound_sa(bool on) { any_inbound_sa_.store(on, std::memory_order_relaxed); }
    const SpdTable* spd(uint16_t vrf) const {
        return vrf < kMaxVrfs ? spds_[vrf].load(std::memory_order_acquire) : nullptr;
    }
    // Where a worker hands packets of SAs it does not own (crypto/handoff.cpp).
    rte_ring* handoff_ring(unsigned worker) const {
        return worker < kMaxWorkers ? handoff_[worker].load(std::memory_order_acquire) : nullptr;
    }
    unsigned max_workers() const { return max_workers_; }
    uint32_t icmp_rate_pps() const { return icmp_rate_pps_.load(std::memory_order_relaxed); }
    // The SAV table in force (null: none published; every source passes).
    // The publisher double-buffers and replaces tables itself (sav/table.hpp):
    // what is published here is the publisher, whose current() is the table.
    const sav::SavTable* sav() const {
        const sav::SavTablePublisher* p = sav_.load(std::memory_order_acquire);
        return p ? p->current() : nullptr;
    }

    // ---- writer side (control core only) ----
    void set_iface(const InterfaceState& state);  // publishes a copy
    void clear_iface(uint16_t ifindex);
    void map_port_vlan(uint16_t port_id, uint16_t vlan, uint16_t ifindex);

    uint32_t alloc_group();                   // throws when the table is full
    void set_group(uint32_t index, const NhGroup& g);
    void free_group(uint32_t index);          // index reusable after a grace period
    uint32_t alloc_adjacency();
    void set_adjacency(uint32_t index, const Adjacency& a);
    void free_adjacency(uint32_t index);

    // Creates the FIBs of a VRF (VRF 0 exists from the start); throws on
    // failure (EAL memory). destroy_vrf waits for a grace period and frees them.
    void create_vrf(uint16_t vrf);
    void destroy_vrf(uint16_t vrf);
    bool vrf_exists(uint16_t vrf) const { return vrf < kMaxVrfs && fibs_[vrf].load() != nullptr; }

    // Route changes, one or many at once (a sweep, a protocol's burst of
    // routes): each table they touch (VRF, family) takes all of its changes
    // into the standby copy and swaps once, one grace period for the lot
    // instead of one per route. Sets each update's rc (0, or a negative
    // errno: -ENOENT for a VRF without tables, or rte_fib's/rte_lpm6's); a
    // failed update leaves no trace.
    struct RouteUpdate {
        Prefix prefix;
        uint16_t vrf = 0;
        bool remove = false;
        uint32_t group = 0;  // what an added route points at
        int rc = 0;          // out
    };
    void update_routes(std::span<RouteUpdate> updates);
    // FIB copies made active so far (each swap costs a grace period): for tests and benchmarks.
    uint64_t fib_swaps() const { return fib_swaps_; }

    // ILM: `label` → group, counted in per-worker slot `counter`.
    void set_label(uint32_t label, uint32_t group, uint32_t counter) { ilm_.set(label, group, counter); }
    void clear_label(uint32_t label) { ilm_.clear(label); }
    uint32_t alloc_label_counter() { return label_counter_slots_.take(); }
    void free_label_counter(uint32_t slot);  // reusable after a grace period
    void set_label_range(uint32_t lo, uint32_t hi) { ilm_.set_range(lo, hi); }
    void set_ttl_pipe(bool pipe) { ilm_.set_ttl_pipe(pipe); }
    void set_nat_traversal_inbound(bool on) { nat_traversal_inbound_.store(on, std::memory_order_relaxed); }

    // IPsec. Objects passed in are owned by the tables from then on and freed
    // after a grace period once replaced or removed.
    int add_inbound_sa(const IpsecSa* sa);    // 0 or a negative errno (SAD full, SPI taken)
    void remove_inbound_sa(uint32_t spi);      // does not free the SA: retire_sa() does
    void retire_sa(const IpsecSa* sa);
    // Retires the previous one; interfaces of the VRF get IngressFeature::spd
    // before an SPD appears and lose it after the SPD is gone.
    void set_spd(uint16_t vrf, const SpdTable* spd);
    void register_handoff(unsigned worker, rte_ring* ring) { handoff_[worker].store(ring, std::memory_order_release); }

    void set_icmp_rate_pps(uint32_t pps) { icmp_rate_pps_.store(pps, std::memory_order_relaxed); }
    // Publishes the SAV tables (the publisher must outlive its use: set null
    // and synchronize() before destroying it).
    void set_sav(const sav::SavTablePublisher* p) { sav_.store(p, std::memory_order_release); }

    // Frees retired objects whose grace period has passed. Cheap; call from the control loop.
    void reclaim();
    // Blocks until every online worker has passed a quiescent state.
    void synchronize();
    size_t groups_in_use() const { return group_slots_.in_use(); }
    size_t adjacencies_in_use() const { return adj_slots_.in_use(); }

private:
    enum class RetireKind : uint32_t { iface, group, adjacency, group_slot, adjacency_slot, label_counter_slot,
                                       ipsec_sa, spd_table };
    struct Retired {
        RetireKind kind;
        uint32_t index;
        void* object;
    };
    static void free_retired(void* self, void* elements, unsigned count);
    void retire(RetireKind kind, uint32_t index, void* object);
    // Republishes the interfaces of `vrf` with their ingress features derived
    // as if the VRF had an SPD (`has_spd`) or not.
    void refresh_vrf_features(uint16_t vrf, bool has_spd);

    rte_rcu_qsbr* qsbr_ = nullptr;
    rte_rcu_qsbr_dq* dq_ = nullptr;
    static constexpr uint64_t kFib4Miss = 1u << 30;  // rte_fib's default next hop: no route
    // One VRF's tables, each double-buffered.
    struct Fib {
        explicit Fib(rte_rcu_qsbr* qsbr) : v4(qsbr), v6(qsbr) {}
        DoubleBuffered<rte_fib*> v4;
        DoubleBuffered<rte_lpm6*> v6;
    };
    uint64_t fib_swaps_ = 0;
    Fib* make_fib(uint16_t vrf, const TableSizes& sizes);
    static void free_fib(Fib* f);
    std::atomic<Fib*> fibs_[kMaxVrfs]{};
    TableSizes sizes_;
    int socket_id_;
    unsigned instance_id_;

    IlmTable ilm_;
    SlotIndexPool label_counter_slots_{kMaxIlmEntries, "label counter"};
    std::atomic<bool> nat_traversal_inbound_{false};
    std::atomic<bool> any_inbound_sa_{false};

    rte_hash* sad_ = nullptr;  // inbound SPI -> const IpsecSa*
    std::atomic<const SpdTable*> spds_[kMaxVrfs]{};
    std::atomic<rte_ring*> handoff_[kMaxWorkers]{};
    unsigned max_workers_ = 1;

    std::atomic<const InterfaceState*> ifaces_[kMaxInterfaces]{};
    std::atomic<uint16_t> (*port_vlan_iface_)[4096] = nullptr;  // [kMaxPorts][4096]
    std::atomic<const NhGroup*>* groups_ = nullptr;            // [kMaxGroups]
    std::atomic<const Adjacency*>* adjs_ = nullptr;            // [kMaxAdjacencies]
    SlotIndexPool group_slots_{kMaxGroups, "next-hop group"};
    SlotIndexPool adj_slots_{kMaxAdjacencies, "adjacency"};
    std::atomic<uint32_t> icmp_rate_pps_{100};
    std::atomic<const sav::SavTablePublisher*> sav_{nullptr};
};

}  // namespace rampart
