// The operator's intent as plain data: interfaces, addresses, static routes,
// knobs. A command is applied to a copy (the candidate); only a candidate in
// which every command succeeded replaces the running configuration, so a bad
// line never leaves half a change behind. The model knows nothing of DPDK.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "common/command.hpp"
#include "common/net.hpp"
#include "sav/rules.hpp"
#include "slowpath/bgp/bgp_config.hpp"
#include "slowpath/bgp/policy_config.hpp"

namespace rampart {

struct InterfaceConfig {
    std::string name;
    std::string device;     // set for ports
    std::string parent;     // set for 802.1Q sub-interfaces
    uint16_t vlan = 0;
    uint16_t mtu = 1500;
    bool shutdown = false;
    std::string description;
    std::optional<MacAddr> mac;  // ports: set at startup instead of the device's own
    std::vector<Prefix> addresses;  // in the order they were configured
    std::map<IpAddr, MacAddr> static_neighbors;
    bool mpls = false;      // labelled packets accepted here (core-facing); dropped and counted otherwise
    std::string vrf;        // "" = the default table
    // Source address validation of packets arriving here (see slowpath/sav_control.hpp).
    sav::Mechanism sav = sav::Mechanism::off;
    bool sav_monitor = false;            // count refused sources and forward them (else drop)
    sav::Role sav_role = sav::Role::customer;
    uint32_t sav_neighbor_asn = 0;       // 0: unknown

