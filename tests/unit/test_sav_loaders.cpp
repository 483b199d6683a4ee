// MRT (RFC 6396) and RPKI JSON loaders: known-answer bytes written by hand,
// round trips through the writers, every truncation of a valid file, and
// malformed inputs rejected with the record and the reason.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <unistd.h>

#include "sav/mrt.hpp"
#include "sav/rpki_json.hpp"
#include "tests/unit/sav_fixture.hpp"

using namespace rampart;
using namespace rampart::sav;
using namespace rampart::sav::test;

namespace {

MrtPeer peer(uint32_t id, const char* address, Asn asn) { return MrtPeer{id, addr(address), asn}; }

Route path_route(const char* prefix, std::vector<AsPathSegment> path, std::vector<uint32_t> communities = {}) {
    Route r;
    r.prefix = pfx(prefix);
    r.as_path = std::move(path);
    r.communities = std::move(communities);
    return r;
}

// A file with every record kind the reader uses.
MrtWriter sample_file() {
    MrtWriter w;
    w.peer_index_table(0x0a000001, "rampart", {peer(1, "192.0.2.1", 65001), peer(2, "2001:db8::2", 4200000002u),
                                                peer(3, "192.0.2.3", 65003)});
    w.rib(0, pfx("10.1.0.0/16"),
          {{0, 100, path_route("10.1.0.0/16", {{false, {65001}}}, {kCommunityNoExport})},
           {2, 101, path_route("10.1.0.0/16", {{false, {65003, 65001}}})}});
    w.rib(1, pfx("10.9.128.0/17"), {{0, 102, path_route("10.9.128.0/17", {{false, {65001, 65009}}, {true, {65010, 65011}}})}});
    w.rib(2, pfx("2001:db8:1::/48"), {{1, 103, path_route("2001:db8:1::/48", {{false, {4200000002u, 65001}}}, {0x00010002})}});
    w.rib(3, pfx("0.0.0.0/0"), {{2, 104, path_route("0.0.0.0/0", {{false, {65003}}})}});
    w.update(peer(0, "192.0.2.1", 65001), 65004, addr("192.0.2.4"), {pfx("10.1.0.0/16")},
             {pfx("10.5.0.0/16"), pfx("10.6.0.0/24")}, path_route("0.0.0.0/0", {{false, {65001, 65005}}}), 200);
    w.update(peer(0, "2001:db8::2", 4200000002u), 65004, addr("2001:db8::4"), {pfx("2001:db8:1::/48")},
             {pfx("2001:db8:7::/48")}, path_route("::/0", {{false, {4200000002u, 65007}}}, {kCommunityNoExport}), 201, true);
    return w;
}

std::vector<size_t> record_offsets(const std::vector<uint8_t>& b) {
    std::vector<size_t> out;
    for (size_t at = 0; at + 12 <= b.size();) {
        out.push_back(at);
        at += 12 + (size_t(b[at + 8]) << 24 | size_t(b[at + 9]) << 16 | size_t(b[at + 10]) << 8 | b[at + 11]);
    }
    return out;
}

}  // namespace

