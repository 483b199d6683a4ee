#include "slowpath/ipsec_publisher.hpp"

#include <rte_hash_crc.h>
#include <rte_random.h>

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

namespace rampart {

namespace {

SaCounters minus(SaCounters a, const SaCounters& b) {
    auto* x = reinterpret_cast<uint64_t*>(&a);
    const auto* y = reinterpret_cast<const uint64_t*>(&b);
    for (size_t i = 0; i < sizeof(SaCounters) / sizeof(uint64_t); ++i) x[i] -= y[i];
    return a;
}

SpdSelector selector_of(const IpsecPolicyConfig& p) {
    return SpdSelector{p.local, p.remote, p.protocol, PortRange{p.local_port_lo, p.local_port_hi},
                       PortRange{p.remote_port_lo, p.remote_port_hi}};
}

}  // namespace

IpsecPublisher::IpsecPublisher(ForwardingTables& tables, const FibPublisher& fib, const IpsecInstalled& installed,
                               unsigned workers, std::function<SaCounters(uint32_t)> current)
    : tables_(tables), fib_(fib), installed_(installed), workers_(workers ? workers : 1), current_(std::move(current)) {}

IpsecPublisher::~IpsecPublisher() {
    for (auto& [name, live] : live_) {
        if (live.sa->inbound) tables_.remove_inbound_sa(live.sa->spi);
        delete live.sa;
    }
    for (uint16_t vrf : spd_vrfs_) tables_.set_spd(vrf, nullptr);
}

IpsecSa* IpsecPublisher::build(const std::string& name, const IpsecSaConfig& cfg, uint16_t vrf, std::string& error) {
    auto t = crypto::make_transform(cfg.cipher, cfg.integrity);
    if (auto* e = std::get_if<std::string>(&t)) {
        error = *e;
        return nullptr;
    }
    const crypto::EspTransform transform = std::get<crypto::EspTransform>(t);
    auto sa = std::make_unique<IpsecSa>();
    try {
        sa->crypto = std::make_unique<crypto::SaCrypto>(transform, cfg.cipher_key, cfg.integrity_key);
    } catch (const std::exception& e) {
        error = e.what();  // names lengths and algorithms, never key bytes
        return nullptr;
    }
    auto window = ReplayWindow::create(cfg.replay_window, cfg.esn);
    if (!window) {
        error = fmt::format("replay window {}: {}", cfg.replay_window, ReplayWindow::size_error(cfg.replay_window));
        return nullptr;
    }
    sa->name = name;
    sa->spi = cfg.spi;
    sa->inbound = cfg.direction == IpsecSaConfig::Direction::inbound;
    sa->family = cfg.local.family;
    sa->local = cfg.local.bytes;
    sa->remote = cfg.remote.bytes;
    sa->vrf = vrf;
    sa->owner = uint16_t(rte_hash_crc_4byte(cfg.spi, 0) % workers_);
    sa->layout = EspLayout{uint8_t(transform.iv_len()), uint8_t(transform.icv_len()), uint8_t(transform.block_align())};
    sa->esn = cfg.esn;
    sa->nat_traversal_port = cfg.nat_traversal.value_or(0);
    sa->transport = cfg.transport;
    sa->ip_mtu = cfg.ip_mtu.value_or(0);
    sa->encapsulated_ip_mtu = cfg.encapsulated_ip_mtu.value_or(0);
    sa->soft_packets = cfg.life_packets.soft;
    sa->hard_packets = cfg.life_packets.hard;
    sa->soft_bytes = cfg.life_kilobytes.soft * 1024;
    sa->hard_bytes = cfg.life_kilobytes.hard * 1024;
    sa->iv_base = rte_rand();
    sa->window = *window;
    sa->sequence = OutboundSequence(cfg.esn);
    if (!free_counters_.empty()) {
        sa->counter = free_counters_.back();
        free_counters_.pop_back();
    } else if (next_counter_ < kMaxSas) {
        sa->counter = next_counter_++;
    } else {
        error = fmt::format("SA table full ({} SAs)", kMaxSas);
        return nullptr;
    }
    baseline_[sa->counter] = current_ ? current_(sa->counter) : SaCounters{};
    return sa.release();
}

// The SA is out of the SAD already (sync's step 2): a replacement may hold its SPI now.
void IpsecPublisher::retire(Live& live) {
    free_counters_.push_back(live.sa->counter);
    tables_.retire_sa(live.sa);
    live.sa = nullptr;
}

PublishProblems IpsecPublisher::sync(const RunningConfig& config, const ChangeSet&) {
    // Without configured SAs and policies (an IKE-only box) the installed set
    // is the effective one: no copy of thousands of SAs per publication.
    const bool api_only = config.ipsec.sas.empty() && config.ipsec.policies.empty();
    return api_only ? sync_entries(installed_.entries) : sync_entries(effective_ipsec(config.ipsec, installed_));
}

PublishProblems IpsecPublisher::sync_entries(const IpsecConfig& ipsec) {
    const FibPublisher& fib = fib_;
    PublishProblems problems;
    not_installed_.clear();
    // Notes about SAs that are gone (removed by the configuration or the API) go with them.
    std::erase_if(ended_, [&](const auto& e) { return !ipsec.sas.count(e.first); });
    std::erase_if(lifetime_note_, [&](const auto& e) { return !ipsec.sas.count(e.first); });

    // 1. The SAs wanted: kept when unchanged, built when new or changed.
    std::map<std::string, Live> next;
    std::vector<Live> replaced;
    std::set<uint16_t> sas_changed;  // VRFs with an SA that is new, rebuilt or gone
    for (auto& [name, cfg] : ipsec.sas) {
        if (!cfg.complete()) {
            not_installed_[name] = "incomplete: needs an spi line and an encryption line";
            continue;
        }
        auto vrf = fib.vrf_id(cfg.vrf);
        if (!vrf) {
            not_installed_[name] = fmt::format("vrf {} has no tables", cfg.vrf);
            continue;
        }
        if (auto ended = ended_.find(name); ended != ended_.end()) {
            if (ended->second == cfg) {
                not_installed_[name] = "hard lifetime reached: the SA has ended (rekey: change its keys or SPI)";
                continue;
            }
            ended_.erase(ended);  // reconfigured: a new SA
            lifetime_note_.erase(name);
        }
        auto cur = live_.find(name);
        if (cur != live_.end() && cur->second.cfg == cfg && cur->second.vrf == *vrf) {
            next.emplace(name, std::move(cur->second));
            live_.erase(cur);
            continue;
        }
        std::string error;
        IpsecSa* sa = build(name, cfg, *vrf, error);
        if (!sa) {
            not_installed_[name] = error;
            problems.push_back({PublishProblem::Kind::ipsec_sa, name, fmt::format("ipsec sa {} not installed: {}", name, error)});
            continue;
        }
        next.emplace(name, Live{cfg, *vrf, sa, std::chrono::steady_clock::now(), false});
        sas_changed.insert(*vrf);
        lifetime_note_.erase(name);
    }

    // 2. Inbound SPIs: whatever leaves or changes goes out of the SAD first.
    for (auto& [name, live] : live_)
        if (live.sa->inbound) tables_.remove_inbound_sa(live.sa->spi);
    for (auto it = next.begin(); it != next.end();) {
        IpsecSa* sa = it->second.sa;
        if (sa->inbound && tables_.inbound_sa(sa->spi) != sa) {
            if (int rc = tables_.add_inbound_sa(sa); rc != 0) {
                std::string why = rc == -EEXIST ? fmt::format("inbound SPI {} is in use", sa->spi)
                                                : fmt::format("SAD refused it ({})", strerror(-rc));
                not_installed_[it->first] = why;
                problems.push_back(
                    {PublishProblem::Kind::ipsec_sa, it->first, fmt::format("ipsec sa {} not installed: {}", it->first, why)});
                free_counters_.push_back(sa->counter);
                delete sa;  // never published
                it = next.erase(it);
                continue;
            }
        }
        ++it;
    }

    // 3. One SPD per VRF with policies, pointing at the SAs of `next`. Only
    // a VRF whose entries or SAs changed is recompiled (rte_acl builds take
    // time in proportion to the entries; thousands of tunnels share one VRF).
    for (auto& [name, live] : live_) sas_changed.insert(live.vrf);  // gone or rebuilt
    std::vector<uint16_t> vrfs;
    std::map<std::string, PublishedSpd> published;
    for (auto& [vrf_name, entries] : ipsec.policies) {
        auto vrf = fib.vrf_id(vrf_name);
        if (!vrf || entries.empty()) continue;
        if (auto was = published_spd_.find(vrf_name);
            was != published_spd_.end() && was->second.vrf == *vrf && !sas_changed.count(*vrf) && was->second.entries == entries) {
            published.emplace(vrf_name, std::move(was->second));
            vrfs.push_back(*vrf);
            continue;
        }
        auto table = std::make_unique<SpdTable>();
        table->generation = ++spd_generation_;
        std::vector<SpdSelector> selectors;
        for (auto& [seq, p] : entries) {
            SpdEntry e;
            e.seq = seq;
            e.action = p.action == IpsecPolicyConfig::Action::bypass    ? SpdAction::bypass
                       : p.action == IpsecPolicyConfig::Action::discard ? SpdAction::discard
                                                                        : SpdAction::protect;
            if (e.action == SpdAction::protect) {
                // An entry whose SA is not installed discards: never send in clear what must be protected.
                auto out = next.find(p.outbound_sa);
                e.outbound = out != next.end() ? out->second.sa : nullptr;
                auto in = p.inbound_sa.empty() ? next.end() : next.find(p.inbound_sa);
                e.inbound = in != next.end() ? in->second.sa : nullptr;
            }
            selectors.push_back(selector_of(p));
            if (e.inbound) table->inbound.emplace_back(e.inbound, selectors.back());
            for (auto& older : p.older_inbound_sas)
                if (auto it = next.find(older); it != next.end()) table->inbound.emplace_back(it->second.sa, selectors.back());
            table->entries.push_back(e);
        }
        std::stable_sort(table->inbound.begin(), table->inbound.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (size_t i = table->inbound.size(); i-- > 0;) {  // the first entry of each SA wins
            const uint32_t slot = table->inbound[i].first->counter;
            if (table->inbound_by_counter.size() <= slot) table->inbound_by_counter.resize(slot + 1, 0);
            table->inbound_by_counter[slot] = uint32_t(i + 1);
        }
        try {
            table->classifier = std::make_unique<SpdClassifier>(selectors, fmt::format("spd{}", *vrf));
        } catch (const std::exception& e) {
            const std::string shown = vrf_name.empty() ? "default" : vrf_name;
            problems.push_back({PublishProblem::Kind::ipsec_spd, shown,
                                fmt::format("SPD of vrf {} not installed: {}", shown, e.what())});
            continue;
        }
        tables_.set_spd(*vrf, table.release());
        vrfs.push_back(*vrf);
        published.emplace(vrf_name, PublishedSpd{*vrf, entries});
    }
    published_spd_ = std::move(published);
    for (uint16_t vrf : spd_vrfs_)
        if (std::find(vrfs.begin(), vrfs.end(), vrf) == vrfs.end()) tables_.set_spd(vrf, nullptr);
    spd_vrfs_ = vrfs;

    bool nat_traversal_inbound = false, any_inbound = false;
    for (auto& [name, live] : next) {
        nat_traversal_inbound |= live.sa->inbound && live.sa->nat_traversal_port != 0;
        any_inbound |= live.sa->inbound;
    }
    tables_.set_nat_traversal_inbound(nat_traversal_inbound);
    tables_.set_any_inbound_sa(any_inbound);

    // 4. Nothing points at the old SAs any more: retire them after a grace period.
    for (auto& [name, live] : live_) retire(live);
    live_ = std::move(next);
    tables_.reclaim();
    return problems;
}

std::vector<std::string> IpsecPublisher::volume_event(uint32_t spi, bool inbound, bool hard) {
    std::vector<std::string> names;
    for (auto& [name, live] : live_) {
        if (live.sa->spi != spi || live.sa->inbound != inbound) continue;
        lifetime_note_[name] = hard ? "hard volume lifetime reached: traffic refused (rekey needed)"
                                    : "soft volume lifetime reached: rekey now";
        names.push_back(name);
    }
    return names;
}

std::vector<IpsecPublisher::LifetimeReached> IpsecPublisher::tick(std::chrono::steady_clock::time_point now) {
    std::vector<LifetimeReached> reached;
    for (auto& [name, live] : live_) {
        const IpsecSaConfig::Lifetime& life = live.cfg.life_seconds;
        if (!life.hard) continue;
        const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - live.installed).count();
        if (uint64_t(age) >= life.hard) {
            ended_[name] = live.cfg;
            reached.push_back({name, true});
        } else if (life.soft && uint64_t(age) >= life.soft && !live.soft_reached) {
            live.soft_reached = true;
            lifetime_note_[name] = fmt::format("soft lifetime of {} s reached: rekey now", life.soft);
            reached.push_back({name, false});
        }
    }
    return reached;
}

SaCounters IpsecPublisher::counters(uint32_t slot) const {
    if (slot >= kMaxSas || !current_) return SaCounters{};
    return minus(current_(slot), baseline_[slot]);
}

std::vector<IpsecSaState> IpsecPublisher::sa_states(const IpsecConfig& ipsec) const {
    std::vector<IpsecSaState> out;
    for (auto& [name, cfg] : ipsec.sas) {
        IpsecSaState s;
        s.name = name;
        s.config = &cfg;
        auto live = live_.find(name);
        if (live != live_.end()) {
            s.installed = true;
            s.owner = live->second.sa->owner;
            s.counter = live->second.sa->counter;
            // The sequence counter is readable from here (relaxed atomics); the replay window is not.
            s.sequence_used = live->second.sa->inbound ? 0 : live->second.sa->sequence.sent();
        } else {
            auto why = not_installed_.find(name);
            s.reason = why != not_installed_.end() ? why->second : "not installed";
        }
        if (auto note = lifetime_note_.find(name); note != lifetime_note_.end()) s.lifetime = note->second;
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace rampart
