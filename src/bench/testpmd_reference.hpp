// The yardstick: dpdk-testpmd in io forwarding mode on a pair of virtual
// devices, run as a child process with its own EAL (its own --file-prefix),
// never at the same time as our worker: there are only two cores.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rampart::bench {

struct ReferenceKind {
    std::string_view name;         // "null", "ring"
    std::string_view driver;       // vdev driver: net_null, net_ring
    bool tx_first;                 // ring ports start empty: send a first burst to ping-pong
    std::string_view what;         // what the number stands for
};

struct ReferenceResult {
    std::string name;
    std::string what;
    bool ok = false;
    double mpps = 0;               // packets forwarded per second over all streams
    double cycles_per_packet = 0;  // testpmd --record-core-cycles, forwarding lcore
    unsigned samples = 0;          // testpmd statistics prints averaged (one every 1-2 s)
    std::string command;
    std::string error;
};

struct TestpmdSettings {
    std::string path = "/usr/bin/dpdk-testpmd";
    std::string lcores;            // EAL -l list, main lcore first
    std::string main_lcore;
    double seconds = 5;            // measured, after a first statistics print that is discarded
    unsigned memory_mb = 1024;
    bool realtime = false;         // run testpmd under SCHED_FIFO, as our own measurement ran
};

std::vector<ReferenceKind> reference_kinds();

// Runs testpmd, averages its per-second Rx-pps, stops it with SIGINT and
// reads the cycles/packet it prints on exit. Bounded in time: a testpmd that
// does not start or stop is killed. Never throws; failures come back in `error`.
ReferenceResult run_testpmd_reference(const ReferenceKind& kind, const TestpmdSettings& settings);

// Where an EAL with this --file-prefix keeps its runtime files (mirrors eal_create_runtime_dir()).
std::string eal_runtime_dir(const std::string& file_prefix);

}  // namespace rampart::bench
