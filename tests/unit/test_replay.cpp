// ESP anti-replay window and outbound sequence numbers (RFC 4303 3.3.3, 3.4.3,
// Appendix A; ESN per RFC 4304): window sizes, duplicates, too-old packets,
// exact window edges, big jumps, the Appendix A2.2 high-half inference around
// a 2^32 boundary, counter exhaustion, and a randomized run against a plain
// std::set model.
#include <catch2/catch.hpp>

#include "crypto/replay.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace rampart;
using R = ReplayResult;

namespace {

constexpr uint64_t k32 = uint64_t{1} << 32;

ReplayWindow make(uint32_t size, bool esn) {
    auto w = ReplayWindow::create(size, esn);
    REQUIRE(w);
    return *w;
}

uint64_t full(const ReplayVerdict& v, uint32_t low) { return uint64_t{v.seq_high} << 32 | low; }

// check, then (if ok) accept as if the ICV verified; returns the final result
// and counts it.
R deliver(ReplayWindow& w, uint64_t seq, ReplayCounters* c = nullptr) {
    const auto low = static_cast<uint32_t>(seq);
    const auto v = w.check(low);
    R r = v.result;
    if (v.ok()) r = w.accept(v.seq_high, low);
    if (c) c->add(r);
    return r;
}

void accept_range(ReplayWindow& w, uint64_t from, uint64_t to) {
    for (uint64_t s = from; s <= to; ++s) REQUIRE(deliver(w, s) == R::ok);
}

}  // namespace

TEST_CASE("replay: window sizes are multiples of 64 from 64 to 4096", "[replay]") {
    for (uint32_t ok : {64u, 128u, 192u, 1024u, 4032u, 4096u}) {
        INFO(ok);
        CHECK(ReplayWindow::size_error(ok) == nullptr);
        auto w = ReplayWindow::create(ok, false);
        REQUIRE(w);
        CHECK(w->size() == ok);
        CHECK(!w->esn());
        CHECK(ReplayWindow::create(ok, true)->esn());
    }
    for (uint32_t bad : {0u, 1u, 32u, 63u, 65u, 100u, 4095u, 4097u, 4160u, 8192u, 0xffffffffu}) {
        INFO(bad);
        CHECK(ReplayWindow::size_error(bad) != nullptr);
        CHECK(!ReplayWindow::create(bad, false));
        CHECK(!ReplayWindow::create(bad, true));
    }
    CHECK(std::string(ReplayWindow::size_error(65)) ==
          "anti-replay window is not a multiple of 64 packets");
    CHECK(std::string(ReplayWindow::size_error(4097)) == "anti-replay window above 4096 packets");
    CHECK(std::string(ReplayWindow::size_error(32)) == "anti-replay window below 64 packets");
    static_assert(ReplayWindow::size_error(64) == nullptr);
    static_assert(ReplayWindow::size_error(65) != nullptr);
    // Lives in per-worker SA state: fixed size, no heap.
    static_assert(sizeof(ReplayWindow) <= 4096 / 8 + 32);
    static_assert(noexcept(std::declval<ReplayWindow&>().check(1)));
    static_assert(noexcept(std::declval<ReplayWindow&>().accept(0, 1)));
    static_assert(noexcept(std::declval<OutboundSequence&>().next()));
    ReplayWindow d;  // default: 64 packets, no ESN
    CHECK(d.size() == 64);
    CHECK(!d.esn());
}

TEST_CASE("replay: result names match the drop counters", "[replay]") {
    CHECK(kNumReplayResults == 4);
    CHECK(replay_result_name(R::ok) == "ok");
    CHECK(replay_result_name(R::replay_duplicate) == "replay_duplicate");
    CHECK(replay_result_name(R::replay_too_old) == "replay_too_old");
    CHECK(replay_result_name(R::sequence_exhausted) == "sequence_exhausted");
    CHECK(!replay_result_text(R::replay_duplicate).empty());
    CHECK(replay_result_name(static_cast<R>(200)) == "unknown");
}

