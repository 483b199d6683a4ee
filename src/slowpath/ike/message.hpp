// IKEv2 message codec (RFC 7296 §3, RFC 7383 §2.5): bytes <-> structs, nothing
// else. No sockets, no crypto, no state: the SK / SKF payloads are carried as
// opaque ciphertext here and opened by ike/crypto.hpp, which then decodes the
// inner payload chain with decode_payloads().
//
// Decoding checks every length against its container before reading (header
// against the datagram, payloads against the message, proposals against the
// SA payload, transforms against the proposal, attributes against the
// transform, selectors against the TS payload) and answers the first problem
// with a DecodeError, a message naming the field, and the RFC notify to send
// back (INVALID_SYNTAX, UNSUPPORTED_CRITICAL_PAYLOAD with the payload type as
// its data, INVALID_MAJOR_VERSION). Unknown payloads without the critical bit
// are skipped (§2.5); the critical bit of known payloads is ignored on input
// and kept for re-encoding.
//
// Encoding writes exactly what decoding read: encode(decode(b)) == b for every
// message without skipped payloads.
#pragma once

#include "common/net.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rampart::ike {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------- numbers (IANA "IKEv2 Parameters")

enum class ExchangeType : uint8_t {
    ike_sa_init = 34,
    ike_auth = 35,
    create_child_sa = 36,
    informational = 37,
};

enum class PayloadType : uint8_t {
    none = 0,
    sa = 33,
    ke = 34,
    idi = 35,
    idr = 36,
    cert = 37,
    certreq = 38,
    auth = 39,
    nonce = 40,
    notify = 41,
    del = 42,
    vendor = 43,
    tsi = 44,
    tsr = 45,
    sk = 46,
    cp = 47,
    eap = 48,
    skf = 53,  // RFC 7383
};

// Header flags (§3.1).
inline constexpr uint8_t kFlagInitiator = 0x08;
inline constexpr uint8_t kFlagVersion = 0x10;
inline constexpr uint8_t kFlagResponse = 0x20;

inline constexpr size_t kHeaderLen = 28;
inline constexpr size_t kPayloadHeaderLen = 4;
inline constexpr uint8_t kVersion = 0x20;  // major 2, minor 0

enum class ProtocolId : uint8_t { none = 0, ike = 1, ah = 2, esp = 3 };

enum class TransformType : uint8_t { encr = 1, prf = 2, integ = 3, dh = 4, esn = 5 };

// Transform IDs we negotiate (others decode and encode as plain numbers).
namespace encr_id {
inline constexpr uint16_t aes_cbc = 12;
inline constexpr uint16_t aes_gcm_16 = 20;  // RFC 5282
}  // namespace encr_id
namespace prf_id {
inline constexpr uint16_t hmac_sha2_256 = 5;  // RFC 4868
inline constexpr uint16_t hmac_sha2_384 = 6;
inline constexpr uint16_t hmac_sha2_512 = 7;
}  // namespace prf_id
namespace integ_id {
inline constexpr uint16_t none = 0;
inline constexpr uint16_t hmac_sha2_256_128 = 12;  // RFC 4868
inline constexpr uint16_t hmac_sha2_384_192 = 13;
inline constexpr uint16_t hmac_sha2_512_256 = 14;
}  // namespace integ_id
namespace dh_id {
inline constexpr uint16_t modp2048 = 14;
inline constexpr uint16_t ecp256 = 19;  // RFC 5903
inline constexpr uint16_t ecp384 = 20;
inline constexpr uint16_t curve25519 = 31;  // RFC 8031
}  // namespace dh_id
namespace esn_id {
inline constexpr uint16_t no = 0;
inline constexpr uint16_t yes = 1;
}  // namespace esn_id

inline constexpr uint16_t kAttrKeyLength = 14;  // the only attribute RFC 7296 defines (§3.3.5)

enum class IdType : uint8_t {
    ipv4_addr = 1,
    fqdn = 2,
    rfc822_addr = 3,
    ipv6_addr = 5,
    der_asn1_dn = 9,
    der_asn1_gn = 10,
    key_id = 11,
};

enum class AuthMethod : uint8_t {
    rsa_sig = 1,
    shared_key_mic = 2,
    dss_sig = 3,
    ecdsa_sha256_p256 = 9,  // RFC 4754
    ecdsa_sha384_p384 = 10,
    ecdsa_sha512_p521 = 11,
    digital_signature = 14,  // RFC 7427
};

