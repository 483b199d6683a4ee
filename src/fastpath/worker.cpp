#include "fastpath/worker.hpp"

#include "fastpath/hash.hpp"

#include "crypto/ipsec_stages.hpp"

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

rte_ring* make_worker_ring(const char* prefix, unsigned id, unsigned elem_size, unsigned count, unsigned flags,
                           const char* what) {
    const std::string name = prefix + std::to_string(id);
    rte_ring* r = rte_ring_lookup(name.c_str());
    if (!r) r = rte_ring_create_elem(name.c_str(), elem_size, count, SOCKET_ID_ANY, flags);
    if (!r) throw std::runtime_error(std::string("cannot create the ") + what + " ring");
    return r;
}

Worker::Worker(const WorkerConfig& cfg)
    : cfg_(cfg), tables_(*cfg.tables), ipsec_(cfg.id, rte_get_tsc_hz()) {
    constexpr unsigned kSingle = RING_F_SP_ENQ | RING_F_SC_DEQ;
    demux_.fill();
    resolve_ring_ = make_worker_ring("rp_resolve", cfg.id, sizeof(ResolveRequest), 1024, kSingle, "neighbour resolution");
    tx_queue_.fill(0);
    for (unsigned i = 0; i < cfg_.nb_ports; ++i) {
        const WorkerPort& p = cfg_.ports[i];
        if (p.port_id < kMaxPorts) tx_queue_[p.port_id] = p.queue;
        if (p.twin_port_id < kMaxPorts) tx_queue_[p.twin_port_id] = p.queue;
    }
    tsc_hz_ = double(rte_get_tsc_hz());
    label_counters_ = std::make_unique<LabelCounter[]>(kMaxIlmEntries);
    tables_.register_handoff(cfg.id, ipsec_.handoff_ring);
}

Worker::~Worker() {
    flush();
    // Nobody hands over to us any more; the context frees what its ring still holds.
    tables_.register_handoff(cfg_.id, nullptr);
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

void Worker::request_resolve(uint16_t ifindex, const IpAddr& nh) noexcept {
    if (nh.is_v4()) {
        uint32_t be;
        std::memcpy(&be, nh.bytes.data(), 4);
        request_resolve4(ifindex, be);
    } else {
        request_resolve6(ifindex, nh.bytes.data());
    }
}

void Worker::process_rx(unsigned port_index, rte_mbuf** pkts, unsigned n) noexcept {
    const uint16_t port_id = cfg_.ports[port_index].port_id;
    if (tables_.any_inbound_sa()) ipsec_prefetch_inbound(*this, pkts, n);
    constexpr unsigned kPrefetchAhead = 4;
    for (unsigned i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (unsigned i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
        eth_input(*this, port_id, pkts[i]);
    }
    if (ipsec_.pending_count) esp_run_pending(*this);
    if (ipsec_.death_row.cnt) esp_reassembly_free_expired(*this, 0);  // fragments the reassembly gave up on
}

unsigned Worker::poll_once() noexcept {
    rte_mbuf* pkts[kBurst];
    unsigned total = 0;
    ipsec_drain_handoff(*this);
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
    if (ipsec_.pending_count) esp_run_pending(*this);
    if (ipsec_.death_row.cnt) esp_reassembly_free_expired(*this, 3);
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
