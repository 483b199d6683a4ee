// BGP-4: the local AS and router id, neighbours with their session settings
// (TCP-MD5, GTSM, multihop, timers, max-prefix, roles, ADD-PATH, graceful
// restart, policies, families) and the prefixes we originate. The BGP
// protocol (src/slowpath/bgp/, a registered protocol) runs this configuration
// and answers the `show bgp` / `clear bgp` exec commands listed here.
// Neighbour lines are flat ("bgp neighbor ADDR ..."), as every other line of
// the language; TCP-MD5 keys never enter a message.
#include "slowpath/config/bgp.hpp"

#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd {
    As, RouterId, Network, Neighbor, LocalAddress, Password, TtlSecurity, EbgpMultihop, Passive, HoldTime, MaxPrefix,
    GracefulRestart, Role, AddPath, Import, Export, RouteReflectorClient, Family
};

constexpr std::string_view kBgp = "Configure BGP-4";
constexpr std::string_view kNeighbor = "A BGP neighbour (peer)";
constexpr std::string_view kNeighborAddr = "The neighbour's IPv4/IPv6 address";
constexpr std::string_view kRole = "BGP role toward this neighbour (RFC 9234; sets OTC rules)";
constexpr std::string_view kStrict = "The neighbour must announce its role too (else Role Mismatch)";
constexpr std::string_view kAddPath = "ADD-PATH (RFC 7911): several paths per prefix";
constexpr std::string_view kFamily = "Address family of the session (several lines: several families)";

