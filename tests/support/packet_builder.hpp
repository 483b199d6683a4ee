// Builds packets byte by byte for tests, with checksums computed here from the
// RFC definitions and not by the code under test, so the two check each other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace rampart::test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}
inline void put32(Bytes& b, uint32_t v) {
    put16(b, uint16_t(v >> 16));
    put16(b, uint16_t(v));
}
inline void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

// RFC 1071 one's-complement sum, folded, not inverted.
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i]) << 8 | p[i + 1];
    if (n & 1) sum += uint32_t(p[n - 1]) << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}
inline uint16_t checksum(const uint8_t* p, size_t n, uint32_t seed = 0) {
    return uint16_t(~sum16(p, n, seed));
}

inline MacAddr mac(const char* text) { return *MacAddr::parse(text); }
inline IpAddr addr(const char* text) { return *IpAddr::parse(text); }

inline Bytes ether(const MacAddr& dst, const MacAddr& src, uint16_t type, const Bytes& payload,
                   std::optional<uint16_t> vlan = std::nullopt) {
    Bytes b(dst.bytes.begin(), dst.bytes.end());
    b.insert(b.end(), src.bytes.begin(), src.bytes.end());
    if (vlan) {
        put16(b, 0x8100);
        put16(b, *vlan);
    }
    put16(b, type);
    append(b, payload);
    return b;
}

struct Ip4Opts {
    uint8_t tos = 0;
    uint16_t id = 0x1234;
    bool df = false;
    uint16_t frag_offset = 0;  // in 8-byte units
    bool more_fragments = false;
    Bytes options;             // multiple of 4
};

inline Bytes ipv4(const IpAddr& src, const IpAddr& dst, uint8_t proto, uint8_t ttl, const Bytes& payload,
                  const Ip4Opts& o = {}) {
    Bytes b;
    size_t ihl = 20 + o.options.size();
    b.push_back(uint8_t(0x40 | (ihl / 4)));
    b.push_back(o.tos);
    put16(b, uint16_t(ihl + payload.size()));
    put16(b, o.id);
    put16(b, uint16_t((o.df ? 0x4000 : 0) | (o.more_fragments ? 0x2000 : 0) | o.frag_offset));
    b.push_back(ttl);
    b.push_back(proto);
    put16(b, 0);
    b.insert(b.end(), src.bytes.begin(), src.bytes.begin() + 4);
    b.insert(b.end(), dst.bytes.begin(), dst.bytes.begin() + 4);
    append(b, o.options);
    uint16_t c = checksum(b.data(), ihl);
    b[10] = uint8_t(c >> 8);
    b[11] = uint8_t(c);
    append(b, payload);
    return b;
}

inline uint32_t pseudo_sum(const IpAddr& src, const IpAddr& dst, uint8_t proto, size_t len) {
    size_t n = src.is_v4() ? 4 : 16;
    uint32_t s = sum16(src.bytes.data(), n);
    s = sum16(dst.bytes.data(), n, s);
    s += proto;
    s += uint32_t(len >> 16) + uint32_t(len & 0xffff);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return s;
}

inline Bytes udp(const IpAddr& src, const IpAddr& dst, uint16_t sport, uint16_t dport, const Bytes& data) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, uint16_t(8 + data.size()));
    put16(b, 0);
    append(b, data);
    uint16_t c = checksum(b.data(), b.size(), pseudo_sum(src, dst, 17, b.size()));
    if (c == 0) c = 0xffff;
    b[6] = uint8_t(c >> 8);
    b[7] = uint8_t(c);
    return b;
}

inline Bytes icmp4(uint8_t type, uint8_t code, uint32_t rest, const Bytes& data) {
    Bytes b{type, code, 0, 0};
    put32(b, rest);
    append(b, data);
    uint16_t c = checksum(b.data(), b.size());
    b[2] = uint8_t(c >> 8);
    b[3] = uint8_t(c);
    return b;
}

inline Bytes ipv6(const IpAddr& src, const IpAddr& dst, uint8_t next_header, uint8_t hop_limit, const Bytes& payload) {
    Bytes b;
    put32(b, 0x60000000);
    put16(b, uint16_t(payload.size()));
    b.push_back(next_header);
    b.push_back(hop_limit);
    b.insert(b.end(), src.bytes.begin(), src.bytes.end());
    b.insert(b.end(), dst.bytes.begin(), dst.bytes.end());
    append(b, payload);
    return b;
}

inline Bytes icmp6(const IpAddr& src, const IpAddr& dst, uint8_t type, uint8_t code, uint32_t rest, const Bytes& data) {
    Bytes b{type, code, 0, 0};
    put32(b, rest);
    append(b, data);
    uint16_t c = checksum(b.data(), b.size(), pseudo_sum(src, dst, 58, b.size()));
    b[2] = uint8_t(c >> 8);
    b[3] = uint8_t(c);
    return b;
}

// One MPLS label stack entry (RFC 3032 §2.1).
struct Lse {
    uint32_t label;
    uint8_t ttl = 64;
    uint8_t tc = 0;
};

// A label stack, top first, with bottom-of-stack set on the last entry unless
// `bottom` is false (a stack that continues, or a malformed one), then `payload`.
inline Bytes mpls(const std::vector<Lse>& stack, const Bytes& payload, bool bottom = true) {
    Bytes b;
    for (size_t i = 0; i < stack.size(); ++i) {
        bool bos = bottom && i + 1 == stack.size();
        put32(b, stack[i].label << 12 | uint32_t(stack[i].tc & 7) << 9 | uint32_t(bos) << 8 | stack[i].ttl);
    }
    append(b, payload);
    return b;
}

inline Bytes pattern(size_t n, uint8_t seed = 0) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
    return b;
}

inline std::string hex(const Bytes& b) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < b.size(); ++i) {
        if (i && i % 16 == 0) s += '\n';
        else if (i) s += ' ';
        s += digits[b[i] >> 4];
        s += digits[b[i] & 15];
    }
    return s;
}

}  // namespace rampart::test