TEST_CASE("replay: duplicates are dropped and counted", "[replay]") {
    for (bool esn : {false, true}) {
        INFO("esn " << esn);
        auto w = make(64, esn);
        ReplayCounters c;
        for (uint64_t s = 1; s <= 10; ++s) CHECK(deliver(w, s, &c) == R::ok);
        for (uint64_t s = 1; s <= 10; ++s) CHECK(deliver(w, s, &c) == R::replay_duplicate);
        CHECK(deliver(w, 10, &c) == R::replay_duplicate);  // the top itself
        // Out of order inside the window: 20, then 15, 15 again.
        CHECK(deliver(w, 20, &c) == R::ok);
        CHECK(deliver(w, 15, &c) == R::ok);
        CHECK(deliver(w, 15, &c) == R::replay_duplicate);
        CHECK(deliver(w, 11, &c) == R::ok);
        CHECK(c[R::ok] == 13);
        CHECK(c[R::replay_duplicate] == 12);
        CHECK(c[R::replay_too_old] == 0);
        CHECK(w.highest() == 20);
    }
}

TEST_CASE("replay: sequence number 0 is never valid without ESN", "[replay]") {
    auto w = make(64, false);
    CHECK(w.check(0).result == R::replay_too_old);  // fresh window
    CHECK(w.accept(0, 0) == R::replay_too_old);
    CHECK(w.highest() == 0);
    accept_range(w, 1, 5);
    CHECK(w.check(0).result == R::replay_too_old);
    CHECK(w.accept(0, 0) == R::replay_too_old);
    // At the end of the space: 0xffffffff is fine, 0 does not wrap to the next epoch.
    CHECK(deliver(w, 0xffffffff) == R::ok);
    CHECK(w.check(0).result == R::replay_too_old);
    CHECK(w.check(1).result == R::replay_too_old);
    CHECK(w.check(0xffffffff).result == R::replay_duplicate);
    CHECK(w.check(0xffffffff - 63).result == R::ok);
    CHECK(w.check(0xffffffff - 64).result == R::replay_too_old);
    CHECK(w.check(0xffffffff - 1).seq_high == 0);
    // Without ESN the high half is ignored by accept().
    CHECK(w.accept(7, 0xfffffffe) == R::ok);
    CHECK(w.highest() == 0xffffffff);
}

TEST_CASE("replay: too-old packets and the exact window edges", "[replay]") {
    for (bool esn : {false, true}) {
        for (uint32_t size : {64u, 128u, 1024u, 4096u}) {
            INFO("esn " << esn << " size " << size);
            auto w = make(size, esn);
            ReplayCounters c;
            const uint64_t top = 100000;
            CHECK(deliver(w, top, &c) == R::ok);
            CHECK(w.highest() == top);
            CHECK(w.lowest_valid() == top - size + 1);
            const uint64_t lowest = top - size + 1;
            // Nothing but the top received: the whole window is open.
            CHECK(w.check(static_cast<uint32_t>(lowest)).result == R::ok);
            CHECK(w.check(static_cast<uint32_t>(top - 1)).result == R::ok);
            CHECK(w.check(static_cast<uint32_t>(top)).result == R::replay_duplicate);
            CHECK(w.check(static_cast<uint32_t>(top + 1)).result == R::ok);
            if (!esn) {
                // Under ESN anything below the window is inferred to be in the
                // next epoch (Appendix A2.2); only without it is it too old.
                CHECK(deliver(w, lowest - 1, &c) == R::replay_too_old);
                CHECK(deliver(w, lowest - 1000, &c) == R::replay_too_old);
                CHECK(deliver(w, 1, &c) == R::replay_too_old);
            } else {
                const auto v = w.check(static_cast<uint32_t>(lowest - 1));
                CHECK(v.ok());
                CHECK(v.seq_high == 1);  // ICV would fail; never accepted here
                c.add(R::replay_too_old);
                c.add(R::replay_too_old);
                c.add(R::replay_too_old);
            }
            // Lowest still-valid number: accepted once, then a duplicate.
            CHECK(deliver(w, lowest, &c) == R::ok);
            CHECK(deliver(w, lowest, &c) == R::replay_duplicate);
            // One step forward: the former lowest falls out (too old without ESN).
            CHECK(deliver(w, top + 1, &c) == R::ok);
            CHECK(w.lowest_valid() == lowest + 1);
            if (!esn) {
                CHECK(w.check(static_cast<uint32_t>(lowest)).result == R::replay_too_old);
                CHECK(w.accept(0, static_cast<uint32_t>(lowest)) == R::replay_too_old);
            } else {
                CHECK(w.check(static_cast<uint32_t>(lowest)).seq_high == 1);
                // The authenticated full number is below the window: too old.
                CHECK(w.accept(0, static_cast<uint32_t>(lowest)) == R::replay_too_old);
            }
            CHECK(w.check(static_cast<uint32_t>(lowest + 1)).result == R::ok);
            CHECK(c[R::ok] == 3);
            CHECK(c[R::replay_duplicate] == 1);
            CHECK(c[R::replay_too_old] == 3);
        }
    }
}

