#include "slowpath/fib_publisher.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace rampart {

const char* route_source_name(RouteSource s) {
    switch (s) {
        case RouteSource::local: return "local";
        case RouteSource::connected: return "connected";
        case RouteSource::neighbor: return "neighbor";
        case RouteSource::static_route: return "static";
    }
    return "?";
}

namespace {
Prefix host_prefix(const IpAddr& a) { return Prefix{a, uint8_t(a.bits())}; }
constexpr size_t kKernelNameMax = 15;  // IFNAMSIZ - 1
}  // namespace

std::string vlan_twin_name(const std::string& parent_twin, uint16_t vid) {
    std::string suffix = fmt::format(".{}", vid);
    if (parent_twin.size() + suffix.size() <= kKernelNameMax) return parent_twin + suffix;
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char c : parent_twin) h = (h ^ c) * 16777619u;
    std::string tag = fmt::format("~{:04x}", (h ^ (h >> 16)) & 0xffff);
    size_t keep = kKernelNameMax - suffix.size() - tag.size();
    return parent_twin.substr(0, keep) + tag + suffix;
}

void FibPublisher::register_port(const std::string& name, const PortRuntime& rt) {
    IfRuntime r;
    r.ifindex = 0;
    while (!names_[r.ifindex].empty()) ++r.ifindex;
    r.port = rt;
    r.cfg.name = name;
    names_[r.ifindex] = name;
    ifs_[name] = r;
    index_kernel_names();
}

void FibPublisher::set_link_state(const std::string& name, bool up) {
    for (auto& [n, r] : ifs_) {
        if (n != name && r.cfg.parent != name) continue;
        r.port.link_up = up;
        if (r.present) publish_interface(r);
    }
}

bool FibPublisher::iface_up(const IfRuntime& r) const {
    if (!r.present || r.cfg.shutdown || !r.port.link_up) return false;
    if (!r.cfg.is_port()) {
        auto p = ifs_.find(r.cfg.parent);
        return p != ifs_.end() && !p->second.cfg.shutdown;
    }
    return true;
}

const FibPublisher::IfRuntime* FibPublisher::runtime(uint16_t ifindex) const {
    if (ifindex >= kMaxInterfaces || names_[ifindex].empty()) return nullptr;
    auto it = ifs_.find(names_[ifindex]);
    return it == ifs_.end() ? nullptr : &it->second;
}

void FibPublisher::publish_interface(const IfRuntime& r) {
    InterfaceState s;
    s.ifindex = r.ifindex;
    s.port_id = r.port.port_id;
    s.twin_port_id = r.port.twin_port_id;
    s.vlan = r.cfg.vlan;
    s.mtu = r.cfg.mtu;
    s.up = iface_up(r);
    s.mac = r.port.mac.bytes;
    for (const Prefix& a : r.cfg.addresses) {
        if (a.addr.is_v4() && s.ip4_be == 0) std::memcpy(&s.ip4_be, a.addr.bytes.data(), 4);
        bool link_local = !a.addr.is_v4() && a.addr.bytes[0] == 0xfe && (a.addr.bytes[1] & 0xc0) == 0x80;
        if (!a.addr.is_v4() && !s.has_ip6 && !link_local) {
            s.has_ip6 = true;
            s.ip6 = a.addr.bytes;
        }
    }
    tables_.set_iface(s);
    tables_.map_port_vlan(r.port.port_id, r.cfg.vlan, r.ifindex);
}

Adjacency FibPublisher::build_adjacency(const AdjKey& key) const {
    Adjacency a;
    a.ifindex = key.ifindex;
    a.next_hop = key.next_hop;
    const IfRuntime* r = runtime(key.ifindex);
    auto n = neigh_.find(key);
    a.resolved = r && n != neigh_.end();
    if (a.resolved) std::memcpy(a.l2.data(), n->second.bytes.data(), 6);
    if (r) std::memcpy(a.l2.data() + 6, r->port.mac.bytes.data(), 6);
    if (r && r->cfg.vlan) {
        a.l2_len = 18;
        a.l2[12] = 0x81;
        a.l2[13] = 0x00;
        a.l2[14] = uint8_t(r->cfg.vlan >> 8);
        a.l2[15] = uint8_t(r->cfg.vlan);
    }
    return a;
}

