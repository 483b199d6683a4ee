// The BGP-4 codec (slowpath/bgp/message.hpp): exact bytes of hand-assembled
// and captured messages, round trips (encode -> decode -> encode), every
// truncation and bad length refused with the RFC 4271 §6 NOTIFICATION or
// handled per RFC 7606.
#include "slowpath/bgp/message.hpp"

#include <catch2/catch.hpp>
#include "tests/support/hex.hpp"

#include <string>

using namespace rampart;
using namespace rampart::bgp;

using rampart::testing::cat;
using rampart::testing::hex;

namespace {

using Bytes = std::vector<uint8_t>;

const std::string kMarker = "ffffffffffffffffffffffffffffffff";

Prefix pfx(const char* s) { return *Prefix::parse(s); }
IpAddr ip(const char* s) { return *IpAddr::parse(s); }
Nlri nlri(const char* s, uint32_t path_id = 0) {
    Nlri n;
    n.prefix = pfx(s);
    n.path_id = path_id;
    return n;
}

// A message from its type and body hex: marker and length added.
Bytes msg(uint8_t type, std::string_view body_hex) {
    Bytes body = hex(body_hex);
    Bytes b = hex(kMarker);
    const size_t len = 19 + body.size();
    b.push_back(uint8_t(len >> 8));
    b.push_back(uint8_t(len));
    b.push_back(type);
    return cat(b, body);
}

template <class T>
T decoded_as(const Bytes& b, const CodecOptions& o = {}) {
    auto r = decode(b, o);
    if (auto* n = std::get_if<Notification>(&r)) FAIL("decode failed: " << describe(*n));
    auto& m = std::get<Message>(r);
    REQUIRE(std::holds_alternative<T>(m));
    return std::get<T>(m);
}

Notification refused(const Bytes& b, const CodecOptions& o = {}) {
    auto r = decode(b, o);
    REQUIRE(std::holds_alternative<Notification>(r));
    return std::get<Notification>(r);
}

void check_notification(const Notification& n, uint8_t code, uint8_t subcode) {
    INFO(describe(n));
    CHECK(int(n.code) == int(code));
    CHECK(int(n.subcode) == int(subcode));
    CHECK(!n.reason.empty());
}

Open full_open() {
    Open o;
    o.my_as = kAsTrans;
    o.hold_time = 90;
    o.bgp_id = 0xc0000201;
    Capabilities& c = o.capabilities;
    c.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
    c.route_refresh = true;
    c.enhanced_route_refresh = true;
    c.extended_message = true;
    c.four_octet_as = 4200000001u;
    GracefulRestart gr;
    gr.restarting = true;
    gr.notification = true;
    gr.restart_time = 120;
    gr.families = {{kIpv4Unicast, true}, {kIpv6Unicast, false}};
    c.graceful_restart = gr;
    c.add_path = {{kIpv4Unicast, true, false}, {kIpv6Unicast, true, true}};
    c.role = Role::customer;
    c.unknown = {{73, {3, 'r', 't', 'r', 0}}};  // FQDN, as FRR sends it
    return o;
}

}  // namespace

// ---------------------------------------------------------------- framing

TEST_CASE("frame_length waits for a whole header, then gives the message length", "[bgp][codec]") {
    const Bytes ka = encode_keepalive();
    const CodecOptions o;
    for (size_t n = 0; n < 19; ++n) {
        auto r = frame_length(std::span(ka).first(n), o);
        REQUIRE(std::holds_alternative<size_t>(r));
        CHECK(std::get<size_t>(r) == 0);
    }
    auto r = frame_length(cat(ka, ka), o);
    REQUIRE(std::holds_alternative<size_t>(r));
    CHECK(std::get<size_t>(r) == 19);
}

