#include "bench/report.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bench/esp_profiles.hpp"

namespace rampart::bench {

namespace {

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", unsigned(c));
                else out += c;
        }
    }
    return out + "\"";
}

// JSON has no NaN or infinity; results never produce them, but keep the output valid regardless.
std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

std::string ratio_cell(const ProfileResult& r, const ReferenceResult* ref) {
    if (!ref || !ref->ok || ref->mpps <= 0) return "-";
    return fmt::format("{:.3f}", r.mpps() / ref->mpps);
}

bool inline_generator(const ProfileResult& r) {
    return r.generator_placement == GeneratorPlacement::inline_with_worker;
}

// With the inline generator the time outside poll_once() is the generator's, not idleness.
std::string idle_cell(const ProfileResult& r) {
    return inline_generator(r) ? "-" : fmt::format("{:.1f}", 100 * r.worker.idle_fraction());
}

std::string mpps_cell(const ReferenceResult* ref) { return ref && ref->ok ? fmt::format("{:.2f}", ref->mpps) : "-"; }

const ReferenceResult* find_reference(const std::vector<ReferenceResult>& refs, std::string_view name) {
    for (const ReferenceResult& r : refs)
        if (r.name == name) return &r;
    return nullptr;
}

// The crypto-perf result measured for this profile, if it is an ESP profile.
const CryptoPerfResult* find_crypto(const std::vector<CryptoPerfResult>& crypto, const ProfileResult& r) {
    const CryptoPerfKey key = crypto_perf_key(r.profile->esp);
    if (key.transform == EspTransform::none) return nullptr;
    for (const CryptoPerfResult& c : crypto)
        if (c.key == key) return &c;
    return nullptr;
}

// Clear bytes (the profile's frame size, FCS included) per second, in Gbit/s.
double clear_gbps(const ProfileResult& r) { return r.mpps() * 1e6 * r.setup.frame_size * 8 / 1e9; }

size_t name_width(const std::vector<ProfileResult>& results) {
    size_t w = 14;
    for (const ProfileResult& r : results) w = std::max(w, r.profile->name.size());
    return w;
}

