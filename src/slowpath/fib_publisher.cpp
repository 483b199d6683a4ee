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
        case RouteSource::bgp: return "bgp";
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
    s.vrf = vrf_of(r);
    s.mpls = r.cfg.mpls;
    s.sav_mode = r.cfg.sav == sav::Mechanism::off ? SavMode::off : r.cfg.sav_monitor ? SavMode::monitor : SavMode::enforce;
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
    g.vrf = key.vrf;
    g.count = uint8_t(key.members.size());
    g.backup_adj.fill(kNoAdjacency);
    auto to_stack = [](const LabelList& l) {
        LabelStack st;
        st.count = uint8_t(std::min(l.size(), size_t(kMaxPushLabels)));
        std::copy_n(l.begin(), st.count, st.label.begin());
        return st;
    };
    for (size_t i = 0; i < key.members.size(); ++i) {
        const MemberKey& mk = key.members[i];
        g.adj[i] = acquire_adjacency(mk.adj);
        g.push[i] = to_stack(mk.labels);
        if (mk.backup) {
            g.has_backup = true;
            g.backup_adj[i] = acquire_adjacency(*mk.backup);
            g.backup_push[i] = to_stack(mk.backup_labels);
        }
    }
    uint32_t index = tables_.alloc_group();
    tables_.set_group(index, g);
    groups_[key] = Slot{index, 1};
    return index;
}

void FibPublisher::release_group(const GroupKey& key) {
    auto it = groups_.find(key);
    if (it == groups_.end() || --it->second.refs) return;
    tables_.free_group(it->second.index);
    for (const MemberKey& m : key.members) {
        release_adjacency(m.adj);
        if (m.backup) release_adjacency(*m.backup);
    }
    groups_.erase(it);
}

uint16_t FibPublisher::vrf_of(const IfRuntime& r) const {
    if (r.cfg.vrf.empty()) return 0;
    auto it = vrf_ids_.find(r.cfg.vrf);
    return it == vrf_ids_.end() ? uint16_t(kMaxVrfs) : it->second;  // kMaxVrfs: table not created, looks up nothing
}

std::optional<uint16_t> FibPublisher::vrf_id(const std::string& name) const {
    if (name.empty() || name == "default") return 0;
    auto it = vrf_ids_.find(name);
    if (it == vrf_ids_.end()) return std::nullopt;
    return it->second;
}

const std::string& FibPublisher::vrf_name(uint16_t vrf) const {
    static const std::string def = "default", none = "?";
    if (vrf == 0) return def;
    return vrf < kMaxVrfs && !vrf_names_[vrf].empty() ? vrf_names_[vrf] : none;
}

LabelBlock FibPublisher::srgb_of(const IpAddr& neighbor) const {
    auto it = config_->sr.neighbor_srgbs.find(neighbor);
    if (it != config_->sr.neighbor_srgbs.end()) return it->second;
    return config_->sr.srgb.value_or(LabelBlock{});  // homogeneous SRGBs, the common deployment
}

std::optional<FibPublisher::AdjKey> FibPublisher::resolve_gateway(const IpAddr& gateway, const std::string& ifname,
                                                                   uint16_t vrf, std::string& why) const {
    if (!ifname.empty()) {
        auto it = ifs_.find(ifname);
        if (it == ifs_.end() || !iface_up(it->second)) {
            why = fmt::format("interface {} is down", ifname);
            return std::nullopt;
        }
        return AdjKey{it->second.ifindex, gateway};
    }
    const IfRuntime* best = nullptr;
    int best_len = -1;
    for (auto& [n, r] : ifs_) {
        if (!iface_up(r) || vrf_of(r) != vrf) continue;
        for (const Prefix& a : r.cfg.addresses)
            if (a.contains(gateway) && int(a.len) > best_len && a.addr != gateway) {
                best = &r;
                best_len = a.len;
            }
    }
    if (!best) {
        why = fmt::format("gateway {} is not on any connected subnet of an up interface{}", gateway.str(),
                          vrf ? " in vrf " + vrf_name(vrf) : std::string());
        return std::nullopt;
    }
    return AdjKey{best->ifindex, gateway};
}

