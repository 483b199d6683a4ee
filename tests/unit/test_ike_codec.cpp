// The IKEv2 message codec (RFC 7296 §3, RFC 7383 §2.5): exact bytes of a
// hand-assembled message, round trips of a realistic IKE_SA_INIT and
// IKE_AUTH (encode -> decode -> encode), every truncation rejected with the
// right error, the §2.5 rules for unknown and critical payloads, and the
// per-payload length checks.
#include "slowpath/ike/message.hpp"

#include <catch2/catch.hpp>
#include "tests/support/hex.hpp"

#include <string>

using namespace rampart;
using namespace rampart::ike;

using rampart::testing::ascii;
using rampart::testing::cat;
using rampart::testing::hex;

namespace {

Bytes filled(size_t n, uint8_t seed) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
    return b;
}

Prefix pfx(const char* s) { return *Prefix::parse(s); }

// The initiator's IKE_SA_INIT as strongSwan would send it: two proposals,
// KE for group 19, a nonce, NAT detection, fragmentation and RFC 7427 support.
Message sa_init_request() {
    Message m;
    m.header.spi_i = 0x8a3c5d7e9f102233ULL;
    m.header.exchange = ExchangeType::ike_sa_init;
    m.header.flags = kFlagInitiator;
    SaPayload sa;
    Proposal gcm;
    gcm.number = 1;
    gcm.protocol = ProtocolId::ike;
    gcm.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, 256),
                      Transform::make(TransformType::prf, prf_id::hmac_sha2_256),
                      Transform::make(TransformType::dh, dh_id::ecp256),
                      Transform::make(TransformType::dh, dh_id::curve25519)};
    Proposal cbc;
    cbc.number = 2;
    cbc.protocol = ProtocolId::ike;
    cbc.transforms = {Transform::make(TransformType::encr, encr_id::aes_cbc, 128),
                      Transform::make(TransformType::integ, integ_id::hmac_sha2_256_128),
                      Transform::make(TransformType::prf, prf_id::hmac_sha2_256),
                      Transform::make(TransformType::dh, dh_id::modp2048)};
    sa.proposals = {gcm, cbc};
    m.payloads.push_back(make_payload(sa));
    m.payloads.push_back(make_payload(KePayload{dh_id::ecp256, filled(64, 0x11)}));
    m.payloads.push_back(make_payload(NoncePayload{filled(32, 0x42)}));
    m.payloads.push_back(make_payload(NotifyPayload::make(notify::nat_detection_source_ip, filled(20, 1))));
    m.payloads.push_back(make_payload(NotifyPayload::make(notify::nat_detection_destination_ip, filled(20, 2))));
    m.payloads.push_back(make_payload(NotifyPayload::make(notify::ikev2_fragmentation_supported)));
    m.payloads.push_back(
        make_payload(NotifyPayload::make(notify::signature_hash_algorithms, hex("0002 0003 0004"))));
    m.payloads.push_back(make_payload(VendorPayload{hex("882fe56d6fd20dbc2251613b2ebe5beb")}));
    return m;
}

