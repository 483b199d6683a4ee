#include "fastpath/tables.hpp"

#include <rte_errno.h>
#include <rte_malloc.h>

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

ForwardingTables::ForwardingTables(unsigned max_workers, const TableSizes& sizes, int socket_id) {
    unsigned id = instance_counter.fetch_add(1);
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

    for (int i = 0; i < 2; ++i) {
        std::string name4 = fmt::format("rp_fib4_{}_{}", id, i);
        rte_fib_conf cfg4{};
        cfg4.type = RTE_FIB_DIR24_8;
        cfg4.default_nh = kFib4Miss;
        cfg4.max_routes = int(sizes.fib4_max_routes);
        cfg4.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
        cfg4.dir24_8.num_tbl8 = sizes.fib4_tbl8s;
        fib4_[i] = rte_fib_create(name4.c_str(), socket_id, &cfg4);
        if (!fib4_[i])
            throw std::runtime_error(fmt::format("cannot create the IPv4 FIB ({} routes): {}",
                                                 sizes.fib4_max_routes, rte_strerror(rte_errno)));
    }
    for (int i = 0; i < 2; ++i) {
        std::string name6 = fmt::format("rp_fib6_{}_{}", id, i);
        rte_lpm6_config cfg6{};
        cfg6.max_rules = sizes.fib6_max_routes;
        cfg6.number_tbl8s = sizes.fib6_tbl8s;
        lpm6_[i] = rte_lpm6_create(name6.c_str(), socket_id, &cfg6);
        if (!lpm6_[i])
            throw std::runtime_error(fmt::format("cannot create the IPv6 FIB ({} routes): {}",
                                                 sizes.fib6_max_routes, rte_strerror(rte_errno)));
    }

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
    for (auto* t : fib4_)
        if (t) rte_fib_free(t);
    for (auto* t : lpm6_)
        if (t) rte_lpm6_free(t);
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
        }
    }
}

void ForwardingTables::retire(RetireKind kind, uint32_t index, void* object) {
    if (kind != RetireKind::group_slot && kind != RetireKind::adjacency_slot && !object) return;
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

template <typename Change, typename Undo>
int ForwardingTables::update_both(std::atomic<uint32_t>& active, Change change, Undo undo) {
    const uint32_t old = active.load(std::memory_order_relaxed);
    int rc = change(old ^ 1);
    if (rc != 0) return rc;
    // release: workers that see the new index see the finished copy.
    active.store(old ^ 1, std::memory_order_release);
    synchronize();  // nobody reads the old copy any more
    rc = change(old);
    if (rc != 0) {
        // Keep both copies identical: undo on the one that succeeded.
        active.store(old, std::memory_order_release);
        synchronize();
        undo(old ^ 1);
    }
    return rc;
}

int ForwardingTables::add_route(const Prefix& p, uint32_t group) {
    Prefix n = p.network();
    if (n.addr.is_v4()) {
        const uint32_t ip = n.addr.v4_host();
        return update_both(
            active4_, [&](uint32_t c) { return rte_fib_add(fib4_[c], ip, n.len, group); },
            [&](uint32_t c) { rte_fib_delete(fib4_[c], ip, n.len); });
    }
    const uint8_t* ip = n.addr.bytes.data();
    return update_both(
        active6_, [&](uint32_t c) { return rte_lpm6_add(lpm6_[c], ip, n.len, group); },
        [&](uint32_t c) { rte_lpm6_delete(lpm6_[c], ip, n.len); });
}

int ForwardingTables::del_route(const Prefix& p) {
    Prefix n = p.network();
    auto nothing = [](uint32_t) {};
    if (n.addr.is_v4()) {
        const uint32_t ip = n.addr.v4_host();
        return update_both(active4_, [&](uint32_t c) { return rte_fib_delete(fib4_[c], ip, n.len); }, nothing);
    }
    const uint8_t* ip = n.addr.bytes.data();
    return update_both(active6_, [&](uint32_t c) { return rte_lpm6_delete(lpm6_[c], ip, n.len); }, nothing);
}

}  // namespace rampart
