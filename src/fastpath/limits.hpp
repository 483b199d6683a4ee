// Compile-time sizes of the data plane. Per-worker state is sized by these so
// that nothing is allocated on the hot path.
#pragma once

#include <cstdint>

namespace rampart {

inline constexpr unsigned kBurst = 32;
inline constexpr unsigned kMaxWorkers = 16;
inline constexpr unsigned kMaxPorts = 32;        // physical ports and their TAP twins
inline constexpr unsigned kMaxInterfaces = 256;  // ports plus 802.1Q sub-interfaces
inline constexpr unsigned kMaxAdjacencies = 1u << 16;
inline constexpr unsigned kMaxGroups = 1u << 20;  // fits both rte_lpm (24 bit) and rte_lpm6 (21 bit)
inline constexpr unsigned kMaxEcmp = 8;
inline constexpr unsigned kMaxVrfs = 32;             // VRF 0 is the default table
inline constexpr unsigned kLabelSpace = 1u << 20;    // the whole 20-bit label space is one flat ILM
inline constexpr unsigned kMaxIlmEntries = 1u << 16; // labels in use at once (sizes per-label counters)
inline constexpr unsigned kMaxPushLabels = 10;       // labels one route or label entry imposes
inline constexpr unsigned kMaxStackWalk = 16;        // deepest incoming stack we parse
inline constexpr uint32_t kNoAdjacency = UINT32_MAX;
inline constexpr uint16_t kNoPort = UINT16_MAX;
inline constexpr uint16_t kNoInterface = UINT16_MAX;

}  // namespace rampart