// The content of an IKE_AUTH request's SK payload, with one of every kind.
std::vector<Payload> auth_inner() {
    std::vector<Payload> ps;
    ps.push_back(make_payload(PayloadType::idi, IdPayload::text(IdType::fqdn, "spoke1.example.net")));
    ps.push_back(make_payload(PayloadType::cert, CertPayload{CertEncoding::x509_signature, filled(300, 3)}));
    ps.push_back(make_payload(PayloadType::certreq, CertPayload{CertEncoding::x509_signature, filled(40, 4)}));
    ps.push_back(make_payload(NotifyPayload::make(notify::initial_contact)));
    ps.push_back(make_payload(PayloadType::idr, IdPayload::address(*IpAddr::parse("2001:db8::1"))));
    ps.push_back(make_payload(AuthPayload{AuthMethod::shared_key_mic, filled(32, 5)}));
    ps.push_back(make_payload(CpPayload{CfgType::request, {{1, {}}, {8, {}}, {3, {}}}}));
    ps.push_back(make_payload(NotifyPayload::make(notify::use_transport_mode)));
    Proposal esp;
    esp.protocol = ProtocolId::esp;
    esp.spi = hex("c1a2b3d4");
    esp.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, 128),
                      Transform::make(TransformType::esn, esn_id::no)};
    ps.push_back(make_payload(SaPayload{{esp}}));
    TsPayload tsi{{TrafficSelector::from_prefix(pfx("192.0.2.0/24"), 17, 1701, 1701),
                   TrafficSelector::from_prefix(pfx("2001:db8:1::/48"))}};
    TsPayload tsr{{TrafficSelector::from_prefix(pfx("198.51.100.7/32"), 17, 1701, 1701)}};
    ps.push_back(make_payload(PayloadType::tsi, tsi));
    ps.push_back(make_payload(PayloadType::tsr, tsr));
    ps.push_back(make_payload(NotifyPayload::make(notify::esp_tfc_padding_not_supported)));
    NotifyPayload rekey = NotifyPayload::make(notify::rekey_sa);
    rekey.protocol = ProtocolId::esp;
    rekey.spi = hex("01020304");
    ps.push_back(make_payload(rekey));
    ps.push_back(make_payload(DeletePayload{ProtocolId::esp, 4, {hex("0a0b0c0d"), hex("01020304")}}));
    ps.push_back(make_payload(NotifyPayload::make(notify::cookie, filled(32, 9))));
    return ps;
}

// The wire with the header's length field set to the buffer size.
Bytes with_length(Bytes b) {
    const uint32_t n = uint32_t(b.size());
    b[24] = uint8_t(n >> 24);
    b[25] = uint8_t(n >> 16);
    b[26] = uint8_t(n >> 8);
    b[27] = uint8_t(n);
    return b;
}

// A message whose only payload is `type` with the given raw body.
Bytes single(PayloadType type, const Bytes& body, uint8_t flags = 0, uint8_t next = 0) {
    Bytes b(kHeaderLen);
    Header h;
    h.next_payload = type;
    encode_header(h, b.data());
    b.push_back(next);
    b.push_back(flags);
    b.push_back(uint8_t((body.size() + 4) >> 8));
    b.push_back(uint8_t(body.size() + 4));
    b.insert(b.end(), body.begin(), body.end());
    return with_length(b);
}

// A notify body: no protocol, no SPI, the type, 20 bytes of data.
Bytes cat_notify(uint16_t type) {
    Bytes b{0, 0, uint8_t(type >> 8), uint8_t(type)};
    const Bytes d = filled(20, 3);
    b.insert(b.end(), d.begin(), d.end());
    return b;
}

DecodeError error_of(const Bytes& wire) { return decode(wire).status.error; }

}  // namespace

TEST_CASE("ike codec: IKE_SA_INIT with one proposal, exact bytes", "[ike][codec]") {
    Message m;
    m.header.spi_i = 0x0102030405060708ULL;
    m.header.flags = kFlagInitiator;
    Proposal p;
    p.transforms = {Transform::make(TransformType::encr, encr_id::aes_cbc, 128),
                    Transform::make(TransformType::prf, prf_id::hmac_sha2_256),
                    Transform::make(TransformType::integ, integ_id::hmac_sha2_256_128),
                    Transform::make(TransformType::dh, dh_id::modp2048)};
    m.payloads.push_back(make_payload(SaPayload{{p}}));
    // §3.1 header, §3.3 SA / proposal / transforms, §3.3.5 Key Length TV attribute.
    const Bytes want = hex(
        "0102030405060708 0000000000000000 21 20 22 08 00000000 0000004c"
        "00 00 0030"
        "00 00 002c 01 01 00 04"
        "03 00 000c 01 00 000c 800e 0080"
        "03 00 0008 02 00 0005"
        "03 00 0008 03 00 000c"
        "00 00 0008 04 00 000e");
    CHECK(encode(m) == want);
    DecodedMessage d = decode(want);
    REQUIRE(d.ok());
    CHECK(d.message.header.next_payload == PayloadType::sa);
    CHECK(d.message.header.length == 76);
    m.header.next_payload = PayloadType::sa;
    m.header.length = 76;
    CHECK(d.message == m);
    CHECK(d.message.get<SaPayload>(PayloadType::sa)->proposals[0].transforms[0].key_length() == 128);
}

