#include "common/net.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <fmt/format.h>

namespace rampart {

IpAddr IpAddr::v4(uint32_t host_order) {
    IpAddr a;
    a.family = Family::v4;
    uint32_t be = htonl(host_order);
    std::memcpy(a.bytes.data(), &be, 4);
    return a;
}

IpAddr IpAddr::v6(const uint8_t* net_order16) {
    IpAddr a;
    a.family = Family::v6;
    std::memcpy(a.bytes.data(), net_order16, 16);
    return a;
}

uint32_t IpAddr::v4_host() const {
    uint32_t be;
    std::memcpy(&be, bytes.data(), 4);
    return ntohl(be);
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
    std::string s(text);
    IpAddr a;
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
        a.family = Family::v4;
    } else {
        if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
        a.family = Family::v6;
    }
    return a;
}

std::string IpAddr::str() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

std::optional<Prefix> Prefix::parse(std::string_view text, bool require_len) {
    auto slash = text.find('/');
    Prefix p;
    auto addr = IpAddr::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    p.addr = *addr;
    if (slash == std::string_view::npos) {
        if (require_len) return std::nullopt;
        p.len = static_cast<uint8_t>(p.addr.bits());
        return p;
    }
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty() ||
        len > p.addr.bits())
        return std::nullopt;
    p.len = static_cast<uint8_t>(len);
    return p;
}

Prefix Prefix::network() const {
    Prefix p = *this;
    unsigned nbytes = addr.is_v4() ? 4 : 16;
    for (unsigned i = 0; i < nbytes; ++i) {
        int keep = static_cast<int>(len) - static_cast<int>(i * 8);
        if (keep >= 8) continue;
        uint8_t mask = keep <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
        p.addr.bytes[i] &= mask;
    }
    return p;
}

bool Prefix::contains(const IpAddr& a) const {
    if (a.family != addr.family) return false;
    Prefix other{a, len};
    return other.network().addr == network().addr;
}

std::string Prefix::str() const { return fmt::format("{}/{}", addr.str(), len); }

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
    MacAddr m;
    if (text.size() != 17) return std::nullopt;
    for (int i = 0; i < 6; ++i) {
        auto part = text.substr(i * 3, 2);
        unsigned v;
        auto [end, ec] = std::from_chars(part.data(), part.data() + 2, v, 16);
        if (ec != std::errc() || end != part.data() + 2) return std::nullopt;
        if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
        m.bytes[i] = static_cast<uint8_t>(v);
    }
    return m;
}

std::string MacAddr::str() const {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                       bytes[3], bytes[4], bytes[5]);
}

bool MacAddr::is_zero() const {
    for (auto b : bytes)
        if (b) return false;
    return true;
}

}  // namespace rampart
