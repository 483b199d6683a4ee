#include "slowpath/rpki/rtr_codec.hpp"

#include <fmt/format.h>

namespace rampart::rpki::rtr {
namespace {

uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(uint8_t(v >> 8));
    out.push_back(uint8_t(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
}

Decoded failure(ErrorCode code, std::string reason, std::span<const uint8_t> pdu, size_t consumed) {
    Decoded d;
    d.status = Decoded::Status::error;
    d.error = code;
    d.reason = std::move(reason);
    d.erroneous.assign(pdu.begin(), pdu.end());
    d.consumed = consumed;
    return d;
}

const char* type_name(uint8_t type) {
    switch (PduType(type)) {
        case PduType::serial_notify: return "Serial Notify";
        case PduType::serial_query: return "Serial Query";
        case PduType::reset_query: return "Reset Query";
        case PduType::cache_response: return "Cache Response";
        case PduType::ipv4_prefix: return "IPv4 Prefix";
        case PduType::ipv6_prefix: return "IPv6 Prefix";
        case PduType::end_of_data: return "End of Data";
        case PduType::cache_reset: return "Cache Reset";
        case PduType::router_key: return "Router Key";
        case PduType::error_report: return "Error Report";
        case PduType::aspa: return "ASPA";
    }
    return "unknown";
}

// The length every PDU of a fixed-size type has (0: variable).
size_t fixed_length(PduType type, uint8_t version) {
    switch (type) {
        case PduType::serial_notify:
        case PduType::serial_query: return 12;
        case PduType::reset_query:
        case PduType::cache_response:
        case PduType::cache_reset: return 8;
        case PduType::ipv4_prefix: return 20;
        case PduType::ipv6_prefix: return 32;
        case PduType::end_of_data: return version == 0 ? 12 : 24;
        case PduType::router_key:
        case PduType::error_report:
        case PduType::aspa: return 0;
    }
    return 0;
}

}  // namespace

const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::corrupt_data: return "Corrupt Data";
        case ErrorCode::internal_error: return "Internal Error";
        case ErrorCode::no_data_available: return "No Data Available";
        case ErrorCode::invalid_request: return "Invalid Request";
        case ErrorCode::unsupported_protocol_version: return "Unsupported Protocol Version";
        case ErrorCode::unsupported_pdu_type: return "Unsupported PDU Type";
        case ErrorCode::withdrawal_of_unknown_record: return "Withdrawal of Unknown Record";
        case ErrorCode::duplicate_announcement: return "Duplicate Announcement Received";
        case ErrorCode::unexpected_protocol_version: return "Unexpected Protocol Version";
        case ErrorCode::aspa_provider_list_error: return "ASPA Provider List Error";
    }
    return "unknown error";
}

PduType type_of(const PduBody& body) {
    struct Visitor {
        PduType operator()(const SerialNotify&) const { return PduType::serial_notify; }
        PduType operator()(const SerialQuery&) const { return PduType::serial_query; }
        PduType operator()(const ResetQuery&) const { return PduType::reset_query; }
        PduType operator()(const CacheResponse&) const { return PduType::cache_response; }
        PduType operator()(const PrefixPdu& p) const {
            return p.prefix.addr.is_v4() ? PduType::ipv4_prefix : PduType::ipv6_prefix;
        }
        PduType operator()(const EndOfData&) const { return PduType::end_of_data; }
        PduType operator()(const CacheReset&) const { return PduType::cache_reset; }
        PduType operator()(const RouterKey&) const { return PduType::router_key; }
        PduType operator()(const ErrorReport&) const { return PduType::error_report; }
        PduType operator()(const AspaPdu&) const { return PduType::aspa; }
    };
    return std::visit(Visitor{}, body);
}

