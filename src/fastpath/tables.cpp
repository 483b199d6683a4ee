#include "fastpath/tables.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>

#include "crypto/ipsec_sa.hpp"
#include "fastpath/ingress_features.hpp"
#include <rte_malloc.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart {

namespace {
std::atomic<unsigned> instance_counter{0};

template <typename T>
T* zalloc_array(size_t n) {
    void* p = std::calloc(n, sizeof(T));
    if (!p) throw std::runtime_error("forwarding tables: out of memory");
    return static_cast<T*>(p);
}
}  // namespace

ForwardingTables::Fib* ForwardingTables::make_fib(uint16_t vrf, const TableSizes& sizes) {
    auto* f = new Fib(qsbr_);
    try {
        for (int i = 0; i < 2; ++i) {
            std::string name4 = fmt::format("rp_fib4_{}_{}_{}", instance_id_, vrf, i);
            rte_fib_conf cfg4{};
            cfg4.type = RTE_FIB_DIR24_8;
            cfg4.default_nh = kFib4Miss;
            cfg4.max_routes = int(sizes.fib4_max_routes);
            cfg4.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
            cfg4.dir24_8.num_tbl8 = sizes.fib4_tbl8s;
            f->v4.copy(i) = rte_fib_create(name4.c_str(), socket_id_, &cfg4);
            if (!f->v4.copy(i))
                throw std::runtime_error(fmt::format("cannot create the IPv4 FIB of VRF {} ({} routes): {}", vrf,
                                                     sizes.fib4_max_routes, rte_strerror(rte_errno)));
            std::string name6 = fmt::format("rp_fib6_{}_{}_{}", instance_id_, vrf, i);
            rte_lpm6_config cfg6{};
            cfg6.max_rules = sizes.fib6_max_routes;
            cfg6.number_tbl8s = sizes.fib6_tbl8s;
            f->v6.copy(i) = rte_lpm6_create(name6.c_str(), socket_id_, &cfg6);
            if (!f->v6.copy(i))
                throw std::runtime_error(fmt::format("cannot create the IPv6 FIB of VRF {} ({} routes): {}", vrf,
                                                     sizes.fib6_max_routes, rte_strerror(rte_errno)));
        }
    } catch (...) {
        free_fib(f);
        throw;
    }
    return f;
}

void ForwardingTables::free_fib(Fib* f) {
    if (!f) return;
    for (unsigned i = 0; i < 2; ++i) {
        if (f->v4.copy(i)) rte_fib_free(f->v4.copy(i));
        if (f->v6.copy(i)) rte_lpm6_free(f->v6.copy(i));
    }
    delete f;
}

void ForwardingTables::create_vrf(uint16_t vrf) {
    if (vrf == 0 || vrf >= kMaxVrfs) throw std::runtime_error(fmt::format("VRF id {} out of range", vrf));
    if (fibs_[vrf].load()) return;
    // VRFs hold fewer routes than the default table; the DIR-24-8 and lpm6
    // first levels (64 MB each per copy) are fixed whatever the size.
    TableSizes s = sizes_;
    s.fib4_max_routes = std::min(s.fib4_max_routes, 1u << 16);
    s.fib4_tbl8s = std::min(s.fib4_tbl8s, 1u << 10);
    s.fib6_max_routes = std::min(s.fib6_max_routes, 1u << 14);
    s.fib6_tbl8s = std::min(s.fib6_tbl8s, 1u << 12);
    fibs_[vrf].store(make_fib(vrf, s), std::memory_order_release);
}

void ForwardingTables::destroy_vrf(uint16_t vrf) {
    if (vrf == 0 || vrf >= kMaxVrfs) return;
    Fib* f = fibs_[vrf].exchange(nullptr, std::memory_order_acq_rel);
    if (!f) return;
    synchronize();
    free_fib(f);
}

void ForwardingTables::free_label_counter(uint32_t slot) {
    retire(RetireKind::label_counter_slot, slot, nullptr);
    label_counter_slots_.release();
}

const IpsecSa* ForwardingTables::inbound_sa(uint32_t spi) const {
    void* data;
    return rte_hash_lookup_data(sad_, &spi, &data) >= 0 ? static_cast<const IpsecSa*>(data) : nullptr;
}

