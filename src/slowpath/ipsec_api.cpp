#include "slowpath/ipsec_api.hpp"

#include <algorithm>

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

// Whole-set rules: SPIs unique where the SAD needs them, every protect entry's SAs present and fitting.
std::optional<std::string> check_effective(const IpsecConfig& all) {
    std::map<uint32_t, const std::string*> inbound_spis;
    std::map<std::pair<uint32_t, IpAddr>, const std::string*> outbound_spis;
    for (auto& [name, sa] : all.sas) {
        if (sa.direction == Direction::inbound) {
            auto [it, fresh] = inbound_spis.emplace(sa.spi, &name);
            if (!fresh) return fmt::format("spi {} is already used by inbound ipsec sa {}", sa.spi, *it->second);
        } else {
            auto [it, fresh] = outbound_spis.emplace(std::pair{sa.spi, sa.remote}, &name);
            if (!fresh)
                return fmt::format("spi {} towards {} is already used by outbound ipsec sa {}", sa.spi, sa.remote.str(),
                                   *it->second);
        }
    }
    auto check_ref = [&](const std::string& vrf, uint32_t seq, const std::string& sa_name,
                         Direction want) -> std::optional<std::string> {
        auto it = all.sas.find(sa_name);
        if (it == all.sas.end()) return fmt::format("{}: unknown ipsec sa {}", policy_of(vrf, seq), sa_name);
        if (it->second.direction != want)
            return fmt::format("{}: ipsec sa {} goes the wrong way", policy_of(vrf, seq), sa_name);
        if (it->second.vrf != vrf)
            return fmt::format("{}: ipsec sa {} carries traffic of {}, not of {}", policy_of(vrf, seq), sa_name,
                               table_of(it->second.vrf), table_of(vrf));
        return std::nullopt;
    };
    for (auto& [vrf, entries] : all.policies)
        for (auto& [seq, e] : entries) {
            // A protect entry without an outbound SA is a trap: it discards and raises acquires.
            if (e.action != IpsecPolicyConfig::Action::protect) continue;
            if (!e.outbound_sa.empty())
                if (auto bad = check_ref(vrf, seq, e.outbound_sa, Direction::outbound)) return bad;
            if (!e.inbound_sa.empty())
                if (auto bad = check_ref(vrf, seq, e.inbound_sa, Direction::inbound)) return bad;
            for (auto& older : e.older_inbound_sas)
                if (auto bad = check_ref(vrf, seq, older, Direction::inbound)) return bad;
        }
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

std::optional<std::string> apply_ipsec_change(const RunningConfig& config, IpsecInstalled& installed,
                                              const std::string& owner, const IpsecChange& change) {
    if (owner.empty()) return std::string("an API change needs an owner");
    IpsecInstalled next = installed;
    auto not_yours = [&](const std::string& what, const std::string* holder) {
        return fmt::format("{} belongs to {}, not to {}", what, *holder, owner);
    };
    for (auto& name : change.remove_sas) {
        const std::string* holder = next.owner_of_sa(name);
        if (!holder) return fmt::format("no installed ipsec sa {}", name);
        if (*holder != owner) return not_yours("ipsec sa " + name, holder);
        next.entries.sas.erase(name);
        next.sa_owner.erase(name);
    }
    for (auto& [vrf, seq] : change.remove_policies) {
        const std::string* holder = next.owner_of_policy(vrf, seq);
        if (!holder) return fmt::format("no installed {}", policy_of(vrf, seq));
        if (*holder != owner) return not_yours(policy_of(vrf, seq), holder);
        auto spd = next.entries.policies.find(vrf);
        spd->second.erase(seq);
        if (spd->second.empty()) next.entries.policies.erase(spd);
        next.policy_owner.erase({vrf, seq});
    }
    for (auto& [name, sa] : change.add_sas) {
        if (auto bad = check_sa_name(name)) return bad;
        if (config.ipsec.sas.count(name)) return fmt::format("ipsec sa {} is configured; the API cannot replace it", name);
        if (const std::string* holder = next.owner_of_sa(name); holder && *holder != owner)
            return not_yours("ipsec sa " + name, holder);
        if (auto bad = check_sa(config, name, sa)) return bad;
        next.entries.sas[name] = sa;
        next.sa_owner[name] = owner;
    }
    for (auto& p : change.add_policies) {
        if (auto spd = config.ipsec.policies.find(p.vrf); spd != config.ipsec.policies.end() && spd->second.count(p.seq))
            return fmt::format("{} is configured; the API cannot replace it", policy_of(p.vrf, p.seq));
        if (const std::string* holder = next.owner_of_policy(p.vrf, p.seq); holder && *holder != owner)
            return not_yours(policy_of(p.vrf, p.seq), holder);
        if (auto bad = check_policy(config, p)) return bad;
        next.entries.policies[p.vrf][p.seq] = p.entry;
        next.policy_owner[{p.vrf, p.seq}] = owner;
    }
    if (auto bad = check_effective(effective_ipsec(config.ipsec, next))) return bad;
    installed = std::move(next);
    return std::nullopt;
}

}  // namespace rampart
