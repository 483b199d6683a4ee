#include "slowpath/config_model.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "crypto/esp_crypto.hpp"

namespace rampart {

const std::vector<std::string_view>& ike_proposal_names() {
    static const std::vector<std::string_view> names = {"aes-gcm-128",        "aes-gcm-256",        "aes-cbc-128-sha256",
                                                        "aes-cbc-256-sha256", "aes-cbc-256-sha384", "aes-cbc-256-sha512"};
    return names;
}
const std::vector<std::string_view>& esp_proposal_names() { return ike_proposal_names(); }
bool ike_dh_group_supported(uint32_t group) { return group == 14 || group == 19 || group == 20 || group == 31; }

// Key material never enters messages: only names and lengths.
bool IpsecSaConfig::complete() const {
    return spi != 0 && std::holds_alternative<crypto::EspTransform>(crypto::make_transform(cipher, integrity));
}

namespace {
constexpr std::pair<sav::Mechanism, std::string_view> kSavKeywords[] = {
    {sav::Mechanism::off, "off"},
    {sav::Mechanism::strict_urpf, "strict"},
    {sav::Mechanism::loose_urpf, "loose"},
    {sav::Mechanism::loose_urpf_with_default, "loose-default"},
    {sav::Mechanism::feasible_path_urpf, "feasible-path"},
    {sav::Mechanism::efp_urpf_a, "efp-a"},
    {sav::Mechanism::efp_urpf_b, "efp-b"},
    {sav::Mechanism::bar_sav, "bar-sav"},
};
constexpr std::pair<sav::Role, std::string_view> kSavRoleKeywords[] = {
    {sav::Role::customer, "customer"},
    {sav::Role::lateral_peer, "peer"},
    {sav::Role::provider, "provider"},
};
}  // namespace

std::string_view sav_mechanism_keyword(sav::Mechanism m) {
    for (auto& [mech, word] : kSavKeywords)
        if (mech == m) return word;
    return "?";
}

std::string_view sav_role_keyword(sav::Role r) {
    for (auto& [role, word] : kSavRoleKeywords)
        if (role == r) return word;
    return "?";
}

namespace {

using cmd::Id;

constexpr size_t kMaxEcmpNextHops = 8;
constexpr uint32_t kMinLabel = 16;  // 0-15 are reserved (RFC 3032)
constexpr uint32_t kMaxSrgbSize = 65536;

std::string quote_if_needed(const std::string& s) {
    bool plain = !s.empty() && s.find_first_of(" \t\"\\") == std::string::npos;
    if (plain) return s;
    std::string q = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    return q + "\"";
}

std::string labels_text(const LabelList& labels) {
    std::string out;
    for (uint32_t l : labels) {
        if (!out.empty()) out += '/';
        out += std::to_string(l);
    }
    return out;
}

// Text quoted back in messages is cut short so a huge name cannot flood a terminal.
std::string shown(std::string_view text) {
    constexpr size_t kMax = 64;
    if (text.size() <= kMax) return std::string(text);
    return std::string(text.substr(0, kMax - 3)) + "...";
}

// VRF and SR policy names: spelled like interface names, so they never need
// quoting and cannot be mistaken for values.
std::optional<std::string> check_name(std::string_view what, const std::string& name) {
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    bool ok = !name.empty() && name.size() <= 31 && alpha(name[0]) &&
              std::all_of(name.begin() + 1, name.end(),
                          [&](char c) { return alpha(c) || digit(c) || c == '_' || c == '.' || c == '-'; });
    if (!ok)
        return fmt::format("invalid {} name '{}': expected a letter followed by up to 30 letters, digits, '_', '.' or '-'",
                           what, shown(name));
    if (name == "default") return fmt::format("invalid {} name 'default': it means the default table", what);
    return std::nullopt;
}

// "vrf X" in a command stands for the default table when it is "default" (where allowed).
std::string vrf_ref(const std::string& name) { return name == "default" ? "" : name; }

std::string table_name(const std::string& vrf) { return vrf.empty() ? "the default table" : "vrf " + vrf; }

std::string route_name(const std::string& vrf, const Prefix& p) {
    return vrf.empty() ? "route " + p.str() : fmt::format("route vrf {} {}", vrf, p.str());
}

// ---------------------------------------------------------------------------
// Local labels: each value has at most one owner.
// ---------------------------------------------------------------------------

std::string ilm_owner(uint32_t label) { return fmt::format("static ILM entry mpls label {}", label); }
std::string vrf_label_owner(const std::string& vrf) { return fmt::format("vrf {}'s VPN label", vrf); }
std::string adjacency_owner(uint32_t label, const MplsPath& p) {
    return fmt::format("adjacency-sid {} via {}", label, p.gateway.str());
}
std::string binding_owner(const std::string& policy) { return fmt::format("policy {}'s binding SID", policy); }
std::string srgb_text(const LabelBlock& b) { return fmt::format("{}-{}", b.lo, b.hi); }

// Every local label that belongs to one owner (all but the SRGB, a block), with its owner.
std::vector<std::pair<uint32_t, std::string>> single_labels(const RunningConfig& cfg) {
    std::vector<std::pair<uint32_t, std::string>> out;
    for (auto& [label, entry] : cfg.mpls.ilm) out.emplace_back(label, ilm_owner(label));
    for (auto& [name, vrf] : cfg.vrfs)
        if (vrf.label) out.emplace_back(*vrf.label, vrf_label_owner(name));
    for (auto& [label, path] : cfg.sr.adjacency_sids) out.emplace_back(label, adjacency_owner(label, path));
    for (auto& [name, policy] : cfg.sr.policies)
        if (policy.binding_sid) out.emplace_back(*policy.binding_sid, binding_owner(name));
    return out;
}

// Who owns local label `label`, described for an error message; nullopt when it is free.
std::optional<std::string> label_owner(const RunningConfig& cfg, uint32_t label) {
    if (cfg.mpls.ilm.count(label)) return ilm_owner(label);
    for (auto& [name, vrf] : cfg.vrfs)
        if (vrf.label == label) return vrf_label_owner(name);
    if (auto& srgb = cfg.sr.srgb; srgb && label >= srgb->lo && label <= srgb->hi) {
        for (auto& [prefix, index] : cfg.sr.prefix_sids)
            if (srgb->lo + index == label)
                return fmt::format("prefix-sid {} index {} in the SRGB {}", prefix.str(), index, srgb_text(*srgb));
        return fmt::format("the SRGB {}", srgb_text(*srgb));
    }
    if (auto a = cfg.sr.adjacency_sids.find(label); a != cfg.sr.adjacency_sids.end())
        return adjacency_owner(label, a->second);
    for (auto& [name, policy] : cfg.sr.policies)
        if (policy.binding_sid == label) return binding_owner(name);
    return std::nullopt;
}

// A label about to be given to `what`: inside the label range and free.
std::optional<std::string> check_new_label(const RunningConfig& cfg, uint32_t label, const std::string& what) {
    if (label < cfg.mpls.label_lo || label > cfg.mpls.label_hi)
        return fmt::format("label {} for {} is outside the MPLS label range {}-{}", label, what, cfg.mpls.label_lo,
                           cfg.mpls.label_hi);
    if (auto owner = label_owner(cfg, label))
        return fmt::format("label {} for {} is already used by {}", label, what, *owner);
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// References that keep an interface or a VRF from being deleted.
// ---------------------------------------------------------------------------

bool uses_interface(const std::string& ifname, const std::optional<BackupPath>& backup) {
    return backup && backup->ifname == ifname;
}

std::optional<std::string> interface_user(const RunningConfig& cfg, const std::string& name) {
    auto route_user = [&](const std::string& vrf, const RouteTable& table) -> std::optional<std::string> {
        for (auto& [p, hops] : table)
            for (auto& h : hops)
                if (h.ifname == name || uses_interface(name, h.backup))
                    return fmt::format("{} uses interface {}; delete the route first", route_name(vrf, p), name);
        return std::nullopt;
    };
    if (auto user = route_user("", cfg.routes)) return user;
    for (auto& [vrf, v] : cfg.vrfs)
        if (auto user = route_user(vrf, v.routes)) return user;
    for (auto& [label, entry] : cfg.mpls.ilm)
        for (auto& path : entry.paths)
            if (path.ifname == name || uses_interface(name, path.backup))
                return fmt::format("mpls label {} uses interface {}; delete the path first", label, name);
    for (auto& [label, path] : cfg.sr.adjacency_sids)
        if (path.ifname == name)
            return fmt::format("adjacency-sid {} uses interface {}; delete it first", label, name);
    for (auto& [policy, p] : cfg.sr.policies)
        if (p.ifname == name)
            return fmt::format("segment-routing policy {} uses interface {}; delete it first", policy, name);
    for (auto& [p, ifaces] : cfg.sav.allow)
        if (ifaces.count(name))
            return fmt::format("sav allow {} interface {} uses it; delete it first", p.str(), name);
    return std::nullopt;
}

std::string policy_name(const std::string& vrf, uint32_t seq) {
    return vrf.empty() ? fmt::format("ipsec policy {}", seq) : fmt::format("ipsec policy {} vrf {}", seq, vrf);
}

std::optional<std::string> vrf_user(const RunningConfig& cfg, const std::string& vrf) {
    for (auto& [n, i] : cfg.interfaces)
        if (i.vrf == vrf) return fmt::format("interface {} is in vrf {}; move it out first", n, vrf);
    if (auto spd = cfg.ipsec.policies.find(vrf); spd != cfg.ipsec.policies.end() && !spd->second.empty())
        return fmt::format("{} is in vrf {}; delete the VRF's ipsec policies first",
                           policy_name(vrf, spd->second.begin()->first), vrf);
    for (auto& [n, sa] : cfg.ipsec.sas)
        if (sa.vrf == vrf) return fmt::format("ipsec sa {} carries traffic of vrf {}; delete it first", n, vrf);
    auto route_user = [&](const std::string& table_vrf, const RouteTable& table) -> std::optional<std::string> {
        for (auto& [p, hops] : table)
            for (auto& h : hops)
                if (h.kind == RouteNextHop::Kind::next_vrf && h.target == vrf)
                    return fmt::format("{} leaks into vrf {} (next-vrf); delete the route first",
                                       route_name(table_vrf, p), vrf);
        return std::nullopt;
    };
    if (auto user = route_user("", cfg.routes)) return user;
    for (auto& [name, v] : cfg.vrfs)
        if (name != vrf)
            if (auto user = route_user(name, v.routes)) return user;
    for (auto& [label, entry] : cfg.mpls.ilm)
        if (entry.action == IlmConfig::Action::lookup && entry.vrf == vrf)
            return fmt::format("mpls label {} looks up in vrf {}; delete it first", label, vrf);
    return std::nullopt;
}

std::optional<std::string> check_interface_exists(const RunningConfig& cfg, const std::string& ifname) {
    if (!ifname.empty() && !cfg.interfaces.count(ifname)) return fmt::format("unknown interface {}", ifname);
    return std::nullopt;
}

// An address may be on one interface per table: VRFs are separate address spaces.
std::optional<std::string> address_clash(const RunningConfig& cfg, const std::string& self, const Prefix& p,
                                         const std::string& vrf) {
    for (auto& [n, other] : cfg.interfaces) {
        if (n == self || other.vrf != vrf) continue;
        for (auto& a : other.addresses)
            if (a.addr == p.addr)
                return vrf.empty() ? fmt::format("address {} is already on {}", p.addr.str(), n)
                                   : fmt::format("address {} is already on {} in vrf {}", p.addr.str(), n, vrf);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Interfaces
// ---------------------------------------------------------------------------

std::optional<std::string> apply_interface(RunningConfig& cfg, const cmd::Parsed& c, bool startup) {
    const std::string& name = c.word("name");
    auto it = cfg.interfaces.find(name);

    if (c.id == Id::InterfaceDevice) {
        if (!startup) return "ports are bound to devices in the startup configuration only (restart rampartd to add one)";
        if (it != cfg.interfaces.end()) return fmt::format("interface {} already exists", name);
        InterfaceConfig i;
        i.name = name;
        i.device = c.word("dev");
        cfg.interfaces.emplace(name, std::move(i));
        return std::nullopt;
    }
    if (c.id == Id::InterfaceVlan) {
        const std::string& parent = c.word("parent");
        uint16_t vid = uint16_t(c.number("vid"));
        if (c.negated) {
            if (it == cfg.interfaces.end() || it->second.parent != parent || it->second.vlan != vid)
                return fmt::format("no sub-interface {} with vlan {} on {}", name, vid, parent);
            // A deleted sub-interface must not leave routes or labels pointing at it.
            if (auto user = interface_user(cfg, name)) return user;
            cfg.interfaces.erase(it);
            return std::nullopt;
        }
        if (it != cfg.interfaces.end()) return fmt::format("interface {} already exists", name);
        auto p = cfg.interfaces.find(parent);
        if (p == cfg.interfaces.end()) return fmt::format("unknown parent interface {}", parent);
        if (!p->second.is_port()) return fmt::format("parent {} is itself a sub-interface", parent);
        for (auto& [n, i] : cfg.interfaces)
            if (i.parent == parent && i.vlan == vid) return fmt::format("vlan {} on {} is already {}", vid, parent, n);
        InterfaceConfig i;
        i.name = name;
        i.parent = parent;
        i.vlan = vid;
        cfg.interfaces.emplace(name, std::move(i));
        return std::nullopt;
    }
    if (it == cfg.interfaces.end()) return fmt::format("unknown interface {}", name);
    InterfaceConfig& i = it->second;
    switch (c.id) {
        case Id::InterfaceAddress: {
            Prefix p = c.prefix("prefix");
            auto pos = std::find(i.addresses.begin(), i.addresses.end(), p);
            if (c.negated) {
                if (pos == i.addresses.end()) return fmt::format("{} has no address {}", name, p.str());
                i.addresses.erase(pos);
                return std::nullopt;
            }
            if (pos != i.addresses.end()) return fmt::format("{} already has address {}", name, p.str());
            if (p.network().addr == p.addr && p.len < p.addr.bits() - (p.addr.is_v4() ? 1 : 0))
                return fmt::format("{} is a network address, not a host address", p.str());
            for (auto& a : i.addresses)
                if (a.addr == p.addr) return fmt::format("address {} is already on {}", p.addr.str(), name);
            if (auto clash = address_clash(cfg, name, p, i.vrf)) return clash;
            i.addresses.push_back(p);
            return std::nullopt;
        }
        case Id::InterfaceNeighbor: {
            IpAddr a = c.ip("address");
            auto pos = i.static_neighbors.find(a);
            if (c.negated) {
                if (pos == i.static_neighbors.end()) return fmt::format("{} has no static neighbor {}", name, a.str());
                i.static_neighbors.erase(pos);
                return std::nullopt;
            }
            MacAddr m = c.mac("mac");
            if (m.bytes[0] & 1) return fmt::format("{} is a multicast MAC address", m.str());
            i.static_neighbors[a] = m;
            return std::nullopt;
        }
        case Id::InterfaceMtu:
            i.mtu = c.negated ? 1500 : uint16_t(c.number("mtu"));
            return std::nullopt;
        case Id::InterfaceShutdown:
            i.shutdown = !c.negated;
            return std::nullopt;
        case Id::InterfaceDescription:
            i.description = c.negated ? "" : c.word("text");
            return std::nullopt;
        case Id::InterfaceMpls:
            i.mpls = !c.negated;
            return std::nullopt;
        case Id::InterfaceSav: {
            if (c.negated) {
                i.sav = sav::Mechanism::off;
                i.sav_monitor = false;
                return std::nullopt;
            }
            std::optional<sav::Mechanism> mech;
            for (auto& [m, word] : kSavKeywords)
                if (c.has(word)) mech = m;
            if (!mech) return fmt::format("interface {} sav: name a mechanism (off, strict, loose, loose-default, "
                                          "feasible-path, efp-a, efp-b, bar-sav)", name);
            if (*mech == sav::Mechanism::off && c.has("monitor")) return "sav off has no monitor mode";
            i.sav = *mech;
            i.sav_monitor = c.has("monitor");
            return std::nullopt;
        }
        case Id::InterfaceSavRole: {
            if (c.negated) {
                i.sav_role = sav::Role::customer;
                i.sav_neighbor_asn = 0;
                return std::nullopt;
            }
            std::optional<sav::Role> role;
            for (auto& [r, word] : kSavRoleKeywords)
                if (c.has(word)) role = r;
            if (!role) return fmt::format("interface {} sav-role: name a role (customer, peer, provider)", name);
            i.sav_role = *role;
            i.sav_neighbor_asn = c.has_arg("asn") ? c.number("asn") : 0;
            return std::nullopt;
        }
        case Id::InterfaceVrf: {
            const std::string& vrf = c.word("vrf");
            std::string target;  // the table the interface moves to
            if (c.negated) {
                if (i.vrf != vrf)
                    return i.vrf.empty() ? fmt::format("{} is not in vrf {} but in the default table", name, shown(vrf))
                                         : fmt::format("{} is not in vrf {} but in vrf {}", name, shown(vrf), i.vrf);
            } else {
                if (!cfg.vrfs.count(vrf)) return fmt::format("unknown vrf {}", shown(vrf));
                target = vrf;
            }
            for (auto& a : i.addresses)
                if (auto clash = address_clash(cfg, name, a, target))
                    return fmt::format("{} cannot move to {}: {}", name, table_name(target), *clash);
            i.vrf = target;
            return std::nullopt;
        }
        default: return "not an interface command";
    }
}

// ---------------------------------------------------------------------------
// VRFs
// ---------------------------------------------------------------------------

std::optional<std::string> apply_vrf(RunningConfig& cfg, const cmd::Parsed& c) {
    const std::string& name = c.word("vrf");
    auto it = cfg.vrfs.find(name);
    if (c.id == Id::Vrf) {
        if (c.negated) {
            if (it == cfg.vrfs.end()) return fmt::format("unknown vrf {}", shown(name));
            if (auto user = vrf_user(cfg, name)) return user;
            cfg.vrfs.erase(it);  // its routes and its VPN label go with it
            return std::nullopt;
        }
        if (it != cfg.vrfs.end()) return fmt::format("vrf {} already exists", name);
        if (auto bad = check_name("vrf", name)) return bad;
        cfg.vrfs.emplace(name, VrfConfig{});
        return std::nullopt;
    }
    // Id::VrfLabel
    if (it == cfg.vrfs.end()) return fmt::format("unknown vrf {}", shown(name));
    uint32_t label = c.number("label");
    auto& current = it->second.label;
    if (c.negated) {
        if (!current) return fmt::format("vrf {} has no VPN label", name);
        if (*current != label) return fmt::format("vrf {}'s VPN label is {}, not {}", name, *current, label);
        current.reset();
        return std::nullopt;
    }
    if (current == label) return std::nullopt;
    if (auto bad = check_new_label(cfg, label, vrf_label_owner(name))) return bad;
    current = label;
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

// The optional "backup <ip> [backup-interface <if>] [backup-labels <labels>]" part.
std::optional<std::string> read_backup(const RunningConfig& cfg, const cmd::Parsed& c, Family family,
                                       std::optional<BackupPath>& out) {
    if (!c.has("backup")) return std::nullopt;
    BackupPath b;
    b.gateway = c.ip("backup");
    if (b.gateway.family != family)
        return fmt::format("backup {} is not of the same address family as the primary", b.gateway.str());
    if (c.has("backup-ifname")) b.ifname = c.word("backup-ifname");
    if (auto bad = check_interface_exists(cfg, b.ifname)) return bad;
    if (c.has("backup-labels")) b.labels = c.labels("backup-labels");
    out = std::move(b);
    return std::nullopt;
}

bool is_ecmp_kind(RouteNextHop::Kind k) { return k == RouteNextHop::Kind::via || k == RouteNextHop::Kind::attached; }

// Two next hops that go the same way, whatever labels or backups they carry.
bool same_way(const RouteNextHop& a, const RouteNextHop& b) {
    return a.kind == b.kind && a.gateway == b.gateway && a.ifname == b.ifname && a.target == b.target;
}

std::optional<std::string> apply_route(RunningConfig& cfg, const cmd::Parsed& c) {
    Prefix prefix = c.prefix("prefix").network();
    std::string vrf;
    RouteTable* table = &cfg.routes;
    if (c.has("vrf")) {
        vrf = c.word("vrf");
        auto v = cfg.vrfs.find(vrf);
        if (v == cfg.vrfs.end()) return fmt::format("unknown vrf {}", shown(vrf));
        table = &v->second.routes;
    }
    const std::string name = route_name(vrf, prefix);

    RouteNextHop nh;
    if (c.has("gateway")) {
        nh.kind = RouteNextHop::Kind::via;
        nh.gateway = c.ip("gateway");
        if (nh.gateway.family != prefix.addr.family)
            return fmt::format("gateway {} is not of the same address family as {}", nh.gateway.str(), prefix.str());
        if (c.has("ifname")) nh.ifname = c.word("ifname");
        if (c.has("labels")) nh.labels = c.labels("labels");
        if (auto bad = read_backup(cfg, c, prefix.addr.family, nh.backup)) return bad;
        if (nh.backup && nh.backup->gateway == nh.gateway && nh.backup->ifname == nh.ifname &&
            nh.backup->labels == nh.labels)
            return fmt::format("backup {} is the primary path itself", nh.backup->gateway.str());
    } else if (c.has("blackhole")) {
        nh.kind = RouteNextHop::Kind::blackhole;
    } else if (c.has("unreachable")) {
        nh.kind = RouteNextHop::Kind::unreachable;
    } else if (c.has("next-vrf")) {
        nh.kind = RouteNextHop::Kind::next_vrf;
        nh.target = vrf_ref(c.word("target"));  // "" = the default table
        if (nh.target == vrf)
            return fmt::format("{} cannot look the destination up in its own table ({})", name, table_name(vrf));
        if (!nh.target.empty() && !cfg.vrfs.count(nh.target)) return fmt::format("unknown vrf {}", shown(nh.target));
    } else if (c.has("policy")) {
        nh.kind = RouteNextHop::Kind::policy;
        nh.target = c.word("policy");
        if (!cfg.sr.policies.count(nh.target))
            return fmt::format("unknown segment-routing policy {}", shown(nh.target));
    } else {
        nh.kind = RouteNextHop::Kind::attached;
        nh.ifname = c.word("ifname");
    }
    if (auto bad = check_interface_exists(cfg, nh.ifname)) return bad;

    auto it = table->find(prefix);
    if (it != table->end())
        for (const RouteNextHop& h : it->second)
            if (!h.owner.empty())
                return fmt::format("{} is installed by {}; it goes when {} removes it", name, h.owner, h.owner);
    if (c.negated) {
        if (it == table->end()) return fmt::format("no {}", name);
        auto pos = std::find(it->second.begin(), it->second.end(), nh);
        if (pos == it->second.end()) return fmt::format("{} has no such next hop", name);
        it->second.erase(pos);
        if (it->second.empty()) table->erase(it);
        return std::nullopt;
    }
    static const std::vector<RouteNextHop> kNone;
    const std::vector<RouteNextHop>& hops = it == table->end() ? kNone : it->second;
    if (std::find(hops.begin(), hops.end(), nh) != hops.end()) return fmt::format("{} already has this next hop", name);
    for (auto& h : hops) {
        if (!is_ecmp_kind(nh.kind) || !is_ecmp_kind(h.kind))
            return fmt::format("{} already exists with another kind of next hop; delete it first", name);
        if (same_way(h, nh))
            return fmt::format("{} already has this next hop with other labels or backup; delete it first", name);
    }
    if (hops.size() >= kMaxEcmpNextHops)
        return fmt::format("{} already has {} next hops (the ECMP maximum)", name, kMaxEcmpNextHops);
    (*table)[prefix].push_back(std::move(nh));  // validated: only now change anything
    return std::nullopt;
}

}  // namespace

std::optional<std::string> apply_owned_route_change(RunningConfig& cfg, const std::string& owner,
                                                    const OwnedRouteChange& change) {
    if (owner.empty()) return std::string("an owned route needs an owner");
    auto owned_by_owner = [&](const std::vector<RouteNextHop>& hops) {
        return !hops.empty() && std::all_of(hops.begin(), hops.end(), [&](auto& h) { return h.owner == owner; });
    };
    for (const Prefix& p : change.remove) {
        auto it = cfg.routes.find(p.network());
        if (it == cfg.routes.end() || !owned_by_owner(it->second))
            return fmt::format("route {} is not installed by {}", p.network().str(), owner);
    }
    for (auto& [p, gateway] : change.add) {
        if (gateway.family != p.addr.family)
            return fmt::format("gateway {} is not of the same address family as {}", gateway.str(), p.str());
        auto it = cfg.routes.find(p.network());
        if (it == cfg.routes.end() || owned_by_owner(it->second)) continue;
        const std::string& holder = it->second.front().owner;
        return holder.empty() ? fmt::format("route {} is configured", p.network().str())
                              : fmt::format("route {} is installed by {}", p.network().str(), holder);
    }
    for (const Prefix& p : change.remove) cfg.routes.erase(p.network());
    for (auto& [p, gateway] : change.add) {
        RouteNextHop nh;
        nh.kind = RouteNextHop::Kind::via;
        nh.gateway = gateway;
        nh.owner = owner;
        cfg.routes[p.network()] = {nh};
    }
    return std::nullopt;
}

namespace {

// ---------------------------------------------------------------------------
// MPLS
// ---------------------------------------------------------------------------

std::string_view action_name(IlmConfig::Action a) {
    switch (a) {
        case IlmConfig::Action::forward: return "swap/pop";
        case IlmConfig::Action::lookup: return "lookup";
        case IlmConfig::Action::drop: return "drop";
    }
    return "?";
}

std::optional<std::string> apply_label_range(RunningConfig& cfg, const cmd::Parsed& c) {
    uint32_t lo = c.negated ? kMinLabel : c.number("lo");
    uint32_t hi = c.negated ? kMaxLabelValue : c.number("hi");
    if (lo > hi) return fmt::format("label range {}-{} is empty: {} is above {}", lo, hi, lo, hi);
    for (auto& [label, owner] : single_labels(cfg))
        if (label < lo || label > hi)
            return fmt::format("label range {}-{} would leave out label {} ({}); change that first", lo, hi, label,
                               owner);
    if (auto& srgb = cfg.sr.srgb; srgb && (srgb->lo < lo || srgb->hi > hi))
        return fmt::format("label range {}-{} would leave out part of the SRGB {}; change that first", lo, hi,
                           srgb_text(*srgb));
    cfg.mpls.label_lo = lo;
    cfg.mpls.label_hi = hi;
    return std::nullopt;
}

// "via <gateway> [interface <ifname>] [backup ...]" of an ILM path.
std::optional<std::string> read_mpls_path(const RunningConfig& cfg, const cmd::Parsed& c, MplsPath& path) {
    path.gateway = c.ip("gateway");
    if (c.has("ifname")) path.ifname = c.word("ifname");
    if (auto bad = check_interface_exists(cfg, path.ifname)) return bad;
    if (c.has("swap")) path.labels = c.labels("labels");
    if (auto bad = read_backup(cfg, c, path.gateway.family, path.backup)) return bad;
    if (path.backup && path.backup->gateway == path.gateway && path.backup->ifname == path.ifname &&
        path.backup->labels == path.labels)
        return fmt::format("backup {} is the primary path itself", path.backup->gateway.str());
    return std::nullopt;
}

std::optional<std::string> apply_mpls_label(RunningConfig& cfg, const cmd::Parsed& c) {
    uint32_t in = c.number("in");
    IlmConfig::Action action = c.has("lookup") ? IlmConfig::Action::lookup
                               : c.has("drop") ? IlmConfig::Action::drop
                                               : IlmConfig::Action::forward;
    std::string vrf;  // lookup
    MplsPath path;    // forward
    if (action == IlmConfig::Action::lookup && c.has("vrf")) {
        vrf = vrf_ref(c.word("vrf"));
        if (!vrf.empty() && !cfg.vrfs.count(vrf)) return fmt::format("unknown vrf {}", shown(vrf));
    }
    if (action == IlmConfig::Action::forward)
        if (auto bad = read_mpls_path(cfg, c, path)) return bad;

    auto it = cfg.mpls.ilm.find(in);
    if (c.negated) {
        if (it == cfg.mpls.ilm.end()) return fmt::format("no static ILM entry for label {}", in);
        IlmConfig& entry = it->second;
        if (entry.action != action)
            return fmt::format("label {} is a {} entry, not a {} entry", in, action_name(entry.action),
                               action_name(action));
        if (action == IlmConfig::Action::forward) {
            auto pos = std::find(entry.paths.begin(), entry.paths.end(), path);
            if (pos == entry.paths.end()) return fmt::format("label {} has no such path", in);
            entry.paths.erase(pos);
            if (entry.paths.empty()) cfg.mpls.ilm.erase(it);
            return std::nullopt;
        }
        if (action == IlmConfig::Action::lookup && entry.vrf != vrf)
            return fmt::format("label {} looks up in {}, not in {}", in, table_name(entry.vrf), table_name(vrf));
        cfg.mpls.ilm.erase(it);
        return std::nullopt;
    }
    if (it != cfg.mpls.ilm.end() && it->second.action != action)
        return fmt::format("label {} is a {} entry; delete it first", in, action_name(it->second.action));
    if (it == cfg.mpls.ilm.end()) {
        if (auto bad = check_new_label(cfg, in, ilm_owner(in))) return bad;
        IlmConfig entry;
        entry.action = action;
        entry.vrf = vrf;
        if (action == IlmConfig::Action::forward) entry.paths.push_back(std::move(path));
        cfg.mpls.ilm.emplace(in, std::move(entry));
        return std::nullopt;
    }
    IlmConfig& entry = it->second;
    switch (action) {
        case IlmConfig::Action::lookup:
            if (entry.vrf == vrf) return fmt::format("label {} already looks up in {}", in, table_name(vrf));
            return fmt::format("label {} already looks up in {}; delete it first", in, table_name(entry.vrf));
        case IlmConfig::Action::drop: return fmt::format("label {} is already a drop entry", in);
        case IlmConfig::Action::forward: break;
    }
    if (std::find(entry.paths.begin(), entry.paths.end(), path) != entry.paths.end())
        return fmt::format("label {} already has this path", in);
    for (auto& p : entry.paths)
        if (p.gateway == path.gateway && p.ifname == path.ifname)
            return fmt::format("label {} already has a path via {} with other labels or backup; delete it first", in,
                               p.gateway.str());
    if (entry.paths.size() >= kMaxEcmpNextHops)
        return fmt::format("label {} already has {} paths (the ECMP maximum)", in, kMaxEcmpNextHops);
    entry.paths.push_back(std::move(path));
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Segment routing
// ---------------------------------------------------------------------------

std::optional<std::string> check_block(std::string_view what, uint32_t lo, uint32_t hi) {
    if (lo > hi) return fmt::format("{} {}-{} is empty: {} is above {}", what, lo, hi, lo, hi);
    if (uint64_t(hi) - lo + 1 > kMaxSrgbSize)
        return fmt::format("{} {}-{} has {} labels, at most {}", what, lo, hi, uint64_t(hi) - lo + 1, kMaxSrgbSize);
    return std::nullopt;
}

std::optional<std::string> apply_srgb(RunningConfig& cfg, const cmd::Parsed& c) {
    LabelBlock block{c.number("lo"), c.number("hi")};
    auto& sr = cfg.sr;
    if (c.negated) {
        if (!sr.srgb) return "no SRGB is configured";
        if (*sr.srgb != block) return fmt::format("the SRGB is {}, not {}", srgb_text(*sr.srgb), srgb_text(block));
        if (!sr.prefix_sids.empty())
            return fmt::format("prefix-sid {} uses the SRGB; delete the prefix SIDs first",
                               sr.prefix_sids.begin()->first.str());
        sr.srgb.reset();
        return std::nullopt;
    }
    if (auto bad = check_block("SRGB", block.lo, block.hi)) return bad;
    if (block.lo < cfg.mpls.label_lo || block.hi > cfg.mpls.label_hi)
        return fmt::format("SRGB {} is outside the MPLS label range {}-{}", srgb_text(block), cfg.mpls.label_lo,
                           cfg.mpls.label_hi);
    for (auto& [label, owner] : single_labels(cfg))
        if (label >= block.lo && label <= block.hi)
            return fmt::format("SRGB {} contains label {}, already used by {}", srgb_text(block), label, owner);
    uint32_t size = block.hi - block.lo + 1;
    for (auto& [prefix, index] : sr.prefix_sids)
        if (index >= size)
            return fmt::format("prefix-sid {} index {} does not fit the SRGB {} ({} labels)", prefix.str(), index,
                               srgb_text(block), size);
    sr.srgb = block;
    return std::nullopt;
}

std::optional<std::string> apply_prefix_sid(RunningConfig& cfg, const cmd::Parsed& c) {
    Prefix prefix = c.prefix("prefix").network();
    uint32_t index = c.number("index");
    auto& sids = cfg.sr.prefix_sids;
    auto it = sids.find(prefix);
    if (c.negated) {
        if (it == sids.end()) return fmt::format("no prefix-sid for {}", prefix.str());
        if (it->second != index)
            return fmt::format("prefix-sid {} has index {}, not {}", prefix.str(), it->second, index);
        sids.erase(it);
        return std::nullopt;
    }
    const auto& srgb = cfg.sr.srgb;
    if (!srgb) return fmt::format("prefix-sid {} needs an SRGB; configure segment-routing srgb first", prefix.str());
    uint32_t size = srgb->hi - srgb->lo + 1;
    if (index >= size)
        return fmt::format("index {} is outside the SRGB {} ({} labels, indexes 0-{})", index, srgb_text(*srgb), size,
                           size - 1);
    if (it != sids.end()) {
        if (it->second == index) return fmt::format("prefix-sid {} already has index {}", prefix.str(), index);
        return fmt::format("prefix-sid {} already has index {}; delete it first", prefix.str(), it->second);
    }
    for (auto& [p, i] : sids)
        if (i == index) return fmt::format("index {} is already the prefix-sid of {}", index, p.str());
    sids.emplace(prefix, index);
    return std::nullopt;
}

std::optional<std::string> apply_neighbor_srgb(RunningConfig& cfg, const cmd::Parsed& c) {
    IpAddr gateway = c.ip("gateway");
    LabelBlock block{c.number("lo"), c.number("hi")};
    auto& srgbs = cfg.sr.neighbor_srgbs;
    if (c.negated) {
        auto it = srgbs.find(gateway);
        if (it == srgbs.end()) return fmt::format("no neighbor-srgb for {}", gateway.str());
        if (it->second != block)
            return fmt::format("neighbor {}'s SRGB is {}, not {}", gateway.str(), srgb_text(it->second),
                               srgb_text(block));
        srgbs.erase(it);
        return std::nullopt;
    }
    if (auto bad = check_block("neighbor SRGB", block.lo, block.hi)) return bad;
    srgbs[gateway] = block;
    return std::nullopt;
}

std::optional<std::string> apply_adjacency_sid(RunningConfig& cfg, const cmd::Parsed& c) {
    uint32_t label = c.number("label");
    MplsPath path;
    path.gateway = c.ip("gateway");
    if (c.has("ifname")) path.ifname = c.word("ifname");
    auto& adjs = cfg.sr.adjacency_sids;
    if (c.negated) {
        auto it = adjs.find(label);
        if (it == adjs.end()) return fmt::format("no adjacency-sid {}", label);
        if (it->second != path) return fmt::format("adjacency-sid {} has another next hop", label);
        adjs.erase(it);
        return std::nullopt;
    }
    if (auto bad = check_interface_exists(cfg, path.ifname)) return bad;
    if (auto bad = check_new_label(cfg, label, fmt::format("adjacency-sid {}", label))) return bad;
    adjs.emplace(label, std::move(path));
    return std::nullopt;
}

std::optional<std::string> policy_user(const RunningConfig& cfg, const std::string& policy) {
    auto route_user = [&](const std::string& vrf, const RouteTable& table) -> std::optional<std::string> {
        for (auto& [p, hops] : table)
            for (auto& h : hops)
                if (h.kind == RouteNextHop::Kind::policy && h.target == policy)
                    return fmt::format("{} steers into policy {}; delete the route first", route_name(vrf, p), policy);
        return std::nullopt;
    };
    if (auto user = route_user("", cfg.routes)) return user;
    for (auto& [vrf, v] : cfg.vrfs)
        if (auto user = route_user(vrf, v.routes)) return user;
    return std::nullopt;
}

std::optional<std::string> apply_policy(RunningConfig& cfg, const cmd::Parsed& c) {
    const std::string& name = c.word("policy");
    auto& policies = cfg.sr.policies;
    auto it = policies.find(name);
    if (c.id == Id::SrPolicy) {
        if (c.negated) {
            if (it == policies.end()) return fmt::format("unknown segment-routing policy {}", shown(name));
            if (auto user = policy_user(cfg, name)) return user;
            policies.erase(it);  // its binding SID goes with it
            return std::nullopt;
        }
        if (it == policies.end())
            if (auto bad = check_name("policy", name)) return bad;
        std::string ifname = c.has("ifname") ? c.word("ifname") : "";
        if (auto bad = check_interface_exists(cfg, ifname)) return bad;
        SrPolicy& policy = policies[name];  // created or replaced; its binding SID stays
        policy.segments = c.labels("labels");
        policy.gateway = c.ip("gateway");
        policy.ifname = std::move(ifname);
        return std::nullopt;
    }
    // Id::SrPolicyBindingSid
    if (it == policies.end()) return fmt::format("unknown segment-routing policy {}", shown(name));
    uint32_t label = c.number("label");
    auto& current = it->second.binding_sid;
    if (c.negated) {
        if (current != label) return fmt::format("policy {} has no binding SID {}", name, label);
        current.reset();
        return std::nullopt;
    }
    if (current == label) return std::nullopt;
    if (auto bad = check_new_label(cfg, label, binding_owner(name))) return bad;
    current = label;
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// IPsec: SAs and the SPD. Transform names and key lengths come from
// crypto::make_transform; keys never appear in a message, only their lengths.
// ---------------------------------------------------------------------------

using Direction = IpsecSaConfig::Direction;

std::string_view direction_name(Direction d) { return d == Direction::inbound ? "inbound" : "outbound"; }

std::string sa_identity(const IpsecSaConfig& sa) {
    std::string out = fmt::format("{} spi {} {} {} {}", direction_name(sa.direction), sa.spi,
                                  sa.transport ? "transport" : "tunnel", sa.local.str(), sa.remote.str());
    if (!sa.vrf.empty()) out += " vrf " + sa.vrf;
    return out;
}

struct SpdRef {
    const std::string* vrf;
    uint32_t seq;
};

// The first SPD entry that uses SA `name`.
std::optional<SpdRef> sa_user(const RunningConfig& cfg, const std::string& name) {
    for (auto& [vrf, entries] : cfg.ipsec.policies)
        for (auto& [seq, p] : entries)
            if (p.outbound_sa == name || p.inbound_sa == name) return SpdRef{&vrf, seq};
    return std::nullopt;
}

// A cipher on its own: an AEAD as it is; CBC and null with some HMAC, which
// they need but which does not change their key length.
std::variant<crypto::EspTransform, std::string> cipher_alone(const std::string& cipher) {
    auto alone = crypto::make_transform(cipher, "");
    if (std::holds_alternative<crypto::EspTransform>(alone)) return alone;
    auto with_hmac = crypto::make_transform(cipher, "hmac-sha-256");
    if (std::holds_alternative<crypto::EspTransform>(with_hmac)) return with_hmac;
    return alone;  // the unknown-cipher message
}

// An integrity algorithm on its own (null pairs with every HMAC).
std::variant<crypto::EspTransform, std::string> integrity_alone(const std::string& integrity) {
    if (std::holds_alternative<crypto::EspTransform>(crypto::make_transform("aes-gcm-128", integrity)))
        return std::string("integrity 'none' needs no line: an AEAD cipher has no separate integrity algorithm");
    return crypto::make_transform("null", integrity);
}

std::string sa_missing(const std::string& name) {
    return fmt::format("unknown ipsec sa {}; create it with 'ipsec sa {} inbound|outbound spi ...' first", shown(name),
                       shown(name));
}

void wipe(std::vector<uint8_t>& key) {
    std::fill(key.begin(), key.end(), uint8_t{0});
    key.clear();
}

std::optional<std::string> apply_ipsec_sa(RunningConfig& cfg, const cmd::Parsed& c) {
    const std::string& name = c.word("name");
    auto& sas = cfg.ipsec.sas;
    auto it = sas.find(name);

    if (c.id == Id::IpsecSa) {
        IpsecSaConfig id;  // the identity the line states
        id.direction = c.has("inbound") ? Direction::inbound : Direction::outbound;
        id.spi = c.number("spi");
        id.transport = c.has("transport");
        id.local = c.ip("local");
        id.remote = c.ip("remote");
        if (c.has_arg("vrf")) id.vrf = vrf_ref(c.word("vrf"));
        if (c.negated) {
            if (it == sas.end()) return fmt::format("unknown ipsec sa {}", shown(name));
            const IpsecSaConfig& cur = it->second;
            if (cur.direction != id.direction || cur.spi != id.spi || cur.transport != id.transport || cur.local != id.local ||
                cur.remote != id.remote || cur.vrf != id.vrf)
                return fmt::format("ipsec sa {} is {}, not {}", name, sa_identity(cur), sa_identity(id));
            if (auto user = sa_user(cfg, name))
                return fmt::format("{} uses ipsec sa {}; delete the policy first", policy_name(*user->vrf, user->seq),
                                   name);
            wipe(it->second.cipher_key);
            wipe(it->second.integrity_key);
            sas.erase(it);
            return std::nullopt;
        }
        if (it == sas.end())
            if (auto bad = check_name("SA", name)) return bad;
        if (id.local.family != id.remote.family)
            return fmt::format("tunnel endpoints {} and {} are not of the same address family", id.local.str(),
                               id.remote.str());
        if (!id.vrf.empty() && !cfg.vrfs.count(id.vrf)) return fmt::format("unknown vrf {}", shown(id.vrf));
        for (auto& [other, sa] : sas) {
            if (other == name || sa.direction != id.direction || sa.spi != id.spi) continue;
            if (id.direction == Direction::inbound)
                return fmt::format("spi {} is already used by inbound ipsec sa {}", id.spi, other);
            if (sa.remote == id.remote)
                return fmt::format("spi {} towards {} is already used by outbound ipsec sa {}", id.spi,
                                   id.remote.str(), other);
        }
        if (it != sas.end()) {
            const IpsecSaConfig& cur = it->second;
            if (auto user = sa_user(cfg, name)) {
                std::string policy = policy_name(*user->vrf, user->seq);
                if (cur.direction != id.direction)
                    return fmt::format("{} uses ipsec sa {} as an {} SA; it cannot become {}", policy, name,
                                       direction_name(cur.direction), direction_name(id.direction));
                if (cur.vrf != id.vrf)
                    return fmt::format("{} uses ipsec sa {} for {}; the SA cannot move to {}", policy, name,
                                       table_name(cur.vrf), table_name(id.vrf));
            }
            if (id.direction == Direction::outbound && cur.replay_window != 64)
                return fmt::format("ipsec sa {} has replay-window {}, which only an inbound SA has; remove it first",
                                   name, cur.replay_window);
        }
        IpsecSaConfig& sa = sas[name];  // created, or its identity changed: keys and options stay
        sa.direction = id.direction;
        sa.spi = id.spi;
        sa.transport = id.transport;
        sa.local = id.local;
        sa.remote = id.remote;
        sa.vrf = std::move(id.vrf);
        return std::nullopt;
    }

    if (it == sas.end()) return sa_missing(name);
    IpsecSaConfig& sa = it->second;
    switch (c.id) {
        case Id::IpsecSaEncryption: {
            std::string cipher = c.has_arg("cipher") ? c.word("cipher") : "null";
            auto alone = cipher_alone(cipher);
            if (auto* err = std::get_if<std::string>(&alone)) return *err;
            const auto& t = std::get<crypto::EspTransform>(alone);
            cipher = crypto::name(t.cipher);
            if (c.negated) {
                if (sa.cipher.empty()) return fmt::format("ipsec sa {} has no encryption", name);
                if (sa.cipher != cipher)  // the key need not match: it is not shown anywhere to copy
                    return fmt::format("ipsec sa {} uses {}, not {}", name, sa.cipher, cipher);
                sa.cipher.clear();
                wipe(sa.cipher_key);
                return std::nullopt;
            }
            std::vector<uint8_t> key = c.has_arg("key") ? c.hex("key") : std::vector<uint8_t>{};
            if (key.size() != t.cipher_key_len()) {
                std::string need = t.aead() ? fmt::format("{} ({} + 4-byte salt)", t.cipher_key_len(),
                                                          t.cipher_key_len() - 4)
                                            : std::to_string(t.cipher_key_len());
                size_t got = key.size();
                wipe(key);
                return fmt::format("key is {} bytes, {} needs {}", got, cipher, need);
            }
            if (!sa.integrity.empty()) {
                auto pair = crypto::make_transform(cipher, sa.integrity);
                if (auto* err = std::get_if<std::string>(&pair)) {
                    wipe(key);
                    return fmt::format("{}; remove ipsec sa {}'s integrity first", *err, name);
                }
            }
            wipe(sa.cipher_key);
            sa.cipher = std::move(cipher);
            sa.cipher_key = std::move(key);
            return std::nullopt;
        }
        case Id::IpsecSaIntegrity: {
            auto alone = integrity_alone(c.word("integrity"));
            if (auto* err = std::get_if<std::string>(&alone)) return *err;
            const auto& t = std::get<crypto::EspTransform>(alone);
            std::string integrity(crypto::name(t.integrity));
            if (c.negated) {
                if (sa.integrity.empty()) return fmt::format("ipsec sa {} has no integrity algorithm", name);
                if (sa.integrity != integrity)
                    return fmt::format("ipsec sa {} uses {}, not {}", name, sa.integrity, integrity);
                sa.integrity.clear();
                wipe(sa.integrity_key);
                return std::nullopt;
            }
            std::vector<uint8_t> key = c.hex("key");
            if (key.size() != t.integrity_key_len()) {
                size_t got = key.size();
                wipe(key);
                return fmt::format("key is {} bytes, {} needs {}", got, integrity, t.integrity_key_len());
            }
            if (!sa.cipher.empty()) {
                auto pair = crypto::make_transform(sa.cipher, integrity);
                if (auto* err = std::get_if<std::string>(&pair)) {
                    wipe(key);
                    return *err;
                }
            }
            wipe(sa.integrity_key);
            sa.integrity = std::move(integrity);
            sa.integrity_key = std::move(key);
            return std::nullopt;
        }
        case Id::IpsecSaEsn: sa.esn = !c.negated; return std::nullopt;
        case Id::IpsecSaLifetime: {
            const bool packets = c.has("packets"), kilobytes = c.has("kilobytes");
            const bool seconds = c.has("seconds");
            if (!packets && !kilobytes && !seconds) return "say which lifetime: packets, kilobytes or seconds";
            IpsecSaConfig::Lifetime& life = packets ? sa.life_packets : kilobytes ? sa.life_kilobytes : sa.life_seconds;
            if (c.negated) {
                life = {};
                return std::nullopt;
            }
            const uint32_t soft = c.number("soft"), hard = c.number("hard");
            if (soft > hard) return fmt::format("soft lifetime {} is above the hard one {}", soft, hard);
            life = {soft, hard};
            return std::nullopt;
        }
        case Id::IpsecSaIpMtu:
            if (c.negated) {
                sa.ip_mtu.reset();
                return std::nullopt;
            }
            if (sa.direction != Direction::outbound)
                return fmt::format("ipsec sa {} is inbound; ip-mtu applies to what an outbound SA sends", name);
            sa.ip_mtu = uint16_t(c.number("mtu"));
            return std::nullopt;
        case Id::IpsecSaEncapsulatedIpMtu:
            if (c.negated) {
                sa.encapsulated_ip_mtu.reset();
                return std::nullopt;
            }
            if (sa.direction != Direction::outbound)
                return fmt::format("ipsec sa {} is inbound; encapsulated-ip-mtu applies to what an outbound SA sends",
                                   name);
            if (sa.local.family == Family::v6 && c.number("mtu") < 1280)
                return fmt::format("encapsulated-ip-mtu {} is below IPv6's minimum MTU of 1280 (RFC 8200 §5)",
                                   c.number("mtu"));
            sa.encapsulated_ip_mtu = uint16_t(c.number("mtu"));
            return std::nullopt;
        case Id::IpsecSaNatTraversal:
            if (c.negated) sa.nat_traversal.reset();
            else sa.nat_traversal = uint16_t(c.has_arg("port") ? c.number("port") : 4500);
            return std::nullopt;
        case Id::IpsecSaReplayWindow: {
            if (c.negated) {
                sa.replay_window = 64;
                return std::nullopt;
            }
            uint32_t window = c.number("packets");
            if (sa.direction != Direction::inbound)
                return fmt::format("ipsec sa {} is outbound; only an inbound SA has a replay window", name);
            if (window % 64) return fmt::format("replay-window {} is not a multiple of 64", window);
            sa.replay_window = window;
            return std::nullopt;
        }
        default: return "not an ipsec sa command";
    }
}

bool is_icmp(uint8_t protocol) { return protocol == 1 || protocol == 58; }
bool has_ports(uint8_t protocol) { return protocol == 6 || protocol == 17 || protocol == 132; }

bool same_selectors(const IpsecPolicyConfig& a, const IpsecPolicyConfig& b) {
    return a.local == b.local && a.remote == b.remote && a.protocol == b.protocol &&
           a.local_port_lo == b.local_port_lo && a.local_port_hi == b.local_port_hi &&
           a.remote_port_lo == b.remote_port_lo && a.remote_port_hi == b.remote_port_hi;
}

// The SA a protect entry names: it exists, goes the right way and carries the entry's VRF.
std::optional<std::string> check_policy_sa(const RunningConfig& cfg, const std::string& sa_name, Direction want,
                                           const std::string& vrf) {
    auto it = cfg.ipsec.sas.find(sa_name);
    if (it == cfg.ipsec.sas.end()) return fmt::format("unknown ipsec sa {}", shown(sa_name));
    if (it->second.direction != want)
        return fmt::format("ipsec sa {} is {}; {} needs an {} SA", sa_name, direction_name(it->second.direction),
                           want == Direction::outbound ? "protect" : "inbound", direction_name(want));
    if (it->second.vrf != vrf)
        return fmt::format("ipsec sa {} carries traffic of {}, not of {}", sa_name, table_name(it->second.vrf),
                           table_name(vrf));
    return std::nullopt;
}

std::optional<std::string> apply_ipsec_policy(RunningConfig& cfg, const cmd::Parsed& c) {
    uint32_t seq = c.number("seq");
    std::string vrf = c.has_arg("vrf") ? vrf_ref(c.word("vrf")) : "";
    if (!vrf.empty() && !cfg.vrfs.count(vrf)) return fmt::format("unknown vrf {}", shown(vrf));
    const std::string name = policy_name(vrf, seq);

    IpsecPolicyConfig p;
    p.local = c.prefix("local").network();
    p.remote = c.prefix("remote").network();
    if (p.local.addr.family != p.remote.addr.family)
        return fmt::format("local {} and remote {} are not of the same address family", p.local.str(),
                           p.remote.str());
    if (c.has_arg("protocol")) p.protocol = uint8_t(c.number("protocol"));
    struct Range {
        const char* keyword;
        const char* lo;
        const char* hi;
        uint16_t& out_lo;
        uint16_t& out_hi;
        const char* icmp_field;
    };
    Range ranges[] = {{"local-ports", "lport-lo", "lport-hi", p.local_port_lo, p.local_port_hi, "types"},
                      {"remote-ports", "rport-lo", "rport-hi", p.remote_port_lo, p.remote_port_hi, "codes"}};
    for (auto& r : ranges) {
        if (!c.has_arg(r.lo)) continue;
        uint32_t lo = c.number(r.lo), hi = c.number(r.hi);
        if (!p.protocol)
            return fmt::format("{} needs a protocol: 6 (TCP), 17 (UDP), 132 (SCTP), or 1/58 (ICMP types and codes)",
                               r.keyword);
        if (!is_icmp(*p.protocol) && !has_ports(*p.protocol))
            return fmt::format("protocol {} has no ports: {} needs protocol 6 (TCP), 17 (UDP), 132 (SCTP), or 1/58 "
                               "(ICMP types and codes)",
                               *p.protocol, r.keyword);
        if (lo > hi) return fmt::format("{} {} {} is empty: the first is above the second", r.keyword, lo, hi);
        if (is_icmp(*p.protocol) && hi > 255)
            return fmt::format("{} {} {}: with protocol {} these are ICMP {}, 0-255", r.keyword, lo, hi, *p.protocol,
                               r.icmp_field);
        r.out_lo = uint16_t(lo);
        r.out_hi = uint16_t(hi);
    }
    p.action = c.has("protect") ? IpsecPolicyConfig::Action::protect
               : c.has("bypass") ? IpsecPolicyConfig::Action::bypass
                                 : IpsecPolicyConfig::Action::discard;

    auto& spds = cfg.ipsec.policies;
    if (c.negated) {
        // The selectors must match; the action need not.
        auto spd = spds.find(vrf);
        auto it = spd == spds.end() ? decltype(spd->second.find(seq)){} : spd->second.find(seq);
        if (spd == spds.end() || it == spd->second.end()) return fmt::format("no {}", name);
        if (!same_selectors(it->second, p)) return fmt::format("{} has other selectors", name);
        spd->second.erase(it);
        if (spd->second.empty()) spds.erase(spd);
        return std::nullopt;
    }
    if (p.action == IpsecPolicyConfig::Action::protect) {
        p.outbound_sa = c.word("outbound-sa");
        if (auto bad = check_policy_sa(cfg, p.outbound_sa, Direction::outbound, vrf)) return bad;
        if (c.has_arg("inbound-sa")) {
            p.inbound_sa = c.word("inbound-sa");
            if (auto bad = check_policy_sa(cfg, p.inbound_sa, Direction::inbound, vrf)) return bad;
        }
    }
    spds[vrf][seq] = std::move(p);  // added, or the entry at this sequence number replaced
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// IKEv2 connections. The pre-shared key never enters a message.
// ---------------------------------------------------------------------------

std::string ike_missing(const std::string& name) {
    return fmt::format("unknown ike connection {}; create it with 'ike connection {} local ADDRESS remote ADDRESS' first",
                       shown(name), shown(name));
}

std::string names_text(const std::vector<std::string_view>& names) {
    std::string out;
    for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

// Two prefixes of one family share an address.
bool overlap(const Prefix& a, const Prefix& b) {
    return a.addr.is_v4() == b.addr.is_v4() && (a.contains(b.addr) || b.contains(a.addr));
}

// A connection's SPD entries (seq .. seq + policy_count() - 1) must fit the
// sequence numbers and stay clear of every other connection's.
std::optional<std::string> check_policy_block(const RunningConfig& cfg, const std::string& name,
                                              const IkeConnectionConfig::Child& child) {
    const uint64_t last = uint64_t(child.seq) + child.policy_count() - 1;
    if (last > 65535)
        return fmt::format("policies {}-{} (one per local x remote selector) go beyond 65535", child.seq, last);
    for (auto& [other, oc] : cfg.ike) {
        if (other == name || !oc.child) continue;
        const uint64_t olast = uint64_t(oc.child->seq) + oc.child->policy_count() - 1;
        if (child.seq <= olast && oc.child->seq <= last)
            return child.policy_count() == 1 && oc.child->policy_count() == 1
                       ? fmt::format("policy {} is already used by ike connection {}", child.seq, other)
                       : fmt::format("policies {}-{} overlap ike connection {}'s {}-{}", child.seq, last, other,
                                     oc.child->seq, olast);
    }
    return std::nullopt;
}

// `entry` may join a TS-list side: the child's family, no overlap, room left.
std::optional<std::string> check_ts_entry(const std::vector<Prefix>& side, const Prefix& entry, std::string_view what,
                                          bool v4) {
    if (entry.addr.is_v4() != v4)
        return fmt::format("{} {} is not of the child's family ({})", what, entry.str(), v4 ? "IPv4" : "IPv6");
    for (const Prefix& p : side)
        if (overlap(p, entry)) return fmt::format("{} {} overlaps the TS-list's {}", what, entry.str(), p.str());
    if (side.size() >= kMaxIkeTrafficSelectors)
        return fmt::format("the TS-list has {} {} entries already (at most {})", side.size(), what,
                           kMaxIkeTrafficSelectors);
    return std::nullopt;
}

std::optional<std::string> apply_ike_settings(RunningConfig& cfg, const cmd::Parsed& c) {
    IkeSettings& s = cfg.ike_settings;
    switch (c.id) {
        case Id::IkeLockout:
            if (c.negated) {
                s.lockout_failures = IkeSettings{}.lockout_failures;
                s.lockout_window = IkeSettings{}.lockout_window;
                s.lockout_duration = IkeSettings{}.lockout_duration;
            } else {
                s.lockout_failures = c.number("failures");
                s.lockout_window = c.number("window");
                s.lockout_duration = c.number("duration");
            }
            return std::nullopt;
        case Id::IkeCookieThreshold:
            s.cookie_threshold = c.negated ? IkeSettings{}.cookie_threshold : c.number("half-open");
            return std::nullopt;
        case Id::IkePad: {
            auto id = parse_ike_identity(c.word("id-type"), c.word("id"));
            if (auto* err = std::get_if<std::string>(&id)) return *err;
            const IkeIdentity& who = std::get<IkeIdentity>(id);
            const Prefix p = c.prefix("prefix").network();
            auto it = s.pad.find(who);
            if (c.negated) {
                if (it == s.pad.end() || std::find(it->second.begin(), it->second.end(), p) == it->second.end())
                    return fmt::format("ike pad has no {} remote-ts {}", ike_identity_text(who), p.str());
                std::erase(it->second, p);
                if (it->second.empty()) s.pad.erase(it);
                return std::nullopt;
            }
            if (it != s.pad.end()) {
                if (std::find(it->second.begin(), it->second.end(), p) != it->second.end()) return std::nullopt;
                if (it->second.size() >= kMaxIkeTrafficSelectors)
                    return fmt::format("ike pad {} has {} prefixes already (at most {})", ike_identity_text(who),
                                       it->second.size(), kMaxIkeTrafficSelectors);
            }
            s.pad[who].push_back(p);
            return std::nullopt;
        }
        default: return "not an ike setting";
    }
}

std::optional<std::string> apply_ike(RunningConfig& cfg, const cmd::Parsed& c) {
    if (c.id == Id::IkeLockout || c.id == Id::IkeCookieThreshold || c.id == Id::IkePad)
        return apply_ike_settings(cfg, c);
    const std::string& name = c.word("name");
    auto it = cfg.ike.find(name);
    if (c.id == Id::IkeConnection) {
        if (c.negated) {
            if (it == cfg.ike.end()) return ike_missing(name);
            wipe(it->second.psk);
            cfg.ike.erase(it);
            return std::nullopt;
        }
        IpAddr local = c.ip("local"), remote = c.ip("remote");
        if (local.is_v4() != remote.is_v4())
            return fmt::format("local {} and remote {} are of different families", local.str(), remote.str());
        if (local == remote) return fmt::format("local and remote are the same address {}", local.str());
        IkeConnectionConfig& conn = cfg.ike[name];
        conn.local = local;
        conn.remote = remote;
        return std::nullopt;
    }
    if (it == cfg.ike.end()) return ike_missing(name);
    IkeConnectionConfig& conn = it->second;
    switch (c.id) {
        case Id::IkeConnectionPsk: {
            if (c.negated) {
                wipe(conn.psk);
                conn.psk_text = false;
                return std::nullopt;
            }
            bool text = c.has("text");
            std::vector<uint8_t> key;
            if (text) {
                const std::string& t = c.word("psk");
                key.assign(t.begin(), t.end());
            } else {
                key = c.hex("psk");
            }
            wipe(conn.psk);
            conn.psk = std::move(key);
            conn.psk_text = text;
            return std::nullopt;
        }
        case Id::IkeConnectionCertificate:
            if (c.negated) {
                conn.cert_file.clear();
                conn.key_file.clear();
                conn.ca_file.clear();
                conn.crl_file.clear();
                return std::nullopt;
            }
            conn.cert_file = c.word("cert");
            conn.key_file = c.word("private-key");
            conn.ca_file = c.word("ca");
            return std::nullopt;
        case Id::IkeConnectionProposal: {
            if (c.negated) {
                conn.proposal = "aes-gcm-128";
                conn.dh = 19;
                return std::nullopt;
            }
            const std::string& p = c.word("proposal");
            auto& names = ike_proposal_names();
            if (std::find(names.begin(), names.end(), p) == names.end())
                return fmt::format("unknown IKE proposal '{}': expected one of {}", shown(p), names_text(names));
            if (!ike_dh_group_supported(c.number("dh")))
                return fmt::format("unsupported dh group {}: expected 14, 19, 20 or 31", c.number("dh"));
            conn.proposal = p;
            conn.dh = uint16_t(c.number("dh"));
            return std::nullopt;
        }
        case Id::IkeConnectionChild: {
            if (c.negated) {
                conn.child.reset();
                return std::nullopt;
            }
            // The child line sets the TS-list's first pair; `ts-list` entries stay.
            IkeConnectionConfig::Child child;
            const Prefix local_ts = c.prefix("local-ts").network(), remote_ts = c.prefix("remote-ts").network();
            if (local_ts.addr.is_v4() != remote_ts.addr.is_v4())
                return fmt::format("local-ts {} and remote-ts {} are of different families", local_ts.str(),
                                   remote_ts.str());
            child.local_ts = {local_ts};
            child.remote_ts = {remote_ts};
            if (conn.child) {
                const bool v4 = local_ts.addr.is_v4();
                for (size_t i = 1; i < conn.child->local_ts.size(); ++i) {
                    if (auto err = check_ts_entry(child.local_ts, conn.child->local_ts[i], "local-ts", v4)) return err;
                    child.local_ts.push_back(conn.child->local_ts[i]);
                }
                for (size_t i = 1; i < conn.child->remote_ts.size(); ++i) {
                    if (auto err = check_ts_entry(child.remote_ts, conn.child->remote_ts[i], "remote-ts", v4))
                        return err;
                    child.remote_ts.push_back(conn.child->remote_ts[i]);
                }
            }
            child.transport = c.has("transport");
            if (c.has_arg("esp-proposal")) {
                const std::string& p = c.word("esp-proposal");
                auto& names = esp_proposal_names();
                if (std::find(names.begin(), names.end(), p) == names.end())
                    return fmt::format("unknown ESP proposal '{}': expected one of {}", shown(p), names_text(names));
                child.esp_proposal = p;
            }
            if (c.has_arg("seq")) child.seq = c.number("seq");
            if (auto err = check_policy_block(cfg, name, child)) return err;
            conn.child = child;
            return std::nullopt;
        }
        case Id::IkeConnectionTsList: {
            if (!conn.child)
                return fmt::format("ike connection {} has no child; set it with 'ike connection {} child local-ts "
                                   "PREFIX remote-ts PREFIX' first",
                                   shown(name), shown(name));
            const bool local = c.has("local");
            const std::string_view what = local ? "local-ts" : "remote-ts";
            const Prefix p = c.prefix("prefix").network();
            IkeConnectionConfig::Child child = *conn.child;
            std::vector<Prefix>& side = local ? child.local_ts : child.remote_ts;
            auto at = std::find(side.begin(), side.end(), p);
            if (c.negated) {
                if (at == side.end()) return fmt::format("the TS-list has no {} {}", what, p.str());
                if (at == side.begin())
                    return fmt::format("{} {} is the child line's; change or remove the child instead", what, p.str());
                side.erase(at);
            } else {
                if (at != side.end()) return std::nullopt;
                if (auto err = check_ts_entry(side, p, what, child.local_ts.front().addr.is_v4())) return err;
                side.push_back(p);
                if (auto err = check_policy_block(cfg, name, child)) return err;
            }
            conn.child = std::move(child);
            return std::nullopt;
        }
        case Id::IkeConnectionReverseRoute: conn.reverse_route = !c.negated; return std::nullopt;
        case Id::IkeConnectionCrl:
            if (c.negated) {
                conn.crl_file.clear();
                return std::nullopt;
            }
            if (conn.cert_file.empty())
                return fmt::format("ike connection {} has no certificate; a CRL checks the peer's certificate",
                                   shown(name));
            conn.crl_file = c.word("crl");
            return std::nullopt;
        case Id::IkeConnectionIdentity: {
            std::optional<IkeIdentity>& slot = c.has("local-id") ? conn.local_id : conn.remote_id;
            auto id = parse_ike_identity(c.word("id-type"), c.word("id"));
            if (auto* err = std::get_if<std::string>(&id)) return *err;
            if (c.negated) {
                if (slot != std::get<IkeIdentity>(id))
                    return fmt::format("ike connection {} has no {} {}", shown(name),
                                       c.has("local-id") ? "local-id" : "remote-id",
                                       ike_identity_text(std::get<IkeIdentity>(id)));
                slot.reset();
            } else {
                slot = std::get<IkeIdentity>(id);
            }
            return std::nullopt;
        }
        case Id::IkeConnectionStartAction:
            conn.start_action = c.negated || c.has("none") ? IkeConnectionConfig::StartAction::none
                                : c.has("trap")           ? IkeConnectionConfig::StartAction::trap
                                                          : IkeConnectionConfig::StartAction::start;
            return std::nullopt;
        case Id::IkeConnectionDpd: conn.dpd_seconds = c.negated ? 0 : c.number("seconds"); return std::nullopt;
        case Id::IkeConnectionLifetime:
            if (c.has("child")) conn.child_lifetime = c.negated ? 3600 : c.number("seconds");
            else conn.ike_lifetime = c.negated ? 14400 : c.number("seconds");
            return std::nullopt;
        case Id::IkeConnectionPfs:
            if (c.negated) {
                conn.pfs_group = 0;
                return std::nullopt;
            }
            if (!ike_dh_group_supported(c.number("group")))
                return fmt::format("unsupported dh group {}: expected 14, 19, 20 or 31", c.number("group"));
            conn.pfs_group = uint16_t(c.number("group"));
            return std::nullopt;
        default: return "not an ike command";
    }
}

}  // namespace

// Every branch validates before it changes anything, so a failed command
// leaves the configuration as it was without copying it (a million routes
// would make each CLI change cost a copy).
std::optional<std::string> apply_command(RunningConfig& config, const cmd::Parsed& c, bool startup) {
    if (cmd::is_ipsec_sa_command(c.id)) return apply_ipsec_sa(config, c);
    switch (c.id) {
        case Id::InterfaceDevice:
        case Id::InterfaceVlan:
        case Id::InterfaceAddress:
        case Id::InterfaceMtu:
        case Id::InterfaceShutdown:
        case Id::InterfaceDescription:
        case Id::InterfaceNeighbor:
        case Id::InterfaceMpls:
        case Id::InterfaceSav:
        case Id::InterfaceSavRole:
        case Id::InterfaceVrf: return apply_interface(config, c, startup);
        case Id::SavLocalAsn: config.sav.local_asn = c.negated ? 0 : c.number("asn"); return std::nullopt;
        case Id::SavAllow: {
            const Prefix p = c.prefix("prefix").network();
            const std::string& ifname = c.word("ifname");
            auto it = config.sav.allow.find(p);
            if (c.negated) {
                if (it == config.sav.allow.end() || !it->second.count(ifname))
                    return fmt::format("no sav allow {} interface {}", p.str(), ifname);
                it->second.erase(ifname);
                if (it->second.empty()) config.sav.allow.erase(it);
                return std::nullopt;
            }
            if (!config.interfaces.count(ifname)) return fmt::format("unknown interface {}", ifname);
            config.sav.allow[p].insert(ifname);
            return std::nullopt;
        }
        case Id::SavDeny: {
            const Prefix p = c.prefix("prefix").network();
            if (c.negated) {
                if (!config.sav.deny.erase(p)) return fmt::format("no sav deny {}", p.str());
                return std::nullopt;
            }
            config.sav.deny.insert(p);
            return std::nullopt;
        }
        case Id::Route: return apply_route(config, c);
        case Id::IcmpRateLimit: config.icmp_rate_pps = c.negated ? 100 : c.number("pps"); return std::nullopt;
        case Id::Vrf:
        case Id::VrfLabel: return apply_vrf(config, c);
        case Id::MplsLabelRange: return apply_label_range(config, c);
        case Id::MplsTtlMode:
            config.mpls.ttl_mode = !c.negated && c.has("pipe") ? TtlMode::pipe : TtlMode::uniform;
            return std::nullopt;
        case Id::MplsLabel: return apply_mpls_label(config, c);
        case Id::SrSrgb: return apply_srgb(config, c);
        case Id::SrPrefixSid: return apply_prefix_sid(config, c);
        case Id::SrNeighborSrgb: return apply_neighbor_srgb(config, c);
        case Id::SrAdjacencySid: return apply_adjacency_sid(config, c);
        case Id::SrPolicy:
        case Id::SrPolicyBindingSid: return apply_policy(config, c);
        case Id::IpsecPolicy: return apply_ipsec_policy(config, c);
        case Id::IkeConnection:
        case Id::IkeConnectionPsk:
        case Id::IkeConnectionCertificate:
        case Id::IkeConnectionProposal:
        case Id::IkeConnectionChild:
        case Id::IkeConnectionStartAction:
        case Id::IkeConnectionDpd:
        case Id::IkeConnectionLifetime:
        case Id::IkeConnectionPfs: return apply_ike(config, c);
        case Id::IkeConnectionIdentity:
        case Id::IkeConnectionTsList:
        case Id::IkeConnectionReverseRoute:
        case Id::IkeConnectionCrl:
        case Id::IkePad:
        case Id::IkeLockout:
        case Id::IkeCookieThreshold: return apply_ike(config, c);
        default: return "not a configuration command";
    }
}

std::vector<const InterfaceConfig*> ordered_interfaces(const RunningConfig& config) {
    std::vector<const InterfaceConfig*> out;
    for (auto& [n, i] : config.interfaces)
        if (i.is_port()) out.push_back(&i);
    for (auto& [n, i] : config.interfaces)
        if (!i.is_port()) out.push_back(&i);
    return out;
}

namespace {

std::string backup_text(const std::optional<BackupPath>& b) {
    if (!b) return "";
    std::string out = " backup " + b->gateway.str();
    if (!b->ifname.empty()) out += " backup-interface " + b->ifname;
    if (!b->labels.empty()) out += " backup-labels " + labels_text(b->labels);
    return out;
}

std::string route_line(const std::string& vrf, const Prefix& p, const RouteNextHop& h) {
    std::string out = route_name(vrf, p);
    switch (h.kind) {
        case RouteNextHop::Kind::via:
            out += " via " + h.gateway.str();
            if (!h.ifname.empty()) out += " interface " + h.ifname;
            if (!h.labels.empty()) out += " labels " + labels_text(h.labels);
            out += backup_text(h.backup);
            break;
        case RouteNextHop::Kind::attached: out += " interface " + h.ifname; break;
        case RouteNextHop::Kind::blackhole: out += " blackhole"; break;
        case RouteNextHop::Kind::unreachable: out += " unreachable"; break;
        case RouteNextHop::Kind::next_vrf: out += " next-vrf " + (h.target.empty() ? "default" : h.target); break;
        case RouteNextHop::Kind::policy: out += " policy " + h.target; break;
    }
    return out + "\n";
}

std::string ilm_line(uint32_t label, const IlmConfig& entry, const MplsPath* path) {
    std::string out = fmt::format("mpls label {}", label);
    switch (entry.action) {
        case IlmConfig::Action::forward:
            out += path->labels.empty() ? " pop" : " swap " + labels_text(path->labels);
            out += " via " + path->gateway.str();
            if (!path->ifname.empty()) out += " interface " + path->ifname;
            out += backup_text(path->backup);
            break;
        case IlmConfig::Action::lookup: out += entry.vrf.empty() ? " lookup" : " lookup vrf " + entry.vrf; break;
        case IlmConfig::Action::drop: out += " drop"; break;
    }
    return out + "\n";
}

std::string key_text(const std::vector<uint8_t>& key, bool with_secrets) {
    if (!with_secrets) return "<secret>";
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (uint8_t b : key) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

std::string ipsec_sa_lines(const std::string& name, const IpsecSaConfig& sa, bool with_secrets) {
    std::string out = fmt::format("ipsec sa {} {}\n", name, sa_identity(sa));
    if (sa.cipher == "null") out += fmt::format("ipsec sa {} encryption null\n", name);
    else if (!sa.cipher.empty())
        out += fmt::format("ipsec sa {} encryption {} key {}\n", name, sa.cipher, key_text(sa.cipher_key, with_secrets));
    if (!sa.integrity.empty())
        out += fmt::format("ipsec sa {} integrity {} key {}\n", name, sa.integrity,
                           key_text(sa.integrity_key, with_secrets));
    if (sa.esn) out += fmt::format("ipsec sa {} esn\n", name);
    if (sa.ip_mtu) out += fmt::format("ipsec sa {} ip-mtu {}\n", name, *sa.ip_mtu);
    if (sa.encapsulated_ip_mtu) out += fmt::format("ipsec sa {} encapsulated-ip-mtu {}\n", name, *sa.encapsulated_ip_mtu);
    for (auto [kind, life] : {std::pair{"packets", &sa.life_packets}, std::pair{"kilobytes", &sa.life_kilobytes},
                              std::pair{"seconds", &sa.life_seconds}})
        if (life->hard) out += fmt::format("ipsec sa {} lifetime {} {} {}\n", name, kind, life->soft, life->hard);
    if (sa.nat_traversal)
        out += *sa.nat_traversal == 4500 ? fmt::format("ipsec sa {} nat-traversal\n", name)
                                         : fmt::format("ipsec sa {} nat-traversal remote-port {}\n", name, *sa.nat_traversal);
    if (sa.replay_window != 64) out += fmt::format("ipsec sa {} replay-window {}\n", name, sa.replay_window);
    return out;
}

std::string ipsec_policy_line(const std::string& vrf, uint32_t seq, const IpsecPolicyConfig& p) {
    std::string out = fmt::format("{} local {} remote {}", policy_name(vrf, seq), p.local.str(), p.remote.str());
    if (p.protocol) out += fmt::format(" protocol {}", *p.protocol);
    if (p.local_port_lo != 0 || p.local_port_hi != 65535)
        out += fmt::format(" local-ports {} {}", p.local_port_lo, p.local_port_hi);
    if (p.remote_port_lo != 0 || p.remote_port_hi != 65535)
        out += fmt::format(" remote-ports {} {}", p.remote_port_lo, p.remote_port_hi);
    switch (p.action) {
        case IpsecPolicyConfig::Action::protect:
            out += " protect " + p.outbound_sa;
            if (!p.inbound_sa.empty()) out += " inbound " + p.inbound_sa;
            break;
        case IpsecPolicyConfig::Action::bypass: out += " bypass"; break;
        case IpsecPolicyConfig::Action::discard: out += " discard"; break;
    }
    return out + "\n";
}

std::string ike_lines(const std::string& name, const IkeConnectionConfig& c, bool with_secrets) {
    std::string out = fmt::format("ike connection {} local {} remote {}\n", name, c.local.str(), c.remote.str());
    if (!c.psk.empty()) {
        if (!with_secrets) out += fmt::format("ike connection {} psk key <secret>\n", name);
        else if (c.psk_text)
            out += fmt::format("ike connection {} psk text key {}\n", name,
                               quote_if_needed(std::string(c.psk.begin(), c.psk.end())));
        else out += fmt::format("ike connection {} psk key {}\n", name, key_text(c.psk, true));
    }
    if (!c.cert_file.empty())
        out += fmt::format("ike connection {} certificate {} private-key {} ca {}\n", name, quote_if_needed(c.cert_file),
                           quote_if_needed(c.key_file), quote_if_needed(c.ca_file));
    if (!c.crl_file.empty()) out += fmt::format("ike connection {} crl {}\n", name, quote_if_needed(c.crl_file));
    if (c.proposal != "aes-gcm-128" || c.dh != 19)
        out += fmt::format("ike connection {} proposal {} dh {}\n", name, c.proposal, c.dh);
    if (c.local_id) out += fmt::format("ike connection {} local-id {}\n", name, ike_identity_text(*c.local_id));
    if (c.remote_id) out += fmt::format("ike connection {} remote-id {}\n", name, ike_identity_text(*c.remote_id));
    if (c.child) {
        out += fmt::format("ike connection {} child local-ts {} remote-ts {}", name, c.child->local_ts.front().str(),
                           c.child->remote_ts.front().str());
        if (c.child->transport) out += " mode transport";
        if (c.child->esp_proposal != "aes-gcm-128") out += " esp-proposal " + c.child->esp_proposal;
        if (c.child->seq != 1000) out += fmt::format(" policy {}", c.child->seq);
        out += "\n";
        for (size_t i = 1; i < c.child->local_ts.size(); ++i)
            out += fmt::format("ike connection {} ts-list local {}\n", name, c.child->local_ts[i].str());
        for (size_t i = 1; i < c.child->remote_ts.size(); ++i)
            out += fmt::format("ike connection {} ts-list remote {}\n", name, c.child->remote_ts[i].str());
    }
    if (c.start_action == IkeConnectionConfig::StartAction::trap) out += fmt::format("ike connection {} start-action trap\n", name);
    if (c.start_action == IkeConnectionConfig::StartAction::start) out += fmt::format("ike connection {} start-action start\n", name);
    if (c.dpd_seconds) out += fmt::format("ike connection {} dpd {}\n", name, c.dpd_seconds);
    if (c.child_lifetime != 3600) out += fmt::format("ike connection {} lifetime child {}\n", name, c.child_lifetime);
    if (c.ike_lifetime != 14400) out += fmt::format("ike connection {} lifetime ike {}\n", name, c.ike_lifetime);
    if (c.pfs_group) out += fmt::format("ike connection {} pfs {}\n", name, c.pfs_group);
    if (c.reverse_route) out += fmt::format("ike connection {} reverse-route\n", name);
    return out;
}

}  // namespace

// Order: what a line refers to comes before it. The MPLS label range, then VRFs
// (and their labels) before anything that binds or allocates labels; interfaces
// (bound to their VRF before their addresses, which may repeat across VRFs);
// segment routing, with policies before the routes steering into them; static
// labels; then the default table and the VRF tables.
std::string render_running_config(const RunningConfig& config, bool with_secrets) {
    std::string out = "! rampartd running configuration\n";
    const MplsConfig& mpls = config.mpls;
    bool default_range = mpls.label_lo == kMinLabel && mpls.label_hi == kMaxLabelValue;
    if (!default_range || mpls.ttl_mode != TtlMode::uniform) out += "!\n";
    if (!default_range) out += fmt::format("mpls label-range {} {}\n", mpls.label_lo, mpls.label_hi);
    if (mpls.ttl_mode == TtlMode::pipe) out += "mpls ttl-mode pipe\n";
    if (!config.vrfs.empty()) out += "!\n";
    for (auto& [name, vrf] : config.vrfs) {
        out += fmt::format("vrf {}\n", name);
        if (vrf.label) out += fmt::format("vrf {} label {}\n", name, *vrf.label);
    }
    // IPsec needs only the VRFs: SAs, then the SPD in (vrf, seq) order.
    for (auto& [name, sa] : config.ipsec.sas) out += "!\n" + ipsec_sa_lines(name, sa, with_secrets);
    if (!config.ipsec.policies.empty()) out += "!\n";
    for (auto& [vrf, entries] : config.ipsec.policies)
        for (auto& [seq, p] : entries) out += ipsec_policy_line(vrf, seq, p);
    const IkeSettings& ike = config.ike_settings;
    const IkeSettings ike_default;
    if (ike.lockout_failures != ike_default.lockout_failures || ike.lockout_window != ike_default.lockout_window ||
        ike.lockout_duration != ike_default.lockout_duration || ike.cookie_threshold != ike_default.cookie_threshold ||
        !ike.pad.empty())
        out += "!\n";
    if (ike.lockout_failures != ike_default.lockout_failures || ike.lockout_window != ike_default.lockout_window ||
        ike.lockout_duration != ike_default.lockout_duration)
        out += fmt::format("ike lockout failures {} window {} duration {}\n", ike.lockout_failures, ike.lockout_window,
                           ike.lockout_duration);
    if (ike.cookie_threshold != ike_default.cookie_threshold)
        out += fmt::format("ike cookie-threshold {}\n", ike.cookie_threshold);
    for (auto& [who, prefixes] : ike.pad)
        for (const Prefix& p : prefixes) out += fmt::format("ike pad {} remote-ts {}\n", ike_identity_text(who), p.str());
    for (auto& [name, conn] : config.ike) out += "!\n" + ike_lines(name, conn, with_secrets);
    for (const InterfaceConfig* i : ordered_interfaces(config)) {
        out += "!\n";
        if (i->is_port()) out += fmt::format("interface {} device {}\n", i->name, quote_if_needed(i->device));
        else out += fmt::format("interface {} vlan {} parent {}\n", i->name, i->vlan, i->parent);
        if (!i->description.empty())
            out += fmt::format("interface {} description {}\n", i->name, quote_if_needed(i->description));
        if (i->mtu != 1500) out += fmt::format("interface {} mtu {}\n", i->name, i->mtu);
        if (!i->vrf.empty()) out += fmt::format("interface {} vrf {}\n", i->name, i->vrf);
        for (auto& a : i->addresses) out += fmt::format("interface {} address {}\n", i->name, a.str());
        for (auto& [a, m] : i->static_neighbors)
            out += fmt::format("interface {} neighbor {} {}\n", i->name, a.str(), m.str());
        if (i->mpls) out += fmt::format("interface {} mpls\n", i->name);
        if (i->sav_role != sav::Role::customer || i->sav_neighbor_asn)
            out += fmt::format("interface {} sav-role {}{}\n", i->name, sav_role_keyword(i->sav_role),
                               i->sav_neighbor_asn ? fmt::format(" asn {}", i->sav_neighbor_asn) : "");
        if (i->sav != sav::Mechanism::off)
            out += fmt::format("interface {} sav {}{}\n", i->name, sav_mechanism_keyword(i->sav),
                               i->sav_monitor ? " monitor" : "");
        if (i->shutdown) out += fmt::format("interface {} shutdown\n", i->name);
    }
    const SegmentRoutingConfig& sr = config.sr;
    if (sr.srgb || !sr.neighbor_srgbs.empty() || !sr.adjacency_sids.empty() || !sr.policies.empty()) out += "!\n";
    if (sr.srgb) out += fmt::format("segment-routing srgb {} {}\n", sr.srgb->lo, sr.srgb->hi);
    for (auto& [p, index] : sr.prefix_sids)
        out += fmt::format("segment-routing prefix-sid {} index {}\n", p.str(), index);
    for (auto& [gateway, block] : sr.neighbor_srgbs)
        out += fmt::format("segment-routing neighbor-srgb {} {} {}\n", gateway.str(), block.lo, block.hi);
    for (auto& [label, path] : sr.adjacency_sids) {
        out += fmt::format("segment-routing adjacency-sid {} via {}", label, path.gateway.str());
        out += path.ifname.empty() ? "\n" : " interface " + path.ifname + "\n";
    }
    for (auto& [name, policy] : sr.policies) {
        out += fmt::format("segment-routing policy {} segments {} via {}", name, labels_text(policy.segments),
                           policy.gateway.str());
        out += policy.ifname.empty() ? "\n" : " interface " + policy.ifname + "\n";
        if (policy.binding_sid)
            out += fmt::format("segment-routing policy {} binding-sid {}\n", name, *policy.binding_sid);
    }
    if (!mpls.ilm.empty()) out += "!\n";
    for (auto& [label, entry] : mpls.ilm) {
        if (entry.action == IlmConfig::Action::forward)
            for (auto& path : entry.paths) out += ilm_line(label, entry, &path);
        else
            out += ilm_line(label, entry, nullptr);
    }
    if (!config.routes.empty()) out += "!\n";
    for (auto& [p, hops] : config.routes)
        for (auto& h : hops)
            if (h.owner.empty()) out += route_line("", p, h);  // owned ones are the protocol's state
    for (auto& [name, vrf] : config.vrfs) {
        if (!vrf.routes.empty()) out += "!\n";
        for (auto& [p, hops] : vrf.routes)
            for (auto& h : hops) out += route_line(name, p, h);
    }
    if (config.icmp_rate_pps != 100) out += fmt::format("!\nicmp rate-limit {}\n", config.icmp_rate_pps);
    // SAV lists name interfaces: after them.
    const SavConfig& sv = config.sav;
    if (sv.local_asn || !sv.allow.empty() || !sv.deny.empty()) out += "!\n";
    if (sv.local_asn) out += fmt::format("sav local-asn {}\n", sv.local_asn);
    for (auto& [p, ifaces] : sv.allow)
        for (auto& n : ifaces) out += fmt::format("sav allow {} interface {}\n", p.str(), n);
    for (auto& p : sv.deny) out += fmt::format("sav deny {}\n", p.str());
    return out;
}

}  // namespace rampart

namespace rampart {
std::optional<std::string> load_config_text(RunningConfig& config, std::string_view text) {
    RunningConfig candidate = config;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (cmd::is_blank_or_comment(line)) continue;
        auto parsed = cmd::parse(line);
        if (auto* e = std::get_if<cmd::ParseError>(&parsed))
            return fmt::format("line {}: {}: {}", line_no, cmd::redact_secrets(line), e->message);
        const auto& c = std::get<cmd::Parsed>(parsed);
        if (cmd::scope(c.id) == cmd::Scope::exec_only)
            return fmt::format("line {}: {}: '{}' is not allowed in a configuration file", line_no,
                               cmd::redact_secrets(line),
                               c.line.substr(0, c.line.find(' ')));
        if (auto err = apply_command(candidate, c, true))
            return fmt::format("line {}: {}: {}", line_no, cmd::redact_secrets(line), *err);
    }
    config = std::move(candidate);
    return std::nullopt;
}
// ---------------------------------------------------------------------------
// IKE identities
// ---------------------------------------------------------------------------

namespace {
constexpr std::pair<IkeIdentity::Type, std::string_view> kIkeIdKeywords[] = {
    {IkeIdentity::Type::ip, "ip"},     {IkeIdentity::Type::fqdn, "fqdn"},     {IkeIdentity::Type::email, "email"},
    {IkeIdentity::Type::dn, "dn"},     {IkeIdentity::Type::key_id, "key-id"},
};
constexpr size_t kMaxIdentityChars = 255;  // what one ID payload of text carries here
}  // namespace

std::string_view ike_identity_type_keyword(IkeIdentity::Type t) {
    for (auto& [type, word] : kIkeIdKeywords)
        if (type == t) return word;
    return "?";
}

std::variant<IkeIdentity, std::string> parse_ike_identity(std::string_view type, std::string_view value) {
    IkeIdentity id;
    bool known = false;
    for (auto& [t, word] : kIkeIdKeywords)
        if (word == type) {
            id.type = t;
            known = true;
        }
    if (!known) return fmt::format("unknown identity type '{}': expected ip, fqdn, email, dn or key-id", shown(type));
    if (value.empty()) return fmt::format("empty {} identity", type);
    if (value.size() > kMaxIdentityChars)
        return fmt::format("{} identity of {} characters (at most {})", type, value.size(), kMaxIdentityChars);
    auto bad = [&](std::string_view why) { return fmt::format("{} identity '{}' {}", type, shown(value), why); };
    auto is_alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'); };
    switch (id.type) {
        case IkeIdentity::Type::ip: {
            auto a = IpAddr::parse(value);
            if (!a) return bad("is not an IPv4 or IPv6 address");
            id.value = a->str();
            return id;
        }
        case IkeIdentity::Type::fqdn:
            for (char ch : value)
                if (!is_alnum(ch) && ch != '.' && ch != '-' && ch != '_')
                    return bad(fmt::format("has '{}': a host name has letters, digits, '.', '-' and '_' only", ch));
            id.value = std::string(value);
            return id;
        case IkeIdentity::Type::email: {
            const size_t at = value.find('@');
            if (at == std::string_view::npos || at == 0 || at + 1 == value.size() ||
                value.find('@', at + 1) != std::string_view::npos)
                return bad("is not of the form user@domain");
            if (value.find_first_of(" \t\"") != std::string_view::npos) return bad("has blanks or quotes");
            id.value = std::string(value);
            return id;
        }
        case IkeIdentity::Type::dn: {
            // "C=CH, O=Example, CN=gw": relative names ATTRIBUTE=VALUE, comma-separated.
            std::string canonical;
            size_t start = 0;
            while (start <= value.size()) {
                size_t comma = value.find(',', start);
                if (comma == std::string_view::npos) comma = value.size();
                std::string_view rdn = value.substr(start, comma - start);
                while (!rdn.empty() && rdn.front() == ' ') rdn.remove_prefix(1);
                while (!rdn.empty() && rdn.back() == ' ') rdn.remove_suffix(1);
                const size_t eq = rdn.find('=');
                if (eq == std::string_view::npos || eq == 0 || eq + 1 == rdn.size())
                    return bad(fmt::format("has '{}', not ATTRIBUTE=VALUE", shown(rdn)));
                for (char ch : rdn.substr(0, eq))
                    if (!is_alnum(ch) && ch != '.') return bad(fmt::format("has the attribute '{}'", shown(rdn.substr(0, eq))));
                canonical += (canonical.empty() ? "" : ", ") + std::string(rdn);
                start = comma + 1;
            }
            id.value = canonical;
            return id;
        }
        case IkeIdentity::Type::key_id: {
            std::string_view hex = value;
            if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
            if (hex.empty() || hex.size() % 2) return bad("is not an even number of hex digits");
            std::string lower;
            for (char ch : hex) {
                const char l = ch >= 'A' && ch <= 'F' ? char(ch - 'A' + 'a') : ch;
                if (!((l >= '0' && l <= '9') || (l >= 'a' && l <= 'f'))) return bad("is not hex");
                lower += l;
            }
            id.value = lower;
            return id;
        }
    }
    return bad("is unknown");
}

std::string ike_identity_text(const IkeIdentity& id) {
    return fmt::format("{} {}", ike_identity_type_keyword(id.type), quote_if_needed(id.value));
}

}  // namespace rampart
