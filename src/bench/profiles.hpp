// Benchmark profiles: what the forwarding tables hold and what traffic is
// offered. A feature's profiles live in its own file (esp_profiles.cpp): a
// table of Profile rows, the functions that configure the router and build
// the frames, and one RAMPART_BENCH_PROFILES line that registers the table.
#pragma once

#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/bench_router.hpp"
#include "bench/traffic.hpp"
#include "fastpath/tables.hpp"

namespace rampart::bench {

// What a profile reports about its own set-up, shown beside its results.
struct ProfileSetup {
    size_t routes = 0;             // routes the profile added on top of the connected ones
    unsigned frame_size = 0;       // bytes, FCS included
    std::vector<std::string> notes;                         // for people
    std::vector<std::pair<std::string, double>> metrics;   // for the JSON line, e.g. {"table_install_s", 3.1}
};

// What an ESP profile makes the worker's crypto engine do, and the
// dpdk-test-crypto-perf run that measures the engine's raw limit for it.
enum class EspTransform { none, gcm128, cbc128_sha256 };

struct EspProfileSpec {
    EspTransform transform = EspTransform::none;  // none: not an ESP profile
    bool decrypt = false;
    unsigned frame_size = 0;  // the clear frame, FCS included
};

struct Profile {
    std::string_view name;
    std::string_view summary;
    TableSizes table_sizes;
    // Configures the router through Control (as an operator would) and returns
    // one template frame per flow. Every frame must be forwarded out of the
    // egress port; the runner checks that before measuring.
    // When the templates carry expected outputs, every forwarded frame must
    // also match its expected bytes exactly.
    FrameTemplates (*prepare)(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup);
    // How the ports differ from the plain plan: MPLS on the ingress port, egress in a VRF.
    PortRoles roles;
    // ESP profiles: any drop while measuring fails the profile (a replayed or
    // mis-sealed frame must never be measured as work), and the crypto
    // reference runs for them.
    EspProfileSpec esp{};
};

// A table of profiles registered from the file that defines it:
//     RAMPART_BENCH_PROFILES(esp, 20, kEspProfiles);
// `order` places the table in `--list` and in the default run (forwarding 10, ESP 20).
struct ProfileRegistration {
    int order;
    std::span<const Profile> profiles;
    const ProfileRegistration* next;
    ProfileRegistration(int order, std::span<const Profile> profiles) noexcept;
};
#define RAMPART_BENCH_PROFILES(name, order, table) \
    const ::rampart::bench::ProfileRegistration rampart_bench_profiles_##name{order, table}

std::span<const Profile> all_profiles();  // every registered table, by order
const Profile* find_profile(std::string_view name);  // nullptr when unknown

}  // namespace rampart::bench
