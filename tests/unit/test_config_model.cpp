// The configuration model: all-or-nothing application, precise errors, and a
// running-config that rebuilds the same configuration.
#include <catch2/catch.hpp>

#include <random>

#include <fmt/format.h>

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

// ---------------------------------------------------------------------------
// VRFs, MPLS and segment routing
// ---------------------------------------------------------------------------

namespace {
// Uses every new command (and every optional part of them).
const char* kMpls = R"(
vrf blue
vrf blue label 100
vrf red
mpls label-range 16 900000
mpls ttl-mode pipe
interface p0 device net_null0
interface p0 address 192.0.2.1/24
interface p0 address 2001:db8::1/64
interface p0 mpls
interface p1 device net_null1
interface p1 vrf blue
interface p1 address 198.51.100.1/24
interface p2 device net_null2
interface p2 vrf red
interface p2 address 198.51.100.1/24
interface p1.10 vlan 10 parent p1
interface p1.10 vrf blue
interface p1.10 mpls
segment-routing srgb 16000 23999
segment-routing prefix-sid 192.0.2.1/32 index 1
segment-routing prefix-sid 10.255.0.2/32 index 2
segment-routing neighbor-srgb 192.0.2.2 17000 24999
segment-routing adjacency-sid 24001 via 192.0.2.2 interface p0
segment-routing adjacency-sid 24002 via 2001:db8::2
segment-routing policy to-pe2 segments 16002/24005 via 192.0.2.2 interface p0
segment-routing policy to-pe2 binding-sid 15000
segment-routing policy detour segments 16003 via 192.0.2.3
segment-routing policy detour binding-sid 15001
mpls label 200 swap 300/400 via 192.0.2.2 interface p0 backup 192.0.2.3 backup-labels 16003/300
mpls label 200 swap 301 via 192.0.2.3
mpls label 201 pop via 192.0.2.2 backup 192.0.2.3 backup-interface p0
mpls label 201 pop via 2001:db8::3 interface p0
mpls label 202 lookup vrf blue
mpls label 203 lookup
mpls label 204 drop
route 10.0.0.0/8 via 192.0.2.2 labels 16002 backup 192.0.2.3 backup-interface p0 backup-labels 16003/16002
route 10.0.0.0/8 via 192.0.2.4 interface p0
route 10.1.0.0/16 policy to-pe2
route 10.2.0.0/16 next-vrf blue
route 2001:db8:f::/48 via 2001:db8::2 labels 2
route vrf blue 0.0.0.0/0 next-vrf default
route vrf blue 10.9.0.0/16 via 192.0.2.2 labels 16002/100
route vrf blue 203.0.113.0/24 via 198.51.100.2 interface p1.10
route vrf blue 203.0.113.128/25 policy detour
route vrf red 203.0.113.0/24 blackhole
route vrf red 198.18.0.0/15 unreachable
route vrf red 10.0.0.0/8 next-vrf blue
route vrf red 10.3.0.0/16 interface p2
)";

Prefix pfx(const char* text) { return *Prefix::parse(text); }
IpAddr ip(const char* text) { return *IpAddr::parse(text); }

struct Bad {
    std::string text;
    std::string expect;
};

// Every line fails with a message containing `expect` and changes nothing.
void check_refused(RunningConfig& c, const std::vector<Bad>& bad) {
    const RunningConfig before = c;
    for (auto& b : bad) {
        std::string err = apply_line(c, b.text);
        INFO(b.text << " -> " << err);
        CHECK(err.find(b.expect) != std::string::npos);
        CHECK(c == before);
    }
}

void check_round_trip(const RunningConfig& c) {
    std::string text = render_running_config(c);
    RunningConfig again;
    auto err = load_config_text(again, text);
    INFO(text);
    INFO(err.value_or(""));
    REQUIRE(!err);
    CHECK(again == c);
    CHECK(render_running_config(again) == text);
}
}  // namespace