std::optional<FibPublisher::MemberKey> FibPublisher::resolve_member(const IpAddr& gateway, const std::string& ifname,
                                                                     const LabelList& labels,
                                                                     const std::optional<BackupPath>& backup,
                                                                     uint16_t vrf, std::string& why) const {
    std::optional<AdjKey> primary = resolve_gateway(gateway, ifname, vrf, why);
    std::optional<AdjKey> repair;
    std::string backup_why;
    if (backup) repair = resolve_gateway(backup->gateway, backup->ifname, vrf, backup_why);
    if (!primary && !repair) return std::nullopt;
    if (!primary) return MemberKey{*repair, backup->labels, std::nullopt, {}};  // the backup is all that is left
    MemberKey m{*primary, labels, std::nullopt, {}};
    if (repair) {
        m.backup = repair;
        m.backup_labels = backup->labels;
    }
    return m;
}

const std::vector<RouteNextHop>* FibPublisher::configured_routes(const RouteKey& k) const {
    if (!config_) return nullptr;
    const RouteTable* table = &config_->routes;
    if (k.vrf != 0) {
        auto v = config_->vrfs.find(vrf_name(k.vrf));
        if (v == config_->vrfs.end()) return nullptr;
        table = &v->second.routes;
    }
    auto it = table->find(k.prefix);
    return it == table->end() ? nullptr : &it->second;
}

std::optional<std::string> FibPublisher::resolve_static(const RouteKey& k, const std::vector<RouteNextHop>& hops,
                                                         GroupKey& key) const {
    std::string last_error;
    for (const RouteNextHop& h : hops) {
        switch (h.kind) {
            case RouteNextHop::Kind::blackhole: key.kind = NhKind::blackhole; return std::nullopt;
            case RouteNextHop::Kind::unreachable: key.kind = NhKind::unreachable; return std::nullopt;
            case RouteNextHop::Kind::next_vrf: {
                auto target = vrf_id(h.target);
                if (!target) return fmt::format("vrf {} has no tables", h.target);
                key.kind = NhKind::vrf_lookup;
                key.vrf = *target;
                return std::nullopt;
            }
            case RouteNextHop::Kind::attached: {
                auto it = ifs_.find(h.ifname);
                if (it == ifs_.end() || !iface_up(it->second)) {
                    last_error = fmt::format("interface {} is down", h.ifname);
                    continue;
                }
                key.kind = NhKind::glean;
                key.ifindex = it->second.ifindex;
                key.members.clear();
                return std::nullopt;
            }
            case RouteNextHop::Kind::policy: {
                auto pol = config_->sr.policies.find(h.target);
                if (pol == config_->sr.policies.end()) {
                    last_error = fmt::format("no segment-routing policy {}", h.target);
                    continue;
                }
                // The policy's segment list is imposed; its first hop is in the default table.
                auto m = resolve_member(pol->second.gateway, pol->second.ifname, pol->second.segments, std::nullopt, 0,
                                        last_error);
                if (!m) continue;
                key.kind = NhKind::forward;
                key.members.push_back(std::move(*m));
                break;
            }
            case RouteNextHop::Kind::via: {
                LabelList labels = h.labels;
                // A prefix with a prefix-SID gets its label from the next hop's SRGB (RFC 8660).
                if (labels.empty() && k.vrf == 0 && config_->sr.srgb) {
                    auto sid = config_->sr.prefix_sids.find(k.prefix);
                    if (sid != config_->sr.prefix_sids.end()) labels = {srgb_of(h.gateway).lo + sid->second};
                }
                auto m = resolve_member(h.gateway, h.ifname, labels, h.backup, k.vrf, last_error);
                if (!m) continue;
                key.kind = NhKind::forward;
                key.members.push_back(std::move(*m));
                break;
            }
        }
    }
    if (key.members.empty())
        return last_error.empty() ? fmt::format("route {} has no usable next hop", k.prefix.str()) : last_error;
    std::sort(key.members.begin(), key.members.end());
    key.members.erase(std::unique(key.members.begin(), key.members.end()), key.members.end());
    if (key.members.size() > kMaxEcmp) key.members.resize(kMaxEcmp);
    return std::nullopt;
}

