// IPsec: manually keyed ESP SAs (tunnel and transport mode) and the SPD.
// Transform names and key lengths come from crypto::make_transform; keys
// never appear in a message, only their lengths.
#include <algorithm>

#include <fmt/format.h>

#include "crypto/esp_crypto.hpp"
#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart {

// Key material never enters messages: only names and lengths.
bool IpsecSaConfig::complete() const {
    return spi != 0 && std::holds_alternative<crypto::EspTransform>(crypto::make_transform(cipher, integrity));
}

}  // namespace rampart

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd {
    IpsecSa, IpsecSaEncryption, IpsecSaIntegrity, IpsecSaEsn, IpsecSaReplayWindow, IpsecSaNatTraversal, IpsecSaIpMtu,
    IpsecSaEncapsulatedIpMtu, IpsecSaLifetime, IpsecPolicy, ShowIpsecSa, ShowIpsecSaSpi, ShowIpsecSpd
};

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::IpsecSa), "sa",
     "ipsec sa <name:WORD> inbound spi <spi:UINT(256-4294967295)> tunnel <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an inbound SA or change its SPI, endpoints or VRF (no: delete it)",
     {kIpsec, kSa, kSaName, "Inbound: decrypts ESP arriving from the peer", kSpi, kSpiValue, kTunnel, kTunnelLocal,
      kTunnelRemote, kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSa), "sa",
     "ipsec sa <name:WORD> outbound spi <spi:UINT(256-4294967295)> tunnel <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an outbound SA or change its SPI, endpoints or VRF (no: delete it)",
     {kIpsec, kSa, kSaName, "Outbound: encrypts traffic towards the peer", kSpi, kSpiValue, kTunnel, kTunnelLocal,
      kTunnelRemote, kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSa), "sa",
     "ipsec sa <name:WORD> inbound spi <spi:UINT(256-4294967295)> transport <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an inbound transport-mode SA for traffic to the box itself (no: delete it)",
     {kIpsec, kSa, kSaName, "Inbound: decrypts ESP arriving from the peer", kSpi, kSpiValue,
      "Transport mode: protects the box's own traffic with this peer", "The box's address",
      "The peer's address", kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSa), "sa",
     "ipsec sa <name:WORD> outbound spi <spi:UINT(256-4294967295)> transport <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an outbound transport-mode SA for traffic from the box itself (no: delete it)",
     {kIpsec, kSa, kSaName, "Outbound: encrypts traffic towards the peer", kSpi, kSpiValue,
      "Transport mode: protects the box's own traffic with this peer", "The box's address",
      "The peer's address", kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaEncryption), "sa-encryption", "ipsec sa <name:WORD> encryption <cipher:WORD> key <key:HEX>",
     "Set an SA's cipher and key (no: remove them)",
     {kIpsec, kSa, kSaName, "Cipher and key",
      "aes-gcm-128, aes-gcm-256, chacha20-poly1305 (AEAD); aes-cbc-128, aes-cbc-256 (need integrity)", kKey,
      kKeyValue},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaEncryption), "sa-encryption", "ipsec sa <name:WORD> encryption null",
     "Send an SA's traffic unencrypted (ESP-NULL, RFC 2410; needs integrity)",
     {kIpsec, kSa, kSaName, "Cipher and key", "No encryption: integrity only (RFC 2410)"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaIntegrity), "sa-integrity", "ipsec sa <name:WORD> integrity <integrity:WORD> key <key:HEX>",
     "Set an SA's integrity algorithm and key, for a non-AEAD cipher (no: remove them)",
     {kIpsec, kSa, kSaName, "Integrity algorithm and key (not with an AEAD cipher)",
      "hmac-sha-256, hmac-sha-384 or hmac-sha-512 (RFC 4868)", kKey, "HMAC key bytes in hex, as long as the digest"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaEsn), "sa-esn", "ipsec sa <name:WORD> esn", "Use 64-bit extended sequence numbers (RFC 4304)",
     {kIpsec, kSa, kSaName, "Extended (64-bit) sequence numbers"}, Negatable::yes, kBoth},
    {int(Cmd::IpsecSaNatTraversal), "sa-nat-traversal", "ipsec sa <name:WORD> nat-traversal [remote-port <port:UINT(1-65535)>]",
     "UDP-encapsulate the SA's ESP on port 4500 (RFC 3948)",
     {kIpsec, kSa, kSaName, "UDP encapsulation for NAT traversal: ESP in UDP from and to port 4500",
      "The peer's UDP port when a NAT maps it elsewhere", "UDP port (default 4500)"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaLifetime), "sa-lifetime", "ipsec sa <name:WORD> lifetime [packets|kilobytes|seconds] <soft:UINT(1-4294967295)> <hard:UINT(1-4294967295)>",
     "Soft (rekey) and hard (end of the SA) lifetime in packets, kilobytes or seconds",
     {kIpsec, kSa, kSaName, "SA lifetime: at the soft limit the control core is told to rekey, at the hard one the SA ends",
      "Count packets", "Count kilobytes of payload", "Count seconds since the SA was installed",
      "Soft limit", "Hard limit (at least the soft one)"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaIpMtu), "sa-ip-mtu", "ipsec sa <name:WORD> ip-mtu <mtu:UINT(576-9216)>",
     "Largest clear packet sent into an outbound SA's tunnel (no: from the egress MTU)",
     {kIpsec, kSa, kSaName, "Tunnel IP MTU: larger packets are fragmented before encryption, or refused with ICMP",
      "Bytes of the inner packet"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaEncapsulatedIpMtu), "sa-encapsulated-ip-mtu", "ipsec sa <name:WORD> encapsulated-ip-mtu <mtu:UINT(576-9216)>",
     "Largest ESP packet an outbound SA sends; larger ones are fragmented after encryption (no: the egress MTU, fragmenting before)",
     {kIpsec, kSa, kSaName, "Encapsulated IP MTU: the tunnel packet is fragmented after encryption to fit it",
      "Bytes of the outer (ESP) packet"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecSaReplayWindow), "sa-replay-window", "ipsec sa <name:WORD> replay-window <packets:UINT(64-4096)>",
     "Set an inbound SA's anti-replay window (no: back to 64)",
     {kIpsec, kSa, kSaName, "Anti-replay window of an inbound SA", "Packets, a multiple of 64"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecPolicy), "policy",
     "ipsec policy <seq:UINT(1-65535)> [vrf <vrf:WORD>] local <local:PREFIX> remote <remote:PREFIX> "
     "[protocol <protocol:UINT(0-255)>] [local-ports <lport-lo:UINT(0-65535)> <lport-hi:UINT(0-65535)>] "
     "[remote-ports <rport-lo:UINT(0-65535)> <rport-hi:UINT(0-65535)>] protect <outbound-sa:WORD> "
     "[inbound <inbound-sa:WORD>]",
     "Add or replace an SPD entry that sends matching traffic through an SA (no: delete it)",
     {kIpsec, kSpd, kSeq, kSpdVrf, kVrfName, kSpdLocal, kSpdLocalPrefix, kSpdRemote, kSpdRemotePrefix, kSpdProtocol,
      kSpdProtocolValue, kSpdLocalPorts, kPortLo, kPortHi, kSpdRemotePorts, kPortLo, kPortHi,
      "Encrypt matching traffic with an outbound SA", "Outbound SA name",
      "Decrypted traffic must have come through this inbound SA", "Inbound SA name"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecPolicy), "policy",
     "ipsec policy <seq:UINT(1-65535)> [vrf <vrf:WORD>] local <local:PREFIX> remote <remote:PREFIX> "
     "[protocol <protocol:UINT(0-255)>] [local-ports <lport-lo:UINT(0-65535)> <lport-hi:UINT(0-65535)>] "
     "[remote-ports <rport-lo:UINT(0-65535)> <rport-hi:UINT(0-65535)>] bypass",
     "Add or replace an SPD entry that lets matching traffic pass in the clear (no: delete it)",
     {kIpsec, kSpd, kSeq, kSpdVrf, kVrfName, kSpdLocal, kSpdLocalPrefix, kSpdRemote, kSpdRemotePrefix, kSpdProtocol,
      kSpdProtocolValue, kSpdLocalPorts, kPortLo, kPortHi, kSpdRemotePorts, kPortLo, kPortHi,
      "Let matching traffic pass unprotected"},
     Negatable::yes, kBoth},
    {int(Cmd::IpsecPolicy), "policy",
     "ipsec policy <seq:UINT(1-65535)> [vrf <vrf:WORD>] local <local:PREFIX> remote <remote:PREFIX> "
     "[protocol <protocol:UINT(0-255)>] [local-ports <lport-lo:UINT(0-65535)> <lport-hi:UINT(0-65535)>] "
     "[remote-ports <rport-lo:UINT(0-65535)> <rport-hi:UINT(0-65535)>] discard",
     "Add or replace an SPD entry that drops matching traffic (no: delete it)",
     {kIpsec, kSpd, kSeq, kSpdVrf, kVrfName, kSpdLocal, kSpdLocalPrefix, kSpdRemote, kSpdRemotePrefix, kSpdProtocol,
      kSpdProtocolValue, kSpdLocalPorts, kPortLo, kPortHi, kSpdRemotePorts, kPortLo, kPortHi,
      "Drop matching traffic"},
     Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kShowRows[] = {
    {int(Cmd::ShowIpsecSa), "show-sa", "show ipsec sa [<name:WORD>]", "Show the IPsec SAs with their counters (never their keys)",
     {kShow, "IPsec state", "Security associations with their counters", "Only this SA, in detail"},
     Negatable::no, kExec},
    {int(Cmd::ShowIpsecSaSpi), "show-sa-spi", "show ipsec sa spi <spi:UINT(1-4294967295)>", "Show the IPsec SAs with this SPI (either direction)",
     {kShow, "IPsec state", "Security associations with their counters", "By SPI", "SPI (decimal)"},
     Negatable::no, kExec},
    {int(Cmd::ShowIpsecSpd), "show-spd", "show ipsec spd [vrf <vrf:WORD>]", "Show the security policy database in sequence order",
     {kShow, "IPsec state", "Security policy database entries with their counters",
      "A VRF's SPD instead of the default table's", kVrfName},
     Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"ipsec", 70, kRows}};
const cmd::CommandRegistration kShowGroup{{"ipsec", 160, kShowRows}};

std::string policy_name(const std::string& vrf, uint32_t seq) {
    return vrf.empty() ? fmt::format("ipsec policy {}", seq) : fmt::format("ipsec policy {} vrf {}", seq, vrf);
}

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

std::optional<std::string> apply_ipsec_sa(RunningConfig& cfg, const cmd::Parsed& c) {
    const std::string& name = c.word("name");
    auto& sas = cfg.ipsec.sas;
    auto it = sas.find(name);

    if (Cmd(c.tag()) == Cmd::IpsecSa) {
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
    switch (Cmd(c.tag())) {
        case Cmd::IpsecSaEncryption: {
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
        case Cmd::IpsecSaIntegrity: {
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
        case Cmd::IpsecSaEsn: sa.esn = !c.negated; return std::nullopt;
        case Cmd::IpsecSaLifetime: {
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
        case Cmd::IpsecSaIpMtu:
            if (c.negated) {
                sa.ip_mtu.reset();
                return std::nullopt;
            }
            if (sa.direction != Direction::outbound)
                return fmt::format("ipsec sa {} is inbound; ip-mtu applies to what an outbound SA sends", name);
            sa.ip_mtu = uint16_t(c.number("mtu"));
            return std::nullopt;
        case Cmd::IpsecSaEncapsulatedIpMtu:
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
        case Cmd::IpsecSaNatTraversal:
            if (c.negated) sa.nat_traversal.reset();
            else sa.nat_traversal = uint16_t(c.has_arg("port") ? c.number("port") : 4500);
            return std::nullopt;
        case Cmd::IpsecSaReplayWindow: {
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

// IPsec needs only the VRFs: SAs, then the SPD in (vrf, seq) order.
std::string render_ipsec(const RunningConfig& config, bool with_secrets) {
    std::string out;
    for (auto& [name, sa] : config.ipsec.sas) out += "!\n" + ipsec_sa_lines(name, sa, with_secrets);
    if (!config.ipsec.policies.empty()) out += "!\n";
    for (auto& [vrf, entries] : config.ipsec.policies)
        for (auto& [seq, p] : entries) out += ipsec_policy_line(vrf, seq, p);
    return out;
}

class IpsecSection final : public Section {
public:
    IpsecSection() : Section("ipsec", 20) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        if (Cmd(c.tag()) == Cmd::IpsecPolicy) return apply_ipsec_policy(cfg, c);
        return apply_ipsec_sa(cfg, c);
    }

    ChangeSet changes(const cmd::Parsed&) const override {
        ChangeSet s = no_route_change();
        s.ipsec = true;
        return s;
    }

    std::optional<std::string> user(const RunningConfig& cfg, Ref what, const std::string& vrf) const override {
        if (what != Ref::vrf) return std::nullopt;
        if (auto spd = cfg.ipsec.policies.find(vrf); spd != cfg.ipsec.policies.end() && !spd->second.empty())
            return fmt::format("{} is in vrf {}; delete the VRF's ipsec policies first",
                               policy_name(vrf, spd->second.begin()->first), vrf);
        for (auto& [n, sa] : cfg.ipsec.sas)
            if (sa.vrf == vrf) return fmt::format("ipsec sa {} carries traffic of vrf {}; delete it first", n, vrf);
        return std::nullopt;
    }

    std::vector<RenderPart> render_parts() const override { return {{30, render_ipsec}}; }

    // The API's SAs and policies are not the configuration's to change.
    std::optional<std::string> refuse_live(const Control& control, const cmd::Parsed& c) const override {
        const IpsecInstalled& installed = control.ipsec_installed();
        if (Cmd(c.tag()) == Cmd::IpsecPolicy) {
            if (const std::string* owner =
                    installed.owner_of_policy(c.has_arg("vrf") ? c.word("vrf") : "", c.number("seq")))
                return fmt::format("that ipsec policy sequence number is installed by {}", *owner);
            return std::nullopt;
        }
        if (const std::string* owner = installed.owner_of_sa(c.word("name")))
            return fmt::format("ipsec sa {} is installed by {}; configure another name", c.word("name"), *owner);
        return std::nullopt;
    }

    CommandResult exec(Control& control, const cmd::Parsed& c) const override {
        switch (Cmd(c.tag())) {
            case Cmd::ShowIpsecSa: {
                control.ipsec_housekeeping();
                std::optional<std::string> only;
                if (c.has_arg("name")) only = c.word("name");
                return show_ipsec_sa(control.effective_ipsec(), control.ipsec_installed(), control.ipsec_publisher(),
                                     only);
            }
            case Cmd::ShowIpsecSaSpi: {
                control.ipsec_housekeeping();
                const IpsecConfig all = control.effective_ipsec();
                std::string text;
                for (auto& [name, sa] : all.sas)
                    if (sa.spi == c.number("spi"))
                        text += show_ipsec_sa(all, control.ipsec_installed(), control.ipsec_publisher(), name).text;
                if (text.empty()) return {false, fmt::format("% no ipsec sa with spi {}\n", c.number("spi"))};
                return {true, text};
            }
            case Cmd::ShowIpsecSpd: {
                std::optional<std::string> vrf;
                if (c.has_arg("vrf")) vrf = c.word("vrf");
                control.drain_acquires();
                return {true, show_ipsec_spd(control.effective_ipsec(), control.ipsec_installed(), vrf,
                                             [&](const std::string& v, uint32_t seq) { return control.acquires(v, seq); })};
            }
            default: return Section::exec(control, c);
        }
    }
};

const IpsecSection kSection;

}  // namespace
}  // namespace rampart::config