TEST_CASE("MRT known answer: a hand-encoded TABLE_DUMP_V2 and BGP4MP_MESSAGE (2-byte AS)", "[sav][mrt]") {
    // PEER_INDEX_TABLE: collector 10.0.0.1, no view name, one IPv4 peer
    // (BGP ID 192.0.2.1, 192.0.2.1) with a 2-byte AS 65001: 19 bytes of body.
    std::vector<uint8_t> f = {0x5f, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, 19,
                              0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
                              0x00, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x01, 0xfd, 0xe9};
    // RIB_IPV4_UNICAST seq 7, 198.51.100.0/24, one entry: peer 0, ORIGIN IGP,
    // AS_PATH SEQ(65001 64496) (4-byte), COMMUNITIES NO_EXPORT.
    const std::vector<uint8_t> attrs = {0x40, 0x01, 0x01, 0x00,                                      //
                                        0x40, 0x02, 0x0a, 0x02, 0x02, 0x00, 0x00, 0xfd, 0xe9, 0x00, 0x00, 0xfb, 0xf0,  //
                                        0xc0, 0x08, 0x04, 0xff, 0xff, 0xff, 0x01};
    std::vector<uint8_t> rib = {0x00, 0x00, 0x00, 0x07, 24, 198, 51, 100, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
                                0x00, uint8_t(attrs.size())};
    rib.insert(rib.end(), attrs.begin(), attrs.end());
    const std::vector<uint8_t> rib_header = {0x5f, 0, 0, 0, 0x00, 0x0d, 0x00, 0x02, 0, 0, 0, uint8_t(rib.size())};
    f.insert(f.end(), rib_header.begin(), rib_header.end());
    f.insert(f.end(), rib.begin(), rib.end());
    // BGP4MP_MESSAGE (2-byte ASes): peer 65001 192.0.2.1 -> local 65004
    // 192.0.2.4, UPDATE withdrawing 203.0.113.0/24 and announcing
    // 192.0.2.128/25 with AS_PATH SEQ(65001) in 2-byte form.
    const std::vector<uint8_t> upd_attrs = {0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x04, 0x02, 0x01, 0xfd, 0xe9,
                                            0x40, 0x03, 0x04, 192, 0, 2, 1};
    std::vector<uint8_t> msg(16, 0xff);
    const size_t msg_len = 19 + 2 + 4 + 2 + upd_attrs.size() + 5;
    msg.insert(msg.end(), {uint8_t(msg_len >> 8), uint8_t(msg_len), 0x02, 0x00, 0x04, 24, 203, 0, 113, 0x00,
                           uint8_t(upd_attrs.size())});
    msg.insert(msg.end(), upd_attrs.begin(), upd_attrs.end());
    msg.insert(msg.end(), {25, 192, 0, 2, 128});
    std::vector<uint8_t> body = {0xfd, 0xe9, 0xfd, 0xec, 0x00, 0x00, 0x00, 0x01, 192, 0, 2, 1, 192, 0, 2, 4};
    body.insert(body.end(), msg.begin(), msg.end());
    const std::vector<uint8_t> upd_header = {0x5f, 0, 0, 1, 0x00, 0x10, 0x00, 0x01, 0, 0, 0, uint8_t(body.size())};
    f.insert(f.end(), upd_header.begin(), upd_header.end());
    f.insert(f.end(), body.begin(), body.end());

    const MrtDump d = parse_mrt(f, "known.mrt");
    REQUIRE(d.records == 3);
    REQUIRE(d.peers.size() == 1);
    CHECK(d.peers[0] == peer(0xc0000201, "192.0.2.1", 65001));
    REQUIRE(d.rib.size() == 1);
    CHECK(d.rib[0].peer_index == 0);
    CHECK(d.rib[0].originated == 42);
    CHECK(d.rib[0].route.prefix == pfx("198.51.100.0/24"));
    CHECK(d.rib[0].route.path_str() == "65001 64496");
    CHECK(d.rib[0].route.origin() == Asn(64496));
    CHECK(d.rib[0].route.has_community(kCommunityNoExport));
    REQUIRE(d.updates.size() == 1);
    CHECK(d.updates[0].timestamp == 0x5f000001);
    CHECK(d.updates[0].peer.asn == 65001);
    CHECK(d.updates[0].peer.address == addr("192.0.2.1"));
    CHECK(d.updates[0].withdrawn == std::vector<Prefix>{pfx("203.0.113.0/24")});
    REQUIRE(d.updates[0].announced.size() == 1);
    CHECK(d.updates[0].announced[0].prefix == pfx("192.0.2.128/25"));
    CHECK(d.updates[0].announced[0].path_str() == "65001");
}