TEST_CASE("frame_length refuses a bad marker, length or type with the §6.1 error", "[bgp][codec]") {
    const CodecOptions o;
    Bytes b = encode_keepalive();
    b[3] = 0xfe;
    check_notification(std::get<Notification>(frame_length(b, o)), error::kHeader, error::kConnectionNotSynchronized);

    // Bad Message Length: the data is the length field.
    for (uint16_t len : {0, 18, 4097, 65535}) {
        Bytes h = hex(kMarker);
        h.push_back(uint8_t(len >> 8));
        h.push_back(uint8_t(len));
        h.push_back(2);
        auto n = std::get<Notification>(frame_length(h, o));
        check_notification(n, error::kHeader, error::kBadMessageLength);
        CHECK(n.data == Bytes{uint8_t(len >> 8), uint8_t(len)});
    }
    // The minimum of each type (§6.1) and KEEPALIVE's exact 19.
    for (auto [type, len] : {std::pair{1, 28}, {2, 22}, {3, 20}, {4, 20}, {5, 22}}) {
        Bytes h = hex(kMarker);
        h.push_back(0);
        h.push_back(uint8_t(len));
        h.push_back(uint8_t(type));
        INFO("type " << type << " length " << len);
        auto n = std::get<Notification>(frame_length(h, o));
        check_notification(n, error::kHeader, error::kBadMessageLength);
        CHECK(n.data == Bytes{0, uint8_t(len)});
    }
    // Bad Message Type: the data is the type.
    Bytes t = encode_keepalive();
    t[18] = 6;
    auto n = std::get<Notification>(frame_length(t, o));
    check_notification(n, error::kHeader, error::kBadMessageType);
    CHECK(n.data == Bytes{6});
}

TEST_CASE("extended messages (RFC 8654) allow long UPDATEs but never a long OPEN", "[bgp][codec]") {
    CodecOptions ext;
    ext.extended_message = true;
    Bytes update = hex(kMarker + "1000 02");  // 4096
    update[16] = 0x20;                        // 8192
    update[17] = 0x00;
    CHECK(std::get<size_t>(frame_length(update, ext)) == 8192);
    check_notification(std::get<Notification>(frame_length(update, CodecOptions{})), error::kHeader,
                       error::kBadMessageLength);
    Bytes open = update;
    open[18] = 1;
    check_notification(std::get<Notification>(frame_length(open, ext)), error::kHeader, error::kBadMessageLength);
}

TEST_CASE("decode refuses a length field that disagrees with the message", "[bgp][codec]") {
    Bytes b = encode_keepalive();
    b.push_back(0);
    check_notification(refused(b), error::kHeader, error::kBadMessageLength);
    check_notification(refused(Bytes(b.begin(), b.begin() + 10)), error::kHeader, error::kBadMessageLength);
}

// ---------------------------------------------------------------- KEEPALIVE, NOTIFICATION, ROUTE-REFRESH

TEST_CASE("KEEPALIVE is the bare header", "[bgp][codec]") {
    const Bytes ka = encode_keepalive();
    CHECK(ka == hex(kMarker + "0013 04"));
    decoded_as<Keepalive>(ka);
}

TEST_CASE("NOTIFICATION: exact bytes, round trip, descriptions", "[bgp][codec]") {
    Notification n;
    n.code = error::kCease;
    n.subcode = error::kMaxPrefixes;
    n.data = hex("0001 01 000003e8");  // RFC 4486 §4: AFI, SAFI, the limit
    const Bytes b = encode(n);
    CHECK(b == hex(kMarker + "001c 03 06 01 0001 01 000003e8"));
    const auto d = decoded_as<Notification>(b);
    CHECK(d == n);
    CHECK(describe(d) == "Cease/Maximum Number of Prefixes Reached");

    // RFC 9003 shutdown communication.
    Notification s;
    s.code = error::kCease;
    s.subcode = error::kAdminShutdown;
    s.data = cat(Bytes{11}, rampart::testing::ascii("maintenance"));
    CHECK(describe(decoded_as<Notification>(encode(s))) == "Cease/Administrative Shutdown \"maintenance\"");

    Notification h{error::kHeader, error::kBadMessageLength, {0, 18}, "why"};
    CHECK(describe(h) == "Message Header Error/Bad Message Length (why)");
    Notification odd{42, 7, {}, ""};
    CHECK(describe(odd) == "Error 42/Subcode 7");
    Notification u{error::kUpdate, error::kMalformedAsPath, {}, ""};
    CHECK(describe(u) == "UPDATE Message Error/Malformed AS_PATH");
}

