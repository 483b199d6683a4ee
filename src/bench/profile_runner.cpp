#include "bench/profile_runner.hpp"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <span>
#include <stdexcept>

#include <fmt/format.h>

#include "bench/core_latency.hpp"
#include "bench/realtime.hpp"

namespace rampart::bench {

namespace {

// Above this idle share the worker spent a noticeable part of the window
// waiting for frames: the Mpps figure then measures the generator.
constexpr double kGeneratorBoundIdle = 0.01;
// A timer tick or two may preempt us on an idle machine; more means a competing process.
constexpr uint64_t kToleratedPreemptions = 10;

struct CounterSnapshot {
    uint64_t tsc = 0, loops = 0, received = 0, busy_cycles = 0, forwarded = 0;
    std::array<uint64_t, kNumDropReasons> drops{};
};

uint64_t involuntary_context_switches() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);  // all threads, the worker lcore's included
    return uint64_t(u.ru_nivcsw);
}

uint64_t load_relaxed(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

// Reads a running worker's counters as the control core does for `show
// workers`: plain per-worker values, never stopping the worker.
CounterSnapshot snapshot(const Worker& w) {
    CounterSnapshot s;
    const WorkerCounters& c = w.counters();
    s.tsc = rte_rdtsc();
    s.loops = load_relaxed(c.loops);
    s.received = load_relaxed(c.packets);
    s.busy_cycles = load_relaxed(c.busy_cycles);
    for (const InterfaceCounters& ic : c.iface) {
        s.forwarded += load_relaxed(ic.tx_packets);
        for (unsigned r = 0; r < kNumDropReasons; ++r) s.drops[r] += load_relaxed(ic.drops[r]);
    }
    return s;
}

std::string describe_drops(const std::vector<std::pair<std::string_view, uint64_t>>& drops) {
    std::string text;
    for (auto& [name, count] : drops) text += fmt::format("{}{} {}", text.empty() ? "" : ", ", name, count);
    return text.empty() ? "none counted" : text;
}

std::vector<std::pair<std::string_view, uint64_t>> drop_delta(const CounterSnapshot& a, const CounterSnapshot& b) {
    std::vector<std::pair<std::string_view, uint64_t>> out;
    for (unsigned r = 0; r < kNumDropReasons; ++r)
        if (b.drops[r] > a.drops[r]) out.emplace_back(kDropInfo[r].name, b.drops[r] - a.drops[r]);
    return out;
}

unsigned free_all(rte_ring* ring) {
    void* burst[64];
    unsigned total = 0;
    while (unsigned n = rte_ring_sc_dequeue_burst(ring, burst, 64, nullptr)) {
        for (unsigned i = 0; i < n; ++i) rte_pktmbuf_free(static_cast<rte_mbuf*>(burst[i]));
        total += n;
    }
    return total;
}

std::string hex_bytes(std::span<const uint8_t> bytes) {
    std::string text;
    for (size_t i = 0; i < bytes.size(); ++i) text += fmt::format("{}{:02x}", i && i % 4 == 0 ? " " : "", bytes[i]);
    return text;
}

// Empty when `got` is `want`, else what differs.
std::string frame_difference(std::span<const uint8_t> want, std::span<const uint8_t> got) {
    size_t at = 0;
    while (at < want.size() && at < got.size() && want[at] == got[at]) ++at;
    if (at == want.size() && at == got.size()) return {};
    std::string where = at < want.size() && at < got.size()
                            ? fmt::format("byte {} is {:02x}, expected {:02x}", at, got[at], want[at])
                            : fmt::format("{} bytes, expected {}", got.size(), want.size());
    return fmt::format("{}\n    expected {}\n    got      {}", where, hex_bytes(want), hex_bytes(got));
}

// Offers every template once, driving the worker from this lcore, and requires
// each frame to leave through the egress port: a profile whose frames were
// dropped or punted would otherwise benchmark the drop path. When the profile
// says what each frame must look like on the way out (labels swapped, pushed
// or popped, MACs and TTLs rewritten), every frame is compared byte for byte.
void check_every_frame_forwarded(BenchRouter& router, RingTopology& topology, const FrameTemplates& frames,
                                 rte_mempool* pool) {
    constexpr unsigned kBatch = 1024;
    const RingPort& ingress = topology.wire(plan::kIngressPort);
    const RingPort& egress = topology.wire(plan::kEgressPort);
    const CounterSnapshot before = snapshot(router.worker());
    size_t forwarded = 0, elsewhere = 0, compared = 0, mismatched = 0;
    std::string first_mismatch;
    rte_mbuf* batch[kBatch];
    for (size_t first = 0; first < frames.size(); first += kBatch) {
        const unsigned n = unsigned(std::min<size_t>(kBatch, frames.size() - first));
        if (rte_pktmbuf_alloc_bulk(pool, batch, n) != 0) throw std::runtime_error("mbuf pool empty while checking frames");
        for (unsigned i = 0; i < n; ++i) {
            char* data = rte_pktmbuf_append(batch[i], frames.length(first + i));
            std::memcpy(data, frames.bytes(first + i), frames.length(first + i));
        }
        rte_ring_sp_enqueue_bulk(ingress.rx, reinterpret_cast<void**>(batch), n, nullptr);
        while (router.worker().poll_once() != 0) {
        }
        // One worker, one egress port: frames leave in the order they arrived.
        const unsigned out = rte_ring_sc_dequeue_burst(egress.tx, reinterpret_cast<void**>(batch), kBatch, nullptr);
        forwarded += out + free_all(egress.tx);
        if ((frames.has_expected_outputs() || frames.output_check()) && out == n) {
            for (unsigned i = 0; i < n; ++i) {
                rte_mbuf* m = batch[i];
                std::vector<uint8_t> got(m->pkt_len);
                std::span<const uint8_t> bytes(
                    static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, m->pkt_len, got.data())), m->pkt_len);
                std::string diff = frames.has_expected_outputs()
                                       ? frame_difference(frames.expected_output(first + i), bytes)
                                       : frames.output_check()(first + i, bytes);
                ++compared;
                if (!diff.empty() && mismatched++ == 0)
                    first_mismatch = fmt::format("template frame {}: {}\n    sent     {}", first + i, diff,
                                                 hex_bytes({frames.bytes(first + i), frames.length(first + i)}));
            }
        }
        for (unsigned i = 0; i < out; ++i) rte_pktmbuf_free(batch[i]);
        for (rte_ring* r : topology.side_outputs()) elsewhere += free_all(r);
    }
    if (forwarded != frames.size()) {
        auto drops = drop_delta(before, snapshot(router.worker()));
        throw std::runtime_error(fmt::format(
            "{} of {} template frames were not forwarded out of port{} ({} left through another port or the "
            "exception path; drops: {})",
            frames.size() - forwarded, frames.size(), plan::kEgressPort, elsewhere, describe_drops(drops)));
    }
    if (mismatched)
        throw std::runtime_error(fmt::format("{} of {} frames forwarded out of port{} differ from what the profile "
                                             "expects; the first one, {}",
                                             mismatched, compared, plan::kEgressPort, first_mismatch));
}

