#include "sav/table.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <stdexcept>

#include <fmt/format.h>

namespace rampart::sav {

namespace {
std::atomic<unsigned> instance_counter{0};

// What the DPDK heaps of every socket hold.
size_t dpdk_heap_in_use() {
    size_t total = 0;
    for (unsigned i = 0; i < rte_socket_count(); ++i) {
        rte_malloc_socket_stats st{};
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0) total += st.heap_allocsz_bytes;
    }
    return total;
}
}  // namespace

const char* to_string(SavVerdict v) {
    switch (v) {
        case SavVerdict::allowed: return "allowed";
        case SavVerdict::no_rule: return "no rule";
        case SavVerdict::wrong_interface: return "wrong interface";
    }
    return "?";
}

SavTablePublisher::SavTablePublisher(rte_rcu_qsbr* qsbr, const SavTableSizes& sizes, int socket_id)
    : qsbr_(qsbr), sizes_(sizes), socket_id_(socket_id), instance_(instance_counter.fetch_add(1)) {
    table_.store(create_table(), std::memory_order_release);
}

SavTablePublisher::~SavTablePublisher() { destroy_table(table_.load()); }

SavTable* SavTablePublisher::create_table() {
    // Measured rather than computed: rte_rib nodes, mempool headers and the
    // LPMs' own bookkeeping are not in any documented formula. The control
    // core is the only one allocating here.
    const size_t heap_before = dpdk_heap_in_use();
    auto* t = new SavTable(qsbr_);
    try {
        const unsigned gen = generation_++;
        for (int i = 0; i < 2; ++i) {
            const std::string n4 = fmt::format("rp_sav4_{}_{}_{}", instance_, gen, i);
            rte_fib_conf c4{};
            c4.type = RTE_FIB_DIR24_8;
            c4.default_nh = kSavMissSet;
            c4.max_routes = int(sizes_.v4_max_routes);
            // 2-byte next hops halve the first level, but the tbl8 index
            // shares those 15 bits: more groups need 4-byte entries.
            c4.dir24_8.nh_sz = sizes_.v4_tbl8s <= kSavMaxSets ? RTE_FIB_DIR24_8_2B : RTE_FIB_DIR24_8_4B;
            c4.dir24_8.num_tbl8 = sizes_.v4_tbl8s;
            SavLpms& copy = t->lpms.copy(i);
            copy.v4 = rte_fib_create(n4.c_str(), socket_id_, &c4);
            if (!copy.v4)
                throw std::runtime_error(fmt::format("cannot create the IPv4 SAV table ({} rules): {} (EAL memory short?)", sizes_.v4_max_routes,
                                                     rte_strerror(rte_errno)));
            const std::string n6 = fmt::format("rp_sav6_{}_{}_{}", instance_, gen, i);
            rte_fib6_conf c6{};
            c6.type = RTE_FIB6_TRIE;
            c6.default_nh = kSavMissSet;
            c6.max_routes = int(sizes_.v6_max_routes);
            c6.trie.nh_sz = sizes_.v6_tbl8s <= kSavMaxSets ? RTE_FIB6_TRIE_2B : RTE_FIB6_TRIE_4B;
            c6.trie.num_tbl8 = sizes_.v6_tbl8s;
            copy.v6 = rte_fib6_create(n6.c_str(), socket_id_, &c6);
            if (!copy.v6)
                throw std::runtime_error(fmt::format("cannot create the IPv6 SAV table ({} rules): {} (EAL memory short?)", sizes_.v6_max_routes,
                                                     rte_strerror(rte_errno)));
        }
        t->sets = static_cast<SavSetEntry*>(
            rte_zmalloc_socket("rp_sav_sets", sizeof(SavSetEntry) * (kSavMaxSets + 1), 64, socket_id_));
        if (!t->sets) throw std::runtime_error("cannot allocate the SAV interface sets (EAL memory)");
        t->sets[kSavMissSet].no_rule = 1;  // a miss: nobody allowed, no rule
        t->dpdk_bytes = dpdk_heap_in_use() - heap_before;
    } catch (...) {
        destroy_table(t);
        throw;
    }
    return t;
}