TEST_CASE("MRT round trip through the writer", "[sav][mrt]") {
    const MrtWriter w = sample_file();
    const MrtDump d = parse_mrt(w.bytes(), "sample.mrt");
    CHECK(d.records == 7);
    CHECK(d.skipped_records == 0);
    REQUIRE(d.peers.size() == 3);
    CHECK(d.peers[1] == peer(2, "2001:db8::2", 4200000002u));
    REQUIRE(d.rib.size() == 5);
    CHECK(d.rib[0].route == path_route("10.1.0.0/16", {{false, {65001}}}, {kCommunityNoExport}));
    CHECK(d.rib[1].peer_index == 2);
    CHECK(d.rib[2].route.path_str() == "65001 65009 {65010,65011}");
    CHECK(!d.rib[2].route.origin());  // path ends in an AS_SET
    CHECK(d.rib[3].route == path_route("2001:db8:1::/48", {{false, {4200000002u, 65001}}}, {0x00010002}));
    CHECK(d.rib[4].route.prefix == pfx("0.0.0.0/0"));
    REQUIRE(d.updates.size() == 2);
    CHECK(d.updates[0].withdrawn == std::vector<Prefix>{pfx("10.1.0.0/16")});
    REQUIRE(d.updates[0].announced.size() == 2);
    CHECK(d.updates[0].announced[1].prefix == pfx("10.6.0.0/24"));
    CHECK(d.updates[0].announced[1].path_str() == "65001 65005");
    CHECK(d.updates[1].peer.address == addr("2001:db8::2"));
    CHECK(d.updates[1].withdrawn == std::vector<Prefix>{pfx("2001:db8:1::/48")});
    REQUIRE(d.updates[1].announced.size() == 1);
    CHECK(d.updates[1].announced[0].prefix == pfx("2001:db8:7::/48"));
    CHECK(d.updates[1].announced[0].has_community(kCommunityNoExport));

    // A 300-AS path comes back as two AS_SEQUENCE segments (255 + 45).
    MrtWriter longw;
    longw.peer_index_table(1, "", {peer(1, "192.0.2.1", 65001)});
    std::vector<Asn> many;
    for (Asn a = 1; a <= 300; ++a) many.push_back(a);
    longw.rib(0, pfx("10.0.0.0/8"), {{0, 0, path_route("10.0.0.0/8", {{false, many}})}});
    const MrtDump ld = parse_mrt(longw.bytes(), "long.mrt");
    REQUIRE(ld.rib[0].route.as_path.size() == 2);
    CHECK(ld.rib[0].route.as_path[0].asns.size() == 255);
    CHECK(ld.rib[0].route.origin() == Asn(300));

    // Into the compiler: peers map to interfaces by AS.
    RuleCompiler c(65004);
    c.set_interface({1, "p1", Role::customer, Mechanism::feasible_path_urpf, 65001});
    c.set_interface({2, "p2", Role::provider, Mechanism::loose_urpf, 4200000002u});
    const size_t n = feed_mrt(c, d, [](const MrtPeer& p) -> std::optional<uint16_t> {
        if (p.asn == 65001) return 1;
        if (p.asn == 4200000002u) return 2;
        return std::nullopt;
    });
    CHECK(n == 2 + 1 + 2 + 1);  // RIB: 10.1/16, 10.9.128/17, 2001:db8:1::/48; updates: 2 + 1
    CHECK(c.route_count() == 4);  // 10.1/16 withdrawn, 2001:db8:1::/48 withdrawn
}

TEST_CASE("MRT: every truncation is rejected at the right record, or is a shorter valid file", "[sav][mrt]") {
    const std::vector<uint8_t> full = sample_file().bytes();
    const auto offsets = record_offsets(full);
    REQUIRE(offsets.size() == 7);
    for (size_t len = 0; len < full.size(); ++len) {
        const std::span<const uint8_t> cut(full.data(), len);
        const auto boundary = std::find(offsets.begin(), offsets.end(), len);
        if (boundary != offsets.end()) {
            const MrtDump d = parse_mrt(cut, "cut.mrt");
            CHECK(d.records == size_t(boundary - offsets.begin()));
            continue;
        }
        const size_t record = size_t(std::upper_bound(offsets.begin(), offsets.end(), len) - offsets.begin()) - 1;
        try {
            parse_mrt(cut, "cut.mrt");
            FAIL("truncation at " << len << " accepted");
        } catch (const MrtError& e) {
            INFO("cut at " << len << ": " << e.what());
            CHECK(e.file() == "cut.mrt");
            CHECK(e.record() == record);
            CHECK(e.offset() == offsets[record]);
            const bool precise = e.reason().find("truncated MRT header") != std::string::npos ||
                                 e.reason().find("exceeds the") != std::string::npos;
            CHECK(precise);
        }
    }
}