uint32_t FibPublisher::acquire_adjacency(const AdjKey& key) {
    auto it = adjs_.find(key);
    if (it != adjs_.end()) {
        ++it->second.refs;
        return it->second.index;
    }
    uint32_t index = tables_.alloc_adjacency();
    tables_.set_adjacency(index, build_adjacency(key));
    adjs_[key] = Slot{index, 1};
    return index;
}

void FibPublisher::release_adjacency(const AdjKey& key) {
    auto it = adjs_.find(key);
    if (it == adjs_.end() || --it->second.refs) return;
    tables_.free_adjacency(it->second.index);
    adjs_.erase(it);
}

uint32_t FibPublisher::acquire_group(const GroupKey& key) {
    auto it = groups_.find(key);
    if (it != groups_.end()) {
        ++it->second.refs;
        return it->second.index;
    }
    NhGroup g;
    g.kind = key.kind;
    g.ifindex = key.ifindex;
    g.count = uint8_t(key.adjs.size());
    for (size_t i = 0; i < key.adjs.size(); ++i) g.adj[i] = acquire_adjacency(key.adjs[i]);
    uint32_t index = tables_.alloc_group();
    tables_.set_group(index, g);
    groups_[key] = Slot{index, 1};
    return index;
}

void FibPublisher::release_group(const GroupKey& key) {
    auto it = groups_.find(key);
    if (it == groups_.end() || --it->second.refs) return;
    tables_.free_group(it->second.index);
    for (const AdjKey& a : key.adjs) release_adjacency(a);
    groups_.erase(it);
}

std::optional<std::string> FibPublisher::resolve_static(const Prefix& p, const std::vector<RouteNextHop>& hops,
                                                         GroupKey& key) const {
    std::string last_error;
    for (const RouteNextHop& h : hops) {
        switch (h.kind) {
            case RouteNextHop::Kind::blackhole: key.kind = NhKind::blackhole; return std::nullopt;
            case RouteNextHop::Kind::unreachable: key.kind = NhKind::unreachable; return std::nullopt;
            case RouteNextHop::Kind::attached: {
                auto it = ifs_.find(h.ifname);
                if (it == ifs_.end() || !iface_up(it->second)) {
                    last_error = fmt::format("interface {} is down", h.ifname);
                    continue;
                }
                key.kind = NhKind::glean;
                key.ifindex = it->second.ifindex;
                key.adjs.clear();
                return std::nullopt;
            }
            case RouteNextHop::Kind::via: {
                const IfRuntime* best = nullptr;
                int best_len = -1;
                if (!h.ifname.empty()) {
                    auto it = ifs_.find(h.ifname);
                    if (it != ifs_.end() && iface_up(it->second)) best = &it->second;
                } else {
                    for (auto& [n, r] : ifs_) {
                        if (!iface_up(r)) continue;
                        for (const Prefix& a : r.cfg.addresses)
                            if (a.contains(h.gateway) && int(a.len) > best_len && a.addr != h.gateway) {
                                best = &r;
                                best_len = a.len;
                            }
                    }
                }
                if (!best) {
                    last_error = h.ifname.empty()
                                     ? fmt::format("gateway {} is not on any connected subnet of an up interface", h.gateway.str())
                                     : fmt::format("interface {} is down", h.ifname);
                    continue;
                }
                key.kind = NhKind::forward;
                key.adjs.push_back(AdjKey{best->ifindex, h.gateway});
                break;
            }
        }
    }
    if (key.adjs.empty()) return last_error.empty() ? fmt::format("route {} has no usable next hop", p.str()) : last_error;
    std::sort(key.adjs.begin(), key.adjs.end());
    key.adjs.erase(std::unique(key.adjs.begin(), key.adjs.end()), key.adjs.end());
    return std::nullopt;
}