TEST_CASE("replay: the window near the start of the sequence space", "[replay]") {
    for (bool esn : {false, true}) {
        INFO("esn " << esn);
        auto w = make(64, esn);
        CHECK(w.lowest_valid() == 1);
        CHECK(deliver(w, 5) == R::ok);
        CHECK(w.lowest_valid() == 1);
        CHECK(deliver(w, 1) == R::ok);
        CHECK(deliver(w, 1) == R::replay_duplicate);
        CHECK(w.check(0).result == R::replay_too_old);
        // Full 64-packet window from 1: 1..64 all valid, 65 moves it.
        accept_range(w, 6, 64);
        CHECK(deliver(w, 2) == R::ok);
        CHECK(deliver(w, 65) == R::ok);
        CHECK(w.lowest_valid() == 2);
        CHECK(w.check(3).result == R::ok);
        CHECK(w.check(2).result == R::replay_duplicate);
        if (!esn) CHECK(w.check(1).result == R::replay_too_old);
    }
    // ESN, fresh window: low halves just below 2^32 would have to come from
    // "epoch -1", i.e. before sequence number 1; they are too old.
    auto e = make(64, true);
    CHECK(e.check(0xffffffff).result == R::replay_too_old);
    CHECK(e.check(0xffffffff - 62).result == R::replay_too_old);
    CHECK(e.check(0).result == R::replay_too_old);
    CHECK(e.check(1).ok());
    CHECK(e.check(1).seq_high == 0);
    // Just past the window's reach a low half is taken as a far-ahead number
    // of epoch 0 (Appendix A2.2 case B with Th = 0, Seql < Bl).
    CHECK(e.check(0xffffffff - 63).ok());
    CHECK(e.check(0xffffffff - 63).seq_high == 0);
}

TEST_CASE("replay: jumps beyond the window clear the bitmap", "[replay]") {
    for (bool esn : {false, true}) {
        for (uint32_t size : {64u, 1024u, 4096u}) {
            for (uint64_t jump : {uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{65},
                                  uint64_t{size} - 1, uint64_t{size}, uint64_t{size} + 1,
                                  uint64_t{4095}, uint64_t{4096}, uint64_t{4097}, uint64_t{8191},
                                  uint64_t{10000}, uint64_t{1} << 30,
                                  esn ? k32 - size : (uint64_t{1} << 31) - 8192}) {
                INFO("esn " << esn << " size " << size << " jump " << jump);
                auto w = make(size, esn);
                const uint64_t base = 1000;
                // Fill the whole window [base, base + size - 1], then jump twice.
                accept_range(w, base, base + size - 1);
                const uint64_t top = base + size - 1;
                const uint64_t t1 = top + jump, t2 = t1 + jump;
                auto received = [&](uint64_t s, uint64_t upto) {
                    return s <= upto && ((s >= base && s <= top) || s == t1 || s == t2);
                };
                for (uint64_t t : {t1, t2}) {
                    REQUIRE(deliver(w, t) == R::ok);
                    REQUIRE(w.highest() == t);
                    // In the new window only what was received before is a
                    // duplicate; the rest of the bitmap was cleared.
                    const uint64_t lo = t - size + 1;
                    for (uint64_t s = lo; s <= t; ++s) {
                        const auto v = w.check(static_cast<uint32_t>(s));
                        const R want = received(s, t) ? R::replay_duplicate : R::ok;
                        if (v.result != want || (v.ok() && full(v, static_cast<uint32_t>(s)) != s)) {
                            INFO("top " << t << " seq " << s);
                            CHECK(v.result == want);
                            CHECK(full(v, static_cast<uint32_t>(s)) == s);
                            break;
                        }
                    }
                    if (!esn) CHECK(w.check(static_cast<uint32_t>(lo - 1)).result == R::replay_too_old);
                }
            }
        }
    }
}