TEST_CASE("MRT: malformed records are rejected with the reason", "[sav][mrt]") {
    const std::vector<uint8_t> good = sample_file().bytes();
    const auto offsets = record_offsets(good);
    auto expect_error = [&](std::vector<uint8_t> bytes, size_t record, const std::string& reason) {
        try {
            parse_mrt(bytes, "bad.mrt");
            FAIL("accepted; expected: " << reason);
        } catch (const MrtError& e) {
            INFO(e.what());
            CHECK(e.record() == record);
            CHECK(e.reason().find(reason) != std::string::npos);
        }
    };
    // Record 1 is the first RIB record: seq(4) len(1) prefix(2) count(2), then
    // entry: peer index(2) time(4) attr len(2), ORIGIN(4), AS_PATH flags/type/len.
    const size_t rib1 = offsets[1] + 12;
    {
        auto b = good;
        b[rib1 + 4] = 33;  // prefix length
        expect_error(b, 1, "prefix length 33 exceeds 32");
    }
    {
        auto b = good;
        b[rib1 + 9 + 1] = 7;  // peer index of the first entry
        expect_error(b, 1, "peer index 7 not in the peer table");
    }
    {
        auto b = good;
        b[rib1 + 9 + 8 + 4 + 3] = 9;  // AS_PATH segment type
        expect_error(b, 1, "AS_PATH segment type 9 unknown");
    }
    {
        auto b = good;
        b[rib1 + 9 + 8 + 4 + 4] = 0;  // AS_PATH segment length
        expect_error(b, 1, "AS_PATH segment with no AS");
    }
    {
        std::vector<uint8_t> b(good.begin() + long(offsets[1]), good.end());  // no peer table first
        expect_error(b, 0, "RIB record before any PEER_INDEX_TABLE");
    }
    {
        auto b = good;
        b[offsets[5] + 12 + 4 + 4 + 2 + 2 + 4 + 4] = 0;  // BGP marker of the first update
        expect_error(b, 5, "BGP marker is not all ones");
    }
    {
        auto b = good;
        b[offsets[5] + 12 + 4 + 4 + 2 + 2 + 4 + 4 + 16 + 1] ^= 1;  // BGP length
        expect_error(b, 5, "does not match");
    }
    {
        auto b = good;
        b[offsets[0] + 12 + 4 + 2 + 7 + 2] |= 0x80;  // peer type of peer 0
        expect_error(b, 0, "peer type 0x82 has unknown bits");
    }
    {
        auto b = good;
        b[offsets[0] + 8] = 0x7f;  // record length far beyond the file
        expect_error(b, 0, "exceeds the 16777216 byte limit");
    }
}

TEST_CASE("MRT: load_mrt_file reads the file, errors name it", "[sav][mrt]") {
    const std::string path = fmt::format("/tmp/rp-sav-test-{}.mrt", getpid());
    sample_file().write_file(path);
    CHECK(load_mrt_file(path).rib.size() == 5);
    std::remove(path.c_str());
    try {
        load_mrt_file(path);
        FAIL("missing file accepted");
    } catch (const MrtError& e) {
        CHECK(e.file() == path);
        CHECK(e.reason() == "cannot open the file");
    }
}

// ---------------------------------------------------------------- RPKI JSON

