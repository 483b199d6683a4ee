// BGP import and export policies, compiled from BgpPolicyConfig
// (policy_config.hpp): the RIB runs a peer's import policy over each route
// of its Adj-RIB-In and its export policy over each route it would send.
//
// RFC 8212 is the RIB's part: an eBGP session without a policy imports and
// exports nothing; an iBGP session without one takes everything. A policy
// name that is not configured refuses every route (fail closed).
//
// RPKI origin validity (RFC 6811) and ASPA verification come from a
// rpki::Validator; without one every route is not_found / unknown.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "slowpath/bgp/message.hpp"
#include "slowpath/bgp/policy_config.hpp"
#include "slowpath/rpki/validator.hpp"

namespace rampart::bgp {

// What a policy may look at besides the route itself.
struct PolicyContext {
    Asn peer_as = 0;
    Asn local_as = 0;
    std::optional<Role> local_role;  // RFC 9234 role we play toward the peer
    IpAddr local_address;            // ours on the session (next-hop self)
    bool import = true;              // import (received from the peer) or export (sent to it)
};

// Whether `prefix` is permitted by `list` (see PrefixListEntry).
bool prefix_list_permits(const PrefixList& list, const Prefix& prefix);

class Policy {
public:
    enum class Result : uint8_t { reject, accept, accept_modified };
    // Runs the terms over `prefix` with attributes `in`. On accept_modified
    // `out` holds the changed attributes; on accept the route is `in` as is.
    Result run(const Prefix& prefix, const PathAttributes& in, const PolicyContext& context,
               PathAttributes& out) const;
    bool uses_rpki() const { return uses_rpki_; }

private:
    friend class Policies;
    bool matches(const PolicyTerm& term, const Prefix& prefix, const PathAttributes& a,
                 const PolicyContext& context) const;
    static void act(const PolicyTerm& term, const PolicyContext& context, PathAttributes& a);
    const PolicyDefinition* definition_ = nullptr;
    const BgpPolicyConfig* config_ = nullptr;
    const rpki::Validator* validator_ = nullptr;
    bool uses_rpki_ = false;
};

class Policies {
public:
    explicit Policies(BgpPolicyConfig config, const rpki::Validator* validator = nullptr);
    Policies(const Policies&) = delete;
    Policies& operator=(const Policies&) = delete;
    // nullptr when no policy has that name.
    const Policy* find(const std::string& name) const;
    const BgpPolicyConfig& config() const { return config_; }
    const rpki::Validator* validator() const { return validator_; }

private:
    BgpPolicyConfig config_;
    const rpki::Validator* validator_;
    std::map<std::string, Policy> compiled_;
};

}  // namespace rampart::bgp
