// Source address validation on the control core: keeps the rule compiler
// (sav/rules.hpp) in line with the running configuration (per-interface
// mechanism and role, local AS, allow/deny lists), the local FIB (connected
// and static routes of the default table, as the FibPublisher installed
// them), the Adj-RIBs-In loaded from MRT files and the RPKI view loaded from
// rpki-client/Routinator JSON; publishes the compiled rules to the workers
// through the SavTablePublisher (double-buffered, RCU: forwarding never stops).
//
// The SAV interface id is the ifindex. Nothing is allocated in DPDK memory
// until an interface turns SAV on: with SAV off everywhere the workers do not
// look anything up (InterfaceState::sav_mode) and no table exists.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sav/mrt.hpp"
#include "sav/rpki_json.hpp"
#include "sav/rules.hpp"
#include "sav/table.hpp"
#include "slowpath/change_set.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/fib_publisher.hpp"
#include "slowpath/publish_problem.hpp"
#include "slowpath/show.hpp"

namespace rampart {

class SavControl {
public:
    // `fib`: the installed routes, one of the compiler's inputs.
    SavControl(ForwardingTables& tables, const FibPublisher& fib, const sav::SavTableSizes& sizes);
    ~SavControl();
    SavControl(const SavControl&) = delete;
    SavControl& operator=(const SavControl&) = delete;

    // Brings the compiler and the data-plane table in line with `cfg` and
    // the installed routes. The FIB input is re-read as `change` says:
    // not at all for Routes::unchanged (SAV commands: with a full table a
    // re-read takes seconds) or for routes of other VRFs only, the listed
    // default-table prefixes for Routes::listed, all of it otherwise.
    // Returns the problem (Kind::sav: table too small, ...) if any.
    PublishProblems sync(const RunningConfig& cfg, const ChangeSet& change);

    // Replaces `ifname`'s Adj-RIB-In with the routes of an MRT file (every
    // peer in it counts as that interface's neighbour). All or nothing: a
    // malformed file (error names the file, record, offset and reason)
    // changes nothing. Returns the error, or nullopt and a summary in `info`.
    std::optional<std::string> load_mrt(const std::string& path, const std::string& ifname, const RunningConfig& cfg,
                                        const FibPublisher& fib, std::string& info);
    // Live Adj-RIB-In changes of BGP sessions (bgp/rib_feeds.hpp): the
    // interface is the session's SAV interface (an ifindex); a change without
    // a route is a withdrawal. Fed to the compiler incrementally and
    // published (when SAV is on somewhere) in one table update; kept, so that
    // an interface that joins later, or a fresh compiler, gets them too.
    struct AdjRibInChange {
        uint16_t iface = 0;
        Prefix prefix;
        std::optional<sav::Route> route;  // nullopt: withdrawn
    };
    // `publish_now` false: only fed to the compiler; the next sync() publishes
    // (Control::protocol_routes_apply: FIB and Adj-RIB-In changes, one compilation).
    PublishProblems apply_adj_rib_in(const RunningConfig& cfg, const std::vector<AdjRibInChange>& changes,
                                     bool publish_now = true);
    size_t live_routes(uint16_t iface) const {
        auto it = live_ribs_.find(iface);
        return it == live_ribs_.end() ? 0 : it->second.size();
    }

    // Replaces the RPKI view (ROAs and ASPAs). All or nothing, as load_mrt.
    std::optional<std::string> load_rpki(const std::string& path, const RunningConfig& cfg, const FibPublisher& fib,
                                         std::string& info);

    // The RPKI view from the RTR caches (rpki_protocol.cpp through Control):
    // the compiler takes the union of it and the JSON file's, recompiled
    // now when SAV is in use. Returns the problem if any.
    std::optional<PublishProblem> set_rtr_rpki(sav::RpkiSet set, const RunningConfig& cfg);
    // Told of every successful JSON load (the control core's RPKI view).
    void on_json_rpki(std::function<void(const sav::RpkiSet&)> listener) { json_listener_ = std::move(listener); }
    const sav::RpkiSet& json_rpki() const { return rpki_; }

    // nullopt: `ifname` is not an interface of the data plane.
    std::optional<std::string> show_interface(const std::string& ifname, const RunningConfig& cfg,
                                              const FibPublisher& fib, const CounterView& counters) const;
    std::string show_prefix(const Prefix& p, const RunningConfig& cfg, const FibPublisher& fib) const;

    const sav::RuleCompiler& compiler() const { return *compiler_; }
    const sav::SavTablePublisher* publisher() const { return publisher_.get(); }

private:
    struct Applied {
        sav::InterfaceConfig iface;
        friend bool operator==(const Applied&, const Applied&) = default;
    };
    bool active(const RunningConfig& cfg) const;
    void feed_everything();                     // into a fresh compiler (local AS changed)
    enum class FibInput { unchanged, listed, all };
    // `listed`: the default-table prefixes whose routes changed (FibInput::listed).
    void sync_inputs(const RunningConfig& cfg, FibInput fib_input, const std::vector<Prefix>& listed = {});
    std::optional<PublishProblem> publish();    // recompute and bring the table along
    void sync_fib_prefix(const Prefix& p);
    static std::optional<sav::InterfaceSet> fib_egress(const InstalledRoute& r);
    void feed_rib(uint16_t id, const sav::MrtDump& dump);
    void feed_rpki();  // the union of rpki_ and rtr_rpki_ into the compiler

    ForwardingTables& tables_;
    const FibPublisher& fib_input_;
    sav::SavTableSizes sizes_;
    uint32_t local_asn_ = 0;
    std::unique_ptr<sav::RuleCompiler> compiler_;
    std::unique_ptr<sav::SavTablePublisher> publisher_;
    // What the compiler holds, to diff against and to feed a fresh compiler.
    std::map<uint16_t, sav::InterfaceConfig> ifaces_;        // by ifindex
    std::map<std::string, uint16_t> ifindex_of_;             // name -> ifindex, of ifaces_
    std::map<Prefix, sav::InterfaceSet> fib_;
    bool fib_loaded_ = false;
    std::map<Prefix, sav::InterfaceSet> allow_;
    std::map<Prefix, sav::InterfaceSet> deny_;
    std::map<std::string, std::shared_ptr<const sav::MrtDump>> ribs_;  // by interface name
    std::map<std::string, std::string> rib_files_;
    std::map<uint16_t, std::map<Prefix, sav::Route>> live_ribs_;  // BGP's, by interface id
    void feed_live(uint16_t id);
    sav::RpkiSet rpki_;      // from the JSON file
    sav::RpkiSet rtr_rpki_;  // from the RTR caches
    std::string rpki_file_;
    std::function<void(const sav::RpkiSet&)> json_listener_;
};

}  // namespace rampart
