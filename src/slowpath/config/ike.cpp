// IKEv2 (RFC 7296): connections, the peer authorization database, lockout and
// cookies. The IKE daemon (src/slowpath/ike/, a registered protocol) reads this
// configuration and answers the `show ike` / `ike ...` exec commands listed
// here. Pre-shared keys never enter a message.
#include "slowpath/config/ike.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"

namespace rampart {

using config::quote_if_needed;
using config::shown;

const std::vector<std::string_view>& ike_proposal_names() {
    static const std::vector<std::string_view> names = {"aes-gcm-128",        "aes-gcm-256",        "aes-cbc-128-sha256",
                                                        "aes-cbc-256-sha256", "aes-cbc-256-sha384", "aes-cbc-256-sha512"};
    return names;
}
const std::vector<std::string_view>& esp_proposal_names() { return ike_proposal_names(); }
bool ike_dh_group_supported(uint32_t group) { return group == 14 || group == 19 || group == 20 || group == 31; }

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

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd {
    IkeConnection, IkeConnectionPsk, IkeConnectionCertificate, IkeConnectionProposal, IkeConnectionChild,
    IkeConnectionStartAction, IkeConnectionDpd, IkeConnectionLifetime, IkeConnectionPfs, IkeConnectionIdentity,
    IkeConnectionTsList, IkeConnectionReverseRoute, IkeConnectionCrl, IkePad, IkeLockout, IkeCookieThreshold
};

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::IkeConnection), "connection", "ike connection <name:WORD> local <local:IP> remote <remote:IP>",
     "Create an IKEv2 connection or change its addresses (no: delete it, closing its SAs)",
     {kIke, kIkeConn, kIkeConnName, "Our IKE address (one of the box's interface addresses)", "IPv4/IPv6 address",
      "The peer's IKE address", "IPv4/IPv6 address, of the same family"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionPsk), "psk", "ike connection <name:WORD> psk key <psk:HEX>",
     "Authenticate with a pre-shared key given in hex (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, "Pre-shared key authentication (RFC 7296 section 2.15)", kKey,
      "Pre-shared key bytes in hex"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionPsk), "psk", "ike connection <name:WORD> psk text key <psk:SECRET>",
     "Authenticate with a pre-shared key given as text (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, "Pre-shared key authentication (RFC 7296 section 2.15)",
      "The key is text (its bytes are used as they are)", kKey, "Pre-shared key text; quote it if it contains spaces"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionCertificate), "certificate",
     "ike connection <name:WORD> certificate <cert:WORD> private-key <private-key:WORD> ca <ca:WORD>",
     "Authenticate with a certificate (RFC 7427 signatures) instead of a pre-shared key (no: back to the PSK)",
     {kIke, kIkeConn, kIkeConnName, "Our X.509 certificate: the peer authenticates us with it",
      "PEM file of the certificate (its subjectAltName must hold our IKE address), then any intermediate CA certificates to send", "Its private key",
      "PEM file of the unencrypted RSA or EC private key", "The peer's certificate must chain to these CAs",
      "PEM file of one or more CA certificates"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionProposal), "proposal", "ike connection <name:WORD> proposal <proposal:WORD> dh <dh:UINT(1-65535)>",
     "Set the IKE SA's algorithms (no: back to aes-gcm-128 dh 19)",
     {kIke, kIkeConn, kIkeConnName, "IKE SA algorithms",
      "aes-gcm-128, aes-gcm-256, aes-cbc-128-sha256, aes-cbc-256-sha256, aes-cbc-256-sha384, aes-cbc-256-sha512",
      "Diffie-Hellman group", "14 (MODP 2048), 19 (ECP 256), 20 (ECP 384) or 31 (Curve25519)"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionChild), "child",
     "ike connection <name:WORD> child local-ts <local-ts:PREFIX> remote-ts <remote-ts:PREFIX> [mode tunnel|mode transport] "
     "[esp-proposal <esp-proposal:WORD>] [policy <seq:UINT(1-65535)>]",
     "Set the Child SA: traffic selectors, mode, ESP algorithms and the SPD entry it installs (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, "The Child SA (ESP) the connection negotiates", "Our side's traffic selector",
      "Local prefix", "The peer side's traffic selector", "Remote prefix, of the same family", "ESP mode",
      "Tunnel mode (default)", "ESP mode", "Transport mode", "ESP algorithms",
      "aes-gcm-128 (default), aes-gcm-256, aes-cbc-128-sha256, aes-cbc-256-sha256, aes-cbc-256-sha384, aes-cbc-256-sha512",
      "Sequence number of the SPD entry it installs (default 1000)", "Sequence number"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionStartAction), "start-action", "ike connection <name:WORD> start-action none",
     "What starts the connection: Only the peer or `ike initiate` starts it (default)",
     {kIke, kIkeConn, kIkeConnName, "What starts the connection", "Only the peer or `ike initiate` starts it (default)"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionStartAction), "start-action", "ike connection <name:WORD> start-action trap",
     "What starts the connection: A trap policy: the first matching packet starts negotiation",
     {kIke, kIkeConn, kIkeConnName, "What starts the connection", "A trap policy: the first matching packet starts negotiation"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionStartAction), "start-action", "ike connection <name:WORD> start-action start",
     "What starts the connection: Initiate as soon as it is configured",
     {kIke, kIkeConn, kIkeConnName, "What starts the connection", "Initiate as soon as it is configured"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionDpd), "dpd", "ike connection <name:WORD> dpd <seconds:UINT(1-3600)>",
     "Check the peer's liveness after this many idle seconds (no: never)",
     {kIke, kIkeConn, kIkeConnName, "Dead peer detection (an empty INFORMATIONAL exchange)", "Seconds"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionLifetime), "lifetime", "ike connection <name:WORD> lifetime child <seconds:UINT(10-86400)>",
     "Rekey the Child SA after this many seconds (no: 3600)",
     {kIke, kIkeConn, kIkeConnName, "SA lifetimes", "The Child SA: rekeyed at this age, ended at 110%", "Seconds"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionLifetime), "lifetime", "ike connection <name:WORD> lifetime ike <seconds:UINT(60-86400)>",
     "Rekey the IKE SA after this many seconds (no: 14400)",
     {kIke, kIkeConn, kIkeConnName, "SA lifetimes", "The IKE SA: rekeyed in place at this age", "Seconds"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionPfs), "pfs", "ike connection <name:WORD> pfs <group:UINT(1-65535)>",
     "Use PFS with this D-H group when Child SAs are rekeyed (no: no PFS)",
     {kIke, kIkeConn, kIkeConnName,
      "Perfect forward secrecy: a fresh D-H exchange in each CREATE_CHILD_SA (RFC 7296 section 1.3.1); the peer must do the same",
      "14 (MODP 2048), 19 (ECP 256), 20 (ECP 384) or 31 (Curve25519)"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionIdentity), "identity", "ike connection <name:WORD> local-id <id-type:WORD> <id:WORD>",
     "Present this identity (IDi/IDr) instead of our IKE address (no: the address)",
     {kIke, kIkeConn, kIkeConnName, "Our identity (RFC 7296 section 3.5)", kIkeIdType, kIkeIdValue},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionIdentity), "identity", "ike connection <name:WORD> remote-id <id-type:WORD> <id:WORD>",
     "The identity the peer must authenticate as, instead of its IKE address (no: the address)",
     {kIke, kIkeConn, kIkeConnName, "The peer's identity: any other one fails authentication", kIkeIdType,
      kIkeIdValue},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionTsList), "ts-list", "ike connection <name:WORD> ts-list local <prefix:PREFIX>",
     "Add a local traffic selector to the Child SA's TS-list, after the child line's (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, kIkeTsList, "Our side (TSi as initiator, TSr as responder)",
      "Local prefix, of the child's family, overlapping no other local entry"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionTsList), "ts-list", "ike connection <name:WORD> ts-list remote <prefix:PREFIX>",
     "Add a remote traffic selector to the Child SA's TS-list, after the child line's (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, kIkeTsList, "The peer's side (TSr as initiator, TSi as responder)",
      "Remote prefix, of the child's family, overlapping no other remote entry"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionCrl), "crl", "ike connection <name:WORD> crl <crl:WORD>",
     "Refuse peer certificates this CA's CRL revokes (no: no revocation check)",
     {kIke, kIkeConn, kIkeConnName,
      "Certificate revocation list of the CA: a revoked or CRL-less peer certificate fails authentication",
      "PEM or DER file of the CRL (read when the connection starts)"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeConnectionReverseRoute), "reverse-route", "ike connection <name:WORD> reverse-route",
     "While a Child SA is up, route its remote prefixes to the peer (owner ike; no: never)",
     {kIke, kIkeConn, kIkeConnName,
      "Reverse routes: each remote traffic selector of the Child SA via the peer's IKE address, removed with the Child SA"},
     Negatable::yes, kBoth},
    {int(Cmd::IkePad), "pad", "ike pad <id-type:WORD> <id:WORD> remote-ts <prefix:PREFIX>",
     "Authorize a peer identity for Child SAs towards a remote prefix (no: withdraw it)",
     {kIke, "Peer authorization database (RFC 4301 section 4.4.3): with any entry, identities without one get no Child SA",
      kIkeIdType, kIkeIdValue, "Remote traffic selectors the identity may have (its TSi as responder)",
      "Remote prefix; the peer's selectors are narrowed to the identity's prefixes"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeLockout), "lockout",
     "ike lockout failures <failures:UINT(1-1000)> window <window:UINT(1-86400)> duration <duration:UINT(1-86400)>",
     "Lock a peer out after this many failed authentications within the window (no: 3 in 60 s for 60 s)",
     {kIke, "Lockout: a locked-out peer's IKE_SA_INIT requests are dropped unanswered and nothing is initiated",
      "Failed authentications that start a lockout", "Count", "Within this many seconds", "Seconds",
      "Lock out for this many seconds", "Seconds"},
     Negatable::yes, kBoth},
    {int(Cmd::IkeCookieThreshold), "cookie-threshold", "ike cookie-threshold <half-open:UINT(0-1000000)>",
     "Ask for COOKIEs once this many responder IKE SAs are half-open (no: 8)",
     {kIke, "Responder cookies (RFC 7296 section 2.6) against IKE_SA_INIT floods",
      "Half-open responder IKE SAs (all connections); 0 asks every initiator"},
     Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kExecRows[] = {
    {int(IkeExec::ShowSa), "show-sa", "show ike sa [detail]", "Show the IKE SAs and their Child SAs (never keys)",
     {kShow, "IKEv2 state", "IKE SAs: state, SPIs, peer, algorithms, Child SAs", "With counters and timers"},
     Negatable::no, kExec},
    {int(IkeExec::ShowPeers), "show-peers", "show ike peers", "Show the configured IKE connections and their state",
     {kShow, "IKEv2 state", "Configured connections, their peers and state"}, Negatable::no, kExec},
    {int(IkeExec::ShowLockout), "show-lockout", "show ike lockout",
     "Show the peers with recent authentication failures or locked out, and for how long",
     {kShow, "IKEv2 state", "Peers: failures in the window, lockout time left"}, Negatable::no, kExec},
    {int(IkeExec::ShowPad), "show-pad", "show ike pad", "Show the peer authorization database",
     {kShow, "IKEv2 state", "Identities and the remote traffic selectors they may have"}, Negatable::no,
     kExec},
    {int(IkeExec::ClearLockout), "clear-lockout", "clear ike lockout [<address:IP>]",
     "Lift the lockout of a peer address, or of every peer, and forget its failures",
     {"Reset state", "IKEv2 state", "Lockouts and counted authentication failures", "Only this peer's IKE address"},
     Negatable::no, kExec},
    {int(IkeExec::ShowSummary), "show-summary", "show ike summary", "Count the IKE SAs by state and the Child SAs, with the daemon's counters",
     {kShow, "IKEv2 state", "Counts and counters (thousands of tunnels: no line per SA)"}, Negatable::no,
     kExec},
    {int(IkeExec::ClearSa), "clear-sa", "clear ike sa <name:WORD>", "Delete a connection's IKE SA and Child SAs (as `ike terminate`)",
     {"Reset state", "IKEv2 state", "A connection's IKE SA", kIkeConnName}, Negatable::no, kExec},
    {int(IkeExec::Initiate), "initiate", "ike initiate <name:WORD>", "Negotiate a connection's IKE SA and Child SA now",
     {kIkeExec, "Start negotiating now", kIkeConnName}, Negatable::no, kExec},
    {int(IkeExec::Terminate), "terminate", "ike terminate <name:WORD>", "Delete a connection's IKE SA (the peer is told)",
     {kIkeExec, "Delete the IKE SA and its Child SAs", kIkeConnName}, Negatable::no, kExec},
    {int(IkeExec::Rekey), "rekey", "ike rekey <name:WORD> [child]", "Rekey a connection's IKE SA, or its Child SA, now (CREATE_CHILD_SA)",
     {kIkeExec, "Rekey now, in place (CREATE_CHILD_SA)", kIkeConnName, "The Child SA instead of the IKE SA"},
     Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"ike", 90, kRows}};
const cmd::CommandRegistration kExecGroup{{"ike", 180, kExecRows}};

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
    switch (Cmd(c.tag())) {
        case Cmd::IkeLockout:
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
        case Cmd::IkeCookieThreshold:
            s.cookie_threshold = c.negated ? IkeSettings{}.cookie_threshold : c.number("half-open");
            return std::nullopt;
        case Cmd::IkePad: {
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
    if (Cmd(c.tag()) == Cmd::IkeLockout || Cmd(c.tag()) == Cmd::IkeCookieThreshold || Cmd(c.tag()) == Cmd::IkePad)
        return apply_ike_settings(cfg, c);
    const std::string& name = c.word("name");
    auto it = cfg.ike.find(name);
    if (Cmd(c.tag()) == Cmd::IkeConnection) {
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
    switch (Cmd(c.tag())) {
        case Cmd::IkeConnectionPsk: {
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
        case Cmd::IkeConnectionCertificate:
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
        case Cmd::IkeConnectionProposal: {
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
        case Cmd::IkeConnectionChild: {
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
        case Cmd::IkeConnectionTsList: {
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
        case Cmd::IkeConnectionReverseRoute: conn.reverse_route = !c.negated; return std::nullopt;
        case Cmd::IkeConnectionCrl:
            if (c.negated) {
                conn.crl_file.clear();
                return std::nullopt;
            }
            if (conn.cert_file.empty())
                return fmt::format("ike connection {} has no certificate; a CRL checks the peer's certificate",
                                   shown(name));
            conn.crl_file = c.word("crl");
            return std::nullopt;
        case Cmd::IkeConnectionIdentity: {
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
        case Cmd::IkeConnectionStartAction:
            conn.start_action = c.negated || c.has("none") ? IkeConnectionConfig::StartAction::none
                                : c.has("trap")           ? IkeConnectionConfig::StartAction::trap
                                                          : IkeConnectionConfig::StartAction::start;
            return std::nullopt;
        case Cmd::IkeConnectionDpd: conn.dpd_seconds = c.negated ? 0 : c.number("seconds"); return std::nullopt;
        case Cmd::IkeConnectionLifetime:
            if (c.has("child")) conn.child_lifetime = c.negated ? 3600 : c.number("seconds");
            else conn.ike_lifetime = c.negated ? 14400 : c.number("seconds");
            return std::nullopt;
        case Cmd::IkeConnectionPfs:
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

std::string render_ike(const RunningConfig& config, bool with_secrets) {
    std::string out;
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
    return out;
}

class IkeSection final : public Section {
public:
    IkeSection() : Section("ike", 80) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        return apply_ike(cfg, c);
    }

    std::vector<RenderPart> render_parts() const override { return {{40, render_ike}}; }
    // The exec commands are the IKE protocol's (ike/ike_protocol.cpp); without
    // it (tests of the control core alone) they are not answered here.
};

const IkeSection kSection;

}  // namespace
}  // namespace rampart::config