TEST_CASE("RPKI JSON: rpki-client, Routinator and older rpki-client shapes", "[sav][rpki]") {
    const char* rpki_client = R"({
      "metadata": { "buildmachine": "rpki01", "roas": 2, "vrps": 2 },
      "roas": [
        { "asn": 65101, "prefix": "10.0.0.0/23", "maxLength": 24, "ta": "testbed", "expires": 1700000000 },
        { "asn": 65001, "prefix": "2001:db8::/32", "maxLength": 64, "ta": "testbed" }
      ],
      "bgpsec_keys": [ { "asn": 1, "ski": "00", "pubkey": "AA==" } ],
      "aspas": [ { "customer_asid": 65001, "expires": 1700000000, "providers": [ 65002, 65003 ] } ]
    })";
    const RpkiSet a = parse_rpki_json(rpki_client, "rpki-client.json");
    REQUIRE(a.roas.size() == 2);
    CHECK(a.roas[0] == Roa{pfx("10.0.0.0/23"), 24, 65101});
    CHECK(a.roas[1] == Roa{pfx("2001:db8::/32"), 64, 65001});
    REQUIRE(a.aspas.size() == 1);
    CHECK(a.aspas[0].customer == 65001);
    CHECK(a.aspas[0].providers == std::vector<Asn>{65002, 65003});

    const char* routinator = R"({
      "metadata": { "generated": 0, "generatedTime": "1970-01-01T00:00:00Z" },
      "roas": [ { "asn": "AS1234", "prefix": "12.34.56.0/24", "maxLength": 24,
                  "source": [ { "type": "exception", "path": null } ] } ],
      "routerKeys": [],
      "aspas": [ { "customer": "AS1234", "providers": ["AS1", "as2", "AS4294967295"], "ta": "N\/A \u00e9\ud83d\ude00" } ]
    })";
    const RpkiSet b = parse_rpki_json(routinator, "routinator.json");
    REQUIRE(b.roas.size() == 1);
    CHECK(b.roas[0] == Roa{pfx("12.34.56.0/24"), 24, 1234});
    REQUIRE(b.aspas.size() == 1);
    CHECK(b.aspas[0].providers == std::vector<Asn>{1, 2, 4294967295u});

    const char* older = R"({"roas": [], "provider_authorizations": {
        "ipv4": [ { "customer_asid": 10, "providers": [20] } ],
        "ipv6": [ { "customer_asid": 10, "providers": [30] } ] } })";
    const RpkiSet c = parse_rpki_json(older, "old.json");
    REQUIRE(c.aspas.size() == 2);
    CHECK(c.aspas[1].providers == std::vector<Asn>{30});

    // maxLength absent: the prefix length (RFC 6482).
    CHECK(parse_rpki_json(R"({"roas":[{"asn":1,"prefix":"192.0.2.0/24"}]})", "x").roas[0].max_length == 24);
}

TEST_CASE("RPKI JSON round trip through the writer", "[sav][rpki]") {
    RpkiSet s;
    for (unsigned i = 0; i < 50; ++i) s.roas.push_back({pfx(fmt::format("10.{}.0.0/16", i).c_str()), uint8_t(16 + i % 9), 64500 + i});
    s.roas.push_back({pfx("2001:db8::/32"), 48, 4200000000u});
    s.aspas.push_back({64500, {64501, 64502}});
    s.aspas.push_back({64503, {}});
    const RpkiSet back = parse_rpki_json(write_rpki_json(s), "rt.json");
    CHECK(back.roas == s.roas);
    REQUIRE(back.aspas.size() == 2);
    CHECK(back.aspas[0].providers == s.aspas[0].providers);
    CHECK(back.aspas[1].providers.empty());
}

TEST_CASE("RPKI JSON: every truncation is rejected", "[sav][rpki]") {
    RpkiSet s;
    s.roas.push_back({pfx("192.0.2.0/24"), 24, 64500});
    s.roas.push_back({pfx("2001:db8::/32"), 48, 64501});
    s.aspas.push_back({64500, {64501, 64502}});
    const std::string full = write_rpki_json(s);
    const size_t last_brace = full.rfind('}');
    for (size_t len = 0; len <= last_brace; ++len) {
        try {
            parse_rpki_json(std::string_view(full).substr(0, len), "cut.json");
            FAIL("truncation at " << len << " accepted");
        } catch (const RpkiJsonError& e) {
            INFO(e.what());
            CHECK(e.file() == "cut.json");
            CHECK(!e.reason().empty());
        }
    }
}