TEST_CASE("ike codec: IKE_SA_INIT round trip", "[ike][codec]") {
    const Message m = sa_init_request();
    const Bytes wire = encode(m);
    DecodedMessage d = decode(wire);
    REQUIRE(d.ok());
    CHECK(encode(d.message) == wire);
    CHECK(d.message.payloads == m.payloads);
    CHECK(d.message.header.length == wire.size());
    REQUIRE(d.message.find_notify(notify::nat_detection_source_ip));
    CHECK(d.message.find_notify(notify::signature_hash_algorithms)->data == hex("000200030004"));
    CHECK(d.message.get<KePayload>(PayloadType::ke)->group == dh_id::ecp256);
    CHECK(d.message.find_notify(notify::cookie) == nullptr);
}

TEST_CASE("ike codec: IKE_AUTH round trip, outer SK and inner payloads", "[ike][codec]") {
    const std::vector<Payload> inner = auth_inner();
    const Bytes plain = encode_payloads(inner);
    DecodedPayloads dp = decode_payloads(PayloadType::idi, plain);
    REQUIRE(dp.ok());
    CHECK(dp.payloads == inner);
    CHECK(encode_payloads(dp.payloads) == plain);
    const TsPayload& tsi = std::get<TsPayload>(dp.payloads[9].body);
    CHECK(tsi.selectors[0].end == *IpAddr::parse("192.0.2.255"));
    CHECK(tsi.selectors[1].end == *IpAddr::parse("2001:db8:1:ffff:ffff:ffff:ffff:ffff"));

    Message m;
    m.header.spi_i = 1;
    m.header.spi_r = 2;
    m.header.exchange = ExchangeType::ike_auth;
    m.header.flags = kFlagInitiator;
    m.header.message_id = 1;
    m.payloads.push_back(make_payload(SkPayload{PayloadType::idi, filled(200, 7)}));
    const Bytes wire = encode(m);
    CHECK(wire[kHeaderLen] == uint8_t(PayloadType::idi));  // SK announces its first inner payload
    DecodedMessage d = decode(wire);
    REQUIRE(d.ok());
    CHECK(encode(d.message) == wire);
    CHECK(std::get<SkPayload>(d.message.payloads[0].body).inner_first == PayloadType::idi);

    // RFC 7383: fragment 1 names the first inner payload, the others 0.
    Message f = m;
    f.payloads = {make_payload(SkfPayload{PayloadType::idi, 1, 3, filled(100, 1)})};
    DecodedMessage df = decode(encode(f));
    REQUIRE(df.ok());
    CHECK(encode(df.message) == encode(f));
    f.payloads = {make_payload(SkfPayload{PayloadType::none, 3, 3, filled(10, 1)})};
    CHECK(decode(encode(f)).ok());
}

TEST_CASE("ike codec: every truncation of a valid message is rejected", "[ike][codec]") {
    const Bytes wire = encode(sa_init_request());
    for (size_t n = 0; n < wire.size(); ++n) {
        INFO("prefix of " << n << " bytes");
        const Bytes cut(wire.begin(), wire.begin() + n);
        // As received: the header's length no longer matches.
        CHECK(error_of(cut) == (n < kHeaderLen ? DecodeError::truncated_header : DecodeError::bad_message_length));
        if (n < kHeaderLen) continue;
        // With the length field made consistent the payload chain runs out.
        const DecodedMessage d = decode(with_length(cut));
        CHECK(d.status.error == DecodeError::truncated_payload);
        CHECK(d.status.notify().type == notify::invalid_syntax);
        CHECK(d.message.payloads.empty());
    }
    // The inner chain of an IKE_AUTH, the same way.
    const Bytes plain = encode_payloads(auth_inner());
    for (size_t n = 0; n < plain.size(); ++n) {
        INFO("inner prefix of " << n << " bytes");
        CHECK(decode_payloads(PayloadType::idi, Bytes(plain.begin(), plain.begin() + n)).status.error ==
              DecodeError::truncated_payload);
    }
}