Decoded decode(std::span<const uint8_t> buf) {
    if (buf.size() < kHeaderLength) return {};
    const uint8_t version = buf[0], type = buf[1];
    const uint32_t length = get32(&buf[4]);
    const auto header = buf.first(kHeaderLength);
    // The length first: without a sane one the stream cannot be resynchronised.
    if (length < kHeaderLength || length > kMaxPduLength)
        return failure(ErrorCode::corrupt_data, fmt::format("{} PDU with length {}", type_name(type), length), header,
                       0);
    if (buf.size() < length) return {};
    const auto pdu = buf.first(length);
    const uint8_t* p = pdu.data();
    if (version > kMaxVersion)
        return failure(ErrorCode::unsupported_protocol_version, fmt::format("protocol version {}", version), pdu,
                       length);
    switch (type) {
        case uint8_t(PduType::serial_notify):
        case uint8_t(PduType::serial_query):
        case uint8_t(PduType::reset_query):
        case uint8_t(PduType::cache_response):
        case uint8_t(PduType::ipv4_prefix):
        case uint8_t(PduType::ipv6_prefix):
        case uint8_t(PduType::end_of_data):
        case uint8_t(PduType::cache_reset):
        case uint8_t(PduType::error_report): break;
        case uint8_t(PduType::router_key):
            if (version >= 1) break;
            return failure(ErrorCode::unsupported_pdu_type, "Router Key PDU in protocol version 0", pdu, length);
        case uint8_t(PduType::aspa):
            if (version >= 2) break;
            return failure(ErrorCode::unsupported_pdu_type, fmt::format("ASPA PDU in protocol version {}", version),
                           pdu, length);
        default: return failure(ErrorCode::unsupported_pdu_type, fmt::format("PDU type {}", type), pdu, length);
    }
    const PduType t = PduType(type);
    if (size_t fixed = fixed_length(t, version); fixed && length != fixed)
        return failure(ErrorCode::corrupt_data,
                       fmt::format("{} PDU (version {}) with length {}, not {}", type_name(type), version, length,
                                   fixed),
                       pdu, length);
    Decoded d;
    d.status = Decoded::Status::pdu;
    d.consumed = length;
    d.pdu.version = version;
    const uint16_t session = get16(p + 2);
    switch (t) {
        case PduType::serial_notify: d.pdu.body = SerialNotify{session, get32(p + 8)}; break;
        case PduType::serial_query: d.pdu.body = SerialQuery{session, get32(p + 8)}; break;
        case PduType::reset_query: d.pdu.body = ResetQuery{}; break;
        case PduType::cache_response: d.pdu.body = CacheResponse{session}; break;
        case PduType::cache_reset: d.pdu.body = CacheReset{}; break;
        case PduType::ipv4_prefix:
        case PduType::ipv6_prefix: {
            const bool v4 = t == PduType::ipv4_prefix;
            const unsigned bits = v4 ? 32 : 128;
            PrefixPdu pp;
            pp.announce = p[8] & 1;
            const uint8_t len = p[9];
            pp.max_length = p[10];
            if (len > bits || pp.max_length > bits || pp.max_length < len)
                return failure(ErrorCode::corrupt_data,
                               fmt::format("{} PDU with prefix length {} and max length {}", type_name(type), len,
                                           pp.max_length),
                               pdu, length);
            pp.prefix.addr = v4 ? IpAddr::v4(get32(p + 12)) : IpAddr::v6(p + 12);
            pp.prefix.len = len;
            pp.prefix = pp.prefix.network();
            pp.asn = get32(p + (v4 ? 16 : 28));
            d.pdu.body = pp;
            break;
        }
        case PduType::end_of_data: {
            EndOfData e{session, get32(p + 8), std::nullopt};
            if (version >= 1) e.intervals = Intervals{get32(p + 12), get32(p + 16), get32(p + 20)};
            d.pdu.body = e;
            break;
        }
        case PduType::router_key: {
            // flags, zero | length | SKI (20) | ASN | SPKI (the rest, not empty)
            if (length <= 32)
                return failure(ErrorCode::corrupt_data,
                               fmt::format("Router Key PDU with length {} (no Subject Public Key Info)", length), pdu,
                               length);
            RouterKey k;
            k.announce = p[2] & 1;
            std::copy(p + 8, p + 28, k.ski.begin());
            k.asn = get32(p + 28);
            k.spki.assign(p + 32, p + length);
            d.pdu.body = std::move(k);
            break;
        }
        case PduType::error_report: {
            // code | length | encapsulated PDU length | PDU | text length | text
            if (length < 16)
                return failure(ErrorCode::corrupt_data, fmt::format("Error Report PDU with length {}", length), pdu,
                               length);
            const uint32_t inner = get32(p + 8);
            if (inner > length - 16)
                return failure(ErrorCode::corrupt_data,
                               fmt::format("Error Report PDU of {} octets encapsulating {} octets", length, inner),
                               pdu, length);
            const uint32_t text_at = 12 + inner;
            const uint32_t text_len = get32(p + text_at);
            if (text_len != length - text_at - 4)
                return failure(ErrorCode::corrupt_data,
                               fmt::format("Error Report PDU of {} octets with {} octets of text after {}", length,
                                           text_len, text_at + 4),
                               pdu, length);
            ErrorReport r;
            r.code = ErrorCode(session);
            r.erroneous_pdu.assign(p + 12, p + 12 + inner);
            r.text.assign(reinterpret_cast<const char*>(p + text_at + 4), text_len);
            // Some caches NUL-terminate the text.
            while (!r.text.empty() && r.text.back() == '\0') r.text.pop_back();
            d.pdu.body = std::move(r);
            break;
        }
        case PduType::aspa: {
            AspaPdu a;
            size_t first_provider;
            const bool later_layout = p[2] != 0 || length == 12;
            if (later_layout) {
                // flags | zero | length | customer | providers
                if (length < 12 || (length - 12) % 4)
                    return failure(ErrorCode::corrupt_data, fmt::format("ASPA PDU with length {}", length), pdu,
                                   length);
                a.announce = p[2] & 1;
                a.customer = get32(p + 8);
                first_provider = 12;
            } else {
                // zero | length | flags | AFI | count | customer | providers
                if (length < 16)
                    return failure(ErrorCode::corrupt_data, fmt::format("ASPA PDU with length {}", length), pdu,
                                   length);
                const uint16_t count = get16(p + 10);
                if (length != 16 + 4 * size_t(count))
                    return failure(ErrorCode::corrupt_data,
                                   fmt::format("ASPA PDU with length {} for {} providers", length, count), pdu,
                                   length);
                a.announce = p[8] & 1;
                a.afi = p[9];
                a.customer = get32(p + 12);
                first_provider = 16;
            }
            for (size_t at = first_provider; at < length; at += 4) a.providers.push_back(get32(p + at));
            if (a.announce && a.providers.empty())
                return failure(ErrorCode::aspa_provider_list_error,
                               fmt::format("ASPA announcement for AS{} without providers", a.customer), pdu, length);
            d.pdu.body = std::move(a);
            break;
        }
    }
    return d;
}

