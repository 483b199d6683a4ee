// libFuzzer target for the packet parser: every input is one frame received
// on port0 of the two-sided test topology and run through the real worker
// pipeline (Ethernet, 802.1Q, IPv4 with options, IPv6 extension headers,
// ICMP error generation, fragmentation, MPLS label stacks, ESP input and the
// SPD). ASan catches any read past the frame.
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
    // IPsec: ESP to our port0 address decrypts with these SAs (GCM and CBC+HMAC),
    // traffic to 100.65.0.0/16 is encrypted; 100.66.0.0/16 discarded, 100.67.0.0/16 bypassed.
    for (const char* line : {
             "ipsec sa g-in inbound spi 4096 tunnel 198.51.100.1 198.51.100.10",
             "ipsec sa g-in encryption aes-gcm-128 key 000102030405060708090a0b0c0d0e0f10111213",
             "ipsec sa g-out outbound spi 4097 tunnel 203.0.113.1 203.0.113.2",
             "ipsec sa g-out encryption aes-gcm-128 key 000102030405060708090a0b0c0d0e0f10111213",
             "ipsec sa c-in inbound spi 8192 tunnel 198.51.100.1 198.51.100.10",
             "ipsec sa c-in encryption aes-cbc-128 key 000102030405060708090a0b0c0d0e0f",
             "ipsec sa c-in integrity hmac-sha-256 key 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f",
             "ipsec sa c-in esn",
             // NAT-T in (fragmented UDP to the box is reassembled), fragments after encryption out.
             "ipsec sa n-in inbound spi 12288 tunnel 198.51.100.1 198.51.100.10",
             "ipsec sa n-in encryption aes-gcm-128 key 000102030405060708090a0b0c0d0e0f10111213",
             "ipsec sa n-in nat-traversal",
             "ipsec sa g-out encapsulated-ip-mtu 576",
             "ipsec policy 12 local 100.64.0.0/10 remote 198.51.101.0/24 protect g-out inbound n-in",
             "ipsec policy 10 local 100.65.0.0/16 remote 192.0.2.0/24 protect g-out inbound g-in",
             "ipsec policy 11 local 100.64.0.0/10 remote 198.51.100.0/24 protect g-out inbound c-in",
             "ipsec policy 20 local 0.0.0.0/0 remote 100.66.0.0/16 discard",
             "ipsec policy 30 local 0.0.0.0/0 remote 100.67.0.0/16 bypass",
         })
        topology->exec(line);
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
