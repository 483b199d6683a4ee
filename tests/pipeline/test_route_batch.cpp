// Routes from protocols in batches (Control::route_apply): N route changes go
// into the standby FIB copy together and cost one swap, one grace period,
// where one route at a time costs one each. Counted with
// ForwardingTables::fib_swaps(); a route the FIB refuses in a batch leaves no
// trace in either copy and does not hold the others back.
#include <catch2/catch.hpp>

#include <rte_launch.h>
#include <rte_lcore.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include "tests/pipeline/harness.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {

IpAddr gateway() { return *IpAddr::parse("198.51.100.2"); }

// Pipeline with port1 on 198.51.100.0/24 and a resolved gateway there.
void setup(Pipeline& p) {
    p.exec("interface port0 address 192.0.2.1/24");
    p.exec("interface port1 address 198.51.100.1/24");
    p.neighbor(1, "198.51.100.2", "02:00:00:00:00:11");
}

// The i-th /24 from 10.0.0.0 on (any number of them: 10.0.0.0, 10.0.1.0, ...).
Prefix nth_slash24(uint32_t i) { return Prefix{IpAddr::v4(0x0a000000u + (i << 8)), 24}; }

OwnedRouteChange adds(uint32_t from, uint32_t count, uint8_t len = 24) {
    OwnedRouteChange ch;
    for (uint32_t i = from; i < from + count; ++i) {
        Prefix p = nth_slash24(i);
        p.len = len;
        ch.add.emplace_back(p, gateway());
    }
    return ch;
}

bool routed(Pipeline& p, const Prefix& prefix) { return p.tables->lookup4(prefix.addr.v4_host()) >= 0; }

std::atomic<bool> running{false};
int worker_entry(void* w) {
    static_cast<Worker*>(w)->run(running);
    return 0;
}

}  // namespace

TEST_CASE("Routes of one route_apply are published with one FIB swap", "[pipeline][routes][batch]") {
    Pipeline p(2);
    setup(p);

    // A batch of 1000: one swap of the IPv4 table.
    uint64_t before = p.tables->fib_swaps();
    REQUIRE_FALSE(p.control->route_apply("bgp", adds(0, 1000)));
    CHECK(p.tables->fib_swaps() - before == 1);
    for (uint32_t i = 0; i < 1000; ++i) REQUIRE(routed(p, nth_slash24(i)));

    // The same number one at a time: one swap each.
    before = p.tables->fib_swaps();
    for (uint32_t i = 1000; i < 2000; ++i) REQUIRE_FALSE(p.control->route_apply("bgp", adds(i, 1)));
    CHECK(p.tables->fib_swaps() - before == 1000);
    for (uint32_t i = 1000; i < 2000; ++i) REQUIRE(routed(p, nth_slash24(i)));

    // They forward: a packet to the last one leaves port1 towards the gateway.
    const IpAddr src = *IpAddr::parse("192.0.2.10"), dst = IpAddr::v4(0x0a000000u + (1999u << 8) + 7);
    p.send(0, ether(p.ports[0].mac, mac("02:aa:00:00:00:0a"), 0x0800, ipv4(src, dst, 17, 64, udp(src, dst, 1, 2, pattern(8, 1)))));
    p.run();
    auto out = p.wire_out(1);
    REQUIRE(out.size() == 1);
    CHECK(Bytes(out[0].begin(), out[0].begin() + 6) == Bytes{0x02, 0, 0, 0, 0, 0x11});

    // Removing and changing many at once: one swap again.
    OwnedRouteChange ch;
    for (uint32_t i = 0; i < 1500; ++i) ch.remove.push_back(nth_slash24(i));
    before = p.tables->fib_swaps();
    REQUIRE_FALSE(p.control->route_apply("bgp", ch));
    CHECK(p.tables->fib_swaps() - before == 1);
    for (uint32_t i = 0; i < 2000; ++i) REQUIRE(routed(p, nth_slash24(i)) == (i >= 1500));

    // IPv4 and IPv6 together: one swap per table.
    OwnedRouteChange mixed = adds(0, 10);
    p.exec("interface port1 address 2001:db8:1::1/64");
    p.neighbor(1, "2001:db8:1::2", "02:00:00:00:00:12");
    for (int i = 0; i < 10; ++i)
        mixed.add.emplace_back(*Prefix::parse("2001:db8:ff:" + std::to_string(i) + "::/64"), *IpAddr::parse("2001:db8:1::2"));
    before = p.tables->fib_swaps();
    REQUIRE_FALSE(p.control->route_apply("bgp", mixed));
    CHECK(p.tables->fib_swaps() - before == 2);
    const IpAddr in6 = *IpAddr::parse("2001:db8:ff:9::1");
    CHECK(p.tables->lookup6(in6.bytes.data()) >= 0);

    // Nothing changed in the FIB: no swap at all.
    before = p.tables->fib_swaps();
    REQUIRE_FALSE(p.control->route_apply("bgp", adds(0, 10)));
    CHECK(p.tables->fib_swaps() == before);
}

