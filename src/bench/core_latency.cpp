#include "bench/core_latency.hpp"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_pause.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

namespace rampart::bench {

namespace {

constexpr unsigned kBatches = 9;
constexpr unsigned kRoundsPerBatch = 20000;

struct alignas(64) Ball {
    // Odd: the main lcore served, waiting for the return; even: returned.
    std::atomic<uint32_t> hits{0};
};

int return_serves(void* arg) {
    auto* ball = static_cast<Ball*>(arg);
    for (uint32_t i = 0; i < kBatches * kRoundsPerBatch; ++i) {
        while (ball->hits.load(std::memory_order_acquire) != 2 * i + 1) rte_pause();
        ball->hits.store(2 * i + 2, std::memory_order_release);
    }
    return 0;
}

}  // namespace

double core_round_trip_ns(unsigned other_lcore) {
    Ball ball;
    if (rte_eal_remote_launch(return_serves, &ball, other_lcore) != 0) return 0;
    std::array<uint64_t, kBatches> cycles{};
    uint32_t served = 0;
    for (unsigned b = 0; b < kBatches; ++b) {
        const uint64_t start = rte_rdtsc();
        for (unsigned i = 0; i < kRoundsPerBatch; ++i, ++served) {
            ball.hits.store(2 * served + 1, std::memory_order_release);
            while (ball.hits.load(std::memory_order_acquire) != 2 * served + 2) rte_pause();
        }
        cycles[b] = rte_rdtsc() - start;
    }
    rte_eal_wait_lcore(other_lcore);
    // The median batch: robust to a batch that another process interrupted.
    std::nth_element(cycles.begin(), cycles.begin() + kBatches / 2, cycles.end());
    return double(cycles[kBatches / 2]) * 1e9 / double(rte_get_tsc_hz()) / kRoundsPerBatch;
}

}  // namespace rampart::bench