TEST_CASE("NOTIFICATION data too long for 4096 octets is cut", "[bgp][codec]") {
    Notification n{error::kUpdate, error::kAttributeLengthError, Bytes(5000, 0xab), ""};
    const Bytes b = encode(n);
    CHECK(b.size() == 4096);
    CHECK(decoded_as<Notification>(b).data.size() == 4096 - 21);
}

TEST_CASE("ROUTE-REFRESH: request, BoRR, EoRR; a wrong length is RFC 7313's error", "[bgp][codec]") {
    RouteRefresh r{kIpv6Unicast, RouteRefresh::Subtype::begin};
    const Bytes b = encode(r);
    CHECK(b == hex(kMarker + "0017 05 0002 01 01"));
    const auto d = decoded_as<RouteRefresh>(b);
    CHECK(d.family == kIpv6Unicast);
    CHECK(d.subtype == RouteRefresh::Subtype::begin);
    CHECK(decoded_as<RouteRefresh>(msg(5, "0001 00 01")).subtype == RouteRefresh::Subtype::request);
    CHECK(decoded_as<RouteRefresh>(msg(5, "0001 02 01")).subtype == RouteRefresh::Subtype::end);
    // An unknown subtype comes back for the session to ignore (RFC 7313 §5).
    CHECK(uint8_t(decoded_as<RouteRefresh>(msg(5, "0001 07 01")).subtype) == 7);

    const Bytes longer = msg(5, "0001 01 01 00");
    auto n = refused(longer);
    check_notification(n, error::kRouteRefresh, error::kInvalidMessageLength);
    CHECK(n.data == longer);  // the whole message
    check_notification(refused(msg(5, "0001 01")), error::kHeader, error::kBadMessageLength);
}

// ---------------------------------------------------------------- OPEN

TEST_CASE("OPEN: the minimal message, exact bytes", "[bgp][codec]") {
    Open o;
    o.my_as = 64496;
    o.hold_time = 180;
    o.bgp_id = 0xc0000201;
    const Bytes b = encode(o);
    CHECK(b == hex(kMarker + "001d 01 04 fbf0 00b4 c0000201 00"));
    CHECK(decoded_as<Open>(b) == o);
}

TEST_CASE("OPEN: every capability, exact bytes and round trip", "[bgp][codec]") {
    const Open o = full_open();
    const Bytes b = encode(o);
    const Bytes expected = msg(1, "04 5ba0 005a c0000201 3a 02 38"
                                  "0104 0001 0001"           // MP IPv4 unicast
                                  "0104 0002 0001"           // MP IPv6 unicast
                                  "0200"                     // route refresh
                                  "4600"                     // enhanced route refresh
                                  "0600"                     // extended message
                                  "4104 fa56ea01"            // 4-octet AS 4200000001
                                  "400a c078 0001 01 80 0002 01 00"  // GR: R+N, 120 s
                                  "4508 0001 01 01 0002 01 03"       // ADD-PATH
                                  "0901 03"                  // role customer
                                  "4905 03 72747200");       // FQDN (kept unknown)
    CHECK(b == expected);
    const Open d = decoded_as<Open>(b);
    CHECK(d == o);
    CHECK(d.asn() == 4200000001u);
    CHECK(encode(d) == b);
}

TEST_CASE("OPEN: capabilities spread over several parameters and RFC 9072 extended lengths", "[bgp][codec]") {
    // Two Capabilities parameters, as older speakers send one per capability.
    const Open two = decoded_as<Open>(msg(1, "04 fdea 00f0 0a000001 10 02 06 0104 0001 0001 02 06 4104 0000fdea"));
    CHECK(two.capabilities.multiprotocol == std::vector{kIpv4Unicast});
    CHECK(two.capabilities.four_octet_as == 65002u);
    CHECK(two.asn() == 65002u);

    // More than 255 octets of capabilities: the encoder switches to RFC 9072.
    Open big = full_open();
    for (int i = 0; i < 60; ++i) big.capabilities.unknown.push_back({uint8_t(200 + i % 50), Bytes(3, uint8_t(i))});
    const Bytes b = encode(big);
    CHECK(b[28] == 255);
    CHECK(b[29] == 255);
    CHECK(decoded_as<Open>(b) == big);
}

