#include "bench/testpmd_reference.hpp"
#include "bench/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "bench/realtime.hpp"


namespace rampart::bench {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// testpmd takes a second or two to start without hugepages; allow for a slow machine.
constexpr auto kStartTimeout = seconds(30);
// After SIGINT it prints its totals and closes the ports.
constexpr auto kStopTimeout = seconds(10);

// Pulls the number that follows `key` on `line`, if the line has the key.
std::optional<double> number_after(const std::string& line, std::string_view key) {
    size_t at = line.find(key);
    if (at == std::string::npos) return std::nullopt;
    const char* begin = line.c_str() + at + key.size();
    char* end = nullptr;
    double v = std::strtod(begin, &end);
    if (end == begin) return std::nullopt;
    return v;
}

// testpmd's periodic output: a "Port statistics" banner, then one
// "Rx-pps: N" line per port, the rate since the previous print measured with
// the TSC. Each banner closes the previous sample.
class StatsParser {
public:
    void feed(std::string_view text) {
        pending_ += text;
        size_t nl;
        while ((nl = pending_.find('\n')) != std::string::npos) {
            line(pending_.substr(0, nl));
            pending_.erase(0, nl + 1);
        }
    }
    void finish() {
        if (!pending_.empty()) line(pending_);
        pending_.clear();
        close_sample();
    }
    size_t samples_seen() const { return samples_.size() + (ports_in_sample_ ? 1 : 0); }
    // Packets per second summed over the ports, one value per print, the start-up print excluded.
    std::vector<double> steady_samples() const {
        return samples_.size() > 1 ? std::vector<double>(samples_.begin() + 1, samples_.end()) : std::vector<double>{};
    }
    std::optional<double> cycles_per_packet() const { return cycles_per_packet_; }
    const std::string& tail() const { return tail_; }

private:
    void line(const std::string& l) {
        tail_ = l.empty() ? tail_ : l;
        if (l.find("Port statistics") != std::string::npos) {
            close_sample();
        } else if (auto pps = number_after(l, "Rx-pps:")) {
            sample_ += *pps;
            ++ports_in_sample_;
        } else if (auto cpp = number_after(l, "CPU cycles/packet=")) {
            cycles_per_packet_ = *cpp;
        }
    }
    void close_sample() {
        if (ports_in_sample_) samples_.push_back(sample_);
        sample_ = 0;
        ports_in_sample_ = 0;
    }

    std::string pending_, tail_;
    double sample_ = 0;
    unsigned ports_in_sample_ = 0;
    std::vector<double> samples_;
    std::optional<double> cycles_per_packet_;
};

// Moves every thread of process `pid` to SCHED_FIFO. Returns an error text or "".
std::string make_realtime(pid_t pid) {
    sched_param fifo{};
    fifo.sched_priority = kRealtimePriority;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
        pid_t tid = pid_t(std::stol(task.path().filename().string()));
        if (sched_setscheduler(tid, SCHED_FIFO, &fifo) != 0)
            return fmt::format("cannot move testpmd thread {} to SCHED_FIFO: {}", tid, strerror(errno));
    }
    return ec ? fmt::format("cannot list testpmd's threads: {}", ec.message()) : "";
}

}  // namespace

std::vector<ReferenceKind> reference_kinds() {
    return {
        {"null", "net_null", false, "null PMD: rx allocates mbufs, tx frees them, packet data never touched"},
        {"ring", "net_ring", true, "ring PMD (as rampart-bench), --tx-first ping-pong: pointer moves only"},
    };
}

std::string eal_runtime_dir(const std::string& file_prefix) {
    const char* base = "/var/run";
    if (getuid() != 0) {
        const char* xdg = std::getenv("XDG_RUNTIME_DIR");
        base = xdg ? xdg : "/tmp";
    }
    return fmt::format("{}/dpdk/{}", base, file_prefix);
}

