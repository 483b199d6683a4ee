// Addresses, prefixes and MAC addresses shared by the control and data planes.
// Values are kept in network byte order in byte arrays so that they compare and
// hash the same way the wire carries them.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace rampart {

enum class Family : uint8_t { v4 = 4, v6 = 6 };

struct IpAddr {
    Family family = Family::v4;
    std::array<uint8_t, 16> bytes{};  // v4 uses the first 4 bytes

    static IpAddr v4(uint32_t host_order);
    static IpAddr v6(const uint8_t* net_order16);
    static std::optional<IpAddr> parse(std::string_view text);

    bool is_v4() const { return family == Family::v4; }
    uint32_t v4_host() const;  // only for v4
    unsigned bits() const { return is_v4() ? 32 : 128; }
    std::string str() const;

    friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

struct Prefix {
    IpAddr addr;  // host bits may be set (an interface address keeps them)
    uint8_t len = 0;

    // Accepts "a.b.c.d/n" and "x::y/n"; with require_len=false a bare address
    // becomes a host prefix.
    static std::optional<Prefix> parse(std::string_view text, bool require_len = true);
    Prefix network() const;  // host bits cleared
    bool contains(const IpAddr& a) const;
    std::string str() const;

    friend auto operator<=>(const Prefix&, const Prefix&) = default;
};

struct MacAddr {
    std::array<uint8_t, 6> bytes{};
    static std::optional<MacAddr> parse(std::string_view text);
    std::string str() const;
    bool is_zero() const;
    friend auto operator<=>(const MacAddr&, const MacAddr&) = default;
};

}  // namespace rampart
