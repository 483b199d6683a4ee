// Text for the `show` commands. Pure formatting over the control core's view
// of the tables and the workers' counters; never prints key material.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fastpath/worker.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/fib_publisher.hpp"

namespace rampart {

// Per-interface counters summed over workers, minus the `clear counters` baseline.
struct CounterView {
    std::vector<const Worker*> workers;
    const std::vector<InterfaceCounters>* baseline = nullptr;  // by ifindex, may be null
    InterfaceCounters sum(uint16_t ifindex) const;
};

struct WorkerRate {
    unsigned worker_id;
    unsigned lcore;
    uint64_t packets;
    double pps;
    double cycles_per_packet;
    double busy_percent;
};

std::string show_interfaces(const RunningConfig& cfg, const FibPublisher& fib, const CounterView& counters,
                            const std::optional<std::string>& only);
std::string show_route(const FibPublisher& fib, std::optional<Family> family, const std::optional<Prefix>& prefix);
std::string show_neighbors(const FibPublisher& fib);
std::string show_workers(const std::vector<WorkerRate>& rates);

}  // namespace rampart