TEST_CASE("ike codec: truncated payload bodies fail on their own field", "[ike][codec]") {
    struct Case {
        const char* what;
        PayloadType type;
        Bytes body;
        DecodeError below4, rest;
    };
    const Bytes sa = encode_payloads(std::vector{sa_init_request().payloads[0]});
    const Bytes ts = encode_payloads(std::vector{auth_inner()[9]});
    const std::vector<Case> cases = {
        {"SA", PayloadType::sa, Bytes(sa.begin() + 4, sa.end()), DecodeError::bad_proposal, DecodeError::bad_proposal},
        {"TSi", PayloadType::tsi, Bytes(ts.begin() + 4, ts.end()), DecodeError::bad_payload_length,
         DecodeError::bad_traffic_selector},
        {"D", PayloadType::del, hex("03 04 0002 0a0b0c0d 01020304"), DecodeError::bad_payload_length,
         DecodeError::bad_delete},
        {"IDi", PayloadType::idi, hex("01 000000 c0000201"), DecodeError::bad_payload_length, DecodeError::bad_id},
        {"N(NAT_DETECTION_SOURCE_IP)", PayloadType::notify, cat_notify(notify::nat_detection_source_ip),
         DecodeError::bad_payload_length, DecodeError::bad_notify},
        {"Nonce", PayloadType::nonce, filled(16, 0), DecodeError::bad_nonce, DecodeError::bad_nonce},
    };
    for (const Case& c : cases) {
        REQUIRE(decode(single(c.type, c.body)).ok());
        for (size_t n = 0; n < c.body.size(); ++n) {
            INFO(c.what << " body cut to " << n << " of " << c.body.size() << " bytes");
            const DecodedMessage d = decode(single(c.type, Bytes(c.body.begin(), c.body.begin() + n)));
            CHECK(d.status.error == (n < 4 ? c.below4 : c.rest));
            CHECK(d.status.offset >= kHeaderLen);
            CHECK(!d.status.detail.empty());
        }
    }
}

TEST_CASE("ike codec: §2.5 unknown payloads, critical bit, version", "[ike][codec]") {
    // An unknown payload (type 200) between two known ones: skipped.
    Bytes b(kHeaderLen);
    Header h;
    h.next_payload = PayloadType::vendor;
    encode_header(h, b.data());
    Bytes body = hex("c8 00 0006 0102"           // V, next = 200
                     "28 00 0008 aabbccdd"       // type 200, not critical, next = Nonce
                     "00 00 0014 000102030405060708090a0b0c0d0e0f");  // Nonce (16 bytes)
    b.insert(b.end(), body.begin(), body.end());
    DecodedMessage d = decode(with_length(b));
    REQUIRE(d.ok());
    REQUIRE(d.message.payloads.size() == 2);
    CHECK(d.message.payloads[0].type == PayloadType::vendor);
    CHECK(d.message.payloads[1].type == PayloadType::nonce);

    // The same with the critical bit: UNSUPPORTED_CRITICAL_PAYLOAD naming type 200.
    b[kHeaderLen + 6 + 1] = 0x80;
    d = decode(with_length(b));
    CHECK(d.status.error == DecodeError::unsupported_critical_payload);
    CHECK(d.status.payload_type == 200);
    CHECK(d.status.offset == kHeaderLen + 6);
    CHECK(d.status.notify().type == notify::unsupported_critical_payload);
    CHECK(d.status.notify().data == Bytes{200});

    // A known payload with the critical bit is accepted and keeps it.
    d = decode(single(PayloadType::vendor, hex("0102"), 0x80));
    REQUIRE(d.ok());
    CHECK(d.message.payloads[0].critical);
    CHECK(encode(d.message) == single(PayloadType::vendor, hex("0102"), 0x80));

    // Major version 3 -> INVALID_MAJOR_VERSION; 1 (IKEv1) too.
    Bytes v = single(PayloadType::vendor, hex("01"));
    v[17] = 0x30;
    CHECK(error_of(v) == DecodeError::invalid_major_version);
    CHECK(decode(v).status.notify().type == notify::invalid_major_version);
    CHECK(decode(v).status.notify().data.empty());
    v[17] = 0x10;
    CHECK(error_of(v) == DecodeError::invalid_major_version);
    v[17] = 0x21;  // minor versions are ignored
    CHECK(decode(v).ok());

    // Payload length below 4.
    Bytes s = single(PayloadType::vendor, hex("01"));
    s[kHeaderLen + 3] = 3;
    CHECK(error_of(s) == DecodeError::bad_payload_length);
    // Bytes after the last payload.
    s = single(PayloadType::vendor, hex("01"));
    s.push_back(0);
    CHECK(error_of(with_length(s)) == DecodeError::truncated_payload);
}

