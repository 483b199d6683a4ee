// Routes a protocol computes in bulk (BGP's Loc-RIB: up to a full table),
// kept outside the running configuration: the FibPublisher reads them from
// here directly. Owned routes in RunningConfig (apply_owned_route_change,
// IKE's few reverse routes) cost a configuration entry, a kernel route and a
// SAV re-read each, and every later CLI change walks them; a million BGP
// routes must cost none of that. Configured routes win over these (a static
// route is the operator's word), and the kernel does not mirror them (it
// only originates control traffic, which connected and static routes carry).
#pragma once

#include <cstring>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"

namespace rampart {

struct PrefixHash {
    size_t operator()(const Prefix& p) const {
        uint64_t w[2];
        std::memcpy(w, p.addr.bytes.data(), 16);
        uint64_t h = w[0] * 0x9e3779b97f4a7c15ull ^ (w[1] + 0x632be59bd9b4e019ull + (uint64_t(p.len) << 40));
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ull;
        return size_t(h ^ (h >> 32));
    }
};

// One change of a protocol route: the gateways (ECMP) of a network prefix;
// none: the route is withdrawn.
struct ProtocolRouteChange {
    Prefix prefix;
    std::vector<IpAddr> gateways;
};

class ProtocolRouteTable {
public:
    void apply(const ProtocolRouteChange& change) {
        if (change.gateways.empty()) routes_.erase(change.prefix);
        else routes_[change.prefix] = change.gateways;
    }
    const std::vector<IpAddr>* find(const Prefix& prefix) const {
        auto it = routes_.find(prefix);
        return it == routes_.end() ? nullptr : &it->second;
    }
    size_t size() const { return routes_.size(); }
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& [p, gws] : routes_) f(p, gws);
    }

private:
    std::unordered_map<Prefix, std::vector<IpAddr>, PrefixHash> routes_;
};

}  // namespace rampart