    bool is_port() const { return parent.empty(); }
    friend bool operator==(const InterfaceConfig&, const InterfaceConfig&) = default;
};

// MPLS label values, top of stack first. At most kMaxConfigLabels.
using LabelList = std::vector<uint32_t>;
inline constexpr size_t kMaxConfigLabels = 10;
inline constexpr uint32_t kMaxLabelValue = (1u << 20) - 1;

// A pre-computed fast-reroute repair path (TI-LFA style) for one next hop:
// the workers switch to it the moment the primary's interface goes down.
struct BackupPath {
    IpAddr gateway;
    std::string ifname;  // optional
    LabelList labels;    // repair stack pushed instead of the primary's labels
    friend auto operator<=>(const BackupPath&, const BackupPath&) = default;
};

struct RouteNextHop {
    enum class Kind : uint8_t { via, attached, blackhole, unreachable, next_vrf, policy };
    Kind kind = Kind::via;
    IpAddr gateway;      // via
    std::string ifname;  // via (optional) and attached
    LabelList labels;    // via: label stack imposed (FTN)
    std::string target;  // next_vrf: VRF to look the destination up in; policy: SR policy name
    std::optional<BackupPath> backup;  // via only
    // API only (apply_owned_route_change): the protocol that installed it,
    // e.g. "ike" for reverse routes. Such hops are never rendered into the
    // running configuration and route lines cannot change them.
    std::string owner;
    friend auto operator<=>(const RouteNextHop&, const RouteNextHop&) = default;
};

using RouteTable = std::map<Prefix, std::vector<RouteNextHop>>;  // key: network prefix; several next hops = ECMP

struct VrfConfig {
    std::optional<uint32_t> label;  // RFC 4364 per-VRF VPN label: pop and look up in this VRF
    RouteTable routes;
    friend bool operator==(const VrfConfig&, const VrfConfig&) = default;
};

// One ECMP member of an incoming-label entry: swap the top label for `labels`
// (empty: pop, i.e. PHP) and send to `gateway`.
struct MplsPath {
    IpAddr gateway;
    std::string ifname;  // optional
    LabelList labels;
    std::optional<BackupPath> backup;
    friend auto operator<=>(const MplsPath&, const MplsPath&) = default;
};

struct IlmConfig {
    enum class Action : uint8_t { forward, lookup, drop };
    Action action = Action::forward;
    std::string vrf;              // lookup: VRF the payload is looked up in ("" = default table)
    std::vector<MplsPath> paths;  // forward: ECMP members
    friend bool operator==(const IlmConfig&, const IlmConfig&) = default;
};

enum class TtlMode : uint8_t { uniform, pipe };  // RFC 3443

struct MplsConfig {
    uint32_t label_lo = 16;  // labels accepted on the wire; others are dropped and counted
    uint32_t label_hi = kMaxLabelValue;
    TtlMode ttl_mode = TtlMode::uniform;
    std::map<uint32_t, IlmConfig> ilm;  // static incoming labels
    friend bool operator==(const MplsConfig&, const MplsConfig&) = default;
};

struct LabelBlock {
    uint32_t lo = 0, hi = 0;  // inclusive
    friend auto operator<=>(const LabelBlock&, const LabelBlock&) = default;
};

struct SrPolicy {
    LabelList segments;                 // explicit segment list, first segment on top
    IpAddr gateway;                     // where the list is sent
    std::string ifname;                 // optional
    std::optional<uint32_t> binding_sid;
    friend bool operator==(const SrPolicy&, const SrPolicy&) = default;
};

struct SegmentRoutingConfig {
    std::optional<LabelBlock> srgb;                // ours
    std::map<Prefix, uint32_t> prefix_sids;        // prefix (host prefix for a node SID) -> index
    std::map<IpAddr, LabelBlock> neighbor_srgbs;   // a next hop's SRGB when it differs from ours
    std::map<uint32_t, MplsPath> adjacency_sids;   // local label -> pop and send to this adjacency
    std::map<std::string, SrPolicy> policies;
    friend bool operator==(const SegmentRoutingConfig&, const SegmentRoutingConfig&) = default;
};

// A manually keyed ESP security association (IKEv2 installs the same through
// the control-core API later). Tunnel mode: `local`/`remote` are the outer
// addresses; the inner traffic belongs to `vrf`.
struct IpsecSaConfig {
    enum class Direction : uint8_t { inbound, outbound };
    Direction direction = Direction::inbound;
    uint32_t spi = 0;
    bool transport = false;          // transport mode: the box's own traffic with `remote` (RFC 4303 §3.1.1)
    IpAddr local, remote;            // tunnel endpoints (transport: the box's and the peer's address), one family
    std::string vrf;                 // inner traffic's VRF ("" = default table)
    std::string cipher;              // "aes-gcm-128", "aes-cbc-256", "chacha20-poly1305", "null" (crypto/esp_crypto.hpp)
    std::vector<uint8_t> cipher_key; // incl. the 4-byte salt for the AEADs
    std::string integrity;           // "" for AEADs, "hmac-sha-256" / "-384" / "-512"
    std::vector<uint8_t> integrity_key;
    bool esn = false;                // RFC 4304 extended sequence numbers
    uint32_t replay_window = 64;     // inbound: 64..4096, a multiple of 64
    std::optional<uint16_t> nat_traversal;  // RFC 3948 UDP encapsulation: the peer's port (4500 unless a NAT moved it)
    std::optional<uint16_t> ip_mtu;         // outbound: largest clear packet sent into the tunnel
    std::optional<uint16_t> encapsulated_ip_mtu;  // outbound: largest ESP packet; fragmented after encryption
    struct Lifetime {
        uint64_t soft = 0, hard = 0;  // 0: none
        friend bool operator==(const Lifetime&, const Lifetime&) = default;
    };
    Lifetime life_packets, life_kilobytes, life_seconds;  // RFC 4301 §4.4.2.1
    // An SPI and a cipher/integrity pair that crypto::make_transform accepts
    // (CBC and null need an integrity algorithm, AEADs take none); the model
    // allows a CBC SA without integrity in between lines. In config_model.cpp.
    bool complete() const;
    friend bool operator==(const IpsecSaConfig&, const IpsecSaConfig&) = default;
};

// One SPD entry (RFC 4301 §4.4.1), ordered by `seq` within its VRF. Selectors
// are from the protected side's view: `local` = our side's inner addresses.
struct IpsecPolicyConfig {
    Prefix local, remote;
    std::optional<uint8_t> protocol;
    uint16_t local_port_lo = 0, local_port_hi = 65535;   // ICMP: type
    uint16_t remote_port_lo = 0, remote_port_hi = 65535; // ICMP: code
    enum class Action : uint8_t { bypass, discard, protect };
    Action action = Action::protect;
    std::string outbound_sa;  // protect: the SA that encrypts matching traffic
    std::string inbound_sa;   // protect, optional: the SA whose decrypted traffic must match this entry
    // API only (a rekey, RFC 7296 §2.8): older inbound SAs still accepted under
    // this entry until their owner removes them. Configuration lines never set it.
    std::vector<std::string> older_inbound_sas;
    friend bool operator==(const IpsecPolicyConfig&, const IpsecPolicyConfig&) = default;
};

struct IpsecConfig {
    std::map<std::string, IpsecSaConfig> sas;
    std::map<std::string, std::map<uint32_t, IpsecPolicyConfig>> policies;  // vrf ("" default) -> seq -> entry
    friend bool operator==(const IpsecConfig&, const IpsecConfig&) = default;
};

// SAV inputs beyond the interfaces: our AS, the operator's lists, and the
// files the Adj-RIBs-In and the RPKI view were loaded from (`sav load`: read
// when the line is given, and again when the box starts with it).
struct SavConfig {
    uint32_t local_asn = 0;                                  // 0: unknown
    std::map<Prefix, std::set<std::string>> allow;           // prefix -> interfaces
    std::set<Prefix> deny;                                   // refused on every interface
    std::map<std::string, std::string> mrt_files;            // interface -> MRT file of its Adj-RIB-In
    std::string rpki_file;                                   // RPKI relying-party JSON ("" none)
    friend bool operator==(const SavConfig&, const SavConfig&) = default;
};

// The CLI names of the mechanisms (`interface NAME sav efp-b`).
std::string_view sav_mechanism_keyword(sav::Mechanism m);
std::string_view sav_role_keyword(sav::Role r);
// An IKE identity (RFC 7296 §3.5) as configured: `ip 192.0.2.1`,
// `fqdn gw.example.com`, `email vpn@example.com`, `dn "C=CH, O=Example, CN=gw"`,
// `key-id 0a1b2c` (hex). Values are kept as written, validated by
// parse_ike_identity.
struct IkeIdentity {
    enum class Type : uint8_t { ip, fqdn, email, dn, key_id };
    Type type = Type::ip;
    std::string value;
    friend auto operator<=>(const IkeIdentity&, const IkeIdentity&) = default;
};
std::string_view ike_identity_type_keyword(IkeIdentity::Type t);  // "ip", "fqdn", "email", "dn", "key-id"
// The identity for `type value`, or why it is not one.
std::variant<IkeIdentity, std::string> parse_ike_identity(std::string_view type, std::string_view value);
std::string ike_identity_text(const IkeIdentity& id);  // "fqdn gw.example.com" (quoted if needed)

// The most traffic selectors a connection's TS-list has on each side, and
// the most a peer may propose or narrow to (as a carrier gateway's TS-list).
inline constexpr size_t kMaxIkeTrafficSelectors = 32;

// An IKEv2 connection (RFC 7296) to one peer: the IKE SA's addresses,
// authentication and algorithms, and the one Child SA it negotiates. The IKE
// daemon installs what it negotiates through the IPsec API; nothing of that
// is configuration.
struct IkeConnectionConfig {
    IpAddr local, remote;           // IKE endpoints (UDP 500/4500), one family
    // Our IDi/IDr and the one the peer must present; unset: the IKE address.
    std::optional<IkeIdentity> local_id, remote_id;
    std::vector<uint8_t> psk;       // pre-shared key; empty: none yet (the connection stays down)
    bool psk_text = false;          // given as text (rendered back as text)
    // Certificate authentication (PEM files, read when the connection starts);
    // set: used instead of the PSK.
    std::string cert_file, key_file, ca_file;
    std::string crl_file;  // set: the peer's certificate is checked against this CRL (PEM or DER) of the CA
    std::string proposal = "aes-gcm-128";  // ike_proposal_names()
    uint16_t dh = 19;                      // 14, 19, 20, 31
    struct Child {
        // The TS-list: [0] from the `child` line, more from `ts-list` lines;
        // one family, at most kMaxIkeTrafficSelectors each, entries of a side
        // do not overlap.
        std::vector<Prefix> local_ts, remote_ts;
        bool transport = false;
        std::string esp_proposal = "aes-gcm-128";  // esp_proposal_names()
        // The SPD entries installed (default table): seq .. seq + policy_count() - 1,
        // one per (local, remote) pair of the narrowed selectors.
        uint32_t seq = 1000;
        size_t policy_count() const { return local_ts.size() * remote_ts.size(); }
        friend bool operator==(const Child&, const Child&) = default;
    };
    std::optional<Child> child;
    enum class StartAction : uint8_t { none, trap, start };
    StartAction start_action = StartAction::none;
    uint32_t dpd_seconds = 0;         // 0: no liveness checks
    uint32_t child_lifetime = 3600;   // seconds: rekey; hard end at 110%
    uint32_t ike_lifetime = 14400;    // seconds
    uint16_t pfs_group = 0;           // D-H group for PFS in CREATE_CHILD_SA; 0: no PFS
    // Reverse routes: while a Child SA is up, a route for each of its remote
    // prefixes via the peer's IKE address (owner "ike"), so that traffic for
    // a dynamic LAN-to-LAN peer's subnets reaches the protect policy.
    bool reverse_route = false;
    friend bool operator==(const IkeConnectionConfig&, const IkeConnectionConfig&) = default;
};

// IKE settings of the whole box: lockout after failed authentications (as a
// carrier gateway's `lockout`), responder cookies (RFC 7296 §2.6), and the
// peer authorization database (RFC 4301 §4.4.3, RFC 5619 §3.5.4): for an
// authenticated identity, the remote traffic selectors it may have Child SAs
// for. With no `ike pad` line every identity may have what its connection
// offers; with any, an identity without an entry may have none.
struct IkeSettings {
    uint32_t lockout_failures = 3;    // failed authentications ...
    uint32_t lockout_window = 60;     // ... within this many seconds ...
    uint32_t lockout_duration = 60;   // ... lock the peer out this long
    uint32_t cookie_threshold = 8;    // half-open responder IKE SAs before COOKIEs are asked for
    std::map<IkeIdentity, std::vector<Prefix>> pad;  // identity -> allowed remote prefixes
    friend bool operator==(const IkeSettings&, const IkeSettings&) = default;
};

// Algorithm suite names the IKE lines accept (the IKE daemon maps them to transforms).
const std::vector<std::string_view>& ike_proposal_names();  // IKE SA: aes-gcm-128, aes-cbc-128-sha256, ...
const std::vector<std::string_view>& esp_proposal_names();  // Child SA, same names
bool ike_dh_group_supported(uint32_t group);

// RTR caches (RFC 8210) the RPKI view is fetched from (config/rpki.cpp): the
// most preferred cache with data is used (lower preference first, RFC 8210
// §10); the interval overrides replace what the caches send (seconds).
struct RpkiCacheConfig {
    IpAddr address;
    uint16_t port = 323;
    uint8_t preference = 100;
    friend bool operator==(const RpkiCacheConfig&, const RpkiCacheConfig&) = default;
};
struct RpkiConfig {
    std::vector<RpkiCacheConfig> caches;  // in configuration order, one per address and port
    std::optional<uint32_t> refresh, retry, expire;
    friend bool operator==(const RpkiConfig&, const RpkiConfig&) = default;
};

struct RunningConfig {
    std::map<std::string, InterfaceConfig> interfaces;
    RouteTable routes;  // the default table
    std::map<std::string, VrfConfig> vrfs;
    MplsConfig mpls;
    SegmentRoutingConfig sr;
    IpsecConfig ipsec;
    std::map<std::string, IkeConnectionConfig> ike;  // by connection name
    IkeSettings ike_settings;
    uint32_t icmp_rate_pps = 100;
    SavConfig sav;
    BgpConfig bgp;
    RpkiConfig rpki;
    bgp::BgpPolicyConfig bgp_policy;  // prefix lists and policies (config/bgp_policy.cpp)

