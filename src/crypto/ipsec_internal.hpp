// What the IPsec stage files share among themselves (not for the rest of the
// pipeline: that is ipsec_stages.hpp). An SA's sequence counter and replay
// window are touched only by its owner worker; other workers hand the packet
// over (handoff.cpp).
#pragma once

#include <cstring>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_udp.h>

#include "crypto/esp_crypto.hpp"
#include "crypto/esp_packet.hpp"
#include "crypto/ipsec_sa.hpp"
#include "crypto/ipsec_stages.hpp"
#include "crypto/spd.hpp"
#include "fastpath/worker.hpp"

namespace rampart {

// An ESP packet prepared for the crypto engine; the engine runs once per
// burst over all of them (multi-buffer lanes stay busy), then each is finished.
struct EspPending {
    rte_mbuf* m;
    const IpsecSa* sa;
    PacketMeta meta;        // decrypt: the ESP packet's; encrypt: ifindex charged for drops (+ l2_len, in transport)
    bool decrypt;
    bool transport;         // encrypt: the box's own packet, out of `port_id` as it is; decrypt: to the kernel
    uint16_t port_id;       // transport encrypt
    uint8_t tos;            // encrypt: copied to the outer header
    bool df;                // encrypt
    uint32_t esp_off;
    uint32_t esp_len;       // decrypt: ESP length; encrypt: ESP (+UDP) length after the outer header
    uint32_t outer_off;     // encrypt
    uint32_t seq_high, seq_low;  // decrypt: for the replay window after authentication
    uint8_t aad[12];
    Egress egress;          // encrypt: where the ESP packet goes
};

// The SPD's answer for one exact packet key (RFC 4301 selectors are a function
// of it): a direct-mapped per-worker cache in front of rte_acl, as VPP's SPD
// flow cache. An entry is valid only for the table generation it was filled from.
struct alignas(64) SpdCacheEntry {
    uint64_t generation;  // 0: empty
    SpdPacket key;
    int32_t rule;
};
inline constexpr unsigned kSpdCacheEntries = 32768;  // 2 MB per worker (VPP defaults to 1M flows)

// A packet handed to the worker that owns its SA: processed again from the IP
// stage on that worker (the interface is looked up again there: RCU).
struct Handoff {
    rte_mbuf* m;
    uint16_t ifindex;
    uint16_t vrf;
    uint8_t l2_len;
    uint8_t family;    // 4 or 6
    uint8_t flags;     // PacketFlag: kLocalOutput, kSavDone (forwarded and ESP packets passed SAV already)
    uint8_t features;  // IngressFeature bits
};
static_assert(sizeof(Handoff) == 16);

inline constexpr uint8_t kOuterTtl = 64;
inline constexpr unsigned kMaxFragments = 64;
inline constexpr unsigned kIpv6MinMtu = 1280;
inline constexpr unsigned kMaxOuterLen = 65535;  // IPv4 total length / IPv6 payload length

inline void store_be32(uint8_t* p, uint32_t v) {
    v = rte_cpu_to_be_32(v);
    std::memcpy(p, &v, 4);
}

inline SaCounters& sa_counter(Worker& w, const IpsecSa& sa) { return w.ipsec_.sa_counters[sa.counter % kMaxSas]; }

inline bool owned_here(const Worker& w, const IpsecSa& sa) {
    return sa.owner == w.cfg_.id || w.tables_.max_workers() == 1;
}

// ipsec_common.cpp
// The selector fields of the IP packet at `l3`. `reverse`: the packet comes
// from the remote side (inbound view: local = destination).
bool spd_fields(const rte_mbuf* m, unsigned l3, unsigned family, bool reverse, SpdPacket& p) noexcept;
// Counts one packet against the SA's volume lifetimes (owner worker only).
// False when the hard lifetime is spent: the packet must not use the SA.
bool count_lifetime(Worker& w, const IpsecSa& sa, uint32_t bytes) noexcept;
inline bool within_lifetime(Worker& w, const IpsecSa& sa, uint32_t bytes) noexcept {
    if (likely(!sa.hard_packets && !sa.hard_bytes)) return true;  // no volume lifetime: nothing to count
    return count_lifetime(w, sa, bytes);
}
// The one's-complement sum of the UDP datagram `udp` (`udp_len` bytes, its checksum field
// as it is) with its pseudo-header taken from the IP header `ip` (RFC 768 / RFC 8200 §8.1);
// the UDP length is used, not the IP one, so IPv6 extension headers may sit in between.
// 0xffff when a datagram's checksum is right.
uint16_t udp_checksum_sum(const uint8_t* ip, Family family, const void* udp, unsigned udp_len) noexcept;
// The IPv6 fragment identification for this worker's next datagram (RFC 8200 §4.5), network order.
uint32_t next_fragment_id6(Worker& w) noexcept;
inline EspPending& next_pending(Worker& w) { return w.ipsec_.pending[w.ipsec_.pending_count]; }
// Adds `op` for the pending packet at pending[pending_count]; runs the batch when full.
inline void queue_op(Worker& w, const crypto::EspOp& op) noexcept {
    IpsecWorkerContext& x = w.ipsec_;
    reinterpret_cast<crypto::EspOp*>(x.ops.get())[x.pending_count++] = op;
    if (unlikely(x.pending_count == IpsecWorkerContext::kMaxEspPending)) esp_run_pending(w);
}

// The largest ESP packet the SA may send out of an egress with `egress_ip_mtu`:
// that MTU, or the SA's encapsulated-ip-mtu when smaller.
inline unsigned outer_limit(const IpsecSa& sa, unsigned egress_ip_mtu) {
    return sa.encapsulated_ip_mtu && sa.encapsulated_ip_mtu < egress_ip_mtu ? sa.encapsulated_ip_mtu : egress_ip_mtu;
}

// Fragmentation after encryption (the ISA guide's encapsulated-ip-mtu; IPv6
// packets up to 1280 bytes, which a tunnel must carry whatever its MTU, RFC
// 8200 §5; transport mode): the ESP packet, IP header at `l3_off`, becomes
// fragments of at most `limit` bytes, each handed to `emit` with its IP
// header first. The peer reassembles before decryption (RFC 4303 §3.4.1).
template <class Emit>
void fragment_outer(Worker& w, uint16_t ifindex, rte_mbuf* m, unsigned l3_off, Family family, unsigned limit,
                    Emit&& emit) noexcept {
    rte_pktmbuf_adj(m, uint16_t(l3_off));
    rte_mbuf* frags[kMaxFragments];
    int n;
    if (family == Family::v4) {
        rte_pktmbuf_mtod(m, rte_ipv4_hdr*)->fragment_offset = 0;  // our own header: DF off, whole datagram
        n = rte_ipv4_fragment_packet(m, frags, kMaxFragments, uint16_t(limit), w.cfg_.pool, w.cfg_.pool);
    } else {
        n = rte_ipv6_fragment_packet(m, frags, kMaxFragments, uint16_t(limit), w.cfg_.pool, w.cfg_.pool);
    }
    if (unlikely(n < 0)) return w.drop(m, ifindex, Drop::fragment_failed);
    rte_pktmbuf_free(m);
    // The library leaves IPv6 fragment identifications at 0: each datagram needs its own.
    const uint32_t id6 = family == Family::v6 ? next_fragment_id6(w) : 0;
    for (int i = 0; i < n; ++i) {
        if (family == Family::v4) {
            auto* ip = rte_pktmbuf_mtod(frags[i], rte_ipv4_hdr*);
            ip->hdr_checksum = 0;
            ip->hdr_checksum = rte_ipv4_cksum(ip);
        } else {
            std::memcpy(rte_pktmbuf_mtod_offset(frags[i], uint8_t*, sizeof(rte_ipv6_hdr) + 4), &id6, 4);
        }
        emit(frags[i]);
    }
}

// spd_output.cpp
// The first SPD entry `p` matches, or null (through the worker's flow cache).
const SpdEntry* spd_match(Worker& w, const SpdTable& spd, const SpdPacket& p) noexcept;

// esp_encrypt.cpp
// Into the tunnel of `sa` (RFC 4301 §5.1.2), TTL, tunnel MTU and all.
void protect(Worker& w, rte_mbuf* m, PacketMeta meta, const IpsecSa& sa) noexcept;
// Transport mode for the box's own packet leaving by meta.in.
void transport_encapsulate(Worker& w, rte_mbuf* m, PacketMeta meta, const IpsecSa& sa) noexcept;
// After the engine: the encrypted packet's outer header, then out.
void finish_encrypt(Worker& w, const EspPending& p, const crypto::EspOp& op) noexcept;

// esp_decrypt.cpp
// After the engine: replay window, trailer, policy check, then forwarded (tunnel) or to the kernel (transport).
void finish_decrypt(Worker& w, const EspPending& p, const crypto::EspOp& op) noexcept;
// ESP addressed to us: `esp_off`/`esp_len` locate the ESP header and what follows.
void esp_input(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned esp_off, unsigned esp_len) noexcept;

// esp_reassembly.cpp
// Fragments of ESP (or of ESP in UDP) addressed to us: held until the datagram
// is whole, then processed again from the IP stage. `l3_len`: IP header and
// extension headers up to the fragment's payload.
void esp_reassemble(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned l3_len) noexcept;

// handoff.cpp
// Sends the packet to the worker `owner` (the SA's); processed there from the IP stage.
void hand_over(Worker& w, rte_mbuf* m, PacketMeta meta, unsigned owner) noexcept;

}  // namespace rampart