void ForwardingTables::inbound_sas(const uint32_t* spis, unsigned n, const IpsecSa** out) const {
    const void* keys[RTE_HASH_LOOKUP_BULK_MAX];
    void* data[RTE_HASH_LOOKUP_BULK_MAX];
    uint64_t hits = 0;
    n = std::min(n, unsigned(RTE_HASH_LOOKUP_BULK_MAX));
    for (unsigned i = 0; i < n; ++i) keys[i] = &spis[i];
    if (n == 0 || rte_hash_lookup_bulk_data(sad_, keys, n, &hits, data) < 0) hits = 0;
    for (unsigned i = 0; i < n; ++i) out[i] = (hits >> i) & 1 ? static_cast<const IpsecSa*>(data[i]) : nullptr;
}

int ForwardingTables::add_inbound_sa(const IpsecSa* sa) {
    void* old;
    if (rte_hash_lookup_data(sad_, &sa->spi, &old) >= 0) return -EEXIST;
    return rte_hash_add_key_data(sad_, &sa->spi, const_cast<IpsecSa*>(sa));
}

void ForwardingTables::remove_inbound_sa(uint32_t spi) { rte_hash_del_key(sad_, &spi); }

void ForwardingTables::retire_sa(const IpsecSa* sa) { retire(RetireKind::ipsec_sa, 0, const_cast<IpsecSa*>(sa)); }

void ForwardingTables::set_spd(uint16_t vrf, const SpdTable* spd) {
    // The interface feature bit is a superset of "has an SPD": set before the
    // SPD appears, cleared after it has gone (the workers test both).
    if (spd) refresh_vrf_features(vrf, true);
    const SpdTable* old = spds_[vrf].exchange(spd, std::memory_order_acq_rel);
    retire(RetireKind::spd_table, vrf, const_cast<SpdTable*>(old));
    if (!spd) refresh_vrf_features(vrf, false);
}

void ForwardingTables::refresh_vrf_features(uint16_t vrf, bool has_spd) {
    for (auto& slot : ifaces_) {
        const InterfaceState* cur = slot.load(std::memory_order_acquire);
        if (!cur || cur->vrf != vrf) continue;
        const uint8_t want = ingress_features_of(cur->sav_mode != SavMode::off, has_spd);
        if (cur->ingress_features == want) continue;
        auto* fresh = new InterfaceState(*cur);
        fresh->ingress_features = want;
        retire(RetireKind::iface, fresh->ifindex, const_cast<InterfaceState*>(slot.exchange(fresh, std::memory_order_acq_rel)));
    }
}

ForwardingTables::ForwardingTables(unsigned max_workers, const TableSizes& sizes, int socket_id)
    : sizes_(sizes), socket_id_(socket_id) {
    unsigned id = instance_counter.fetch_add(1);
    instance_id_ = id;
    size_t qsbr_size = rte_rcu_qsbr_get_memsize(max_workers);
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("rampart_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
    if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, max_workers) != 0)
        throw std::runtime_error("cannot allocate the RCU state (EAL memory too small?)");

    std::string dq_name = fmt::format("rp_dq{}", id);
    rte_rcu_qsbr_dq_parameters dqp{};
    dqp.name = dq_name.c_str();
    dqp.size = 1u << 16;
    dqp.esize = sizeof(Retired);
    dqp.trigger_reclaim_limit = 1024;
    dqp.max_reclaim_size = 256;
    dqp.free_fn = &ForwardingTables::free_retired;
    dqp.p = this;
    dqp.v = qsbr_;
    dq_ = rte_rcu_qsbr_dq_create(&dqp);
    if (!dq_) throw std::runtime_error(fmt::format("cannot create RCU defer queue: {}", rte_strerror(rte_errno)));

    fibs_[0].store(make_fib(0, sizes), std::memory_order_release);
    max_workers_ = max_workers;

    // Lock-free readers, one writer; deleted keys' slots are reused only
    // after a grace period of our RCU.
    std::string sad_name = fmt::format("rp_sad{}", id);
    rte_hash_parameters hp{};
    hp.name = sad_name.c_str();
    hp.entries = kMaxSas;
    hp.key_len = sizeof(uint32_t);
    hp.hash_func = rte_jhash;
    hp.socket_id = socket_id;
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
    sad_ = rte_hash_create(&hp);
    if (!sad_) throw std::runtime_error(fmt::format("cannot create the SAD: {}", rte_strerror(rte_errno)));
    rte_hash_rcu_config hrc{};
    hrc.v = qsbr_;
    hrc.mode = RTE_HASH_QSBR_MODE_DQ;
    if (rte_hash_rcu_qsbr_add(sad_, &hrc) != 0)
        throw std::runtime_error(fmt::format("cannot attach RCU to the SAD: {}", rte_strerror(rte_errno)));

    port_vlan_iface_ = reinterpret_cast<std::atomic<uint16_t>(*)[4096]>(
        zalloc_array<std::atomic<uint16_t>>(size_t(kMaxPorts) * 4096));
    for (unsigned p = 0; p < kMaxPorts; ++p)
        for (unsigned v = 0; v < 4096; ++v) port_vlan_iface_[p][v].store(kNoInterface, std::memory_order_relaxed);
    groups_ = zalloc_array<std::atomic<const NhGroup*>>(kMaxGroups);
    adjs_ = zalloc_array<std::atomic<const Adjacency*>>(kMaxAdjacencies);
}

