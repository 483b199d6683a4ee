// On a shared machine other processes preempt the generator and the worker,
// and the numbers then measure the scheduler. --realtime puts the measuring
// threads (and testpmd) under SCHED_FIFO for the measured window only. The
// kernel's RT throttling still leaves other tasks a share of every period
// (5 % by default), which the report accounts for; without throttling two
// spinning FIFO threads would own both cores, so that case is refused.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace rampart::bench {

inline constexpr int kRealtimePriority = 1;  // above every SCHED_OTHER task, below the kernel's own RT threads

// Share of each period RT tasks must leave to others (sched_rt_runtime_us /
// sched_rt_period_us), or nullopt when throttling is disabled or unknown.
inline std::optional<double> rt_throttle_share() {
    long runtime = -1, period = 0;
    if (std::FILE* f = std::fopen("/proc/sys/kernel/sched_rt_runtime_us", "r")) {
        if (std::fscanf(f, "%ld", &runtime) != 1) runtime = -1;
        std::fclose(f);
    }
    if (std::FILE* f = std::fopen("/proc/sys/kernel/sched_rt_period_us", "r")) {
        if (std::fscanf(f, "%ld", &period) != 1) period = 0;
        std::fclose(f);
    }
    if (runtime < 0 || period <= 0) return std::nullopt;
    return 1.0 - double(runtime) / double(period);
}

// Switches the calling thread to SCHED_FIFO until destroyed; does nothing when `enable` is false.
class ScopedRealtime {
public:
    explicit ScopedRealtime(bool enable) {
        if (!enable) return;
        pthread_getschedparam(pthread_self(), &policy_, &param_);
        sched_param fifo{};
        fifo.sched_priority = kRealtimePriority;
        int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo);
        if (rc == 0) active_ = true;
        else error_ = std::strerror(rc);
    }
    ~ScopedRealtime() {
        if (active_) pthread_setschedparam(pthread_self(), policy_, &param_);
    }
    ScopedRealtime(const ScopedRealtime&) = delete;
    ScopedRealtime& operator=(const ScopedRealtime&) = delete;

    const std::string& error() const { return error_; }  // empty unless asked for and refused

private:
    int policy_ = SCHED_OTHER;
    sched_param param_{};
    bool active_ = false;
    std::string error_;
};

}  // namespace rampart::bench
