// ESP tunnel-mode profiles (esp_profiles.cpp): how they configure the router,
// build their frames and keep the anti-replay window satisfied.
#pragma once

#include <random>

#include "bench/bench_router.hpp"
#include "bench/profiles.hpp"
#include "bench/traffic.hpp"

namespace rampart::bench {

struct EspSizes {
    unsigned inner_ip = 0;   // the clear IPv4 packet
    unsigned encrypted = 0;  // inner packet + padding + pad length + next header: the cipher's input
    unsigned iv = 0, icv = 0;
    unsigned esp_frame = 0;  // Ethernet + outer IPv4 + ESP, FCS excluded
};
// Sizes for a clear frame of `frame_size` bytes (FCS included).
EspSizes esp_sizes(EspTransform t, unsigned frame_size);

FrameTemplates prepare_esp(BenchRouter& router, ProfileSetup& setup, const EspProfileSpec& spec);

// The scale profiles (esp-{enc,dec}-gcm128-100k-sas-{64,1420}): kScaleTunnelPairs
// tunnel pairs (an inbound and an outbound SA each, random SPIs, one SPD
// protect entry per pair for its own /32 behind the peer) installed at once
// through Control::install; the traffic uses kScaleTrafficTunnels of them,
// chosen at random, two frames per tunnel in a random order.
inline constexpr unsigned kScaleTunnelPairs = 50'000;
inline constexpr unsigned kScaleTrafficTunnels = 16'384;
FrameTemplates prepare_esp_scale(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup,
                                 const EspProfileSpec& spec);

}  // namespace rampart::bench
