// Two copies of a table that has no RCU reclamation of its own (rte_fib,
// rte_fib6, rte_lpm6 in DPDK 22.11 free their inner blocks at once on a
// delete), so that lock-free readers always see one complete copy:
//
//   1. the writer changes the standby copy (no worker reads it);
//   2. a release store makes it the active one;
//   3. one grace period passes: no worker reads the other copy any more;
//   4. the writer makes the same change to the other copy.
//
// A batch of changes takes steps 1-4 once: one grace period for N changes.
// A copy a change failed on half-way never becomes active. Used by the
// forwarding FIBs (fastpath/tables.hpp) and the SAV table (sav/table.hpp).
// One writer (the control core); readers call active() only.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <rte_rcu_qsbr.h>

namespace rampart {

template <typename T>
class DoubleBuffered {
public:
    // `qsbr`: the readers' RCU state; its grace periods separate steps 2 and 4.
    explicit DoubleBuffered(rte_rcu_qsbr* qsbr) : qsbr_(qsbr) {}
    DoubleBuffered(const DoubleBuffered&) = delete;
    DoubleBuffered& operator=(const DoubleBuffered&) = delete;

    // ---- reader side (workers) ----
    // acquire: pairs with the writer's release store in flip(), so the copy
    // (and whatever it references that was written before) is complete.
    const T& active() const noexcept { return copies_[active_.load(std::memory_order_acquire)]; }

    // ---- writer side (control core only) ----
    // Both copies, for creating and destroying them (no reader may exist yet / any more).
    T& copy(unsigned i) noexcept { return copies_[i & 1]; }
    const T& copy(unsigned i) const noexcept { return copies_[i & 1]; }
    // The copies differ since a change failed on one of them (update()): every
    // further update() is refused with -EAGAIN; the owner must build a new table.
    bool diverged() const noexcept { return diverged_; }
    // Copies made active so far (each one cost a grace period).
    uint64_t flips() const noexcept { return flips_; }

    // All or nothing: `change(T& copy)` returns 0 or a negative errno. On
    // failure in the standby copy nothing became active and the readers keep
    // the complete old copy; on failure in the other copy the active copy is
    // complete. Either way the copies differ from then on (diverged()).
    template <typename Change>
    int update(Change&& change) {
        if (diverged_) return -EAGAIN;
        const uint32_t old = active_.load(std::memory_order_relaxed);
        int rc = change(copies_[old ^ 1]);
        if (rc != 0) {
            diverged_ = true;  // the standby copy may be half-updated; it never becomes active
            return rc;
        }
        flip(old ^ 1);
        rc = change(copies_[old]);
        if (rc != 0) diverged_ = true;
        return rc;
    }

    // Item by item, each one on its own: `apply(T& copy, size_t i)` returns 0
    // or a negative errno and leaves the copy as it was when it fails;
    // `undo(T& copy, size_t i)` takes item i back out of a copy. Writes each
    // item's outcome to rc[i]. Items that fail leave no trace in either copy;
    // the others are in both. One flip and one grace period for all n items
    // (two more only when an item fails in the second copy only).
    template <typename Apply, typename Undo>
    void update_each(size_t n, Apply&& apply, Undo&& undo, int* rc) {
        const uint32_t old = active_.load(std::memory_order_relaxed);
        bool any = false;
        for (size_t i = 0; i < n; ++i) any |= (rc[i] = apply(copies_[old ^ 1], i)) == 0;
        if (!any) return;  // nothing changed: no flip, no grace period
        flip(old ^ 1);
        std::vector<size_t> failed_late;
        for (size_t i = 0; i < n; ++i) {
            if (rc[i] != 0) continue;
            if ((rc[i] = apply(copies_[old], i)) != 0) failed_late.push_back(i);
        }
        if (failed_late.empty()) return;
        // Keep both copies identical: the one without those items becomes
        // active again, and they are taken out of the other once no reader
        // is left in it.
        flip(old);
        for (size_t i : failed_late) undo(copies_[old ^ 1], i);
    }

private:
    // Makes copy `to` active and waits until no reader is left in the other one.
    void flip(uint32_t to) {
        // release: a reader that sees the new index sees the finished copy.
        active_.store(to, std::memory_order_release);
        ++flips_;
        rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    }

    T copies_[2]{};  // what readers touch first, the writer's bookkeeping after
    std::atomic<uint32_t> active_{0};
    rte_rcu_qsbr* qsbr_;
    bool diverged_ = false;
    uint64_t flips_ = 0;
};

}  // namespace rampart