TEST_CASE("replay: check() changes nothing, accept() re-checks", "[replay]") {
    for (bool esn : {false, true}) {
        INFO("esn " << esn);
        auto w = make(64, esn);
        accept_range(w, 1, 10);
        for (uint32_t s = 0; s < 5000; ++s) (void)w.check(s * 7919u);
        CHECK(w.highest() == 10);
        CHECK(w.check(11).ok());
        CHECK(w.check(11).ok());
        // Two copies of 12 pass check() in one burst; only the first to
        // verify is accepted.
        const auto a = w.check(12), b = w.check(12);
        REQUIRE(a.ok());
        REQUIRE(b.ok());
        CHECK(w.accept(a.seq_high, 12) == R::ok);
        CHECK(w.accept(b.seq_high, 12) == R::replay_duplicate);
        // A packet checked while in the window, but verified after the
        // window moved past it: too old at accept time.
        const auto late = w.check(5 + 0);  // 5 was received: duplicate
        CHECK(late.result == R::replay_duplicate);
        const auto v11 = w.check(11);
        REQUIRE(v11.ok());
        CHECK(w.accept(0, 200) == R::ok);
        CHECK(w.accept(v11.seq_high, 11) == R::replay_too_old);
        CHECK(w.highest() == 200);
        // An ICV failure (no accept) leaves the number open.
        CHECK(w.check(199).ok());
        CHECK(w.check(199).ok());
        CHECK(deliver(w, 199) == R::ok);
        // reset() forgets everything.
        w.reset();
        CHECK(w.highest() == 0);
        CHECK(w.check(5).ok());
        CHECK(w.check(0).result == R::replay_too_old);
    }
}

