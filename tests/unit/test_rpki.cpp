// RPKI: the RTR codec (known answers from stayrtr 0.5, every bad length and
// version), the session state machine driven PDU by PDU as a cache would,
// the TCP transport against a loopback listener, and the RPKI table (origin validation against a brute-force scan, ASPA
// verification, the union of sources).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "slowpath/rpki/rtr_codec.hpp"
#include "slowpath/rpki/rtr_session.hpp"
#include "slowpath/rpki/rtr_transport.hpp"
#include "slowpath/rpki/table.hpp"

using namespace rampart;
using namespace rampart::rpki;
using namespace rampart::rpki::rtr;
using namespace std::chrono_literals;

namespace {

std::vector<uint8_t> hex(std::string_view h) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(uint8_t(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

Prefix pfx(const char* s) { return *Prefix::parse(s); }

std::vector<uint8_t> bytes(uint8_t version, PduBody body) { return encode(Pdu{version, std::move(body)}); }

// A cache's answer: Cache Response, the records, End of Data.
std::vector<uint8_t> response(uint8_t v, uint16_t session, uint32_t serial, std::vector<PduBody> records,
                              Intervals i = {}) {
    std::vector<uint8_t> out = bytes(v, CacheResponse{session});
    for (auto& r : records) {
        auto b = bytes(v, r);
        out.insert(out.end(), b.begin(), b.end());
    }
    auto eod = bytes(v, EndOfData{session, serial, i});
    out.insert(out.end(), eod.begin(), eod.end());
    return out;
}

PduBody announce(const char* p, uint8_t max, Asn asn) { return PrefixPdu{true, pfx(p), max, asn}; }
PduBody withdraw(const char* p, uint8_t max, Asn asn) { return PrefixPdu{false, pfx(p), max, asn}; }

ErrorReport sent_error(const Session::Output& out) {
    REQUIRE(!out.send.empty());
    Decoded d = decode(out.send.back());
    REQUIRE(d.status == Decoded::Status::pdu);
    REQUIRE(std::holds_alternative<ErrorReport>(d.pdu.body));
    return std::get<ErrorReport>(d.pdu.body);
}

}  // namespace

TEST_CASE("RTR codec: stayrtr's version 2 reset answer decodes", "[rpki][rtr]") {
    // Captured from stayrtr 0.5.1 (-protocol 2) for a Reset Query: two ROAs and
    // the IPv4 and IPv6 ASPAs of AS64500 (draft-ietf-sidrops-8210bis-10 layout).
    auto b = hex("02038a270000000802060000000000200120300020010db80000000000000000000000000000fbf5020400000000001401181800"
                 "c00002000000fbf4020b000000000018010000020000fbf40000fbfe0000fbff020b000000000014010100010000fbf40000fc"
                 "0002078a27000000180000000000000e100000025800001c20");
    std::vector<Pdu> pdus;
    std::span<const uint8_t> rest(b);
    while (!rest.empty()) {
        Decoded d = decode(rest);
        REQUIRE(d.status == Decoded::Status::pdu);
        pdus.push_back(d.pdu);
        CHECK(encode(d.pdu) == std::vector<uint8_t>(rest.begin(), rest.begin() + long(d.consumed)));  // round trip
        rest = rest.subspan(d.consumed);
    }
    REQUIRE(pdus.size() == 6);
    CHECK(pdus[0] == Pdu{2, CacheResponse{0x8a27}});
    CHECK(pdus[1] == Pdu{2, PrefixPdu{true, pfx("2001:db8::/32"), 48, 64501}});
    CHECK(pdus[2] == Pdu{2, PrefixPdu{true, pfx("192.0.2.0/24"), 24, 64500}});
    CHECK(pdus[3] == Pdu{2, AspaPdu{true, 0, 64500, {64510, 64511}}});
    CHECK(pdus[4] == Pdu{2, AspaPdu{true, 1, 64500, {64512}}});
    CHECK(pdus[5] == Pdu{2, EndOfData{0x8a27, 0, Intervals{3600, 600, 7200}}});
    // Version 0's End of Data has no intervals.
    Decoded v0 = decode(hex("00078a270000000c00000005"));
    REQUIRE(v0.status == Decoded::Status::pdu);
    CHECK(v0.pdu == Pdu{0, EndOfData{0x8a27, 5, std::nullopt}});
    // The later ASPA layout: flags where revision 10 has zero, no count.
    Decoded later = decode(hex("020b0100000000140000fbf40000fbfe0000fbff"));
    REQUIRE(later.status == Decoded::Status::pdu);
    CHECK(later.pdu == Pdu{2, AspaPdu{true, 0, 64500, {64510, 64511}}});
    Decoded later_withdraw = decode(hex("020b00000000000c0000fbf4"));
    REQUIRE(later_withdraw.status == Decoded::Status::pdu);
    CHECK(later_withdraw.pdu == Pdu{2, AspaPdu{false, 0, 64500, {}}});
}

TEST_CASE("RTR codec: every PDU round-trips and every truncation waits", "[rpki][rtr]") {
    RouterKey key;
    key.ski.fill(0xab);
    key.asn = 64500;
    key.spki = {1, 2, 3, 4, 5};
    const std::vector<Pdu> all = {
        {1, SerialNotify{7, 42}},
        {1, SerialQuery{7, 42}},
        {0, ResetQuery{}},
        {1, CacheResponse{7}},
        {1, PrefixPdu{false, pfx("198.51.100.0/24"), 32, 64496}},
        {1, PrefixPdu{true, pfx("2001:db8:100::/40"), 48, 64497}},
        {1, EndOfData{7, 43, Intervals{60, 30, 600}}},
        {0, EndOfData{7, 43, std::nullopt}},
        {1, CacheReset{}},
        {1, key},
        {1, ErrorReport{ErrorCode::duplicate_announcement, {1, 2, 3}, "twice"}},
        {2, AspaPdu{true, 1, 64500, {64501}}},
        {2, AspaPdu{false, 0, 64500, {}}},
    };
    for (const Pdu& p : all) {
        auto b = encode(p);
        INFO("type " << int(type_of(p.body)) << " version " << int(p.version));
        for (size_t n = 0; n < b.size(); ++n)
            CHECK(decode(std::span<const uint8_t>(b).first(n)).status == Decoded::Status::need_more);
        Decoded d = decode(b);
        REQUIRE(d.status == Decoded::Status::pdu);
        CHECK(d.consumed == b.size());
        CHECK(d.pdu == p);
    }
}

TEST_CASE("RTR codec: malformed PDUs get RFC 8210's error codes", "[rpki][rtr]") {
    auto check = [](std::vector<uint8_t> b, ErrorCode code) {
        Decoded d = decode(b);
        INFO(d.reason);
        REQUIRE(d.status == Decoded::Status::error);
        CHECK(d.error == code);
        CHECK(!d.erroneous.empty());
        CHECK(!d.reason.empty());
    };
    auto prefix4 = bytes(1, PrefixPdu{true, pfx("192.0.2.0/24"), 24, 1});
    // Lengths: below the header, above the bound, wrong for the type.
    check(hex("0103000000000004"), ErrorCode::corrupt_data);
    check(hex("0104000000ffffff"), ErrorCode::corrupt_data);
    {
        auto b = prefix4;
        b[7] = 24;  // 24 octets claimed
        b.resize(24);
        check(b, ErrorCode::corrupt_data);
    }
    check(hex("0007000000000018000000010000000100000001000000ff"), ErrorCode::corrupt_data);  // v0 EoD of 24
    check(hex("01070000000000100000000100000001"), ErrorCode::corrupt_data);                  // v1 EoD of 16
    // Versions and types.
    check(hex("0302000000000008"), ErrorCode::unsupported_protocol_version);
    check(hex("0105000000000008"), ErrorCode::unsupported_pdu_type);
    check(hex("01ff000000000008"), ErrorCode::unsupported_pdu_type);
    check(hex("010b00000000001401000001000000010000000200"), ErrorCode::unsupported_pdu_type);  // ASPA in v1
    check(hex("010a00000000000c00000000"), ErrorCode::corrupt_data);  // Error Report shorter than its fixed part
    // Prefix lengths.
    {
        auto b = prefix4;
        b[9] = 33;
        check(b, ErrorCode::corrupt_data);
        b = prefix4;
        b[10] = 23;  // max length below the length
        check(b, ErrorCode::corrupt_data);
        auto v6 = bytes(1, PrefixPdu{true, pfx("2001:db8::/32"), 48, 1});
        v6[10] = 129;
        check(v6, ErrorCode::corrupt_data);
    }
    // Router Key: not in version 0, never without a key.
    check(hex("0009000000000008"), ErrorCode::unsupported_pdu_type);
    {
        std::vector<uint8_t> no_key = hex("0109010000000020");
        no_key.resize(28, 0xab);  // the SKI
        for (uint8_t b : hex("0000fbf4")) no_key.push_back(b);
        check(no_key, ErrorCode::corrupt_data);
    }
    // Error Report: encapsulated length and text length must fit exactly.
    check(hex("010a000000000010000000ff00000000"), ErrorCode::corrupt_data);
    check(hex("010a00000000001100000000000000020a"), ErrorCode::corrupt_data);
    // ASPA: count against length; an announcement needs providers.
    check(hex("020b000000000018010000030000fbf40000fbfe0000fbff"), ErrorCode::corrupt_data);
    check(hex("020b000000000010010000000000fbf4"), ErrorCode::aspa_provider_list_error);
    check(hex("020b01000000000d0000fbf4ff"), ErrorCode::corrupt_data);
}

TEST_CASE("RTR session: reset, incremental updates applied at End of Data", "[rpki][rtr]") {
    Session s;
    auto out = s.connected(0ms);
    REQUIRE(out.send.size() == 1);
    CHECK(out.send[0] == hex("0202000000000008"));  // Reset Query, version 2
    CHECK(s.state() == Session::State::awaiting_response);

    // PDU by PDU: nothing is visible before End of Data.
    auto full = response(2, 9, 100,
                         {announce("192.0.2.0/24", 24, 64500), announce("198.51.100.0/22", 24, 64501),
                          AspaPdu{true, 0, 64500, {64511, 64510}}});
    for (size_t i = 0; i + 1 < full.size(); ++i) {
        auto o = s.received(std::span<const uint8_t>(full).subspan(i, 1), 1ms);
        CHECK(!o.data_changed);
        CHECK(o.send.empty());
        CHECK(s.data().vrps.empty());
    }
    out = s.received(std::span<const uint8_t>(full).last(1), 1ms);
    CHECK(out.data_changed);
    CHECK(s.has_data());
    CHECK(s.state() == Session::State::synchronized);
    CHECK(s.data().vrps.size() == 2);
    REQUIRE(s.data().aspas.size() == 1);
    CHECK(s.data().aspas.begin()->second == std::vector<Asn>{64510, 64511});
    CHECK(s.session_id() == 9);
    CHECK(s.serial() == 100);

    // Serial Notify -> Serial Query with our session and serial.
    out = s.received(bytes(2, SerialNotify{9, 101}), 2ms);
    REQUIRE(out.send.size() == 1);
    CHECK(decode(out.send[0]).pdu == Pdu{2, SerialQuery{9, 100}});
    out = s.received(response(2, 9, 101,
                              {withdraw("192.0.2.0/24", 24, 64500), announce("203.0.113.0/24", 24, 64502),
                               // withdrawn and announced again in one update: no change
                               withdraw("198.51.100.0/22", 24, 64501), announce("198.51.100.0/22", 24, 64501),
                               AspaPdu{true, 0, 64500, {64512}}}),
                     3ms);
    CHECK(out.data_changed);
    CHECK(s.serial() == 101);
    CHECK(s.data().vrps == std::set<Vrp>{{pfx("198.51.100.0/22"), 24, 64501}, {pfx("203.0.113.0/24"), 24, 64502}});
    CHECK(s.data().aspas.begin()->second == std::vector<Asn>{64512});  // replaced

    // A notify for the serial we have asks nothing.
    CHECK(s.received(bytes(2, SerialNotify{9, 101}), 4ms).send.empty());
}

TEST_CASE("RTR session: timers: refresh queries, expiry drops the data", "[rpki][rtr]") {
    Session s;
    s.connected(0ms);
    s.received(response(1, 3, 1, {announce("192.0.2.0/24", 24, 1)}, Intervals{60, 30, 600}), 0ms);
    CHECK(s.version() == 1);  // the cache answered in version 1: followed
    CHECK(s.tick(59s).send.empty());
    auto out = s.tick(60s);
    REQUIRE(out.send.size() == 1);
    CHECK(decode(out.send[0]).pdu == Pdu{1, SerialQuery{3, 1}});
    // The cache went away: the data stays until the expire interval.
    s.disconnected();
    CHECK(!s.tick(599s).data_changed);
    CHECK(s.has_data());
    out = s.tick(600s);
    CHECK(out.data_changed);
    CHECK(!s.has_data());
    CHECK(s.data().vrps.empty());
    // Next connection starts over with a Reset Query.
    CHECK(decode(s.connected(601s).send[0]).pdu == Pdu{1, ResetQuery{}});
}

TEST_CASE("RTR session: operator intervals override the cache's", "[rpki][rtr]") {
    SessionSettings settings;
    settings.refresh = 10;
    settings.expire = 900;
    Session s(settings);
    s.connected(0ms);
    s.received(response(2, 3, 1, {announce("192.0.2.0/24", 24, 1)}, Intervals{3600, 600, 7200}), 0ms);
    CHECK(s.intervals() == Intervals{10, 600, 900});
    CHECK(s.tick(10s).send.size() == 1);
}

TEST_CASE("RTR session: cache reset keeps the data until the new set is whole", "[rpki][rtr]") {
    Session s;
    s.connected(0ms);
    s.received(response(2, 5, 1, {announce("192.0.2.0/24", 24, 1)}), 0ms);
    auto out = s.received(bytes(2, SerialNotify{5, 2}), 1ms);
    REQUIRE(out.send.size() == 1);
    out = s.received(bytes(2, CacheReset{}), 1ms);
    REQUIRE(out.send.size() == 1);
    CHECK(decode(out.send[0]).pdu == Pdu{2, ResetQuery{}});
    CHECK(s.data().vrps.size() == 1);
    // The new session may have another ID: a Reset Query accepts it.
    out = s.received(response(2, 6, 1, {announce("198.51.100.0/24", 24, 2)}), 2ms);
    CHECK(out.data_changed);
    CHECK(s.session_id() == 6);
    CHECK(s.data().vrps == std::set<Vrp>{{pfx("198.51.100.0/24"), 24, 2}});
}

TEST_CASE("RTR session: protocol errors are reported with their codes", "[rpki][rtr]") {
    auto synced = [] {
        Session s;
        s.connected(0ms);
        s.received(response(2, 5, 1, {announce("192.0.2.0/24", 24, 1), AspaPdu{true, 0, 64500, {1}}}), 0ms);
        s.received(bytes(2, SerialNotify{5, 2}), 1ms);
        return s;
    };
    SECTION("duplicate announcement") {
        Session s = synced();
        std::vector<uint8_t> in = bytes(2, CacheResponse{5});
        auto dup = bytes(2, announce("192.0.2.0/24", 24, 1));
        in.insert(in.end(), dup.begin(), dup.end());
        auto out = s.received(in, 2ms);
        CHECK(out.close);
        ErrorReport e = sent_error(out);
        CHECK(e.code == ErrorCode::duplicate_announcement);
        CHECK(e.erroneous_pdu == dup);
        CHECK(s.data().vrps.size() == 1);  // kept ...
        CHECK(decode(s.connected(3ms).send[0]).pdu == Pdu{2, ResetQuery{}});  // ... until a reset replaces it
    }
    SECTION("withdrawal of an unknown record") {
        Session s = synced();
        std::vector<uint8_t> in = bytes(2, CacheResponse{5});
        for (auto& b : {bytes(2, withdraw("192.0.2.0/25", 25, 1))}) in.insert(in.end(), b.begin(), b.end());
        CHECK(sent_error(s.received(in, 2ms)).code == ErrorCode::withdrawal_of_unknown_record);
    }
    SECTION("ASPA withdrawal of an unknown customer") {
        Session s = synced();
        std::vector<uint8_t> in = bytes(2, CacheResponse{5});
        auto w = bytes(2, AspaPdu{false, 1, 64500, {}});  // the IPv6 one was never announced
        in.insert(in.end(), w.begin(), w.end());
        CHECK(sent_error(s.received(in, 2ms)).code == ErrorCode::withdrawal_of_unknown_record);
    }
    SECTION("another session ID flushes the data") {
        Session s = synced();
        auto out = s.received(bytes(2, CacheResponse{6}), 2ms);
        CHECK(sent_error(out).code == ErrorCode::corrupt_data);
        CHECK(out.data_changed);
        CHECK(!s.has_data());
    }
    SECTION("a PDU in another version once the version is set") {
        Session s = synced();
        std::vector<uint8_t> in = bytes(2, CacheResponse{5});
        auto v1 = bytes(1, announce("203.0.113.0/24", 24, 1));
        in.insert(in.end(), v1.begin(), v1.end());
        CHECK(sent_error(s.received(in, 2ms)).code == ErrorCode::unexpected_protocol_version);
    }
    SECTION("records outside a response, queries from the cache") {
        Session s = synced();
        CHECK(sent_error(s.received(bytes(2, announce("203.0.113.0/24", 24, 1)), 2ms)).code == ErrorCode::corrupt_data);
        Session t = synced();
        CHECK(sent_error(t.received(bytes(2, ResetQuery{}), 2ms)).code == ErrorCode::invalid_request);
    }
    SECTION("a malformed PDU is copied into the report") {
        Session s = synced();
        auto bad = hex("0205000000000008");
        auto out = s.received(bad, 2ms);
        ErrorReport e = sent_error(out);
        CHECK(e.code == ErrorCode::unsupported_pdu_type);
        CHECK(e.erroneous_pdu == bad);
    }
    SECTION("a refused Serial Query makes the next connection reset") {
        Session s = synced();  // a Serial Query is out
        auto out = s.received(bytes(2, ErrorReport{ErrorCode::corrupt_data, {}, "Session ID mismatch"}), 2ms);
        CHECK(out.close);
        CHECK(!out.reconnect_now);
        CHECK(out.send.empty());
        CHECK(s.data().vrps.size() == 1);  // kept until the reset completes
        CHECK(decode(s.connected(3ms).send[0]).pdu == Pdu{2, ResetQuery{}});
    }
    SECTION("an Error Report is never answered with one") {
        Session s = synced();
        auto out = s.received(hex("020a000000000010000000ff00000000"), 2ms);
        CHECK(out.close);
        CHECK(out.send.empty());
    }
}

TEST_CASE("RTR session: version negotiation down to 0", "[rpki][rtr]") {
    Session s;
    CHECK(decode(s.connected(0ms).send[0]).pdu.version == 2);
    // An RFC 8210 cache refuses version 2.
    auto out = s.received(bytes(1, ErrorReport{ErrorCode::unsupported_protocol_version, hex("0202000000000008"), ""}), 1ms);
    CHECK(out.close);
    CHECK(out.reconnect_now);
    CHECK(s.version() == 1);
    CHECK(decode(s.connected(2ms).send[0]).pdu == Pdu{1, ResetQuery{}});
    // An RFC 6810 cache refuses version 1 (its report in version 0).
    out = s.received(bytes(0, ErrorReport{ErrorCode::unsupported_protocol_version, {}, "v0 only"}), 3ms);
    CHECK(out.reconnect_now);
    CHECK(s.version() == 0);
    CHECK(decode(s.connected(4ms).send[0]).pdu == Pdu{0, ResetQuery{}});
    out = s.received(response(0, 1, 1, {announce("192.0.2.0/24", 24, 1)}), 5ms);
    CHECK(out.data_changed);
    CHECK(s.intervals() == Intervals{});  // version 0: the defaults
    // No further down.
    s.received(bytes(0, SerialNotify{1, 2}), 6ms);
    out = s.received(bytes(0, ErrorReport{ErrorCode::unsupported_protocol_version, {}, ""}), 7ms);
    CHECK(!out.reconnect_now);
    CHECK(s.version() == 0);
}

TEST_CASE("RPKI table: origin validation (RFC 6811)", "[rpki]") {
    RpkiTable t;
    CHECK(t.replace(Source::rtr,
                    {{pfx("192.0.2.0/24"), 24, 64500},
                     {pfx("198.51.100.0/22"), 24, 64501},
                     {pfx("203.0.113.0/24"), 24, 0},  // AS0: nobody
                     {pfx("2001:db8::/32"), 48, 64502}},
                    {}));
    CHECK(t.origin_validity(pfx("192.0.2.0/24"), 64500) == OriginValidity::valid);
    CHECK(t.origin_validity(pfx("192.0.2.0/24"), 64501) == OriginValidity::invalid);
    CHECK(t.origin_validity(pfx("192.0.2.0/25"), 64500) == OriginValidity::invalid);  // longer than max length
    CHECK(t.origin_validity(pfx("192.0.2.0/24"), std::nullopt) == OriginValidity::invalid);  // AS_SET origin
    CHECK(t.origin_validity(pfx("192.0.0.0/16"), 64500) == OriginValidity::not_found);     // less specific
    CHECK(t.origin_validity(pfx("198.51.101.0/24"), 64501) == OriginValidity::valid);
    CHECK(t.origin_validity(pfx("203.0.113.0/24"), 0) == OriginValidity::invalid);
    CHECK(t.origin_validity(pfx("2001:db8:1::/48"), 64502) == OriginValidity::valid);
    CHECK(t.origin_validity(pfx("2001:db8:1::/49"), 64502) == OriginValidity::invalid);
    CHECK(t.origin_validity(pfx("2001:db9::/32"), 64502) == OriginValidity::not_found);
    CHECK(t.covering(pfx("198.51.100.128/25")).size() == 1);
}

TEST_CASE("RPKI table: sources are united, generation moves only with the union", "[rpki]") {
    RpkiTable t;
    const Vrp a{pfx("192.0.2.0/24"), 24, 1}, b{pfx("198.51.100.0/24"), 24, 2};
    CHECK(t.replace(Source::json, {a}, {{64500, {1, 2}}}));
    const uint64_t g = t.generation();
    CHECK(t.replace(Source::rtr, {a}, {}) == false);  // a was there already
    CHECK(t.generation() == g);
    CHECK(t.vrp_count() == 1);
    CHECK(t.replace(Source::json, {b}, {{64500, {1, 2}}}));  // a stays through RTR, b joins
    CHECK(t.vrps() == std::vector<Vrp>{a, b});
    CHECK(t.replace(Source::rtr, {}, {{64500, {3}}}));
    CHECK(t.vrps() == std::vector<Vrp>{b});
    CHECK(t.aspas().at(64500) == std::vector<Asn>{1, 2, 3});
    CHECK(t.replace(Source::json, {}, {}));
    CHECK(t.replace(Source::rtr, {}, {}));
    CHECK(t.vrp_count() == 0);
    CHECK(t.trie_nodes() == 0);  // pruned
}

TEST_CASE("RPKI table: the trie agrees with a scan under churn", "[rpki]") {
    std::mt19937 rng(14);
    auto random_vrp = [&](bool v4) {
        Prefix p;
        if (v4) {
            p.addr = IpAddr::v4(uint32_t(0xc0000000u | (rng() & 0x00ffffffu)) & 0xc0ff0fffu);  // clustered
            p.len = uint8_t(8 + rng() % 25);
        } else {
            uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, uint8_t(rng() & 3), uint8_t(rng())};
            p.addr = IpAddr::v6(b);
            p.len = uint8_t(28 + rng() % 30);
        }
        p = p.network();
        const uint8_t bits = v4 ? 32 : 128;
        return Vrp{p, uint8_t(p.len + rng() % (std::min<unsigned>(bits, p.len + 4) - p.len + 1)), Asn(rng() % 5)};
    };
    RpkiTable t;
    std::vector<Vrp> held;
    for (int round = 0; round < 6; ++round) {
        // Keep about half, add more.
        std::vector<Vrp> next;
        for (const Vrp& v : held)
            if (rng() & 1) next.push_back(v);
        for (int i = 0; i < 800; ++i) next.push_back(random_vrp(i % 3 != 0));
        t.replace(Source::rtr, next, {});
        std::sort(next.begin(), next.end());
        next.erase(std::unique(next.begin(), next.end()), next.end());
        held = next;
        CHECK(t.vrps() == held);
        for (int q = 0; q < 400; ++q) {
            Vrp probe = random_vrp(q % 2 == 0);
            probe.prefix.len = uint8_t(std::min<unsigned>(probe.prefix.addr.bits(), probe.prefix.len + rng() % 6));
            probe.prefix = probe.prefix.network();
            bool covered = false, valid = false;
            for (const Vrp& v : held)
                if (v.prefix.addr.family == probe.prefix.addr.family && v.prefix.len <= probe.prefix.len &&
                    v.prefix.contains(probe.prefix.addr)) {
                    covered = true;
                    if (v.asn != 0 && v.asn == probe.asn && probe.prefix.len <= v.max_length) valid = true;
                }
            const OriginValidity want = valid ? OriginValidity::valid : covered ? OriginValidity::invalid
                                                                                : OriginValidity::not_found;
            INFO(probe.prefix.str() << " AS" << probe.asn);
            CHECK(t.origin_validity(probe.prefix, probe.asn) == want);
        }
    }
    t.replace(Source::rtr, {}, {});
    CHECK(t.trie_nodes() == 0);
}

TEST_CASE("RPKI table: ASPA verification, upstream and downstream", "[rpki][aspa]") {
    using Seg = bgp::AsPathSegment;
    auto path = [](std::vector<Asn> asns) { return std::vector<Seg>{Seg{Seg::Kind::sequence, std::move(asns)}}; };
    RpkiTable t;
    // 64501's providers: 64510; 64510's: 64520; 64520 has none (AS0: a tier 1);
    // 64530's provider 64520. 64502 has no ASPA.
    t.replace(Source::rtr, {}, {{64501, {64510}}, {64510, {64520}}, {64520, {0}}, {64530, {64520}}});

    // Upstream (from a customer): every hop customer -> provider.
    CHECK(t.aspa_validity(path({64510, 64501}), 64510, true) == AspaValidity::valid);
    CHECK(t.aspa_validity(path({64510, 64501, 64501, 64501}), 64510, true) == AspaValidity::valid);  // prepends
    CHECK(t.aspa_validity(path({64520, 64510, 64501}), 64520, true) == AspaValidity::valid);
    CHECK(t.aspa_validity(path({64530, 64501}), 64530, true) == AspaValidity::invalid);  // 64530 not 64501's provider
    CHECK(t.aspa_validity(path({64510, 64502}), 64510, true) == AspaValidity::unknown);  // 64502 attests nothing
    CHECK(t.aspa_validity(path({64501}), 64501, true) == AspaValidity::valid);
    CHECK(t.aspa_validity(path({64510, 64501}), 64999, true) == AspaValidity::invalid);  // neighbour not first
    CHECK(t.aspa_validity({Seg{Seg::Kind::sequence, {64510}}, Seg{Seg::Kind::set, {64501, 64502}}}, 64510, true) ==
          AspaValidity::invalid);

    // Downstream (from a provider): up to the top, then down.
    // 64501 -> 64510 -> 64520 (up), 64520 -> 64530 (down: 64530's provider is 64520).
    CHECK(t.aspa_validity(path({64530, 64520, 64510, 64501}), 64530, false) == AspaValidity::valid);
    // A valley: up 64501 -> 64510, down to 64530? 64530's provider is 64520, not 64510: leak.
    CHECK(t.aspa_validity(path({64520, 64530, 64510, 64501}), 64520, false) == AspaValidity::invalid);
    // An unattested AS in the middle makes it unknown, not invalid.
    CHECK(t.aspa_validity(path({64530, 64520, 64510, 64502}), 64530, false) == AspaValidity::unknown);
    CHECK(t.aspa_validity(path({64530, 64501}), 64530, false) == AspaValidity::valid);  // two ASes: always
}

TEST_CASE("RTR transport: a session over loopback TCP, the connection refused, the cache closing", "[rpki][rtr]") {
    // A listening socket on 127.0.0.1 as the cache.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    const uint16_t port = ntohs(sin.sin_port);

    Poller poller;
    TcpConnection conn;
    Session session;
    REQUIRE(!conn.connect(IpAddr::v4(0x7f000001), port));
    poller.watch(conn.fd(), conn.wants_write());
    // Wait (bounded) for the poller to report the connect's completion.
    auto wait_ready = [&] {
        for (int i = 0; i < 200; ++i) {
            auto r = poller.ready();
            if (!r.empty()) return r;
            ::usleep(5000);
        }
        return std::vector<Poller::Ready>{};
    };
    auto r = wait_ready();
    REQUIRE(r.size() == 1);
    CHECK(r[0].writable);
    REQUIRE(!conn.finish_connect());
    CHECK(conn.status() == TcpConnection::Status::connected);
    std::string err;
    for (auto& b : session.connected(0ms).send) REQUIRE(conn.send(b, err));
    poller.watch(conn.fd(), conn.wants_write());

    const int cache = ::accept(listener, nullptr, nullptr);
    REQUIRE(cache >= 0);
    uint8_t query[8];
    REQUIRE(::recv(cache, query, sizeof query, MSG_WAITALL) == 8);
    CHECK(std::vector<uint8_t>(query, query + 8) == hex("0202000000000008"));
    const auto answer = response(2, 1, 1, {announce("192.0.2.0/24", 24, 64500)});
    REQUIRE(::send(cache, answer.data(), answer.size(), 0) == ssize_t(answer.size()));
    r = wait_ready();
    REQUIRE(!r.empty());
    CHECK(r[0].readable);
    std::vector<uint8_t> in;
    CHECK(conn.read(in, err));
    auto out = session.received(in, 1ms);
    CHECK(out.data_changed);
    CHECK(session.data().vrps.size() == 1);

    // The cache closes: read() says so.
    ::close(cache);
    r = wait_ready();
    REQUIRE(!r.empty());
    in.clear();
    CHECK_FALSE(conn.read(in, err));
    CHECK(err == "closed by the cache");
    conn.close();

    // Nobody listens any more: the connect fails, at once or when it completes.
    ::close(listener);
    auto refused = conn.connect(IpAddr::v4(0x7f000001), port);
    if (!refused) {
        poller.watch(conn.fd(), true);
        REQUIRE(!wait_ready().empty());
        refused = conn.finish_connect();
    }
    REQUIRE(refused);
    CHECK(refused->find("refused") != std::string::npos);

    Backoff backoff;
    CHECK(backoff.next(30s) == 1s);
    CHECK(backoff.next(30s) == 2s);
    CHECK(backoff.next(3s) == 3s);  // capped
    backoff.reset();
    CHECK(backoff.next(30s) == 1s);
}
