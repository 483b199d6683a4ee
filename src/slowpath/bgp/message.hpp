// BGP-4 messages as typed data (RFC 4271, 4760, 6793, 5492, 8654, 7911,
// 7606, 9234) and the codec that turns bytes into them and back. No state,
// no sockets: the session (fsm.hpp) and the RIB (rib.hpp) use these types,
// the transport only frames bytes.
//
// Decoding never throws and never reads past the buffer: every length is
// checked against its container. A failure that resets the session comes
// back as a Notification (RFC 4271 §6 code/subcode/data); an UPDATE error
// that RFC 7606 handles without a reset comes back as a decoded Update with
// `treat_as_withdraw` set or the attribute listed in `discarded`.
//
// Families: AFI/SAFI pairs are kept open (labeled unicast, VPN and the
// tunnel encapsulation come with the next issue): an Nlri has room for
// labels, a route distinguisher and a path id; Family-specific decoding
// lives in the codec behind `AddressFamily`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/net.hpp"

namespace rampart::bgp {

using Asn = uint32_t;
inline constexpr Asn kAsTrans = 23456;  // RFC 6793

// ---- message framing (RFC 4271 §4.1, RFC 8654) ----
inline constexpr size_t kHeaderLength = 19;
inline constexpr size_t kMaxMessageLength = 4096;
inline constexpr size_t kMaxExtendedMessageLength = 65535;

enum class MessageType : uint8_t { open = 1, update = 2, notification = 3, keepalive = 4, route_refresh = 5 };

// ---- address families (RFC 4760) ----
enum class Afi : uint16_t { ipv4 = 1, ipv6 = 2 };
enum class Safi : uint8_t { unicast = 1, labeled_unicast = 4, vpn = 128 };

struct AddressFamily {
    Afi afi = Afi::ipv4;
    Safi safi = Safi::unicast;
    friend auto operator<=>(const AddressFamily&, const AddressFamily&) = default;
};
inline constexpr AddressFamily kIpv4Unicast{Afi::ipv4, Safi::unicast};
inline constexpr AddressFamily kIpv6Unicast{Afi::ipv6, Safi::unicast};

// One NLRI entry. `path_id` is meaningful only when ADD-PATH (RFC 7911) was
// negotiated for receive (decode) or send (encode) on that family.
struct Nlri {
    Prefix prefix;          // host bits cleared on decode (RFC 4271 §4.3: their value is irrelevant)
    uint32_t path_id = 0;
    // Reserved for labeled unicast / VPN (next issue): empty for unicast.
    std::vector<uint32_t> labels;           // 20-bit label values, bottom of stack last
    std::optional<uint64_t> route_distinguisher;
    friend auto operator<=>(const Nlri&, const Nlri&) = default;
};

// ---- path attributes (RFC 4271 §4.3, §5) ----
enum class AttrType : uint8_t {
    origin = 1, as_path = 2, next_hop = 3, med = 4, local_pref = 5, atomic_aggregate = 6, aggregator = 7,
    communities = 8, originator_id = 9, cluster_list = 10, mp_reach = 14, mp_unreach = 15,
    extended_communities = 16, as4_path = 17, as4_aggregator = 18, large_communities = 32, otc = 35,
};
inline constexpr uint8_t kFlagOptional = 0x80, kFlagTransitive = 0x40, kFlagPartial = 0x20, kFlagExtendedLength = 0x10;

enum class Origin : uint8_t { igp = 0, egp = 1, incomplete = 2 };

struct AsPathSegment {
    enum class Kind : uint8_t { set = 1, sequence = 2, confed_sequence = 3, confed_set = 4 };
    Kind kind = Kind::sequence;
    std::vector<Asn> asns;
    friend auto operator<=>(const AsPathSegment&, const AsPathSegment&) = default;
};

struct Aggregator {
    Asn asn = 0;
    uint32_t address = 0;  // host order IPv4
    friend auto operator<=>(const Aggregator&, const Aggregator&) = default;
};

struct LargeCommunity {  // RFC 8092
    uint32_t global = 0, local1 = 0, local2 = 0;
    friend auto operator<=>(const LargeCommunity&, const LargeCommunity&) = default;
};

// An attribute this speaker does not interpret: passed on (optional
// transitive, with the partial bit set, RFC 4271 §5) or dropped (optional
// non-transitive) by the RIB's export.
struct UnknownAttribute {
    uint8_t flags = 0;
    uint8_t type = 0;
    std::vector<uint8_t> value;
    friend auto operator<=>(const UnknownAttribute&, const UnknownAttribute&) = default;
};

// Everything an UPDATE carries besides its NLRI: the RIB interns one copy
// per distinct set (attributes shared by many routes).
// AS_PATH is always held with 4-octet ASNs: the codec merges AS4_PATH /
// AS4_AGGREGATOR from a 2-octet speaker (RFC 6793 §4.2.3) on decode and
// splits them again on encode for a peer without the capability.
struct PathAttributes {
    std::optional<Origin> origin;
    std::vector<AsPathSegment> as_path;
    std::optional<IpAddr> next_hop;            // NEXT_HOP or MP_REACH's next hop (first)
    std::optional<IpAddr> link_local_next_hop; // MP_REACH IPv6 second next hop (RFC 2545)
    std::optional<uint32_t> med;
    std::optional<uint32_t> local_pref;
    bool atomic_aggregate = false;
    std::optional<Aggregator> aggregator;
    std::vector<uint32_t> communities;             // RFC 1997, wire order
    std::vector<uint64_t> extended_communities;    // RFC 4360, 8 octets each as a big-endian integer
    std::vector<LargeCommunity> large_communities; // RFC 8092
    std::optional<uint32_t> originator_id;         // RFC 4456
    std::vector<uint32_t> cluster_list;
    std::optional<Asn> otc;                        // RFC 9234 Only-to-Customer
    std::vector<UnknownAttribute> unknown;         // sorted by type
    friend auto operator<=>(const PathAttributes&, const PathAttributes&) = default;