std::optional<FibPublisher::Want> FibPublisher::desired(const Prefix& p) const {
    const unsigned bits = p.addr.bits();
    for (auto& [n, r] : ifs_) {
        if (!iface_up(r)) continue;
        for (const Prefix& a : r.cfg.addresses) {
            if (a.addr.family != p.addr.family) continue;
            if (p.len == bits && a.addr == p.addr) return Want{RouteSource::local, GroupKey{NhKind::local, r.ifindex, {}}};
        }
    }
    if (p.len == bits) {
        for (auto& [k, mac] : neigh_) {
            if (k.next_hop != p.addr) continue;
            const IfRuntime* r = runtime(k.ifindex);
            if (!r || !iface_up(*r)) continue;
            for (const Prefix& a : r->cfg.addresses)
                if (a.len < bits && a.contains(p.addr))
                    return Want{RouteSource::neighbor, GroupKey{NhKind::forward, kNoInterface, {k}}};
        }
    }
    for (auto& [n, r] : ifs_) {
        if (!iface_up(r)) continue;
        for (const Prefix& a : r.cfg.addresses)
            if (a.addr.family == p.addr.family && a.len < bits && a.network() == p)
                return Want{RouteSource::connected, GroupKey{NhKind::glean, r.ifindex, {}}};
    }
    return std::nullopt;
}

std::optional<std::string> FibPublisher::sync_prefix(const Prefix& p) {
    std::optional<Want> want = desired(p);
    unresolved_.erase(p);
    if (!want) {
        auto route = config_ ? config_->routes.find(p) : decltype(config_->routes.find(p)){};
        if (config_ && route != config_->routes.end()) {
            GroupKey key;
            if (auto err = resolve_static(p, route->second, key)) unresolved_[p] = *err;
            else want = Want{RouteSource::static_route, std::move(key)};
        }
    }
    auto cur = fib_.find(p);
    if (!want) {
        if (cur != fib_.end()) {
            tables_.del_route(p);
            GroupKey old = cur->second.key;
            fib_.erase(cur);
            release_group(old);
        }
        auto un = unresolved_.find(p);
        return un == unresolved_.end() ? std::nullopt : std::optional<std::string>(fmt::format("route {} not installed: {}", p.str(), un->second));
    }
    if (cur != fib_.end() && cur->second.key == want->key) {
        cur->second.source = want->source;
        return std::nullopt;
    }
    uint32_t index;
    try {
        index = acquire_group(want->key);
    } catch (const std::exception& e) {
        unresolved_[p] = e.what();
        return fmt::format("route {} not installed: {}", p.str(), e.what());
    }
    int rc = tables_.add_route(p, index);
    if (rc != 0) {
        release_group(want->key);
        unresolved_[p] = fmt::format("FIB refused it ({})", strerror(-rc));
        return fmt::format("route {} not installed: FIB refused it ({})", p.str(), strerror(-rc));
    }
    if (cur != fib_.end()) {
        GroupKey old = cur->second.key;
        cur->second = *want;
        release_group(old);
    } else {
        fib_.emplace(p, *want);
    }
    return std::nullopt;
}

void FibPublisher::collect_prefixes(std::vector<Prefix>& out) const {
    for (auto& [n, r] : ifs_) {
        if (!r.present) continue;
        for (const Prefix& a : r.cfg.addresses) {
            out.push_back(host_prefix(a.addr));
            if (a.len < a.addr.bits()) out.push_back(a.network());
        }
    }
    for (auto& [k, mac] : neigh_) out.push_back(host_prefix(k.next_hop));
    if (config_)
        for (auto& [p, hops] : config_->routes) out.push_back(p);
    for (auto& [p, why] : unresolved_) out.push_back(p);
    for (auto& [p, w] : fib_) out.push_back(p);
}