void print_crypto_table(std::FILE* out, const std::vector<ProfileResult>& results,
                        const std::vector<CryptoPerfResult>& crypto) {
    const size_t w = name_width(results);
    bool any = false;
    for (const ProfileResult& r : results) any = any || r.profile->esp.transform != EspTransform::none;
    if (!any) return;
    fmt::print(out, "\nESP against the crypto engine's raw limit (dpdk-test-crypto-perf, crypto_aesni_mb, 1 lcore, burst 32, best of 2 runs):\n");
    fmt::print(out, "{:<{}} {:>5} {:>6} {:>8} {:>8} {:>10} {:>9} {:>9} {:>10} {:>9} {:>10}\n", "profile", w, "clear", "esp-buf",
               "Mpps", "Gbps", "cycles/pkt", "ref Mops", "ref Gbps", "ops ratio", "Gbps ratio", "ref cyc/op");
    for (const ProfileResult& r : results) {
        if (r.profile->esp.transform == EspTransform::none) continue;
        const unsigned buffer = esp_sizes(r.profile->esp.transform, r.profile->esp.frame_size).encrypted;
        if (!r.ok) {
            fmt::print(out, "{:<{}} FAILED (see above)\n", r.profile->name, w);
            continue;
        }
        const CryptoPerfResult* c = find_crypto(crypto, r);
        const bool ref = c && c->ok;
        fmt::print(out, "{:<{}} {:>4}B {:>5}B {:>8.3f} {:>8.2f} {:>10.1f} {:>9} {:>9} {:>10} {:>9} {:>10}\n",
                   r.profile->name, w, r.setup.frame_size, buffer, r.mpps(), clear_gbps(r), r.worker.cycles_per_packet(),
                   ref ? fmt::format("{:.3f}", c->mops) : "-", ref ? fmt::format("{:.2f}", c->gbps) : "-",
                   ref ? fmt::format("{:.3f}", r.mpps() / c->mops) : "-",
                   ref ? fmt::format("{:.3f}", clear_gbps(r) / c->gbps) : "-",
                   ref ? fmt::format("{:.0f}", c->cycles_per_op) : "-");
    }
    fmt::print(out,
               "\n  Mpps / Gbps: packets one worker encrypted or decrypted and forwarded per second; Gbps counts the clear\n"
               "  frames (FCS included). esp-buf: bytes the cipher runs over per packet (inner packet + ESP trailer),\n"
               "  crypto-perf's --buffer-sz. ops ratio = Mpps / ref Mops: like for like (one op per packet), the one to\n"
               "  judge at 64 bytes. Gbps ratio = clear Gbps / ref Gbps: clear frame bytes against the reference's\n"
               "  buffer bytes, so it exceeds the ops ratio by clear/esp-buf (x1.33 at 64, x1.01 at 1420 bytes).\n"
               "  The reference does the cipher and ICV work only (no ESP headers, SPD/SAD, replay, forwarding, rings);\n"
               "  its HMAC covers esp-buf bytes where ESP's also covers the 8-byte header, 16-byte IV and 4-byte ESN.\n");
    bool header = false;
    for (const CryptoPerfResult& c : crypto) {
        if (!header) fmt::print(out, "\n  crypto-perf runs:\n");
        header = true;
        if (c.ok) fmt::print(out, "    {}: {:.3f} Mops, {:.2f} Gbps, {:.0f} cycles/op\n", c.what, c.mops, c.gbps, c.cycles_per_op);
        else fmt::print(out, "    {} {} {} bytes: FAILED: {}\n", c.key.transform == EspTransform::gcm128 ? "aes-gcm-128" : "aes-cbc-128+hmac-sha-256",
                        c.key.decrypt ? "decrypt" : "encrypt", c.key.buffer_bytes, c.error);
        for (const std::string& cmd : c.commands) fmt::print(out, "      {}\n", cmd);
    }
}

}  // namespace