std::optional<FibPublisher::Want> FibPublisher::desired(const RouteKey& k) const {
    const Prefix& p = k.prefix;
    const unsigned bits = p.addr.bits();
    for (auto& [n, r] : ifs_) {
        if (!iface_up(r) || vrf_of(r) != k.vrf) continue;
        for (const Prefix& a : r.cfg.addresses) {
            if (a.addr.family != p.addr.family) continue;
            if (p.len == bits && a.addr == p.addr) return Want{RouteSource::local, GroupKey{NhKind::local, r.ifindex, 0, {}}};
        }
    }
    if (p.len == bits) {
        for (auto& [adj, mac] : neigh_) {
            if (adj.next_hop != p.addr) continue;
            const IfRuntime* r = runtime(adj.ifindex);
            if (!r || !iface_up(*r) || vrf_of(*r) != k.vrf) continue;
            for (const Prefix& a : r->cfg.addresses)
                if (a.len < bits && a.contains(p.addr))
                    return Want{RouteSource::neighbor, GroupKey{NhKind::forward, kNoInterface, 0, {MemberKey{adj, {}, {}, {}}}}};
        }
    }
    for (auto& [n, r] : ifs_) {
        if (!iface_up(r) || vrf_of(r) != k.vrf) continue;
        for (const Prefix& a : r.cfg.addresses)
            if (a.addr.family == p.addr.family && a.len < bits && a.network() == p)
                return Want{RouteSource::connected, GroupKey{NhKind::glean, r.ifindex, 0, {}}};
    }
    return std::nullopt;
}

namespace {
PublishProblem route_problem(const Prefix& p, const std::string& why) {
    return {PublishProblem::Kind::route, p.str(), fmt::format("route {} not installed: {}", p.str(), why)};
}
}  // namespace

void FibPublisher::stage_prefix(const RouteKey& k, PublishProblems& problems) {
    std::optional<Want> want = desired(k);
    unresolved_.erase(k);
    if (!want) {
        if (const auto* hops = configured_routes(k)) {
            GroupKey key;
            if (auto err = resolve_static(k, *hops, key)) unresolved_[k] = *err;
            else want = Want{RouteSource::static_route, std::move(key)};
        } else if (const auto* gateways = k.vrf == 0 && protocol_routes_ ? protocol_routes_->find(k.prefix) : nullptr) {
            // BGP: its next hops are resolved already (Rib's resolver): each
            // is on a connected subnet; the ones that are not are left out.
            GroupKey key;
            std::string why;
            for (const IpAddr& gw : *gateways)
                if (auto m = resolve_member(gw, {}, {}, std::nullopt, 0, why)) key.members.push_back(std::move(*m));
            if (key.members.empty()) {
                unresolved_[k] = why;
            } else {
                std::sort(key.members.begin(), key.members.end());
                key.members.erase(std::unique(key.members.begin(), key.members.end()), key.members.end());
                if (key.members.size() > kMaxEcmp) key.members.resize(kMaxEcmp);
                want = Want{RouteSource::bgp, std::move(key)};
            }
        }
    }
    auto cur = fib_.find(k);
    if (!want) {
        if (cur != fib_.end()) staged_.push_back(StagedRoute{k, std::nullopt, 0});
        if (auto un = unresolved_.find(k); un != unresolved_.end()) problems.push_back(route_problem(k.prefix, un->second));
        return;
    }
    if (cur != fib_.end() && cur->second.key == want->key) {
        cur->second.source = want->source;
        return;
    }
    uint32_t index;
    try {
        index = acquire_group(want->key);
    } catch (const std::exception& e) {
        unresolved_[k] = e.what();
        problems.push_back(route_problem(k.prefix, e.what()));
        return;
    }
    staged_.push_back(StagedRoute{k, std::move(want), index});
}