TEST_CASE("VRF, MPLS and SR configuration loads and round-trips", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    REQUIRE(c.vrfs.size() == 2);
    CHECK(c.vrfs.at("blue").label == 100u);
    CHECK_FALSE(c.vrfs.at("red").label);
    CHECK(c.interfaces.at("p0").mpls);
    CHECK_FALSE(c.interfaces.at("p1").mpls);
    CHECK(c.interfaces.at("p1").vrf == "blue");
    CHECK(c.interfaces.at("p1.10").vrf == "blue");
    CHECK(c.interfaces.at("p0").vrf.empty());
    CHECK(c.mpls.label_lo == 16);
    CHECK(c.mpls.label_hi == 900000);
    CHECK(c.mpls.ttl_mode == TtlMode::pipe);

    const IlmConfig& swap = c.mpls.ilm.at(200);
    CHECK(swap.action == IlmConfig::Action::forward);
    REQUIRE(swap.paths.size() == 2);
    CHECK(swap.paths[0].labels == LabelList{300, 400});
    CHECK(swap.paths[0].ifname == "p0");
    REQUIRE(swap.paths[0].backup);
    CHECK(swap.paths[0].backup->gateway == ip("192.0.2.3"));
    CHECK(swap.paths[0].backup->labels == LabelList{16003, 300});
    CHECK(swap.paths[1].labels == LabelList{301});
    CHECK_FALSE(swap.paths[1].backup);
    CHECK(c.mpls.ilm.at(201).paths[0].labels.empty());  // pop
    CHECK(c.mpls.ilm.at(201).paths[0].backup->ifname == "p0");
    CHECK(c.mpls.ilm.at(202).action == IlmConfig::Action::lookup);
    CHECK(c.mpls.ilm.at(202).vrf == "blue");
    CHECK(c.mpls.ilm.at(203).vrf.empty());
    CHECK(c.mpls.ilm.at(204).action == IlmConfig::Action::drop);
    CHECK(c.mpls.ilm.at(204).paths.empty());

    CHECK(c.sr.srgb == LabelBlock{16000, 23999});
    CHECK(c.sr.prefix_sids.at(pfx("192.0.2.1/32")) == 1);
    CHECK(c.sr.neighbor_srgbs.at(ip("192.0.2.2")) == LabelBlock{17000, 24999});
    CHECK(c.sr.adjacency_sids.at(24001) == MplsPath{ip("192.0.2.2"), "p0", {}, std::nullopt});
    const SrPolicy& policy = c.sr.policies.at("to-pe2");
    CHECK(policy.segments == LabelList{16002, 24005});
    CHECK(policy.gateway == ip("192.0.2.2"));
    CHECK(policy.ifname == "p0");
    CHECK(policy.binding_sid == 15000u);

    const auto& labelled = c.routes.at(pfx("10.0.0.0/8"));
    REQUIRE(labelled.size() == 2);
    CHECK(labelled[0].labels == LabelList{16002});
    REQUIRE(labelled[0].backup);
    CHECK(labelled[0].backup->ifname == "p0");
    CHECK(labelled[0].backup->labels == LabelList{16003, 16002});
    CHECK(labelled[1].labels.empty());
    CHECK(c.routes.at(pfx("10.1.0.0/16"))[0].kind == RouteNextHop::Kind::policy);
    CHECK(c.routes.at(pfx("10.1.0.0/16"))[0].target == "to-pe2");
    CHECK(c.routes.at(pfx("10.2.0.0/16"))[0].kind == RouteNextHop::Kind::next_vrf);
    CHECK(c.routes.at(pfx("10.2.0.0/16"))[0].target == "blue");
    const RouteTable& blue = c.vrfs.at("blue").routes;
    CHECK(blue.size() == 4);
    CHECK(blue.at(pfx("0.0.0.0/0"))[0].kind == RouteNextHop::Kind::next_vrf);
    CHECK(blue.at(pfx("0.0.0.0/0"))[0].target.empty());  // "default" is stored as the default table, ""
    CHECK(blue.at(pfx("10.9.0.0/16"))[0].labels == LabelList{16002, 100});
    CHECK(c.vrfs.at("red").routes.size() == 4);
    CHECK(c.routes.count(pfx("203.0.113.0/24")) == 0);  // VRF routes stay in their VRF

    check_round_trip(c);
}

TEST_CASE("Defaults are not rendered and 'no' restores them", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    CHECK(apply_line(c, "no mpls label-range 16 900000") == "");
    CHECK(apply_line(c, "no mpls ttl-mode pipe") == "");
    CHECK(c.mpls.label_lo == 16);
    CHECK(c.mpls.label_hi == kMaxLabelValue);
    CHECK(c.mpls.ttl_mode == TtlMode::uniform);
    std::string text = render_running_config(c);
    CHECK(text.find("label-range") == std::string::npos);
    CHECK(text.find("ttl-mode") == std::string::npos);
    CHECK(apply_line(c, "mpls ttl-mode pipe") == "");
    CHECK(apply_line(c, "mpls ttl-mode uniform") == "");
    CHECK(c.mpls.ttl_mode == TtlMode::uniform);
    CHECK(apply_line(c, "no interface p0 mpls") == "");
    CHECK_FALSE(c.interfaces.at("p0").mpls);
    check_round_trip(c);
}