TEST_CASE("A route the FIB refuses in a batch leaves no trace in either copy", "[pipeline][routes][batch]") {
    // 256 tbl8 groups: a /25 in each of 300 different /24s runs out of them.
    Pipeline p(2);
    setup(p);
    const uint64_t before = p.tables->fib_swaps();
    REQUIRE_FALSE(p.control->route_apply("bgp", adds(0, 300, 25)));
    CHECK(p.tables->fib_swaps() - before == 1);
    auto installed_now = [&] {
        std::vector<bool> in(300);
        for (uint32_t i = 0; i < 300; ++i) in[i] = routed(p, nth_slash24(i));
        return in;
    };
    const std::vector<bool> installed = installed_now();
    const size_t n_installed = size_t(std::count(installed.begin(), installed.end(), true));
    CHECK(n_installed > 200);
    CHECK(n_installed < 300);
    // The refused ones are reported as not installed, with the FIB's reason.
    size_t refused = 0;
    for (auto& [key, why] : p.fib->unresolved_routes()) {
        CHECK_THAT(why, Catch::Contains("FIB refused it"));
        ++refused;
    }
    CHECK(refused == 300 - n_installed);
    // Make the other copy active (an unrelated route): it holds exactly the same routes.
    REQUIRE_FALSE(p.control->route_apply("bgp", adds(1000, 1)));
    CHECK(installed_now() == installed);
    // All of them out again in one batch: the refused ones were never in.
    OwnedRouteChange ch;
    for (uint32_t i = 0; i < 300; ++i) {
        Prefix pf = nth_slash24(i);
        pf.len = 25;
        ch.remove.push_back(pf);
    }
    REQUIRE_FALSE(p.control->route_apply("bgp", ch));
    CHECK(p.fib->unresolved_routes().empty());
    for (uint32_t i = 0; i < 300; ++i) CHECK_FALSE(routed(p, nth_slash24(i)));
}

// Not run by default (prints, asserts no time): 100k routes one at a time vs
// in one batch, with a worker on its own lcore so that each grace period is
// a real wait for it. `pipeline-tests "[.bench]"`.
TEST_CASE("Benchmark: 100k routes one at a time vs in one batch", "[.bench][routes]") {
    constexpr uint32_t kRoutes = 100000;
    Pipeline p(2, true, 1, TableSizes{1u << 18, 1u << 8, 1u << 12, 1u << 10});
    setup(p);
    const unsigned worker_lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    REQUIRE(worker_lcore < RTE_MAX_LCORE);
    running = true;
    REQUIRE(rte_eal_remote_launch(worker_entry, p.worker.get(), worker_lcore) == 0);

    auto seconds_since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    uint64_t swaps = p.tables->fib_swaps();
    auto t = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < kRoutes; ++i) REQUIRE_FALSE(p.control->route_apply("bgp", adds(i, 1)));
    const double one_by_one = seconds_since(t);
    const uint64_t swaps_one_by_one = p.tables->fib_swaps() - swaps;

    OwnedRouteChange all_out;
    for (uint32_t i = 0; i < kRoutes; ++i) all_out.remove.push_back(nth_slash24(i));
    REQUIRE_FALSE(p.control->route_apply("bgp", all_out));

    const OwnedRouteChange all_in = adds(0, kRoutes);
    swaps = p.tables->fib_swaps();
    t = std::chrono::steady_clock::now();
    REQUIRE_FALSE(p.control->route_apply("bgp", all_in));
    const double batched = seconds_since(t);
    const uint64_t swaps_batched = p.tables->fib_swaps() - swaps;

    running = false;
    rte_eal_wait_lcore(worker_lcore);
    for (uint32_t i = 0; i < kRoutes; i += 997) REQUIRE(routed(p, nth_slash24(i)));
    CHECK(swaps_one_by_one == kRoutes);
    CHECK(swaps_batched == 1);
    std::printf("FIB: %u routes one at a time in %.3f s (%.0f/s, %llu swaps), in one batch in %.3f s (%.0f/s, %llu swap)\n",
                kRoutes, one_by_one, kRoutes / one_by_one, (unsigned long long)swaps_one_by_one, batched,
                kRoutes / batched, (unsigned long long)swaps_batched);
}