void FibPublisher::flush_routes(PublishProblems& problems) {
    if (staged_.empty()) return;
    std::vector<ForwardingTables::RouteUpdate> updates;
    updates.reserve(staged_.size());
    for (const StagedRoute& s : staged_) updates.push_back({s.key.prefix, s.key.vrf, !s.want, s.group, 0});
    tables_.update_routes(updates);
    // Old groups are released only now: no FIB copy points at them any more.
    for (size_t i = 0; i < staged_.size(); ++i) {
        StagedRoute& s = staged_[i];
        const int rc = updates[i].rc;
        auto cur = fib_.find(s.key);
        if (!s.want) {
            if (cur != fib_.end()) {
                GroupKey old = cur->second.key;
                fib_.erase(cur);
                release_group(old);
            }
            continue;
        }
        if (rc != 0) {
            release_group(s.want->key);
            const std::string why = fmt::format("FIB refused it ({})", strerror(-rc));
            unresolved_[s.key] = why;
            problems.push_back(route_problem(s.key.prefix, why));
            continue;
        }
        if (cur != fib_.end()) {
            GroupKey old = cur->second.key;
            cur->second = std::move(*s.want);
            release_group(old);
        } else {
            fib_.emplace(s.key, std::move(*s.want));
        }
    }
    staged_.clear();
}

void FibPublisher::collect_prefixes(std::vector<RouteKey>& out) const {
    for (auto& [n, r] : ifs_) {
        if (!r.present) continue;
        const uint16_t vrf = vrf_of(r);
        for (const Prefix& a : r.cfg.addresses) {
            out.push_back({vrf, host_prefix(a.addr)});
            if (a.len < a.addr.bits()) out.push_back({vrf, a.network()});
        }
    }
    for (auto& [k, mac] : neigh_) {
        const IfRuntime* r = runtime(k.ifindex);
        out.push_back({r ? vrf_of(*r) : uint16_t(0), host_prefix(k.next_hop)});
    }
    if (config_) {
        for (auto& [p, hops] : config_->routes) out.push_back({0, p});
        for (auto& [name, v] : config_->vrfs)
            if (auto id = vrf_id(name))
                for (auto& [p, hops] : v.routes) out.push_back({*id, p});
    }
    if (protocol_routes_) protocol_routes_->for_each([&](const Prefix& p, const auto&) { out.push_back({0, p}); });
    for (auto& [k, why] : unresolved_) out.push_back(k);
    for (auto& [k, w] : fib_) out.push_back(k);
}

PublishProblems FibPublisher::sync_protocol_routes(const std::vector<Prefix>& prefixes) {
    PublishProblems problems;
    if (!config_) return problems;  // nothing installed yet: the first sync() reads the table
    for (const Prefix& p : prefixes) stage_prefix(RouteKey{0, p}, problems);
    flush_routes(problems);
    sync_labels(problems);  // prefix SIDs follow the routes they label
    return problems;
}

PublishProblems FibPublisher::sync(const RunningConfig& config, const ChangeSet& change) {
    switch (change.routes) {
        case ChangeSet::Routes::all: return reconcile(config, true, {});
        case ChangeSet::Routes::listed: return reconcile(config, false, change.prefixes);
        case ChangeSet::Routes::unchanged:
        case ChangeSet::Routes::some: break;
    }
    return reconcile(config, false, {});
}

void FibPublisher::sync_vrfs(PublishProblems& problems) {
    for (auto& [name, v] : config_->vrfs) {
        if (vrf_ids_.count(name)) continue;
        uint16_t id = 1;
        while (id < kMaxVrfs && !vrf_names_[id].empty()) ++id;
        if (id == kMaxVrfs) {
            problems.push_back({PublishProblem::Kind::vrf, name, fmt::format("vrf {}: at most {} VRFs", name, kMaxVrfs - 1)});
            continue;
        }
        try {
            tables_.create_vrf(id);
        } catch (const std::exception& e) {
            problems.push_back({PublishProblem::Kind::vrf, name, fmt::format("vrf {}: {}", name, e.what())});
            continue;
        }
        vrf_ids_[name] = id;
        vrf_names_[id] = name;
    }
}

