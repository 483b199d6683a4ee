// The SPD decision in the worker (RFC 4301 §5.1): every packet forwarded in a
// VRF with an SPD, and the box's own packets from the kernel, are classified
// (rte_acl, first match, behind a per-worker exact-match flow cache) into
// BYPASS (forwarded in clear), DISCARD, or PROTECT (esp_encrypt.cpp, on the
// worker owning the SA). §5.2: cleartext that a protect entry says must arrive
// encrypted is discarded. A protect entry without an SA raises an acquire for
// the key manager on the control core.
#include <rte_cycles.h>
#include <rte_hash_crc.h>

#include "crypto/ipsec_internal.hpp"

namespace rampart {

const SpdEntry* spd_match(Worker& w, const SpdTable& spd, const SpdPacket& p) noexcept {
    static_assert(sizeof(SpdPacket) == 38, "the cache compares keys bytewise: no padding");
    SpdCacheEntry& c = w.ipsec_.spd_cache[rte_hash_crc(&p, sizeof p, 0) & (kSpdCacheEntries - 1)];
    int32_t rule;
    if (c.generation == spd.generation && std::memcmp(&c.key, &p, sizeof p) == 0) {
        rule = c.rule;
    } else {
        rule = spd.classifier->classify(p);
        c.generation = spd.generation;
        c.key = p;
        c.rule = rule;
    }
    return rule >= 0 && size_t(rule) < spd.entries.size() ? &spd.entries[size_t(rule)] : nullptr;
}

namespace {

// Tells the control core that protect entry `seq` needs an SA for `p`.
void raise_acquire(Worker& w, uint16_t vrf, unsigned family, const SpdPacket& p, uint32_t seq) {
    IpsecWorkerContext& x = w.ipsec_;
    // One acquire per entry per second is plenty: the key manager is negotiating.
    const uint32_t h = rte_hash_crc_4byte(seq, vrf) & 63;
    const uint64_t now = rte_rdtsc();
    if (x.acquire_recent[h] && now - x.acquire_recent[h] < x.tsc_hz) return;
    x.acquire_recent[h] = now;
    AcquireRequest a{};
    a.vrf = vrf;
    a.family = uint8_t(family);
    a.protocol = p.protocol;
    a.seq = seq;
    std::memcpy(a.src, p.local.data(), 16);
    std::memcpy(a.dst, p.remote.data(), 16);
    rte_ring_enqueue_elem(x.acquire_ring, &a, sizeof a);  // full ring: the control core is behind; the next acquire will do
}

// RFC 4301 §5.2: cleartext that a protect entry says must arrive encrypted is dropped.
// The box's own IKE datagrams (UDP 500/4500 on our side) pass in clear
// whatever the SPD says, as kernel stacks give the IKE daemon's sockets a
// bypass policy: a transport-mode Child SA covering every protocol between
// the two hosts would otherwise carry (or refuse) the very IKE messages that
// negotiate, rekey and delete it. `p` is from our side's view (local = ours).
// ESP in UDP 4500 never gets here as cleartext: it is ESP, demultiplexed first.
bool is_own_ike(const SpdPacket& p) {
    return p.protocol == IPPROTO_UDP && (p.local_port == 500 || p.local_port == 4500);
}

bool refuse_cleartext(Worker& w, const SpdTable& spd, rte_mbuf* m, PacketMeta meta) {
    SpdPacket r;
    if (!spd_fields(m, meta.l2_len, meta.family, true, r)) return false;
    if (is_own_ike(r)) return false;
    const SpdEntry* e = spd_match(w, spd, r);
    if (!e || e->action != SpdAction::protect) return false;
    w.drop(m, meta.ifindex, Drop::ipsec_cleartext_protected);
    return true;
}

}  // namespace

bool ipsec_forward(Worker& w, rte_mbuf* m, PacketMeta meta, const SpdTable& spd) noexcept {
    SpdPacket p;
    if (!spd_fields(m, meta.l2_len, meta.family, false, p)) return false;
    if (const SpdEntry* match = spd_match(w, spd, p)) {
        const SpdEntry& e = *match;
        switch (e.action) {
            case SpdAction::bypass: return false;
            case SpdAction::discard: w.drop(m, meta.ifindex, Drop::ipsec_policy_discard); return true;
            case SpdAction::protect:
                if (unlikely(!e.outbound)) {
                    raise_acquire(w, meta.vrf, meta.family, p, e.seq);
                    w.drop(m, meta.ifindex, Drop::ipsec_no_sa);
                    return true;
                }
                if (!owned_here(w, *e.outbound)) {
                    hand_over(w, m, meta, e.outbound->owner);
                    return true;
                }
                protect(w, m, meta, *e.outbound);
                return true;
        }
    }
    // Not for protection on the way out; but traffic that the SPD protects
    // coming the other way must not be accepted in clear.
    return refuse_cleartext(w, spd, m, meta);
}

bool ipsec_local_output(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept {
    const SpdTable* spd = w.tables_.spd(meta.vrf);
    SpdPacket p;
    if (!spd || !spd_fields(m, meta.l2_len, meta.family, false, p) || is_own_ike(p)) return false;
    const SpdEntry* match = spd_match(w, *spd, p);
    if (!match) return false;
    const SpdEntry& e = *match;
    switch (e.action) {
        case SpdAction::bypass: return false;
        case SpdAction::discard: w.drop(m, meta.ifindex, Drop::ipsec_policy_discard); return true;
        case SpdAction::protect: break;
    }
    if (unlikely(!e.outbound || !e.outbound->transport)) {
        // No SA yet, or a tunnel SA named for the box's own traffic: nothing leaves in clear.
        if (!e.outbound) raise_acquire(w, meta.vrf, meta.family, p, e.seq);
        w.drop(m, meta.ifindex, e.outbound ? Drop::ipsec_policy_discard : Drop::ipsec_no_sa);
        return true;
    }
    if (!owned_here(w, *e.outbound)) {
        hand_over(w, m, meta, e.outbound->owner);
        return true;
    }
    transport_encapsulate(w, m, meta, *e.outbound);
    return true;
}

bool ipsec_refuse_cleartext(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept {
    const SpdTable* spd = w.tables_.spd(meta.vrf);
    return spd && refuse_cleartext(w, *spd, m, meta);
}

}  // namespace rampart