TEST_CASE("ike codec: SK / SKF placement and fragment numbers", "[ike][codec]") {
    Message m;
    m.payloads.push_back(make_payload(SkPayload{PayloadType::idi, filled(40, 1)}));
    Bytes wire = encode(m);
    // Another payload after the SK payload (found by appending a V header).
    Bytes extra = wire;
    const Bytes v = hex("00 00 0005 01");
    extra.insert(extra.end(), v.begin(), v.end());
    CHECK(error_of(with_length(extra)) == DecodeError::sk_not_last);
    // SK inside an SK payload's content.
    const Bytes inner = hex("00 00 0008 01020304");
    CHECK(decode_payloads(PayloadType::sk, inner).status.error == DecodeError::sk_not_last);

    CHECK(error_of(single(PayloadType::skf, hex("0000 0002 aa"))) == DecodeError::bad_fragment);
    CHECK(error_of(single(PayloadType::skf, hex("0003 0002 aa"))) == DecodeError::bad_fragment);
    CHECK(error_of(single(PayloadType::skf, hex("0002 0002 aa"), 0, 35)) == DecodeError::bad_fragment);
    CHECK(decode(single(PayloadType::skf, hex("0002 0002 aa"))).ok());
    CHECK(error_of(single(PayloadType::skf, hex("0001 00"))) == DecodeError::bad_payload_length);
}