TEST_CASE("VRF references are checked", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    check_refused(c, {
        {"vrf blue", "vrf blue already exists"},
        {"vrf default", "invalid vrf name 'default'"},
        {"vrf 9lives", "invalid vrf name '9lives'"},
        {"vrf \"two words\"", "invalid vrf name"},
        {"interface p0 vrf green", "unknown vrf green"},
        {"interface p0 vrf default", "unknown vrf default"},
        {"no interface p1 vrf red", "p1 is not in vrf red but in vrf blue"},
        {"no interface p0 vrf red", "p0 is not in vrf red but in the default table"},
        {"route vrf green 10.0.0.0/8 blackhole", "unknown vrf green"},
        {"no route vrf green 10.0.0.0/8 blackhole", "unknown vrf green"},
        {"route 10.5.0.0/16 next-vrf green", "unknown vrf green"},
        {"route 10.5.0.0/16 next-vrf default", "cannot look the destination up in its own table (the default table)"},
        {"route vrf blue 10.5.0.0/16 next-vrf blue", "cannot look the destination up in its own table (vrf blue)"},
        {"vrf green label 500", "unknown vrf green"},
        {"no vrf green", "unknown vrf green"},
        {"mpls label 500 lookup vrf green", "unknown vrf green"},
        {"no vrf blue label 101", "vrf blue's VPN label is 100, not 101"},
        {"no vrf red label 101", "vrf red has no VPN label"},
        {"no vrf blue", "interface p1 is in vrf blue; move it out first"},
        {"no route vrf red 10.9.0.0/16 blackhole", "no route vrf red 10.9.0.0/16"},
        {"no route vrf blue 10.9.0.0/16 via 192.0.2.2", "route vrf blue 10.9.0.0/16 has no such next hop"},
        {"route vrf blue 10.9.0.0/16 via 192.0.2.2 labels 16002/100", "already has this next hop"},
        {"route vrf red 203.0.113.0/24 next-vrf blue", "another kind of next hop"},
    });

    // Unbind the interfaces: then the route leaks and the ILM lookup still hold blue.
    for (auto line : {"no interface p1 vrf blue", "no interface p1.10 vrf blue"}) CHECK(apply_line(c, line) == "");
    CHECK(c.interfaces.at("p1").vrf.empty());
    check_refused(c, {{"no vrf blue", "route 10.2.0.0/16 leaks into vrf blue (next-vrf); delete the route first"}});
    CHECK(apply_line(c, "no route 10.2.0.0/16 next-vrf blue") == "");
    check_refused(c, {{"no vrf blue", "route vrf red 10.0.0.0/8 leaks into vrf blue (next-vrf)"}});
    CHECK(apply_line(c, "no route vrf red 10.0.0.0/8 next-vrf blue") == "");
    check_refused(c, {{"no vrf blue", "mpls label 202 looks up in vrf blue; delete it first"}});
    CHECK(apply_line(c, "no mpls label 202 lookup vrf red").find("looks up in vrf blue, not in vrf red") !=
          std::string::npos);
    CHECK(apply_line(c, "no mpls label 202 lookup vrf blue") == "");

    // Its own routes (even one leaking back to the default table) and its label go with it.
    CHECK(apply_line(c, "no vrf blue") == "");
    CHECK(c.vrfs.count("blue") == 0);
    CHECK(apply_line(c, "mpls label 100 drop") == "");  // the VPN label is free again
    CHECK(apply_line(c, "vrf blue") == "");
    CHECK(c.vrfs.at("blue") == VrfConfig{});
    check_round_trip(c);
}

TEST_CASE("Addresses may repeat across VRFs but not within one", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    // p1 (blue) and p2 (red) share 198.51.100.1; the default table may have it too.
    check_refused(c, {
        {"interface p1.10 address 198.51.100.1/24", "address 198.51.100.1 is already on p1 in vrf blue"},
        {"interface p2 vrf blue", "p2 cannot move to vrf blue: address 198.51.100.1 is already on p1 in vrf blue"},
    });
    CHECK(apply_line(c, "interface p0 address 198.51.100.1/24") == "");
    check_refused(c, {
        {"no interface p2 vrf red", "p2 cannot move to the default table: address 198.51.100.1 is already on p0"},
        {"no interface p1 vrf blue", "address 198.51.100.1 is already on p0"},
    });
    CHECK(apply_line(c, "no interface p0 address 198.51.100.1/24") == "");
    CHECK(apply_line(c, "interface p2 vrf blue").find("already on p1") != std::string::npos);
    CHECK(apply_line(c, "no interface p2 vrf red") == "");  // now the only 198.51.100.1 outside blue
    CHECK(apply_line(c, "interface p2 vrf red") == "");
    CHECK(apply_line(c, "interface p2 vrf red") == "");  // binding again changes nothing
    check_round_trip(c);
}

