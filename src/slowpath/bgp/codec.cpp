// BGP-4 message framing and the messages other than UPDATE: OPEN with its
// capabilities, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH. See message.hpp.
// Section numbers are RFC 4271 unless said otherwise. Checks go header, then
// lengths, then fields, and each failure carries the code, subcode and data
// the RFC prescribes.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "slowpath/bgp/codec_detail.hpp"

namespace rampart::bgp {

using namespace detail;

namespace detail {

void begin_message(Bytes& b, MessageType type) {
    b.insert(b.end(), 16, 0xff);
    put16(b, 0);
    put8(b, uint8_t(type));
}

void finish_message(Bytes& b, size_t start) { set16(b, start + 16, b.size() - start); }

Notification make_notification(uint8_t code, uint8_t subcode, std::vector<uint8_t> data, std::string reason) {
    Notification n;
    n.code = code;
    n.subcode = subcode;
    n.data = std::move(data);
    n.reason = std::move(reason);
    return n;
}

}  // namespace detail

bool CodecOptions::receive_add_path(AddressFamily f) const {
    return std::find(add_path_receive.begin(), add_path_receive.end(), f) != add_path_receive.end();
}

bool CodecOptions::decodes(AddressFamily f) const {
    if (families.empty()) return f == kIpv4Unicast || f == kIpv6Unicast;
    return std::find(families.begin(), families.end(), f) != families.end();
}

bool CodecOptions::send_add_path(AddressFamily f) const {
    return std::find(add_path_send.begin(), add_path_send.end(), f) != add_path_send.end();
}

namespace {

// ---- capability codes (IANA "Capability Codes") ----
namespace cap {
inline constexpr uint8_t kMultiprotocol = 1, kRouteRefresh = 2, kExtendedMessage = 6, kRole = 9,
                         kGracefulRestart = 64, kFourOctetAs = 65, kAddPath = 69, kEnhancedRouteRefresh = 70;
}
inline constexpr uint8_t kParamCapabilities = 2;  // RFC 5492 §4
// RFC 9072: a Non-Ext OP Len and Non-Ext OP Type of 255 announce 2-octet lengths.
inline constexpr uint8_t kExtendedParams = 255;
inline constexpr size_t kOpenMinimum = 29, kUpdateMinimum = 23, kNotificationMinimum = 21, kRouteRefreshLength = 23;

Notification bad_length(uint16_t length, std::string reason) {
    return make_notification(error::kHeader, error::kBadMessageLength, {uint8_t(length >> 8), uint8_t(length)},
                             std::move(reason));
}

// §6.1: the header of a message whose first 19 octets are in `h`; the
// message length, or what to send.
std::variant<size_t, Notification> check_header(Span h, const CodecOptions& options) {
    if (!std::all_of(h.begin(), h.begin() + 16, [](uint8_t b) { return b == 0xff; }))
        return make_notification(error::kHeader, error::kConnectionNotSynchronized, {},
                                 "marker is not all ones");
    const uint16_t length = get16(&h[16]);
    const uint8_t type = h[18];
    if (length < kHeaderLength) return bad_length(length, fmt::format("length {} is below the header's 19", length));
    // RFC 8654 §4: OPEN and KEEPALIVE stay within 4096 octets on any session.
    const size_t max = (type == uint8_t(MessageType::open) || type == uint8_t(MessageType::keepalive))
                           ? kMaxMessageLength
                           : options.max_message_length();
    if (length > max) return bad_length(length, fmt::format("length {} exceeds the maximum {}", length, max));
    switch (MessageType(type)) {
    case MessageType::open:
        if (length < kOpenMinimum) return bad_length(length, fmt::format("OPEN of {} octets, minimum 29", length));
        break;
    case MessageType::update:
        if (length < kUpdateMinimum) return bad_length(length, fmt::format("UPDATE of {} octets, minimum 23", length));
        break;
    case MessageType::notification:
        if (length < kNotificationMinimum)
            return bad_length(length, fmt::format("NOTIFICATION of {} octets, minimum 21", length));
        break;
    case MessageType::keepalive:
        if (length != kHeaderLength) return bad_length(length, fmt::format("KEEPALIVE of {} octets, not 19", length));
        break;
    case MessageType::route_refresh:
        // RFC 7313 §5 answers a wrong length with its own error (in decode),
        // which needs the whole message: only the minimum is a header error.
        if (length < kRouteRefreshLength)
            return bad_length(length, fmt::format("ROUTE-REFRESH of {} octets, minimum 23", length));
        break;
    default:
        return make_notification(error::kHeader, error::kBadMessageType, {type},
                                 fmt::format("unknown message type {}", type));
    }
    return size_t(length);
}

// ---- OPEN (§4.2, RFC 5492, RFC 9072) ----

Notification open_error(uint8_t subcode, std::string reason, std::vector<uint8_t> data = {}) {
    return make_notification(error::kOpen, subcode, std::move(data), std::move(reason));
}

// One capability (code, value) into `c`; an error for a malformed value.
std::optional<Notification> decode_capability(uint8_t code, Span v, Capabilities& c) {
    auto malformed = [&](const char* what) {
        return open_error(0, fmt::format("capability {} ({}) of {} octets is malformed", code, what, v.size()));
    };
    switch (code) {
    case cap::kMultiprotocol:  // AFI(2) reserved(1) SAFI(1)
        if (v.size() != 4) return malformed("multiprotocol");
        {
            const AddressFamily f{Afi(get16(&v[0])), Safi(v[3])};
            if (std::find(c.multiprotocol.begin(), c.multiprotocol.end(), f) == c.multiprotocol.end())
                c.multiprotocol.push_back(f);
        }
        return std::nullopt;
    case cap::kRouteRefresh:
        if (!v.empty()) return malformed("route refresh");
        c.route_refresh = true;
        return std::nullopt;
    case cap::kEnhancedRouteRefresh:
        if (!v.empty()) return malformed("enhanced route refresh");
        c.enhanced_route_refresh = true;
        return std::nullopt;
    case cap::kExtendedMessage:
        if (!v.empty()) return malformed("extended message");
        c.extended_message = true;
        return std::nullopt;
    case cap::kFourOctetAs:
        if (v.size() != 4) return malformed("4-octet AS");
        c.four_octet_as = get32(&v[0]);
        return std::nullopt;
    case cap::kRole:
        if (v.size() != 1) return malformed("role");
        // RFC 9234 §4.2: several Role capabilities must agree.
        if (c.role && uint8_t(*c.role) != v[0])
            return open_error(error::kRoleMismatch, fmt::format("two Role capabilities: {} and {}",
                                                                uint8_t(*c.role), v[0]));
        c.role = Role(v[0]);
        return std::nullopt;
    case cap::kGracefulRestart: {  // RFC 4724 §3: flags(4 bits) time(12 bits), then AFI(2) SAFI(1) flags(1)
        if (v.size() < 2 || (v.size() - 2) % 4 != 0) return malformed("graceful restart");
        GracefulRestart gr;
        const uint16_t ft = get16(&v[0]);
        gr.restarting = ft & 0x8000;
        gr.notification = ft & 0x4000;  // RFC 8538
        gr.restart_time = ft & 0x0fff;
        for (size_t at = 2; at < v.size(); at += 4)
            gr.families.push_back({AddressFamily{Afi(get16(&v[at])), Safi(v[at + 2])}, bool(v[at + 3] & 0x80)});
        c.graceful_restart = std::move(gr);
        return std::nullopt;
    }
    case cap::kAddPath: {  // RFC 7911 §4: AFI(2) SAFI(1) Send/Receive(1), repeated
        if (v.empty() || v.size() % 4 != 0) return malformed("ADD-PATH");
        std::vector<AddPathFamily> entries;
        for (size_t at = 0; at < v.size(); at += 4) {
            const uint8_t sr = v[at + 3];
            // §4: any other Send/Receive value makes the capability "not
            // understood": it is kept with the unknown ones and ignored.
            if (sr < 1 || sr > 3) {
                c.unknown.emplace_back(code, std::vector<uint8_t>(v.begin(), v.end()));
                return std::nullopt;
            }
            entries.push_back({AddressFamily{Afi(get16(&v[at])), Safi(v[at + 2])}, bool(sr & 1), bool(sr & 2)});
        }
        c.add_path.insert(c.add_path.end(), entries.begin(), entries.end());
        return std::nullopt;
    }
    default:
        c.unknown.emplace_back(code, std::vector<uint8_t>(v.begin(), v.end()));
        return std::nullopt;
    }
}

// The capabilities of one Capabilities optional parameter.
std::optional<Notification> decode_capabilities(Span v, Capabilities& c) {
    size_t at = 0;
    while (at < v.size()) {
        if (v.size() - at < 2)
            return open_error(0, fmt::format("capability header needs 2 octets, {} left", v.size() - at));
        const uint8_t code = v[at], len = v[at + 1];
        if (len > v.size() - at - 2)
            return open_error(0, fmt::format("capability {} of {} octets, {} left", code, len, v.size() - at - 2));
        if (auto e = decode_capability(code, v.subspan(at + 2, len), c)) return e;
        at += 2 + size_t(len);
    }
    return std::nullopt;
}

std::variant<Message, Notification> decode_open(Span body) {
    // Version(1) My AS(2) Hold Time(2) BGP Identifier(4) Opt Parm Len(1) Optional Parameters
    Open m;
    m.version = body[0];
    if (m.version != 4)  // §6.2: the data is the largest version we support
        return open_error(error::kUnsupportedVersion, fmt::format("version {}", m.version), {0, 4});
    m.my_as = get16(&body[1]);
    m.hold_time = get16(&body[3]);
    m.bgp_id = get32(&body[5]);
    size_t params_len = body[9];
    size_t at = 10;
    bool extended = false;
    // RFC 9072 §2: 255 and a first type of 255 mean a 2-octet length follows.
    if (params_len == kExtendedParams && body.size() > 10 && body[10] == kExtendedParams) {
        if (body.size() < 13) return open_error(0, "extended optional parameters length truncated");
        params_len = get16(&body[11]);
        at = 13;
        extended = true;
    }
    if (params_len != body.size() - at)
        return open_error(0, fmt::format("optional parameters length {} but {} octets follow", params_len,
                                         body.size() - at));
    const size_t header = extended ? 3 : 2;
    while (at < body.size()) {
        if (body.size() - at < header)
            return open_error(0, fmt::format("optional parameter header needs {} octets, {} left", header,
                                             body.size() - at));
        const uint8_t type = body[at];
        const size_t len = extended ? get16(&body[at + 1]) : body[at + 1];
        if (len > body.size() - at - header)
            return open_error(0, fmt::format("optional parameter {} of {} octets, {} left", type, len,
                                             body.size() - at - header));
        const Span value = body.subspan(at + header, len);
        if (type != kParamCapabilities)
            return open_error(error::kUnsupportedOptionalParameter, fmt::format("optional parameter {}", type));
        if (auto e = decode_capabilities(value, m.capabilities)) return *e;
        at += header + len;
    }
    // §6.2: a hold time of 1 or 2 seconds is unacceptable.
    if (m.hold_time == 1 || m.hold_time == 2)
        return open_error(error::kUnacceptableHoldTime, fmt::format("hold time {}", m.hold_time));
    // RFC 6286 §2.2: any non-zero identifier.
    if (m.bgp_id == 0) return open_error(error::kBadBgpId, "BGP identifier 0", {0, 0, 0, 0});
    // RFC 7607 §2: AS 0 in My AS or the 4-octet AS capability is a Bad Peer AS.
    if (m.my_as == 0 || m.capabilities.four_octet_as == 0u)
        return open_error(error::kBadPeerAs, "AS 0 in OPEN");
    return Message{std::move(m)};
}

void put_family(Bytes& b, AddressFamily f) {
    put16(b, uint16_t(f.afi));
    put8(b, 0);
    put8(b, uint8_t(f.safi));
}

// The capabilities as one run of (code, length, value).
Bytes encode_capabilities(const Capabilities& c) {
    Bytes b;
    auto head = [&](uint8_t code, size_t len) {
        put8(b, code);
        put8(b, uint8_t(len));
    };
    for (const AddressFamily& f : c.multiprotocol) {
        head(cap::kMultiprotocol, 4);
        put_family(b, f);
    }
    if (c.route_refresh) head(cap::kRouteRefresh, 0);
    if (c.enhanced_route_refresh) head(cap::kEnhancedRouteRefresh, 0);
    if (c.extended_message) head(cap::kExtendedMessage, 0);
    if (c.four_octet_as) {
        head(cap::kFourOctetAs, 4);
        put32(b, *c.four_octet_as);
    }
    if (c.graceful_restart) {
        const GracefulRestart& gr = *c.graceful_restart;
        // One capability carries at most 63 families (255 octets).
        const size_t n = std::min<size_t>(gr.families.size(), 63);
        head(cap::kGracefulRestart, 2 + 4 * n);
        put16(b, uint16_t((gr.restarting ? 0x8000 : 0) | (gr.notification ? 0x4000 : 0) | (gr.restart_time & 0x0fff)));
        for (size_t i = 0; i < n; ++i) {
            put16(b, uint16_t(gr.families[i].family.afi));
            put8(b, uint8_t(gr.families[i].family.safi));
            put8(b, gr.families[i].forwarding_preserved ? 0x80 : 0);
        }
    }
    if (!c.add_path.empty()) {
        const size_t n = std::min<size_t>(c.add_path.size(), 63);
        head(cap::kAddPath, 4 * n);
        for (size_t i = 0; i < n; ++i) {
            const AddPathFamily& a = c.add_path[i];
            put16(b, uint16_t(a.family.afi));
            put8(b, uint8_t(a.family.safi));
            put8(b, uint8_t((a.receive ? 1 : 0) | (a.send ? 2 : 0)));
        }
    }
    if (c.role) {
        head(cap::kRole, 1);
        put8(b, uint8_t(*c.role));
    }
    for (const auto& [code, value] : c.unknown) {
        const size_t n = std::min<size_t>(value.size(), 255);
        head(code, n);
        b.insert(b.end(), value.begin(), value.begin() + n);
    }
    return b;
}

// ---- NOTIFICATION (§4.5) ----

std::variant<Message, Notification> decode_notification(Span body) {
    Notification n;
    n.code = body[0];
    n.subcode = body[1];
    n.data.assign(body.begin() + 2, body.end());
    return Message{std::move(n)};
}

// ---- ROUTE-REFRESH (RFC 2918 §3, RFC 7313 §3) ----

std::variant<Message, Notification> decode_route_refresh(Span message) {
    // RFC 7313 §5: any other length is an error whose data is the whole
    // message. (A longer request would carry RFC 5291 ORF entries, which
    // this speaker never advertises.)
    if (message.size() != kRouteRefreshLength)
        return make_notification(error::kRouteRefresh, error::kInvalidMessageLength,
                                 std::vector<uint8_t>(message.begin(), message.end()),
                                 fmt::format("ROUTE-REFRESH of {} octets, not 23", message.size()));
    const Span body = message.subspan(kHeaderLength);
    RouteRefresh r;
    r.family = AddressFamily{Afi(get16(&body[0])), Safi(body[3])};
    // A subtype other than 0-2 comes back as it is: RFC 7313 §5 has the
    // session ignore the message, as it ignores a family it did not
    // advertise (RFC 2918 §4).
    r.subtype = RouteRefresh::Subtype(body[2]);
    return Message{r};
}

std::string printable(Span s) {
    std::string out;
    for (uint8_t c : s) out += (c >= 0x20 && c < 0x7f) ? char(c) : '?';
    return out;
}

}  // namespace

// ---- framing ----

std::variant<size_t, Notification> frame_length(std::span<const uint8_t> stream, const CodecOptions& options) {
    if (stream.size() < kHeaderLength) return size_t(0);
    return check_header(stream.first(kHeaderLength), options);
}

// ---- decode ----

std::variant<Message, Notification> decode(std::span<const uint8_t> message, const CodecOptions& options) {
    if (message.size() < kHeaderLength)
        return make_notification(error::kHeader, error::kBadMessageLength, {},
                                 fmt::format("{} octets, shorter than the header", message.size()));
    auto checked = check_header(message.first(kHeaderLength), options);
    if (auto* n = std::get_if<Notification>(&checked)) return std::move(*n);
    const size_t length = std::get<size_t>(checked);
    if (length != message.size())
        return bad_length(uint16_t(length), fmt::format("length field {} but the message has {} octets", length,
                                                        message.size()));
    const Span body = message.subspan(kHeaderLength);
    switch (MessageType(message[18])) {
    case MessageType::open: return decode_open(body);
    case MessageType::update: return detail::decode_update(body, options);
    case MessageType::notification: return decode_notification(body);
    case MessageType::keepalive: return Message{Keepalive{}};
    case MessageType::route_refresh: return decode_route_refresh(message);
    }
    return make_notification(error::kHeader, error::kBadMessageType, {message[18]}, "unknown message type");
}

// ---- encode ----

std::vector<uint8_t> encode(const Open& m) {
    Bytes b;
    begin_message(b, MessageType::open);
    put8(b, m.version);
    put16(b, m.my_as);
    put16(b, m.hold_time);
    put32(b, m.bgp_id);
    const Bytes caps = encode_capabilities(m.capabilities);
    if (caps.empty()) {
        put8(b, 0);
    } else if (caps.size() + 2 <= 255) {  // one Capabilities parameter (RFC 5492 §4)
        // (Several would not help: Opt Parm Len covers them all in one octet.)
        put8(b, uint8_t(caps.size() + 2));
        put8(b, kParamCapabilities);
        put8(b, uint8_t(caps.size()));
        put(b, caps);
    } else {  // RFC 9072: 2-octet lengths
        put8(b, kExtendedParams);
        put8(b, kExtendedParams);
        put16(b, uint16_t(caps.size() + 3));
        put8(b, kParamCapabilities);
        put16(b, uint16_t(caps.size()));
        put(b, caps);
    }
    finish_message(b);
    return b;
}

std::vector<uint8_t> encode(const Notification& m) {
    Bytes b;
    begin_message(b, MessageType::notification);
    put8(b, m.code);
    put8(b, m.subcode);
    // Data that would not fit a 4096-octet message is cut (the peer may not
    // have negotiated extended messages; the data is diagnostic only).
    const size_t n = std::min(m.data.size(), kMaxMessageLength - kNotificationMinimum);
    b.insert(b.end(), m.data.begin(), m.data.begin() + n);
    finish_message(b);
    return b;
}

std::vector<uint8_t> encode_keepalive() {
    Bytes b;
    begin_message(b, MessageType::keepalive);
    finish_message(b);
    return b;
}

std::vector<uint8_t> encode(const RouteRefresh& m) {
    Bytes b;
    begin_message(b, MessageType::route_refresh);
    put16(b, uint16_t(m.family.afi));
    put8(b, uint8_t(m.subtype));
    put8(b, uint8_t(m.family.safi));
    finish_message(b);
    return b;
}

// ---- describe ----

std::string describe(const Notification& n) {
    static constexpr std::array<const char*, 8> kCodes = {
        "Unknown",           "Message Header Error", "OPEN Message Error", "UPDATE Message Error",
        "Hold Timer Expired", "Finite State Machine Error", "Cease",     "ROUTE-REFRESH Message Error"};
    auto sub = [&]() -> const char* {
        switch (n.code) {
        case error::kHeader: {
            static constexpr const char* s[] = {"Unspecific", "Connection Not Synchronized", "Bad Message Length",
                                                "Bad Message Type"};
            return n.subcode < std::size(s) ? s[n.subcode] : nullptr;
        }
        case error::kOpen: {
            static constexpr const char* s[] = {"Unspecific",
                                                "Unsupported Version Number",
                                                "Bad Peer AS",
                                                "Bad BGP Identifier",
                                                "Unsupported Optional Parameter",
                                                "Authentication Failure",
                                                "Unacceptable Hold Time",
                                                "Unsupported Capability",
                                                nullptr,
                                                nullptr,
                                                nullptr,
                                                "Role Mismatch"};
            return n.subcode < std::size(s) ? s[n.subcode] : nullptr;
        }
        case error::kUpdate: {
            static constexpr const char* s[] = {"Unspecific",
                                                "Malformed Attribute List",
                                                "Unrecognized Well-known Attribute",
                                                "Missing Well-known Attribute",
                                                "Attribute Flags Error",
                                                "Attribute Length Error",
                                                "Invalid ORIGIN Attribute",
                                                "AS Routing Loop",
                                                "Invalid NEXT_HOP Attribute",
                                                "Optional Attribute Error",
                                                "Invalid Network Field",
                                                "Malformed AS_PATH"};
            return n.subcode < std::size(s) ? s[n.subcode] : nullptr;
        }
        case error::kFsm: {  // RFC 6608
            static constexpr const char* s[] = {"Unspecific", "Unexpected Message in OpenSent State",
                                                "Unexpected Message in OpenConfirm State",
                                                "Unexpected Message in Established State"};
            return n.subcode < std::size(s) ? s[n.subcode] : nullptr;
        }
        case error::kCease: {  // RFC 4486, RFC 8538
            static constexpr const char* s[] = {"Unspecific",
                                                "Maximum Number of Prefixes Reached",
                                                "Administrative Shutdown",
                                                "Peer De-configured",
                                                "Administrative Reset",
                                                "Connection Rejected",
                                                "Other Configuration Change",
                                                "Connection Collision Resolution",
                                                "Out of Resources",
                                                "Hard Reset"};
            return n.subcode < std::size(s) ? s[n.subcode] : nullptr;
        }
        case error::kRouteRefresh: {
            static constexpr const char* s[] = {"Reserved", "Invalid Message Length"};
            return n.subcode < std::size(s) ? s[n.subcode] : nullptr;
        }
        case error::kHoldTimer: return n.subcode == 0 ? "Unspecific" : nullptr;
        default: return nullptr;
        }
    };
    std::string out = n.code < kCodes.size() && n.code ? kCodes[n.code] : fmt::format("Error {}", n.code);
    const char* s = sub();
    out += '/';
    out += s ? std::string(s) : fmt::format("Subcode {}", n.subcode);
    // RFC 9003: Administrative Shutdown / Reset may carry a length-prefixed
    // UTF-8 message from the operator.
    if (n.code == error::kCease && (n.subcode == error::kAdminShutdown || n.subcode == error::kAdminReset) &&
        !n.data.empty() && n.data[0] > 0 && size_t(n.data[0]) + 1 <= n.data.size())
        out += fmt::format(" \"{}\"", printable(std::span(n.data).subspan(1, n.data[0])));
    if (!n.reason.empty()) out += " (" + n.reason + ")";
    return out;
}

}  // namespace rampart::bgp
