// The ESP profiles' yardstick: dpdk-test-crypto-perf on the crypto_aesni_mb
// PMD (the same Intel IPsec-MB library the workers' engine drives), one
// lcore, throughput test, the profile's algorithm at the size the worker
// encrypts per packet. Run as a child process with its own EAL after the
// profiles, like testpmd.
#pragma once

#include <string>
#include <vector>

#include "bench/profiles.hpp"

namespace rampart::bench {

struct CryptoPerfKey {
    EspTransform transform = EspTransform::none;
    bool decrypt = false;
    unsigned buffer_bytes = 0;  // the ESP encrypted length: inner packet + trailer
    friend bool operator==(const CryptoPerfKey&, const CryptoPerfKey&) = default;
};

struct CryptoPerfResult {
    CryptoPerfKey key;
    bool ok = false;
    double mops = 0;            // operations per second / 1e6
    double gbps = 0;            // buffer bytes per second * 8 / 1e9, as crypto-perf prints it
    double cycles_per_op = 0;
    std::string what;           // how the number was obtained
    std::vector<std::string> commands;
    std::string error;
};

struct CryptoPerfSettings {
    std::string path = "/usr/bin/dpdk-test-crypto-perf";
    std::string lcores;         // "-l" list: main lcore, then the one that runs the test
    double seconds = 5;         // aimed at: total ops are sized from a short calibration run
    unsigned memory_mb = 512;
};

// The key for an ESP profile (transform none: not an ESP profile).
CryptoPerfKey crypto_perf_key(const EspProfileSpec& spec);

// Never throws; failures come back in `error`.
CryptoPerfResult run_crypto_perf_reference(const CryptoPerfKey& key, const CryptoPerfSettings& settings);

}  // namespace rampart::bench