TEST_CASE("replay: ESN high-half inference (RFC 4303 Appendix A2.2)", "[replay]") {
    constexpr uint32_t W = 64;
    SECTION("case A: the window inside one epoch (Tl >= W - 1)") {
        auto w = make(W, true);
        const uint64_t T = 3 * k32 + 1000;
        REQUIRE(w.accept(3, 1000) == R::ok);
        CHECK(w.highest() == T);
        // Seql >= Bl: Seqh = Th
        CHECK(w.check(1000 - W + 1).seq_high == 3);
        CHECK(w.check(1000 - W + 1).ok());
        CHECK(w.check(999).seq_high == 3);
        CHECK(w.check(1000).result == R::replay_duplicate);
        CHECK(w.check(1001).seq_high == 3);
        CHECK(w.check(0xffffffff).seq_high == 3);
        // Seql < Bl: Seqh = Th + 1 (ahead, in the next epoch)
        CHECK(w.check(1000 - W).seq_high == 4);
        CHECK(w.check(1000 - W).ok());
        CHECK(w.check(0).seq_high == 4);
        CHECK(w.check(0).ok());
        // Tl exactly W - 1: Bl = 0, everything maps to Th.
        auto e = make(W, true);
        REQUIRE(e.accept(3, W - 1) == R::ok);
        CHECK(e.check(0).seq_high == 3);
        CHECK(e.check(0).ok());
        CHECK(e.check(0xffffffff).seq_high == 3);
    }
    SECTION("case B: the window spans a 2^32 boundary (Tl < W - 1)") {
        auto w = make(W, true);
        REQUIRE(w.accept(3, 10) == R::ok);
        const uint32_t Bl = 10u - W + 1u;  // wraps: 0xffffffcb
        CHECK(Bl == 0xffffffcbu);
        // Seql >= Bl: Seqh = Th - 1, inside the window's tail
        CHECK(w.check(Bl).seq_high == 2);
        CHECK(w.check(Bl).ok());
        CHECK(w.check(0xffffffff).seq_high == 2);
        CHECK(w.check(0xffffffff).ok());
        // Seql < Bl: Seqh = Th
        CHECK(w.check(0).seq_high == 3);
        CHECK(w.check(0).ok());
        CHECK(w.check(10).result == R::replay_duplicate);
        CHECK(w.check(11).seq_high == 3);
        CHECK(w.check(Bl - 1).seq_high == 3);  // far ahead
        CHECK(w.check(Bl - 1).ok());
        // Receiving the previous epoch's tail, then duplicates of it.
        CHECK(w.accept(2, 0xfffffff0) == R::ok);
        CHECK(w.check(0xfffffff0).result == R::replay_duplicate);
        CHECK(w.check(0xfffffff0).seq_high == 2);
        CHECK(w.highest() == 3 * k32 + 10);
    }
    SECTION("a stream across the 0xffffffff -> 0 boundary, late packets from the old epoch") {
        for (uint32_t size : {64u, 1024u, 4096u}) {
            INFO("size " << size);
            auto w = make(size, true);
            ReplayCounters c;
            const uint64_t start = k32 - 40;  // epoch 0, low 0xffffffd8
            REQUIRE(w.accept(0, static_cast<uint32_t>(start - 2 * size)) == R::ok);  // reachable
            // Every other packet of the last 40 of epoch 0 ...
            for (uint64_t s = start; s < k32; s += 2) CHECK(deliver(w, s, &c) == R::ok);
            CHECK(w.highest() == k32 - 2);
            // ... then the first packets of epoch 1: low 0, 1, 2 with Seqh = 1.
            for (uint32_t low : {0u, 1u, 2u}) {
                const auto v = w.check(low);
                CHECK(v.ok());
                CHECK(v.seq_high == 1);
                CHECK(w.accept(v.seq_high, low) == R::ok);
                c.add(R::ok);
            }
            CHECK(w.highest() == k32 + 2);
            // The skipped odd numbers of epoch 0 arrive late: Seqh = 0, accepted.
            for (uint64_t s = start + 1; s < k32; s += 2) {
                const auto v = w.check(static_cast<uint32_t>(s));
                CHECK(v.ok());
                CHECK(v.seq_high == 0);
                CHECK(w.accept(v.seq_high, static_cast<uint32_t>(s)) == R::ok);
                c.add(R::ok);
            }
            // And now all of them are duplicates, on both sides of the boundary.
            for (uint64_t s = start; s <= k32 + 2; ++s) {
                const auto v = w.check(static_cast<uint32_t>(s));
                CHECK(v.result == R::replay_duplicate);
                c.add(v.result);
            }
            CHECK(c[R::ok] == 43);
            CHECK(c[R::replay_duplicate] == 43);
            // Move the window entirely into epoch 1: the old epoch's low
            // halves now infer to epoch 1 or 2 (ahead, would fail the ICV) ...
            REQUIRE(deliver(w, k32 + size + 100) == R::ok);
            CHECK(w.check(0xfffffff0).ok());
            CHECK(w.check(0xfffffff0).seq_high == 1);
            CHECK(w.check(2).ok());
            CHECK(w.check(2).seq_high == 2);
            // ... and the authenticated old numbers are too old.
            CHECK(w.accept(0, 0xfffffff0) == R::replay_too_old);
            CHECK(w.accept(1, 2) == R::replay_too_old);
        }
    }
    SECTION("several epochs, jumps of nearly 2^32") {
        auto w = make(W, true);
        uint64_t s = 1;
        REQUIRE(deliver(w, s) == R::ok);
        for (int i = 0; i < 20; ++i) {
            s += k32 - W;  // the farthest ahead that is still inferred correctly
            const auto v = w.check(static_cast<uint32_t>(s));
            REQUIRE(v.ok());
            REQUIRE(full(v, static_cast<uint32_t>(s)) == s);
            REQUIRE(w.accept(v.seq_high, static_cast<uint32_t>(s)) == R::ok);
        }
        CHECK(w.highest() == s);
        // One further would look like the window's bottom, in the current epoch.
        const uint64_t too_far = s + k32 - W + 1;
        CHECK(full(w.check(static_cast<uint32_t>(too_far)), static_cast<uint32_t>(too_far)) ==
              too_far - k32);
    }
    SECTION("the top of the 64-bit space") {
        auto w = make(W, true);
        REQUIRE(w.accept(0xffffffff, 0xfffffff0) == R::ok);
        CHECK(w.check(0xffffffff).ok());
        CHECK(w.check(0xffffffff).seq_high == 0xffffffff);
        CHECK(w.accept(0xffffffff, 0xffffffff) == R::ok);
        CHECK(w.check(0xffffffff).result == R::replay_duplicate);
        // Low halves that would infer beyond 2^64 - 1 wrap to tiny numbers;
        // they are rejected, not taken as a new start.
        CHECK(w.check(5).result == R::replay_too_old);
        CHECK(w.accept(0, 5) == R::replay_too_old);
        CHECK(w.highest() == ~0ull);
    }
}