void SavTablePublisher::destroy_table(SavTable* t) {
    if (!t) return;
    for (unsigned i = 0; i < 2; ++i) {
        if (t->lpms.copy(i).v4) rte_fib_free(t->lpms.copy(i).v4);
        if (t->lpms.copy(i).v6) rte_fib6_free(t->lpms.copy(i).v6);
    }
    rte_free(t->sets);
    delete t;
}

uint32_t SavTablePublisher::intern(SavTable& t, const InterfaceSet& s, bool no_rule) {
    const SetKey key{s, no_rule};
    if (auto it = set_ids_.find(key); it != set_ids_.end()) return it->second;
    const uint32_t id = uint32_t(set_ids_.size()) + 1;
    if (id > kSavMaxSets) return kSavMaxSets + 1;
    SavSetEntry& e = t.sets[id];
    for (int i = 0; i < 4; ++i) e.words[i] = s.words[i];
    e.no_rule = no_rule ? 1 : 0;
    // Readers reach this entry only through an LPM entry of a copy made
    // active by a later release store (or of a table published by one).
    set_ids_.emplace(key, id);
    return id;
}

void SavTablePublisher::publish_all(const std::vector<SavRule>& rules) {
    auto saved_ids = std::move(set_ids_);
    set_ids_.clear();
    SavTable* fresh = nullptr;
    try {
        fresh = create_table();
        for (const SavRule& r : rules) {
            const uint32_t id = intern(*fresh, r.allowed, r.no_rule);
            if (id > kSavMaxSets)
                throw std::runtime_error(fmt::format("SAV table: more than {} distinct interface sets", kSavMaxSets));
            const Prefix p = r.prefix.network();
            for (unsigned c = 0; c < 2; ++c) {
                SavLpms& copy = fresh->lpms.copy(c);  // no reader yet: both copies directly
                const int rc = p.addr.is_v4() ? rte_fib_add(copy.v4, p.addr.v4_host(), p.len, id)
                                              : rte_fib6_add(copy.v6, p.addr.bytes.data(), p.len, id);
                if (rc != 0)
                    throw std::runtime_error(fmt::format("SAV table: cannot add {}: {} (table sizes too small?)", p.str(),
                                                         rte_strerror(-rc)));
            }
        }
    } catch (...) {
        destroy_table(fresh);
        set_ids_ = std::move(saved_ids);
        throw;
    }
    // release: a worker that loads the new pointer sees the finished table.
    SavTable* old = table_.exchange(fresh, std::memory_order_acq_rel);
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);  // nobody reads `old` any more
    destroy_table(old);
}

int SavTablePublisher::apply_to_copy(SavLpms& copy, const std::vector<std::pair<SavRuleChange, uint32_t>>& changes) {
    for (const auto& [ch, id] : changes) {
        const Prefix p = ch.prefix.network();
        int rc;
        if (ch.removed) {
            rc = p.addr.is_v4() ? rte_fib_delete(copy.v4, p.addr.v4_host(), p.len)
                                : rte_fib6_delete(copy.v6, p.addr.bytes.data(), p.len);
            if (rc == -ENOENT) rc = 0;  // removing what the table does not hold is done
        } else {
            rc = p.addr.is_v4() ? rte_fib_add(copy.v4, p.addr.v4_host(), p.len, id)
                                : rte_fib6_add(copy.v6, p.addr.bytes.data(), p.len, id);
        }
        if (rc != 0) return rc;
    }
    return 0;
}

int SavTablePublisher::apply(const std::vector<SavRuleChange>& changes) {
    SavTable& t = *table_.load(std::memory_order_relaxed);
    // A failed update left the copies different: only a full rebuild may follow.
    if (t.lpms.diverged()) return -EAGAIN;
    if (changes.empty()) return 0;
    std::vector<std::pair<SavRuleChange, uint32_t>> resolved;
    resolved.reserve(changes.size());
    for (const auto& ch : changes) {
        uint32_t id = 0;
        if (!ch.removed) {
            id = intern(t, ch.allowed, ch.no_rule);
            if (id > kSavMaxSets) return -ENOSPC;
        }
        resolved.emplace_back(ch, id);
    }
    // A copy half-updated by a failure never becomes active: the workers keep
    // reading the complete old rules (or, when the second copy failed, the
    // complete new ones).
    return t.lpms.update([&](SavLpms& copy) { return apply_to_copy(copy, resolved); });
}

}  // namespace rampart::sav
