// What one configuration change (a config line, a protocol's API call, a
// link event) may have changed, as typed data: config sections say which
// parts their lines touch, and the control core wakes only the publishers
// that read those parts, in dependency order (SAV rules before the
// interfaces that use them, the FIB before IPsec's VRFs). Replaces positional
// bool flags such as publish(std::nullopt, false, false, true).
#pragma once

#include <string>
#include <vector>

#include "common/net.hpp"

namespace rampart {

struct RouteRef {
    std::string vrf;  // "" = the default table
    Prefix prefix;    // the network prefix
    friend bool operator==(const RouteRef&, const RouteRef&) = default;
};

struct ChangeSet {
    enum class Routes : unsigned char {
        unchanged,  // no route can have changed: the SAV compiler's FIB input is not re-read
        listed,     // only the prefixes in `prefixes`
        some,       // interfaces, labels or adjacencies: the FIB reconciles without a sweep
        all,        // every prefix (a VRF removed, an SRGB moved): sweep the FIB
    };
    Routes routes = Routes::some;
    std::vector<RouteRef> prefixes;  // Routes::listed
    bool sav = false;     // SAV inputs (mechanisms, roles, allow/deny lists, ASN, loaded RIBs)
    bool ipsec = false;   // configured SAs or SPD entries (IPsec also follows VRF changes by itself)
    bool mpls = false;    // label range, TTL mode, ILM entries

    static ChangeSet everything() {
        ChangeSet c;
        c.routes = Routes::all;
        c.sav = c.ipsec = c.mpls = true;
        return c;
    }
    static ChangeSet route(RouteRef r) {
        ChangeSet c;
        c.routes = Routes::listed;
        c.prefixes.push_back(std::move(r));
        return c;
    }
    // Both changes together (a batch of lines, a route change from a protocol).
    ChangeSet& merge(const ChangeSet& other);
};

inline ChangeSet& ChangeSet::merge(const ChangeSet& o) {
    auto rank = [](Routes r) {
        switch (r) {
            case Routes::unchanged: return 0;
            case Routes::listed: return 1;
            case Routes::some: return 2;
            case Routes::all: return 3;
        }
        return 3;
    };
    if (routes == Routes::listed && o.routes == Routes::listed) {
        prefixes.insert(prefixes.end(), o.prefixes.begin(), o.prefixes.end());
    } else if (rank(o.routes) > rank(routes)) {
        routes = o.routes;
        prefixes = o.prefixes;
    }
    // `some` after `listed` reconciles every prefix anyway: the list is moot.
    if (routes != Routes::listed) prefixes.clear();
    sav |= o.sav;
    ipsec |= o.ipsec;
    mpls |= o.mpls;
    return *this;
}

}  // namespace rampart