ForwardingTables::~ForwardingTables() {
    // Workers are stopped by now: drain everything without waiting.
    if (dq_) {
        unsigned freed, pending, available;
        rte_rcu_qsbr_dq_reclaim(dq_, ~0u, &freed, &pending, &available);
        rte_rcu_qsbr_dq_delete(dq_);
    }
    for (auto& slot : ifaces_) delete slot.load();
    if (groups_)
        for (unsigned i = 0; i < kMaxGroups; ++i) delete groups_[i].load();
    if (adjs_)
        for (unsigned i = 0; i < kMaxAdjacencies; ++i) delete adjs_[i].load();
    std::free(groups_);
    std::free(adjs_);
    std::free(port_vlan_iface_);
    // SAs belong to the IPsec publisher (live ones) or the defer queue (retired).
    if (sad_) rte_hash_free(sad_);
    for (auto& spd : spds_) delete spd.load();
    for (auto& f : fibs_) free_fib(f.load());
    rte_free(qsbr_);
}

void ForwardingTables::free_retired(void* self_ptr, void* elements, unsigned count) {
    auto* self = static_cast<ForwardingTables*>(self_ptr);
    auto* items = static_cast<Retired*>(elements);
    for (unsigned i = 0; i < count; ++i) {
        const Retired& r = items[i];
        switch (r.kind) {
            case RetireKind::iface: delete static_cast<InterfaceState*>(r.object); break;
            case RetireKind::group: delete static_cast<NhGroup*>(r.object); break;
            case RetireKind::adjacency: delete static_cast<Adjacency*>(r.object); break;
            case RetireKind::group_slot:
                // No reader can still hold this index: empty the slot and reuse it.
                delete self->groups_[r.index].exchange(nullptr, std::memory_order_relaxed);
                self->group_slots_.reuse(r.index);
                break;
            case RetireKind::adjacency_slot:
                delete self->adjs_[r.index].exchange(nullptr, std::memory_order_relaxed);
                self->adj_slots_.reuse(r.index);
                break;
            case RetireKind::label_counter_slot: self->label_counter_slots_.reuse(r.index); break;
            case RetireKind::ipsec_sa: delete static_cast<IpsecSa*>(r.object); break;
            case RetireKind::spd_table: delete static_cast<SpdTable*>(r.object); break;
        }
    }
}

void ForwardingTables::retire(RetireKind kind, uint32_t index, void* object) {
    if (kind != RetireKind::group_slot && kind != RetireKind::adjacency_slot &&
        kind != RetireKind::label_counter_slot && !object)
        return;
    Retired r{kind, index, object};
    if (rte_rcu_qsbr_dq_enqueue(dq_, &r) != 0) {
        // Queue full even after reclaiming: wait out a grace period and free now.
        rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
        free_retired(this, &r, 1);
    }
}

void ForwardingTables::reclaim() {
    unsigned freed, pending, available;
    rte_rcu_qsbr_dq_reclaim(dq_, ~0u, &freed, &pending, &available);
}

void ForwardingTables::synchronize() { rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID); }

void ForwardingTables::set_iface(const InterfaceState& state) {
    auto* fresh = new InterfaceState(state);
    fresh->ingress_features = ingress_features_of(state.sav_mode != SavMode::off, spd(state.vrf) != nullptr);
    // release: the worker must see the whole object once it sees the pointer.
    const InterfaceState* old = ifaces_[state.ifindex].exchange(fresh, std::memory_order_acq_rel);
    retire(RetireKind::iface, state.ifindex, const_cast<InterfaceState*>(old));
}

void ForwardingTables::clear_iface(uint16_t ifindex) {
    const InterfaceState* old = ifaces_[ifindex].exchange(nullptr, std::memory_order_acq_rel);
    retire(RetireKind::iface, ifindex, const_cast<InterfaceState*>(old));
}

