// libFuzzer target for the packet parser: every input is one frame received
// on port0 of the two-sided test topology and run through the real worker
// pipeline (Ethernet, 802.1Q, IPv4 with options, IPv6 extension headers,
// ICMP error generation, fragmentation, MPLS label stacks). ASan catches any read past the frame.
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "common/log.hpp"
#include "tests/pipeline/fixture.hpp"

namespace rampart::test {
namespace {
rte_mempool* pool = nullptr;
}
rte_mempool* test_pool() { return pool; }
}  // namespace rampart::test

using namespace rampart;
using namespace rampart::test;

namespace {
std::unique_ptr<TwoSided> topology;
constexpr uint16_t kHeadroom = RTE_PKTMBUF_HEADROOM;

// The frame lives in a malloc'ed buffer that ends exactly where the frame
// ends, attached to the mbuf as an external buffer: a read past the frame is
// a heap overflow that ASan reports (DPDK's own memory is not instrumented).
rte_mbuf_ext_shared_info frame_shinfo;
void free_frame(void* addr, void*) { free(addr); }
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    static std::string prefix = "--file-prefix=rp-fuzz-" + std::to_string(getpid());
    const char* eal[] = {"fuzz_packet", "--no-huge", "--no-pci", "-m", "1024", "-l", "0", "--log-level=error",
                         "--no-telemetry", prefix.c_str()};
    if (rte_eal_init(int(std::size(eal)), const_cast<char**>(eal)) < 0) abort();
    pool = rte_pktmbuf_pool_create("fuzz_pool", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (!pool) abort();
    log::set_level(log::Level::error);
    topology = std::make_unique<TwoSided>();
    topology->exec("interface port1 mtu 576");  // exercise fragmentation and packet-too-big
    // The label plane: every ILM action, label imposition, a VRF behind a VPN label.
    topology->exec("interface port0 mpls");
    topology->exec("vrf blue");
    topology->exec("vrf blue label 1000");
    topology->exec("mpls label 100 swap 200/201/202 via 203.0.113.2");
    topology->exec("mpls label 101 pop via 203.0.113.2");
    topology->exec("mpls label 102 lookup");
    topology->exec("mpls label 103 drop");
    topology->exec("mpls label 104 swap 300 via 203.0.113.2");
    topology->exec("mpls label 104 swap 301 via 203.0.113.10");
    topology->exec("route 100.64.0.0/16 via 203.0.113.2 labels 16001/16002/16003");
    topology->exec("route vrf blue 0.0.0.0/0 next-vrf default");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > RTE_MBUF_DEFAULT_DATAROOM) return 0;
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) abort();
    auto* buf = static_cast<uint8_t*>(malloc(kHeadroom + size));
    if (size) std::memcpy(buf + kHeadroom, data, size);
    frame_shinfo.free_cb = free_frame;
    frame_shinfo.fcb_opaque = nullptr;
    rte_mbuf_ext_refcnt_set(&frame_shinfo, 1);
    rte_pktmbuf_attach_extbuf(m, buf, rte_iova_t(uintptr_t(buf)), uint16_t(kHeadroom + size), &frame_shinfo);
    m->data_off = kHeadroom;
    m->data_len = uint16_t(size);
    m->pkt_len = uint32_t(size);
    rte_mbuf* pkts[1] = {m};
    topology->worker->process_rx(0, pkts, 1);
    topology->worker->flush();
    for (unsigned port = 0; port < 2; ++port) {
        topology->wire_out(port);
        topology->kernel_out(port);
    }
    return 0;
}
