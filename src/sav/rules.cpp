#include "sav/rules.hpp"

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace rampart::sav {

namespace {

bool covers(const Prefix& outer, const Prefix& inner) {
    return outer.addr.family == inner.addr.family && inner.len >= outer.len &&
           Prefix{inner.addr, outer.len}.network().addr == outer.addr;
}

Prefix root_of(Family f) {
    Prefix p;
    p.addr.family = f;
    p.len = 0;
    return p;
}

// Each AS of a path once (prepending repeats them).
std::vector<Asn> unique_asns(const Route& r) {
    std::vector<Asn> out;
    for (const auto& seg : r.as_path) out.insert(out.end(), seg.asns.begin(), seg.asns.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string asn_list(const std::set<Asn>& s) {
    std::string out;
    for (Asn a : s) out += fmt::format("{}AS{}", out.empty() ? "" : " ", a);
    return out.empty() ? "(none)" : out;
}

}  // namespace

std::string InterfaceSet::str() const {
    std::string out = "{";
    bool first = true;
    for (unsigned i = 0; i < kMaxSavInterfaces; ++i)
        if (has(i)) {
            out += fmt::format("{}{}", first ? "" : ",", i);
            first = false;
        }
    return out + "}";
}

std::string_view to_string(Role r) {
    switch (r) {
        case Role::customer: return "customer";
        case Role::lateral_peer: return "lateral-peer";
        case Role::provider: return "provider";
    }
    return "?";
}

namespace {
constexpr std::pair<Mechanism, std::string_view> kMechanismNames[] = {
    {Mechanism::off, "off"},
    {Mechanism::strict_urpf, "strict-urpf"},
    {Mechanism::loose_urpf, "loose-urpf"},
    {Mechanism::loose_urpf_with_default, "loose-urpf-with-default"},
    {Mechanism::feasible_path_urpf, "feasible-path-urpf"},
    {Mechanism::efp_urpf_a, "efp-urpf-a"},
    {Mechanism::efp_urpf_b, "efp-urpf-b"},
    {Mechanism::bar_sav, "bar-sav"},
};
}  // namespace

std::string_view to_string(Mechanism m) {
    for (auto& [mech, name] : kMechanismNames)
        if (mech == m) return name;
    return "?";
}

std::optional<Mechanism> mechanism_from_string(std::string_view text) {
    for (auto& [mech, name] : kMechanismNames)
        if (name == text) return mech;
    return std::nullopt;
}

std::optional<Asn> Route::origin() const {
    if (as_path.empty() || as_path.back().is_set || as_path.back().asns.empty()) return std::nullopt;
    return as_path.back().asns.back();
}

bool Route::has_community(uint32_t c) const {
    return std::find(communities.begin(), communities.end(), c) != communities.end();
}

std::string Route::path_str() const {
    std::string out;
    for (const auto& seg : as_path) {
        if (!out.empty()) out += ' ';
        if (seg.is_set) out += '{';
        for (size_t i = 0; i < seg.asns.size(); ++i) out += fmt::format("{}{}", i ? (seg.is_set ? "," : " ") : "", seg.asns[i]);
        if (seg.is_set) out += '}';
    }
    return out.empty() ? "(empty: iBGP/local)" : out;
}

// ---------------------------------------------------------------- inputs

RuleCompiler::Node& RuleCompiler::node(const Prefix& p) { return nodes_[p]; }

void RuleCompiler::drop_if_unused(const Prefix& p) {
    auto it = nodes_.find(p);
    if (it == nodes_.end() || it->second.needed() || p.len == 0) return;  // the /0 rules always exist
    if (it->second.published) changes_.push_back({p, true, {}, false});
    nodes_.erase(it);
    mark(p);  // its more specifics now inherit from further up
}

void RuleCompiler::mark(const Prefix& p) {
    if (everything_dirty_) return;
    dirty_.insert(p);
    if (dirty_.size() > 4096 && dirty_.size() > nodes_.size() / 4) {
        everything_dirty_ = true;
        dirty_.clear();
    }
}

void RuleCompiler::mark_origin(Asn a) {
    auto it = prefixes_of_origin_.find(a);
    if (it == prefixes_of_origin_.end()) return;
    for (const auto& [p, count] : it->second) mark(p);
}

void RuleCompiler::add_origin(Node& n, const Prefix& p, Asn a, uint16_t iface) {
    auto it = std::find_if(n.route_origins.begin(), n.route_origins.end(), [&](auto& e) { return e.first == a; });
    if (it == n.route_origins.end())
        n.route_origins.emplace_back(a, 1);
    else
        ++it->second;
    ++prefixes_of_origin_[a][p];
    // A new (origin, interface) pair changes EFP-A's per-AS interface list.
    if (++origin_on_iface_[{a, iface}] == 1) pending_origins_.insert(a);
}

void RuleCompiler::remove_origin(Node& n, const Prefix& p, Asn a, uint16_t iface) {
    auto it = std::find_if(n.route_origins.begin(), n.route_origins.end(), [&](auto& e) { return e.first == a; });
    if (it != n.route_origins.end() && --it->second == 0) n.route_origins.erase(it);
    auto po = prefixes_of_origin_.find(a);
    if (po != prefixes_of_origin_.end()) {
        auto pc = po->second.find(p);
        if (pc != po->second.end() && --pc->second == 0) po->second.erase(pc);
        if (po->second.empty()) prefixes_of_origin_.erase(po);
    }
    auto oi = origin_on_iface_.find({a, iface});
    if (oi != origin_on_iface_.end() && --oi->second == 0) {
        origin_on_iface_.erase(oi);
        pending_origins_.insert(a);
    }
}

void RuleCompiler::set_interface(const InterfaceConfig& cfg) {
    if (cfg.id >= kMaxSavInterfaces)
        throw std::invalid_argument(fmt::format("SAV interface id {} out of range (0..{})", cfg.id, kMaxSavInterfaces - 1));
    ifaces_[cfg.id] = cfg;
    refresh_role_sets();
    // A role or mechanism change alters every rule's bit for this interface.
    mark(root_of(Family::v4));
    mark(root_of(Family::v6));
    cones_dirty_ = true;
}

void RuleCompiler::remove_interface(uint16_t id) {
    auto rib = adj_rib_in_.find(id);
    if (rib != adj_rib_in_.end()) {
        std::vector<Prefix> prefixes;
        for (const auto& [p, r] : rib->second) prefixes.push_back(p);
        for (const auto& p : prefixes) withdraw(id, p);
        adj_rib_in_.erase(id);
    }
    ifaces_.erase(id);
    refresh_role_sets();
    path_asns_of_iface_.erase(id);
    mark(root_of(Family::v4));
    mark(root_of(Family::v6));
    cones_dirty_ = true;
}

void RuleCompiler::announce(uint16_t iface, const Route& r) {
    if (!ifaces_.count(iface)) throw std::invalid_argument(fmt::format("SAV: route {} on unknown interface {}", r.prefix.str(), iface));
    const Prefix p = r.prefix.network();
    auto& rib = adj_rib_in_[iface];
    auto [slot, inserted] = rib.try_emplace(p);
    if (!inserted) {
        withdraw(iface, p);
        slot = rib.try_emplace(p).first;
    }
    Route& stored = slot->second;
    stored = r;
    stored.prefix = p;
    Node& n = node(p);
    n.received_on.add(iface);
    if (auto o = stored.origin()) add_origin(n, p, *o, iface);
    auto& path_asns = path_asns_of_iface_[iface];
    const std::vector<Asn> unique = unique_asns(stored);
    const bool customer = ifaces_[iface].role == Role::customer;
    for (Asn a : unique)
        if (++path_asns[a] == 1 && customer) cones_dirty_ = true;  // the cone may grow
    mark(p);
}

void RuleCompiler::withdraw(uint16_t iface, const Prefix& prefix) {
    const Prefix p = prefix.network();
    auto rib = adj_rib_in_.find(iface);
    if (rib == adj_rib_in_.end()) return;
    auto it = rib->second.find(p);
    if (it == rib->second.end()) return;
    const Route& r = it->second;
    Node& n = node(p);
    n.received_on.remove(iface);
    if (auto o = r.origin()) remove_origin(n, p, *o, iface);
    const std::vector<Asn> unique = unique_asns(r);
    auto& path_asns = path_asns_of_iface_[iface];
    auto cfg = ifaces_.find(iface);
    const bool customer = cfg != ifaces_.end() && cfg->second.role == Role::customer;
    for (Asn a : unique) {
        auto pa = path_asns.find(a);
        if (pa != path_asns.end() && --pa->second == 0) {
            path_asns.erase(pa);
            if (customer) cones_dirty_ = true;
        }
    }
    rib->second.erase(it);
    mark(p);
    drop_if_unused(p);
}

void RuleCompiler::set_fib_route(const Prefix& prefix, const InterfaceSet& egress) {
    const Prefix p = prefix.network();
    Node& n = node(p);
    n.in_fib = true;
    n.fib_egress = egress;
    mark(p);
}

void RuleCompiler::remove_fib_route(const Prefix& prefix) {
    const Prefix p = prefix.network();
    auto it = nodes_.find(p);
    if (it == nodes_.end() || !it->second.in_fib) return;
    it->second.in_fib = false;
    it->second.fib_egress = {};
    mark(p);
    drop_if_unused(p);
}

void RuleCompiler::set_roas(std::vector<Roa> roas) {
    for (auto& r : roas) r.prefix = r.prefix.network();
    std::sort(roas.begin(), roas.end());
    roas.erase(std::unique(roas.begin(), roas.end()), roas.end());
    // Only the ROAs that differ touch anything.
    std::vector<Roa> gone, added;
    std::set_difference(roas_.begin(), roas_.end(), roas.begin(), roas.end(), std::back_inserter(gone));
    std::set_difference(roas.begin(), roas.end(), roas_.begin(), roas_.end(), std::back_inserter(added));
    for (const Roa& r : gone) {
        Node& n = node(r.prefix);
        auto it = std::find(n.roa_origins.begin(), n.roa_origins.end(), r.origin);
        if (it != n.roa_origins.end()) n.roa_origins.erase(it);
        auto po = prefixes_of_origin_.find(r.origin);
        if (po != prefixes_of_origin_.end()) {
            auto pc = po->second.find(r.prefix);
            if (pc != po->second.end() && --pc->second == 0) po->second.erase(pc);
            if (po->second.empty()) prefixes_of_origin_.erase(po);
        }
        mark(r.prefix);
        drop_if_unused(r.prefix);
    }
    for (const Roa& r : added) {
        node(r.prefix).roa_origins.push_back(r.origin);
        ++prefixes_of_origin_[r.origin][r.prefix];
        mark(r.prefix);
    }
    // An origin that appears or disappears may need AS facts (BAR-SAV blocking).
    for (const Roa& r : gone) pending_origins_.insert(r.origin);
    for (const Roa& r : added) pending_origins_.insert(r.origin);
    roas_ = std::move(roas);
}

void RuleCompiler::set_aspas(std::vector<Aspa> aspas) {
    aspa_.clear();
    aspa_customers_.clear();
    for (auto& a : aspas) {
        auto& providers = aspa_[a.customer];
        for (Asn p : a.providers)
            if (p != 0 && std::find(providers.begin(), providers.end(), p) == providers.end()) {
                providers.push_back(p);
                aspa_customers_[p].push_back(a.customer);
            }
    }
    cones_dirty_ = true;  // recompute_as_facts marks the origins whose facts changed
}

void RuleCompiler::set_allow(const Prefix& prefix, const InterfaceSet& ifaces) {
    const Prefix p = prefix.network();
    Node& n = node(p);
    n.has_allow = true;
    n.allow = ifaces;
    mark(p);
}

void RuleCompiler::remove_allow(const Prefix& prefix) {
    const Prefix p = prefix.network();
    auto it = nodes_.find(p);
    if (it == nodes_.end()) return;
    it->second.has_allow = false;
    it->second.allow = {};
    mark(p);
    drop_if_unused(p);
}

void RuleCompiler::set_deny(const Prefix& prefix, const InterfaceSet& ifaces) {
    const Prefix p = prefix.network();
    Node& n = node(p);
    n.has_deny = true;
    n.deny = ifaces.empty() ? InterfaceSet::all() : ifaces;
    mark(p);
}

void RuleCompiler::remove_deny(const Prefix& prefix) {
    const Prefix p = prefix.network();
    auto it = nodes_.find(p);
    if (it == nodes_.end()) return;
    it->second.has_deny = false;
    it->second.deny = {};
    mark(p);
    drop_if_unused(p);
}

// ---------------------------------------------------------------- AS level

void RuleCompiler::refresh_role_sets() {
    customer_ifaces_ = {};
    for (const auto& [id, cfg] : ifaces_)
        if (cfg.role == Role::customer) customer_ifaces_.add(id);
    bar_customer_ifaces_ = bar_interfaces(true);
}

InterfaceSet RuleCompiler::bar_interfaces(bool customer_side) const {
    InterfaceSet s;
    for (const auto& [id, cfg] : ifaces_)
        if (cfg.mechanism == Mechanism::bar_sav && (cfg.role == Role::customer) == customer_side) s.add(id);
    return s;
}

std::set<Asn> RuleCompiler::upward_closure(Asn a, bool& complete) const {
    // Every AS a packet from `a` can climb through (customer-to-provider
    // hops per ASPA). We stop at ourselves: a path up through us does not come
    // back down to us from a provider or peer.
    std::set<Asn> seen;
    std::deque<Asn> todo{a};
    complete = true;
    while (!todo.empty()) {
        Asn x = todo.front();
        todo.pop_front();
        if (x == local_asn_) continue;
        auto it = aspa_.find(x);
        if (it == aspa_.end()) {
            complete = false;  // unknown providers: any path is possible
            continue;
        }
        for (Asn p : it->second)
            if (seen.insert(p).second) todo.push_back(p);
    }
    return seen;
}

void RuleCompiler::recompute_cones() {
    // Customer cones (draft-ietf-sidrops-bar-sav): the neighbour, every AS in
    // the AS paths it sent us, and, recursively, every AS whose ASPA names a
    // member as provider.
    cones_.clear();
    our_cone_.clear();
    for (const auto& [id, cfg] : ifaces_) {
        if (cfg.role != Role::customer) continue;
        std::set<Asn> cone;
        std::deque<Asn> todo;
        auto seed = [&](Asn a) {
            if (a != 0 && a != local_asn_ && cone.insert(a).second) todo.push_back(a);
        };
        seed(cfg.neighbor_asn);
        if (auto pa = path_asns_of_iface_.find(id); pa != path_asns_of_iface_.end())
            for (const auto& [a, count] : pa->second) seed(a);
        while (!todo.empty()) {
            Asn x = todo.front();
            todo.pop_front();
            if (auto c = aspa_customers_.find(x); c != aspa_customers_.end())
                for (Asn cust : c->second) seed(cust);
        }
        our_cone_.insert(cone.begin(), cone.end());
        cones_[id] = std::move(cone);
    }
}

RuleCompiler::AsFacts RuleCompiler::compute_facts(Asn a) const {
    AsFacts f;
    for (const auto& [id, cfg] : ifaces_) {
        if (cfg.role == Role::customer && origin_on_iface_.count({a, id})) f.efp_a_ifaces.add(id);
        if (bar_customer_ifaces_.has(id))
            if (auto cone = cones_.find(id); cone != cones_.end() && cone->second.count(a)) f.cone_ifaces.add(id);
    }
    const InterfaceSet bar_upstreams = bar_interfaces(false);
    const bool ours = a == local_asn_;
    if (bar_upstreams.empty() || !(ours || our_cone_.count(a))) return f;
    bool complete = true;
    const std::set<Asn> up = ours ? std::set<Asn>{} : upward_closure(a, complete);
    if (!complete) return f;  // an AS on the way has no ASPA: any path is possible
    bool all_inside = true;
    for (Asn x : up)
        if (x != local_asn_ && !our_cone_.count(x)) all_inside = false;
    for (const auto& [id, cfg] : ifaces_) {
        if (!bar_upstreams.has(id)) continue;
        if (cfg.role == Role::provider && all_inside) f.block_ifaces.add(id);
        if (cfg.role == Role::lateral_peer && cfg.neighbor_asn != 0 && !up.count(cfg.neighbor_asn)) f.block_ifaces.add(id);
    }
    return f;
}

void RuleCompiler::refresh_facts(Asn a) {
    const AsFacts f = prefixes_of_origin_.count(a) ? compute_facts(a) : AsFacts{};
    auto old = facts_.find(a);
    const AsFacts before = old == facts_.end() ? AsFacts{} : old->second;
    if (f == before) return;
    if (f == AsFacts{})
        facts_.erase(a);
    else
        facts_[a] = f;
    mark_origin(a);  // only origins whose facts changed touch their prefixes
}

void RuleCompiler::recompute_as_facts() {
    if (cones_dirty_) {
        // Cones or interfaces changed: every origin may be affected.
        recompute_cones();
        std::vector<Asn> all;
        all.reserve(prefixes_of_origin_.size() + facts_.size());
        for (const auto& [a, prefixes] : prefixes_of_origin_) all.push_back(a);
        for (const auto& [a, f] : facts_)
            if (!prefixes_of_origin_.count(a)) all.push_back(a);
        for (Asn a : all) refresh_facts(a);
        cones_dirty_ = false;
    } else {
        // Only some origins gained or lost a route or ROA: just those.
        for (Asn a : pending_origins_) refresh_facts(a);
    }
    pending_origins_.clear();
}

RuleCompiler::AsFacts RuleCompiler::as_facts(Asn a) const {
    auto it = facts_.find(a);
    return it == facts_.end() ? AsFacts{} : it->second;
}

std::set<Asn> RuleCompiler::customer_cone(uint16_t iface) const {
    auto it = cones_.find(iface);
    return it == cones_.end() ? std::set<Asn>{} : it->second;
}

// ---------------------------------------------------------------- evaluation

void RuleCompiler::fold(const Prefix& p, const Node& n, Inherited& s) const {
    s.any_input = s.any_input || n.needed();
    if (n.in_fib) {
        s.strict_known = true;
        s.strict = n.fib_egress;
        if (!n.fib_egress.empty()) {
            s.default_covered = true;
            if (p.len > 0) s.route_covered = true;
        }
    }
    s.feasible |= n.received_on;
    InterfaceSet from_customers = n.received_on;
    from_customers &= customer_ifaces_;
    // RFC 8704 3.3: X_a (every prefix with origin a, from all Adj-RIBs-In) goes
    // on each customer interface where one of them arrived; a prefix received
    // on a customer interface is feasible there even without an origin (AS_SET).
    s.efp_a |= from_customers;
    // RFC 8704 3.4: Z = P (prefixes from customers) + Q (prefixes from peers
    // and providers whose origin is in A, the origins seen from customers).
    if (!from_customers.empty()) s.efp_b = true;
    InterfaceSet bar_from_customers = n.received_on;
    bar_from_customers &= bar_customer_ifaces_;
    s.bar_customer |= bar_from_customers;
    for (const auto& [a, count] : n.route_origins) {
        const AsFacts f = as_facts(a);
        s.efp_a |= f.efp_a_ifaces;
        if (!f.efp_a_ifaces.empty()) s.efp_b = true;
        s.bar_customer |= f.cone_ifaces;
    }
    for (Asn a : n.roa_origins) s.bar_customer |= as_facts(a).cone_ifaces;
    // Downstream protection: ROAs are the authority on who originates a
    // prefix; without one, the origins seen in BGP.
    if (!n.roa_origins.empty() || !n.route_origins.empty()) {
        InterfaceSet blocked = InterfaceSet::all();
        if (!n.roa_origins.empty())
            for (Asn a : n.roa_origins) blocked &= as_facts(a).block_ifaces;
        else
            for (const auto& [a, count] : n.route_origins) blocked &= as_facts(a).block_ifaces;
        s.bar_blocked = blocked;
    }
    if (n.has_allow) s.allow |= n.allow;
    if (n.has_deny) s.deny |= n.deny;
}

RuleCompiler::Inherited RuleCompiler::inherited_above(const Prefix& p) const {
    Inherited s;
    for (unsigned len = 0; len < p.len; ++len) {
        const Prefix q = Prefix{p.addr, uint8_t(len)}.network();
        auto it = nodes_.find(q);
        if (it != nodes_.end()) fold(q, it->second, s);
    }
    return s;
}

InterfaceSet RuleCompiler::evaluate(const Inherited& s) const {
    InterfaceSet out;
    for (const auto& [id, cfg] : ifaces_) {
        const bool customer = cfg.role == Role::customer;
        bool ok = false;
        switch (cfg.mechanism) {
            case Mechanism::off: ok = true; break;
            case Mechanism::strict_urpf: ok = s.strict_known && s.strict.has(id); break;
            case Mechanism::loose_urpf: ok = s.route_covered; break;
            case Mechanism::loose_urpf_with_default: ok = s.default_covered; break;
            case Mechanism::feasible_path_urpf: ok = s.feasible.has(id); break;
            case Mechanism::efp_urpf_a: ok = customer ? s.efp_a.has(id) : s.route_covered; break;
            case Mechanism::efp_urpf_b: ok = customer ? s.efp_b : s.route_covered; break;
            case Mechanism::bar_sav:
                ok = s.allow.has(id) || (customer ? s.bar_customer.has(id) : !s.bar_blocked.has(id));
                break;
        }
        if (cfg.mechanism != Mechanism::off && s.deny.has(id)) ok = false;
        if (ok) out.add(id);
    }
    return out;
}

size_t RuleCompiler::recompute() {
    // The /0 rules always exist: they answer for sources nothing mentions.
    for (Family f : {Family::v4, Family::v6})
        if (nodes_.try_emplace(root_of(f)).second) mark(root_of(f));
    if (cones_dirty_ || !pending_origins_.empty()) recompute_as_facts();
    if (everything_dirty_) {
        dirty_ = {root_of(Family::v4), root_of(Family::v6)};
        everything_dirty_ = false;
    }
    size_t evaluated = 0;
    std::optional<Prefix> last_subtree;
    for (const Prefix& d : dirty_) {
        // dirty_ is sorted: a prefix inside the subtree just done is done.
        if (last_subtree && covers(*last_subtree, d)) continue;
        last_subtree = d;
        const Inherited above = inherited_above(d);
        std::vector<std::pair<Prefix, Inherited>> stack;
        for (auto it = nodes_.lower_bound(d); it != nodes_.end() && covers(d, it->first); ++it) {
            while (!stack.empty() && !covers(stack.back().first, it->first)) stack.pop_back();
            Inherited s = stack.empty() ? above : stack.back().second;
            fold(it->first, it->second, s);
            Node& n = it->second;
            const InterfaceSet allowed = evaluate(s);
            const bool no_rule = !s.any_input;
            if (!n.published || !(n.allowed == allowed) || n.no_rule != no_rule) {
                n.published = true;
                n.allowed = allowed;
                n.no_rule = no_rule;
                changes_.push_back({it->first, false, allowed, no_rule});
            }
            stack.emplace_back(it->first, s);
            ++evaluated;
        }
    }
    dirty_.clear();
    return evaluated;
}

std::vector<SavRuleChange> RuleCompiler::take_changes() { return std::exchange(changes_, {}); }

std::vector<SavRule> RuleCompiler::rules(Family f) const {
    std::vector<SavRule> out;
    for (auto it = nodes_.lower_bound(root_of(f)); it != nodes_.end() && it->first.addr.family == f; ++it)
        if (it->second.published) out.push_back({it->first, it->second.allowed, it->second.no_rule});
    return out;
}

std::optional<Mechanism> RuleCompiler::mechanism(uint16_t iface) const {
    auto it = ifaces_.find(iface);
    return it == ifaces_.end() ? std::nullopt : std::optional<Mechanism>(it->second.mechanism);
}

const InterfaceConfig* RuleCompiler::interface(uint16_t iface) const {
    auto it = ifaces_.find(iface);
    return it == ifaces_.end() ? nullptr : &it->second;
}

size_t RuleCompiler::route_count() const {
    size_t n = 0;
    for (const auto& [id, rib] : adj_rib_in_) n += rib.size();
    return n;
}

// ---------------------------------------------------------------- explain

std::vector<std::string> RuleCompiler::explain(const Prefix& prefix, uint16_t iface) const {
    std::vector<std::string> out;
    const Prefix p = prefix.network();
    auto cfg_it = ifaces_.find(iface);
    if (cfg_it == ifaces_.end()) {
        out.push_back(fmt::format("interface {} is not configured for SAV", iface));
        return out;
    }
    const InterfaceConfig& cfg = cfg_it->second;
    out.push_back(fmt::format("interface {} ({}, {}, neighbour AS{}): mechanism {}", cfg.id, cfg.name, to_string(cfg.role),
                              cfg.neighbor_asn, to_string(cfg.mechanism)));
    // The chain of rules covering p, least specific first; the last decides.
    std::vector<std::pair<Prefix, const Node*>> chain;
    for (unsigned len = 0; len <= p.len; ++len) {
        const Prefix q = Prefix{p.addr, uint8_t(len)}.network();
        if (auto it = nodes_.find(q); it != nodes_.end()) chain.emplace_back(q, &it->second);
    }
    if (chain.empty()) {
        out.push_back("no rules compiled yet");
        return out;
    }
    const Prefix& rule = chain.back().first;
    out.push_back(fmt::format("most specific rule covering {}: {}", p.str(), rule.str()));
    auto route_on = [&](uint16_t id, const Prefix& q) -> const Route* {
        auto rib = adj_rib_in_.find(id);
        if (rib == adj_rib_in_.end()) return nullptr;
        auto r = rib->second.find(q);
        return r == rib->second.end() ? nullptr : &r->second;
    };
    auto describe_received = [&](const Prefix& q, const Node& n) {
        for (unsigned id = 0; id < kMaxSavInterfaces; ++id)
            if (n.received_on.has(id))
                if (const Route* r = route_on(id, q))
                    out.push_back(fmt::format("  {} received on interface {} with AS path {}{}", q.str(), id, r->path_str(),
                                              r->has_community(kCommunityNoExport) ? " NO_EXPORT" : ""));
    };
    const bool customer = cfg.role == Role::customer;
    switch (cfg.mechanism) {
        case Mechanism::off: out.push_back("SAV is off on this interface: every source is allowed"); break;
        case Mechanism::strict_urpf: {
            const std::pair<Prefix, const Node*>* best = nullptr;
            for (auto& e : chain)
                if (e.second->in_fib) best = &e;
            if (!best)
                out.push_back("strict uRPF: no FIB route covers the source");
            else
                out.push_back(fmt::format("strict uRPF: longest FIB route {} leaves through {}: {}", best->first.str(),
                                          best->second->fib_egress.str(),
                                          best->second->fib_egress.has(iface) ? "this interface" : "not this interface"));
            break;
        }
        case Mechanism::loose_urpf:
        case Mechanism::loose_urpf_with_default:
        case Mechanism::efp_urpf_a:
        case Mechanism::efp_urpf_b:
            if (cfg.mechanism == Mechanism::loose_urpf || cfg.mechanism == Mechanism::loose_urpf_with_default || !customer) {
                if (!customer && cfg.mechanism != Mechanism::loose_urpf && cfg.mechanism != Mechanism::loose_urpf_with_default)
                    out.push_back("EFP-uRPF is for customer interfaces; on lateral peer and provider interfaces loose uRPF applies (RFC 8704 3.6)");
                bool any = false;
                for (auto& [q, n] : chain)
                    if (n->in_fib && !n->fib_egress.empty() &&
                        (q.len > 0 || cfg.mechanism == Mechanism::loose_urpf_with_default)) {
                        out.push_back(fmt::format("loose uRPF: FIB route {} covers the source", q.str()));
                        any = true;
                    }
                if (!any)
                    out.push_back(cfg.mechanism == Mechanism::loose_urpf_with_default
                                      ? "loose uRPF: no FIB route (default included) covers the source"
                                      : "loose uRPF: no FIB route other than the default covers the source");
                break;
            }
            if (cfg.mechanism == Mechanism::efp_urpf_a) {
                bool any = false;
                for (auto& [q, n] : chain) {
                    if (n->received_on.has(iface)) {
                        out.push_back(fmt::format("EFP-uRPF A: {} was received on this interface", q.str()));
                        any = true;
                    }
                    for (auto& [a, count] : n->route_origins) {
                        const AsFacts f = as_facts(a);
                        out.push_back(fmt::format(
                            "EFP-uRPF A: {} has origin AS{}; routes with origin AS{} arrived on customer interfaces {} ({})",
                            q.str(), a, a, f.efp_a_ifaces.str(),
                            f.efp_a_ifaces.has(iface) ? "this one among them: its prefixes are on this RPF list"
                                                      : "not this one"));
                        any = any || f.efp_a_ifaces.has(iface);
                    }
                    describe_received(q, *n);
                }
                if (!any) out.push_back("EFP-uRPF A: no covering prefix is on this interface's RPF list");
            } else {
                for (auto& [q, n] : chain) {
                    describe_received(q, *n);
                    for (auto& [a, count] : n->route_origins)
                        if (!as_facts(a).efp_a_ifaces.empty())
                            out.push_back(fmt::format("EFP-uRPF B: {} has origin AS{}, which customers announce (set A): on the common RPF list", q.str(), a));
                }
            }
            break;
        case Mechanism::feasible_path_urpf: {
            bool any = false;
            for (auto& [q, n] : chain) {
                describe_received(q, *n);
                any = any || n->received_on.has(iface);
            }
            out.push_back(any ? "feasible-path uRPF: a covering prefix was received on this interface"
                              : "feasible-path uRPF: no covering prefix was received on this interface");
            break;
        }
        case Mechanism::bar_sav:
            if (customer) {
                auto cone = customer_cone(iface);
                out.push_back(fmt::format("BAR-SAV: customer cone of this interface (ASPA + AS paths): {}", asn_list(cone)));
                for (auto& [q, n] : chain) {
                    if (n->received_on.has(iface)) out.push_back(fmt::format("BAR-SAV: {} was received on this interface", q.str()));
                    for (Asn a : n->roa_origins)
                        out.push_back(fmt::format("BAR-SAV: ROA {} origin AS{}: {}", q.str(), a,
                                                  cone.count(a) ? "in the cone" : "outside the cone"));
                    for (auto& [a, count] : n->route_origins)
                        out.push_back(fmt::format("BAR-SAV: route {} origin AS{}: {}", q.str(), a,
                                                  cone.count(a) ? "in the cone" : "outside the cone"));
                }
            } else {
                const std::pair<Prefix, const Node*>* decider = nullptr;
                for (auto& e : chain)
                    if (!e.second->roa_origins.empty() || !e.second->route_origins.empty()) decider = &e;
                if (!decider) {
                    out.push_back("BAR-SAV: no covering prefix has a known origin: not ours, allowed from upstream");
                } else {
                    const Node& n = *decider->second;
                    std::vector<Asn> origins = n.roa_origins;
                    const char* source = "ROA";
                    if (origins.empty()) {
                        source = "BGP";
                        for (auto& [a, count] : n.route_origins) origins.push_back(a);
                    }
                    std::set<Asn> our_cone;
                    for (const auto& [id, cone] : cones_) our_cone.insert(cone.begin(), cone.end());
                    for (Asn a : origins) {
                        const char* whose = a == local_asn_       ? "is our own AS"
                                            : our_cone.count(a) ? "is in our customer cone"
                                                                : "is outside our customer cone";
                        std::string path_facts;
                        if (a != local_asn_ && our_cone.count(a)) {
                            bool complete = true;
                            const auto up = upward_closure(a, complete);
                            path_facts = fmt::format("; its providers upward per ASPA: {}{}", asn_list(up),
                                                     complete ? "" : " (incomplete: an AS on the way has no ASPA)");
                        }
                        out.push_back(fmt::format("BAR-SAV: {} origin AS{} ({}) {}{}: {}", decider->first.str(), a, source, whose,
                                                  path_facts,
                                                  as_facts(a).block_ifaces.has(iface)
                                                      ? "no valley-free path brings it in through this neighbour"
                                                      : "a path through this neighbour exists or cannot be ruled out"));
                    }
                }
            }
            break;
    }
    for (auto& [q, n] : chain) {
        if (n->has_allow && n->allow.has(iface))
            out.push_back(fmt::format("operator allow-list: {} on {}{}", q.str(), n->allow.str(),
                                      cfg.mechanism == Mechanism::bar_sav ? "" : " (used by bar-sav only)"));
        if (n->has_deny && n->deny.has(iface)) out.push_back(fmt::format("operator deny-list: {} refused here", q.str()));
    }
    auto it = nodes_.find(rule);
    const bool allowed = it != nodes_.end() && it->second.published && it->second.allowed.has(iface);
    out.push_back(fmt::format("verdict: {}", allowed ? "allowed" : "refused"));
    return out;
}

}  // namespace rampart::sav