std::vector<std::string> FibPublisher::reconcile_route(const RunningConfig& config, const Prefix& prefix) {
    config_ = &config;
    std::vector<std::string> problems;
    if (auto err = sync_prefix(prefix.network())) problems.push_back(*err);
    tables_.reclaim();
    return problems;
}

std::vector<std::string> FibPublisher::reconcile(const RunningConfig& config, bool sweep_routes) {
    std::vector<std::string> problems;
    const bool interfaces_changed = config.interfaces != interfaces_ || fib_.empty();
    interfaces_ = config.interfaces;
    config_ = &config;
    tables_.set_icmp_rate_pps(config.icmp_rate_pps);

    std::vector<Prefix> touched;
    if (interfaces_changed) {
        for (auto& [n, r] : ifs_) r.present = false;
        for (auto& [name, ic] : config.interfaces) {
            auto it = ifs_.find(name);
            if (ic.is_port()) {
                if (it == ifs_.end()) {
                    problems.push_back(fmt::format("interface {} has no opened port", name));
                    continue;
                }
            } else if (it == ifs_.end()) {
                auto parent = ifs_.find(ic.parent);
                if (parent == ifs_.end()) continue;
                IfRuntime r;
                r.ifindex = 0;
                while (r.ifindex < kMaxInterfaces && !names_[r.ifindex].empty()) ++r.ifindex;
                if (r.ifindex == kMaxInterfaces) {
                    problems.push_back(fmt::format("interface {}: interface table full", name));
                    continue;
                }
                r.port = parent->second.port;
                names_[r.ifindex] = name;
                it = ifs_.emplace(name, r).first;
            }
            it->second.cfg = ic;
            it->second.present = true;
        }
        // Neighbours on interfaces that went away are forgotten.
        for (auto it = learned_neigh_.begin(); it != learned_neigh_.end();) {
            const IfRuntime* r = runtime(it->first.ifindex);
            it = (!r || !r->present) ? learned_neigh_.erase(it) : std::next(it);
        }
        static_neigh_.clear();
        for (auto& [n, r] : ifs_)
            if (r.present)
                for (auto& [a, m] : r.cfg.static_neighbors) static_neigh_[AdjKey{r.ifindex, a}] = m;
        std::vector<Prefix> old_hosts;
        for (auto& [k, mac] : neigh_) old_hosts.push_back(host_prefix(k.next_hop));
        neigh_ = learned_neigh_;
        for (auto& [k, mac] : static_neigh_) neigh_[k] = mac;
        touched.insert(touched.end(), old_hosts.begin(), old_hosts.end());
        for (auto& [n, r] : ifs_)
            if (r.present) publish_interface(r);
        for (auto& [k, slot] : adjs_) tables_.set_adjacency(slot.index, build_adjacency(k));
        collect_prefixes(touched);
    } else if (sweep_routes) {
        collect_prefixes(touched);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const Prefix& p : touched)
        if (auto err = sync_prefix(p)) problems.push_back(*err);

    if (interfaces_changed) {
        // Sub-interfaces that left the config: nothing points at them any more.
        for (auto it = ifs_.begin(); it != ifs_.end();) {
            IfRuntime& r = it->second;
            if (r.present || r.cfg.is_port() || r.cfg.parent.empty()) {
                ++it;
                continue;
            }
            tables_.map_port_vlan(r.port.port_id, r.cfg.vlan, kNoInterface);
            tables_.clear_iface(r.ifindex);
            names_[r.ifindex].clear();
            it = ifs_.erase(it);
        }
        index_kernel_names();
    }
    tables_.reclaim();
    return problems;
}