TEST_CASE("A local label has exactly one owner", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    // Owners in kMpls: static ILM 200-204, vrf blue's VPN label 100, the SRGB 16000-23999
    // (prefix SIDs at 16001 and 16002), adjacency SIDs 24001/24002, binding SIDs 15000/15001.
    const std::string ilm = "static ILM entry mpls label 200";
    const std::string vpn = "vrf blue's VPN label";
    const std::string srgb = "the SRGB 16000-23999";
    const std::string node = "prefix-sid 192.0.2.1/32 index 1 in the SRGB 16000-23999";
    const std::string adj = "adjacency-sid 24001 via 192.0.2.2";
    const std::string bsid = "policy detour's binding SID";
    check_refused(c, {
        // new static ILM entry
        {"mpls label 200 drop", "label 200 is a swap/pop entry; delete it first"},
        {"mpls label 100 drop", "label 100 for static ILM entry mpls label 100 is already used by " + vpn},
        {"mpls label 16005 drop", "label 16005 for static ILM entry mpls label 16005 is already used by " + srgb},
        {"mpls label 16001 swap 3 via 192.0.2.2", "is already used by " + node},
        {"mpls label 24001 lookup", "label 24001 for static ILM entry mpls label 24001 is already used by " + adj},
        {"mpls label 15001 pop via 192.0.2.2", "is already used by " + bsid},
        // new VPN label
        {"vrf red label 200", "label 200 for vrf red's VPN label is already used by " + ilm},
        {"vrf red label 100", "label 100 for vrf red's VPN label is already used by " + vpn},
        {"vrf red label 16005", "is already used by " + srgb},
        {"vrf red label 24001", "is already used by " + adj},
        {"vrf red label 15001", "is already used by " + bsid},
        // new SRGB
        {"segment-routing srgb 150 250", "SRGB 150-250 contains label 200, already used by " + ilm},
        {"segment-routing srgb 100 100", "SRGB 100-100 contains label 100, already used by " + vpn},
        {"segment-routing srgb 24000 24001", "contains label 24001, already used by " + adj},
        {"segment-routing srgb 15001 15010", "contains label 15001, already used by " + bsid},
        // new adjacency SID
        {"segment-routing adjacency-sid 200 via 192.0.2.9", "label 200 for adjacency-sid 200 is already used by " + ilm},
        {"segment-routing adjacency-sid 100 via 192.0.2.9", "is already used by " + vpn},
        {"segment-routing adjacency-sid 23999 via 192.0.2.9", "is already used by " + srgb},
        {"segment-routing adjacency-sid 24001 via 192.0.2.9", "is already used by " + adj},
        {"segment-routing adjacency-sid 15001 via 192.0.2.9", "is already used by " + bsid},
        // new binding SID
        {"segment-routing policy to-pe2 binding-sid 200", "label 200 for policy to-pe2's binding SID is already used by " + ilm},
        {"segment-routing policy to-pe2 binding-sid 100", "is already used by " + vpn},
        {"segment-routing policy to-pe2 binding-sid 16000", "is already used by " + srgb},
        {"segment-routing policy to-pe2 binding-sid 24001", "is already used by " + adj},
        {"segment-routing policy to-pe2 binding-sid 15001", "is already used by " + bsid},
    });
    // Re-stating an owner's own label is no conflict.
    CHECK(apply_line(c, "vrf blue label 100") == "");
    CHECK(apply_line(c, "segment-routing policy to-pe2 binding-sid 15000") == "");
    CHECK(apply_line(c, "segment-routing srgb 16000 23999") == "");
    // A freed label can be taken by another owner.
    CHECK(apply_line(c, "no segment-routing policy detour binding-sid 15001") == "");
    CHECK(apply_line(c, "vrf red label 15001") == "");
    CHECK(apply_line(c, "no vrf blue label 100") == "");
    CHECK(apply_line(c, "segment-routing policy detour binding-sid 100") == "");
    check_round_trip(c);
}

TEST_CASE("Local labels stay inside the MPLS label range", "[config][mpls]") {
    RunningConfig c = load(kMpls);  // label range 16-900000
    check_refused(c, {
        {"mpls label-range 2000 1000", "label range 2000-1000 is empty"},
        {"mpls label-range 16 150", "label range 16-150 would leave out label 200 (static ILM entry mpls label 200)"},
        {"mpls label-range 101 900000", "would leave out label 100 (vrf blue's VPN label)"},
        {"mpls label-range 16 24000", "would leave out label 24001 (adjacency-sid 24001 via 192.0.2.2)"},
        {"mpls label 950000 drop", "label 950000 for static ILM entry mpls label 950000 is outside the MPLS label range 16-900000"},
        {"vrf red label 900001", "is outside the MPLS label range 16-900000"},
        {"segment-routing adjacency-sid 950000 via 192.0.2.9", "is outside the MPLS label range"},
        {"segment-routing policy to-pe2 binding-sid 950000", "is outside the MPLS label range"},
        {"segment-routing srgb 899000 900001", "SRGB 899000-900001 is outside the MPLS label range 16-900000"},
    });

    RunningConfig sr = load(
        "segment-routing srgb 16000 23999\n"
        "segment-routing policy p segments 16001 via 192.0.2.1\n"
        "segment-routing policy p binding-sid 15001\n");
    check_refused(sr, {
        {"mpls label-range 16 15000", "label range 16-15000 would leave out label 15001 (policy p's binding SID)"},
        {"mpls label-range 16 20000", "would leave out part of the SRGB 16000-23999"},
        {"mpls label-range 15001 20000", "would leave out part of the SRGB 16000-23999"},
    });
    CHECK(apply_line(sr, "no segment-routing policy p segments 16001 via 192.0.2.1") == "");
    CHECK(apply_line(sr, "mpls label-range 16000 23999") == "");
    CHECK(apply_line(sr, "mpls label 24000 drop").find("outside the MPLS label range 16000-23999") != std::string::npos);
    check_round_trip(sr);
}

