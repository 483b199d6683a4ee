// rampart-bench: forwarding throughput of the real worker code, in process.
//
//   rampart-bench [EAL options --] [--profile NAME]... [--duration S] [--no-reference] [--json]
//                 [--generator main|inline] [--realtime]
//
// The main lcore generates traffic over ring ports, one worker lcore runs
// Worker::run() exactly as rampartd does; then dpdk-testpmd io forwarding on
// the same cpus gives a reference. Results are printed, never judged.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "bench/bench_router.hpp"
#include "bench/crypto_perf_reference.hpp"
#include "bench/profile_runner.hpp"
#include "bench/profiles.hpp"
#include "bench/realtime.hpp"
#include "bench/report.hpp"
#include "bench/testpmd_reference.hpp"
#include "common/log.hpp"
#include "fastpath/ports.hpp"

namespace po = boost::program_options;
using namespace rampart;
using namespace rampart::bench;

namespace {

// Enough for the 1M-route FIB (two DIR-24-8 copies of 64 MB tbl24 each, plus
// their RIBs), both IPv6 FIB copies and the packet pool, without hugepages or
// a NIC. Pages are only touched as tables use them.
const std::vector<std::string> kDefaultEalArgs = {"--no-huge", "--no-pci", "-m", "2048", "-l", "0-1",
                                                  "--log-level=error", "--no-telemetry"};
constexpr unsigned kPoolMbufs = 16383;  // rampartd's default
constexpr double kMaxDuration = 3600;

struct BenchOptions {
    RunSettings run;
    std::vector<std::string> profiles;
    bool list = false;
    bool no_reference = false;
    bool json = false;
    std::string json_file;
    std::string testpmd = "/usr/bin/dpdk-testpmd";
    std::string crypto_perf = "/usr/bin/dpdk-test-crypto-perf";
};

struct SplitArgs {
    std::vector<std::string> eal, bench;
};

// DPDK convention: EAL options, then "--", then the application's. Without
// "--" everything is ours and the EAL gets defaults that need no hugepages.
SplitArgs split_arguments(int argc, char** argv) {
    SplitArgs s;
    int dashdash = -1;
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]) == "--") {
            dashdash = i;
            break;
        }
    if (dashdash < 0) {
        s.eal = kDefaultEalArgs;
        for (int i = 1; i < argc; ++i) s.bench.emplace_back(argv[i]);
    } else {
        for (int i = 1; i < dashdash; ++i) s.eal.emplace_back(argv[i]);
        for (int i = dashdash + 1; i < argc; ++i) s.bench.emplace_back(argv[i]);
    }
    return s;
}

// Returns the --file-prefix the EAL will use, adding a per-process one when absent
// so that concurrent runs (and testpmd) never share runtime files.
std::string ensure_file_prefix(std::vector<std::string>& eal) {
    for (size_t i = 0; i < eal.size(); ++i) {
        if (eal[i] == "--file-prefix" && i + 1 < eal.size()) return eal[i + 1];
        if (eal[i].rfind("--file-prefix=", 0) == 0) return eal[i].substr(std::strlen("--file-prefix="));
    }
    std::string prefix = fmt::format("rampart-bench-{}", getpid());
    eal.push_back("--file-prefix");
    eal.push_back(prefix);
    return prefix;
}

std::string usage_text(const po::options_description& desc) {
    std::string text = "usage: rampart-bench [EAL options --] [options]\n\n"
                       "Forwarding throughput of the real worker code over in-process ring ports,\n"
                       "with dpdk-testpmd io forwarding as the reference. Without EAL options:\n  ";
    for (auto& a : kDefaultEalArgs) text += a + " ";
    text += "\n\n";
    std::ostringstream os;
    os << desc;
    text += os.str() + "\nprofiles:\n";
    for (const Profile& p : all_profiles()) text += fmt::format("  {:<28} {}\n", p.name, p.summary);
    return text;
}