void print_report(std::FILE* out, const RunInfo& run, const std::vector<ProfileResult>& results,
                  const std::vector<ReferenceResult>& references, const std::vector<CryptoPerfResult>& crypto) {
    const size_t w = name_width(results);
    const RunSettings& s = run.settings;
    if (s.generator == GeneratorPlacement::main_lcore)
        fmt::print(out, "\nrampart-bench: Worker::run() on lcore {} (cpu {}), traffic generator on the main lcore (cpu {}), "
                        "TSC {:.0f} MHz\n",
                   run.worker_lcore, run.worker_cpu, run.main_cpu, double(run.tsc_hz) / 1e6);
    else
        fmt::print(out, "\nrampart-bench: Worker::poll_once() and an inline traffic generator on lcore {} (cpu {}), "
                        "TSC {:.0f} MHz;\nMpps = TSC Hz / cycles per packet of poll_once() alone: frames arrive hot in "
                        "the worker's cache (best case)\n",
                   run.worker_lcore, run.worker_cpu, double(run.tsc_hz) / 1e6);
    fmt::print(out, "{:.1f} s measured per profile after {:.1f} s warm-up; {} frames in flight over net_ring ports; seed {}{}\n\n",
               s.duration_s, s.warmup_s, s.frames_in_flight, s.seed,
               s.realtime ? fmt::format("; SCHED_FIFO while measuring (RT throttling leaves others {:.0f}% of each period)",
                                        100 * s.rt_throttle_share)
                          : "");

    const ReferenceResult* null_ref = find_reference(references, "null");
    const ReferenceResult* ring_ref = find_reference(references, "ring");
    fmt::print(out, "{:<{}} {:>5} {:>6} {:>8} {:>9} {:>10} {:>6} {:>9} {:>9} {:>13} {:>6} {:>13} {:>6}\n", "profile", w,
               "frame", "flows", "routes", "Mpps", "cycles/pkt", "idle%", "pkts/loop", "c2c ns", "testpmd-null", "ratio",
               "testpmd-ring", "ratio");
    for (const ProfileResult& r : results) {
        if (!r.ok) {
            fmt::print(out, "{:<{}} FAILED: {}\n", r.profile->name, w, r.error);
            continue;
        }
        const WorkerMeasurement& m = r.worker;
        fmt::print(out, "{:<{}} {:>4}B {:>6} {:>8} {:>9.3f} {:>10.1f} {:>6} {:>9.1f} {:>9} {:>13} {:>6} {:>13} {:>6}\n",
                   r.profile->name, w, r.setup.frame_size, r.flows, r.setup.routes, r.mpps(), m.cycles_per_packet(),
                   idle_cell(r), m.packets_per_loop(),
                   fmt::format("{:.0f}/{:.0f}", r.round_trip_ns_before, r.round_trip_ns_after), mpps_cell(null_ref),
                   ratio_cell(r, null_ref), mpps_cell(ring_ref), ratio_cell(r, ring_ref));
    }
    fmt::print(out, "\n  Mpps: frames forwarded per second by one worker. cycles/pkt: TSC cycles of polls that received\n"
                    "  frames per frame received (as `show workers`). idle%: share of the window the worker found its rx\n"
                    "  ring empty (or, with --realtime, was throttled); above 1 % more than throttling explains, the\n"
                    "  generator, not the worker, set the rate. pkts/loop: frames per worker loop (a full rx burst is\n"
                    "  {}). c2c ns: cache-line round trip between the generator's and the worker's cpus before/after\n"
                    "  the window; every frame crosses twice, so a VM that moves its vCPUs apart slows the run.\n"
                    "  ratio: Mpps / testpmd Mpps.\n", kBurst);

    if (!references.empty()) {
        fmt::print(out, "\nreference: dpdk-testpmd io forwarding, one forwarding lcore, same cpus, run after the profiles\n");
        for (const ReferenceResult& ref : references) {
            if (ref.ok)
                fmt::print(out, "  {:<5} {:>8.2f} Mpps {:>7.1f} cycles/pkt  (mean of {} stats prints)  {}{}\n", ref.name, ref.mpps,
                           ref.cycles_per_packet, ref.samples, ref.what, ref.error.empty() ? "" : "; " + ref.error);
            else
                fmt::print(out, "  {:<5} FAILED: {}\n", ref.name, ref.error);
        }
    } else if (!run.reference_requested) {
        fmt::print(out, "\nreference: skipped (--no-reference)\n");
    }

    print_crypto_table(out, results, crypto);

    bool header = false;
    for (const ProfileResult& r : results) {
        std::vector<std::string> lines = r.setup.notes;
        for (const std::string& w : r.warnings) lines.push_back("WARNING: " + w);
        for (const std::string& l : lines) {
            if (!header) fmt::print(out, "\nnotes:\n");
            header = true;
            fmt::print(out, "  {}: {}\n", r.profile->name, l);
        }
    }
    fmt::print(out, "\n");
}

