#include "common/log.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>

namespace rampart::log {

namespace {
std::atomic<Level> current{Level::info};
const char* name(Level l) {
    switch (l) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warn";
        case Level::error: return "error";
    }
    return "?";
}
}  // namespace

void set_level(Level level) { current.store(level, std::memory_order_relaxed); }
bool enabled(Level level) { return level >= current.load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
    for (auto l : {Level::debug, Level::info, Level::warn, Level::error}) {
        if (text == name(l)) {
            out = l;
            return true;
        }
    }
    return false;
}

void write(Level level, std::string_view message) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t;
    gmtime_r(&ts.tv_sec, &t);
    std::fprintf(stderr, "%02d:%02d:%02d.%03ld rampartd %s: %.*s\n", t.tm_hour, t.tm_min,
                 t.tm_sec, ts.tv_nsec / 1000000, name(level), static_cast<int>(message.size()),
                 message.data());
}

}  // namespace rampart::log