// Returns false when the program should exit right away (help, list).
bool parse_options(const std::vector<std::string>& args, BenchOptions& opt) {
    std::string generator;
    po::options_description desc("options");
    desc.add_options()
        ("help,h", "show this help")
        ("list", "list the profiles and exit")
        ("profile", po::value<std::vector<std::string>>(&opt.profiles)->composing(),
         "profile to run (repeat or comma-separate); default: all")
        ("duration", po::value<double>(&opt.run.duration_s)->default_value(5), "measured seconds per profile and per reference")
        ("no-reference", po::bool_switch(&opt.no_reference), "skip the dpdk-testpmd and dpdk-test-crypto-perf reference runs")
        ("json", po::bool_switch(&opt.json), "JSON lines on stdout (one per profile); the table goes to stderr")
        ("json-file", po::value<std::string>(&opt.json_file), "also write the JSON lines to this file")
        ("testpmd", po::value<std::string>(&opt.testpmd)->default_value(opt.testpmd), "dpdk-testpmd binary")
        ("crypto-perf", po::value<std::string>(&opt.crypto_perf)->default_value(opt.crypto_perf),
         "dpdk-test-crypto-perf binary (the ESP profiles' reference)")
        ("seed", po::value<uint64_t>(&opt.run.seed)->default_value(1), "seed for generated routes and flows")
        ("generator", po::value<std::string>(&generator)->default_value("main"),
         "main: traffic from the main lcore, the worker runs Worker::run() (default); inline: the worker lcore "
         "refills its own rx ring and only poll_once() is timed (steady where cores are far apart)")
        ("realtime", po::bool_switch(&opt.run.realtime),
         "SCHED_FIFO for the generator, the worker and testpmd while they measure, so that other processes "
         "cannot preempt them (shared machines; needs root and kernel RT throttling)");
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    if (vm.count("help")) {
        std::cout << usage_text(desc);
        return false;
    }
    po::notify(vm);
    if (vm.count("list")) {
        for (const Profile& p : all_profiles()) fmt::print("{:<28} {}\n", p.name, p.summary);
        return false;
    }
    if (!(opt.run.duration_s > 0 && opt.run.duration_s <= kMaxDuration))
        throw std::invalid_argument(fmt::format("--duration must be in (0, {}] seconds", kMaxDuration));
    if (generator == "main") opt.run.generator = GeneratorPlacement::main_lcore;
    else if (generator == "inline") opt.run.generator = GeneratorPlacement::inline_with_worker;
    else throw std::invalid_argument(fmt::format("--generator must be main or inline, not '{}'", generator));
    if (opt.run.realtime) {
        std::optional<double> share = rt_throttle_share();
        if (!share)
            throw std::invalid_argument("--realtime refused: kernel RT throttling is off (sched_rt_runtime_us = -1), "
                                        "two spinning SCHED_FIFO threads would own both cores");
        opt.run.rt_throttle_share = *share;
    }
    return true;
}

std::vector<const Profile*> select_profiles(const std::vector<std::string>& names) {
    std::vector<const Profile*> out;
    if (names.empty()) {
        for (const Profile& p : all_profiles()) out.push_back(&p);
        return out;
    }
    for (const std::string& arg : names) {
        size_t start = 0;
        while (start <= arg.size()) {
            size_t comma = arg.find(',', start);
            std::string name = arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            start = comma == std::string::npos ? arg.size() + 1 : comma + 1;
            if (name.empty()) continue;
            const Profile* p = find_profile(name);
            if (!p) throw std::invalid_argument(fmt::format("unknown profile '{}' (see --list)", name));
            out.push_back(p);
        }
    }
    return out;
}

