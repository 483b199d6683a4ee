// The control core's command executor and housekeeping: applies commands
// (startup config and CLI alike) all-or-nothing to the running configuration,
// publishes the result through the FibPublisher and the KernelMirror, answers
// `show`, and turns the workers' resolution requests and the kernel's
// neighbour events into adjacencies.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/command.hpp"
#include "slowpath/change_set.hpp"
#include "slowpath/command_result.hpp"
#include "fastpath/worker.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/fib_publisher.hpp"
#include "slowpath/ipsec_api.hpp"
#include "slowpath/ipsec_publisher.hpp"
#include "slowpath/kernel_mirror.hpp"
#include "slowpath/netlink.hpp"
#include "slowpath/publish_problem.hpp"
#include "slowpath/rpki/table.hpp"
#include "slowpath/sav_control.hpp"
#include "slowpath/show.hpp"

namespace rampart {


class Control {
public:
    struct WorkerSlot {
        const Worker* worker;
        unsigned lcore;
    };

    // `mirror` and `nl` may be null (tests without a kernel side).
    Control(ForwardingTables& tables, FibPublisher& fib, KernelMirror* mirror, netlink::Socket* nl,
            std::vector<WorkerSlot> workers);
    ~Control();

    // Installs a validated startup configuration (see load_config_text). Returns warnings.
    std::string install(const RunningConfig& config);

    // One CLI line (already parsed or not): config or show. The line's config
    // section (slowpath/config/) applies it or answers it.
    CommandResult execute(std::string_view line);
    CommandResult execute(const cmd::Parsed& command);

    // Drains the workers' neighbour resolution requests into kernel probes.
    void drain_resolve_requests(const std::vector<rte_ring*>& rings);
    // The workers' IPsec acquires (protect entries without an SA): counted per
    // SPD entry and logged; the IKEv2 daemon will take them from here.
    void drain_acquires();
    // IPsec lifetimes: the workers' volume events, and time lifetimes ending
    // SAs (call about once a second).
    void ipsec_housekeeping();
    uint64_t acquires(const std::string& vrf, uint32_t seq) const;

    // The IPsec API (ipsec_api.hpp) for keying protocols: applies `change` on
    // behalf of `owner` all-or-nothing, through to the fast path. Returns the
    // problem when refused or when the fast path could not take it (then
    // nothing of it stays).
    std::optional<std::string> ipsec_apply(const std::string& owner, const IpsecChange& change);
    // Batches (an IKE daemon answering a burst of negotiations): between
    // ipsec_batch_begin() and ipsec_batch_commit(), ipsec_apply validates and
    // records each change all-or-nothing as always, but the fast path is
    // brought in line once, at the commit (one SPD compilation per changed VRF
    // instead of one per change). Whatever depends on a change having landed
    // (the IKE response that tells the peer) waits for the commit. A batch
    // that does not land as a whole is rolled back and its changes applied
    // one at a time; the commit returns those that failed (nothing of them
    // stays), so only the bad one fails.
    struct FailedIpsecChange {
        std::string owner;
        std::vector<std::string> sas;  // the SAs it would have added
        std::string problem;
    };
    void ipsec_batch_begin();
    bool ipsec_batch_pending() const { return ipsec_batch_ && !ipsec_batch_->changes.empty(); }
    std::vector<FailedIpsecChange> ipsec_batch_commit();
    const IpsecInstalled& ipsec_installed() const { return ipsec_installed_; }
    // Routes for protocols (IKE reverse routes, BGP): apply_owned_route_change
    // on the default table, all or nothing, then through to the fast path and
    // the kernel like static routes; shown by `show route` with the owner,
    // never part of the running configuration. All routes of one change are
    // published together: one FIB swap (one grace period) per table, not per
    // route. Returns the problem.
    std::optional<std::string> route_apply(const std::string& owner, const OwnedRouteChange& change);
    // Routes of BGP (a full table): kept in a table of their own that the
    // FibPublisher reads (protocol_routes.hpp), not in the running
    // configuration, not mirrored into the kernel. One call is one batch:
    // one FIB swap per table however many routes it carries, and SAV's FIB
    // input re-read for those prefixes only. A change with no gateways
    // withdraws the prefix. Returns the problems as a short summary (a full
    // table of unreachable next hops is one line, not a million), also logged.
    // `adj_rib_in`: BGP's Adj-RIB-In changes of the same batch for SAV
    // (SavControl::apply_adj_rib_in), compiled with the FIB's in one pass.
    std::string protocol_routes_apply(const std::vector<ProtocolRouteChange>& changes,
                                      const std::vector<SavControl::AdjRibInChange>& adj_rib_in = {});
    const ProtocolRouteTable& protocol_routes() const { return protocol_routes_; }
    // Who answers acquires and lifetime events (one handler each; empty: only counted and logged).
    void on_ipsec_acquire(std::function<void(const IpsecAcquire&)> handler) { acquire_handler_ = std::move(handler); }
    void on_ipsec_lifetime(std::function<void(const IpsecLifetimeEvent&)> handler) {
        lifetime_handler_ = std::move(handler);
    }
    // Asks the kernel again for every next hop still unresolved (call every second):
    // gateways get resolved before traffic needs them, and a lost probe is retried.
    void probe_unresolved_next_hops();
    void on_neighbor(const netlink::NeighborEvent& ev);
    void resync_neighbors();
    // Samples the workers' counters for rates; call about once a second.
    void sample_rates(uint64_t tsc, uint64_t tsc_hz);
    uint64_t total_rx_packets() const;
    // A port's link changed (the data plane already switched to fast-reroute
    // backups when it went down): recompute routes and labels around it.
    void on_link_change(const std::string& port, bool up);