    friend bool operator==(const RunningConfig&, const RunningConfig&) = default;
};

// Routes a protocol installs in the default table (IKE reverse routes): each
// prefix via a gateway, owned by the protocol. All or nothing: an added
// prefix must be unrouted or already the owner's (its next hop is replaced),
// a removed one the owner's. Returns the problem, leaving `config` unchanged.
struct OwnedRouteChange {
    std::vector<std::pair<Prefix, IpAddr>> add;  // prefix via gateway
    std::vector<Prefix> remove;
};
std::optional<std::string> apply_owned_route_change(RunningConfig& config, const std::string& owner,
                                                    const OwnedRouteChange& change);

// Applies one configuration command to `config`. Returns an error message
// naming the offending value, leaving `config` unchanged on error.
// `startup` allows commands that only the startup config may contain.
std::optional<std::string> apply_command(RunningConfig& config, const cmd::Parsed& command, bool startup);

// Lines that rebuild `config` through apply_command, in dependency order.
// Key material is shown as "<secret>" (and cannot be loaded back) unless
// `with_secrets`: `show running-config` hides it, `write config` and
// `show running-config secrets` write it.
std::string render_running_config(const RunningConfig& config, bool with_secrets = false);

// Interfaces in creation-safe order: ports first, then sub-interfaces.
std::vector<const InterfaceConfig*> ordered_interfaces(const RunningConfig& config);

}  // namespace rampart

namespace rampart {
// Parses and applies a whole startup configuration text to `config`, line by
// line. On error returns "line N: <line>: <reason>" and leaves `config` as it was.
std::optional<std::string> load_config_text(RunningConfig& config, std::string_view text);
}  // namespace rampart
