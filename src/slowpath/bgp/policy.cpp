#include "slowpath/bgp/policy.hpp"

#include <algorithm>

#include "slowpath/bgp/attr_store.hpp"

namespace rampart::bgp {

bool prefix_list_permits(const PrefixList& list, const Prefix& prefix) {
    const Prefix p = prefix.network();
    for (const auto& [seq, e] : list) {
        if (e.prefix.addr.family != p.addr.family) continue;
        if (p.len < e.prefix.len || !e.prefix.contains(p.addr)) continue;
        unsigned lo = e.prefix.len, hi = e.prefix.len;
        if (e.ge) {
            lo = *e.ge;
            hi = p.addr.bits();
        }
        if (e.le) hi = *e.le;
        if (p.len >= lo && p.len <= hi) return e.permit;
    }
    return false;
}

namespace {

bool has(const std::vector<uint32_t>& v, uint32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
bool has(const std::vector<LargeCommunity>& v, const LargeCommunity& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

// A route came "upstream" (from a customer or a lateral peer) for ASPA
// verification when we are the provider, a peer, or a route server.
bool upstream(const PolicyContext& c) {
    return !c.local_role || *c.local_role == Role::provider || *c.local_role == Role::peer ||
           *c.local_role == Role::rs;
}

}  // namespace

bool Policy::matches(const PolicyTerm& t, const Prefix& prefix, const PathAttributes& a,
                     const PolicyContext& context) const {
    if (t.prefix_list) {
        auto it = config_->prefix_lists.find(*t.prefix_list);
        if (it == config_->prefix_lists.end() || !prefix_list_permits(it->second, prefix)) return false;
    }
    for (Asn asn : t.path_contains)
        if (!path_contains(a.as_path, asn)) return false;
    if (t.origin_as && origin_as(a.as_path) != t.origin_as) return false;
    if (t.neighbor_as && neighbor_as(a.as_path) != t.neighbor_as) return false;
    if (t.path_length_ge || t.path_length_le) {
        const size_t len = decision_path_length(a.as_path);
        if (t.path_length_ge && len < *t.path_length_ge) return false;
        if (t.path_length_le && len > *t.path_length_le) return false;
    }
    for (uint32_t c : t.communities)
        if (!has(a.communities, c)) return false;
    for (const LargeCommunity& c : t.large_communities)
        if (!has(a.large_communities, c)) return false;
    if (t.rpki) {
        const rpki::OriginValidity v = validator_ ? validator_->origin_validity(prefix.network(), origin_as(a.as_path))
                                                  : rpki::OriginValidity::not_found;
        if (v != *t.rpki) return false;
    }
    if (t.aspa) {
        const rpki::AspaValidity v =
            validator_ ? validator_->aspa_validity(a.as_path, context.peer_as, upstream(context))
                       : rpki::AspaValidity::unknown;
        if (v != *t.aspa) return false;
    }
    return true;
}

void Policy::act(const PolicyTerm& t, const PolicyContext& context, PathAttributes& a) {
    if (t.set_local_pref) a.local_pref = t.set_local_pref;
    if (t.set_med) a.med = t.set_med;
    for (uint32_t c : t.remove_communities) std::erase(a.communities, c);
    for (uint32_t c : t.add_communities)
        if (!has(a.communities, c)) a.communities.push_back(c);
    for (const LargeCommunity& c : t.remove_large_communities) std::erase(a.large_communities, c);
    for (const LargeCommunity& c : t.add_large_communities)
        if (!has(a.large_communities, c)) a.large_communities.push_back(c);
    if (t.set_next_hop) a.next_hop = t.set_next_hop;
    if (t.next_hop_self) a.next_hop = context.local_address;
    if (t.prepend_as) {
        for (unsigned i = 0; i < t.prepend_count; ++i) {
            if (a.as_path.empty() || a.as_path.front().kind != AsPathSegment::Kind::sequence ||
                a.as_path.front().asns.size() >= 255)
                a.as_path.insert(a.as_path.begin(), AsPathSegment{AsPathSegment::Kind::sequence, {}});
            a.as_path.front().asns.insert(a.as_path.front().asns.begin(), *t.prepend_as);
        }
    }
}

namespace {
bool changes_something(const PolicyTerm& t) {
    return t.set_local_pref || t.set_med || !t.add_communities.empty() || !t.remove_communities.empty() ||
           !t.add_large_communities.empty() || !t.remove_large_communities.empty() || t.set_next_hop ||
           t.next_hop_self || t.prepend_as;
}
}  // namespace

Policy::Result Policy::run(const Prefix& prefix, const PathAttributes& in, const PolicyContext& context,
                           PathAttributes& out) const {
    bool modified = false;  // `out` holds the working copy once a term changed something
    for (const auto& [number, term] : definition_->terms) {
        if (!matches(term, prefix, modified ? out : in, context)) continue;
        if (term.disposition == PolicyTerm::Disposition::reject) return Result::reject;
        if (changes_something(term)) {
            if (!modified) out = in;
            modified = true;
            act(term, context, out);
        }
        if (term.disposition == PolicyTerm::Disposition::accept)
            return modified && !(out == in) ? Result::accept_modified : Result::accept;
    }
    return Result::reject;  // no term accepted it
}

Policies::Policies(BgpPolicyConfig config, const rpki::Validator* validator)
    : config_(std::move(config)), validator_(validator) {
    for (const auto& [name, def] : config_.policies) {
        Policy& p = compiled_[name];
        p.definition_ = &def;
        p.config_ = &config_;
        p.validator_ = validator_;
        for (const auto& [n, t] : def.terms)
            if (t.rpki || t.aspa) p.uses_rpki_ = true;
    }
}

const Policy* Policies::find(const std::string& name) const {
    auto it = compiled_.find(name);
    return it == compiled_.end() ? nullptr : &it->second;
}

}  // namespace rampart::bgp