std::string json_line(const RunInfo& run, const ProfileResult& r, const std::vector<ReferenceResult>& references,
                      const std::vector<CryptoPerfResult>& crypto) {
    const WorkerMeasurement& m = r.worker;
    std::string j = fmt::format("{{\"profile\":{},\"ok\":{}", json_string(r.profile->name), r.ok ? "true" : "false");
    if (!r.ok) return j + fmt::format(",\"error\":{}}}", json_string(r.error));
    j += fmt::format(",\"mpps\":{},\"wall_mpps\":{},\"cycles_per_packet\":{},\"worker_idle_pct\":{},"
                     "\"packets_per_loop\":{},\"generator\":{}",
                     json_number(r.mpps()), json_number(m.wall_mpps()), json_number(m.cycles_per_packet()),
                     inline_generator(r) ? "null" : json_number(100 * m.idle_fraction()),
                     json_number(m.packets_per_loop()), inline_generator(r) ? "\"inline\"" : "\"main-lcore\"");
    j += fmt::format(",\"generator_bound\":{},\"worker_bound_mpps\":{},\"preemptions\":{}",
                     r.generator_bound ? "true" : "false", json_number(m.worker_bound_mpps()), r.preemptions);
    j += fmt::format(",\"seconds\":{},\"received\":{},\"forwarded\":{},\"dropped\":{}", json_number(m.seconds),
                     m.received, m.forwarded, m.dropped);
    j += fmt::format(",\"generator_polls\":{},\"generator_empty_polls\":{}", r.generator.polls,
                     r.generator.empty_polls);
    j += fmt::format(",\"core_round_trip_ns\":[{},{}]", json_number(r.round_trip_ns_before),
                     json_number(r.round_trip_ns_after));
    j += fmt::format(",\"frame_bytes\":{},\"flows\":{},\"routes\":{},\"frames_in_flight\":{}", r.setup.frame_size,
                     r.flows, r.setup.routes, r.frames_in_flight);
    j += fmt::format(",\"tsc_mhz\":{},\"worker_cpu\":{},\"generator_cpu\":{},\"seed\":{},\"realtime\":{}",
                     json_number(double(run.tsc_hz) / 1e6), run.worker_cpu, run.main_cpu, run.settings.seed,
                     run.settings.realtime ? "true" : "false");
    j += ",\"setup\":{";
    for (size_t i = 0; i < r.setup.metrics.size(); ++i)
        j += fmt::format("{}{}:{}", i ? "," : "", json_string(r.setup.metrics[i].first),
                         json_number(r.setup.metrics[i].second));
    j += "},\"reference\":{";
    bool first = true;
    for (const ReferenceResult& ref : references) {
        j += fmt::format("{}{}:", first ? "" : ",", json_string(ref.name));
        first = false;
        if (!ref.ok) {
            j += fmt::format("{{\"ok\":false,\"error\":{}}}", json_string(ref.error));
            continue;
        }
        j += fmt::format("{{\"ok\":true,\"mpps\":{},\"cycles_per_packet\":{},\"ratio\":{}}}", json_number(ref.mpps),
                         json_number(ref.cycles_per_packet), json_number(ref.mpps > 0 ? r.mpps() / ref.mpps : 0));
    }
    j += "}";
    if (r.profile->esp.transform != EspTransform::none) {
        const unsigned buffer = esp_sizes(r.profile->esp.transform, r.profile->esp.frame_size).encrypted;
        j += fmt::format(",\"esp\":{{\"clear_gbps\":{},\"esp_buffer_bytes\":{}", json_number(clear_gbps(r)), buffer);
        const CryptoPerfResult* c = find_crypto(crypto, r);
        if (c && c->ok)
            j += fmt::format(",\"crypto_perf\":{{\"ok\":true,\"mops\":{},\"gbps\":{},\"cycles_per_op\":{},\"what\":{}}},"
                             "\"ops_ratio\":{},\"gbps_ratio\":{}",
                             json_number(c->mops), json_number(c->gbps), json_number(c->cycles_per_op), json_string(c->what),
                             json_number(r.mpps() / c->mops), json_number(clear_gbps(r) / c->gbps));
        else if (c)
            j += fmt::format(",\"crypto_perf\":{{\"ok\":false,\"error\":{}}}", json_string(c->error));
        j += "}";
    }
    j += ",\"warnings\":[";
    for (size_t i = 0; i < r.warnings.size(); ++i) {
        if (i) j += ',';
        j += json_string(r.warnings[i]);
    }
    return j + "]}";
}

}  // namespace rampart::bench