TEST_CASE("Static label entries: actions, paths and the ECMP limit", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    check_refused(c, {
        {"mpls label 202 drop", "label 202 is a lookup entry; delete it first"},
        {"mpls label 200 lookup", "label 200 is a swap/pop entry; delete it first"},
        {"mpls label 204 pop via 192.0.2.2", "label 204 is a drop entry; delete it first"},
        {"mpls label 204 drop", "label 204 is already a drop entry"},
        {"mpls label 202 lookup vrf red", "label 202 already looks up in vrf blue; delete it first"},
        {"mpls label 202 lookup vrf blue", "label 202 already looks up in vrf blue"},
        {"mpls label 203 lookup vrf default", "label 203 already looks up in the default table"},
        {"no mpls label 202 drop", "label 202 is a lookup entry, not a drop entry"},
        {"no mpls label 204 lookup", "label 204 is a drop entry, not a lookup entry"},
        {"no mpls label 205 drop", "no static ILM entry for label 205"},
        {"no mpls label 200 swap 999 via 192.0.2.2", "label 200 has no such path"},
        {"no mpls label 200 swap 300/400 via 192.0.2.2 interface p0", "label 200 has no such path"},
        {"mpls label 200 swap 300/400 via 192.0.2.2 interface p0 backup 192.0.2.3 backup-labels 16003/300",
         "label 200 already has this path"},
        {"mpls label 200 swap 999 via 192.0.2.2 interface p0",
         "label 200 already has a path via 192.0.2.2 with other labels or backup; delete it first"},
        {"mpls label 201 pop via 192.0.2.9 interface p7", "unknown interface p7"},
        {"mpls label 201 pop via 192.0.2.9 backup 192.0.2.8 backup-interface p7", "unknown interface p7"},
        {"mpls label 201 pop via 192.0.2.9 backup 2001:db8::8", "backup 2001:db8::8 is not of the same address family"},
        {"mpls label 201 pop via 192.0.2.9 backup 192.0.2.9", "backup 192.0.2.9 is the primary path itself"},
    });

    // "no" with the same line removes one path; the entry goes with its last path.
    CHECK(apply_line(c, "no mpls label 200 swap 301 via 192.0.2.3") == "");
    CHECK(c.mpls.ilm.at(200).paths.size() == 1);
    CHECK(apply_line(c, "no mpls label 200 swap 300/400 via 192.0.2.2 interface p0 backup 192.0.2.3 "
                        "backup-labels 16003/300") == "");
    CHECK(c.mpls.ilm.count(200) == 0);
    CHECK(apply_line(c, "mpls label 200 drop") == "");  // free for another action now
    CHECK(apply_line(c, "no mpls label 203 lookup vrf default") == "");
    CHECK(c.mpls.ilm.count(203) == 0);

    // Swap and pop paths may share a label; at most 8 of them.
    for (int i = 1; i <= 8; ++i) {
        std::string line = fmt::format("mpls label 300 {} via 192.0.2.{}", i % 2 ? "pop" : "swap 16", 10 + i);
        CHECK(apply_line(c, line) == "");
    }
    CHECK(c.mpls.ilm.at(300).paths.size() == 8);
    CHECK(apply_line(c, "mpls label 300 pop via 192.0.2.30").find("already has 8 paths (the ECMP maximum)") !=
          std::string::npos);
    check_round_trip(c);
    for (int i = 1; i <= 8; ++i) {
        std::string line = fmt::format("no mpls label 300 {} via 192.0.2.{}", i % 2 ? "pop" : "swap 16", 10 + i);
        CHECK(apply_line(c, line) == "");
    }
    CHECK(c.mpls.ilm.count(300) == 0);
}