    // Number of ASNs as the decision process counts them (RFC 4271 §9.1.2.2:
    // a set counts 1, confederation segments 0).
    size_t as_path_length() const;
    // The origin AS (last ASN of a path ending in AS_SEQUENCE), if any.
    std::optional<Asn> origin_as() const;
    // The neighbouring AS (first ASN of the first AS_SEQUENCE), if any.
    std::optional<Asn> first_as() const;
};

// What one UPDATE withdraws and announces, per family. IPv4 unicast uses the
// classic fields on encode unless `ipv4_in_mp` (RFC 8950 style peers).
struct Update {
    struct FamilyRoutes {
        AddressFamily family;
        std::vector<Nlri> withdrawn;
        std::vector<Nlri> announced;  // all with `attributes`
        // Set only when this family's next hop differs from
        // attributes.next_hop: an UPDATE carrying classic IPv4 NLRI with
        // NEXT_HOP and an MP_REACH of another family with its own next hop.
        // Takes precedence over attributes.next_hop / link_local_next_hop
        // for this family, on decode and on encode.
        std::optional<IpAddr> next_hop;
        std::optional<IpAddr> link_local_next_hop;
    };
    std::vector<FamilyRoutes> families;
    PathAttributes attributes;  // meaningful when some family announces
    // End-of-RIB marker (RFC 4724 §2): an UPDATE with nothing in it (IPv4) or
    // an empty MP_UNREACH (other families).
    std::optional<AddressFamily> end_of_rib;
    // RFC 7606 outcomes of decoding (never set when encoding):
    bool treat_as_withdraw = false;   // every announced NLRI is to be withdrawn instead
    std::vector<uint8_t> discarded;   // attribute types dropped ("attribute discard")
    std::string error;                // what was wrong (or ignored, e.g. an AS4_PATH), for the log
};

// ---- OPEN and capabilities (RFC 5492) ----
enum class Role : uint8_t { provider = 0, rs = 1, rs_client = 2, customer = 3, peer = 4 };  // RFC 9234

struct AddPathFamily {
    AddressFamily family;
    bool receive = false, send = false;
    friend auto operator<=>(const AddPathFamily&, const AddPathFamily&) = default;
};

struct GracefulRestart {  // RFC 4724
    bool restarting = false;   // R bit
    bool notification = false; // N bit (RFC 8538: graceful restart also after a NOTIFICATION)
    uint16_t restart_time = 0; // seconds, 12 bits
    struct Entry {
        AddressFamily family;
        bool forwarding_preserved = false;
        friend auto operator<=>(const Entry&, const Entry&) = default;
    };
    std::vector<Entry> families;
    friend auto operator<=>(const GracefulRestart&, const GracefulRestart&) = default;
};

struct Capabilities {
    std::vector<AddressFamily> multiprotocol;  // RFC 4760 (code 1)
    bool route_refresh = false;                // RFC 2918 (code 2)
    bool enhanced_route_refresh = false;       // RFC 7313 (code 70)
    bool extended_message = false;             // RFC 8654 (code 6)
    std::optional<Asn> four_octet_as;          // RFC 6793 (code 65)
    std::optional<GracefulRestart> graceful_restart;  // code 64
    std::vector<AddPathFamily> add_path;       // RFC 7911 (code 69)
    std::optional<Role> role;                  // RFC 9234 (code 9)
    std::vector<std::pair<uint8_t, std::vector<uint8_t>>> unknown;  // code, value: logged, ignored
    friend bool operator==(const Capabilities&, const Capabilities&) = default;
};

struct Open {
    uint8_t version = 4;
    uint16_t my_as = 0;        // AS_TRANS when the real ASN needs 4 octets
    uint16_t hold_time = 0;    // 0 or >= 3 (RFC 4271 §4.2)
    uint32_t bgp_id = 0;       // host order
    Capabilities capabilities;
    Asn asn() const { return capabilities.four_octet_as.value_or(my_as); }
    friend bool operator==(const Open&, const Open&) = default;
};

// ---- NOTIFICATION (RFC 4271 §4.5, §6; RFC 4486 cease subcodes) ----
namespace error {
inline constexpr uint8_t kHeader = 1, kOpen = 2, kUpdate = 3, kHoldTimer = 4, kFsm = 5, kCease = 6,
                         kRouteRefresh = 7;
// header
inline constexpr uint8_t kConnectionNotSynchronized = 1, kBadMessageLength = 2, kBadMessageType = 3;
// open
inline constexpr uint8_t kUnsupportedVersion = 1, kBadPeerAs = 2, kBadBgpId = 3, kUnsupportedOptionalParameter = 4,
                         kUnacceptableHoldTime = 6, kUnsupportedCapability = 7, kRoleMismatch = 11;
// update
inline constexpr uint8_t kMalformedAttributeList = 1, kUnrecognizedWellKnown = 2, kMissingWellKnown = 3,
                         kAttributeFlagsError = 4, kAttributeLengthError = 5, kInvalidOrigin = 6,
                         kInvalidNextHop = 8, kOptionalAttributeError = 9, kInvalidNetworkField = 10,
                         kMalformedAsPath = 11;
// cease (RFC 4486)
inline constexpr uint8_t kMaxPrefixes = 1, kAdminShutdown = 2, kPeerDeconfigured = 3, kAdminReset = 4,
                         kConnectionRejected = 5, kOtherConfigChange = 6, kCollisionResolution = 7,
                         kOutOfResources = 8, kHardReset = 9;
// route refresh (RFC 7313)
inline constexpr uint8_t kInvalidMessageLength = 1;
}  // namespace error

struct Notification {
    uint8_t code = 0, subcode = 0;
    std::vector<uint8_t> data;
    std::string reason;  // ours, for the log (not on the wire)
    friend bool operator==(const Notification& a, const Notification& b) {
        return a.code == b.code && a.subcode == b.subcode && a.data == b.data;
    }
};
// "Cease/Maximum Number of Prefixes Reached"-style text for show and logs.
std::string describe(const Notification& n);

struct Keepalive {};

struct RouteRefresh {  // RFC 2918, RFC 7313
    enum class Subtype : uint8_t { request = 0, begin = 1, end = 2 };
    AddressFamily family;
    Subtype subtype = Subtype::request;
};

using Message = std::variant<Open, Update, Notification, Keepalive, RouteRefresh>;

// What the session negotiated, which the codec needs to read and write
// UPDATEs (RFC 6793 4-octet ASNs, RFC 7911 path ids, RFC 8654 sizes).
struct CodecOptions {
    bool four_octet_as = true;
    bool extended_message = false;
    // An eBGP session: LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST received
    // from it are discarded (RFC 7606 §7.5, §7.9, §7.10).
    bool external_peer = false;
    // The families negotiated (RFC 4760 §7): MP_REACH / MP_UNREACH of the
    // others are skipped on decode. Empty: IPv4 and IPv6 unicast, so that a
    // labeled or VPN family is only ever read where a session asked for it.
    std::vector<AddressFamily> families;
    std::vector<AddressFamily> add_path_receive;  // decode: NLRI carry a path id
    std::vector<AddressFamily> add_path_send;     // encode: NLRI carry a path id
    bool receive_add_path(AddressFamily f) const;
    bool decodes(AddressFamily f) const;  // per `families` above
    bool send_add_path(AddressFamily f) const;
    size_t max_message_length() const { return extended_message ? kMaxExtendedMessageLength : kMaxMessageLength; }
};

// ---- framing ----
// Looks at the start of a byte stream: the length of the first message
// when its header is complete and valid, 0 when more bytes are needed, or
// the Notification for a bad marker, length or type.
std::variant<size_t, Notification> frame_length(std::span<const uint8_t> stream, const CodecOptions& options);

// ---- decode: one whole message (header included) ----
// A Notification comes back for every error that resets the session
// (RFC 4271 §6 / RFC 7606 "session reset"); for UPDATE errors that RFC 7606
// treats otherwise, the Update carries treat_as_withdraw / discarded.
std::variant<Message, Notification> decode(std::span<const uint8_t> message, const CodecOptions& options);
// The path attributes alone (the UPDATE's attribute block): shared by the
// UPDATE decoder, the MRT reader and the attribute fuzz target. NLRI found in
// MP_REACH / MP_UNREACH are appended to `update`.
std::optional<Notification> decode_attributes(std::span<const uint8_t> block, const CodecOptions& options,
                                              Update& update);

// ---- encode ----
std::vector<uint8_t> encode(const Open& m);
std::vector<uint8_t> encode(const Notification& m);
std::vector<uint8_t> encode_keepalive();
std::vector<uint8_t> encode(const RouteRefresh& m);
// One Update as one or more messages: NLRI that do not fit one message of
// options.max_message_length() continue in the next (same attributes), so
// the caller packs as many prefixes per attribute set as it likes.
// Per family: withdrawals first, then announcements (IPv4 unicast in the
// classic fields unless its next hop is IPv6, the others in MP_REACH /
// MP_UNREACH, which come first in the attributes), then the End-of-RIB.
// Optional transitive unknown attributes go out with the partial bit set.
// Announcements whose attributes alone exceed the maximum length are not
// written (no message may exceed it); the withdrawals still are.
std::vector<std::vector<uint8_t>> encode(const Update& m, const CodecOptions& options);

}  // namespace rampart::bgp
