// Byte strings for known-answer tests: hex as printed in RFCs (spaces and
// line breaks ignored; an odd digit count fails the test), ASCII, concatenation.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace rampart::testing {

inline std::vector<uint8_t> hex(std::string_view s) {
    std::vector<uint8_t> out;
    int hi = -1;
    for (char c : s) {
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else continue;
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(uint8_t(hi << 4 | v));
            hi = -1;
        }
    }
    REQUIRE(hi < 0);
    return out;
}

inline std::vector<uint8_t> ascii(std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); }

inline std::vector<uint8_t> cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace rampart::testing