enum class CertEncoding : uint8_t {
    x509_signature = 4,
    crl = 7,
    hash_url_x509 = 12,
    hash_url_bundle = 13,
};

// Notify message types (§3.10.1 and later RFCs). Error types are below 16384.
namespace notify {
inline constexpr uint16_t unsupported_critical_payload = 1;
inline constexpr uint16_t invalid_ike_spi = 4;
inline constexpr uint16_t invalid_major_version = 5;
inline constexpr uint16_t invalid_syntax = 7;
inline constexpr uint16_t invalid_message_id = 9;
inline constexpr uint16_t invalid_spi = 11;
inline constexpr uint16_t no_proposal_chosen = 14;
inline constexpr uint16_t invalid_ke_payload = 17;
inline constexpr uint16_t authentication_failed = 24;
inline constexpr uint16_t single_pair_required = 34;
inline constexpr uint16_t no_additional_sas = 35;
inline constexpr uint16_t internal_address_failure = 36;
inline constexpr uint16_t failed_cp_required = 37;
inline constexpr uint16_t ts_unacceptable = 38;
inline constexpr uint16_t invalid_selectors = 39;
inline constexpr uint16_t temporary_failure = 43;
inline constexpr uint16_t child_sa_not_found = 44;

inline constexpr uint16_t initial_contact = 16384;
inline constexpr uint16_t set_window_size = 16385;
inline constexpr uint16_t additional_ts_possible = 16386;
inline constexpr uint16_t ipcomp_supported = 16387;
inline constexpr uint16_t nat_detection_source_ip = 16388;
inline constexpr uint16_t nat_detection_destination_ip = 16389;
inline constexpr uint16_t cookie = 16390;
inline constexpr uint16_t use_transport_mode = 16391;
inline constexpr uint16_t http_cert_lookup_supported = 16392;
inline constexpr uint16_t rekey_sa = 16393;
inline constexpr uint16_t esp_tfc_padding_not_supported = 16394;
inline constexpr uint16_t non_first_fragments_also = 16395;
inline constexpr uint16_t mobike_supported = 16396;
inline constexpr uint16_t ikev2_fragmentation_supported = 16430;  // RFC 7383
inline constexpr uint16_t signature_hash_algorithms = 16431;      // RFC 7427

inline constexpr bool is_error(uint16_t type) { return type < 16384; }
}  // namespace notify

enum class TsType : uint8_t { ipv4_addr_range = 7, ipv6_addr_range = 8 };

enum class CfgType : uint8_t { request = 1, reply = 2, set = 3, ack = 4 };

// ---------------------------------------------------------------- structs

struct Header {
    uint64_t spi_i = 0;  // host order; the wire is big-endian
    uint64_t spi_r = 0;
    PayloadType next_payload = PayloadType::none;
    uint8_t version = kVersion;
    ExchangeType exchange = ExchangeType::ike_sa_init;
    uint8_t flags = 0;
    uint32_t message_id = 0;
    uint32_t length = 0;  // filled in by encode()

    bool is_response() const { return flags & kFlagResponse; }
    bool from_initiator() const { return flags & kFlagInitiator; }
    friend bool operator==(const Header&, const Header&) = default;
};

// A transform attribute (§3.3.5): TV (AF bit set, 2-byte value) or TLV.
struct Attribute {
    uint16_t type = 0;  // without the AF bit
    bool tv = true;
    uint16_t tv_value = 0;
    Bytes tlv_value;
    friend bool operator==(const Attribute&, const Attribute&) = default;
};

struct Transform {
    TransformType type = TransformType::encr;
    uint16_t id = 0;
    std::vector<Attribute> attributes;

    /// The Key Length attribute in bits, 0 when absent.
    uint16_t key_length() const;
    static Transform make(TransformType t, uint16_t id, uint16_t key_bits = 0);
    friend bool operator==(const Transform&, const Transform&) = default;
};

struct Proposal {
    uint8_t number = 1;
    ProtocolId protocol = ProtocolId::ike;
    Bytes spi;  // empty in IKE_SA_INIT, 4 bytes for ESP/AH, 8 for an IKE rekey
    std::vector<Transform> transforms;
    friend bool operator==(const Proposal&, const Proposal&) = default;
};

struct SaPayload {
    std::vector<Proposal> proposals;
    friend bool operator==(const SaPayload&, const SaPayload&) = default;
};

struct KePayload {
    uint16_t group = 0;
    Bytes data;
    friend bool operator==(const KePayload&, const KePayload&) = default;
};

