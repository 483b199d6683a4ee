// Catch2 runner for the pipeline tests: brings up an EAL without hugepages or
// PCI, so the tests run anywhere, as root or in CI.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <rte_eal.h>

#include <cstdlib>
#include <rte_mbuf.h>
#include <unistd.h>

#include <string>

#include "common/log.hpp"
#include "tests/pipeline/harness.hpp"

namespace rampart::test {
namespace {
rte_mempool* pool = nullptr;
}
rte_mempool* test_pool() { return pool; }
}  // namespace rampart::test

int main(int argc, char** argv) {
    std::string prefix = "--file-prefix=rp-pipeline-" + std::to_string(getpid());
    // The full-table benchmarks ("[.bench]") need more: RAMPART_PIPELINE_EAL_MB=3072.
    const char* mb = std::getenv("RAMPART_PIPELINE_EAL_MB");
    const std::string memory = mb ? mb : "1024";
    const char* eal[] = {"pipeline-tests", "--no-huge", "--no-pci", "-m", memory.c_str(), "-l", "0-1", "--log-level=error",
                         "--no-telemetry", prefix.c_str()};
    if (rte_eal_init(int(std::size(eal)), const_cast<char**>(eal)) < 0) {
        fprintf(stderr, "EAL init failed\n");
        return 1;
    }
    rampart::test::pool = rte_pktmbuf_pool_create("test_pool", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (!rampart::test::pool) {
        fprintf(stderr, "cannot create the test mbuf pool\n");
        return 1;
    }
    rampart::log::set_level(rampart::log::Level::warn);  // the stress test applies ~30k commands
    int rc = Catch::Session().run(argc, argv);
    rte_eal_cleanup();
    return rc;
}
