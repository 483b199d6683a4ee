#include "slowpath/ipsec_api.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "crypto/esp_crypto.hpp"
#include "crypto/replay.hpp"

namespace rampart {

const std::string* IpsecInstalled::owner_of_sa(const std::string& name) const {
    auto it = sa_owner.find(name);
    return it == sa_owner.end() ? nullptr : &it->second;
}

const std::string* IpsecInstalled::owner_of_policy(const std::string& vrf, uint32_t seq) const {
    auto it = policy_owner.find({vrf, seq});
    return it == policy_owner.end() ? nullptr : &it->second;
}

namespace {

using Direction = IpsecSaConfig::Direction;

std::string table_of(const std::string& vrf) { return vrf.empty() ? "the default table" : "vrf " + vrf; }
std::string policy_of(const std::string& vrf, uint32_t seq) {
    return vrf.empty() ? fmt::format("ipsec policy {}", seq) : fmt::format("ipsec policy {} vrf {}", seq, vrf);
}

// Generated names (connection, child, SPI) run longer than typed ones.
std::optional<std::string> check_sa_name(const std::string& name) {
    auto ok_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-' || c == ':';
    };
    if (name.empty() || name.size() > 63 || !std::all_of(name.begin(), name.end(), ok_char))
        return fmt::format("invalid SA name '{}': 1-63 letters, digits, '_', '.', '-' or ':'", name.substr(0, 63));
    return std::nullopt;
}

bool vrf_exists(const RunningConfig& config, const std::string& vrf) { return vrf.empty() || config.vrfs.count(vrf); }

// What a config line would refuse, for one SA on its own. Keys are checked by
// expanding them once (the message names lengths, never bytes).
std::optional<std::string> check_sa(const RunningConfig& config, const std::string& name, const IpsecSaConfig& sa) {
    const std::string what = "ipsec sa " + name;
    if (sa.spi == 0) return what + ": SPI 0 is reserved (RFC 4303 §2.1)";
    if (sa.local.family != sa.remote.family)
        return fmt::format("{}: endpoints {} and {} are not of the same address family", what, sa.local.str(),
                           sa.remote.str());
    if (!vrf_exists(config, sa.vrf)) return fmt::format("{}: unknown vrf {}", what, sa.vrf);
    auto transform = crypto::make_transform(sa.cipher, sa.integrity);
    if (auto* e = std::get_if<std::string>(&transform)) return fmt::format("{}: {}", what, *e);
    try {
        crypto::SaCrypto probe(std::get<crypto::EspTransform>(transform), sa.cipher_key, sa.integrity_key);
    } catch (const std::exception& e) {
        return fmt::format("{}: {}", what, e.what());
    }
    if (sa.direction == Direction::inbound) {
        if (!ReplayWindow::create(sa.replay_window, sa.esn))
            return fmt::format("{}: replay window {}: {}", what, sa.replay_window,
                               ReplayWindow::size_error(sa.replay_window));
        if (sa.ip_mtu) return what + ": ip-mtu applies to what an outbound SA sends";
    } else if (sa.replay_window != 64) {
        return what + ": only an inbound SA has a replay window";
    }
    if (sa.ip_mtu && (*sa.ip_mtu < 576 || *sa.ip_mtu > 9216)) return fmt::format("{}: ip-mtu {} is outside 576-9216", what, *sa.ip_mtu);
    if (sa.encapsulated_ip_mtu) {
        const unsigned floor = sa.local.family == Family::v6 ? 1280 : 576;
        if (sa.direction == Direction::inbound) return what + ": encapsulated-ip-mtu applies to what an outbound SA sends";
        if (*sa.encapsulated_ip_mtu < floor || *sa.encapsulated_ip_mtu > 9216)
            return fmt::format("{}: encapsulated-ip-mtu {} is outside {}-9216", what, *sa.encapsulated_ip_mtu, floor);
    }
    if (sa.nat_traversal && *sa.nat_traversal == 0) return what + ": NAT-T remote port 0";
    for (auto* life : {&sa.life_packets, &sa.life_kilobytes, &sa.life_seconds})
        if (life->hard && life->soft > life->hard)
            return fmt::format("{}: soft lifetime {} is above the hard one {}", what, life->soft, life->hard);
    return std::nullopt;
}

std::optional<std::string> check_policy(const RunningConfig& config, const IpsecChange::Policy& p) {
    const std::string what = policy_of(p.vrf, p.seq);
    const IpsecPolicyConfig& e = p.entry;
    if (!vrf_exists(config, p.vrf)) return fmt::format("{}: unknown vrf {}", what, p.vrf);
    if (e.local.addr.family != e.remote.addr.family)
        return fmt::format("{}: local {} and remote {} are not of the same address family", what, e.local.str(),
                           e.remote.str());
    if (e.local_port_lo > e.local_port_hi || e.remote_port_lo > e.remote_port_hi)
        return what + ": a port range is empty (first above last)";
    const bool ranged = e.local_port_lo != 0 || e.local_port_hi != 65535 || e.remote_port_lo != 0 || e.remote_port_hi != 65535;
    if (ranged && !e.protocol) return what + ": port ranges need a protocol";
    if (e.action != IpsecPolicyConfig::Action::protect &&
        (!e.outbound_sa.empty() || !e.inbound_sa.empty() || !e.older_inbound_sas.empty()))
        return what + ": only a protect entry names SAs";
    return std::nullopt;
}

}  // namespace

