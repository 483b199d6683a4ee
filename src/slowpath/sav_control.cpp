#include "slowpath/sav_control.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.hpp"

namespace rampart {

namespace {
std::vector<sav::SavRule> all_rules(const sav::RuleCompiler& c) {
    auto rules = c.rules(Family::v4);
    auto v6 = c.rules(Family::v6);
    rules.insert(rules.end(), v6.begin(), v6.end());
    return rules;
}
}  // namespace

SavControl::SavControl(ForwardingTables& tables, const FibPublisher& fib, const sav::SavTableSizes& sizes)
    : tables_(tables), fib_input_(fib), sizes_(sizes), compiler_(std::make_unique<sav::RuleCompiler>(0)) {}

SavControl::~SavControl() {
    if (publisher_) {
        tables_.set_sav(nullptr);
        tables_.synchronize();  // no worker reads the publisher's tables any more
    }
}

bool SavControl::active(const RunningConfig& cfg) const {
    for (auto& [n, i] : cfg.interfaces)
        if (i.sav != sav::Mechanism::off) return true;
    return false;
}

std::optional<sav::InterfaceSet> SavControl::fib_egress(const InstalledRoute& r) {
    sav::InterfaceSet s;
    switch (r.kind) {
        case NhKind::forward:
            for (auto& nh : r.next_hops)
                if (nh.ifindex < sav::kMaxSavInterfaces) s.add(nh.ifindex);
            return s;
        case NhKind::glean:  // connected subnet
            if (r.ifindex < sav::kMaxSavInterfaces) s.add(r.ifindex);
            return s;
        case NhKind::blackhole:
        case NhKind::unreachable: return s;  // a discard route: covers nothing (rules.hpp)
        default: return std::nullopt;        // our own addresses, route leaking: not a path back
    }
}

void SavControl::sync_fib_prefix(const Prefix& p) {
    auto r = fib_input_.installed_route(p, 0);
    std::optional<sav::InterfaceSet> want;
    if (r && r->prefix == p) want = fib_egress(*r);
    auto it = fib_.find(p);
    if (!want) {
        if (it != fib_.end()) {
            compiler_->remove_fib_route(p);
            fib_.erase(it);
        }
        return;
    }
    if (it != fib_.end() && it->second == *want) return;
    compiler_->set_fib_route(p, *want);
    fib_[p] = *want;
}

void SavControl::sync_inputs(const RunningConfig& cfg, FibInput fib_input, const std::vector<Prefix>& listed) {
    const FibPublisher& fib = fib_input_;
    if (cfg.sav.local_asn != local_asn_) {
        local_asn_ = cfg.sav.local_asn;
        compiler_ = std::make_unique<sav::RuleCompiler>(local_asn_);
        feed_everything();
    }
    // Interfaces: the ones that exist in the data plane, by ifindex.
    std::map<uint16_t, sav::InterfaceConfig> want;
    std::map<std::string, uint16_t> ids;
    for (auto& [name, ic] : cfg.interfaces) {
        auto ifx = fib.ifindex_of(name);
        if (!ifx || *ifx >= sav::kMaxSavInterfaces) continue;
        sav::InterfaceConfig s;
        s.id = *ifx;
        s.name = name;
        s.role = ic.sav_role;
        s.mechanism = ic.sav;
        s.neighbor_asn = ic.sav_neighbor_asn;
        want[*ifx] = s;
        ids[name] = *ifx;
    }
    for (auto it = ifaces_.begin(); it != ifaces_.end();) {
        auto w = want.find(it->first);
        if (w == want.end() || w->second.name != it->second.name) {
            compiler_->remove_interface(it->first);  // and its Adj-RIB-In
            live_ribs_.erase(it->first);
            ribs_.erase(it->second.name);
            rib_files_.erase(it->second.name);
            it = ifaces_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& [id, s] : want) {
        auto it = ifaces_.find(id);
        if (it != ifaces_.end() && it->second.role == s.role && it->second.mechanism == s.mechanism &&
            it->second.neighbor_asn == s.neighbor_asn)
            continue;
        const bool added = it == ifaces_.end();
        compiler_->set_interface(s);
        ifaces_[id] = s;
        if (added) feed_live(id);  // BGP routes that arrived before the compiler knew the interface
    }
    ifindex_of_ = std::move(ids);
    // Operator lists.
    std::map<Prefix, sav::InterfaceSet> allow, deny;
    for (auto& [p, names] : cfg.sav.allow) {
        sav::InterfaceSet s;
        for (auto& n : names)
            if (auto it = ifindex_of_.find(n); it != ifindex_of_.end()) s.add(it->second);
        allow[p] = s;
    }
    for (auto& p : cfg.sav.deny) deny[p] = sav::InterfaceSet{};
    auto sync_list = [&](std::map<Prefix, sav::InterfaceSet>& have, const std::map<Prefix, sav::InterfaceSet>& now,
                         bool is_allow) {
        for (auto it = have.begin(); it != have.end();) {
            if (!now.count(it->first)) {
                is_allow ? compiler_->remove_allow(it->first) : compiler_->remove_deny(it->first);
                it = have.erase(it);
            } else {
                ++it;
            }
        }
        for (auto& [p, s] : now) {
            auto it = have.find(p);
            if (it != have.end() && it->second == s) continue;
            is_allow ? compiler_->set_allow(p, s) : compiler_->set_deny(p, s);
            have[p] = s;
        }
    };
    sync_list(allow_, allow, true);
    sync_list(deny_, deny, false);
    // The local FIB: the listed prefixes after route changes, otherwise all of it.
    if (fib_loaded_ && fib_input == FibInput::unchanged) {
    } else if (fib_loaded_ && fib_input == FibInput::listed) {
        for (const Prefix& p : listed) sync_fib_prefix(p);
    } else {
        std::map<Prefix, sav::InterfaceSet> now;
        for (const InstalledRoute& r : fib.installed_routes(std::nullopt, 0))
            if (auto e = fib_egress(r)) now[r.prefix] = *e;
        for (auto it = fib_.begin(); it != fib_.end();) {
            if (!now.count(it->first)) {
                compiler_->remove_fib_route(it->first);
                it = fib_.erase(it);
            } else {
                ++it;
            }
        }
        for (auto& [p, s] : now) {
            auto it = fib_.find(p);
            if (it != fib_.end() && it->second == s) continue;
            compiler_->set_fib_route(p, s);
            fib_[p] = s;
        }
        fib_loaded_ = true;
    }
}

void SavControl::feed_rib(uint16_t id, const sav::MrtDump& dump) {
    sav::feed_mrt(*compiler_, dump, [id](const sav::MrtPeer&) { return std::optional<uint16_t>(id); });
}

void SavControl::feed_live(uint16_t id) {
    auto it = live_ribs_.find(id);
    if (it == live_ribs_.end()) return;
    for (auto& [p, r] : it->second) compiler_->announce(id, r);
}

PublishProblems SavControl::apply_adj_rib_in(const RunningConfig& cfg, const std::vector<AdjRibInChange>& changes,
                                             bool publish_now) {
    for (const AdjRibInChange& c : changes) {
        auto& rib = live_ribs_[c.iface];
        const bool known = ifaces_.count(c.iface) != 0;
        if (c.route) {
            rib[c.prefix] = *c.route;
            if (known) compiler_->announce(c.iface, *c.route);
        } else if (rib.erase(c.prefix) && known) {
            compiler_->withdraw(c.iface, c.prefix);
        }
    }
    // With SAV off everywhere nothing is compiled nor allocated (see sync).
    if (!publish_now || (!publisher_ && !active(cfg))) return {};
    if (!publisher_) return sync(cfg, ChangeSet{});  // the first time: every input, then the table
    if (auto bad = publish()) return {*bad};
    return {};
}

void SavControl::feed_everything() {
    for (auto& [id, s] : ifaces_) compiler_->set_interface(s);
    for (auto& [id, s] : ifaces_) feed_live(id);
    for (auto& [name, dump] : ribs_)
        if (auto it = ifindex_of_.find(name); it != ifindex_of_.end()) feed_rib(it->second, *dump);
    for (auto& [p, s] : fib_) compiler_->set_fib_route(p, s);
    for (auto& [p, s] : allow_) compiler_->set_allow(p, s);
    for (auto& [p, s] : deny_) compiler_->set_deny(p, s);
    feed_rpki();
}

void SavControl::feed_rpki() {
    if (rtr_rpki_.roas.empty() && rtr_rpki_.aspas.empty()) {
        compiler_->set_roas(rpki_.roas);
        compiler_->set_aspas(rpki_.aspas);
        return;
    }
    std::vector<sav::Roa> roas = rpki_.roas;
    roas.insert(roas.end(), rtr_rpki_.roas.begin(), rtr_rpki_.roas.end());
    std::sort(roas.begin(), roas.end());
    roas.erase(std::unique(roas.begin(), roas.end()), roas.end());
    std::map<sav::Asn, std::vector<sav::Asn>> by_customer;
    for (const sav::RpkiSet* set : {&rpki_, &rtr_rpki_})
        for (const sav::Aspa& a : set->aspas) {
            auto& p = by_customer[a.customer];
            p.insert(p.end(), a.providers.begin(), a.providers.end());
        }
    std::vector<sav::Aspa> aspas;
    for (auto& [customer, providers] : by_customer) {
        std::sort(providers.begin(), providers.end());
        providers.erase(std::unique(providers.begin(), providers.end()), providers.end());
        aspas.push_back(sav::Aspa{customer, std::move(providers)});
    }
    compiler_->set_roas(std::move(roas));
    compiler_->set_aspas(std::move(aspas));
}

std::optional<PublishProblem> SavControl::set_rtr_rpki(sav::RpkiSet set, const RunningConfig& cfg) {
    rtr_rpki_ = std::move(set);
    // With SAV off everywhere nothing is compiled: a later start feeds the union.
    if (!publisher_ && !active(cfg)) {
        feed_rpki();
        return std::nullopt;
    }
    sync_inputs(cfg, fib_loaded_ ? FibInput::unchanged : FibInput::all);
    feed_rpki();
    return publish();
}

std::optional<PublishProblem> SavControl::publish() {
    compiler_->recompute();
    std::vector<sav::SavRuleChange> changes = compiler_->take_changes();
    try {
        if (!publisher_) {
            // The publisher starts with an empty table: fill it in place.
            // publish_all() would build a second table beside it, and at a
            // full table's size two of them need twice the EAL memory.
            publisher_ = std::make_unique<sav::SavTablePublisher>(tables_.qsbr(), sizes_, SOCKET_ID_ANY);
            changes.clear();
            for (const sav::SavRule& r : all_rules(*compiler_))
                changes.push_back(sav::SavRuleChange{r.prefix, false, r.allowed, r.no_rule});
        }
        // Incremental, even for a whole new Adj-RIB-In (same reason); a
        // rebuild only when that fails (interned sets full, copies out of step).
        if (int rc = publisher_->apply(changes); rc != 0) {
            log::info("sav: incremental update refused ({}): rebuilding the table", rc);
            publisher_->publish_all(all_rules(*compiler_));
        }
        tables_.set_sav(publisher_.get());
    } catch (const std::exception& e) {
        return PublishProblem{PublishProblem::Kind::sav, {},
                              fmt::format("SAV table not updated, the previous rules stay in force: {}", e.what())};
    }
    return std::nullopt;
}

PublishProblems SavControl::sync(const RunningConfig& cfg, const ChangeSet& change) {
    // With SAV off everywhere and nothing loaded nothing is compiled nor allocated.
    if (!publisher_ && !active(cfg)) return {};
    FibInput input = FibInput::all;
    std::vector<Prefix> listed;
    switch (change.routes) {
        case ChangeSet::Routes::unchanged: input = FibInput::unchanged; break;
        case ChangeSet::Routes::listed:
            for (const RouteRef& r : change.prefixes)
                if (r.vrf.empty()) listed.push_back(r.prefix.network());  // other VRFs are no SAV input
            input = listed.empty() ? FibInput::unchanged : FibInput::listed;
            break;
        case ChangeSet::Routes::some:
        case ChangeSet::Routes::all: break;
    }
    sync_inputs(cfg, input, listed);
    if (auto bad = publish()) return {*bad};
    return {};
}

std::optional<std::string> SavControl::load_mrt(const std::string& path, const std::string& ifname,
                                                const RunningConfig& cfg, const FibPublisher& fib, std::string& info) {
    if (!cfg.interfaces.count(ifname)) return fmt::format("unknown interface {}", ifname);
    auto ifx = fib.ifindex_of(ifname);
    if (!ifx || *ifx >= sav::kMaxSavInterfaces) return fmt::format("interface {} is not in the data plane", ifname);
    std::shared_ptr<sav::MrtDump> dump;
    try {
        dump = std::make_shared<sav::MrtDump>(sav::load_mrt_file(path));
    } catch (const sav::MrtError& e) {
        return fmt::format("{}: record {} (offset {}): {}; the previous SAV table stays in force", e.file(),
                           e.record(), e.offset(), e.reason());
    }
    sync_inputs(cfg, FibInput::all);
    const uint16_t id = ifindex_of_.at(ifname);
    // Replace the interface's Adj-RIB-In: drop it (with the interface), feed the new one.
    compiler_->remove_interface(id);
    compiler_->set_interface(ifaces_.at(id));
    feed_rib(id, *dump);
    ribs_[ifname] = dump;
    rib_files_[ifname] = path;
    if (auto bad = publish()) return bad->text;
    info = fmt::format("{}: {} records ({} skipped), {} RIB entries, {} updates loaded as the Adj-RIB-In of {}; "
                       "{} SAV rules\n",
                       path, dump->records, dump->skipped_records, dump->rib.size(), dump->updates.size(), ifname,
                       compiler_->rules(Family::v4).size() + compiler_->rules(Family::v6).size());
    return std::nullopt;
}

std::optional<std::string> SavControl::load_rpki(const std::string& path, const RunningConfig& cfg,
                                                 const FibPublisher& fib, std::string& info) {
    sav::RpkiSet set;
    try {
        set = sav::load_rpki_json_file(path);
    } catch (const sav::RpkiJsonError& e) {
        return fmt::format("{}: {}line {} column {}: {}; the previous SAV table stays in force", e.file(),
                           e.record().empty() ? "" : "record " + e.record() + ", ", e.line(), e.column(), e.reason());
    }
    sync_inputs(cfg, FibInput::all);
    info = fmt::format("{}: {} ROAs, {} ASPAs loaded\n", path, set.roas.size(), set.aspas.size());
    rpki_ = std::move(set);
    rpki_file_ = path;
    feed_rpki();
    if (json_listener_) json_listener_(rpki_);
    if (auto bad = publish()) return bad->text;
    return std::nullopt;
}

std::optional<std::string> SavControl::show_interface(const std::string& ifname, const RunningConfig& cfg,
                                                      const FibPublisher& fib, const CounterView& counters) const {
    auto ic = cfg.interfaces.find(ifname);
    auto ifx = fib.ifindex_of(ifname);
    if (ic == cfg.interfaces.end() || !ifx) return std::nullopt;
    const InterfaceConfig& i = ic->second;
    std::string out = fmt::format("SAV on {} (ifindex {}, SAV interface id {})\n", ifname, *ifx, *ifx);
    const char* mode = i.sav == sav::Mechanism::off ? "off (no lookup)" : i.sav_monitor ? "monitor (count, forward)"
                                                                                         : "enforce (drop, count)";
    out += fmt::format("  mechanism {}, mode {}\n", sav_mechanism_keyword(i.sav), mode);
    out += fmt::format("  neighbour role {}, AS {}\n", sav_role_keyword(i.sav_role),
                       i.sav_neighbor_asn ? std::to_string(i.sav_neighbor_asn) : std::string("unknown"));
    if (auto f = rib_files_.find(ifname); f != rib_files_.end())
        out += fmt::format("  Adj-RIB-In loaded from {}\n", f->second);
    if (i.sav != sav::Mechanism::off && publisher_) {
        size_t allowed = 0, total = 0;
        for (Family fam : {Family::v4, Family::v6})
            for (const sav::SavRule& r : compiler_->rules(fam)) {
                if (r.no_rule) continue;
                ++total;
                if (r.allowed.has(*ifx)) ++allowed;
            }
        out += fmt::format("  rules: {} of {} source prefixes allowed here\n", allowed, total);
    }
    InterfaceCounters c = counters.sum(*ifx);
    out += fmt::format("  dropped: {} no rule, {} wrong interface\n", c.drops[unsigned(Drop::sav_no_rule)],
                       c.drops[unsigned(Drop::sav_wrong_interface)]);
    out += fmt::format("  monitored (forwarded): {} no rule, {} wrong interface\n", c.sav_monitor_no_rule,
                       c.sav_monitor_wrong_interface);
    out += fmt::format("  decrypted tunnel traffic (inner source checked against the SA's selectors): {}\n",
                       c.sav_tunnel_validated);
    return out;
}

std::string SavControl::show_prefix(const Prefix& p, const RunningConfig& cfg, const FibPublisher& fib) const {
    std::string out = fmt::format("SAV for sources in {}\n", p.network().str());
    if (!publisher_) return out + "  SAV is off on every interface\n";
    // The most specific rule covering p.
    std::optional<sav::SavRule> best;
    for (const sav::SavRule& r : compiler_->rules(p.addr.family))
        if (r.prefix.len <= p.len && r.prefix.contains(p.network().addr) && (!best || r.prefix.len >= best->prefix.len))
            best = r;
    if (best)
        out += fmt::format("  rule {}{}\n", best->prefix.str(), best->no_rule ? " (no rule: no input mentions it)" : "");
    for (auto& [id, s] : ifaces_) {
        if (s.mechanism == sav::Mechanism::off) continue;
        const bool ok = best && best->allowed.has(id);
        out += fmt::format("  {} ({}): {}\n", s.name, sav_mechanism_keyword(s.mechanism), ok ? "allowed" : "refused");
        for (auto& line : compiler_->explain(p, id)) out += "    " + line + "\n";
    }
    return out;
}

}  // namespace rampart