struct WorkerLaunch {
    Worker* worker;
    const std::atomic<bool>* running;
    bool realtime;
    std::string realtime_error;  // written by the worker lcore, read after rte_eal_wait_lcore
};

int worker_lcore_main(void* arg) {
    auto* launch = static_cast<WorkerLaunch*>(arg);
    ScopedRealtime realtime(launch->realtime);
    launch->realtime_error = realtime.error();
    launch->worker->run(*launch->running);  // the loop rampartd's workers run, RCU quiescence included
    return 0;
}

struct InlineLaunch {
    WorkerLaunch worker;
    TrafficGenerator* generator;
};

// Worker::run() with a refill before each poll, kept outside the timed part
// and the counters exactly as run() keeps them.
int inline_lcore_main(void* arg) {
    auto* launch = static_cast<InlineLaunch*>(arg);
    ScopedRealtime realtime(launch->worker.realtime);
    launch->worker.realtime_error = realtime.error();
    Worker& w = *launch->worker.worker;
    WorkerCounters& c = w.counters_mut();
    rte_rcu_qsbr* q = w.tables_.qsbr();
    rte_rcu_qsbr_thread_register(q, w.id());
    rte_rcu_qsbr_thread_online(q, w.id());
    while (launch->worker.running->load(std::memory_order_relaxed)) {
        launch->generator->recycle_burst();
        uint64_t t0 = rte_rdtsc();
        unsigned n = w.poll_once();
        ++c.loops;
        if (n) {
            c.busy_cycles += rte_rdtsc() - t0;
            c.packets += n;
        }
        rte_rcu_qsbr_quiescent(q, w.id());
    }
    rte_rcu_qsbr_thread_offline(q, w.id());
    rte_rcu_qsbr_thread_unregister(q, w.id());
    return 0;
}