IpsecConfig effective_ipsec(const IpsecConfig& configured, const IpsecInstalled& installed) {
    if (installed.entries.sas.empty() && installed.entries.policies.empty()) return configured;
    IpsecConfig all = configured;
    for (auto& [name, sa] : installed.entries.sas) all.sas.emplace(name, sa);
    for (auto& [vrf, entries] : installed.entries.policies)
        for (auto& [seq, e] : entries) all.policies[vrf].emplace(seq, e);
    return all;
}

namespace {

using PolicyKey = std::pair<std::string, uint32_t>;

std::vector<const std::string*> sa_refs(const IpsecPolicyConfig& e) {
    std::vector<const std::string*> refs;
    if (e.action != IpsecPolicyConfig::Action::protect) return refs;  // only a protect entry names SAs
    if (!e.outbound_sa.empty()) refs.push_back(&e.outbound_sa);
    if (!e.inbound_sa.empty()) refs.push_back(&e.inbound_sa);
    for (auto& older : e.older_inbound_sas) refs.push_back(&older);
    return refs;
}

void unindex_sa(IpsecInstalled& in, const std::string& name) {
    auto sa = in.entries.sas.find(name);
    if (sa == in.entries.sas.end()) return;
    auto [lo, hi] = in.names_by_spi.equal_range(sa->second.spi);
    for (auto it = lo; it != hi; ++it)
        if (it->second == name) {
            in.names_by_spi.erase(it);
            return;
        }
}

void unindex_policy(IpsecInstalled& in, const PolicyKey& key) {
    auto spd = in.entries.policies.find(key.first);
    if (spd == in.entries.policies.end()) return;
    auto e = spd->second.find(key.second);
    if (e == spd->second.end()) return;
    for (const std::string* ref : sa_refs(e->second)) {
        auto [lo, hi] = in.policies_by_sa.equal_range(*ref);
        for (auto it = lo; it != hi; ++it)
            if (it->second == key) {
                in.policies_by_sa.erase(it);
                break;
            }
    }
}

}  // namespace

void reindex_ipsec_installed(IpsecInstalled& installed) {
    installed.names_by_spi.clear();
    installed.policies_by_sa.clear();
    for (auto& [name, sa] : installed.entries.sas) installed.names_by_spi.emplace(sa.spi, name);
    for (auto& [vrf, entries] : installed.entries.policies)
        for (auto& [seq, e] : entries)
            for (const std::string* ref : sa_refs(e)) installed.policies_by_sa.emplace(*ref, PolicyKey{vrf, seq});
}

