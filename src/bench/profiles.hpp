// Benchmark profiles: what the forwarding tables hold and what traffic is
// offered. Adding a profile (IPsec, SAV, ...) is one entry in the table in
// profiles.cpp plus the function that configures it and builds its frames.
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

std::span<const Profile> all_profiles();
const Profile* find_profile(std::string_view name);  // nullptr when unknown

}  // namespace rampart::bench
