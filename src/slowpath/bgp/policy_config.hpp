// BGP routing policy as configured (`bgp prefix-list ...`, `bgp policy ...`,
// config/bgp_policy.cpp): plain data, a member of RunningConfig. Policies
// (policy.hpp) compiles it for the RIB; neighbours name policies for import
// and export (config/bgp.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "slowpath/bgp/message.hpp"
#include "slowpath/rpki/validator.hpp"

namespace rampart::bgp {

// `bgp prefix-list NAME seq N permit|deny PREFIX [ge N] [le N]`: a prefix
// matches an entry when it lies within PREFIX and its length is within
// [ge, le] (neither given: exactly PREFIX's length; only ge: ge up to the
// family's maximum; only le: PREFIX's length up to le). The first entry by
// sequence number that matches decides; no match denies.
struct PrefixListEntry {
    bool permit = true;
    Prefix prefix;  // network form
    std::optional<uint8_t> ge, le;
    friend bool operator==(const PrefixListEntry&, const PrefixListEntry&) = default;
};
using PrefixList = std::map<uint32_t, PrefixListEntry>;  // by sequence number

// One term of a policy: every configured match must hold; then the actions
// apply and the disposition says whether the route is accepted, refused or
// handed to the next term (with the changes made so far). A route no term
// accepts is refused.
struct PolicyTerm {
    // ---- matches ----
    std::optional<std::string> prefix_list;     // the list permits the prefix
    std::vector<Asn> path_contains;             // the AS path contains each of these
    std::optional<Asn> origin_as;               // the path's origin AS
    std::optional<Asn> neighbor_as;             // the path's first AS
    std::optional<uint32_t> path_length_ge, path_length_le;  // RFC 4271 §9.1.2.2 length
    std::vector<uint32_t> communities;          // each present (RFC 1997)
    std::vector<LargeCommunity> large_communities;  // each present (RFC 8092)
    std::optional<rpki::OriginValidity> rpki;   // RFC 6811 state of the route
    std::optional<rpki::AspaValidity> aspa;     // ASPA path verification state
    // ---- actions ----
    std::optional<uint32_t> set_local_pref;
    std::optional<uint32_t> set_med;
    std::vector<uint32_t> add_communities, remove_communities;
    std::vector<LargeCommunity> add_large_communities, remove_large_communities;
    std::optional<IpAddr> set_next_hop;
    bool next_hop_self = false;                 // our address on the session
    std::optional<Asn> prepend_as;              // AS-path prepend, `prepend_count` times
    uint8_t prepend_count = 1;
    enum class Disposition : uint8_t { next, accept, reject };
    Disposition disposition = Disposition::next;
    friend bool operator==(const PolicyTerm&, const PolicyTerm&) = default;
};

struct PolicyDefinition {
    std::map<uint32_t, PolicyTerm> terms;  // by term number, evaluated in order
    friend bool operator==(const PolicyDefinition&, const PolicyDefinition&) = default;
};

struct BgpPolicyConfig {
    std::map<std::string, PrefixList> prefix_lists;
    std::map<std::string, PolicyDefinition> policies;
    friend bool operator==(const BgpPolicyConfig&, const BgpPolicyConfig&) = default;
};

}  // namespace rampart::bgp
