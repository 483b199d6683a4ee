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

    static ChangeSet everything() {
        ChangeSet c;
        c.routes = Routes::all;
        c.sav = c.ipsec = true;
        return c;
    }
    static ChangeSet route(RouteRef r) {
        ChangeSet c;
        c.routes = Routes::listed;
        c.prefixes.push_back(std::move(r));
        return c;
    }
};

}  // namespace rampart
