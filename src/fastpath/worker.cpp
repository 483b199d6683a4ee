#include "fastpath/worker.hpp"

#include "fastpath/hash.hpp"

#include "crypto/esp_crypto.hpp"
#include "crypto/ipsec_sa.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#include <stdexcept>
#include <string>

namespace rampart {

namespace {
// Exception-path policer: what one worker may hand to the kernel per second.
constexpr double kPuntRatePps = 20000;
constexpr double kPuntBurst = 2000;
}  // namespace

namespace {
// This worker's ring `<prefix><id>` (taken over if a previous Worker left it).
rte_ring* worker_ring(const char* prefix, unsigned id, unsigned elem_size, unsigned count, unsigned flags,
                      const char* what) {
    const std::string name = prefix + std::to_string(id);
    rte_ring* r = rte_ring_lookup(name.c_str());
    if (!r) r = rte_ring_create_elem(name.c_str(), elem_size, count, SOCKET_ID_ANY, flags);
    if (!r) throw std::runtime_error(std::string("cannot create the ") + what + " ring");
    return r;
}
}  // namespace

Worker::Worker(const WorkerConfig& cfg) : cfg_(cfg), tables_(*cfg.tables) {
    constexpr unsigned kSingle = RING_F_SP_ENQ | RING_F_SC_DEQ;
    resolve_ring_ = worker_ring("rp_resolve", cfg.id, sizeof(ResolveRequest), 1024, kSingle, "neighbour resolution");
    tx_queue_.fill(0);
    for (unsigned i = 0; i < cfg_.nb_ports; ++i) {
        const WorkerPort& p = cfg_.ports[i];
        if (p.port_id < kMaxPorts) tx_queue_[p.port_id] = p.queue;
        if (p.twin_port_id < kMaxPorts) tx_queue_[p.twin_port_id] = p.queue;
    }
    tsc_hz_ = double(rte_get_tsc_hz());
    label_counters_ = std::make_unique<LabelCounter[]>(kMaxIlmEntries);
    sa_counters_ = std::make_unique<SaCounters[]>(kMaxSas);
    esp_pending_ = std::make_unique<EspPending[]>(kMaxEspPending);
    esp_pending_spare_ = std::make_unique<EspPending[]>(kMaxEspPending);
    esp_ops_ = std::make_unique<uint8_t[]>(sizeof(crypto::EspOp) * kMaxEspPending);
    esp_ops_spare_ = std::make_unique<uint8_t[]>(sizeof(crypto::EspOp) * kMaxEspPending);
    spd_cache_ = std::make_unique<SpdCacheEntry[]>(kSpdCacheEntries);  // value-initialized: all empty
    try {
        crypto_ = std::make_unique<crypto::CryptoEngine>();
    } catch (const std::exception&) {
        crypto_.reset();  // ESP is dropped and counted (esp_crypto_error); forwarding goes on
    }
    // Any worker may hand over: multi-producer.
    handoff_ring_ = worker_ring("rp_handoff", cfg.id, sizeof(Handoff), 4096, RING_F_SC_DEQ, "IPsec hand-off");
    // Bounded: at most 4096 datagrams in reassembly, each given 2 s.
    frag_tbl_ = rte_ip_frag_table_create(1024, 4, 4096, uint64_t(tsc_hz_) * 2, SOCKET_ID_ANY);
    if (!frag_tbl_) throw std::runtime_error("cannot create the ESP reassembly table");
    sa_event_ring_ = worker_ring("rp_saevent", cfg.id, sizeof(SaEvent), 1024, kSingle, "SA event");
    acquire_ring_ = worker_ring("rp_acquire", cfg.id, sizeof(AcquireRequest), 256, kSingle, "IPsec acquire");
    tables_.register_handoff(cfg.id, handoff_ring_);
}

Worker::~Worker() {
    flush();
    if (handoff_ring_) {
        tables_.register_handoff(cfg_.id, nullptr);
        Handoff h;
        while (rte_ring_dequeue_elem(handoff_ring_, &h, sizeof h) == 0) rte_pktmbuf_free(h.m);
        rte_ring_free(handoff_ring_);
    }
    rte_ring_free(acquire_ring_);
    rte_ring_free(sa_event_ring_);
    rte_ip_frag_free_death_row(&death_row_, 0);
    if (frag_tbl_) rte_ip_frag_table_destroy(frag_tbl_);
    rte_ring_free(resolve_ring_);
}

bool Worker::TokenBucket::take(uint64_t now, double rate_per_tsc, double burst) noexcept {
    if (last_tsc == 0) tokens = burst;
    else tokens = std::min(burst, tokens + double(now - last_tsc) * rate_per_tsc);
    last_tsc = now;
    if (tokens < 1.0) return false;
    tokens -= 1.0;
    return true;
}

bool Worker::icmp_allowed() noexcept {
    uint32_t pps = tables_.icmp_rate_pps();
    if (pps == 0) return false;
    double burst = std::max(10.0, pps / 10.0);
    return icmp_bucket_.take(rte_rdtsc(), pps / tsc_hz_, burst);
}

bool Worker::punt_allowed() noexcept {
    return punt_bucket_.take(rte_rdtsc(), kPuntRatePps / tsc_hz_, kPuntBurst);
}

void Worker::drop(rte_mbuf* m, uint16_t ifindex, Drop reason) noexcept {
    if (ifindex < kMaxInterfaces) ++counters_.iface[ifindex].drops[unsigned(reason)];
    rte_pktmbuf_free(m);
}

void Worker::transmit(uint16_t port_id) noexcept {
    TxBuffer& b = tx_[port_id];
    uint16_t sent = rte_eth_tx_burst(port_id, tx_queue_[port_id], b.pkts, b.count);
    // What the queue refused was counted as transmitted: move it to the drops.
    for (uint16_t i = sent; i < b.count; ++i) {
        uint32_t ifx = b.pkts[i]->hash.usr;
        if (ifx < kMaxInterfaces) {
            --counters_.iface[ifx].tx_packets;
            counters_.iface[ifx].tx_bytes -= b.pkts[i]->pkt_len;
        }
        drop(b.pkts[i], uint16_t(ifx), Drop::tx_queue_full);
    }
    b.count = 0;
}

void Worker::enqueue_tx(uint16_t port_id, rte_mbuf* m) noexcept {
    TxBuffer& b = tx_[port_id];
    b.pkts[b.count++] = m;
    if (unlikely(b.count == RTE_DIM(b.pkts))) transmit(port_id);
}

void Worker::flush() noexcept {
    for (unsigned i = 0; i < cfg_.nb_ports; ++i)
        for (uint16_t port : {cfg_.ports[i].port_id, cfg_.ports[i].twin_port_id})
            if (port < kMaxPorts && tx_[port].count) transmit(port);
}

void Worker::request_resolve4(uint16_t ifindex, uint32_t ip_be) noexcept {
    ResolveRequest r{};
    r.ifindex = ifindex;
    r.family = 4;
    std::memcpy(r.addr, &ip_be, 4);
    uint32_t h = rte_hash_crc_4byte(ip_be, ifindex) & 255;
    uint64_t now = rte_rdtsc();
    // One request per next hop per 100 ms is plenty: the kernel retries on its own.
    if (resolve_recent_[h] && now - resolve_recent_[h] < uint64_t(tsc_hz_ / 10)) return;
    resolve_recent_[h] = now;
    if (rte_ring_enqueue_elem(resolve_ring_, &r, sizeof r) != 0) ++counters_.resolve_requests_dropped;
}

void Worker::request_resolve6(uint16_t ifindex, const uint8_t* ip) noexcept {
    ResolveRequest r{};
    r.ifindex = ifindex;
    r.family = 6;
    std::memcpy(r.addr, ip, 16);
    uint32_t h = hash_unaligned_words(ip, 2, ifindex) & 255;
    uint64_t now = rte_rdtsc();
    if (resolve_recent_[h] && now - resolve_recent_[h] < uint64_t(tsc_hz_ / 10)) return;
    resolve_recent_[h] = now;
    if (rte_ring_enqueue_elem(resolve_ring_, &r, sizeof r) != 0) ++counters_.resolve_requests_dropped;
}

void Worker::request_acquire(const AcquireRequest& r) noexcept {
    // One acquire per entry per second is plenty: the key manager is negotiating.
    const uint32_t h = rte_hash_crc_4byte(r.seq, r.vrf) & 63;
    const uint64_t now = rte_rdtsc();
    if (acquire_recent_[h] && now - acquire_recent_[h] < uint64_t(tsc_hz_)) return;
    acquire_recent_[h] = now;
    AcquireRequest copy = r;  // full ring: the control core is behind; the next acquire will do
    rte_ring_enqueue_elem(acquire_ring_, &copy, sizeof copy);
}

void Worker::request_resolve(uint16_t ifindex, const IpAddr& nh) noexcept {
    if (nh.is_v4()) {
        uint32_t be;
        std::memcpy(&be, nh.bytes.data(), 4);
        request_resolve4(ifindex, be);
    } else {
        request_resolve6(ifindex, nh.bytes.data());
    }
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
    else if (proto != 50)
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
void Worker::prefetch_inbound_sas(rte_mbuf** pkts, unsigned n) noexcept {
    uint32_t spis[kBurst];
    unsigned k = 0;
    for (unsigned i = 0; i < n && i < kBurst; ++i)
        if (peek_spi(pkts[i], spis[k])) ++k;
    if (k < 2) return;  // one SA: nothing to overlap
    const IpsecSa* sas[kBurst];
    tables_.inbound_sas(spis, k, sas);
    for (unsigned i = 0; i < k; ++i)
        if (sas[i])
            for (unsigned off = 0; off < sizeof(IpsecSa); off += RTE_CACHE_LINE_SIZE)
                rte_prefetch0(reinterpret_cast<const uint8_t*>(sas[i]) + off);
    for (unsigned i = 0; i < k; ++i) {
        if (!sas[i]) continue;
        rte_prefetch0(&sa_counters_[sas[i]->counter % kMaxSas]);
        sas[i]->crypto->prefetch();
    }
}

void Worker::process_rx(unsigned port_index, rte_mbuf** pkts, unsigned n) noexcept {
    const uint16_t port_id = cfg_.ports[port_index].port_id;
    if (tables_.any_inbound_sa()) prefetch_inbound_sas(pkts, n);
    constexpr unsigned kPrefetchAhead = 4;
    for (unsigned i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (unsigned i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
        eth_input(*this, port_id, pkts[i]);
    }
    run_esp();
    if (death_row_.cnt) rte_ip_frag_free_death_row(&death_row_, 0);  // fragments the reassembly gave up on
}

unsigned Worker::poll_once() noexcept {
    rte_mbuf* pkts[kBurst];
    unsigned total = 0;
    drain_handoff();
    for (unsigned i = 0; i < cfg_.nb_ports; ++i) {
        const WorkerPort& p = cfg_.ports[i];
        uint16_t n = rte_eth_rx_burst(p.port_id, p.queue, pkts, kBurst);
        if (n) {
            process_rx(i, pkts, n);
            total += n;
        }
        if (p.twin_port_id != kNoPort) {
            uint16_t k = rte_eth_rx_burst(p.twin_port_id, p.queue, pkts, kBurst);
            for (uint16_t j = 0; j < k; ++j) local_output(*this, p.port_id, pkts[j]);
            total += k;
        }
    }
    run_esp();
    if (death_row_.cnt) rte_ip_frag_free_death_row(&death_row_, 3);
    flush();
    return total;
}

void Worker::run(const std::atomic<bool>& running) noexcept {
    rte_rcu_qsbr* q = tables_.qsbr();
    rte_rcu_qsbr_thread_register(q, cfg_.id);
    rte_rcu_qsbr_thread_online(q, cfg_.id);
    while (running.load(std::memory_order_relaxed)) {
        uint64_t t0 = rte_rdtsc();
        unsigned n = poll_once();
        ++counters_.loops;
        if (n) {
            counters_.busy_cycles += rte_rdtsc() - t0;
            counters_.packets += n;
        }
        rte_rcu_qsbr_quiescent(q, cfg_.id);
    }
    rte_rcu_qsbr_thread_offline(q, cfg_.id);
    rte_rcu_qsbr_thread_unregister(q, cfg_.id);
}

}  // namespace rampart
