#include "slowpath/bgp/rib_feeds.hpp"

#include "slowpath/control.hpp"

namespace rampart::bgp {


namespace {

std::vector<SavControl::AdjRibInChange> adj_rib_in_changes(const std::vector<SavChange>& changes) {
    std::vector<SavControl::AdjRibInChange> out;
    out.reserve(changes.size());
    for (const SavChange& c : changes) {
        SavControl::AdjRibInChange a{c.sav_interface, c.prefix.network(), std::nullopt};
        if (!c.withdrawn) {
            sav::Route r;
            r.prefix = a.prefix;
            r.communities = c.communities;
            for (const AsPathSegment& s : c.as_path) {
                // Confederation segments (RFC 5065) are inside one AS: not part of the inter-AS path.
                if (s.kind == AsPathSegment::Kind::sequence || s.kind == AsPathSegment::Kind::set)
                    r.as_path.push_back(sav::AsPathSegment{s.kind == AsPathSegment::Kind::set, s.asns});
            }
            a.route = std::move(r);
        }
        out.push_back(std::move(a));
    }
    return out;
}

std::vector<ProtocolRouteChange> route_changes(const std::vector<FibChange>& changes) {
    std::vector<ProtocolRouteChange> routes;
    routes.reserve(changes.size());
    for (const FibChange& c : changes) routes.push_back(ProtocolRouteChange{c.prefix, c.next_hops});
    return routes;
}

}  // namespace

std::string feed(Control& control, Rib& rib) {
    const std::vector<FibChange> fib = rib.take_fib_changes();
    const std::vector<SavChange> sav = rib.take_sav_changes();
    if (fib.empty()) return feed_sav(control, sav);
    return control.protocol_routes_apply(route_changes(fib), adj_rib_in_changes(sav));
}

std::string feed_sav(Control& control, const std::vector<SavChange>& changes) {
    if (changes.empty()) return {};
    const std::vector<SavControl::AdjRibInChange> out = adj_rib_in_changes(changes);
    std::string text;
    for (const PublishProblem& p : control.sav_control().apply_adj_rib_in(control.config(), out))
        text += "% warning: " + p.text + "\n";
    return text;
}

std::function<std::optional<Rib::Resolution>(const IpAddr&)> fib_resolver(const FibPublisher& fib) {
    return [&fib](const IpAddr& next_hop) -> std::optional<Rib::Resolution> {
        for (int len = int(next_hop.bits()); len >= 0; --len) {
            auto r = fib.installed_route(Prefix{next_hop, uint8_t(len)}, 0);
            if (!r || r->source == RouteSource::bgp) continue;
            switch (r->kind) {
                case NhKind::glean: return Rib::Resolution{{next_hop}, 0};  // on a connected subnet
                case NhKind::forward: {
                    if (r->source == RouteSource::neighbor) return Rib::Resolution{{next_hop}, 0};
                    Rib::Resolution res{{}, 1};
                    for (const InstalledNextHop& h : r->next_hops) res.next_hops.push_back(h.address);
                    if (res.next_hops.empty()) return std::nullopt;
                    return res;
                }
                default: return std::nullopt;  // our own address, a discard route, a VRF hand-off
            }
        }
        return std::nullopt;
    };
}

std::string feed_fib(Control& control, const std::vector<FibChange>& changes) {
    if (changes.empty()) return {};
    return control.protocol_routes_apply(route_changes(changes));
}

}  // namespace rampart::bgp
