// CRC32-C hashing of packet bytes that need not be aligned (an IPv6 address
// behind a 14-byte Ethernet header is not): rte_hash_crc() loads 8 bytes at a
// time through a uint64_t pointer, which is undefined for unaligned input.
#pragma once

#include <rte_hash_crc.h>

#include <cstdint>
#include <cstring>

namespace rampart {

// Hashes `words` 8-byte words starting at `p`.
inline uint32_t hash_unaligned_words(const void* p, unsigned words, uint32_t seed) {
    auto* b = static_cast<const uint8_t*>(p);
    for (unsigned i = 0; i < words; ++i) {
        uint64_t w;
        std::memcpy(&w, b + 8 * i, 8);
        seed = rte_hash_crc_8byte(w, seed);
    }
    return seed;
}

}  // namespace rampart