void init_eal(const std::vector<std::string>& eal_args) {
    std::vector<std::string> storage = {"rampart-bench"};
    storage.insert(storage.end(), eal_args.begin(), eal_args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    if (rte_eal_init(int(argv.size()), argv.data()) < 0)
        throw std::runtime_error(fmt::format("EAL initialisation failed: {}", rte_strerror(rte_errno)));
}

int run(int argc, char** argv) {
    SplitArgs args = split_arguments(argc, argv);
    BenchOptions opt;
    if (!parse_options(args.bench, opt)) return 0;
    const std::vector<const Profile*> profiles = select_profiles(opt.profiles);
    const std::string file_prefix = ensure_file_prefix(args.eal);

    // Configuring the benchmark router is not news; warnings still show.
    log::set_level(log::Level::warn);
    init_eal(args.eal);
    const unsigned worker_lcore = rte_get_next_lcore(-1, 1, 0);
    if (worker_lcore >= RTE_MAX_LCORE)
        throw std::runtime_error("no worker lcore: give the EAL two lcores, e.g. -l 0-1");
    opt.run.worker_lcore = worker_lcore;

    RunInfo info;
    info.main_cpu = rte_lcore_to_cpu_id(int(rte_get_main_lcore()));
    info.worker_cpu = rte_lcore_to_cpu_id(int(worker_lcore));
    info.worker_lcore = worker_lcore;
    info.tsc_hz = rte_get_tsc_hz();
    info.settings = opt.run;
    info.reference_requested = !opt.no_reference;

    std::vector<ProfileResult> results;
    {
        rte_mempool* pool = create_packet_pool("rp_bench_pool", kPoolMbufs, int(rte_socket_id()));
        {
            RingTopology topology(pool);
            for (const Profile* p : profiles) {
                fmt::print(stderr, "[{}] setting up and measuring {:.1f} s ...\n", p->name, opt.run.duration_s);
                results.push_back(run_profile(*p, topology, pool, opt.run));
                const ProfileResult& r = results.back();
                if (r.ok)
                    fmt::print(stderr, "[{}] {:.3f} Mpps, {:.1f} cycles/packet{}\n", p->name, r.mpps(),
                               r.worker.cycles_per_packet(),
                               opt.run.generator == GeneratorPlacement::main_lcore
                                   ? fmt::format(", worker idle {:.1f}%", 100 * r.worker.idle_fraction())
                                   : "");
                else
                    fmt::print(stderr, "[{}] FAILED: {}\n", p->name, r.error);
            }
        }
        rte_mempool_free(pool);
    }

    // After our worker has finished: testpmd needs both cores to itself.
    std::vector<ReferenceResult> references;
    if (!opt.no_reference) {
        TestpmdSettings ts;
        ts.path = opt.testpmd;
        ts.lcores = fmt::format("{},{}", info.main_cpu, info.worker_cpu);
        ts.main_lcore = std::to_string(info.main_cpu);
        ts.seconds = opt.run.duration_s;
        ts.realtime = opt.run.realtime;
        for (const ReferenceKind& kind : reference_kinds()) {
            fmt::print(stderr, "[testpmd {}] io forwarding on 2 x {} for {:.1f} s ...\n", kind.name, kind.driver,
                       opt.run.duration_s);
            references.push_back(run_testpmd_reference(kind, ts));
            const ReferenceResult& r = references.back();
            if (r.ok) fmt::print(stderr, "[testpmd {}] {:.2f} Mpps\n", kind.name, r.mpps);
            else fmt::print(stderr, "[testpmd {}] FAILED: {}\n  command: {}\n", kind.name, r.error, r.command);
        }
    }

    // The crypto engine's raw limit for each ESP profile that ran: one
    // dpdk-test-crypto-perf measurement per algorithm, direction and size.
    std::vector<CryptoPerfResult> crypto_refs;
    if (!opt.no_reference) {
        CryptoPerfSettings cs;
        cs.path = opt.crypto_perf;
        cs.lcores = fmt::format("{},{}", info.main_cpu, info.worker_cpu);
        cs.seconds = opt.run.duration_s;
        for (const ProfileResult& r : results) {
            const CryptoPerfKey key = crypto_perf_key(r.profile->esp);
            if (key.transform == EspTransform::none || !r.ok) continue;
            if (std::any_of(crypto_refs.begin(), crypto_refs.end(), [&](const CryptoPerfResult& c) { return c.key == key; }))
                continue;
            fmt::print(stderr, "[crypto-perf {}] crypto_aesni_mb, {} {}-byte buffers for about {:.1f} s ...\n",
                       r.profile->name, key.decrypt ? "decrypt" : "encrypt", key.buffer_bytes, opt.run.duration_s);
            crypto_refs.push_back(run_crypto_perf_reference(key, cs));
            const CryptoPerfResult& c = crypto_refs.back();
            if (c.ok) fmt::print(stderr, "[crypto-perf {}] {:.3f} Mops, {:.2f} Gbps\n", r.profile->name, c.mops, c.gbps);
            else fmt::print(stderr, "[crypto-perf {}] FAILED: {}\n", r.profile->name, c.error);
        }
    }

    print_report(opt.json ? stderr : stdout, info, results, references, crypto_refs);
    // SAV cost: a profile "<base>-sav-..." against "<base>" (SAV off) of the same run.
    for (const ProfileResult& r : results) {
        const std::string_view name = r.profile->name;
        const size_t at = name.find("-sav-");
        if (!r.ok || at == std::string_view::npos) continue;
        for (const ProfileResult& base : results) {
            if (!base.ok || base.profile->name != name.substr(0, at)) continue;
            const double c_sav = r.worker.cycles_per_packet(), c_off = base.worker.cycles_per_packet();
            fmt::print(opt.json ? stderr : stdout,
                       "SAV cost: {} {:.2f} Mpps, {:.1f} cycles/packet vs {} (SAV off) {:.2f} Mpps, {:.1f} "
                       "cycles/packet: {:+.1f} % cycles per packet, {:+.1f} % rate\n",
                       name, r.mpps(), c_sav, base.profile->name, base.mpps(), c_off,
                       c_off > 0 ? (c_sav / c_off - 1) * 100 : 0, base.mpps() > 0 ? (r.mpps() / base.mpps() - 1) * 100 : 0);
        }
    }
    std::FILE* json_file = nullptr;
    if (!opt.json_file.empty() && !(json_file = std::fopen(opt.json_file.c_str(), "w")))
        fmt::print(stderr, "cannot write {}: {}\n", opt.json_file, std::strerror(errno));
    for (const ProfileResult& r : results) {
        std::string line = json_line(info, r, references, crypto_refs);
        if (opt.json) fmt::print(stdout, "{}\n", line);
        if (json_file) fmt::print(json_file, "{}\n", line);
    }
    if (json_file) std::fclose(json_file);

    rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(eal_runtime_dir(file_prefix), ignored);
    for (const ProfileResult& r : results)
        if (!r.ok) return 1;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const po::error& e) {
        fmt::print(stderr, "rampart-bench: {} (see --help)\n", e.what());
        return 2;
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "rampart-bench: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "rampart-bench: {}\n", e.what());
        return 1;
    }
}
