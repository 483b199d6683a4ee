// The configuration model: all-or-nothing application, precise errors, and a
// running-config that rebuilds the same configuration.
#include <catch2/catch.hpp>

#include "slowpath/config_model.hpp"

using namespace rampart;

namespace {
const char* kLab = R"(
! two ports, a VLAN, static routes
interface port0 device net_af_packet0,iface=veth0
interface port0 address 198.51.100.1/24
interface port0 address 2001:db8:a::1/64
interface port0 description "customer side"
interface port1 device "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
interface port1 mtu 9000
interface port1 address 203.0.113.1/24
interface port1.100 vlan 100 parent port1
interface port1.100 address 198.18.0.1/24
interface port1.100 shutdown
interface port1 neighbor 203.0.113.2 02:00:5e:00:53:02
interface port0 neighbor 2001:db8:a::2 02:00:5e:00:53:03
route 192.0.2.0/24 via 203.0.113.2
route 192.0.2.0/24 via 203.0.113.3 interface port1
route 2001:db8:c::/48 via 2001:db8:a::2
route 100.64.0.0/10 blackhole
route 198.18.8.0/24 interface port1.100
icmp rate-limit 500
)";

RunningConfig load(const char* text) {
    RunningConfig c;
    auto err = load_config_text(c, text);
    INFO(err.value_or(""));
    REQUIRE(!err);
    return c;
}

std::string apply_line(RunningConfig& c, const std::string& line, bool startup = false) {
    auto parsed = cmd::parse(line);
    if (auto* e = std::get_if<cmd::ParseError>(&parsed)) return "parse: " + e->message;
    auto err = apply_command(c, std::get<cmd::Parsed>(parsed), startup);
    return err.value_or("");
}
}  // namespace

TEST_CASE("A startup configuration loads and its running-config round-trips", "[config]") {
    RunningConfig c = load(kLab);
    CHECK(c.interfaces.size() == 3);
    CHECK(c.interfaces.at("port1").mtu == 9000);
    CHECK(c.interfaces.at("port1.100").vlan == 100);
    CHECK(c.interfaces.at("port1.100").shutdown);
    CHECK(c.routes.at(*Prefix::parse("192.0.2.0/24")).size() == 2);
    CHECK(c.icmp_rate_pps == 500);

    std::string text = render_running_config(c);
    RunningConfig again;
    auto err = load_config_text(again, text);
    INFO(text);
    REQUIRE(!err);
    CHECK(again == c);
    CHECK(render_running_config(again) == text);
}

TEST_CASE("Config errors name the line and the reason and change nothing", "[config]") {
    RunningConfig c = load(kLab);
    const RunningConfig before = c;
    struct Bad {
        std::string text;
        std::string expect;
    };
    std::vector<Bad> bad = {
        {"interface port9 address 10.0.0.1/24", "unknown interface port9"},
        {"interface port0 address 203.0.113.1/24", "address 203.0.113.1 is already on port1"},
        {"interface port0 address 198.51.100.1/24", "port0 already has address 198.51.100.1/24"},
        {"interface port0 address 198.51.100.0/24", "network address"},
        {"route 10.0.0.0/8 via 2001:db8::1", "not of the same address family"},
        {"route 10.0.0.0/8 via 192.0.2.1 interface port7", "unknown interface port7"},
        {"no route 10.0.0.0/8 via 192.0.2.1", "no route 10.0.0.0/8"},
        {"no route 192.0.2.0/24 via 203.0.113.9", "no such next hop"},
        {"route 192.0.2.0/24 blackhole", "another kind of next hop"},
        {"route 192.0.2.0/24 via 203.0.113.2", "already has this next hop"},
        {"interface port2.100 vlan 100 parent port1", "vlan 100 on port1 is already port1.100"},
        {"interface port2 vlan 7 parent port1.100", "is itself a sub-interface"},
        {"no interface port1.100 vlan 100 parent port1", "route 198.18.8.0/24 uses interface port1.100"},
        {"interface port3 device net_null0", "startup configuration only"},
        {"interface port0 adress 10.0.0.1/24", "unknown token 'adress'"},
        {"interface port0 neighbor 198.51.100.7 01:00:5e:00:00:01", "multicast MAC"},
        {"no interface port0 neighbor 198.51.100.7 02:00:5e:00:00:01", "no static neighbor"},
    };
    for (auto& b : bad) {
        std::string err = apply_line(c, b.text);
        INFO(b.text << " -> " << err);
        CHECK(err.find(b.expect) != std::string::npos);
        CHECK(c == before);
    }

    // A startup file with an error half-way applies nothing and names the line.
    RunningConfig fresh;
    auto err = load_config_text(fresh, "interface p0 device net_null0\ninterface p0 address 192.0.2.1/24\nroute 10.0.0.0/8 via 192.0.2.300\n");
    REQUIRE(err);
    CHECK(err->rfind("line 3: ", 0) == 0);
    CHECK(err->find("192.0.2.300") != std::string::npos);
    CHECK(fresh == RunningConfig{});
    err = load_config_text(fresh, "show interfaces\n");
    REQUIRE(err);
    CHECK(err->find("not allowed in a configuration file") != std::string::npos);
}

TEST_CASE("ECMP next hops are bounded and removed one by one", "[config]") {
    RunningConfig c = load("interface p0 device net_null0\ninterface p0 address 192.0.2.1/24\n");
    for (int i = 2; i < 10; ++i) CHECK(apply_line(c, "route 10.0.0.0/8 via 192.0.2." + std::to_string(i)) == "");
    CHECK(apply_line(c, "route 10.0.0.0/8 via 192.0.2.10").find("ECMP maximum") != std::string::npos);
    for (int i = 2; i < 10; ++i) CHECK(apply_line(c, "no route 10.0.0.0/8 via 192.0.2." + std::to_string(i)) == "");
    CHECK(c.routes.empty());
    CHECK(apply_line(c, "route 10.1.2.3/8 via 192.0.2.2") == "");
    CHECK(c.routes.count(*Prefix::parse("10.0.0.0/8")) == 1);  // stored as the network
}