void ForwardingTables::map_port_vlan(uint16_t port_id, uint16_t vlan, uint16_t ifindex) {
    port_vlan_iface_[port_id][vlan & 0xfff].store(ifindex, std::memory_order_release);
}

uint32_t SlotIndexPool::take() {
    uint32_t index;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else if (next_ < capacity_) {
        index = next_++;
    } else {
        throw std::runtime_error(fmt::format("{} table full ({} entries)", what_, capacity_));
    }
    ++in_use_;
    return index;
}

uint32_t ForwardingTables::alloc_group() {
    reclaim();  // indexes whose grace period has passed become available
    return group_slots_.take();
}

void ForwardingTables::set_group(uint32_t index, const NhGroup& g) {
    const NhGroup* old = groups_[index].exchange(new NhGroup(g), std::memory_order_acq_rel);
    retire(RetireKind::group, index, const_cast<NhGroup*>(old));
}

void ForwardingTables::free_group(uint32_t index) {
    // The object stays readable until the grace period ends: a worker that read
    // this index from the FIB just before the route went away still forwards.
    retire(RetireKind::group_slot, index, nullptr);
    group_slots_.release();
}

uint32_t ForwardingTables::alloc_adjacency() {
    reclaim();
    return adj_slots_.take();
}

void ForwardingTables::set_adjacency(uint32_t index, const Adjacency& a) {
    const Adjacency* old = adjs_[index].exchange(new Adjacency(a), std::memory_order_acq_rel);
    retire(RetireKind::adjacency, index, const_cast<Adjacency*>(old));
}

void ForwardingTables::free_adjacency(uint32_t index) {
    retire(RetireKind::adjacency_slot, index, nullptr);
    adj_slots_.release();
}

void ForwardingTables::update_routes(std::span<RouteUpdate> updates) {
    // By table: VRF, then family (IPv4 first).
    std::vector<RouteUpdate*> order;
    order.reserve(updates.size());
    for (RouteUpdate& u : updates) {
        u.prefix = u.prefix.network();
        order.push_back(&u);
    }
    auto table_of = [](const RouteUpdate* u) { return std::pair{u->vrf, !u->prefix.addr.is_v4()}; };
    std::stable_sort(order.begin(), order.end(),
                     [&](const RouteUpdate* a, const RouteUpdate* b) { return table_of(a) < table_of(b); });
    std::vector<int> rc;
    for (size_t at = 0; at < order.size();) {
        size_t end = at;
        while (end < order.size() && table_of(order[end]) == table_of(order[at])) ++end;
        RouteUpdate* const* batch = order.data() + at;
        const size_t n = end - at;
        at = end;
        const uint16_t vrf = batch[0]->vrf;
        Fib* f = vrf < kMaxVrfs ? fibs_[vrf].load() : nullptr;
        if (!f) {
            for (size_t i = 0; i < n; ++i) batch[i]->rc = -ENOENT;
            continue;
        }
        rc.assign(n, 0);
        if (batch[0]->prefix.addr.is_v4()) {
            const uint64_t before = f->v4.flips();
            f->v4.update_each(
                n,
                [&](rte_fib* t, size_t i) {
                    const Prefix& p = batch[i]->prefix;
                    return batch[i]->remove ? rte_fib_delete(t, p.addr.v4_host(), p.len)
                                            : rte_fib_add(t, p.addr.v4_host(), p.len, batch[i]->group);
                },
                [&](rte_fib* t, size_t i) {  // a removal is not undone (it fails only where there is nothing)
                    if (!batch[i]->remove) rte_fib_delete(t, batch[i]->prefix.addr.v4_host(), batch[i]->prefix.len);
                },
                rc.data());
            fib_swaps_ += f->v4.flips() - before;
        } else {
            const uint64_t before = f->v6.flips();
            f->v6.update_each(
                n,
                [&](rte_lpm6* t, size_t i) {
                    const Prefix& p = batch[i]->prefix;
                    return batch[i]->remove ? rte_lpm6_delete(t, p.addr.bytes.data(), p.len)
                                            : rte_lpm6_add(t, p.addr.bytes.data(), p.len, batch[i]->group);
                },
                [&](rte_lpm6* t, size_t i) {
                    if (!batch[i]->remove) rte_lpm6_delete(t, batch[i]->prefix.addr.bytes.data(), batch[i]->prefix.len);
                },
                rc.data());
            fib_swaps_ += f->v6.flips() - before;
        }
        for (size_t i = 0; i < n; ++i) batch[i]->rc = rc[i];
    }
}

}  // namespace rampart
