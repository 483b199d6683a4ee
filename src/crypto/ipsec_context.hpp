// The IPsec state one worker owns (the per-lcore context of the IPsec
// stages in this folder): the ESP batch being filled for the crypto engine,
// the SPD flow cache, the ESP reassembly table, the acquire rate limit, the
// outer header identifications, and the rings to other workers (hand-off) and
// to the control core (acquires, SA lifetime events). Owned by the Worker;
// only that worker's lcore touches it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include <rte_ip_frag.h>
#include <rte_ring.h>

namespace rampart {

namespace crypto {
class CryptoEngine;
}
struct SaCounters;
struct EspPending;
struct SpdCacheEntry;

// Sent to the control core when traffic matches a protect entry that has no
// SA yet (RFC 4301 §5.1: an "acquire" for the key manager). Rate-limited.
struct AcquireRequest {
    uint16_t vrf;
    uint8_t family;  // 4 or 6
    uint8_t protocol;
    uint32_t seq;    // the SPD entry
    uint8_t src[16], dst[16];
};
static_assert(sizeof(AcquireRequest) % 4 == 0);

// An SA reached a volume lifetime: soft (rekey now) or hard (the SA has ended).
struct SaEvent {
    uint32_t spi;
    uint8_t inbound;
    uint8_t hard;
    uint16_t pad;
};

struct IpsecWorkerContext {
    // Creates the rings and the reassembly table; throws std::runtime_error on failure.
    IpsecWorkerContext(unsigned worker_id, uint64_t tsc_hz);
    ~IpsecWorkerContext();  // frees what the rings still hold
    IpsecWorkerContext(const IpsecWorkerContext&) = delete;
    IpsecWorkerContext& operator=(const IpsecWorkerContext&) = delete;

    static constexpr unsigned kMaxEspPending = 64;  // the engine's chunk

    std::unique_ptr<SaCounters[]> sa_counters;      // [kMaxSas]
    std::unique_ptr<crypto::CryptoEngine> engine;   // null if the CPU cannot (ESP is then dropped, counted)
    // Two batches: one being filled, one being finished (finishing may queue
    // packets again, e.g. a hub decrypting and re-encrypting); esp_run_pending swaps them.
    std::unique_ptr<EspPending[]> pending, pending_spare;
    std::unique_ptr<uint8_t[]> ops, ops_spare;      // crypto::EspOp[kMaxEspPending], opaque here
    unsigned pending_count = 0;
    std::unique_ptr<SpdCacheEntry[]> spd_cache;     // [kSpdCacheEntries] (spd_output.cpp)
    rte_ip_frag_tbl* frag_tbl = nullptr;            // fragmented ESP waiting for its other fragments (bounded)
    rte_ip_frag_death_row death_row{};
    rte_ring* handoff_ring = nullptr;               // packets of SAs this worker owns, from other workers
    rte_ring* acquire_ring = nullptr;               // AcquireRequest to the control core
    rte_ring* sa_event_ring = nullptr;              // SaEvent to the control core
    std::array<uint64_t, 64> acquire_recent{};      // per (vrf, entry) hash: TSC of the last acquire sent
    uint64_t tsc_hz;
    uint16_t ip_id = 0;                             // outer IPv4 identification
    uint32_t frag_id6 = 0;                          // outer IPv6 fragment identification
};

}  // namespace rampart