ReferenceResult run_testpmd_reference(const ReferenceKind& kind, const TestpmdSettings& settings) {
    ReferenceResult result;
    result.name = std::string(kind.name);
    result.what = std::string(kind.what);
    const std::string prefix = fmt::format("rampart-bench-ref-{}-{}", getpid(), kind.name);
    std::vector<std::string> args = {settings.path,
                                     "--vdev", fmt::format("{}0", kind.driver),
                                     "--vdev", fmt::format("{}1", kind.driver),
                                     "-l", settings.lcores,
                                     "--main-lcore", settings.main_lcore,
                                     "--no-huge", "--no-pci",
                                     "-m", std::to_string(settings.memory_mb),
                                     "--file-prefix", prefix,
                                     "--no-telemetry", "--log-level=error",
                                     "--",
                                     "--forward-mode=io",
                                     "--total-num-mbufs=8192",
                                     "--stats-period=1",
                                     "--no-mlockall",
                                     "--record-core-cycles"};
    if (kind.tx_first) args.push_back("--tx-first");
    for (auto& a : args) result.command += (result.command.empty() ? "" : " ") + a;

    if (access(settings.path.c_str(), X_OK) != 0) {
        result.error = fmt::format("{} not found or not executable", settings.path);
        return result;
    }
    pid_t pid;
    const int out_fd = spawn_piped(args, pid, result.error);
    if (out_fd < 0) return result;

    StatsParser parser;
    const auto started = Clock::now();
    std::optional<Clock::time_point> first_sample, interrupted;
    // testpmd prints every one to two seconds; the first print covers start-up and is discarded.
    const auto measure_for = std::chrono::duration<double>(settings.seconds + 0.2);
    bool killed = false, eof = false;
    while (!eof) {
        pollfd p{out_fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char buf[4096];
            ssize_t n = read(out_fd, buf, sizeof buf);
            if (n > 0) parser.feed(std::string_view(buf, size_t(n)));
            else if (n == 0 || errno != EINTR) eof = true;
        }
        const auto now = Clock::now();
        if (!first_sample && parser.samples_seen() > 0) {
            first_sample = now;
            // Only now: during EAL start-up threads that share a cpu wait on
            // each other, which SCHED_FIFO would turn into a livelock. The
            // start-up print is discarded, so every kept sample ran under FIFO.
            if (settings.realtime)
                if (std::string err = make_realtime(pid); !err.empty()) result.error = err;
        }
        const bool measured = first_sample && now - *first_sample >= measure_for && parser.samples_seen() >= 2;
        if (!interrupted && (measured || (first_sample && now - *first_sample >= measure_for + kStartTimeout) ||
                             (!first_sample && now - started >= kStartTimeout))) {
            kill(pid, SIGINT);
            interrupted = now;
        }
        if (interrupted && !killed && now - *interrupted >= kStopTimeout) {
            kill(pid, SIGKILL);
            killed = true;
        }
        if (killed && now - *interrupted >= 2 * kStopTimeout) break;  // pipe held open elsewhere: give up reading
    }
    close(out_fd);
    int status = 0;
    waitpid(pid, &status, 0);
    parser.finish();
    std::error_code ignored;
    std::filesystem::remove_all(eal_runtime_dir(prefix), ignored);

    std::vector<double> samples = parser.steady_samples();
    if (!first_sample) {
        result.error = fmt::format("testpmd printed no statistics within {} s (last line: {})",
                                   kStartTimeout.count(), parser.tail());
        return result;
    }
    if (samples.empty()) {
        result.error = fmt::format("testpmd gave no steady-state sample (last line: {})", parser.tail());
        return result;
    }
    result.samples = unsigned(samples.size());
    result.mpps = std::accumulate(samples.begin(), samples.end(), 0.0) / double(samples.size()) / 1e6;
    result.cycles_per_packet = parser.cycles_per_packet().value_or(0);
    result.ok = true;
    if (killed) result.error = "testpmd did not stop on SIGINT and was killed";
    return result;
}

}  // namespace rampart::bench