TEST_CASE("Labelled, leaking and steered routes", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    check_refused(c, {
        {"route 10.0.0.0/8 via 192.0.2.2", "route 10.0.0.0/8 already has this next hop with other labels or backup"},
        {"route 10.0.0.0/8 via 192.0.2.2 labels 16002 backup 192.0.2.3 backup-interface p0 backup-labels 16003/16002",
         "route 10.0.0.0/8 already has this next hop"},
        {"no route 10.0.0.0/8 via 192.0.2.2 labels 16002", "route 10.0.0.0/8 has no such next hop"},
        {"route 10.5.0.0/16 via 192.0.2.2 backup 192.0.2.2", "backup 192.0.2.2 is the primary path itself"},
        {"route 10.5.0.0/16 via 192.0.2.2 backup 2001:db8::2", "not of the same address family"},
        {"route 10.5.0.0/16 via 192.0.2.2 backup 192.0.2.3 backup-interface p9", "unknown interface p9"},
        {"route 10.5.0.0/16 policy nope", "unknown segment-routing policy nope"},
        {"route 10.1.0.0/16 via 192.0.2.2", "route 10.1.0.0/16 already exists with another kind of next hop"},
        {"route 10.1.0.0/16 policy detour", "route 10.1.0.0/16 already exists with another kind of next hop"},
        {"route 10.0.0.0/8 next-vrf red", "route 10.0.0.0/8 already exists with another kind of next hop"},
        {"route 10.2.0.0/16 next-vrf blue", "route 10.2.0.0/16 already has this next hop"},
        {"route vrf blue 203.0.113.128/25 blackhole", "route vrf blue 203.0.113.128/25 already exists with another kind"},
        {"no route 10.1.0.0/16 policy detour", "route 10.1.0.0/16 has no such next hop"},
    });
    // The same prefix may be in several tables.
    CHECK(apply_line(c, "route 203.0.113.0/24 via 192.0.2.2 labels 16002/24") == "");
    CHECK(apply_line(c, "route vrf red 10.2.0.0/16 next-vrf default") == "");
    CHECK(apply_line(c, "route vrf red 10.5.0.0/16 policy to-pe2") == "");

    // ECMP in a VRF: 8 next hops at most, removed one by one.
    for (int i = 2; i < 10; ++i)
        CHECK(apply_line(c, "route vrf red 172.16.0.0/12 via 198.51.100." + std::to_string(i) + " labels 16") == "");
    CHECK(apply_line(c, "route vrf red 172.16.0.0/12 via 198.51.100.10").find("ECMP maximum") != std::string::npos);
    check_round_trip(c);
    for (int i = 2; i < 10; ++i)
        CHECK(apply_line(c, "no route vrf red 172.16.0.0/12 via 198.51.100." + std::to_string(i) + " labels 16") == "");
    CHECK(c.vrfs.at("red").routes.count(pfx("172.16.0.0/12")) == 0);
}