TEST_CASE("OPEN: field errors get the §6.2 subcode and data", "[bgp][codec]") {
    auto n = refused(msg(1, "03 fbf0 00b4 c0000201 00"));
    check_notification(n, error::kOpen, error::kUnsupportedVersion);
    CHECK(n.data == Bytes{0, 4});
    check_notification(refused(msg(1, "04 fbf0 0002 c0000201 00")), error::kOpen, error::kUnacceptableHoldTime);
    CHECK(decoded_as<Open>(msg(1, "04 fbf0 0000 c0000201 00")).hold_time == 0);
    CHECK(decoded_as<Open>(msg(1, "04 fbf0 0003 c0000201 00")).hold_time == 3);
    check_notification(refused(msg(1, "04 fbf0 00b4 00000000 00")), error::kOpen, error::kBadBgpId);
    check_notification(refused(msg(1, "04 0000 00b4 c0000201 00")), error::kOpen, error::kBadPeerAs);  // RFC 7607
    check_notification(refused(msg(1, "04 5ba0 00b4 c0000201 08 02 06 4104 00000000")), error::kOpen,
                       error::kBadPeerAs);
    // Authentication (type 1, deprecated) and anything else but 2.
    check_notification(refused(msg(1, "04 fbf0 00b4 c0000201 04 01 02 abcd")), error::kOpen,
                       error::kUnsupportedOptionalParameter);
    // RFC 9234 §4.2: two different roles.
    check_notification(refused(msg(1, "04 fbf0 00b4 c0000201 08 02 06 0901 03 0901 00")), error::kOpen,
                       error::kRoleMismatch);
    CHECK(decoded_as<Open>(msg(1, "04 fbf0 00b4 c0000201 08 02 06 0901 03 0901 03")).capabilities.role ==
          Role::customer);
}

TEST_CASE("OPEN: malformed parameters and capabilities are Unspecific OPEN errors", "[bgp][codec]") {
    for (const char* body : {
             "04 fbf0 00b4 c0000201 05 02 02 0200",   // parameter length past the message
             "04 fbf0 00b4 c0000201 01 02 00 0200",   // parameters length short of the message
             "04 fbf0 00b4 c0000201 01 02",           // half a parameter header
             "04 fbf0 00b4 c0000201 04 02 02 0203",   // capability past its parameter
             "04 fbf0 00b4 c0000201 03 02 01 02",     // half a capability header
             "04 fbf0 00b4 c0000201 06 02 04 0102 0001",  // MP of 2 octets
             "04 fbf0 00b4 c0000201 04 02 02 0201",   // route refresh with a value (truncated)
             "04 fbf0 00b4 c0000201 05 02 03 0201 00",  // route refresh with a value
             "04 fbf0 00b4 c0000201 07 02 05 4103 000001",  // 4-octet AS of 3
             "04 fbf0 00b4 c0000201 07 02 05 4003 007800",  // GR of 3
             "04 fbf0 00b4 c0000201 07 02 05 4503 000101",  // ADD-PATH of 3
             "04 fbf0 00b4 c0000201 06 02 04 0902 0300",    // role of 2
             "04 fbf0 00b4 c0000201 ff ff 00",               // RFC 9072 length cut
         }) {
        INFO(body);
        check_notification(refused(msg(1, body)), error::kOpen, 0);
    }
}

TEST_CASE("OPEN: an ADD-PATH Send/Receive value outside 1-3 makes the capability unknown", "[bgp][codec]") {
    const Open o = decoded_as<Open>(msg(1, "04 fbf0 00b4 c0000201 08 02 06 4504 0001 01 04"));
    CHECK(o.capabilities.add_path.empty());
    REQUIRE(o.capabilities.unknown.size() == 1);
    CHECK(o.capabilities.unknown[0].first == 69);
}

TEST_CASE("OPEN: every truncation is refused cleanly", "[bgp][codec]") {
    const Bytes b = encode(full_open());
    for (size_t n = 0; n < b.size(); ++n) {
        Bytes t(b.begin(), b.begin() + n);
        if (n >= 18) {  // make the length field agree, so the body is what is short
            t[16] = uint8_t(n >> 8);
            t[17] = uint8_t(n);
        }
        INFO("truncated at " << n);
        const Notification e = refused(t);
        CHECK((e.code == error::kHeader || e.code == error::kOpen));
    }
}