GeneratorCounters load_counters(const GeneratorCounters& g) {
    return {load_relaxed(g.recycled), load_relaxed(g.polls), load_relaxed(g.empty_polls)};
}

// Busy-polls the generator (it runs here) or, with the inline generator, sleeps until `tsc`.
void wait_until(uint64_t tsc, TrafficGenerator& generator, bool generator_here) {
    if (generator_here) {
        while (rte_rdtsc() < tsc) generator.recycle_burst();
        return;
    }
    const uint64_t us = rte_get_tsc_hz() / 1000000;
    for (uint64_t now = rte_rdtsc(); now < tsc; now = rte_rdtsc())
        rte_delay_us_sleep(unsigned(std::min<uint64_t>((tsc - now) / us + 1, 10000)));
}

// What the main lcore records around the measured window.
struct Window {
    CounterSnapshot start, end;
    GeneratorCounters generator_start, generator_end;
    uint64_t preemptions_start = 0, preemptions_end = 0;
    std::vector<std::string> realtime_errors;
};

// Runs the worker on its lcore and the generator here: warm-up, then the
// measured window between two counter snapshots. Nothing in here throws once
// the worker is launched: it must be stopped before the router goes away.
Window run_window(Worker& worker, TrafficGenerator& generator, const RunSettings& settings) {
    Window w;
    std::atomic<bool> running{true};
    const bool generator_here = settings.generator == GeneratorPlacement::main_lcore;
    InlineLaunch launch{{&worker, &running, settings.realtime, {}}, &generator};
    // The main lcore spins only when it generates; otherwise it sleeps.
    ScopedRealtime generator_realtime(settings.realtime && generator_here);
    if (!generator_realtime.error().empty())
        w.realtime_errors.push_back("cannot run the generator under SCHED_FIFO: " + generator_realtime.error());
    int rc = generator_here ? rte_eal_remote_launch(worker_lcore_main, &launch.worker, settings.worker_lcore)
                            : rte_eal_remote_launch(inline_lcore_main, &launch, settings.worker_lcore);
    if (rc != 0) throw std::runtime_error(fmt::format("cannot launch the worker on lcore {}", settings.worker_lcore));

    const uint64_t hz = rte_get_tsc_hz();
    wait_until(rte_rdtsc() + uint64_t(settings.warmup_s * double(hz)), generator, generator_here);
    w.preemptions_start = involuntary_context_switches();
    w.start = snapshot(worker);
    w.generator_start = load_counters(generator.counters());
    wait_until(w.start.tsc + uint64_t(settings.duration_s * double(hz)), generator, generator_here);
    w.end = snapshot(worker);
    w.generator_end = load_counters(generator.counters());
    w.preemptions_end = involuntary_context_switches();
    running.store(false, std::memory_order_relaxed);
    rte_eal_wait_lcore(settings.worker_lcore);
    if (!launch.worker.realtime_error.empty())
        w.realtime_errors.push_back("cannot run the worker under SCHED_FIFO: " + launch.worker.realtime_error);
    return w;
}

