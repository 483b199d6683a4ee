// Presenting results: a table for people and one JSON object per profile for
// scripts. Both come from the same numbers; nothing here measures.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/crypto_perf_reference.hpp"
#include "bench/profile_runner.hpp"
#include "bench/testpmd_reference.hpp"

namespace rampart::bench {

struct RunInfo {
    unsigned main_cpu = 0, worker_cpu = 0, worker_lcore = 0;
    uint64_t tsc_hz = 0;
    RunSettings settings;
    bool reference_requested = true;
};

void print_report(std::FILE* out, const RunInfo& run, const std::vector<ProfileResult>& results,
                  const std::vector<ReferenceResult>& references, const std::vector<CryptoPerfResult>& crypto = {});

// One line, no trailing newline.
std::string json_line(const RunInfo& run, const ProfileResult& result, const std::vector<ReferenceResult>& references,
                      const std::vector<CryptoPerfResult>& crypto = {});

}  // namespace rampart::bench
