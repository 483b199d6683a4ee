// Catch2 runner for the SAV tests: the data-plane table is rte_fib/rte_fib6,
// which need an EAL; started without hugepages or PCI so it runs anywhere.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <rte_eal.h>
#include <unistd.h>

#include <string>

int main(int argc, char** argv) {
    std::string prefix = "--file-prefix=rp-sav-tests-" + std::to_string(getpid());
    const char* eal[] = {"sav-tests", "--no-huge", "--no-pci", "-m", "1024", "-l", "0", "--log-level=error",
                         "--no-telemetry", prefix.c_str()};
    if (rte_eal_init(int(std::size(eal)), const_cast<char**>(eal)) < 0) {
        fprintf(stderr, "EAL init failed\n");
        return 1;
    }
    int rc = Catch::Session().run(argc, argv);
    rte_eal_cleanup();
    return rc;
}