    const RunningConfig& config() const { return config_; }
    std::vector<std::string> interface_names() const { return fib_.interface_names(); }
    std::string version_text() const;
    // SAV table sizes (before the first interface turns SAV on; rampartd options).
    void set_sav_sizes(const sav::SavTableSizes& sizes);
    const SavControl& sav() const { return *sav_; }
    SavControl& sav_control() { return *sav_; }

    // The RPKI view (rpki::Validator): what the RTR caches send and what
    // `sav load rpki` loaded, united. BGP policy reads it; the SAV compiler
    // follows it (the union, recompiled when either part changes).
    const rpki::RpkiTable& rpki() const { return rpki_; }
    // The RPKI protocol's RTR data changed (the preferred cache's, or none).
    // Returns the warnings of the SAV publication ("" if none).
    std::string rpki_rtr_update(std::vector<rpki::Vrp> vrps, rpki::AspaMap aspas);

    // What the config sections' exec commands read (slowpath/config/*.cpp).
    const FibPublisher& fib() const { return fib_; }
    CounterView counters() const;             // interface counters since `clear counters`
    LabelCounterView label_counters() const;  // label counters since `clear counters`
    void clear_counters();
    std::vector<WorkerRate> worker_rates() const;
    IpsecConfig effective_ipsec() const { return rampart::effective_ipsec(config_.ipsec, ipsec_installed_); }
    const IpsecPublisher& ipsec_publisher() const { return *ipsec_; }

    // Brings the data plane and the kernel in line with config() after
    // `change`, waking the publishers in dependency order: SAV rules (when
    // `change.sav`) before the interfaces that use them, the FIB, SAV's FIB
    // input, the kernel mirror (default table), new label counters, IPsec
    // (when its configuration, the installed set or the VRFs changed).
    // Returns the problems as CLI warnings ("% warning: ...\n" lines), also logged.
    std::string publish(const ChangeSet& change);

private:

    ForwardingTables& tables_;
    FibPublisher& fib_;
    KernelMirror* mirror_;
    netlink::Socket* nl_;
    std::vector<WorkerSlot> workers_;
    RunningConfig config_;
    ProtocolRouteTable protocol_routes_;  // BGP's; read by fib_
    std::vector<InterfaceCounters> baseline_ = std::vector<InterfaceCounters>(kMaxInterfaces);
    std::vector<LabelCounter> label_baseline_ = std::vector<LabelCounter>(kMaxIlmEntries);
    std::unique_ptr<IpsecPublisher> ipsec_;
    std::unique_ptr<SavControl> sav_;
    rpki::RpkiTable rpki_;
    void make_sav(const sav::SavTableSizes& sizes);
    std::map<std::pair<uint16_t, uint32_t>, uint64_t> acquires_;  // (vrf id, entry seq) -> count
    IpsecInstalled ipsec_installed_;                  // what the API's owners installed
    uint64_t ipsec_installed_generation_ = 0;         // counts changes of ipsec_installed_ (no copy to compare)
    std::optional<IpsecConfig> ipsec_applied_;        // what ipsec_ last synced (configured part), and with which VRFs
    uint64_t ipsec_installed_applied_ = 0;            // ... and which generation of ipsec_installed_
    struct IpsecBatch {
        // To roll back to where the batch began: what its changes replaced
        // or removed (none: it was not there), oldest first. No copy of
        // everything per batch: a batch per IKE burst and per 20 ms tick.
        std::vector<std::pair<std::string, std::optional<std::pair<IpsecSaConfig, std::string>>>> sas_before;
        std::vector<std::pair<std::pair<std::string, uint32_t>, std::optional<std::pair<IpsecPolicyConfig, std::string>>>>
            policies_before;
        std::vector<std::pair<std::string, IpsecChange>> changes;  // by owner, in order (keys wiped at the commit)
    };
    std::optional<IpsecBatch> ipsec_batch_;
    // After a sync: the first reason the fast path does not hold all of `change`, if any.
    std::optional<std::string> ipsec_not_landed(const IpsecChange& change, const PublishProblems& problems) const;
    std::function<void(const IpsecAcquire&)> acquire_handler_;
    std::function<void(const IpsecLifetimeEvent&)> lifetime_handler_;
    PublishProblems sync_ipsec(const ChangeSet& change = {});
    std::map<std::string, VrfConfig> vrfs_applied_;
    SaCounters sa_counters_now(uint32_t slot) const;
    struct Sample {
        uint64_t tsc = 0, packets = 0, busy = 0;
    };
    std::vector<Sample> last_, prev_;
    uint64_t probes_sent_ = 0;
    void probe(uint16_t ifindex, const IpAddr& ip);
};

}  // namespace rampart
