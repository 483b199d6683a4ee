// The per-worker IPsec context (ipsec_context.hpp) and what runs once per
// burst: the SA prefetch before the packets, the crypto batch after them.
#include "crypto/ipsec_context.hpp"

#include <stdexcept>

#include <rte_cycles.h>
#include <rte_prefetch.h>

#include "crypto/ipsec_internal.hpp"

namespace rampart {

IpsecWorkerContext::IpsecWorkerContext(unsigned worker_id, uint64_t tsc_hz_) : tsc_hz(tsc_hz_) {
    constexpr unsigned kSingle = RING_F_SP_ENQ | RING_F_SC_DEQ;
    sa_counters = std::make_unique<SaCounters[]>(kMaxSas);
    pending = std::make_unique<EspPending[]>(kMaxEspPending);
    pending_spare = std::make_unique<EspPending[]>(kMaxEspPending);
    ops = std::make_unique<uint8_t[]>(sizeof(crypto::EspOp) * kMaxEspPending);
    ops_spare = std::make_unique<uint8_t[]>(sizeof(crypto::EspOp) * kMaxEspPending);
    spd_cache = std::make_unique<SpdCacheEntry[]>(kSpdCacheEntries);  // value-initialized: all empty
    try {
        engine = std::make_unique<crypto::CryptoEngine>();
    } catch (const std::exception&) {
        engine.reset();  // ESP is dropped and counted (esp_crypto_error); forwarding goes on
    }
    // Any worker may hand over: multi-producer.
    handoff_ring = make_worker_ring("rp_handoff", worker_id, sizeof(Handoff), 4096, RING_F_SC_DEQ, "IPsec hand-off");
    // Bounded: at most 4096 datagrams in reassembly, each given 2 s.
    frag_tbl = rte_ip_frag_table_create(1024, 4, 4096, tsc_hz * 2, SOCKET_ID_ANY);
    if (!frag_tbl) {
        rte_ring_free(handoff_ring);
        throw std::runtime_error("cannot create the ESP reassembly table");
    }
    sa_event_ring = make_worker_ring("rp_saevent", worker_id, sizeof(SaEvent), 1024, kSingle, "SA event");
    acquire_ring = make_worker_ring("rp_acquire", worker_id, sizeof(AcquireRequest), 256, kSingle, "IPsec acquire");
}

IpsecWorkerContext::~IpsecWorkerContext() {
    if (handoff_ring) {
        Handoff h;
        while (rte_ring_dequeue_elem(handoff_ring, &h, sizeof h) == 0) rte_pktmbuf_free(h.m);
        rte_ring_free(handoff_ring);
    }
    for (unsigned i = 0; i < pending_count; ++i) rte_pktmbuf_free(pending[i].m);
    rte_ring_free(acquire_ring);
    rte_ring_free(sa_event_ring);
    rte_ip_frag_free_death_row(&death_row, 0);
    if (frag_tbl) rte_ip_frag_table_destroy(frag_tbl);
}

void esp_run_pending(Worker& w) noexcept {
    IpsecWorkerContext& x = w.ipsec_;
    // Finishing a decryption forwards the inner packet, which may be protected
    // again (hub): those are queued and run in the next round.
    for (unsigned round = 0; x.pending_count && x.engine && round < 4; ++round) {
        const unsigned n = x.pending_count;
        std::swap(x.pending, x.pending_spare);  // aad pointers stay valid: the arrays do not move
        std::swap(x.ops, x.ops_spare);
        const EspPending* batch = x.pending_spare.get();
        auto* batch_ops = reinterpret_cast<crypto::EspOp*>(x.ops_spare.get());
        x.pending_count = 0;
        x.engine->run(batch_ops, n);
        for (unsigned i = 0; i < n; ++i) {
            const EspPending& p = batch[i];
            if (p.decrypt) finish_decrypt(w, p, batch_ops[i]);
            else finish_encrypt(w, p, batch_ops[i]);
        }
    }
    for (unsigned i = 0; i < x.pending_count; ++i) w.drop(x.pending[i].m, x.pending[i].meta.ifindex, Drop::esp_crypto_error);
    x.pending_count = 0;
}

namespace {

// The SPI of an untagged frame carrying ESP (or ESP in UDP 4500) as its first
// fragment, read without validation (esp_input validates): false if not ESP.
bool peek_spi(const rte_mbuf* m, uint32_t& spi) {
    const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const unsigned len = m->data_len;
    if (len < 14 + 40 + 16) return false;
    unsigned l4;
    uint8_t proto;
    if (p[12] == 0x08 && p[13] == 0x00) {
        if ((p[14 + 6] & 0x3f) | p[14 + 7]) return false;  // fragment
        l4 = 14 + (p[14] & 0xf) * 4u;
        proto = p[14 + 9];
    } else if (p[12] == 0x86 && p[13] == 0xdd) {
        l4 = 14 + 40;
        proto = p[14 + 6];
    } else {
        return false;
    }
    if (proto == 17 && len >= l4 + 12 && p[l4 + 2] == (kNatTraversalPort >> 8) && p[l4 + 3] == (kNatTraversalPort & 0xff))
        l4 += 8;
    else if (proto != kIpProtoEsp)
        return false;
    if (len < l4 + 4) return false;
    uint32_t be;
    std::memcpy(&be, p + l4, 4);
    spi = rte_be_to_cpu_32(be);
    return spi != 0;  // 0: a NAT-T non-ESP marker (IKE)
}

}  // namespace

// With many SAs each ESP packet's SA, counters and keys are cold: look the
// burst's SPIs up together and start loading what esp_input will read.
void ipsec_prefetch_inbound(Worker& w, rte_mbuf** pkts, unsigned n) noexcept {
    uint32_t spis[kBurst];
    unsigned k = 0;
    for (unsigned i = 0; i < n && i < kBurst; ++i)
        if (peek_spi(pkts[i], spis[k])) ++k;
    if (k < 2) return;  // one SA: nothing to overlap
    const IpsecSa* sas[kBurst];
    w.tables_.inbound_sas(spis, k, sas);
    for (unsigned i = 0; i < k; ++i)
        if (sas[i])
            for (unsigned off = 0; off < sizeof(IpsecSa); off += RTE_CACHE_LINE_SIZE)
                rte_prefetch0(reinterpret_cast<const uint8_t*>(sas[i]) + off);
    for (unsigned i = 0; i < k; ++i) {
        if (!sas[i]) continue;
        rte_prefetch0(&w.ipsec_.sa_counters[sas[i]->counter % kMaxSas]);
        sas[i]->crypto->prefetch();
    }
}

}  // namespace rampart