std::optional<std::string> apply_ipsec_change(const RunningConfig& config, IpsecInstalled& installed,
                                              const std::string& owner, const IpsecChange& change) {
    if (owner.empty()) return std::string("an API change needs an owner");
    // Checked against what `installed` would be after the change, without
    // copying it: only what the change touches can break a rule.
    auto not_yours = [&](const std::string& what, const std::string* holder) {
        return fmt::format("{} belongs to {}, not to {}", what, *holder, owner);
    };
    std::set<std::string> removed_sas;
    for (auto& name : change.remove_sas) {
        const std::string* holder = installed.owner_of_sa(name);
        if (!holder || removed_sas.count(name)) return fmt::format("no installed ipsec sa {}", name);
        if (*holder != owner) return not_yours("ipsec sa " + name, holder);
        removed_sas.insert(name);
    }
    std::set<PolicyKey> removed_policies;
    for (auto& [vrf, seq] : change.remove_policies) {
        const std::string* holder = installed.owner_of_policy(vrf, seq);
        if (!holder || removed_policies.count({vrf, seq})) return fmt::format("no installed {}", policy_of(vrf, seq));
        if (*holder != owner) return not_yours(policy_of(vrf, seq), holder);
        removed_policies.insert({vrf, seq});
    }
    std::map<std::string, const IpsecSaConfig*> added_sas;  // the last addition of a name wins
    for (auto& [name, sa] : change.add_sas) {
        if (auto bad = check_sa_name(name)) return bad;
        if (config.ipsec.sas.count(name)) return fmt::format("ipsec sa {} is configured; the API cannot replace it", name);
        if (const std::string* holder = installed.owner_of_sa(name); holder && *holder != owner)
            return not_yours("ipsec sa " + name, holder);
        if (auto bad = check_sa(config, name, sa)) return bad;
        added_sas[name] = &sa;
    }
    std::map<PolicyKey, const IpsecPolicyConfig*> added_policies;
    for (auto& p : change.add_policies) {
        if (auto spd = config.ipsec.policies.find(p.vrf); spd != config.ipsec.policies.end() && spd->second.count(p.seq))
            return fmt::format("{} is configured; the API cannot replace it", policy_of(p.vrf, p.seq));
        if (const std::string* holder = installed.owner_of_policy(p.vrf, p.seq); holder && *holder != owner)
            return not_yours(policy_of(p.vrf, p.seq), holder);
        if (auto bad = check_policy(config, p)) return bad;
        added_policies[{p.vrf, p.seq}] = &p.entry;
    }

    // The SA of a name after the change (the configuration's first, as effective_ipsec has it).
    auto sa_after = [&](const std::string& name) -> const IpsecSaConfig* {
        if (auto it = config.ipsec.sas.find(name); it != config.ipsec.sas.end()) return &it->second;
        if (auto it = added_sas.find(name); it != added_sas.end()) return it->second;
        if (removed_sas.count(name)) return nullptr;
        auto it = installed.entries.sas.find(name);
        return it == installed.entries.sas.end() ? nullptr : &it->second;
    };
    // SPIs unique where the SAD needs them: only an added SA can collide.
    for (auto& added : added_sas) {
        const std::string& name = added.first;  // named: lambdas cannot capture structured bindings (clang 14)
        const IpsecSaConfig* sa = added.second;
        auto collides = [&](const std::string& other) -> std::optional<std::string> {
            const IpsecSaConfig* o = other == name ? nullptr : sa_after(other);
            if (!o || o->spi != sa->spi || o->direction != sa->direction) return std::nullopt;
            if (sa->direction == Direction::outbound && o->remote != sa->remote) return std::nullopt;
            const std::string& first = std::min(name, other);  // as a pass in name order reports it
            if (sa->direction == Direction::inbound)
                return fmt::format("spi {} is already used by inbound ipsec sa {}", sa->spi, first);
            return fmt::format("spi {} towards {} is already used by outbound ipsec sa {}", sa->spi, sa->remote.str(), first);
        };
        auto [lo, hi] = installed.names_by_spi.equal_range(sa->spi);
        for (auto it = lo; it != hi; ++it)
            if (auto bad = collides(it->second)) return bad;
        for (auto& [other, o] : config.ipsec.sas)
            if (auto bad = collides(other)) return bad;
        for (auto& [other, o] : added_sas)
            if (auto bad = collides(other)) return bad;
    }
    // Every protect entry's SAs present and fitting: the added entries, and
    // the entries naming an SA that went or changed.
    auto check_ref = [&](const PolicyKey& key, const std::string& sa_name, Direction want) -> std::optional<std::string> {
        const IpsecSaConfig* sa = sa_after(sa_name);
        if (!sa) return fmt::format("{}: unknown ipsec sa {}", policy_of(key.first, key.second), sa_name);
        if (sa->direction != want)
            return fmt::format("{}: ipsec sa {} goes the wrong way", policy_of(key.first, key.second), sa_name);
        if (sa->vrf != key.first)
            return fmt::format("{}: ipsec sa {} carries traffic of {}, not of {}", policy_of(key.first, key.second),
                               sa_name, table_of(sa->vrf), table_of(key.first));
        return std::nullopt;
    };
    auto check_entry = [&](const PolicyKey& key, const IpsecPolicyConfig& e) -> std::optional<std::string> {
        if (e.action != IpsecPolicyConfig::Action::protect) return std::nullopt;
        if (!e.outbound_sa.empty())
            if (auto bad = check_ref(key, e.outbound_sa, Direction::outbound)) return bad;
        if (!e.inbound_sa.empty())
            if (auto bad = check_ref(key, e.inbound_sa, Direction::inbound)) return bad;
        for (auto& older : e.older_inbound_sas)
            if (auto bad = check_ref(key, older, Direction::inbound)) return bad;
        return std::nullopt;
    };
    for (auto& [key, e] : added_policies)
        if (auto bad = check_entry(key, *e)) return bad;
    std::set<std::string> touched = removed_sas;
    for (auto& [name, sa] : added_sas) touched.insert(name);
    for (auto& name : touched) {
        auto [lo, hi] = installed.policies_by_sa.equal_range(name);
        for (auto it = lo; it != hi; ++it) {
            const PolicyKey& key = it->second;
            if (removed_policies.count(key) || added_policies.count(key)) continue;
            if (auto bad = check_entry(key, installed.entries.policies.at(key.first).at(key.second))) return bad;
        }
    }
    for (auto& [vrf, entries] : config.ipsec.policies)  // configured entries may name the API's SAs
        for (auto& [seq, e] : entries)
            for (const std::string* ref : sa_refs(e))
                if (touched.count(*ref))
                    if (auto bad = check_entry({vrf, seq}, e)) return bad;

    // All good: apply, indexes along.
    for (auto& name : change.remove_sas) {
        unindex_sa(installed, name);
        installed.entries.sas.erase(name);
        installed.sa_owner.erase(name);
    }
    for (auto& [vrf, seq] : change.remove_policies) {
        unindex_policy(installed, {vrf, seq});
        auto spd = installed.entries.policies.find(vrf);
        spd->second.erase(seq);
        if (spd->second.empty()) installed.entries.policies.erase(spd);
        installed.policy_owner.erase({vrf, seq});
    }
    for (auto& [name, sa] : change.add_sas) {
        unindex_sa(installed, name);
        installed.entries.sas[name] = sa;
        installed.sa_owner[name] = owner;
        installed.names_by_spi.emplace(sa.spi, name);
    }
    for (auto& p : change.add_policies) {
        const PolicyKey key{p.vrf, p.seq};
        unindex_policy(installed, key);
        installed.entries.policies[p.vrf][p.seq] = p.entry;
        installed.policy_owner[key] = owner;
        for (const std::string* ref : sa_refs(p.entry)) installed.policies_by_sa.emplace(*ref, key);
    }
    return std::nullopt;
}

}  // namespace rampart