#define BGP_NEIGHBOR "bgp neighbor <neighbor:IP> "
#define NEIGHBOR_HELP kBgp, kNeighbor, kNeighborAddr

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::As), "as", "bgp as <asn:UINT(1-4294967295)>",
     "Run BGP as this autonomous system (no: remove the whole BGP configuration)",
     {kBgp, "Our autonomous system", "AS number (4-octet ASNs allowed)"}, Negatable::yes, kBoth},
    {int(Cmd::RouterId), "router-id", "bgp router-id <id:IP>",
     "Set the BGP identifier (no: the highest IPv4 interface address)",
     {kBgp, "BGP identifier", "An IPv4 address"}, Negatable::yes, kBoth},
    {int(Cmd::Network), "network", "bgp network <prefix:PREFIX>", "Originate a prefix to the neighbours (no: withdraw it)",
     {kBgp, "Originate a prefix", "Prefix, e.g. 192.0.2.0/24 or 2001:db8::/32"}, Negatable::yes, kBoth},
    {int(Cmd::Neighbor), "neighbor", BGP_NEIGHBOR "remote-as <asn:UINT(1-4294967295)>",
     "Add a neighbour in this AS, or change its AS (no: delete it, closing its session)",
     {NEIGHBOR_HELP, "The neighbour's autonomous system (ours: iBGP)", "AS number"}, Negatable::yes, kBoth},
    {int(Cmd::LocalAddress), "local-address", BGP_NEIGHBOR "local-address <local:IP>",
     "Connect from this address of ours (no: the kernel picks)",
     {NEIGHBOR_HELP, "Our address on the session", "One of the box's addresses, of the neighbour's family"},
     Negatable::yes, kBoth},
    {int(Cmd::Password), "password", BGP_NEIGHBOR "password key <password:SECRET>",
     "Protect the session with TCP-MD5 (RFC 2385) (no: without)",
     {NEIGHBOR_HELP, "TCP-MD5 signatures on every segment", "The key follows",
      "Key text, 1-80 characters; quote it if it contains spaces"}, Negatable::yes, kBoth},
    {int(Cmd::TtlSecurity), "ttl-security", BGP_NEIGHBOR "ttl-security hops <hops:UINT(1-254)>",
     "GTSM (RFC 5082): send with TTL 255, accept only segments from at most this many hops away",
     {NEIGHBOR_HELP, "Generalized TTL security", "How far the neighbour may be", "Hops (1: directly connected)"},
     Negatable::yes, kBoth},
    {int(Cmd::EbgpMultihop), "ebgp-multihop", BGP_NEIGHBOR "ebgp-multihop <ttl:UINT(2-255)>",
     "Reach an eBGP neighbour that is not directly connected (TTL of our segments; no: 1)",
     {NEIGHBOR_HELP, "eBGP over several hops", "TTL"}, Negatable::yes, kBoth},
    {int(Cmd::Passive), "passive", BGP_NEIGHBOR "passive", "Never connect to the neighbour: wait for it to connect",
     {NEIGHBOR_HELP, "Wait for the neighbour to connect"}, Negatable::yes, kBoth},
    {int(Cmd::HoldTime), "hold-time", BGP_NEIGHBOR "hold-time <seconds:UINT(0-65535)>",
     "Propose this hold time (0, or 3 and more; no: 90 s); keepalives every third of the agreed one",
     {NEIGHBOR_HELP, "Hold time proposed in our OPEN", "Seconds"}, Negatable::yes, kBoth},
    {int(Cmd::MaxPrefix), "max-prefix", BGP_NEIGHBOR "max-prefix <count:UINT(1-4294967295)>",
     "Close the session (Cease, RFC 4486) when the neighbour sends more prefixes; it stays down until cleared",
     {NEIGHBOR_HELP, "Most prefixes accepted from the neighbour", "Prefixes"}, Negatable::yes, kBoth},
    {int(Cmd::GracefulRestart), "graceful-restart", BGP_NEIGHBOR "graceful-restart",
     "Graceful restart helper (RFC 4724): keep a restarting neighbour's routes until it is back",
     {NEIGHBOR_HELP, "Keep its routes through its restart"}, Negatable::yes, kBoth},
    {int(Cmd::Role), "role", BGP_NEIGHBOR "role provider [strict]", "Our role: we are the neighbour's provider",
     {NEIGHBOR_HELP, kRole, "We are its provider (it is our customer)", kStrict}, Negatable::yes, kBoth},
    {int(Cmd::Role), "role", BGP_NEIGHBOR "role customer [strict]", "Our role: we are the neighbour's customer",
     {NEIGHBOR_HELP, kRole, "We are its customer (it is our provider)", kStrict}, Negatable::yes, kBoth},
    {int(Cmd::Role), "role", BGP_NEIGHBOR "role peer [strict]", "Our role: lateral peers",
     {NEIGHBOR_HELP, kRole, "Lateral peering", kStrict}, Negatable::yes, kBoth},
    {int(Cmd::Role), "role", BGP_NEIGHBOR "role rs [strict]", "Our role: we are the route server",
     {NEIGHBOR_HELP, kRole, "We are the route server, it is a client", kStrict}, Negatable::yes, kBoth},
    {int(Cmd::Role), "role", BGP_NEIGHBOR "role rs-client [strict]", "Our role: we are a route server's client",
     {NEIGHBOR_HELP, kRole, "It is the route server, we are its client", kStrict}, Negatable::yes, kBoth},
    {int(Cmd::AddPath), "add-path", BGP_NEIGHBOR "add-path receive", "Accept several paths per prefix from the neighbour",
     {NEIGHBOR_HELP, kAddPath, "Receive several paths"}, Negatable::yes, kBoth},
    {int(Cmd::AddPath), "add-path", BGP_NEIGHBOR "add-path send", "Send several paths per prefix to the neighbour",
     {NEIGHBOR_HELP, kAddPath, "Send several paths"}, Negatable::yes, kBoth},
    {int(Cmd::AddPath), "add-path", BGP_NEIGHBOR "add-path both", "Send and receive several paths per prefix",
     {NEIGHBOR_HELP, kAddPath, "Send and receive several paths"}, Negatable::yes, kBoth},
    {int(Cmd::Import), "import", BGP_NEIGHBOR "import <policy:WORD>",
     "Filter and change what the neighbour sends with a policy (no: none; eBGP then accepts nothing, RFC 8212)",
     {NEIGHBOR_HELP, "Import policy", "Policy name"}, Negatable::yes, kBoth},
    {int(Cmd::Export), "export", BGP_NEIGHBOR "export <policy:WORD>",
     "Filter and change what we send the neighbour with a policy (no: none; eBGP then gets nothing, RFC 8212)",
     {NEIGHBOR_HELP, "Export policy", "Policy name"}, Negatable::yes, kBoth},
    {int(Cmd::RouteReflectorClient), "route-reflector-client", BGP_NEIGHBOR "route-reflector-client",
     "Reflect iBGP routes to this iBGP neighbour (RFC 4456)", {NEIGHBOR_HELP, "It is our route-reflector client"},
     Negatable::yes, kBoth},
    {int(Cmd::Family), "family", BGP_NEIGHBOR "family ipv4-unicast",
     "Exchange IPv4 unicast routes (no family line: the family of the neighbour's address)",
     {NEIGHBOR_HELP, kFamily, "IPv4 unicast (AFI 1, SAFI 1)"}, Negatable::yes, kBoth},
    {int(Cmd::Family), "family", BGP_NEIGHBOR "family ipv6-unicast",
     "Exchange IPv6 unicast routes (no family line: the family of the neighbour's address)",
     {NEIGHBOR_HELP, kFamily, "IPv6 unicast (AFI 2, SAFI 1)"}, Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kExecRows[] = {
    {int(BgpExec::ShowSummary), "show-summary", "show bgp summary",
     "The neighbours: state, uptime, prefixes received and accepted (as FRR's `show bgp summary`)",
     {kShow, "BGP state", "One line per neighbour"}, Negatable::no, kExec},
    {int(BgpExec::ShowNeighbors), "show-neighbors", "show bgp neighbors [<neighbor:IP>]",
     "The neighbours in detail: session, timers, capabilities, counters, last error",
     {kShow, "BGP state", "Neighbours in detail", "Only this neighbour"}, Negatable::no, kExec},
    {int(BgpExec::ShowNeighborRoutes), "show-neighbor-routes", "show bgp neighbors <neighbor:IP> received-routes",
     "What the neighbour sent (its Adj-RIB-In, before import policy), with the import verdict",
     {kShow, "BGP state", "Neighbours in detail", kNeighborAddr, "Its Adj-RIB-In as received"}, Negatable::no, kExec},
    {int(BgpExec::ShowNeighborRoutes), "show-neighbor-routes", "show bgp neighbors <neighbor:IP> advertised-routes",
     "What we sent the neighbour (its Adj-RIB-Out, after export policy)",
     {kShow, "BGP state", "Neighbours in detail", kNeighborAddr, "Its Adj-RIB-Out as sent"}, Negatable::no, kExec},
    {int(BgpExec::ShowTable), "show-table", "show bgp ipv4 [<prefix:PREFIX4>]",
     "The IPv4 Loc-RIB (best paths), or every path of one prefix with why it is not best",
     {kShow, "BGP state", "IPv4 unicast", "One prefix: all its paths"}, Negatable::no, kExec},
    {int(BgpExec::ShowTable), "show-table", "show bgp ipv6 [<prefix:PREFIX6>]",
     "The IPv6 Loc-RIB (best paths), or every path of one prefix with why it is not best",
     {kShow, "BGP state", "IPv6 unicast", "One prefix: all its paths"}, Negatable::no, kExec},
    {int(BgpExec::Clear), "clear", "clear bgp <neighbor:IP> [soft in | soft out]",
     "Reset a neighbour's session (Cease / Administrative Reset), or refresh its routes without a reset",
     {"Reset state", "BGP state", kNeighborAddr, "Without resetting the session", "Apply the import policy again "
      "(a ROUTE-REFRESH asks the neighbour for its routes)", "Without resetting the session",
      "Send the neighbour all our routes again"}, Negatable::no, kExec},
};
// clang-format on
#undef BGP_NEIGHBOR
#undef NEIGHBOR_HELP
const cmd::CommandRegistration kConfigGroup{{"bgp", 97, kRows}};
const cmd::CommandRegistration kExecGroup{{"bgp", 187, kExecRows}};

constexpr size_t kMaxMd5Key = 80;  // TCP_MD5SIG_MAXKEYLEN

constexpr std::pair<bgp::Role, std::string_view> kRoleWords[] = {
    {bgp::Role::provider, "provider"}, {bgp::Role::customer, "customer"}, {bgp::Role::peer, "peer"},
    {bgp::Role::rs, "rs"},             {bgp::Role::rs_client, "rs-client"},
};

std::string_view role_word(bgp::Role r) {
    for (auto& [role, word] : kRoleWords)
        if (role == r) return word;
    return "?";
}

std::string neighbor_missing(const IpAddr& a) {
    return fmt::format("unknown bgp neighbor {}; add it with 'bgp neighbor {} remote-as ASN' first", a.str(), a.str());
}

std::optional<std::string> apply_neighbor(BgpConfig& bgp, const cmd::Parsed& c) {
    const IpAddr addr = c.ip("neighbor");
    auto it = bgp.neighbors.find(addr);
    if (Cmd(c.tag()) == Cmd::Neighbor) {
        const bgp::Asn asn = c.number("asn");
        if (c.negated) {
            if (it == bgp.neighbors.end()) return fmt::format("unknown bgp neighbor {}", addr.str());
            if (it->second.remote_as != asn)
                return fmt::format("bgp neighbor {} is in AS {}, not {}", addr.str(), it->second.remote_as, asn);
            bgp.neighbors.erase(it);
            return std::nullopt;
        }
        if (bgp.asn == 0) return "configure the local AS first: 'bgp as ASN'";
        if (it == bgp.neighbors.end()) it = bgp.neighbors.emplace(addr, BgpNeighborConfig{}).first;
        it->second.remote_as = asn;
        return std::nullopt;
    }
    if (it == bgp.neighbors.end()) return neighbor_missing(addr);
    BgpNeighborConfig& n = it->second;
    const bool no = c.negated;
    switch (Cmd(c.tag())) {
        case Cmd::LocalAddress: {
            if (no) {
                n.local_address.reset();
                return std::nullopt;
            }
            const IpAddr local = c.ip("local");
            if (local.is_v4() != addr.is_v4())
                return fmt::format("local-address {} is not of the neighbour's family", local.str());
            n.local_address = local;
            return std::nullopt;
        }
        case Cmd::Password: {
            if (no) {
                n.password.clear();
                return std::nullopt;
            }
            const std::string& key = c.word("password");
            if (key.size() > kMaxMd5Key)
                return fmt::format("a TCP-MD5 key of {} characters (at most {})", key.size(), kMaxMd5Key);
            n.password = key;
            return std::nullopt;
        }
        case Cmd::TtlSecurity:
            if (no) {
                n.ttl_security_hops.reset();
                return std::nullopt;
            }
            if (n.ebgp_multihop) return "ttl-security and ebgp-multihop exclude each other (GTSM sends TTL 255)";
            n.ttl_security_hops = uint8_t(c.number("hops"));
            return std::nullopt;
        case Cmd::EbgpMultihop:
            if (no) {
                n.ebgp_multihop.reset();
                return std::nullopt;
            }
            if (n.ttl_security_hops) return "ttl-security and ebgp-multihop exclude each other (GTSM sends TTL 255)";
            n.ebgp_multihop = uint8_t(c.number("ttl"));
            return std::nullopt;
        case Cmd::Passive: n.passive = !no; return std::nullopt;
        case Cmd::HoldTime: {
            if (no) {
                n.hold_time.reset();
                return std::nullopt;
            }
            const uint32_t hold = c.number("seconds");
            if (hold == 1 || hold == 2) return fmt::format("hold time {}: 0 or at least 3 seconds (RFC 4271 4.2)", hold);
            n.hold_time = uint16_t(hold);
            return std::nullopt;
        }
        case Cmd::MaxPrefix:
            if (no) n.max_prefix.reset();
            else n.max_prefix = c.number("count");
            return std::nullopt;
        case Cmd::GracefulRestart: n.graceful_restart = !no; return std::nullopt;
        case Cmd::Role: {
            if (no) {
                n.role.reset();
                n.role_strict = false;
                return std::nullopt;
            }
            for (auto& [role, word] : kRoleWords)
                if (c.has(word)) n.role = role;
            n.role_strict = c.has("strict");
            return std::nullopt;
        }
        case Cmd::AddPath: {
            const bool receive = c.has("receive") || c.has("both"), send = c.has("send") || c.has("both");
            if (receive) n.add_path_receive = !no;
            if (send) n.add_path_send = !no;
            return std::nullopt;
        }
        case Cmd::Import:
        case Cmd::Export: {
            std::string& policy = Cmd(c.tag()) == Cmd::Import ? n.import_policy : n.export_policy;
            if (no) {
                if (policy != c.word("policy"))
                    return fmt::format("bgp neighbor {} has no {} policy {}", addr.str(),
                                       Cmd(c.tag()) == Cmd::Import ? "import" : "export", shown(c.word("policy")));
                policy.clear();
                return std::nullopt;
            }
            if (auto bad = check_name("policy", c.word("policy"))) return bad;
            policy = c.word("policy");
            return std::nullopt;
        }
        case Cmd::RouteReflectorClient:
            if (!no && n.remote_as != bgp.asn) return "only an iBGP neighbour can be a route-reflector client";
            n.route_reflector_client = !no;
            return std::nullopt;
        case Cmd::Family: {
            const bgp::AddressFamily f = c.has("ipv4-unicast") ? bgp::kIpv4Unicast : bgp::kIpv6Unicast;
            if (no) n.families.erase(f);
            else n.families.insert(f);
            return std::nullopt;
        }
        default: return "not a bgp neighbor command";
    }
}

std::optional<std::string> apply_bgp(RunningConfig& cfg, const cmd::Parsed& c) {
    BgpConfig& bgp = cfg.bgp;
    switch (Cmd(c.tag())) {
        case Cmd::As: {
            const bgp::Asn asn = c.number("asn");
            if (c.negated) {
                if (bgp.asn != asn) return fmt::format("bgp runs as AS {}, not {}", bgp.asn, asn);
                bgp = BgpConfig{};
                return std::nullopt;
            }
            if (bgp.asn != 0 && bgp.asn != asn && !bgp.neighbors.empty())
                return fmt::format("bgp runs as AS {} with neighbours; 'no bgp as {}' first", bgp.asn, bgp.asn);
            bgp.asn = asn;
            return std::nullopt;
        }
        case Cmd::RouterId: {
            if (c.negated) {
                bgp.router_id.reset();
                return std::nullopt;
            }
            const IpAddr id = c.ip("id");
            if (!id.is_v4() || id.v4_host() == 0) return fmt::format("router-id {}: a non-zero IPv4 address", id.str());
            if (bgp.asn == 0) return "configure the local AS first: 'bgp as ASN'";
            bgp.router_id = id.v4_host();
            return std::nullopt;
        }
        case Cmd::Network: {
            const Prefix p = c.prefix("prefix");
            if (p.network() != p) return fmt::format("{} has host bits set; did you mean {}?", p.str(), p.network().str());
            if (c.negated) {
                if (!bgp.networks.erase(p)) return fmt::format("bgp does not originate {}", p.str());
                return std::nullopt;
            }
            if (bgp.asn == 0) return "configure the local AS first: 'bgp as ASN'";
            bgp.networks.insert(p);
            return std::nullopt;
        }
        default: return apply_neighbor(bgp, c);
    }
}

std::string neighbor_lines(const IpAddr& addr, const BgpNeighborConfig& n, bool with_secrets) {
    const std::string head = "bgp neighbor " + addr.str();
    std::string out = fmt::format("{} remote-as {}\n", head, n.remote_as);
    if (n.local_address) out += fmt::format("{} local-address {}\n", head, n.local_address->str());
    if (!n.password.empty())
        out += fmt::format("{} password key {}\n", head, with_secrets ? quote_if_needed(n.password) : "<secret>");
    if (n.ttl_security_hops) out += fmt::format("{} ttl-security hops {}\n", head, *n.ttl_security_hops);
    if (n.ebgp_multihop) out += fmt::format("{} ebgp-multihop {}\n", head, *n.ebgp_multihop);
    if (n.passive) out += head + " passive\n";
    if (n.hold_time) out += fmt::format("{} hold-time {}\n", head, *n.hold_time);
    if (n.max_prefix) out += fmt::format("{} max-prefix {}\n", head, *n.max_prefix);
    if (n.graceful_restart) out += head + " graceful-restart\n";
    if (n.role) out += fmt::format("{} role {}{}\n", head, role_word(*n.role), n.role_strict ? " strict" : "");
    if (n.add_path_receive && n.add_path_send) out += head + " add-path both\n";
    else if (n.add_path_receive) out += head + " add-path receive\n";
    else if (n.add_path_send) out += head + " add-path send\n";
    if (!n.import_policy.empty()) out += fmt::format("{} import {}\n", head, n.import_policy);
    if (!n.export_policy.empty()) out += fmt::format("{} export {}\n", head, n.export_policy);
    if (n.route_reflector_client) out += head + " route-reflector-client\n";
    for (const auto& f : n.families)
        out += fmt::format("{} family {}\n", head, f == bgp::kIpv4Unicast ? "ipv4-unicast" : "ipv6-unicast");
    return out;
}

std::string render_bgp(const RunningConfig& config, bool with_secrets) {
    const BgpConfig& bgp = config.bgp;
    if (bgp.asn == 0) return {};
    std::string out = fmt::format("!\nbgp as {}\n", bgp.asn);
    if (bgp.router_id) out += fmt::format("bgp router-id {}\n", IpAddr::v4(*bgp.router_id).str());
    for (const Prefix& p : bgp.networks) out += fmt::format("bgp network {}\n", p.str());
    for (auto& [addr, n] : bgp.neighbors) out += neighbor_lines(addr, n, with_secrets);
    return out;
}

class BgpSection final : public Section {
public:
    BgpSection() : Section("bgp", 95) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        return apply_bgp(cfg, c);
    }
    // BGP's routes reach the FIB through the protocol (owned routes), not
    // through its configuration lines.
    ChangeSet changes(const cmd::Parsed&) const override { return no_route_change(); }
    // After the routes (80) and the policies it names.
    std::vector<RenderPart> render_parts() const override { return {{110, render_bgp}}; }
    // The exec commands are the BGP protocol's (bgp/bgp_protocol.cpp).
};

const BgpSection kSection;

}  // namespace
}  // namespace rampart::config
