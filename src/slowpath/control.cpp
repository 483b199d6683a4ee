#include "slowpath/control.hpp"

#include <rte_ring.h>
#include <rte_version.h>

#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "common/log.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/show.hpp"

namespace rampart {

Control::Control(ForwardingTables& tables, FibPublisher& fib, KernelMirror* mirror, netlink::Socket* nl,
                 std::vector<WorkerSlot> workers)
    : tables_(tables), fib_(fib), mirror_(mirror), nl_(nl), workers_(std::move(workers)),
      last_(workers_.size()), prev_(workers_.size()) {
    ipsec_ = std::make_unique<IpsecPublisher>(tables_, fib_, ipsec_installed_, unsigned(workers_.size()),
                                              [this](uint32_t slot) { return sa_counters_now(slot); });
    make_sav(sav::SavTableSizes{});
    fib_.set_protocol_routes(&protocol_routes_);
}

void Control::set_sav_sizes(const sav::SavTableSizes& sizes) { make_sav(sizes); }

// The SAV control tells of every JSON RPKI load: the RPKI view takes it as its
// JSON part. A new SavControl starts with the RTR part the view has.
void Control::make_sav(const sav::SavTableSizes& sizes) {
    sav_ = std::make_unique<SavControl>(tables_, fib_, sizes);
    sav_->on_json_rpki([this](const sav::RpkiSet& set) {
        std::vector<rpki::Vrp> vrps;
        vrps.reserve(set.roas.size());
        for (const sav::Roa& r : set.roas) vrps.push_back(rpki::Vrp{r.prefix, r.max_length, r.origin});
        rpki::AspaMap aspas;
        for (const sav::Aspa& a : set.aspas) {
            auto& p = aspas[a.customer];
            p.insert(p.end(), a.providers.begin(), a.providers.end());
        }
        rpki_.replace(rpki::Source::json, std::move(vrps), std::move(aspas));
    });
}

std::string Control::rpki_rtr_update(std::vector<rpki::Vrp> vrps, rpki::AspaMap aspas) {
    sav::RpkiSet set;
    set.roas.reserve(vrps.size());
    for (const rpki::Vrp& v : vrps) set.roas.push_back(sav::Roa{v.prefix, v.max_length, v.asn});
    for (auto& [customer, providers] : aspas) set.aspas.push_back(sav::Aspa{customer, providers});
    if (!rpki_.replace(rpki::Source::rtr, std::move(vrps), std::move(aspas))) return {};
    std::string warnings;
    if (auto bad = sav_->set_rtr_rpki(std::move(set), config_)) {
        log::warn("rpki: {}", bad->text);
        warnings += "% warning: " + bad->text + "\n";
    }
    return warnings;
}

Control::~Control() { fib_.set_protocol_routes(nullptr); }

SaCounters Control::sa_counters_now(uint32_t slot) const {
    SaCounters s{};
    for (auto& w : workers_) {
        if (!w.worker || !w.worker->sa_counters()) continue;
        const auto* from = reinterpret_cast<const uint64_t*>(&w.worker->sa_counters()[slot]);
        auto* to = reinterpret_cast<uint64_t*>(&s);
        for (size_t i = 0; i < sizeof(SaCounters) / sizeof(uint64_t); ++i) to[i] += from[i];
    }
    return s;
}

std::string Control::publish(const ChangeSet& change) {
    PublishProblems problems;
    if (change.sav) {
        // SAV rules first: an interface turning SAV on (published by the
        // FibPublisher below) finds the rules for it already in the table.
        ChangeSet rules = change;
        rules.routes = ChangeSet::Routes::unchanged;  // the FIB input is read after the FIB below
        rules.prefixes.clear();
        append(problems, sav_->sync(config_, rules));
    }
    append(problems, fib_.sync(config_, change));
    if (!change.sav || change.routes != ChangeSet::Routes::unchanged) append(problems, sav_->sync(config_, change));
    if (mirror_) append(problems, mirror_->sync(config_, change));
    {
        std::vector<const Worker*> ws;
        for (auto& s : workers_) ws.push_back(s.worker);
        LabelCounterView raw{ws, nullptr};
        for (uint32_t slot : fib_.take_new_label_counters()) label_baseline_[slot] = raw.sum(slot);
    }
    // IPsec follows the VRFs (tables, ids) and its own configuration; an SPD
    // is recompiled only when one of them changed.
    if (change.ipsec || !ipsec_applied_ || !(*ipsec_applied_ == config_.ipsec) ||
        ipsec_installed_applied_ != ipsec_installed_generation_ || vrfs_applied_.size() != config_.vrfs.size() ||
        !std::equal(vrfs_applied_.begin(), vrfs_applied_.end(), config_.vrfs.begin(),
                    [](auto& a, auto& b) { return a.first == b.first; }))
        append(problems, sync_ipsec(change));
    std::string text;
    for (auto& p : problems) {
        log::warn("{}", p.text);
        text += "% warning: " + p.text + "\n";
    }
    return text;
}

PublishProblems Control::sync_ipsec(const ChangeSet& change) {
    PublishProblems problems = ipsec_->sync(config_, change);
    ipsec_applied_ = config_.ipsec;
    ipsec_installed_applied_ = ipsec_installed_generation_;
    vrfs_applied_ = config_.vrfs;
    return problems;
}

std::optional<std::string> Control::ipsec_not_landed(const IpsecChange& change, const PublishProblems& problems) const {
    // The fast path must hold all of it (SAD room, SPD compilation), or none.
    for (auto& [name, sa] : change.add_sas)
        if (ipsec_installed_.entries.sas.count(name) && !ipsec_->installed(name))  // (a later change of a batch may have removed it)
            return fmt::format("ipsec sa {} not installed: {}", name, ipsec_->not_installed_reason(name));
    for (auto& p : problems)
        if (p.kind == PublishProblem::Kind::ipsec_spd) return p.text;
    return std::nullopt;
}

std::optional<std::string> Control::ipsec_apply(const std::string& owner, const IpsecChange& change) {
    if (ipsec_batch_) {  // validated now, published at the commit
        const size_t sas_noted = ipsec_batch_->sas_before.size(), policies_noted = ipsec_batch_->policies_before.size();
        auto note_sa = [&](const std::string& name) {
            auto sa = ipsec_installed_.entries.sas.find(name);
            if (sa == ipsec_installed_.entries.sas.end()) ipsec_batch_->sas_before.emplace_back(name, std::nullopt);
            else ipsec_batch_->sas_before.emplace_back(name, std::pair{sa->second, ipsec_installed_.sa_owner.at(name)});
        };
        auto note_policy = [&](const std::string& vrf, uint32_t seq) {
            const std::string* holder = ipsec_installed_.owner_of_policy(vrf, seq);
            if (!holder) ipsec_batch_->policies_before.emplace_back(std::pair{vrf, seq}, std::nullopt);
            else
                ipsec_batch_->policies_before.emplace_back(
                    std::pair{vrf, seq}, std::pair{ipsec_installed_.entries.policies.at(vrf).at(seq), *holder});
        };
        for (auto& name : change.remove_sas) note_sa(name);
        for (auto& [name, sa] : change.add_sas) note_sa(name);
        for (auto& [vrf, seq] : change.remove_policies) note_policy(vrf, seq);
        for (auto& p : change.add_policies) note_policy(p.vrf, p.seq);
        if (auto bad = apply_ipsec_change(config_, ipsec_installed_, owner, change)) {
            ipsec_batch_->sas_before.resize(sas_noted);  // nothing of it happened
            ipsec_batch_->policies_before.resize(policies_noted);
            return bad;
        }
        ++ipsec_installed_generation_;
        ipsec_batch_->changes.emplace_back(owner, change);
        return std::nullopt;
    }
    IpsecInstalled before = ipsec_installed_;
    if (auto bad = apply_ipsec_change(config_, ipsec_installed_, owner, change)) return bad;
    ++ipsec_installed_generation_;
    PublishProblems problems = sync_ipsec();
    if (auto failed = ipsec_not_landed(change, problems)) {
        ipsec_installed_ = std::move(before);
        ++ipsec_installed_generation_;
        for (auto& p : sync_ipsec()) log::warn("{}", p.text);
        return failed;
    }
    log::info("ipsec: {} installed {} SA(s), {} policies; removed {} SA(s), {} policies", owner, change.add_sas.size(),
              change.add_policies.size(), change.remove_sas.size(), change.remove_policies.size());
    return std::nullopt;
}

std::optional<std::string> Control::route_apply(const std::string& owner, const OwnedRouteChange& change) {
    if (auto bad = apply_owned_route_change(config_, owner, change)) return bad;
    ChangeSet routes;
    routes.routes = ChangeSet::Routes::listed;
    routes.prefixes.reserve(change.remove.size() + change.add.size());
    for (const Prefix& p : change.remove) routes.prefixes.push_back({std::string(), p.network()});
    for (auto& [p, gateway] : change.add) routes.prefixes.push_back({std::string(), p.network()});
    const std::string warnings = publish(routes);
    if (!warnings.empty()) log::warn("routes of {}: {}", owner, warnings);
    log::info("routes: {} installed {}, removed {}", owner, change.add.size(), change.remove.size());
    return std::nullopt;
}

std::string Control::protocol_routes_apply(const std::vector<ProtocolRouteChange>& changes,
                                           const std::vector<SavControl::AdjRibInChange>& adj_rib_in) {
    std::vector<Prefix> prefixes;
    prefixes.reserve(changes.size());
    for (const ProtocolRouteChange& c : changes) {
        const Prefix p = c.prefix.network();
        protocol_routes_.apply(ProtocolRouteChange{p, c.gateways});
        prefixes.push_back(p);
    }
    std::sort(prefixes.begin(), prefixes.end());
    prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
    PublishProblems problems = fib_.sync_protocol_routes(prefixes);
    append(problems, sav_->apply_adj_rib_in(config_, adj_rib_in, false));  // published by the sync below
    ChangeSet listed;
    listed.routes = ChangeSet::Routes::listed;
    listed.prefixes.reserve(prefixes.size());
    for (const Prefix& p : prefixes) listed.prefixes.push_back({std::string(), p});
    append(problems, sav_->sync(config_, listed));
    if (problems.empty()) return {};
    constexpr size_t kShown = 3;
    std::string text = fmt::format("% warning: {} of {} BGP route change(s) not in the data plane:", problems.size(),
                                   changes.size());
    for (size_t i = 0; i < problems.size() && i < kShown; ++i) text += " " + problems[i].text + ";";
    if (problems.size() > kShown) text += " ...";
    log::warn("{}", text.substr(2));
    return text + "\n";
}

void Control::ipsec_batch_begin() {
    if (!ipsec_batch_) ipsec_batch_.emplace();
}

std::vector<Control::FailedIpsecChange> Control::ipsec_batch_commit() {
    std::vector<FailedIpsecChange> failed;
    if (!ipsec_batch_) return failed;
    IpsecBatch batch = std::move(*ipsec_batch_);
    ipsec_batch_.reset();
    auto wipe_keys = [&] {
        for (auto& [name, was] : batch.sas_before)
            if (was) {
                std::fill(was->first.cipher_key.begin(), was->first.cipher_key.end(), uint8_t{0});
                std::fill(was->first.integrity_key.begin(), was->first.integrity_key.end(), uint8_t{0});
            }
        for (auto& [owner, ch] : batch.changes)
            for (auto& [name, sa] : ch.add_sas) {
                std::fill(sa.cipher_key.begin(), sa.cipher_key.end(), uint8_t{0});
                std::fill(sa.integrity_key.begin(), sa.integrity_key.end(), uint8_t{0});
            }
    };
    if (batch.changes.empty()) return failed;
    PublishProblems problems = sync_ipsec();
    bool landed = true;
    for (auto& [owner, ch] : batch.changes)
        if (ipsec_not_landed(ch, problems)) landed = false;
    if (landed) {
        size_t sas = 0, policies = 0;
        for (auto& [owner, ch] : batch.changes) sas += ch.add_sas.size(), policies += ch.add_policies.size();
        log::info("ipsec: {} change(s) published together: {} SA(s), {} policies added", batch.changes.size(), sas,
                  policies);
        wipe_keys();
        return failed;
    }
    // One at a time from where the batch began: only the bad ones fail.
    log::warn("ipsec: a batch of {} change(s) did not land as a whole: applying them one at a time", batch.changes.size());
    for (auto it = batch.sas_before.rbegin(); it != batch.sas_before.rend(); ++it) {
        auto& [name, was] = *it;
        if (was) {
            ipsec_installed_.entries.sas[name] = std::move(was->first);
            ipsec_installed_.sa_owner[name] = was->second;
        } else {
            ipsec_installed_.entries.sas.erase(name);
            ipsec_installed_.sa_owner.erase(name);
        }
    }
    for (auto it = batch.policies_before.rbegin(); it != batch.policies_before.rend(); ++it) {
        auto& [key, was] = *it;
        if (was) {
            ipsec_installed_.entries.policies[key.first][key.second] = std::move(was->first);
            ipsec_installed_.policy_owner[key] = was->second;
        } else if (auto spd = ipsec_installed_.entries.policies.find(key.first); spd != ipsec_installed_.entries.policies.end()) {
            spd->second.erase(key.second);
            if (spd->second.empty()) ipsec_installed_.entries.policies.erase(spd);
            ipsec_installed_.policy_owner.erase(key);
        }
    }
    reindex_ipsec_installed(ipsec_installed_);
    ++ipsec_installed_generation_;
    for (auto& [owner, ch] : batch.changes)
        if (auto bad = ipsec_apply(owner, ch)) {
            FailedIpsecChange f{owner, {}, *bad};
            for (auto& [name, sa] : ch.add_sas) f.sas.push_back(name);
            failed.push_back(std::move(f));
        }
    wipe_keys();
    return failed;
}

std::string Control::install(const RunningConfig& config) {
    config_ = config;
    // Everything, but SAV with the FIB rather than before it (sav = true
    // would compile the rules once more before there is a FIB to read).
    ChangeSet all = ChangeSet::everything();
    all.sav = false;
    std::string warnings = publish(all);
    for (const config::Section* s : config::sections()) warnings += s->on_install(*this);
    return warnings;
}

CommandResult Control::execute(std::string_view line) {
    auto parsed = cmd::parse(line);
    if (auto* e = std::get_if<cmd::ParseError>(&parsed)) return {false, "% " + e->message + "\n"};
    return execute(std::get<cmd::Parsed>(parsed));
}

CommandResult Control::execute(const cmd::Parsed& c) {
    const config::Section* section = config::section_of(c);
    if (!section) return {false, "% not a command of any section\n"};
    if (c.scope() == cmd::Scope::exec_only) return section->exec(*this, c);
    if (auto refused = section->refuse_live(*this, c)) return {false, "% " + *refused + "\n"};
    if (auto live = section->act_live(*this, c)) {  // done already; the configuration keeps the line
        if (!live->ok) return *live;
        if (auto err = apply_command(config_, c, false)) return {false, "% " + *err + "\n"};
        log::info("config: {}", cmd::redact_secrets(c.line));
        return *live;
    }
    // apply_command changes nothing when it fails: no copy of the configuration needed.
    if (auto err = apply_command(config_, c, false)) return {false, "% " + *err + "\n"};
    log::info("config: {}", cmd::redact_secrets(c.line));  // never key material in logs
    return {true, publish(section->changes(c))};
}

CounterView Control::counters() const {
    CounterView v{{}, &baseline_};
    for (auto& s : workers_) v.workers.push_back(s.worker);
    return v;
}

LabelCounterView Control::label_counters() const {
    LabelCounterView v{{}, &label_baseline_};
    for (auto& s : workers_) v.workers.push_back(s.worker);
    return v;
}

void Control::clear_counters() {
    std::vector<const Worker*> ws;
    for (auto& s : workers_) ws.push_back(s.worker);
    CounterView raw{ws, nullptr};
    for (uint16_t i = 0; i < kMaxInterfaces; ++i) baseline_[i] = raw.sum(i);
    LabelCounterView raw_labels{ws, nullptr};
    for (uint32_t slot = 0; slot < kMaxIlmEntries; ++slot) label_baseline_[slot] = raw_labels.sum(slot);
}

std::vector<WorkerRate> Control::worker_rates() const {
    std::vector<WorkerRate> rates;
    for (size_t i = 0; i < workers_.size(); ++i) {
        const Sample& a = prev_[i];
        const Sample& b = last_[i];
        double dt = b.tsc > a.tsc ? double(b.tsc - a.tsc) : 0;
        uint64_t dp = b.packets - a.packets, db = b.busy - a.busy;
        double hz = double(rte_get_tsc_hz());
        rates.push_back({workers_[i].worker->id(), workers_[i].lcore, workers_[i].worker->counters().packets,
                         dt > 0 ? dp * hz / dt : 0, dp ? double(db) / dp : 0, dt > 0 ? 100.0 * db / dt : 0});
    }
    return rates;
}

void Control::on_link_change(const std::string& port, bool up) {
    fib_.set_link_state(port, up);
    // The workers use backups from the moment the interface state is published
    // above; this recomputation makes the backups primaries (or restores them).
    ChangeSet change;
    change.routes = ChangeSet::Routes::all;
    publish(change);
}

std::string Control::version_text() const {
    return fmt::format("rampartd 0.1.0 ({}), {} worker(s), {} next-hop groups, {} adjacencies\n", rte_version(),
                       workers_.size(), tables_.groups_in_use(), tables_.adjacencies_in_use());
}

void Control::drain_resolve_requests(const std::vector<rte_ring*>& rings) {
    ResolveRequest reqs[64];
    for (rte_ring* r : rings) {
        unsigned n = rte_ring_dequeue_burst_elem(r, reqs, sizeof(ResolveRequest), 64, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            const ResolveRequest& q = reqs[i];
            IpAddr ip = q.family == 4 ? IpAddr{} : IpAddr::v6(q.addr);
            if (q.family == 4) {
                ip.family = Family::v4;
                std::memcpy(ip.bytes.data(), q.addr, 4);
            }
            probe(q.ifindex, ip);
        }
    }
}

void Control::drain_acquires() {
    AcquireRequest reqs[32];
    for (auto& slot : workers_) {
        if (!slot.worker || !slot.worker->acquire_ring()) continue;
        unsigned n = rte_ring_dequeue_burst_elem(slot.worker->acquire_ring(), reqs, sizeof(AcquireRequest), 32, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            const AcquireRequest& a = reqs[i];
            ++acquires_[{a.vrf, a.seq}];
            const IpAddr src = a.family == 4 ? IpAddr{Family::v4, {a.src[0], a.src[1], a.src[2], a.src[3]}} : IpAddr::v6(a.src);
            const IpAddr dst = a.family == 4 ? IpAddr{Family::v4, {a.dst[0], a.dst[1], a.dst[2], a.dst[3]}} : IpAddr::v6(a.dst);
            log::info("ipsec acquire: vrf {} policy {}: {} -> {} protocol {} has no SA", fib_.vrf_name(a.vrf), a.seq,
                      src.str(), dst.str(), a.protocol);
            if (acquire_handler_) acquire_handler_(IpsecAcquire{a.vrf ? fib_.vrf_name(a.vrf) : std::string(), a.seq, src, dst, a.protocol});
        }
    }
}

void Control::ipsec_housekeeping() {
    drain_acquires();
    SaEvent evs[32];
    for (auto& slot : workers_) {
        if (!slot.worker || !slot.worker->sa_event_ring()) continue;
        unsigned n = rte_ring_dequeue_burst_elem(slot.worker->sa_event_ring(), evs, sizeof(SaEvent), 32, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            log::info("ipsec: {} SA SPI {} reached its {} volume lifetime", evs[i].inbound ? "inbound" : "outbound",
                      evs[i].spi, evs[i].hard ? "hard" : "soft");
            for (auto& name : ipsec_->volume_event(evs[i].spi, evs[i].inbound, evs[i].hard))
                if (lifetime_handler_) lifetime_handler_(IpsecLifetimeEvent{name, evs[i].hard != 0, true});
        }
    }
    bool ended = false;
    for (auto& r : ipsec_->tick(std::chrono::steady_clock::now())) {
        log::info("ipsec: SA {} reached its {} time lifetime{}", r.name, r.hard ? "hard" : "soft",
                  r.hard ? " and ended" : ": rekey now");
        ended |= r.hard;
        if (lifetime_handler_) lifetime_handler_(IpsecLifetimeEvent{r.name, r.hard, false});
    }
    if (ended)
        for (auto& p : sync_ipsec()) log::warn("{}", p.text);
}

uint64_t Control::acquires(const std::string& vrf, uint32_t seq) const {
    auto id = fib_.vrf_id(vrf);
    if (!id) return 0;
    auto it = acquires_.find({*id, seq});
    return it == acquires_.end() ? 0 : it->second;
}

void Control::probe(uint16_t ifindex, const IpAddr& ip) {
    // A port's next hops are probed on its TAP twin, a sub-interface's on its VLAN link.
    std::string kernel_ifname = fib_.kernel_ifname(fib_.name_of(ifindex));
    if (!nl_ || !mirror_ || kernel_ifname.empty()) return;
    int kif = mirror_->twin_ifindex(kernel_ifname);
    if (!kif) return;
    auto st = nl_->probe_neighbor(kif, ip);
    ++probes_sent_;
    if (!st.ok()) log::debug("neighbour probe {}: {}", ip.str(), st.error);
}

void Control::probe_unresolved_next_hops() {
    for (auto& [ifindex, ip] : fib_.unresolved_next_hops()) probe(ifindex, ip);
}

void Control::on_neighbor(const netlink::NeighborEvent& ev) {
    if (!nl_) return;
    // Multicast "neighbours" are the kernel's static mappings, not next hops.
    if ((ev.ip.is_v4() && (ev.ip.bytes[0] >> 4) == 0xe) || (!ev.ip.is_v4() && ev.ip.bytes[0] == 0xff)) return;
    std::string name = nl_->ifname(ev.ifindex);
    auto ifindex = fib_.ifindex_of_twin(name);
    if (!ifindex) return;
    using S = netlink::NeighborEvent::State;
    bool usable = ev.mac && (ev.state == S::reachable || ev.state == S::stale || ev.state == S::other);
    fib_.neighbor_update(*ifindex, ev.ip, usable ? ev.mac : std::nullopt);
}

void Control::resync_neighbors() {
    if (!nl_) return;
    auto dump = nl_->dump_neighbors();
    if (!dump.ok()) {
        log::warn("neighbour dump failed: {}", dump.error);
        return;
    }
    for (auto& ev : dump.items) on_neighbor(ev);
}

void Control::sample_rates(uint64_t tsc, uint64_t) {
    for (size_t i = 0; i < workers_.size(); ++i) {
        prev_[i] = last_[i];
        const WorkerCounters& c = workers_[i].worker->counters();
        last_[i] = Sample{tsc, c.packets, c.busy_cycles};
    }
}

uint64_t Control::total_rx_packets() const {
    uint64_t n = 0;
    for (auto& s : workers_) n += s.worker->counters().packets;
    return n;
}

}  // namespace rampart
