// The ESP wire format helpers: sizes and padding for every transform layout,
// the trailer round trip, and every malformed-trailer/header case.
#include <catch2/catch.hpp>

#include <vector>

#include "crypto/esp_packet.hpp"

using namespace rampart;

namespace {
constexpr EspLayout kGcm{8, 16, 4}, kCbcSha256{16, 16, 16}, kCbcSha512{16, 32, 16}, kNullSha256{0, 16, 4};
}

TEST_CASE("ESP encapsulation sizes: alignment, padding and totals", "[crypto][esp]") {
    for (const EspLayout& l : {kGcm, kCbcSha256, kCbcSha512, kNullSha256}) {
        const uint32_t align = l.align > 4 ? l.align : 4;
        for (uint32_t payload = 0; payload < 600; ++payload) {
            EspEncapSizes s = esp_encap_sizes(payload, l);
            REQUIRE(s.encrypted_len % align == 0);
            REQUIRE(s.pad_len < align);  // the least padding that aligns
            REQUIRE(s.encrypted_len == payload + s.pad_len + 2);
            REQUIRE(s.total_len == 8 + l.iv_len + s.encrypted_len + l.icv_len);
        }
    }
    // RFC 4303 §2.4 with a 16-byte block: 100 bytes of payload + 2 = 102 → 10 bytes of padding.
    CHECK(esp_encap_sizes(100, kCbcSha256).pad_len == 10);
    CHECK(esp_encap_sizes(100, kGcm).pad_len == 2);
    CHECK(esp_encap_sizes(102, kGcm).pad_len == 0);
}

TEST_CASE("ESP trailer: written padding is 1, 2, 3, ... and checks back", "[crypto][esp]") {
    for (const EspLayout& l : {kGcm, kCbcSha256, kNullSha256})
        for (uint32_t payload = 0; payload < 100; ++payload) {
            EspEncapSizes s = esp_encap_sizes(payload, l);
            std::vector<uint8_t> plain(s.encrypted_len, 0xee);
            CHECK(write_esp_trailer(plain.data() + payload, uint8_t(s.pad_len), kNextHeaderIpv6) == s.pad_len + 2);
            for (uint32_t i = 0; i < s.pad_len; ++i) REQUIRE(plain[payload + i] == i + 1);
            uint32_t got = 0;
            uint8_t next = 0;
            REQUIRE(check_esp_trailer(plain.data(), plain.size(), l, got, next) == EspError::none);
            REQUIRE(got == payload);
            REQUIRE(next == kNextHeaderIpv6);
        }
}

TEST_CASE("ESP trailer: malformed trailers are refused with the reason", "[crypto][esp]") {
    uint32_t len = 0;
    uint8_t next = 0;
    std::vector<uint8_t> p(16, 0);
    // pad length 14 over 16 bytes: padding would start at 0, fine only if it reads 1..14.
    for (unsigned i = 0; i < 14; ++i) p[i] = uint8_t(i + 1);
    p[14] = 14;
    p[15] = 4;
    CHECK(check_esp_trailer(p.data(), p.size(), kCbcSha256, len, next) == EspError::none);
    CHECK(len == 0);
    p[3] = 9;
    CHECK(check_esp_trailer(p.data(), p.size(), kCbcSha256, len, next) == EspError::esp_bad_padding);
    p[14] = 15;  // 15 + 2 > 16
    CHECK(check_esp_trailer(p.data(), p.size(), kCbcSha256, len, next) == EspError::esp_bad_pad_length);
    CHECK(check_esp_trailer(p.data(), 15, kCbcSha256, len, next) == EspError::esp_bad_alignment);
    CHECK(check_esp_trailer(p.data(), 1, kGcm, len, next) == EspError::esp_truncated);
    CHECK(check_esp_trailer(p.data(), 0, kGcm, len, next) == EspError::esp_truncated);
    CHECK(esp_error_name(EspError::esp_bad_padding) == "esp_bad_padding");
}

TEST_CASE("ESP header: SPI and sequence, minimum lengths per layout", "[crypto][esp]") {
    std::vector<uint8_t> pkt = {0x00, 0x00, 0x10, 0x01, 0xde, 0xad, 0xbe, 0xef};
    pkt.resize(8 + 8 + 4 + 16, 0);  // IV + 4 bytes of encrypted part + ICV
    EspHeader h{};
    REQUIRE(parse_esp_header(pkt.data(), pkt.size(), kGcm, h) == EspError::none);
    CHECK(h.spi == 0x1001);
    CHECK(h.seq == 0xdeadbeef);
    CHECK(parse_esp_header(pkt.data(), 8 + 8 + 1 + 16, kGcm, h) == EspError::esp_truncated);
    CHECK(parse_esp_header(pkt.data(), 8 + 8 + 5 + 16, kGcm, h) == EspError::esp_bad_alignment);
    // CBC: the encrypted part must be whole 16-byte blocks.
    std::vector<uint8_t> cbc(8 + 16 + 16 + 16, 0);
    CHECK(parse_esp_header(cbc.data(), cbc.size(), kCbcSha256, h) == EspError::none);
    CHECK(parse_esp_header(cbc.data(), cbc.size() - 4, kCbcSha256, h) == EspError::esp_bad_alignment);
    CHECK(parse_esp_header(cbc.data(), 8 + 16 + 1 + 16, kCbcSha256, h) == EspError::esp_truncated);
}