TEST_CASE("Segment routing: SRGB, prefix SIDs, adjacency SIDs and policies", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    check_refused(c, {
        {"segment-routing srgb 200 100", "SRGB 200-100 is empty"},
        {"segment-routing srgb 100000 165536", "SRGB 100000-165536 has 65537 labels, at most 65536"},
        {"segment-routing srgb 30000 30001", "prefix-sid 10.255.0.2/32 index 2 does not fit the SRGB 30000-30001"},
        {"no segment-routing srgb 16000 23999", "prefix-sid 10.255.0.2/32 uses the SRGB; delete the prefix SIDs first"},
        {"no segment-routing srgb 16000 24000", "the SRGB is 16000-23999, not 16000-24000"},
        {"segment-routing prefix-sid 192.0.2.9/32 index 8000", "index 8000 is outside the SRGB 16000-23999"},
        {"segment-routing prefix-sid 192.0.2.9/32 index 1", "index 1 is already the prefix-sid of 192.0.2.1/32"},
        {"segment-routing prefix-sid 192.0.2.1/32 index 5", "prefix-sid 192.0.2.1/32 already has index 1; delete it first"},
        {"segment-routing prefix-sid 192.0.2.1/32 index 1", "prefix-sid 192.0.2.1/32 already has index 1"},
        {"no segment-routing prefix-sid 192.0.2.1/32 index 5", "prefix-sid 192.0.2.1/32 has index 1, not 5"},
        {"no segment-routing prefix-sid 192.0.2.7/32 index 5", "no prefix-sid for 192.0.2.7/32"},
        {"segment-routing neighbor-srgb 192.0.2.9 200 100", "neighbor SRGB 200-100 is empty"},
        {"segment-routing neighbor-srgb 192.0.2.9 16 100000", "has 99985 labels, at most 65536"},
        {"no segment-routing neighbor-srgb 192.0.2.9 17000 24999", "no neighbor-srgb for 192.0.2.9"},
        {"no segment-routing neighbor-srgb 192.0.2.2 17000 25000", "neighbor 192.0.2.2's SRGB is 17000-24999, not 17000-25000"},
        {"segment-routing adjacency-sid 24003 via 192.0.2.2 interface p9", "unknown interface p9"},
        {"no segment-routing adjacency-sid 24001 via 192.0.2.9", "adjacency-sid 24001 has another next hop"},
        {"no segment-routing adjacency-sid 24009 via 192.0.2.9", "no adjacency-sid 24009"},
        {"segment-routing policy to-pe2 segments 16 via 192.0.2.2 interface p9", "unknown interface p9"},
        {"segment-routing policy 9lives segments 16 via 192.0.2.2", "invalid policy name '9lives'"},
        {"segment-routing policy nope binding-sid 15005", "unknown segment-routing policy nope"},
        {"no segment-routing policy to-pe2 binding-sid 15005", "policy to-pe2 has no binding SID 15005"},
        {"no segment-routing policy nope segments 16 via 192.0.2.2", "unknown segment-routing policy nope"},
        {"no segment-routing policy to-pe2 segments 16002/24005 via 192.0.2.2 interface p0",
         "route 10.1.0.0/16 steers into policy to-pe2; delete the route first"},
        {"no segment-routing policy detour segments 16003 via 192.0.2.3",
         "route vrf blue 203.0.113.128/25 steers into policy detour; delete the route first"},
    });

    // Replacing a policy keeps its binding SID.
    CHECK(apply_line(c, "segment-routing policy to-pe2 segments 16009/16010/3 via 2001:db8::2") == "");
    const SrPolicy& p = c.sr.policies.at("to-pe2");
    CHECK(p.segments == LabelList{16009, 16010, 3});
    CHECK(p.gateway == ip("2001:db8::2"));
    CHECK(p.ifname.empty());
    CHECK(p.binding_sid == 15000u);
    // Deleting a policy frees its binding SID.
    CHECK(apply_line(c, "no route 10.1.0.0/16 policy to-pe2") == "");
    CHECK(apply_line(c, "no segment-routing policy to-pe2 segments 1 via 192.0.2.2") == "");
    CHECK(c.sr.policies.count("to-pe2") == 0);
    CHECK(apply_line(c, "segment-routing adjacency-sid 15000 via 192.0.2.5") == "");

    // The SRGB may grow or move while its prefix SIDs fit, and goes once they are gone.
    CHECK(apply_line(c, "segment-routing srgb 30000 30002") == "");
    CHECK(apply_line(c, "segment-routing neighbor-srgb 192.0.2.2 18000 18999") == "");  // replaces
    CHECK(c.sr.neighbor_srgbs.at(ip("192.0.2.2")) == LabelBlock{18000, 18999});
    check_round_trip(c);
    CHECK(apply_line(c, "no segment-routing prefix-sid 192.0.2.1/32 index 1") == "");
    CHECK(apply_line(c, "no segment-routing prefix-sid 10.255.0.2/32 index 2") == "");
    CHECK(apply_line(c, "no segment-routing srgb 30000 30002") == "");
    CHECK_FALSE(c.sr.srgb);
    CHECK(apply_line(c, "segment-routing prefix-sid 192.0.2.1/32 index 1").find("needs an SRGB") != std::string::npos);
    CHECK(apply_line(c, "no segment-routing srgb 16000 23999") == "no SRGB is configured");
    check_round_trip(c);
}

TEST_CASE("A sub-interface cannot be deleted while MPLS or SR state uses it", "[config][mpls]") {
    RunningConfig c = load(kMpls);
    CHECK(apply_line(c, "interface p0.7 vlan 7 parent p0") == "");
    const std::string del = "no interface p0.7 vlan 7 parent p0";
    const std::pair<std::string, std::string> users[] = {
        {"route 10.7.0.0/16 via 192.0.2.7 interface p0.7", "route 10.7.0.0/16 uses interface p0.7"},
        {"route 10.7.0.0/16 via 192.0.2.7 backup 192.0.2.8 backup-interface p0.7",
         "route 10.7.0.0/16 uses interface p0.7"},
        {"route vrf red 10.7.0.0/16 interface p0.7", "route vrf red 10.7.0.0/16 uses interface p0.7"},
        {"mpls label 700 pop via 192.0.2.7 interface p0.7", "mpls label 700 uses interface p0.7"},
        {"mpls label 700 swap 16 via 192.0.2.7 backup 192.0.2.8 backup-interface p0.7",
         "mpls label 700 uses interface p0.7"},
        {"segment-routing adjacency-sid 24700 via 192.0.2.7 interface p0.7", "adjacency-sid 24700 uses interface p0.7"},
        {"segment-routing policy seven segments 16007 via 192.0.2.7 interface p0.7",
         "segment-routing policy seven uses interface p0.7"},
    };
    for (auto& [add, expect] : users) {
        INFO(add);
        REQUIRE(apply_line(c, add) == "");
        check_refused(c, {{del, expect}});
        REQUIRE(apply_line(c, "no " + add) == "");
    }
    CHECK(apply_line(c, del) == "");
}