// IDi / IDr (§3.5): the data is checked for length by type (4 / 16 bytes for
// addresses, non-empty otherwise).
struct IdPayload {
    IdType type = IdType::fqdn;
    Bytes data;

    static IdPayload address(const IpAddr& a);
    static IdPayload text(IdType t, std::string_view s);  // FQDN, RFC822
    friend bool operator==(const IdPayload&, const IdPayload&) = default;
};

// CERT and CERTREQ (§3.6, §3.7): an encoding and opaque data.
struct CertPayload {
    CertEncoding encoding = CertEncoding::x509_signature;
    Bytes data;
    friend bool operator==(const CertPayload&, const CertPayload&) = default;
};

struct AuthPayload {
    AuthMethod method = AuthMethod::shared_key_mic;
    Bytes data;
    friend bool operator==(const AuthPayload&, const AuthPayload&) = default;
};

struct NoncePayload {
    Bytes data;  // 16..256 bytes (§3.9)
    friend bool operator==(const NoncePayload&, const NoncePayload&) = default;
};

struct NotifyPayload {
    ProtocolId protocol = ProtocolId::none;
    Bytes spi;
    uint16_t type = 0;
    Bytes data;

    static NotifyPayload make(uint16_t type, Bytes data = {});
    friend bool operator==(const NotifyPayload&, const NotifyPayload&) = default;
};

struct DeletePayload {
    ProtocolId protocol = ProtocolId::ike;
    uint8_t spi_size = 0;
    std::vector<Bytes> spis;  // each spi_size bytes
    friend bool operator==(const DeletePayload&, const DeletePayload&) = default;
};

struct VendorPayload {
    Bytes id;
    friend bool operator==(const VendorPayload&, const VendorPayload&) = default;
};

// One traffic selector (§3.13.1): an address range and a port range for one
// IP protocol (0 = any).
struct TrafficSelector {
    TsType type = TsType::ipv4_addr_range;
    uint8_t ip_protocol = 0;
    uint16_t start_port = 0;
    uint16_t end_port = 65535;
    IpAddr start;
    IpAddr end;

    static TrafficSelector from_prefix(const Prefix& p, uint8_t proto = 0, uint16_t start_port = 0,
                                       uint16_t end_port = 65535);
    friend bool operator==(const TrafficSelector&, const TrafficSelector&) = default;
};

struct TsPayload {
    std::vector<TrafficSelector> selectors;
    friend bool operator==(const TsPayload&, const TsPayload&) = default;
};

// SK (§3.14): IV | ciphertext | ICV, opened by crypto.hpp. The generic
// header's Next Payload names the first inner payload.
struct SkPayload {
    PayloadType inner_first = PayloadType::none;
    Bytes body;
    friend bool operator==(const SkPayload&, const SkPayload&) = default;
};

// SKF (RFC 7383 §2.5): one fragment of an SK payload. Next Payload is the
// first inner payload in fragment 1 and 0 in the others.
struct SkfPayload {
    PayloadType inner_first = PayloadType::none;
    uint16_t number = 1;
    uint16_t total = 1;
    Bytes body;
    friend bool operator==(const SkfPayload&, const SkfPayload&) = default;
};

struct CpAttribute {
    uint16_t type = 0;  // 15 bits
    Bytes value;
    friend bool operator==(const CpAttribute&, const CpAttribute&) = default;
};

struct CpPayload {
    CfgType type = CfgType::request;
    std::vector<CpAttribute> attributes;
    friend bool operator==(const CpPayload&, const CpPayload&) = default;
};

struct EapPayload {
    Bytes data;  // the whole EAP message, not interpreted here
    friend bool operator==(const EapPayload&, const EapPayload&) = default;
};

using PayloadBody = std::variant<SaPayload, KePayload, IdPayload, CertPayload, AuthPayload, NoncePayload,
                                 NotifyPayload, DeletePayload, VendorPayload, TsPayload, SkPayload,
                                 SkfPayload, CpPayload, EapPayload>;

struct Payload {
    PayloadType type = PayloadType::none;  // tells IDi from IDr, TSi from TSr, CERT from CERTREQ
    bool critical = false;
    PayloadBody body;

    friend bool operator==(const Payload&, const Payload&) = default;
};

/// Builds a payload whose type follows from the body (SA, KE, ...). For the
/// shared bodies (IdPayload, TsPayload, CertPayload) give the type.
Payload make_payload(PayloadBody body);
Payload make_payload(PayloadType type, PayloadBody body);

