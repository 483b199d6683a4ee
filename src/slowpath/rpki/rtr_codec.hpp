// The RPKI-to-Router protocol's PDUs: bytes to structs and back. RFC 6810
// (version 0), RFC 8210 (version 1) and the ASPA PDU of
// draft-ietf-sidrops-8210bis (version 2) in the layout of its revision 10,
// which is what stayrtr 0.5 (Debian) sends:
//   version 2 | type 11 | zero (16) | length | flags | AFI | provider count (16)
//   | customer ASN | provider ASNs...
// Later revisions dropped the AFI flags and the count (flags | zero, then the
// customer ASN and the providers); decode() reads both: an announcement in
// the later layout has its flags where revision 10 has zero, a withdrawal
// is 12 octets long (revision 10 needs 16).
//
// decode() checks every length against the PDU's type and version and
// answers a malformed PDU with the error code RFC 8210 §12 gives it (the
// router sends that in an Error Report, with a copy of the PDU, and drops the
// session). No sockets, no state: the session (rtr_session.hpp) holds that.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/net.hpp"

namespace rampart::rpki::rtr {

using Asn = uint32_t;

inline constexpr uint8_t kMaxVersion = 2;    // the highest version we speak
inline constexpr size_t kHeaderLength = 8;   // version, type, session/zero, length
// The largest PDU we accept: an ASPA with 65535 providers (revision 10 has a
// 16-bit count) fits; anything longer is corrupt (stayrtr uses the same bound).
inline constexpr size_t kMaxPduLength = 262168;

enum class PduType : uint8_t {
    serial_notify = 0,
    serial_query = 1,
    reset_query = 2,
    cache_response = 3,
    ipv4_prefix = 4,
    ipv6_prefix = 6,
    end_of_data = 7,
    cache_reset = 8,
    router_key = 9,     // version 1+
    error_report = 10,
    aspa = 11,          // version 2
};

// RFC 8210 §12 (and 8210bis for 9).
enum class ErrorCode : uint16_t {
    corrupt_data = 0,
    internal_error = 1,
    no_data_available = 2,
    invalid_request = 3,
    unsupported_protocol_version = 4,
    unsupported_pdu_type = 5,
    withdrawal_of_unknown_record = 6,
    duplicate_announcement = 7,
    unexpected_protocol_version = 8,
    aspa_provider_list_error = 9,
};
const char* error_code_name(ErrorCode code);

struct SerialNotify {
    uint16_t session_id = 0;
    uint32_t serial = 0;
    friend bool operator==(const SerialNotify&, const SerialNotify&) = default;
};
struct SerialQuery {
    uint16_t session_id = 0;
    uint32_t serial = 0;
    friend bool operator==(const SerialQuery&, const SerialQuery&) = default;
};
struct ResetQuery {
    friend bool operator==(const ResetQuery&, const ResetQuery&) = default;
};
struct CacheResponse {
    uint16_t session_id = 0;
    friend bool operator==(const CacheResponse&, const CacheResponse&) = default;
};
// IPv4 Prefix and IPv6 Prefix (the family is the prefix's).
struct PrefixPdu {
    bool announce = true;
    Prefix prefix;  // host bits cleared by decode()
    uint8_t max_length = 0;
    Asn asn = 0;
    friend bool operator==(const PrefixPdu&, const PrefixPdu&) = default;
};
// RFC 8210 §6 timing parameters, in seconds (not in version 0).
struct Intervals {
    uint32_t refresh = 3600, retry = 600, expire = 7200;
    friend bool operator==(const Intervals&, const Intervals&) = default;
};
struct EndOfData {
    uint16_t session_id = 0;
    uint32_t serial = 0;
    std::optional<Intervals> intervals;  // version 1+
    friend bool operator==(const EndOfData&, const EndOfData&) = default;
};
struct CacheReset {
    friend bool operator==(const CacheReset&, const CacheReset&) = default;
};
struct RouterKey {
    bool announce = true;
    std::array<uint8_t, 20> ski{};
    Asn asn = 0;
    std::vector<uint8_t> spki;
    friend auto operator<=>(const RouterKey&, const RouterKey&) = default;
};
struct ErrorReport {
    ErrorCode code = ErrorCode::corrupt_data;
    std::vector<uint8_t> erroneous_pdu;  // may be empty
    std::string text;                    // may be empty
    friend bool operator==(const ErrorReport&, const ErrorReport&) = default;
};
struct AspaPdu {
    // Revision 10's AFI octet as stayrtr sends it (0 IPv4, 1 IPv6: one ASPA
    // per family); later revisions have none (0). Kept as sent: it is part of
    // what identifies the record for withdrawals.
    bool announce = true;
    uint8_t afi = 0;
    Asn customer = 0;
    std::vector<Asn> providers;  // as sent (the session checks the order)
    friend bool operator==(const AspaPdu&, const AspaPdu&) = default;
};

using PduBody = std::variant<SerialNotify, SerialQuery, ResetQuery, CacheResponse, PrefixPdu, EndOfData, CacheReset,
                             RouterKey, ErrorReport, AspaPdu>;

struct Pdu {
    uint8_t version = 1;
    PduBody body;
    friend bool operator==(const Pdu&, const Pdu&) = default;
};

PduType type_of(const PduBody& body);

// What decode() found at the start of a buffer.
struct Decoded {
    enum class Status { need_more, pdu, error };
    Status status = Status::need_more;
    size_t consumed = 0;  // octets of the PDU (pdu and error with a known length)
    Pdu pdu;              // Status::pdu
    // Status::error: the code for the Error Report, why, and the offending
    // PDU (its header only when the length itself is bad).
    ErrorCode error = ErrorCode::corrupt_data;
    std::string reason;
    std::vector<uint8_t> erroneous;
};

// Decodes the PDU at the start of `buf`. need_more until a whole PDU is
// there (a bad length is an error as soon as the header is).
Decoded decode(std::span<const uint8_t> buf);

// Any PDU in `version` (tests, the fuzz target's round trip, a test cache).
// The router sends Reset Query, Serial Query and Error Report.
std::vector<uint8_t> encode(const Pdu& pdu);

// The text of an Error Report for logs: printable ASCII only, bounded.
std::string printable(std::string_view text, size_t max = 200);

}  // namespace rampart::rpki::rtr