TEST_CASE("replay: outbound sequence numbers and exhaustion", "[replay]") {
    SECTION("starts at 1") {
        OutboundSequence s(false);
        CHECK(s.sent() == 0);
        CHECK(s.next() == std::optional<uint64_t>(1));
        CHECK(s.next() == std::optional<uint64_t>(2));
        CHECK(s.next() == std::optional<uint64_t>(3));
        CHECK(s.sent() == 3);
        CHECK(!s.exhausted());
        CHECK(!s.soft_limit_reached());
        CHECK(!s.esn());
        CHECK(OutboundSequence(true).esn());
    }
    SECTION("without ESN it ends after 2^32 - 1 and never wraps") {
        auto s = OutboundSequence::starting_at(false, 0xfffffffd);
        CHECK(s.next() == std::optional<uint64_t>(0xfffffffd));
        CHECK(s.next() == std::optional<uint64_t>(0xfffffffe));
        CHECK(!s.exhausted());
        CHECK(s.next() == std::optional<uint64_t>(0xffffffff));
        CHECK(s.exhausted());
        ReplayCounters c;
        for (int i = 0; i < 5; ++i) {
            const auto n = s.next();
            CHECK(!n);
            if (!n) c.add(R::sequence_exhausted);
        }
        CHECK(c[R::sequence_exhausted] == 5);
        CHECK(s.sent() == 0xffffffff);
        CHECK(s.exhausted());
        CHECK(s.soft_limit_reached());
        // Past-the-end start: exhausted at once.
        CHECK(!OutboundSequence::starting_at(false, k32).next());
        CHECK(!OutboundSequence::starting_at(false, k32 + 12345).next());
    }
    SECTION("with ESN it continues past 2^32 - 1 and ends after 2^64 - 1") {
        auto s = OutboundSequence::starting_at(true, 0xfffffffe);
        CHECK(s.next() == std::optional<uint64_t>(0xfffffffe));
        CHECK(s.next() == std::optional<uint64_t>(0xffffffff));
        CHECK(s.next() == std::optional<uint64_t>(k32));
        CHECK(s.next() == std::optional<uint64_t>(k32 + 1));
        CHECK(!s.exhausted());
        // The receiver follows: low halves on the wire, Seqh inferred.
        auto rx = make(64, true);
        auto tx = OutboundSequence::starting_at(true, k32 - 100);
        for (int i = 0; i < 300; ++i) {
            const auto n = tx.next();
            REQUIRE(n);
            const auto v = rx.check(static_cast<uint32_t>(*n));
            REQUIRE(v.ok());
            REQUIRE(full(v, static_cast<uint32_t>(*n)) == *n);
            REQUIRE(rx.accept(v.seq_high, static_cast<uint32_t>(*n)) == R::ok);
        }
        CHECK(rx.highest() == k32 + 199);

        auto e = OutboundSequence::starting_at(true, ~0ull - 1);
        CHECK(e.next() == std::optional<uint64_t>(~0ull - 1));
        CHECK(e.next() == std::optional<uint64_t>(~0ull));
        CHECK(e.exhausted());
        CHECK(!e.next());
        CHECK(!e.next());
        CHECK(e.sent() == ~0ull);
    }
    SECTION("soft limit") {
        OutboundSequence s(false, 10);
        CHECK(s.soft_limit() == 10);
        for (int i = 0; i < 9; ++i) REQUIRE(s.next());
        CHECK(!s.soft_limit_reached());
        REQUIRE(s.next() == std::optional<uint64_t>(10));
        CHECK(s.soft_limit_reached());
        REQUIRE(s.next());
        CHECK(s.soft_limit_reached());

        CHECK(OutboundSequence::default_soft_limit(false) == k32 - 65536);
        CHECK(OutboundSequence::default_soft_limit(true) == 0 - k32);
        auto d = OutboundSequence::starting_at(false, OutboundSequence::default_soft_limit(false));
        CHECK(!d.soft_limit_reached());
        REQUIRE(d.next());
        CHECK(d.soft_limit_reached());
        CHECK(!d.exhausted());
        auto e = OutboundSequence::starting_at(true, k32 + 5);
        CHECK(!e.soft_limit_reached());
        auto f = OutboundSequence::starting_at(true, 100, 1000);
        CHECK(f.soft_limit() == 1000);
        CHECK(f.next() == std::optional<uint64_t>(100));
    }
}