TEST_CASE("ike codec: substructure checks", "[ike][codec]") {
    // Proposal whose last-substructure byte says more follow, but none do.
    CHECK(error_of(single(PayloadType::sa, hex("02 00 0010 01 01 00 01  00 00 0008 01 00 0014"))) ==
          DecodeError::bad_proposal);
    // Transform count says 2, one present.
    CHECK(error_of(single(PayloadType::sa, hex("00 00 0010 01 01 00 02  00 00 0008 01 00 0014"))) ==
          DecodeError::bad_transform);
    // Transform marked last (0) while the count says more; and 3 on the last one.
    CHECK(error_of(single(PayloadType::sa, hex("00 00 0018 01 01 00 02  00 00 0008 01 00 0014"
                                               "00 00 0008 02 00 0005"))) == DecodeError::bad_transform);
    CHECK(error_of(single(PayloadType::sa, hex("00 00 0010 01 01 00 01  03 00 0008 01 00 0014"))) ==
          DecodeError::bad_transform);
    // Key Length as a TLV attribute; a TLV running past its transform.
    CHECK(error_of(single(PayloadType::sa, hex("00 00 0014 01 01 00 01  00 00 000c 01 00 000c 000e 0000"))) ==
          DecodeError::bad_attribute);
    CHECK(error_of(single(PayloadType::sa, hex("00 00 0014 01 01 00 01  00 00 000c 01 00 000c 0001 0004"))) ==
          DecodeError::bad_attribute);
    // No proposals; a proposal without transforms.
    CHECK(error_of(single(PayloadType::sa, {})) == DecodeError::bad_proposal);
    CHECK(error_of(single(PayloadType::sa, hex("00 00 0008 01 01 00 00"))) == DecodeError::bad_proposal);
    // SPI bigger than the proposal.
    CHECK(error_of(single(PayloadType::sa, hex("00 00 0008 01 03 04 01"))) == DecodeError::bad_proposal);

    // ID lengths by type.
    CHECK(error_of(single(PayloadType::idi, hex("05 000000 c0000201"))) == DecodeError::bad_id);
    CHECK(error_of(single(PayloadType::idr, hex("02 000000"))) == DecodeError::bad_id);
    CHECK(decode(single(PayloadType::idr, hex("0b 000000 01"))).ok());  // KEY_ID
    CHECK(decode(single(PayloadType::idr, hex("09 000000 3000"))).ok());  // DER_ASN1_DN
    CHECK(decode(single(PayloadType::idr, hex("03 000000 6140622e63"))).ok());  // RFC822

    // Notify data by type.
    CHECK(error_of(single(PayloadType::notify, hex("00 00 4006"))) == DecodeError::bad_notify);  // COOKIE empty
    CHECK(error_of(single(PayloadType::notify, hex("00 00 402e 00"))) == DecodeError::bad_notify);
    CHECK(error_of(single(PayloadType::notify, hex("00 00 402f 000200"))) == DecodeError::bad_notify);
    CHECK(error_of(single(PayloadType::notify, hex("00 00 0011 0013"))) == DecodeError::none);  // INVALID_KE(19)
    CHECK(error_of(single(PayloadType::notify, hex("00 00 0011 13"))) == DecodeError::bad_notify);
    CHECK(error_of(single(PayloadType::notify, hex("03 00 4009"))) == DecodeError::bad_notify);  // REKEY_SA no SPI
    CHECK(error_of(single(PayloadType::notify, hex("03 03 4009 010203"))) == DecodeError::bad_notify);
    CHECK(error_of(single(PayloadType::notify, hex("03 08 4009 010203"))) == DecodeError::bad_notify);
    CHECK(decode(single(PayloadType::notify, hex("00 00 9999 0102"))).ok());  // unknown status type

    // Delete: IKE with SPIs; ESP with 8-byte SPIs.
    CHECK(error_of(single(PayloadType::del, hex("01 00 0001"))) == DecodeError::bad_delete);
    CHECK(error_of(single(PayloadType::del, hex("03 08 0001 0102030405060708"))) == DecodeError::bad_delete);
    CHECK(decode(single(PayloadType::del, hex("01 00 0000"))).ok());

    // Traffic selectors: unknown type, IPv6 length on an IPv4 selector, none.
    CHECK(error_of(single(PayloadType::tsi, hex("01 000000 09 00 0010 0000 ffff 00000000 ffffffff"))) ==
          DecodeError::bad_traffic_selector);
    CHECK(error_of(single(PayloadType::tsi, hex("01 000000 07 00 0028 0000 ffff 00000000 ffffffff"))) ==
          DecodeError::bad_traffic_selector);
    CHECK(error_of(single(PayloadType::tsi, hex("00 000000"))) == DecodeError::bad_traffic_selector);
    // Two declared, one present / one declared, two present.
    CHECK(error_of(single(PayloadType::tsi, hex("02 000000 07 00 0010 0000 ffff 00000000 ffffffff"))) ==
          DecodeError::bad_traffic_selector);
    CHECK(error_of(single(PayloadType::tsi, hex("01 000000 07 00 0010 0000 ffff 00000000 ffffffff"
                                                "07 00 0010 0000 ffff 00000000 ffffffff"))) ==
          DecodeError::bad_traffic_selector);

    // CP attribute past the end; KE and AUTH without data; nonce bounds.
    CHECK(error_of(single(PayloadType::cp, hex("01 000000 0001 0004 0000"))) == DecodeError::bad_config_attribute);
    CHECK(error_of(single(PayloadType::ke, hex("0013 0000"))) == DecodeError::bad_payload_length);
    CHECK(error_of(single(PayloadType::auth, hex("02 000000"))) == DecodeError::bad_payload_length);
    CHECK(error_of(single(PayloadType::nonce, filled(15, 0))) == DecodeError::bad_nonce);
    CHECK(decode(single(PayloadType::nonce, filled(256, 0))).ok());
    CHECK(error_of(single(PayloadType::nonce, filled(257, 0))) == DecodeError::bad_nonce);
    // EAP length must match the payload.
    CHECK(decode(single(PayloadType::eap, hex("01 01 0005 01"))).ok());
    CHECK(error_of(single(PayloadType::eap, hex("01 01 0006 01"))) == DecodeError::bad_payload_length);
}

TEST_CASE("ike codec: error texts come from one list", "[ike][codec]") {
    CHECK(describe(DecodeError::unsupported_critical_payload) == "unknown payload type with the critical bit set");
    CHECK(describe(DecodeError::bad_config_attribute) == "malformed configuration attribute");
    CHECK(name(PayloadType::skf) == "SKF");
    CHECK(notify_name(notify::ikev2_fragmentation_supported) == "IKEV2_FRAGMENTATION_SUPPORTED");
}
