// DoubleBuffered<T> (fastpath/double_buffered.hpp), the standby/flip/grace/
// other-copy update behind the FIBs and the SAV table: what each copy holds
// after successes and failures, how many flips (grace periods) it costs, and
// that a reader never sees a copy while it is being written.
#include <catch2/catch.hpp>

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <array>
#include <atomic>
#include <set>
#include <thread>

#include "fastpath/double_buffered.hpp"

using namespace rampart;

namespace {

struct Qsbr {
    explicit Qsbr(unsigned threads) {
        q = static_cast<rte_rcu_qsbr*>(rte_zmalloc("dbuf_qsbr", rte_rcu_qsbr_get_memsize(threads), RTE_CACHE_LINE_SIZE));
        REQUIRE(q);
        REQUIRE(rte_rcu_qsbr_init(q, threads) == 0);
    }
    ~Qsbr() { rte_free(q); }
    rte_rcu_qsbr* q;
};

using Set = std::set<int>;

}  // namespace

TEST_CASE("DoubleBuffered::update: both copies, one flip; a failure never becomes active", "[double_buffered]") {
    Qsbr rcu(1);
    DoubleBuffered<Set> db(rcu.q);
    auto add = [](int v) { return [v](Set& s) { return s.insert(v).second ? 0 : -EEXIST; }; };

    REQUIRE(db.update(add(1)) == 0);
    CHECK(db.active() == Set{1});
    CHECK(db.copy(0) == db.copy(1));
    CHECK(db.flips() == 1);
    REQUIRE(db.update(add(2)) == 0);
    CHECK(db.active() == Set{1, 2});
    CHECK(db.flips() == 2);

    SECTION("failure in the standby copy: no flip, the readers keep the old copy, no more updates") {
        REQUIRE(&db.active() == &db.copy(0));  // after two flips
        db.copy(1).insert(3);                   // the standby copy refuses 3
        CHECK(db.update(add(3)) == -EEXIST);
        CHECK(db.active() == Set{1, 2});
        CHECK(db.flips() == 2);
        CHECK(db.diverged());
        CHECK(db.update(add(4)) == -EAGAIN);
        CHECK(db.active() == Set{1, 2});
    }
    SECTION("failure in the second copy: the complete new copy stays active, no more updates") {
        db.copy(0).insert(3);  // the copy in force now refuses 3 later
        CHECK(db.update(add(3)) == -EEXIST);
        CHECK(&db.active() == &db.copy(1));
        CHECK(db.active() == Set{1, 2, 3});
        CHECK(db.diverged());
        CHECK(db.update(add(4)) == -EAGAIN);
    }
}

TEST_CASE("DoubleBuffered::update_each: one flip for the batch; failed items leave no trace", "[double_buffered]") {
    Qsbr rcu(1);
    DoubleBuffered<Set> db(rcu.q);
    std::vector<int> items{1, 2, 3, 4, 5};
    std::vector<int> rc(items.size());
    auto refuse = std::set<int>{};       // refused in every copy
    auto refuse_late = std::set<int>{};  // refused in the second copy only
    unsigned applied_to_second = 0;
    uint64_t flips_before = 0;
    auto apply = [&](Set& s, size_t i) {
        const int v = items[i];
        const bool second = db.flips() > flips_before;  // the second copy is written after the flip
        if (refuse.count(v)) return -ENOSPC;
        if (second && refuse_late.count(v)) return -ENOMEM;
        if (second) ++applied_to_second;
        s.insert(v);
        return 0;
    };
    auto undo = [&](Set& s, size_t i) { s.erase(items[i]); };

    refuse = {2, 4};
    flips_before = db.flips();
    db.update_each(items.size(), apply, undo, rc.data());
    CHECK(rc == std::vector<int>{0, -ENOSPC, 0, -ENOSPC, 0});
    CHECK(db.flips() == 1);
    CHECK(db.copy(0) == Set{1, 3, 5});
    CHECK(db.copy(1) == Set{1, 3, 5});

    // Nothing applies anywhere: no flip, no grace period.
    items = {7, 8};
    refuse = {7, 8};
    rc.assign(2, 0);
    flips_before = db.flips();
    db.update_each(items.size(), apply, undo, rc.data());
    CHECK(db.flips() == 1);
    CHECK(db.copy(0) == db.copy(1));

    // 11 fails only in the second copy: the copy without it is active again,
    // and it is taken back out of the other one.
    items = {10, 11, 12};
    refuse = {};
    refuse_late = {11};
    rc.assign(3, 0);
    applied_to_second = 0;
    flips_before = db.flips();
    db.update_each(items.size(), apply, undo, rc.data());
    CHECK(rc == std::vector<int>{0, -ENOMEM, 0});
    CHECK(applied_to_second == 2);
    CHECK(db.flips() == 3);
    CHECK(db.active() == Set{1, 3, 5, 10, 12});
    CHECK(db.copy(0) == db.copy(1));
}

TEST_CASE("DoubleBuffered: a reader never sees a copy being written", "[double_buffered]") {
    // The copy is 64 counters that an update sets one by one to the same
    // value: a reader that saw a copy mid-write would find two values.
    struct Wide {
        std::array<std::atomic<uint32_t>, 64> v{};
    };
    Qsbr rcu(1);
    DoubleBuffered<Wide> db(rcu.q);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> torn{0}, reads{0};
    REQUIRE(rte_rcu_qsbr_thread_register(rcu.q, 0) == 0);
    std::thread reader([&] {
        rte_rcu_qsbr_thread_online(rcu.q, 0);
        while (!stop.load(std::memory_order_relaxed)) {
            const Wide& w = db.active();
            const uint32_t first = w.v[0].load(std::memory_order_relaxed);
            for (auto& x : w.v)
                if (x.load(std::memory_order_relaxed) != first) {
                    ++torn;
                    break;
                }
            ++reads;
            rte_rcu_qsbr_quiescent(rcu.q, 0);
        }
        rte_rcu_qsbr_thread_offline(rcu.q, 0);
    });
    while (reads.load() < 100) std::this_thread::yield();  // online: every flip waits for it from now on
    for (uint32_t gen = 1; gen <= 2000; ++gen)
        REQUIRE(db.update([gen](Wide& w) {
            for (auto& x : w.v) x.store(gen, std::memory_order_relaxed);
            return 0;
        }) == 0);
    stop = true;
    reader.join();
    rte_rcu_qsbr_thread_unregister(rcu.q, 0);
    CHECK(db.flips() == 2000);
    CHECK(reads > 0);
    CHECK(torn == 0);
}