namespace {

// The reference: every accepted full sequence number in a set, plus the
// highest. The ESN high half is found by trying Th - 1, Th and Th + 1 and
// keeping the candidate inside [T - W + 1, T - W + 2^32] (RFC 4303 A2.2 as a
// range), in signed 128-bit arithmetic so nothing wraps.
struct Reference {
    bool esn;
    __int128 size;
    std::set<uint64_t> got;
    uint64_t top = 0;
    ReplayCounters counters;

    // (result, full number as inferred); the number may be < 1 (too old).
    std::pair<R, __int128> check(uint32_t low) const {
        __int128 x = low;
        if (esn) {
            const __int128 bottom = __int128(top) - size + 1;
            const __int128 th = top >> 32;
            bool found = false;
            for (__int128 h = th - 1; h <= th + 1; ++h) {
                const __int128 c = h * __int128(k32) + low;
                if (c >= bottom && c < bottom + __int128(k32)) {
                    x = c;
                    found = true;
                }
            }
            REQUIRE(found);
        }
        return {verdict(x), x};
    }
    R verdict(__int128 x) const {
        if (x < 1) return R::replay_too_old;
        if (x > __int128(top)) return R::ok;
        if (x < __int128(top) - size + 1) return R::replay_too_old;
        return got.count(uint64_t(x)) ? R::replay_duplicate : R::ok;
    }
    R accept(uint64_t x) {
        const R r = verdict(x);
        if (r == R::ok) {
            got.insert(x);
            if (x > top) top = x;
        }
        return r;
    }
};

struct Pending {
    uint64_t seq;  // the true number, authenticated with the inferred high half
    uint32_t high;
};

void randomized(bool esn, uint32_t size, uint64_t first, uint64_t seed, int ops) {
    INFO("esn " << esn << " size " << size << " first " << first << " seed " << seed);
    auto w = make(size, esn);
    Reference ref{esn, size, {}, 0, {}};
    ReplayCounters counted;
    std::mt19937_64 rng(seed);
    auto chance = [&](unsigned per_mille) { return rng() % 1000 < per_mille; };
    auto below = [&](uint64_t n) { return n ? rng() % n : 0; };

    const uint64_t limit = esn ? ~0ull - k32 : k32 - 1;
    uint64_t next_new = first;
    std::vector<uint64_t> sent;  // everything the sender emitted, in order
    std::vector<Pending> pending;
    uint64_t compared = 0, icv_failed = 0, epochs_crossed = 0;

    if (first > 1) {  // both sides start with first - 1 received
        REQUIRE(w.accept(static_cast<uint32_t>((first - 1) >> 32), static_cast<uint32_t>(first - 1)) == R::ok);
        REQUIRE(ref.accept(first - 1) == R::ok);
    }

    auto accept_one = [&](size_t i) {
        const Pending p = pending[i];
        pending[i] = pending.back();
        pending.pop_back();
        const uint64_t before = w.highest();
        const R got = w.accept(p.high, static_cast<uint32_t>(p.seq));
        const R want = ref.accept(p.seq);
        ++compared;
        if (got != want || w.highest() != ref.top) {
            INFO("accept seq " << p.seq << " top " << before);
            REQUIRE(got == want);
            REQUIRE(w.highest() == ref.top);
        }
        if ((w.highest() >> 32) != (before >> 32)) ++epochs_crossed;
        counted.add(got);
        ref.counters.add(want);
    };

    for (int op = 0; op < ops; ++op) {
        const unsigned kind = rng() % 100;
        if (kind < 12 && !pending.empty()) {
            // Verification finished for part of the burst, in any order.
            const size_t n = 1 + below(pending.size());
            for (size_t k = 0; k < n && !pending.empty(); ++k) accept_one(below(pending.size()));
            continue;
        }
        uint64_t seq;
        if (kind < 60 || sent.empty()) {
            if (next_new > limit) {
                if (sent.empty()) break;
                seq = sent[sent.size() - 1 - below(std::min<size_t>(sent.size(), 3 * size))];
            } else {
                seq = next_new;
                sent.push_back(seq);
                uint64_t step = 1;
                if (chance(30)) step += below(2 * size);           // loss/reorder gap
                if (chance(5)) step += size + below(3 * 4096);       // beyond the window
                if (esn && chance(2)) step += below(uint64_t{1} << 31);  // toward the next epoch
                if (!esn && chance(1)) step += below(uint64_t{1} << 24);
                // Up to the last number of the space, then no new ones.
                next_new = seq == limit ? limit + 1 : std::min(seq + step, limit);
            }
        } else if (kind < 80) {
            // Reordered or duplicated: one of the last few dozen packets.
            seq = sent[sent.size() - 1 - below(std::min<size_t>(sent.size(), 48))];
        } else if (kind < 93) {
            // Reordered or duplicated: one of the last 3 windows' worth.
            seq = sent[sent.size() - 1 - below(std::min<size_t>(sent.size(), 3 * size))];
        } else {
            // Anything ever sent (mostly far too old).
            seq = sent[below(sent.size())];
        }

        const auto low = static_cast<uint32_t>(seq);
        const auto v = w.check(low);
        const auto [want, x] = ref.check(low);
        ++compared;
        if (v.result != want || (want == R::ok && full(v, low) != uint64_t(x))) {
            INFO("op " << op << " check seq " << seq << " top " << w.highest());
            REQUIRE(v.result == want);
            REQUIRE(full(v, low) == uint64_t(x));
        }
        if (!v.ok()) {
            counted.add(v.result);
            ref.counters.add(want);
            continue;
        }
        if (!esn) REQUIRE(v.seq_high == 0);
        // The ICV covers the true high half: a wrong inference fails it, and so
        // does the occasional corrupted packet.
        if (full(v, low) != seq || chance(20)) {
            ++icv_failed;
            continue;
        }
        pending.push_back({seq, v.seq_high});
        if (chance(600)) accept_one(pending.size() - 1);  // no burst in between
    }
    while (!pending.empty()) accept_one(pending.size() - 1);

    INFO("ok " << counted[R::ok] << " dup " << counted[R::replay_duplicate] << " old " << counted[R::replay_too_old] << " icv " << icv_failed << " epochs " << epochs_crossed << " top " << w.highest());
    CHECK(compared > uint64_t(ops) / 2);
    for (unsigned r = 0; r < kNumReplayResults; ++r) CHECK(counted.count[r] == ref.counters.count[r]);
    CHECK(counted[R::ok] > 500);
    CHECK(counted[R::replay_duplicate] > 500);
    CHECK(counted[R::replay_too_old] > 100);
    CHECK(icv_failed > 10);
    if (esn) CHECK(epochs_crossed >= 3);
}

}  // namespace

TEST_CASE("replay: randomized against a reference set", "[replay]") {
    const int ops = 200000;
    SECTION("without ESN") {
        randomized(false, 64, 1, 1, ops);
        randomized(false, 1024, 1, 2, ops);
        randomized(false, 4096, 1, 3, ops);
        randomized(false, 128, k32 - (uint64_t{1} << 29), 4, ops);  // up to the end of the space
    }
    SECTION("with ESN") {
        randomized(true, 64, 1, 11, ops);
        randomized(true, 1024, k32 - 50000, 12, ops);
        randomized(true, 4096, 7 * k32 - 5000, 13, ops);
        randomized(true, 192, 1, 14, ops);
    }
}
