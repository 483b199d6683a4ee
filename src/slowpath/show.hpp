// Text for the `show` commands. Pure formatting over the control core's view
// of the tables and the workers' counters; never prints key material.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "slowpath/command_result.hpp"
#include "fastpath/worker.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/fib_publisher.hpp"
#include "slowpath/ipsec_api.hpp"
#include "slowpath/ipsec_publisher.hpp"

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

// These four answer an unknown name with ok = false and a "% ..." line.
CommandResult show_interfaces(const RunningConfig& cfg, const FibPublisher& fib, const CounterView& counters,
                              const std::optional<std::string>& only);
// Per-label counters summed over workers, minus the baseline taken when the
// counter slot was assigned (or at `clear counters`).
struct LabelCounterView {
    std::vector<const Worker*> workers;
    const std::vector<LabelCounter>* baseline = nullptr;  // by counter slot
    LabelCounter sum(uint32_t slot) const;
};

// `owners`: static routes a protocol installed (Control::route_apply), shown
// with its name.
std::string show_route(const FibPublisher& fib, std::optional<Family> family, const std::optional<Prefix>& prefix,
                       uint16_t vrf = 0, const std::map<Prefix, std::string>& owners = {});
std::string show_mpls_ilm(const FibPublisher& fib, const LabelCounterView& counters);
CommandResult show_mpls_label(const FibPublisher& fib, const LabelCounterView& counters, uint32_t label);
std::string show_mpls_ftn(const RunningConfig& cfg, const FibPublisher& fib);
std::string show_segment_routing(const RunningConfig& cfg, const FibPublisher& fib);
CommandResult show_vrf(const RunningConfig& cfg, const FibPublisher& fib, const std::optional<std::string>& only);
// Never prints key material.
// `all`: configured and API-installed (`installed` names the latter's owners).
CommandResult show_ipsec_sa(const IpsecConfig& all, const IpsecInstalled& installed, const IpsecPublisher& ipsec,
                            const std::optional<std::string>& only);
std::string show_ipsec_spd(const IpsecConfig& all, const IpsecInstalled& installed, const std::optional<std::string>& vrf,
                           const std::function<uint64_t(const std::string& vrf, uint32_t seq)>& acquires);
std::string show_neighbors(const FibPublisher& fib);
std::string show_workers(const std::vector<WorkerRate>& rates);

}  // namespace rampart