TEST_CASE("Random command sequences keep a running-config that rebuilds them", "[config][mpls]") {
    // Lines that depend on one another in every way the render order must respect.
    const std::vector<std::string> pool = {
        "vrf blue", "no vrf blue", "vrf red", "no vrf red", "vrf blue label 100", "no vrf blue label 100",
        "vrf red label 16005", "vrf red label 101", "no vrf red label 101",
        "mpls label-range 16 30000", "mpls label-range 100 25000", "no mpls label-range 16 16",
        "mpls ttl-mode pipe", "no mpls ttl-mode pipe",
        "interface p0.5 vlan 5 parent p0", "no interface p0.5 vlan 5 parent p0",
        "interface p0 vrf blue", "no interface p0 vrf blue", "interface p1 vrf red", "no interface p1 vrf red",
        "interface p0.5 vrf red", "no interface p0.5 vrf red",
        "interface p0 address 192.0.2.1/24", "interface p1 address 192.0.2.1/24", "interface p0.5 address 192.0.2.1/24",
        "no interface p0 address 192.0.2.1/24", "no interface p1 address 192.0.2.1/24",
        "interface p0 mpls", "no interface p0 mpls",
        "segment-routing srgb 16000 23999", "segment-routing srgb 20000 20099", "no segment-routing srgb 16000 23999",
        "no segment-routing srgb 20000 20099",
        "segment-routing prefix-sid 10.255.0.1/32 index 1", "no segment-routing prefix-sid 10.255.0.1/32 index 1",
        "segment-routing prefix-sid 10.255.0.2/32 index 50", "no segment-routing prefix-sid 10.255.0.2/32 index 50",
        "segment-routing neighbor-srgb 192.0.2.2 17000 24999", "no segment-routing neighbor-srgb 192.0.2.2 17000 24999",
        "segment-routing adjacency-sid 24001 via 192.0.2.2 interface p0.5",
        "no segment-routing adjacency-sid 24001 via 192.0.2.2 interface p0.5",
        "segment-routing adjacency-sid 100 via 192.0.2.3", "no segment-routing adjacency-sid 100 via 192.0.2.3",
        "segment-routing policy pol segments 16001/24001 via 192.0.2.2 interface p0.5",
        "segment-routing policy pol segments 16002 via 192.0.2.3", "no segment-routing policy pol segments 1 via 192.0.2.3",
        "segment-routing policy pol binding-sid 15000", "segment-routing policy pol binding-sid 100",
        "no segment-routing policy pol binding-sid 15000",
        "mpls label 100 drop", "no mpls label 100 drop", "mpls label 200 lookup vrf blue", "no mpls label 200 lookup vrf blue",
        "mpls label 200 lookup", "no mpls label 200 lookup",
        "mpls label 300 swap 16001 via 192.0.2.2 interface p0.5 backup 192.0.2.3 backup-labels 3",
        "no mpls label 300 swap 16001 via 192.0.2.2 interface p0.5 backup 192.0.2.3 backup-labels 3",
        "mpls label 300 pop via 192.0.2.4", "no mpls label 300 pop via 192.0.2.4",
        "route 10.0.0.0/8 via 192.0.2.2 labels 16001 backup 192.0.2.3 backup-interface p0.5",
        "no route 10.0.0.0/8 via 192.0.2.2 labels 16001 backup 192.0.2.3 backup-interface p0.5",
        "route 10.0.0.0/8 via 192.0.2.4", "no route 10.0.0.0/8 via 192.0.2.4",
        "route 10.1.0.0/16 policy pol", "no route 10.1.0.0/16 policy pol",
        "route 10.2.0.0/16 next-vrf blue", "no route 10.2.0.0/16 next-vrf blue",
        "route vrf blue 0.0.0.0/0 next-vrf default", "no route vrf blue 0.0.0.0/0 next-vrf default",
        "route vrf blue 10.0.0.0/8 next-vrf red", "no route vrf blue 10.0.0.0/8 next-vrf red",
        "route vrf red 10.0.0.0/8 policy pol", "no route vrf red 10.0.0.0/8 policy pol",
        "route vrf red 10.3.0.0/16 interface p0.5", "no route vrf red 10.3.0.0/16 interface p0.5",
    };
    std::mt19937 rng(4364);
    for (int round = 0; round < 20; ++round) {
        RunningConfig c = load("interface p0 device net_null0\ninterface p1 device net_null1\n");
        size_t applied = 0;
        for (int step = 0; step < 300; ++step) {
            const std::string& line = pool[rng() % pool.size()];
            RunningConfig before = c;
            std::string err = apply_line(c, line);
            INFO(line << " -> " << err);
            if (err.empty()) {
                ++applied;
            } else {
                REQUIRE(c == before);
            }
            if (step % 50 == 49) check_round_trip(c);
        }
        CHECK(applied > 0);
        check_round_trip(c);
    }
}
