// ESP tunnel-mode profiles (esp_profiles.cpp): how they configure the router,
// build their frames and keep the anti-replay window satisfied.
#pragma once

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

}  // namespace rampart::bench