struct Message {
    Header header;
    std::vector<Payload> payloads;

    /// The first payload of the given type, or nullptr.
    const Payload* find(PayloadType t) const;
    /// The first notify of the given type, or nullptr.
    const NotifyPayload* find_notify(uint16_t type) const;
    template <class T> const T* get(PayloadType t) const {
        const Payload* p = find(t);
        return p ? std::get_if<T>(&p->body) : nullptr;
    }
    friend bool operator==(const Message&, const Message&) = default;
};

// ---------------------------------------------------------------- errors

#define RAMPART_IKE_DECODE_ERRORS(_)                                                                  \
    _(none, "no error")                                                                               \
    _(truncated_header, "shorter than the 28-byte IKE header")                                        \
    _(invalid_major_version, "IKE major version is not 2")                                            \
    _(bad_message_length, "IKE header length does not match the datagram")                           \
    _(truncated_payload, "payload header or body runs past its container")                           \
    _(bad_payload_length, "payload length below its fixed part")                                      \
    _(unsupported_critical_payload, "unknown payload type with the critical bit set")               \
    _(sk_not_last, "SK/SKF payload is not the last payload")                                          \
    _(bad_proposal, "malformed proposal substructure")                                                \
    _(bad_transform, "malformed transform substructure")                                              \
    _(bad_attribute, "malformed transform attribute")                                                 \
    _(bad_id, "malformed identification payload")                                                     \
    _(bad_nonce, "nonce length outside 16..256 bytes")                                                \
    _(bad_notify, "malformed notify payload")                                                         \
    _(bad_delete, "malformed delete payload")                                                         \
    _(bad_traffic_selector, "malformed traffic selector")                                             \
    _(bad_fragment, "malformed SKF fragment numbers")                                                 \
    _(bad_config_attribute, "malformed configuration attribute")

enum class DecodeError : uint8_t {
#define RAMPART_IKE_X(name, text) name,
    RAMPART_IKE_DECODE_ERRORS(RAMPART_IKE_X)
#undef RAMPART_IKE_X
};

std::string_view describe(DecodeError e);

// What to tell the peer about a decode error (RFC 7296 §2.5, §3.10.1).
struct ErrorNotify {
    uint16_t type = 0;
    Bytes data;
};

struct DecodeStatus {
    DecodeError error = DecodeError::none;
    std::string detail;         // names the payload and field; never holds secrets
    uint8_t payload_type = 0;   // for UNSUPPORTED_CRITICAL_PAYLOAD
    size_t offset = 0;          // where in the input the problem starts

    bool ok() const { return error == DecodeError::none; }
    /// The notify the RFC prescribes: UNSUPPORTED_CRITICAL_PAYLOAD (data: the
    /// one-octet payload type), INVALID_MAJOR_VERSION, or INVALID_SYNTAX.
    ErrorNotify notify() const;
};

struct DecodedMessage {
    Message message;
    DecodeStatus status;
    bool ok() const { return status.ok(); }
};

struct DecodedPayloads {
    std::vector<Payload> payloads;
    DecodeStatus status;
    bool ok() const { return status.ok(); }
};

// ---------------------------------------------------------------- codec

/// Decodes one IKE message (a whole UDP payload, without the non-ESP marker).
/// The header length must equal buf.size().
DecodedMessage decode(std::span<const uint8_t> buf);

/// Decodes only the fixed header (for dispatch before the SA is known).
/// Errors: truncated_header, invalid_major_version.
DecodeStatus decode_header(std::span<const uint8_t> buf, Header& out);

/// Decodes a payload chain starting with `first` (an SK payload's decrypted
/// content). An SK/SKF payload inside is an error (sk_not_last).
DecodedPayloads decode_payloads(PayloadType first, std::span<const uint8_t> buf);

/// Encodes a message; header.next_payload and header.length are computed.
/// The wire's limits are the caller's to respect: payloads below 64 KiB,
/// fewer than 256 proposals, transforms per proposal, selectors per TS.
Bytes encode(const Message& m);

/// Encodes a payload chain (the plaintext of an SK payload); the first type is
/// payloads.front().type, or none.
Bytes encode_payloads(std::span<const Payload> payloads);

/// Writes the 28-byte header (with the given length and next payload) to out.
void encode_header(const Header& h, uint8_t* out);

std::string_view name(PayloadType t);
std::string_view notify_name(uint16_t type);

}  // namespace rampart::ike
