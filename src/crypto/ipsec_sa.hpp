// What the workers see of IPsec: security associations and per-VRF SPDs,
// built and published by the control core (slowpath/ipsec_publisher), read
// lock-free. An SA's keys and identity are immutable; its sequence counter and
// replay window are touched only by its owner worker (packets for the SA that
// land elsewhere are handed over on a ring), so no locks or atomics per packet.
#pragma once

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "crypto/esp_crypto.hpp"
#include "crypto/esp_packet.hpp"
#include "crypto/replay.hpp"
#include "crypto/spd.hpp"

namespace rampart {

inline constexpr unsigned kMaxSas = 1u << 17;  // SAs at once (counter slots per worker; the SAD is sized from it)

struct IpsecSa {
    std::string name;
    uint32_t spi = 0;
    bool inbound = true;
    Family family = Family::v4;                 // of the outer header
    std::array<uint8_t, 16> local{}, remote{};  // tunnel endpoints, network order
    uint16_t vrf = 0;                           // the inner traffic's table
    uint16_t owner = 0;                         // worker owning sequence numbers / the replay window
    uint32_t counter = 0;                       // per-worker counter slot
    EspLayout layout{};
    bool esn = false;
    bool transport = false;           // RFC 4303 §3.1.1: the box's own traffic with `remote`
    uint16_t nat_traversal_port = 0;  // RFC 3948: UDP-encapsulated to this peer port (0: plain ESP)
    uint16_t ip_mtu = 0;              // largest inner packet sent through the tunnel (0: from the egress MTU)
    uint16_t encapsulated_ip_mtu = 0; // largest ESP packet: beyond it fragmented after encryption (0: the egress
                                      // MTU, and inner packets are fragmented before encryption instead)
    // Volume lifetimes (RFC 4301 §4.4.2.1); 0: none. Time lifetimes are the control core's.
    uint64_t soft_packets = 0, hard_packets = 0, soft_bytes = 0, hard_bytes = 0;
    std::unique_ptr<crypto::SaCrypto> crypto;
    uint64_t iv_base = 0;  // AEAD IVs are iv_base + sequence number: unique per key even if the SA is rebuilt

    // Owner worker only.
    mutable ReplayWindow window;
    mutable OutboundSequence sequence{false};
    mutable uint64_t used_packets = 0, used_bytes = 0;
    mutable bool soft_told = false, hard_told = false;
};

struct SpdEntry {
    SpdAction action = SpdAction::discard;
    uint32_t seq = 0;                   // the configured entry, for acquire events and `show`
    const IpsecSa* outbound = nullptr;  // protect
    const IpsecSa* inbound = nullptr;   // protect: decrypted traffic of this SA must match this entry
};

// One VRF's SPD: the classifier and, per rule index, what to do.
struct SpdTable {
    uint64_t generation = 0;  // unique per published table (never 0): keys the workers' flow caches
    std::unique_ptr<SpdClassifier> classifier;
    std::vector<SpdEntry> entries;
    // Inbound SAs and the selectors of the entries naming them (sorted by SA):
    // a decrypted packet must match its own SA's selectors (RFC 4301 §5.2),
    // checked directly, without a classification.
    std::vector<std::pair<const IpsecSa*, SpdSelector>> inbound;
    std::vector<uint32_t> inbound_by_counter;  // SA counter slot -> 1 + first index in `inbound` (0: none)
    bool inbound_allows(const IpsecSa* sa, const SpdPacket& p) const;
};

inline bool SpdTable::inbound_allows(const IpsecSa* sa, const SpdPacket& p) const {
    if (sa->counter >= inbound_by_counter.size()) return false;
    for (size_t i = inbound_by_counter[sa->counter]; i && i <= inbound.size() && inbound[i - 1].first == sa; ++i)
        if (selector_matches(inbound[i - 1].second, p)) return true;
    return false;
}

// Per SA, per worker; summed on read.
struct SaCounters {
    uint64_t packets, bytes;
    uint64_t auth_failed, replay_duplicate, replay_too_old, bad_trailer, policy_mismatch, sequence_exhausted;
    uint64_t fragmented;  // outbound ESP packets fragmented after encryption
};

}  // namespace rampart