std::vector<uint8_t> encode(const Pdu& pdu) {
    std::vector<uint8_t> out;
    const PduType t = type_of(pdu.body);
    out.push_back(pdu.version);
    out.push_back(uint8_t(t));
    auto header = [&](uint16_t session_or_zero) {
        put16(out, session_or_zero);
        put32(out, 0);  // the length, set at the end
    };
    struct Visitor {
        std::vector<uint8_t>& out;
        decltype(header)& hdr;
        uint8_t version;
        void operator()(const SerialNotify& n) const {
            hdr(n.session_id);
            put32(out, n.serial);
        }
        void operator()(const SerialQuery& q) const {
            hdr(q.session_id);
            put32(out, q.serial);
        }
        void operator()(const ResetQuery&) const { hdr(0); }
        void operator()(const CacheResponse& r) const { hdr(r.session_id); }
        void operator()(const CacheReset&) const { hdr(0); }
        void operator()(const PrefixPdu& pp) const {
            hdr(0);
            out.push_back(pp.announce ? 1 : 0);
            out.push_back(pp.prefix.len);
            out.push_back(pp.max_length);
            out.push_back(0);
            const size_t n = pp.prefix.addr.is_v4() ? 4 : 16;
            out.insert(out.end(), pp.prefix.addr.bytes.begin(), pp.prefix.addr.bytes.begin() + long(n));
            put32(out, pp.asn);
        }
        void operator()(const EndOfData& e) const {
            hdr(e.session_id);
            put32(out, e.serial);
            if (version >= 1) {
                const Intervals i = e.intervals.value_or(Intervals{});
                put32(out, i.refresh);
                put32(out, i.retry);
                put32(out, i.expire);
            }
        }
        void operator()(const RouterKey& k) const {
            out.push_back(k.announce ? 1 : 0);
            out.push_back(0);
            put32(out, 0);
            out.insert(out.end(), k.ski.begin(), k.ski.end());
            put32(out, k.asn);
            out.insert(out.end(), k.spki.begin(), k.spki.end());
        }
        void operator()(const ErrorReport& r) const {
            hdr(uint16_t(r.code));
            put32(out, uint32_t(r.erroneous_pdu.size()));
            out.insert(out.end(), r.erroneous_pdu.begin(), r.erroneous_pdu.end());
            put32(out, uint32_t(r.text.size()));
            out.insert(out.end(), r.text.begin(), r.text.end());
        }
        void operator()(const AspaPdu& a) const {  // revision 10's layout, as stayrtr 0.5
            hdr(0);
            out.push_back(a.announce ? 1 : 0);
            out.push_back(a.afi);
            put16(out, uint16_t(a.providers.size()));
            put32(out, a.customer);
            for (Asn p : a.providers) put32(out, p);
        }
    };
    std::visit(Visitor{out, header, pdu.version}, pdu.body);
    const uint32_t length = uint32_t(out.size());
    for (int i = 0; i < 4; ++i) out[4 + i] = uint8_t(length >> (24 - 8 * i));
    return out;
}

std::string printable(std::string_view text, size_t max) {
    std::string out;
    for (char c : text.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    if (text.size() > max) out += "...";
    return out;
}

}  // namespace rampart::rpki::rtr
