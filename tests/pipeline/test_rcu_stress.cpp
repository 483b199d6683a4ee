// Routes and neighbours change as fast as the control core can publish them
// while a real worker lcore forwards. Every packet must leave with a complete,
// consistent rewrite from one version of the tables: the stable prefix never
// loses a packet, churned prefixes go out on one of their legitimate next hops
// with that next hop's MAC or are counted as dropped, and nothing is torn.
#include <catch2/catch.hpp>

#include <rte_launch.h>
#include <rte_lcore.h>

#include <atomic>
#include <chrono>

#include "tests/pipeline/harness.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {
std::atomic<bool> running{false};
int worker_entry(void* w) {
    static_cast<Worker*>(w)->run(running);
    return 0;
}
}  // namespace

TEST_CASE("RCU: route and neighbour churn under forwarding never misforwards or tears", "[pipeline][rcu][stress]") {
    Pipeline p(4);
    p.exec("icmp rate-limit 0");
    p.exec("interface port0 address 198.51.100.1/24");
    p.exec("interface port1 address 203.0.113.1/24");
    p.exec("interface port2 address 192.0.2.1/26");
    p.exec("interface port3 address 192.0.2.65/26");
    p.neighbor(1, "203.0.113.2", "02:00:00:00:00:11");
    p.neighbor(2, "192.0.2.2", "02:00:00:00:00:22");
    p.neighbor(3, "192.0.2.66", "02:00:00:00:00:33");
    p.exec("route 100.64.0.0/16 via 203.0.113.2");

    const unsigned worker_lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    REQUIRE(worker_lcore < RTE_MAX_LCORE);
    running = true;
    REQUIRE(rte_eal_remote_launch(worker_entry, p.worker.get(), worker_lcore) == 0);

    const MacAddr host_mac = mac("02:aa:00:00:00:0a");
    uint64_t sent_stable = 0, sent_churn = 0, got_stable = 0, got_churn = 0, bad = 0;
    auto check_outputs = [&] {
        for (unsigned port = 0; port < 4; ++port) {
            for (const Bytes& f : p.wire_out(port)) {
                bool stable = f[30] == 100 && f[31] == 64;
                uint8_t dst_mac = f[5];
                bool header_ok = f.size() == 14 + 20 + 8 + 16 && checksum(f.data() + 14, 20) == 0 && f[22] == 63 &&
                                 f[6] == 0x02 && f[11] == port;
                bool placement_ok = stable ? (port == 1 && dst_mac == 0x11)
                                           : ((port == 2 && (dst_mac == 0x22 || dst_mac == 0x23)) || (port == 3 && dst_mac == 0x33));
                if (!header_ok || !placement_ok) ++bad;
                (stable ? got_stable : got_churn)++;
            }
        }
    };

    auto start = std::chrono::steady_clock::now();
    uint64_t route_ops = 0, i = 0;
    // At least 3 s and 600 changes (a loaded machine is slower), at most 30 s.
    auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
    while ((elapsed() < std::chrono::seconds(3) || route_ops < 600) && elapsed() < std::chrono::seconds(30) &&
           i < 400000) {
        for (int k = 0; k < 32; ++k, ++i) {
            bool stable = i & 1;
            IpAddr dst = IpAddr::v4((stable ? 0x64400001u : 0x64410001u) | uint32_t((i >> 1) & 0xff) << 8);
            Bytes frame = ether(mac("02:00:00:00:00:00"), host_mac, 0x0800,
                                ipv4(addr("198.51.100.10"), dst, 17, 64, udp(addr("198.51.100.10"), dst, 1, 2, pattern(16, uint8_t(i)))));
            rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
            if (!m) break;
            std::memcpy(rte_pktmbuf_append(m, uint16_t(frame.size())), frame.data(), frame.size());
            if (rte_ring_enqueue(p.ports[0].wire.rx, m) != 0) {
                rte_pktmbuf_free(m);
                break;
            }
            (stable ? sent_stable : sent_churn)++;
        }
        // One control-plane change per batch, cycling through every kind of update.
        unsigned x = unsigned(route_ops % 64);
        std::string prefix = "100.65." + std::to_string(x) + ".0/24";
        switch ((route_ops / 64) % 4) {
            case 0: p.exec("route " + prefix + " via 192.0.2.2"); break;
            case 1: p.exec("route " + prefix + " via 192.0.2.66"); break;  // now ECMP over both
            case 2: p.exec("no route " + prefix + " via 192.0.2.2"); break;
            case 3: p.exec("no route " + prefix + " via 192.0.2.66"); break;
        }
        if (route_ops % 7 == 0) p.neighbor(2, "192.0.2.2", route_ops % 14 ? "02:00:00:00:00:23" : "02:00:00:00:00:22");
        ++route_ops;
        p.tables->reclaim();
        check_outputs();
    }
    // Let the worker drain its rx ring, then stop it.
    for (int spins = 0; spins < 1000 && rte_ring_count(p.ports[0].wire.rx) > 0; ++spins) rte_delay_us_sleep(1000);
    rte_delay_us_sleep(10000);
    running = false;
    rte_eal_wait_lcore(worker_lcore);
    p.worker->flush();
    check_outputs();

    const InterfaceCounters& in = p.counters(0);
    uint64_t dropped = 0;
    for (auto d : in.drops) dropped += d;
    INFO("sent stable " << sent_stable << " churn " << sent_churn << ", got stable " << got_stable << " churn "
                        << got_churn << ", dropped " << dropped << ", route ops " << route_ops);
    CHECK(route_ops > 500);
    CHECK(bad == 0);
    CHECK(got_stable == sent_stable);                       // the stable prefix never loses a packet
    CHECK(got_churn + dropped == sent_churn);               // churned packets are forwarded or counted
    CHECK(dropped == in.drops[unsigned(Drop::no_route)]);  // and only for lack of a route
    CHECK(in.rx_packets == sent_stable + sent_churn);
}