PublishProblems FibPublisher::reconcile(const RunningConfig& config, bool sweep_routes,
                                        const std::vector<RouteRef>& listed) {
    PublishProblems problems;
    const bool interfaces_changed = config.interfaces != interfaces_ || fib_.empty();
    interfaces_ = config.interfaces;
    config_ = &config;
    tables_.set_icmp_rate_pps(config.icmp_rate_pps);
    tables_.set_label_range(config.mpls.label_lo, config.mpls.label_hi);
    tables_.set_ttl_pipe(config.mpls.ttl_mode == TtlMode::pipe);
    sync_vrfs(problems);

    std::vector<RouteKey> touched;
    if (interfaces_changed) {
        for (auto& [n, r] : ifs_) r.present = false;
        for (auto& [name, ic] : config.interfaces) {
            auto it = ifs_.find(name);
            if (ic.is_port()) {
                if (it == ifs_.end()) {
                    problems.push_back({PublishProblem::Kind::interface, name,
                                        fmt::format("interface {} has no opened port", name)});
                    continue;
                }
            } else if (it == ifs_.end()) {
                auto parent = ifs_.find(ic.parent);
                if (parent == ifs_.end()) continue;
                IfRuntime r;
                r.ifindex = 0;
                while (r.ifindex < kMaxInterfaces && !names_[r.ifindex].empty()) ++r.ifindex;
                if (r.ifindex == kMaxInterfaces) {
                    problems.push_back({PublishProblem::Kind::interface, name,
                                        fmt::format("interface {}: interface table full", name)});
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
        std::vector<RouteKey> old_hosts;
        for (auto& [k, mac] : neigh_) {
            for (uint16_t vrf = 0; vrf < kMaxVrfs; ++vrf)  // the interface may have changed VRF
                if (vrf == 0 || !vrf_names_[vrf].empty()) old_hosts.push_back({vrf, host_prefix(k.next_hop)});
        }
        neigh_ = learned_neigh_;
        for (auto& [k, mac] : static_neigh_) neigh_[k] = mac;
        touched.insert(touched.end(), old_hosts.begin(), old_hosts.end());
        for (auto& [n, r] : ifs_)
            if (r.present) publish_interface(r);
        for (auto& [k, slot] : adjs_) tables_.set_adjacency(slot.index, build_adjacency(k));
        collect_prefixes(touched);
    } else if (sweep_routes) {
        collect_prefixes(touched);
    } else {
        std::vector<std::string> unknown;  // each VRF reported once, however many of its routes are listed
        for (const RouteRef& r : listed) {
            if (auto id = vrf_id(r.vrf)) touched.push_back({*id, r.prefix.network()});
            else if (std::find(unknown.begin(), unknown.end(), r.vrf) == unknown.end()) unknown.push_back(r.vrf);
        }
        for (auto& v : unknown) problems.push_back({PublishProblem::Kind::vrf, v, fmt::format("vrf {} has no tables", v)});
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const RouteKey& k : touched) stage_prefix(k, problems);
    flush_routes(problems);
    sync_labels(problems);

    // VRFs that left the configuration: their routes are gone, free the tables.
    for (auto it = vrf_ids_.begin(); it != vrf_ids_.end();) {
        if (config.vrfs.count(it->first)) {
            ++it;
            continue;
        }
        const uint16_t id = it->second;
        bool in_use = false;
        for (auto& [k, w] : fib_) in_use |= k.vrf == id;
        if (in_use) {
            ++it;
            continue;
        }
        tables_.destroy_vrf(id);
        vrf_names_[id].clear();
        it = vrf_ids_.erase(it);
    }

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
    const IfRuntime* r = runtime(ifindex);
    PublishProblems ignored;  // a host route that does not install is shown by `show route`
    stage_prefix({r ? vrf_of(*r) : uint16_t(0), host_prefix(ip)}, ignored);
    flush_routes(ignored);
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

std::vector<InstalledNextHop> FibPublisher::describe_members(const std::vector<MemberKey>& members) const {
    std::vector<InstalledNextHop> out;
    for (const MemberKey& m : members) {
        InstalledNextHop nh;
        nh.ifindex = m.adj.ifindex;
        nh.address = m.adj.next_hop;
        auto n = neigh_.find(m.adj);
        nh.resolved = n != neigh_.end();
        if (nh.resolved) nh.mac = n->second;
        nh.labels = m.labels;
        if (m.backup) {
            nh.backup_ifindex = m.backup->ifindex;
            nh.backup_address = m.backup->next_hop;
            nh.backup_labels = m.backup_labels;
        }
        out.push_back(std::move(nh));
    }
    return out;
}

InstalledRoute FibPublisher::describe(const RouteKey& k, const Want& w) const {
    InstalledRoute r{k.prefix, w.source, w.key.kind, w.key.ifindex, describe_members(w.key.members)};
    r.vrf = k.vrf;
    r.target_vrf = w.key.vrf;
    return r;
}

std::vector<InstalledRoute> FibPublisher::installed_routes(std::optional<Family> family, uint16_t vrf,
                                                           std::optional<RouteSource> only) const {
    std::vector<InstalledRoute> out;
    for (auto it = fib_.lower_bound(RouteKey{vrf, Prefix{}}); it != fib_.end() && it->first.vrf == vrf; ++it)
        if ((!family || it->first.prefix.addr.family == *family) && (!only || it->second.source == *only))
            out.push_back(describe(it->first, it->second));
    return out;
}

std::optional<InstalledRoute> FibPublisher::installed_route(const Prefix& prefix, uint16_t vrf) const {
    auto it = fib_.find(RouteKey{vrf, prefix.network()});
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

namespace rampart {

void FibPublisher::sync_labels(PublishProblems& problems) {
    if (!config_) return;
    std::map<uint32_t, LabelWant> want;
    unresolved_labels_.clear();
    auto forward_paths = [&](uint32_t label, const std::string& owner, const std::vector<MplsPath>& paths) {
        GroupKey key;
        std::string why;
        for (const MplsPath& path : paths)
            if (auto m = resolve_member(path.gateway, path.ifname, path.labels, path.backup, 0, why))
                key.members.push_back(std::move(*m));
        if (key.members.empty()) {
            unresolved_labels_[label] = why.empty() ? "no usable path" : why;
            return;
        }
        std::sort(key.members.begin(), key.members.end());
        key.members.erase(std::unique(key.members.begin(), key.members.end()), key.members.end());
        want[label] = LabelWant{owner, std::move(key)};
    };
    auto lookup = [&](uint32_t label, const std::string& owner, const std::string& vrf) {
        auto id = vrf_id(vrf);
        if (!id) {
            unresolved_labels_[label] = fmt::format("vrf {} has no tables", vrf);
            return;
        }
        want[label] = LabelWant{owner, GroupKey{NhKind::vrf_lookup, kNoInterface, *id, {}}};
    };

    for (auto& [label, ilm] : config_->mpls.ilm) {
        switch (ilm.action) {
            case IlmConfig::Action::forward: forward_paths(label, "static", ilm.paths); break;
            case IlmConfig::Action::lookup: lookup(label, "static", ilm.vrf); break;
            case IlmConfig::Action::drop: want[label] = LabelWant{"static", GroupKey{NhKind::blackhole, kNoInterface, 0, {}}}; break;
        }
    }
    for (auto& [name, v] : config_->vrfs)
        if (v.label) lookup(*v.label, "vpn label of vrf " + name, name);
    for (auto& [label, path] : config_->sr.adjacency_sids)
        forward_paths(label, "adjacency-sid", {path});
    for (auto& [name, pol] : config_->sr.policies)
        if (pol.binding_sid)
            forward_paths(*pol.binding_sid, "binding-sid of policy " + name,
                          {MplsPath{pol.gateway, pol.ifname, pol.segments, std::nullopt}});
    if (config_->sr.srgb) {
        const LabelBlock ours = *config_->sr.srgb;
        for (auto& [prefix, index] : config_->sr.prefix_sids) {
            const uint32_t label = ours.lo + index;
            const std::string owner = "prefix-sid " + prefix.str();
            auto route = fib_.find(RouteKey{0, prefix.network()});
            if (route != fib_.end() && route->second.source == RouteSource::local) {
                // Our own node SID: pop, and look up what is under it.
                want[label] = LabelWant{owner + " (node, local)", GroupKey{NhKind::vrf_lookup, kNoInterface, 0, {}}};
                continue;
            }
            if (route == fib_.end() || route->second.key.kind != NhKind::forward) {
                unresolved_labels_[label] = fmt::format("{}: no forwarding route to {}", owner, prefix.str());
                continue;
            }
            // Swap to the same index in each next hop's SRGB; the repair path too.
            GroupKey key;
            for (const MemberKey& m : route->second.key.members) {
                MemberKey sm{m.adj, {srgb_of(m.adj.next_hop).lo + index}, m.backup, {}};
                if (m.backup) {
                    sm.backup_labels = m.backup_labels;
                    if (sm.backup_labels.empty() || sm.backup_labels.back() != srgb_of(m.backup->next_hop).lo + index)
                        sm.backup_labels.push_back(srgb_of(m.backup->next_hop).lo + index);
                    if (sm.backup_labels.size() > kMaxPushLabels) sm.backup_labels.resize(kMaxPushLabels);
                }
                key.members.push_back(std::move(sm));
            }
            want[label] = LabelWant{owner, std::move(key)};
        }
    }

    // Retire what went away, install what is new or changed.
    for (auto it = labels_.begin(); it != labels_.end();) {
        if (want.count(it->first)) {
            ++it;
            continue;
        }
        tables_.clear_label(it->first);
        release_group(it->second.want.key);
        tables_.free_label_counter(it->second.counter);
        it = labels_.erase(it);
    }
    for (auto& [label, w] : want) {
        auto cur = labels_.find(label);
        if (cur != labels_.end() && cur->second.want.key == w.key) {
            cur->second.want.owner = w.owner;
            continue;
        }
        uint32_t group;
        try {
            group = acquire_group(w.key);
        } catch (const std::exception& e) {
            unresolved_labels_[label] = e.what();
            problems.push_back({PublishProblem::Kind::label, std::to_string(label),
                                fmt::format("label {} not installed: {}", label, e.what())});
            continue;
        }
        if (cur != labels_.end()) {
            tables_.set_label(label, group, cur->second.counter);
            release_group(cur->second.want.key);
            cur->second.want = w;
            cur->second.group = group;
            continue;
        }
        uint32_t counter;
        try {
            counter = tables_.alloc_label_counter();
        } catch (const std::exception& e) {
            release_group(w.key);
            unresolved_labels_[label] = e.what();
            problems.push_back({PublishProblem::Kind::label, std::to_string(label),
                                fmt::format("label {} not installed: {}", label, e.what())});
            continue;
        }
        new_label_counters_.push_back(counter);
        tables_.set_label(label, group, counter);
        labels_.emplace(label, LabelState{w, group, counter});
    }
}

std::vector<InstalledLabel> FibPublisher::installed_labels() const {
    std::vector<InstalledLabel> out;
    for (auto& [label, st] : labels_)
        out.push_back({label, st.want.owner, st.want.key.kind, st.want.key.vrf, describe_members(st.want.key.members),
                       st.counter});
    return out;
}

std::optional<InstalledLabel> FibPublisher::installed_label(uint32_t label) const {
    auto it = labels_.find(label);
    if (it == labels_.end()) return std::nullopt;
    const LabelState& st = it->second;
    return InstalledLabel{label, st.want.owner, st.want.key.kind, st.want.key.vrf,
                          describe_members(st.want.key.members), st.counter};
}

}  // namespace rampart