TEST_CASE("RPKI JSON: bad input is rejected with record, position and reason", "[sav][rpki]") {
    struct Case {
        std::string text, record, reason;
    };
    const std::string deep = std::string(40, '[') + std::string(40, ']');
    const std::vector<Case> cases = {
        {"", "", "unexpected end of input"},
        {"[]", "", "the top level must be an object"},
        {R"({"roas": {}})", "", "\"roas\" must be an array"},
        {R"({"roas": [1]})", "roas[0]", "expected an object"},
        {R"({"roas": [{"asn": 1, "prefix": "10.0.0.0/8", "maxLength": 8},]})", "roas[1]", "expected an object"},
        {R"({"roas": [{"asn": 1 "prefix": "10.0.0.0/8"}]})", "roas[0]", "expected ',' or '}' in an object, found '\"'"},
        {R"({"roas": [{"asn": 1, "prefix": "10.0.0.1/8"}]})", "roas[0]", "has host bits set"},
        {R"({"roas": [{"asn": 1, "prefix": "10.0.0.0/33"}]})", "roas[0]", "is not an IPv4 or IPv6 prefix"},
        {R"({"roas": [{"asn": 1, "prefix": "10.0.0.0/16", "maxLength": 8}]})", "roas[0]", "maxLength 8 outside 16..32"},
        {R"({"roas": [{"asn": 1, "prefix": "10.0.0.0/16", "maxLength": 24.5}]})", "roas[0]", "maxLength: 24.5 is not a prefix length"},
        {R"({"roas": [{"asn": -1, "prefix": "10.0.0.0/16"}]})", "roas[0]", "asn: -1 is not an AS number"},
        {R"({"roas": [{"asn": 4294967296, "prefix": "10.0.0.0/16"}]})", "roas[0]", "is not an AS number"},
        {R"({"roas": [{"asn": "ASX1", "prefix": "10.0.0.0/16"}]})", "roas[0]", "asn: \"ASX1\" is not an AS number"},
        {R"({"roas": [{"asn": 01, "prefix": "10.0.0.0/16"}]})", "roas[0]", "number with a leading zero"},
        {R"({"roas": [{"asn": 1, "asn": 2, "prefix": "10.0.0.0/16"}]})", "roas[0]", "\"asn\" given twice"},
        {R"({"roas": [{"prefix": "10.0.0.0/16"}]})", "roas[0]", "missing \"asn\""},
        {R"({"roas": [{"asn": 1}]})", "roas[0]", "missing \"prefix\""},
        {R"({"aspas": [{"customer_asid": 1}]})", "aspas[0]", "missing \"providers\""},
        {R"({"aspas": [{"providers": []}]})", "aspas[0]", "missing the customer AS"},
        {R"({"aspas": [{"customer_asid": 1, "providers": [2, "AS"]}]})", "aspas[0]", "providers[1]: \"AS\" is not an AS number"},
        {"{\"roas\": [{\"asn\": 1, \"prefix\": \"10.0.0.0/16\", \"ta\": \"a\x01\"}]}", "roas[0]", "control character 0x01"},
        {R"({"roas": [{"asn": 1, "prefix": "10.0.0.0/16", "ta": "\ud800x"}]})", "roas[0]", "high surrogate without its low surrogate"},
        {R"({"roas": [{"asn": 1, "prefix": "10.0.0.0/16", "ta": "\q"}]})", "roas[0]", "invalid escape '\\q'"},
        {R"({"metadata": tru})", "", "invalid literal (expected true)"},
        {R"({"roas": []} x)", "", "unexpected 'x' after the top-level value"},
        {"{\"x\": " + deep + "}", "", "nesting deeper than 32"},
        {R"({"roas": [], "roas": []})", "", "\"roas\" given twice"},
    };
    for (const Case& c : cases) {
        INFO("input: " << c.text);
        try {
            parse_rpki_json(c.text, "bad.json");
            FAIL("accepted");
        } catch (const RpkiJsonError& e) {
            INFO(e.what());
            CHECK(e.file() == "bad.json");
            CHECK(e.record() == c.record);
            CHECK(e.reason().find(c.reason) != std::string::npos);
            CHECK(e.line() >= 1);
        }
    }
    // Positions are 1-based line:column of where parsing stopped.
    try {
        parse_rpki_json("{\n  \"roas\": [\n    {\"asn\": 1, \"prefix\": \"nope\"}\n  ]\n}", "pos.json");
        FAIL("accepted");
    } catch (const RpkiJsonError& e) {
        CHECK(e.line() == 3);
        CHECK(std::string(e.what()).rfind("pos.json:3:", 0) == 0);
    }
    // Limits.
    RpkiJsonLimits small;
    small.max_string = 8;
    CHECK_THROWS_WITH(parse_rpki_json(R"({"roas": [{"asn": 1, "prefix": "192.168.100.0/24"}]})", "s.json", small),
                      Catch::Contains("string longer than 8 bytes"));
    small.max_bytes = 4;
    CHECK_THROWS_WITH(parse_rpki_json("{  }  ", "s.json", small), Catch::Contains("exceeds the 4 byte limit"));
}