void measure(const Profile& profile, RingTopology& topology, rte_mempool* pool, const RunSettings& settings,
             ProfileResult& result) {
    std::mt19937_64 rng(settings.seed);
    BenchRouter router(topology, profile.table_sizes, pool, settings.worker_lcore, profile.roles);
    FrameTemplates frames = profile.prepare(router, rng, result.setup);
    result.flows = frames.size();
    // EAL memory the profile's tables (one FIB pair per VRF), rings and pool
    // hold: what -m (BENCH_MEMORY_MB) must cover.
    rte_malloc_socket_stats heap{};
    if (rte_malloc_get_socket_stats(int(rte_socket_id()), &heap) == 0)
        result.setup.metrics.emplace_back("eal_memory_in_use_mb", double(heap.heap_allocsz_bytes) / (1 << 20));
    check_every_frame_forwarded(router, topology, frames, pool);

    result.round_trip_ns_before = core_round_trip_ns(settings.worker_lcore);
    const unsigned mbufs_free_before = rte_mempool_avail_count(pool);
    TrafficGenerator generator(frames, pool, topology.wire(plan::kIngressPort).rx, topology.wire(plan::kEgressPort).tx);
    generator.prime(settings.frames_in_flight);
    result.frames_in_flight = settings.frames_in_flight;
    result.generator_placement = settings.generator;

    const Window w = run_window(router.worker(), generator, settings);
    result.round_trip_ns_after = core_round_trip_ns(settings.worker_lcore);
    for (const std::string& e : w.realtime_errors) result.warnings.push_back(e);
    const CounterSnapshot& start = w.start;
    const CounterSnapshot& end = w.end;
    const uint64_t hz = rte_get_tsc_hz();

    WorkerMeasurement& m = result.worker;
    m.tsc_hz = hz;
    m.elapsed_cycles = end.tsc - start.tsc;
    m.seconds = double(m.elapsed_cycles) / double(hz);
    m.busy_cycles = end.busy_cycles - start.busy_cycles;
    m.loops = end.loops - start.loops;
    m.received = end.received - start.received;
    m.forwarded = end.forwarded - start.forwarded;
    m.drops_by_reason = drop_delta(start, end);
    for (auto& [name, count] : m.drops_by_reason) m.dropped += count;
    result.generator.recycled = w.generator_end.recycled - w.generator_start.recycled;
    result.generator.polls = w.generator_end.polls - w.generator_start.polls;
    result.generator.empty_polls = w.generator_end.empty_polls - w.generator_start.empty_polls;

    result.preemptions = w.preemptions_end - w.preemptions_start;
    // Under SCHED_FIFO only RT throttling switches us out, and that is accounted for below.
    const bool preempted = !settings.realtime && result.preemptions > kToleratedPreemptions;
    if (preempted)
        result.warnings.push_back(fmt::format(
            "{} involuntary context switches during the window: other processes shared the cores, so these "
            "numbers understate the worker (run on an otherwise idle machine)",
            result.preemptions));
    // RT throttling stops the worker for its share of every period; those
    // cycles look idle but say nothing about the generator.
    const double expected_idle = settings.realtime ? settings.rt_throttle_share : 0;
    result.generator_bound = settings.generator == GeneratorPlacement::main_lcore &&
                             m.idle_fraction() > expected_idle + kGeneratorBoundIdle;
    if (result.generator_bound)
        result.warnings.push_back(fmt::format(
            "worker idle {:.1f}% of the window{}: the generator on the main lcore did not keep its rx ring full{}, so "
            "{:.2f} Mpps is the generator's rate; the worker alone would reach about {:.2f} Mpps at {:.1f} cycles/packet",
            100 * m.idle_fraction(),
            expected_idle > 0 ? fmt::format(" ({:.1f}% expected from RT throttling)", 100 * expected_idle) : "",
            preempted ? " (or was preempted: see above; --realtime prevents that)" : "",
            m.wall_mpps(), m.worker_bound_mpps(), m.cycles_per_packet()));
    if (m.dropped && profile.esp.transform != EspTransform::none)
        throw std::runtime_error(fmt::format(
            "the worker dropped {} of {} ESP-profile packets while measuring ({}): a replayed or mis-sealed frame "
            "is not work, so this profile has no result",
            m.dropped, m.received, describe_drops(m.drops_by_reason)));
    if (m.dropped)
        result.warnings.push_back(
            fmt::format("worker dropped {} packets ({})", m.dropped, describe_drops(m.drops_by_reason)));
    // The two snapshots can each catch the worker between counting a frame as
    // transmitted and counting its burst as received: allow a burst per port.
    constexpr uint64_t kSnapshotSkew = 2 * kBurst * RingTopology::kPorts;
    if (m.forwarded + m.dropped + kSnapshotSkew < m.received)
        result.warnings.push_back(fmt::format("{} received packets were neither forwarded nor dropped (punted?)",
                                              m.received - m.forwarded - m.dropped));

    unsigned side = 0;
    for (rte_ring* r : topology.side_outputs()) side += rte_ring_count(r);
    if (side) result.warnings.push_back(fmt::format("{} frames left through a port other than the egress port", side));
    topology.drain_all();
    const unsigned mbufs_free_after = rte_mempool_avail_count(pool);
    if (mbufs_free_after != mbufs_free_before)
        result.warnings.push_back(fmt::format("{} mbufs did not come back to the pool after the run",
                                              int(mbufs_free_before) - int(mbufs_free_after)));
}

}  // namespace

ProfileResult run_profile(const Profile& profile, RingTopology& topology, rte_mempool* pool,
                          const RunSettings& settings) {
    ProfileResult result;
    result.profile = &profile;
    try {
        measure(profile, topology, pool, settings, result);
        result.ok = true;
    } catch (const std::exception& e) {
        result.error = e.what();
    }
    topology.drain_all();
    return result;
}

}  // namespace rampart::bench