void FibPublisher::neighbor_update(uint16_t ifindex, const IpAddr& ip, const std::optional<MacAddr>& mac) {
    AdjKey k{ifindex, ip};
    if (mac) learned_neigh_[k] = *mac;
    else learned_neigh_.erase(k);
    if (static_neigh_.count(k)) return;  // configured entries are not overridden by the kernel
    auto cur = neigh_.find(k);
    if (mac) {
        if (cur != neigh_.end() && cur->second == *mac) return;
        neigh_[k] = *mac;
    } else {
        if (cur == neigh_.end()) return;
        neigh_.erase(cur);
    }
    auto a = adjs_.find(k);
    if (a != adjs_.end()) tables_.set_adjacency(a->second.index, build_adjacency(k));
    sync_prefix(host_prefix(ip));
    tables_.reclaim();
}

std::optional<uint16_t> FibPublisher::ifindex_of(const std::string& name) const {
    auto it = ifs_.find(name);
    if (it == ifs_.end() || !it->second.present) return std::nullopt;
    return it->second.ifindex;
}

const std::string& FibPublisher::name_of(uint16_t ifindex) const {
    static const std::string none = "-";
    return ifindex < kMaxInterfaces && !names_[ifindex].empty() ? names_[ifindex] : none;
}

const PortRuntime* FibPublisher::port_of(const std::string& name) const {
    auto it = ifs_.find(name);
    return it == ifs_.end() ? nullptr : &it->second.port;
}

std::vector<std::string> FibPublisher::interface_names() const {
    std::vector<std::string> out;
    for (auto& [n, r] : ifs_)
        if (r.present) out.push_back(n);
    return out;
}

std::string FibPublisher::kernel_ifname(const IfRuntime& r) const {
    if (r.port.twin_ifname.empty()) return {};
    return r.cfg.is_port() ? r.port.twin_ifname : vlan_twin_name(r.port.twin_ifname, r.cfg.vlan);
}

std::string FibPublisher::kernel_ifname(const std::string& name) const {
    auto it = ifs_.find(name);
    return it == ifs_.end() ? std::string{} : kernel_ifname(it->second);
}

void FibPublisher::index_kernel_names() {
    by_kernel_name_.clear();
    for (auto& [n, r] : ifs_) {
        std::string k = kernel_ifname(r);
        if (!k.empty()) by_kernel_name_.emplace(std::move(k), r.ifindex);
    }
}

std::optional<uint16_t> FibPublisher::ifindex_of_twin(const std::string& kernel_ifname) const {
    auto it = by_kernel_name_.find(kernel_ifname);
    if (it == by_kernel_name_.end()) return std::nullopt;
    return it->second;
}

InstalledRoute FibPublisher::describe(const Prefix& p, const Want& w) const {
    InstalledRoute r{p, w.source, w.key.kind, w.key.ifindex, {}};
    for (const AdjKey& a : w.key.adjs) {
        auto n = neigh_.find(a);
        r.next_hops.push_back({a.ifindex, a.next_hop, n != neigh_.end(), n != neigh_.end() ? n->second : MacAddr{}});
    }
    return r;
}

std::vector<InstalledRoute> FibPublisher::installed_routes(std::optional<Family> family) const {
    std::vector<InstalledRoute> out;
    for (auto& [p, w] : fib_)
        if (!family || p.addr.family == *family) out.push_back(describe(p, w));
    return out;
}

std::optional<InstalledRoute> FibPublisher::installed_route(const Prefix& prefix) const {
    auto it = fib_.find(prefix.network());
    if (it == fib_.end()) return std::nullopt;
    return describe(it->first, it->second);
}

std::vector<NeighborEntry> FibPublisher::neighbors() const {
    std::vector<NeighborEntry> out;
    for (auto& [k, mac] : neigh_) out.push_back({k.ifindex, k.next_hop, mac, static_neigh_.count(k) > 0});
    return out;
}

}  // namespace rampart

namespace rampart {
std::vector<std::pair<uint16_t, IpAddr>> FibPublisher::unresolved_next_hops() const {
    std::vector<std::pair<uint16_t, IpAddr>> out;
    for (auto& [k, slot] : adjs_)
        if (!neigh_.count(k)) out.emplace_back(k.ifindex, k.next_hop);
    return out;
}
}  // namespace rampart
