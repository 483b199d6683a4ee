// The SAV data-plane table: one LPM per address family keyed by the SOURCE
// address (rte_fib DIR-24-8 for IPv4, rte_fib6 trie for IPv6). The next hop of
// an entry is the index of an interned interface set, so a worker does one
// lookup per packet and tests one bit: the ingress interface.
//
// Writer: the control core only (SavTablePublisher). Readers: the workers,
// lock-free. rte_fib/rte_fib6 have no RCU reclamation in DPDK 22.11, so, as
// for the forwarding FIB, both families are double-buffered together
// (fastpath/double_buffered.hpp: standby copy, flip, grace period, other
// copy). A full rebuild makes a new SavTable, publishes its pointer, and
// frees the old one after a grace period. Interned sets are append-only while
// a table lives, so an index a worker read from either copy stays valid.
//
// What the verdict means for the packet (drop / count only) is the
// interface's business: its SAV action lives in the interface record.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <rte_branch_prediction.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_rcu_qsbr.h>

#include "common/net.hpp"
#include "fastpath/double_buffered.hpp"
#include "sav/rules.hpp"

namespace rampart::sav {

enum class SavVerdict : uint8_t {
    allowed = 0,
    no_rule = 1,          // no input mentions this source (the synthetic /0 rule)
    wrong_interface = 2,  // a rule covers the source, but not for this interface
};

// One interned interface set as the workers read it: 4 words of interface
// bits, and whether it stands for "no rule".
struct alignas(64) SavSetEntry {
    uint64_t words[4];
    uint32_t no_rule;
};

// Index 0 is the miss value of both LPMs: nobody allowed, no rule. Set ids
// fit 15 bits so that 2-byte next hops (DIR-24-8's first level at 32 MB) can
// be used whenever the tbl8 groups fit them too (see SavTableSizes).
inline constexpr uint32_t kSavMissSet = 0;
inline constexpr uint32_t kSavMaxSets = (1u << 15) - 1;

// One copy of both families' LPMs.
struct SavLpms {
    rte_fib* v4 = nullptr;
    rte_fib6* v6 = nullptr;
};

struct SavTable {
    explicit SavTable(rte_rcu_qsbr* qsbr) : lpms(qsbr) {}
    // What a lookup reads first: `sets` and lpms' copies and index share a cache line.
    SavSetEntry* sets = nullptr;      // kSavMaxSets + 1 entries
    DoubleBuffered<SavLpms> lpms;     // the workers read lpms.active()
    size_t dpdk_bytes = 0;            // DPDK heap it holds, measured when created
};

namespace detail {
// allowed: 0; else no_rule (1) or wrong_interface (2): no branch on the outcome.
inline SavVerdict verdict_of(const SavSetEntry& s, uint16_t ingress) noexcept {
    const uint64_t bit = (s.words[(ingress >> 6) & 3] >> (ingress & 63)) & 1;
    return static_cast<SavVerdict>((bit ^ 1) * (2 - (s.no_rule & 1)));
}
}  // namespace detail

// `ingress` is the interface id the rules were compiled with (< 256; larger
// ids wrap, so callers must keep ids in range). `src_host_order`: IPv4
// source in host byte order, as tables.hpp's lookup4 takes it.
inline SavVerdict sav_check4(const SavTable& t, uint32_t src_host_order, uint16_t ingress) noexcept {
    // active() pairs with the publisher's flip, so the copy and every set
    // it references are complete when we read them.
    uint64_t set;
    rte_fib_lookup_bulk(t.lpms.active().v4, &src_host_order, &set, 1);
    return detail::verdict_of(t.sets[set & kSavMaxSets], ingress);
}

inline SavVerdict sav_check6(const SavTable& t, const uint8_t* src, uint16_t ingress) noexcept {
    uint8_t addr[1][RTE_FIB6_IPV6_ADDR_SIZE];
    std::memcpy(addr[0], src, RTE_FIB6_IPV6_ADDR_SIZE);
    uint64_t set;
    rte_fib6_lookup_bulk(t.lpms.active().v6, addr, &set, 1);
    return detail::verdict_of(t.sets[set & kSavMaxSets], ingress);
}

inline SavVerdict sav_check(const SavTable& t, const IpAddr& src, uint16_t ingress) noexcept {
    return src.is_v4() ? sav_check4(t, src.v4_host(), ingress) : sav_check6(t, src.bytes.data(), ingress);
}

// A burst at once (the worker's usual unit): one read of `active`, one bulk
// LPM lookup per kSavMaxBurst sources, then the bit tests. `src_host_order`
// is mutable storage because rte_fib's bulk lookup takes it so.
inline constexpr unsigned kSavMaxBurst = 64;
inline void sav_check4_bulk(const SavTable& t, uint32_t* src_host_order, const uint16_t* ingress, SavVerdict* out,
                            unsigned n) noexcept {
    rte_fib* const lpm = t.lpms.active().v4;
    uint64_t sets[kSavMaxBurst];
    for (unsigned at = 0; at < n; at += kSavMaxBurst) {
        const unsigned k = n - at < kSavMaxBurst ? n - at : kSavMaxBurst;
        rte_fib_lookup_bulk(lpm, src_host_order + at, sets, int(k));
        for (unsigned i = 0; i < k; ++i) out[at + i] = detail::verdict_of(t.sets[sets[i] & kSavMaxSets], ingress[at + i]);
    }
}

inline void sav_check6_bulk(const SavTable& t, uint8_t (*src)[RTE_FIB6_IPV6_ADDR_SIZE], const uint16_t* ingress,
                            SavVerdict* out, unsigned n) noexcept {
    rte_fib6* const lpm = t.lpms.active().v6;
    uint64_t sets[kSavMaxBurst];
    for (unsigned at = 0; at < n; at += kSavMaxBurst) {
        const unsigned k = n - at < kSavMaxBurst ? n - at : kSavMaxBurst;
        rte_fib6_lookup_bulk(lpm, src + at, sets, int(k));
        for (unsigned i = 0; i < k; ++i) out[at + i] = detail::verdict_of(t.sets[sets[i] & kSavMaxSets], ingress[at + i]);
    }
}

const char* to_string(SavVerdict v);

// More than kSavMaxSets tbl8 groups in a family switches it to 4-byte next
// hops (the group index shares the next-hop bits): a full IPv6 table needs
// that, a full IPv4 one does not (few rules are longer than /24).
struct SavTableSizes {
    uint32_t v4_max_routes = 1u << 16;
    uint32_t v4_tbl8s = 1u << 10;  // one per /24 holding longer rules
    uint32_t v6_max_routes = 1u << 14;
    uint32_t v6_tbl8s = 1u << 12;  // one per byte level below /24 per distinct branch
};

class SavTablePublisher {
public:
    // `qsbr`: the workers' RCU state (grace periods before reuse/free).
    SavTablePublisher(rte_rcu_qsbr* qsbr, const SavTableSizes& sizes, int socket_id);
    ~SavTablePublisher();
    SavTablePublisher(const SavTablePublisher&) = delete;
    SavTablePublisher& operator=(const SavTablePublisher&) = delete;

