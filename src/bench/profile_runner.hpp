// Runs one profile: builds the router, checks the profile's frames are really
// forwarded, then lets the real Worker::run() loop forward on the worker lcore
// while the main lcore keeps its rx ring full (or, with the inline generator,
// the worker lcore refills its own ring between poll_once() calls), and reads
// the worker's own counters (packets, TSC busy cycles) before and after the
// measured window.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rte_mempool.h>

#include "bench/bench_router.hpp"
#include "bench/profiles.hpp"
#include "bench/traffic.hpp"

namespace rampart::bench {

// Where the frames come from.
enum class GeneratorPlacement {
    // The main lcore refills the rx ring while the worker lcore runs
    // Worker::run(): frames arrive from another core, as from a NIC's DMA,
    // and the result depends on the core-to-core latency.
    main_lcore,
    // The worker lcore refills its own rx ring between poll_once() calls and
    // only the poll_once() cycles count: frames arrive hot in the worker's
    // cache. Steady on machines whose vCPUs wander (the best case of the
    // worker's own cost); Mpps is then TSC Hz / cycles per packet.
    inline_with_worker,
};

struct RunSettings {
    double duration_s = 5;
    double warmup_s = 0.5;
    unsigned frames_in_flight = 2048;  // like a 2K-descriptor NIC rx ring
    unsigned worker_lcore = 1;
    uint64_t seed = 1;
    GeneratorPlacement generator = GeneratorPlacement::main_lcore;
    bool realtime = false;             // SCHED_FIFO for the generator and worker during the window
    double rt_throttle_share = 0;      // with realtime: share of each period the kernel keeps for others
};

struct WorkerMeasurement {
    double seconds = 0;
    uint64_t tsc_hz = 0;
    uint64_t elapsed_cycles = 0;
    uint64_t busy_cycles = 0;  // Worker::run(): cycles of loops that received packets
    uint64_t loops = 0;
    uint64_t received = 0;
    uint64_t forwarded = 0;    // transmitted on wire interfaces
    uint64_t dropped = 0;
    std::vector<std::pair<std::string_view, uint64_t>> drops_by_reason;  // non-zero only

    double wall_mpps() const { return seconds > 0 ? double(forwarded) / seconds / 1e6 : 0; }
    double cycles_per_packet() const { return received ? double(busy_cycles) / double(received) : 0; }
    // Share of the window the worker polled and found its rx ring empty.
    double idle_fraction() const { return elapsed_cycles ? 1.0 - double(busy_cycles) / double(elapsed_cycles) : 0; }
    double packets_per_loop() const { return loops ? double(received) / double(loops) : 0; }
    // What the worker could forward if it never waited for the generator.
    double worker_bound_mpps() const {
        double c = cycles_per_packet();
        return c > 0 ? double(tsc_hz) / c / 1e6 : 0;
    }
};

struct ProfileResult {
    const Profile* profile = nullptr;
    bool ok = false;
    std::string error;          // set when !ok
    ProfileSetup setup;
    size_t flows = 0;
    unsigned frames_in_flight = 0;
    GeneratorPlacement generator_placement = GeneratorPlacement::main_lcore;
    WorkerMeasurement worker;
    GeneratorCounters generator;  // over the measured window
    bool generator_bound = false;
    // Involuntary context switches of this process during the window: other
    // processes took our cores, and the numbers are not the worker's alone.
    uint64_t preemptions = 0;
    // Generator <-> worker lcore cache-line round trip, measured just before and just after the window.
    double round_trip_ns_before = 0, round_trip_ns_after = 0;
    std::vector<std::string> warnings;

    // The headline rate: frames forwarded per wall-clock second with the
    // generator on the main lcore; with the inline generator, whose cycles
    // share the core, what the worker's own cycles per packet allow.
    double mpps() const {
        return generator_placement == GeneratorPlacement::main_lcore ? worker.wall_mpps() : worker.worker_bound_mpps();
    }
};

// Never throws: a failing profile comes back with ok == false and the reason.
ProfileResult run_profile(const Profile& profile, RingTopology& topology, rte_mempool* pool,
                          const RunSettings& settings);

}  // namespace rampart::bench
