// The control core's IPsec API: how a keying protocol (IKEv2) installs,
// replaces and removes SAs and SPD entries without touching the
// configuration. What a protocol installs is validated as strictly as a
// config line, applied all-or-nothing per change (a Child SA's two SAs and
// its policies appear together), owned by that protocol (only it may replace
// or remove them), shown by `show ipsec` with its owner, and never written to
// the running configuration. The fast path does not tell them apart.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "slowpath/config_model.hpp"

namespace rampart {

// One transaction. A protect entry without an outbound SA is a trap: its
// traffic is discarded and raises acquires (RFC 4301 §5.1) until an SA is
// negotiated and the entry replaced. Removals apply first, then additions; an addition under a
// name or (vrf, seq) the same owner already holds replaces it (a rekey keeps
// the entry and points it at the new SA).
struct IpsecChange {
    struct Policy {
        std::string vrf;  // "" = default table
        uint32_t seq = 0;
        IpsecPolicyConfig entry;
    };
    std::vector<std::pair<std::string, IpsecSaConfig>> add_sas;
    std::vector<std::string> remove_sas;
    std::vector<Policy> add_policies;
    std::vector<std::pair<std::string, uint32_t>> remove_policies;  // (vrf, seq)
};

// What the protocols hold, beside the configuration.
struct IpsecInstalled {
    IpsecConfig entries;
    std::map<std::string, std::string> sa_owner;                             // SA name -> owner
    std::map<std::pair<std::string, uint32_t>, std::string> policy_owner;  // (vrf, seq) -> owner
    // Indexes kept by apply_ipsec_change, so that a change is checked where
    // it touches (thousands of tunnels: no pass over everything per change).
    std::multimap<uint32_t, std::string> names_by_spi;
    std::multimap<std::string, std::pair<std::string, uint32_t>> policies_by_sa;  // SA name -> entries naming it
    friend bool operator==(const IpsecInstalled& a, const IpsecInstalled& b) {
        return a.entries == b.entries && a.sa_owner == b.sa_owner && a.policy_owner == b.policy_owner;
    }

    const std::string* owner_of_sa(const std::string& name) const;
    const std::string* owner_of_policy(const std::string& vrf, uint32_t seq) const;
};

// Validates `change` by `owner` against the configuration (its SAs, policies
// and VRFs) and what is installed; on success applies it to `installed` and
// returns nothing, else the first problem (key bytes never appear in it) and
// `installed` is unchanged.
std::optional<std::string> apply_ipsec_change(const RunningConfig& config, IpsecInstalled& installed,
                                              const std::string& owner, const IpsecChange& change);

// Rebuilds `installed`'s indexes from its entries (after restoring entries directly).
void reindex_ipsec_installed(IpsecInstalled& installed);

// The configuration's SAs and policies with the installed ones: what the
// publisher brings the fast path in line with.
IpsecConfig effective_ipsec(const IpsecConfig& configured, const IpsecInstalled& installed);

// Fast-path events for the protocol that answers them.
struct IpsecAcquire {  // a PROTECT entry matched traffic and has no SA (RFC 4301 §5.1: start negotiating)
    std::string vrf;
    uint32_t seq = 0;
    IpAddr src, dst;
    uint8_t protocol = 0;
};
struct IpsecLifetimeEvent {  // an SA reached a lifetime (RFC 4301 §4.4.2.1): soft = rekey now, hard = it ended
    std::string sa;
    bool hard = false;
    bool volume = false;  // packets/bytes (else time)
};

}  // namespace rampart
