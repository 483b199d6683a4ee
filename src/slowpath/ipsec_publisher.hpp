// The single writer of IPsec state: turns the configured SAs and SPD entries
// into IpsecSa objects (keys expanded once, on the control core), the SAD
// (inbound SPIs) and one compiled SPD per VRF, and publishes them so that a
// worker always sees a complete, consistent set. An SA that did not change is
// kept as it is (its sequence counter and replay window go on); a changed one
// is rebuilt (a new SA for the peer: rekey).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crypto/ipsec_sa.hpp"
#include "fastpath/tables.hpp"
#include "slowpath/change_set.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/fib_publisher.hpp"
#include "slowpath/ipsec_api.hpp"
#include "slowpath/publish_problem.hpp"

namespace rampart {

struct IpsecSaState {
    std::string name;
    const IpsecSaConfig* config = nullptr;
    bool installed = false;
    std::string reason;        // why not installed
    uint16_t owner = 0;
    uint32_t counter = 0;
    uint64_t sequence_used = 0;  // outbound: sequence numbers used so far
    std::string lifetime;        // "" or what a soft/hard lifetime did
};

class IpsecPublisher {
public:
    // `fib`: VRF ids; `installed`: what keying protocols installed through
    // the IPsec API (ipsec_api.hpp), published with the configured SAs and
    // policies. `current(slot)`: the workers' counters of a slot now (a
    // reassigned slot starts from them).
    IpsecPublisher(ForwardingTables& tables, const FibPublisher& fib, const IpsecInstalled& installed, unsigned workers,
                   std::function<SaCounters(uint32_t)> current);
    ~IpsecPublisher();  // workers must be stopped
    IpsecPublisher(const IpsecPublisher&) = delete;
    IpsecPublisher& operator=(const IpsecPublisher&) = delete;

    // Brings the tables in line with the configuration's SAs and policies and
    // the API's. Returns one problem per SA (Kind::ipsec_sa) or SPD
    // (Kind::ipsec_spd) that could not be installed. An SA or SPD that did not
    // change is left as it is, so a sync without changes costs comparisons only.
    PublishProblems sync(const RunningConfig& config, const ChangeSet& change);

    std::vector<IpsecSaState> sa_states(const IpsecConfig& ipsec) const;
    bool installed(const std::string& name) const { return live_.count(name) != 0; }
    std::string not_installed_reason(const std::string& name) const {
        auto it = not_installed_.find(name);
        return it == not_installed_.end() ? "not installed" : it->second;
    }

    // Lifetimes. A worker saw a volume limit (`spi`, direction): returns the
    // SAs it concerns. Time limits are checked by tick() (call about once a
    // second), which returns the SAs that reached one (hard: sync() must run
    // again). An ended SA stays out until its configuration changes (a rekey).
    struct LifetimeReached {
        std::string name;
        bool hard;
    };
    std::vector<std::string> volume_event(uint32_t spi, bool inbound, bool hard);
    std::vector<LifetimeReached> tick(std::chrono::steady_clock::time_point now);
    SaCounters counters(uint32_t slot) const;  // since the slot was assigned

private:
    struct Live {
        IpsecSaConfig cfg;
        uint16_t vrf = 0;
        IpsecSa* sa = nullptr;
        std::chrono::steady_clock::time_point installed;
        bool soft_reached = false;
    };
    PublishProblems sync_entries(const IpsecConfig& ipsec);
    IpsecSa* build(const std::string& name, const IpsecSaConfig& cfg, uint16_t vrf, std::string& error);
    void retire(Live& live);

    ForwardingTables& tables_;
    const FibPublisher& fib_;
    const IpsecInstalled& installed_;
    unsigned workers_;
    std::function<SaCounters(uint32_t)> current_;
    std::map<std::string, Live> live_;
    std::map<std::string, std::string> not_installed_;
    std::map<std::string, IpsecSaConfig> ended_;       // hard lifetime reached, with the configuration it had
    std::map<std::string, std::string> lifetime_note_;
    std::vector<uint16_t> spd_vrfs_;  // VRFs with a published SPD
    struct PublishedSpd {
        uint16_t vrf = 0;
        std::map<uint32_t, IpsecPolicyConfig> entries;  // what it was compiled from
    };
    std::map<std::string, PublishedSpd> published_spd_;  // by VRF name
    uint64_t spd_generation_ = 0;
    std::vector<uint32_t> free_counters_;
    uint32_t next_counter_ = 0;
    std::vector<SaCounters> baseline_ = std::vector<SaCounters>(kMaxSas);
};

}  // namespace rampart