    // Reader side: the table to pass to sav_check. Never null.
    const SavTable* current() const { return table_.load(std::memory_order_acquire); }

    // Builds a new table holding exactly `rules` (both families), publishes
    // it, and frees the old one after a grace period. All-or-nothing: on
    // failure (throws std::runtime_error naming the DPDK error) the old table
    // stays in force. Also compacts the interned sets.
    void publish_all(const std::vector<SavRule>& rules);
    // Applies the compiler's incremental changes to both copies
    // (DoubleBuffered::update: standby, flip, grace, other). Returns 0, or
    // -ENOSPC when the interned sets are full, or the DPDK error (table sizes
    // too small). Workers never see a half-applied copy: the active copy is
    // untouched until the standby one is complete. After an error the copies
    // differ and every further apply() returns -EAGAIN until publish_all()
    // rebuilds.
    int apply(const std::vector<SavRuleChange>& changes);

    size_t set_count() const { return set_ids_.size() + 1; }
    // DPDK memory of the published table (both copies and the sets).
    size_t memory_bytes() const { return current()->dpdk_bytes; }

private:
    SavTable* create_table();
    void destroy_table(SavTable* t);
    uint32_t intern(SavTable& t, const InterfaceSet& s, bool no_rule);  // kSavMaxSets + 1 when full
    static int apply_to_copy(SavLpms& copy, const std::vector<std::pair<SavRuleChange, uint32_t>>& changes);

    rte_rcu_qsbr* qsbr_;
    SavTableSizes sizes_;
    int socket_id_;
    unsigned instance_;
    unsigned generation_ = 0;
    std::atomic<SavTable*> table_{nullptr};
    struct SetKey {
        InterfaceSet s;
        bool no_rule;
        friend bool operator==(const SetKey&, const SetKey&) = default;
    };
    struct SetKeyHash {
        size_t operator()(const SetKey& k) const { return InterfaceSetHash{}(k.s) ^ k.no_rule; }
    };
    std::unordered_map<SetKey, uint32_t, SetKeyHash> set_ids_;
};

}  // namespace rampart::sav
