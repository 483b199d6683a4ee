// The configuration model: all-or-nothing application, precise errors, and a
// running-config that rebuilds the same configuration.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "slowpath/config/section.hpp"
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

// With the keys: a running-config without them does not load back (see the IPsec tests).
void check_round_trip(const RunningConfig& c) {
    std::string text = render_running_config(c, true);
    RunningConfig again;
    auto err = load_config_text(again, text);
    INFO(text);
    INFO(err.value_or(""));
    REQUIRE(!err);
    CHECK(again == c);
    CHECK(render_running_config(again, true) == text);
    bool keys = std::any_of(c.ipsec.sas.begin(), c.ipsec.sas.end(), [](const auto& sa) {
        return !sa.second.cipher_key.empty() || !sa.second.integrity_key.empty();
    });
    if (!keys) CHECK(render_running_config(c) == text);
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

// ---------------------------------------------------------------------------
// IPsec
// ---------------------------------------------------------------------------

namespace {
// Added to kMpls (vrf blue): every IPsec command and optional part.
const char* kIpsec = R"(
vrf green
ipsec sa out-a outbound spi 4097 tunnel 192.0.2.1 192.0.2.2
ipsec sa out-a encryption aes-gcm-256 key 0x000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20212223
ipsec sa out-a esn
ipsec sa in-a inbound spi 4098 tunnel 192.0.2.1 192.0.2.2
ipsec sa in-a encryption aes-gcm-256 key 404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60616263
ipsec sa in-a esn
ipsec sa in-a replay-window 1024
ipsec sa out-b outbound spi 4097 tunnel 2001:db8::1 2001:db8::3 vrf blue
ipsec sa out-b encryption aes-cbc-128 key 808182838485868788898a8b8c8d8e8f
ipsec sa out-b integrity hmac-sha-256 key 909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf
ipsec sa in-b inbound spi 5000 tunnel 2001:db8::1 2001:db8::3 vrf blue
ipsec sa in-b encryption aes-cbc-256 key b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf
ipsec sa in-b integrity hmac-sha-512-256 key d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f
ipsec sa in-c inbound spi 6000 tunnel 192.0.2.1 192.0.2.9
ipsec sa in-c integrity hmac-sha-384 key 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
ipsec sa in-c encryption null
ipsec sa out-c outbound spi 6001 tunnel 192.0.2.1 192.0.2.9
ipsec sa out-c encryption chacha20-poly1305 key 505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70717273
ipsec policy 10 local 10.0.0.0/8 remote 172.16.0.0/12 protocol 6 remote-ports 23 23 discard
ipsec policy 20 local 10.0.0.0/8 remote 172.16.0.0/12 protocol 1 local-ports 8 8 remote-ports 0 0 bypass
ipsec policy 100 local 10.0.0.0/8 remote 172.16.0.0/12 protect out-a inbound in-a
ipsec policy 110 local 10.9.1.2/16 remote 172.17.0.0/16 protocol 17 local-ports 500 500 protect out-c inbound in-c
ipsec policy 65535 local 0.0.0.0/0 remote 0.0.0.0/0 bypass
ipsec policy 100 vrf blue local 2001:db8:b::/48 remote 2001:db8:c::/48 protect out-b inbound in-b
ipsec policy 200 vrf default local 10.1.0.0/16 remote 172.18.0.0/16 protocol 132 local-ports 1 2 remote-ports 3 4 protect out-a
ipsec policy 1000 vrf blue local ::/0 remote ::/0 discard
)";

RunningConfig load_ipsec() {
    RunningConfig c = load(kMpls);
    auto err = load_config_text(c, kIpsec);
    INFO(err.value_or(""));
    REQUIRE(!err);
    return c;
}

std::string hex_bytes(size_t n, int first = 0) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", (first + i) % 256);
    return out;
}
}  // namespace

TEST_CASE("IPsec SAs and SPD entries load and round-trip with their keys", "[config][ipsec]") {
    RunningConfig c = load_ipsec();
    const auto& sas = c.ipsec.sas;
    REQUIRE(sas.size() == 6);
    const IpsecSaConfig& out_a = sas.at("out-a");
    CHECK(out_a.direction == IpsecSaConfig::Direction::outbound);
    CHECK(out_a.spi == 4097);
    CHECK(out_a.local == ip("192.0.2.1"));
    CHECK(out_a.remote == ip("192.0.2.2"));
    CHECK(out_a.vrf.empty());
    CHECK(out_a.cipher == "aes-gcm-256");
    CHECK(out_a.cipher_key.size() == 36);
    CHECK(out_a.cipher_key[35] == 35);
    CHECK(out_a.integrity.empty());
    CHECK(out_a.esn);
    CHECK(out_a.replay_window == 64);
    CHECK(out_a.complete());
    CHECK(sas.at("in-a").replay_window == 1024);
    CHECK(sas.at("out-b").vrf == "blue");
    CHECK(sas.at("out-b").integrity == "hmac-sha-256");
    CHECK(sas.at("out-b").integrity_key.size() == 32);
    CHECK(sas.at("in-b").integrity == "hmac-sha-512");  // the RFC 4868 spelling, stored canonical
    CHECK(sas.at("in-c").cipher == "null");
    CHECK(sas.at("in-c").cipher_key.empty());
    CHECK(sas.at("out-c").cipher == "chacha20-poly1305");
    for (auto& [name, sa] : sas) CHECK(sa.complete());

    const auto& spd = c.ipsec.policies.at("");
    REQUIRE(spd.size() == 6);
    CHECK(spd.at(10).protocol == uint8_t{6});
    CHECK(spd.at(10).local_port_lo == 0);
    CHECK(spd.at(10).local_port_hi == 65535);
    CHECK(spd.at(10).remote_port_lo == 23);
    CHECK(spd.at(10).action == IpsecPolicyConfig::Action::discard);
    CHECK(spd.at(20).action == IpsecPolicyConfig::Action::bypass);
    CHECK(spd.at(20).local_port_hi == 8);
    CHECK(spd.at(100).outbound_sa == "out-a");
    CHECK(spd.at(100).inbound_sa == "in-a");
    CHECK(spd.at(110).local == pfx("10.9.0.0/16"));  // stored as the network
    CHECK_FALSE(spd.at(65535).protocol);
    CHECK(spd.at(200).inbound_sa.empty());  // "vrf default" is the default table
    CHECK(c.ipsec.policies.at("blue").size() == 2);
    CHECK(c.ipsec.policies.count("green") == 0);

    check_round_trip(c);
    // SAs after the VRFs, then the SPD in (vrf, seq) order.
    std::string text = render_running_config(c, true);
    CHECK(text.find("vrf green\n") < text.find("ipsec sa in-a inbound spi 4098 tunnel 192.0.2.1 192.0.2.2\n"));
    CHECK(text.find("ipsec sa in-a replay-window 1024\n") != std::string::npos);
    CHECK(text.find("ipsec sa in-c encryption null\n") != std::string::npos);
    CHECK(text.find("ipsec sa out-a encryption aes-gcm-256 key " + hex_bytes(36) + "\n") != std::string::npos);
    CHECK(text.find("ipsec sa in-b integrity hmac-sha-512 key " + hex_bytes(64, 0xd0) + "\n") != std::string::npos);
    CHECK(text.find("ipsec policy 65535 local 0.0.0.0/0 remote 0.0.0.0/0 bypass\n") <
          text.find("ipsec policy 100 vrf blue local 2001:db8:b::/48 remote 2001:db8:c::/48 protect out-b inbound in-b\n"));
    CHECK(text.find("ipsec policy 200 local 10.1.0.0/16 remote 172.18.0.0/16 protocol 132 local-ports 1 2 "
                    "remote-ports 3 4 protect out-a\n") != std::string::npos);
    CHECK(text.find("ipsec sa in-a replay-window 64") == std::string::npos);  // defaults are not rendered
}

TEST_CASE("show running-config hides the keys, and such text does not load back", "[config][ipsec]") {
    RunningConfig c = load_ipsec();
    std::string text = render_running_config(c);
    CHECK(text.find("ipsec sa out-a encryption aes-gcm-256 key <secret>\n") != std::string::npos);
    CHECK(text.find("ipsec sa out-b integrity hmac-sha-256 key <secret>\n") != std::string::npos);
    CHECK(text.find("ipsec sa in-c encryption null\n") != std::string::npos);  // no key to hide
    for (auto& [name, sa] : c.ipsec.sas)
        for (auto* key : {&sa.cipher_key, &sa.integrity_key}) {
            if (key->empty()) continue;
            std::string hex;
            for (uint8_t b : *key) hex += fmt::format("{:02x}", b);
            CHECK(text.find(hex.substr(0, 16)) == std::string::npos);
        }
    // Everything but the keys is the same as with them.
    std::string full = render_running_config(c, true);
    auto strip = [](std::string t) {
        for (size_t at; (at = t.find(" key ")) != std::string::npos;) t.erase(at, t.find('\n', at) - at);
        return t;
    };
    CHECK(strip(text) == strip(full));

    // Deliberately: a hidden key is not a key.
    RunningConfig again;
    auto err = load_config_text(again, text);
    REQUIRE(err);
    CHECK(err->find(": ipsec sa in-a encryption aes-gcm-256 key <secret>: invalid hex value for <key>: character 1 is "
                    "not a hex digit") != std::string::npos);
    CHECK(again == RunningConfig{});
}

TEST_CASE("IPsec SA lines are validated and keys never appear in messages", "[config][ipsec]") {
    RunningConfig c = load_ipsec();
    const std::string k15 = hex_bytes(15, 0xa0), k16 = hex_bytes(16, 0xa0), k20 = hex_bytes(20, 0xa0),
                      k31 = hex_bytes(31, 0xa0), k32 = hex_bytes(32, 0xa0);
    const std::vector<Bad> bad = {
        // identity
        {"ipsec sa 9x inbound spi 300 tunnel 192.0.2.1 192.0.2.2", "invalid SA name '9x'"},
        {"ipsec sa default inbound spi 300 tunnel 192.0.2.1 192.0.2.2", "invalid SA name 'default'"},
        {"ipsec sa n inbound spi 300 tunnel 192.0.2.1 2001:db8::2",
         "tunnel endpoints 192.0.2.1 and 2001:db8::2 are not of the same address family"},
        {"ipsec sa n inbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf red2", "unknown vrf red2"},
        {"ipsec sa n inbound spi 4098 tunnel 192.0.2.1 192.0.2.7", "spi 4098 is already used by inbound ipsec sa in-a"},
        {"ipsec sa n inbound spi 5000 tunnel 192.0.2.1 192.0.2.7 vrf blue",
         "spi 5000 is already used by inbound ipsec sa in-b"},
        {"ipsec sa n outbound spi 4097 tunnel 192.0.2.5 192.0.2.2",
         "spi 4097 towards 192.0.2.2 is already used by outbound ipsec sa out-a"},
        {"ipsec sa out-c outbound spi 4097 tunnel 192.0.2.1 192.0.2.2",
         "spi 4097 towards 192.0.2.2 is already used by outbound ipsec sa out-a"},
        {"ipsec sa out-a inbound spi 7000 tunnel 192.0.2.1 192.0.2.2",
         "ipsec policy 100 uses ipsec sa out-a as an outbound SA; it cannot become inbound"},
        {"ipsec sa in-b outbound spi 7000 tunnel 2001:db8::1 2001:db8::3 vrf blue",
         "ipsec policy 100 vrf blue uses ipsec sa in-b as an inbound SA; it cannot become outbound"},
        {"ipsec sa out-b outbound spi 4097 tunnel 2001:db8::1 2001:db8::3",
         "ipsec policy 100 vrf blue uses ipsec sa out-b for vrf blue; the SA cannot move to the default table"},
        {"no ipsec sa out-a outbound spi 4097 tunnel 192.0.2.1 192.0.2.2",
         "ipsec policy 100 uses ipsec sa out-a; delete the policy first"},
        {"no ipsec sa in-b inbound spi 5000 tunnel 2001:db8::1 2001:db8::3 vrf blue",
         "ipsec policy 100 vrf blue uses ipsec sa in-b; delete the policy first"},
        {"no ipsec sa out-a outbound spi 4098 tunnel 192.0.2.1 192.0.2.2",
         "ipsec sa out-a is outbound spi 4097 tunnel 192.0.2.1 192.0.2.2, not outbound spi 4098 tunnel 192.0.2.1 "
         "192.0.2.2"},
        {"no ipsec sa out-b outbound spi 4097 tunnel 2001:db8::1 2001:db8::3",
         "ipsec sa out-b is outbound spi 4097 tunnel 2001:db8::1 2001:db8::3 vrf blue, not outbound spi 4097 tunnel "
         "2001:db8::1 2001:db8::3"},
        {"no ipsec sa nope inbound spi 300 tunnel 192.0.2.1 192.0.2.2", "unknown ipsec sa nope"},
        // encryption
        {"ipsec sa nope encryption aes-gcm-128 key " + k20,
         "unknown ipsec sa nope; create it with 'ipsec sa nope inbound|outbound spi ...' first"},
        {"ipsec sa out-a encryption aes-gcm-129 key " + k20, "unknown cipher 'aes-gcm-129': expected one of: null,"},
        {"ipsec sa out-a encryption aes-gcm-128 key " + k15, "key is 15 bytes, aes-gcm-128 needs 20 (16 + 4-byte salt)"},
        {"ipsec sa out-a encryption aes-gcm-256 key " + k32, "key is 32 bytes, aes-gcm-256 needs 36 (32 + 4-byte salt)"},
        {"ipsec sa out-a encryption chacha20-poly1305 key " + k32,
         "key is 32 bytes, chacha20-poly1305 needs 36 (32 + 4-byte salt)"},
        {"ipsec sa out-a encryption aes-cbc-256 key " + k31, "key is 31 bytes, aes-cbc-256 needs 32"},
        {"ipsec sa out-a encryption aes-cbc-128 key " + k20, "key is 20 bytes, aes-cbc-128 needs 16"},
        {"ipsec sa out-b encryption aes-gcm-128 key " + k20,
         "aes-gcm-128 is a combined-mode (AEAD) cipher: integrity must be 'none', got 'hmac-sha-256'; remove ipsec sa "
         "out-b's integrity first"},
        {"no ipsec sa out-a encryption aes-gcm-128 key 00", "ipsec sa out-a uses aes-gcm-256, not aes-gcm-128"},
        {"no ipsec sa out-a encryption null", "ipsec sa out-a uses aes-gcm-256, not null"},
        {"no ipsec sa out-a encryption des key 00", "unknown cipher 'des'"},
        // integrity
        {"ipsec sa out-a integrity hmac-sha-256 key " + k32,
         "aes-gcm-256 is a combined-mode (AEAD) cipher: integrity must be 'none', got 'hmac-sha-256'"},
        {"ipsec sa out-b integrity hmac-md5 key " + k16, "unknown integrity algorithm 'hmac-md5': expected one of:"},
        {"ipsec sa out-b integrity none key 00", "integrity 'none' needs no line"},
        {"ipsec sa out-b integrity hmac-sha-384 key " + k32, "key is 32 bytes, hmac-sha-384 needs 48"},
        {"ipsec sa out-b integrity hmac-sha-256-128 key " + k16, "key is 16 bytes, hmac-sha-256 needs 32"},
        {"no ipsec sa out-b integrity hmac-sha-512 key 00", "ipsec sa out-b uses hmac-sha-256, not hmac-sha-512"},
        {"no ipsec sa out-a integrity hmac-sha-256 key 00", "ipsec sa out-a has no integrity algorithm"},
        {"ipsec sa nope integrity hmac-sha-256 key " + k32, "unknown ipsec sa nope"},
        // options
        {"ipsec sa out-a replay-window 128", "ipsec sa out-a is outbound; only an inbound SA has a replay window"},
        {"ipsec sa in-a replay-window 100", "replay-window 100 is not a multiple of 64"},
        {"ipsec sa nope esn", "unknown ipsec sa nope"},
        {"ipsec sa nope replay-window 128", "unknown ipsec sa nope"},
    };
    check_refused(c, bad);
    for (auto& b : bad) {  // no message quotes key material
        std::string err = apply_line(c, b.text);
        INFO(b.text << " -> " << err);
        CHECK(err.find("a0a1a2") == std::string::npos);
    }

    // An unused SA may change its identity; keys and options stay.
    CHECK(apply_line(c, "ipsec sa out-a outbound spi 9999 tunnel 192.0.2.1 192.0.2.3") == "");  // still in use: same way
    CHECK(c.ipsec.sas.at("out-a").spi == 9999);
    CHECK(c.ipsec.sas.at("out-a").cipher_key.size() == 36);
    CHECK(c.ipsec.sas.at("out-a").esn);
    CHECK(apply_line(c, "ipsec sa n outbound spi 9999 tunnel 192.0.2.5 192.0.2.2") == "");  // another remote
    CHECK(apply_line(c, "ipsec sa n2 inbound spi 9999 tunnel 192.0.2.5 192.0.2.2") == "");  // another direction
    CHECK(apply_line(c, "ipsec sa n2 replay-window 4096") == "");
    check_refused(c, {{"ipsec sa n2 outbound spi 9998 tunnel 192.0.2.5 192.0.2.2",
                       "ipsec sa n2 has replay-window 4096, which only an inbound SA has; remove it first"}});
    CHECK(apply_line(c, "no ipsec sa n2 replay-window 4096") == "");
    CHECK(apply_line(c, "ipsec sa n2 outbound spi 9998 tunnel 192.0.2.5 192.0.2.2 vrf green") == "");
    CHECK(c.ipsec.sas.at("n2").direction == IpsecSaConfig::Direction::outbound);
    CHECK(c.ipsec.sas.at("n2").vrf == "green");

    // The model allows a half-configured SA between lines; complete() tells.
    IpsecSaConfig& n = c.ipsec.sas.at("n");
    CHECK_FALSE(n.complete());
    CHECK(apply_line(c, "ipsec sa n encryption aes-cbc-128 key " + k16) == "");
    CHECK_FALSE(n.complete());  // CBC needs integrity
    CHECK(apply_line(c, "ipsec sa n integrity hmac-sha-256 key " + k32) == "");
    CHECK(n.complete());
    CHECK(apply_line(c, "ipsec sa n encryption aes-cbc-256 key 0x" + k32) == "");  // replaced
    CHECK(n.cipher == "aes-cbc-256");
    CHECK(n.cipher_key.size() == 32);
    CHECK(apply_line(c, "ipsec sa n encryption null") == "");
    CHECK(n.complete());  // null with an HMAC
    CHECK(apply_line(c, "no ipsec sa n integrity hmac-sha-256 key 00") == "");  // the key need not match
    CHECK_FALSE(n.complete());
    CHECK(n.integrity_key.empty());
    CHECK(apply_line(c, "no ipsec sa n encryption null") == "");
    CHECK(n.cipher.empty());
    CHECK(apply_line(c, "ipsec sa n encryption aes-gcm-128 key " + k20) == "");
    CHECK(n.complete());
    check_refused(c, {{"no ipsec sa n integrity hmac-sha-256 key 00", "ipsec sa n has no integrity algorithm"}});
    CHECK(apply_line(c, "no ipsec sa n encryption aes-gcm-128 key ff") == "");
    check_refused(c, {{"no ipsec sa n encryption aes-gcm-128 key ff", "ipsec sa n has no encryption"}});
    CHECK(apply_line(c, "no ipsec sa n esn") == "");
    CHECK(apply_line(c, "no ipsec sa n outbound spi 9999 tunnel 192.0.2.5 192.0.2.2") == "");
    CHECK(c.ipsec.sas.count("n") == 0);
    check_round_trip(c);
}

TEST_CASE("IPsec SPD entries are validated", "[config][ipsec]") {
    RunningConfig c = load_ipsec();
    const std::string sel = "local 10.0.0.0/8 remote 0.0.0.0/0";
    check_refused(c, {
        {"ipsec policy 5 local 10.0.0.0/8 remote 2001:db8::/32 bypass",
         "local 10.0.0.0/8 and remote 2001:db8::/32 are not of the same address family"},
        {"ipsec policy 5 vrf red2 " + sel + " bypass", "unknown vrf red2"},
        {"ipsec policy 5 " + sel + " local-ports 1 2 bypass", "local-ports needs a protocol"},
        {"ipsec policy 5 " + sel + " remote-ports 1 2 discard", "remote-ports needs a protocol"},
        {"ipsec policy 5 " + sel + " protocol 47 local-ports 1 2 bypass", "protocol 47 has no ports"},
        {"ipsec policy 5 " + sel + " protocol 6 remote-ports 10 5 bypass",
         "remote-ports 10 5 is empty: the first is above the second"},
        {"ipsec policy 5 " + sel + " protocol 17 local-ports 2 1 bypass", "local-ports 2 1 is empty"},
        {"ipsec policy 5 " + sel + " protocol 1 local-ports 0 256 bypass",
         "local-ports 0 256: with protocol 1 these are ICMP types, 0-255"},
        {"ipsec policy 5 local ::/0 remote ::/0 protocol 58 remote-ports 0 300 bypass",
         "remote-ports 0 300: with protocol 58 these are ICMP codes, 0-255"},
        {"ipsec policy 5 " + sel + " protect nope", "unknown ipsec sa nope"},
        {"ipsec policy 5 " + sel + " protect in-a", "ipsec sa in-a is inbound; protect needs an outbound SA"},
        {"ipsec policy 5 " + sel + " protect out-a inbound out-c",
         "ipsec sa out-c is outbound; inbound needs an inbound SA"},
        {"ipsec policy 5 " + sel + " protect out-a inbound nope", "unknown ipsec sa nope"},
        {"ipsec policy 5 vrf blue " + sel + " protect out-a",
         "ipsec sa out-a carries traffic of the default table, not of vrf blue"},
        {"ipsec policy 5 " + sel + " protect out-b", "ipsec sa out-b carries traffic of vrf blue, not of the default table"},
        {"ipsec policy 5 vrf blue " + sel + " protect out-b inbound in-a",
         "ipsec sa in-a carries traffic of the default table, not of vrf blue"},
        {"ipsec policy 100 " + sel + " protect in-a", "ipsec sa in-a is inbound"},  // a replacement is checked too
        {"no ipsec policy 7 " + sel + " bypass", "no ipsec policy 7"},
        {"no ipsec policy 10 vrf blue " + sel + " bypass", "no ipsec policy 10 vrf blue"},
        {"no ipsec policy 100 vrf green " + sel + " bypass", "no ipsec policy 100 vrf green"},
        {"no ipsec policy 100 local 10.0.0.0/8 remote 172.16.0.0/16 protect out-a",
         "ipsec policy 100 has other selectors"},
        {"no ipsec policy 10 local 10.0.0.0/8 remote 172.16.0.0/12 protocol 17 remote-ports 23 23 discard",
         "ipsec policy 10 has other selectors"},
        {"no ipsec policy 10 local 10.0.0.0/8 remote 172.16.0.0/12 protocol 6 discard",
         "ipsec policy 10 has other selectors"},
    });

    // The same (vrf, seq) replaces the entry; the SA it used is then free.
    CHECK(apply_line(c, "ipsec policy 200 local 10.1.0.0/16 remote 172.18.0.0/16 discard") == "");
    CHECK(apply_line(c, "ipsec policy 100 local 10.0.0.0/8 remote 172.16.0.0/12 discard") == "");
    CHECK(c.ipsec.policies.at("").at(100).action == IpsecPolicyConfig::Action::discard);
    CHECK(c.ipsec.policies.at("").at(100).outbound_sa.empty());
    CHECK(apply_line(c, "no ipsec sa out-a outbound spi 4097 tunnel 192.0.2.1 192.0.2.2") == "");
    // Ports spelled out in full are the default; an ICMP range may be 0-255.
    CHECK(apply_line(c, "ipsec policy 6 " + sel + " protocol 6 local-ports 0 65535 bypass") == "");
    CHECK(apply_line(c, "ipsec policy 7 " + sel + " protocol 1 local-ports 0 255 remote-ports 255 255 bypass") == "");
    CHECK(apply_line(c, "ipsec policy 8 local 10.0.0.0/8 remote 2001:db8::/32 protect out-b") != "");
    CHECK(apply_line(c, "ipsec policy 8 vrf blue local 10.0.0.0/8 remote 172.16.0.0/12 protect out-b") == "");  // 4in6
    check_round_trip(c);
    CHECK(render_running_config(c).find("ipsec policy 6 local 10.0.0.0/8 remote 0.0.0.0/0 protocol 6 bypass\n") !=
          std::string::npos);

    // "no" needs the selectors, not the action; a VRF's last entry takes its SPD with it.
    CHECK(apply_line(c, "no ipsec policy 20 local 10.0.0.0/8 remote 172.16.0.0/12 protocol 1 local-ports 8 8 "
                        "remote-ports 0 0 discard") == "");
    CHECK(c.ipsec.policies.at("").count(20) == 0);
    for (auto line : {"no ipsec policy 100 vrf blue local 2001:db8:b::/48 remote 2001:db8:c::/48 bypass",
                      "no ipsec policy 1000 vrf blue local ::/0 remote ::/0 discard",
                      "no ipsec policy 8 vrf blue local 10.0.0.0/8 remote 172.16.0.0/12 protect in-b"})
        CHECK(apply_line(c, line) == "");
    CHECK(c.ipsec.policies.count("blue") == 0);
    check_round_trip(c);
}

TEST_CASE("A VRF cannot be deleted while IPsec uses it", "[config][ipsec]") {
    RunningConfig c = load(
        "vrf green\n"
        "ipsec sa g-out outbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf green\n"
        "ipsec policy 5 vrf green local 10.0.0.0/8 remote 10.0.0.0/8 protect g-out\n"
        "ipsec sa g-in inbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf green\n");
    check_refused(c, {{"no vrf green", "ipsec policy 5 vrf green is in vrf green; delete the VRF's ipsec policies first"}});
    CHECK(apply_line(c, "ipsec policy 5 vrf green local 10.0.0.0/8 remote 10.0.0.0/8 bypass") == "");
    check_refused(c, {{"no vrf green", "ipsec policy 5 vrf green is in vrf green"}});
    CHECK(apply_line(c, "no ipsec policy 5 vrf green local 10.0.0.0/8 remote 10.0.0.0/8 bypass") == "");
    check_refused(c, {{"no vrf green", "ipsec sa g-in carries traffic of vrf green; delete it first"}});
    CHECK(apply_line(c, "no ipsec sa g-in inbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf green") == "");
    check_refused(c, {{"no vrf green", "ipsec sa g-out carries traffic of vrf green; delete it first"}});
    CHECK(apply_line(c, "ipsec sa g-out outbound spi 300 tunnel 192.0.2.1 192.0.2.2") == "");  // moved out
    CHECK(apply_line(c, "no vrf green") == "");
    check_round_trip(c);
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
        "ipsec sa sa-out outbound spi 300 tunnel 192.0.2.1 192.0.2.2",
        "ipsec sa sa-out outbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf blue",
        "no ipsec sa sa-out outbound spi 300 tunnel 192.0.2.1 192.0.2.2",
        "no ipsec sa sa-out outbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf blue",
        "ipsec sa sa-in inbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf blue",
        "ipsec sa sa-in inbound spi 301 tunnel 2001:db8::1 2001:db8::2",
        "no ipsec sa sa-in inbound spi 300 tunnel 192.0.2.1 192.0.2.2 vrf blue",
        "no ipsec sa sa-in inbound spi 301 tunnel 2001:db8::1 2001:db8::2",
        "ipsec sa sa-in outbound spi 302 tunnel 192.0.2.1 192.0.2.3 vrf blue",
        "ipsec sa sa-out encryption aes-gcm-128 key 303132333435363738393a3b3c3d3e3f40414243", "ipsec sa sa-out encryption aes-cbc-128 key 0x303132333435363738393a3b3c3d3e3f",
        "no ipsec sa sa-out encryption aes-cbc-128 key 00", "no ipsec sa sa-out encryption aes-gcm-128 key 00",
        "ipsec sa sa-out integrity hmac-sha-256 key 606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f", "no ipsec sa sa-out integrity hmac-sha-256 key 00",
        "ipsec sa sa-in encryption null", "ipsec sa sa-in integrity hmac-sha-256-128 key 606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f",
        "ipsec sa sa-in esn", "no ipsec sa sa-in esn", "ipsec sa sa-in replay-window 256",
        "no ipsec sa sa-in replay-window 256",
        "ipsec policy 10 vrf blue local 10.0.0.0/8 remote 0.0.0.0/0 protect sa-out inbound sa-in",
        "ipsec policy 10 vrf blue local 10.0.0.0/8 remote 0.0.0.0/0 bypass",
        "no ipsec policy 10 vrf blue local 10.0.0.0/8 remote 0.0.0.0/0 discard",
        "ipsec policy 20 local 10.0.0.0/8 remote 0.0.0.0/0 protocol 17 local-ports 500 500 protect sa-out",
        "no ipsec policy 20 local 10.0.0.0/8 remote 0.0.0.0/0 protocol 17 local-ports 500 500 bypass",
        "ipsec policy 30 vrf red local 2001:db8::/32 remote ::/0 protocol 58 remote-ports 0 255 discard",
        "no ipsec policy 30 vrf red local 2001:db8::/32 remote ::/0 protocol 58 remote-ports 0 255 discard",
    };
    std::mt19937 rng(4364);
    size_t with_spd = 0;  // steps that ended with SPD entries (which need SAs, which need VRFs)
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
            if (!c.ipsec.policies.empty()) ++with_spd;
        }
        CHECK(applied > 0);
        check_round_trip(c);
    }
    CHECK(with_spd > 100);
}

TEST_CASE("IPsec NAT traversal and tunnel ip-mtu round-trip and validate", "[config][ipsec]") {
    RunningConfig c;
    REQUIRE_FALSE(load_config_text(c, "interface wan device net_null0\n"
                                      "interface wan address 203.0.113.1/24\n"
                                      "ipsec sa out1 outbound spi 4097 tunnel 203.0.113.1 203.0.113.2\n"
                                      "ipsec sa out1 encryption aes-gcm-128 key 000102030405060708090a0b0c0d0e0f10111213\n"
                                      "ipsec sa out1 nat-traversal remote-port 61000\n"
                                      "ipsec sa out1 ip-mtu 1400\n"
                                      "ipsec sa out1 encapsulated-ip-mtu 1300\n"
                                      "ipsec sa in1 inbound spi 4098 tunnel 203.0.113.1 203.0.113.2\n"
                                      "ipsec sa in1 encryption aes-gcm-128 key 000102030405060708090a0b0c0d0e0f10111213\n"
                                      "ipsec sa in1 nat-traversal\n"));
    CHECK(c.ipsec.sas.at("out1").nat_traversal == 61000);
    CHECK(c.ipsec.sas.at("in1").nat_traversal == 4500);
    CHECK(c.ipsec.sas.at("out1").ip_mtu == 1400);
    check_round_trip(c);
    auto err = load_config_text(c, "ipsec sa in1 ip-mtu 1400\n");
    REQUIRE(err);
    CHECK_THAT(*err, Catch::Contains("inbound; ip-mtu applies to what an outbound SA sends"));
    CHECK(c.ipsec.sas.at("out1").encapsulated_ip_mtu == 1300);
    err = load_config_text(c, "ipsec sa in1 encapsulated-ip-mtu 1400\n");
    REQUIRE(err);
    CHECK_THAT(*err, Catch::Contains("inbound; encapsulated-ip-mtu applies to what an outbound SA sends"));
    err = load_config_text(c, "ipsec sa v6 outbound spi 900 tunnel 2001:db8::1 2001:db8::2\nipsec sa v6 encapsulated-ip-mtu 1200\n");
    REQUIRE(err);
    CHECK_THAT(*err, Catch::Contains("below IPv6's minimum MTU of 1280"));
}

TEST_CASE("SAV configuration validates and round-trips", "[config][sav]") {
    RunningConfig c = load(R"(
interface port0 device net_null0
interface port1 device net_null1
interface port0 sav-role customer asn 64501
interface port0 sav efp-b
interface port1 sav-role provider
interface port1 sav loose monitor
sav local-asn 64500
sav allow 192.0.2.0/24 interface port0
sav allow 192.0.2.0/24 interface port1
sav deny 2001:db8:dead::/48
)");
    CHECK(c.interfaces.at("port0").sav == sav::Mechanism::efp_urpf_b);
    CHECK_FALSE(c.interfaces.at("port0").sav_monitor);
    CHECK(c.interfaces.at("port0").sav_neighbor_asn == 64501);
    CHECK(c.interfaces.at("port1").sav == sav::Mechanism::loose_urpf);
    CHECK(c.interfaces.at("port1").sav_monitor);
    CHECK(c.interfaces.at("port1").sav_role == sav::Role::provider);
    CHECK(c.sav.local_asn == 64500);
    CHECK(c.sav.allow.at(*Prefix::parse("192.0.2.0/24")).size() == 2);
    check_round_trip(c);
    const std::string text = render_running_config(c);
    CHECK(text.find("interface port0 sav efp-b\n") != std::string::npos);
    CHECK(text.find("interface port1 sav loose monitor\n") != std::string::npos);
    CHECK(text.find("interface port0 sav-role customer asn 64501\n") != std::string::npos);

    auto apply = [&](const char* line) -> std::optional<std::string> {
        auto parsed = cmd::parse(line);
        REQUIRE(std::holds_alternative<cmd::Parsed>(parsed));
        return apply_command(c, std::get<cmd::Parsed>(parsed), false);
    };
    RunningConfig before = c;
    CHECK(apply("interface port0 sav monitor").value_or("").find("name a mechanism") != std::string::npos);
    CHECK(apply("interface port0 sav off monitor").has_value());
    CHECK(apply("sav allow 198.51.100.0/24 interface nosuch").value_or("") == "unknown interface nosuch");
    CHECK(apply("no sav allow 192.0.2.0/24 interface nosuch").has_value());
    CHECK(apply("no sav deny 2001:db8:beef::/48").has_value());
    CHECK(c == before);  // failed commands change nothing
    CHECK_FALSE(apply("interface port0 sav efp-b monitor"));  // live change to monitor
    CHECK(c.interfaces.at("port0").sav_monitor);
    CHECK_FALSE(apply("no interface port1 sav"));
    CHECK(c.interfaces.at("port1").sav == sav::Mechanism::off);
    CHECK_FALSE(apply("no interface port1 sav-role"));
    CHECK(c.interfaces.at("port1").sav_role == sav::Role::customer);
    CHECK_FALSE(apply("no sav allow 192.0.2.0/24 interface port1"));
    CHECK(c.sav.allow.at(*Prefix::parse("192.0.2.0/24")) == std::set<std::string>{"port0"});
    CHECK_FALSE(apply("no sav deny 2001:db8:dead::/48"));
    CHECK_FALSE(apply("no sav local-asn 64500"));
    CHECK(c.sav.local_asn == 0);
    check_round_trip(c);
}

namespace {
const char* kIke = R"(
ike connection site-b local 198.51.100.1 remote 203.0.113.2
ike connection site-b psk text key "correct horse battery staple"
ike connection site-b proposal aes-cbc-256-sha384 dh 20
ike connection site-b child local-ts 10.1.0.0/16 remote-ts 10.2.0.0/16 esp-proposal aes-gcm-256 policy 500
ike connection site-b start-action trap
ike connection site-b dpd 30
ike connection site-b lifetime child 600
ike connection site-b pfs 31
ike connection v6 local 2001:db8:a::1 remote 2001:db8:b::2
ike connection v6 psk key 0x00112233445566778899aabbccddeeff
ike connection v6 child local-ts 2001:db8:1::/48 remote-ts 2001:db8:2::/48 mode transport
ike connection v6 start-action start
ike connection v6 lifetime ike 3600
ike connection v6 certificate /etc/rampart/ike/v6.pem private-key "/etc/rampart/ike/my key.pem" ca /etc/rampart/ike/ca.pem
)";
}  // namespace

TEST_CASE("IKE connections load, round-trip and hide their pre-shared keys", "[config][ike]") {
    RunningConfig c = load(kIke);
    REQUIRE(c.ike.size() == 2);
    const IkeConnectionConfig& b = c.ike.at("site-b");
    CHECK(b.local == *IpAddr::parse("198.51.100.1"));
    CHECK(std::string(b.psk.begin(), b.psk.end()) == "correct horse battery staple");
    CHECK(b.psk_text);
    CHECK(b.proposal == "aes-cbc-256-sha384");
    CHECK(b.dh == 20);
    REQUIRE(b.child);
    CHECK(b.child->remote_ts == std::vector<Prefix>{*Prefix::parse("10.2.0.0/16")});
    CHECK(b.child->esp_proposal == "aes-gcm-256");
    CHECK(b.child->seq == 500);
    CHECK_FALSE(b.child->transport);
    CHECK(b.start_action == IkeConnectionConfig::StartAction::trap);
    CHECK(b.dpd_seconds == 30);
    CHECK(b.child_lifetime == 600);
    CHECK(b.pfs_group == 31);
    const IkeConnectionConfig& v6 = c.ike.at("v6");
    CHECK(v6.psk.size() == 16);
    CHECK_FALSE(v6.psk_text);
    CHECK(v6.child->transport);
    CHECK(v6.child->seq == 1000);
    CHECK(v6.ike_lifetime == 3600);
    CHECK(v6.key_file == "/etc/rampart/ike/my key.pem");
    CHECK(v6.ca_file == "/etc/rampart/ike/ca.pem");

    std::string full = render_running_config(c, true);
    RunningConfig again;
    auto err = load_config_text(again, full);
    INFO(full);
    REQUIRE(!err);
    CHECK(again == c);
    CHECK(render_running_config(again, true) == full);
    CHECK(full.find("ike connection site-b psk text key \"correct horse battery staple\"\n") != std::string::npos);
    CHECK(full.find("ike connection v6 psk key 00112233445566778899aabbccddeeff\n") != std::string::npos);

    std::string hidden = render_running_config(c);
    CHECK(hidden.find("ike connection site-b psk key <secret>\n") != std::string::npos);
    CHECK(hidden.find("horse") == std::string::npos);
    CHECK(hidden.find("00112233") == std::string::npos);
    RunningConfig none;
    auto bad = load_config_text(none, hidden);
    REQUIRE(bad);
    CHECK(bad->find("psk key <secret>: invalid hex value for <psk>") != std::string::npos);

    // `no` forms restore defaults and delete.
    CHECK(apply_line(c, "no ike connection site-b dpd 30").empty());
    CHECK(c.ike.at("site-b").dpd_seconds == 0);
    CHECK(apply_line(c, "no ike connection site-b pfs 31").empty());
    CHECK(c.ike.at("site-b").pfs_group == 0);
    CHECK(apply_line(c, "no ike connection site-b psk text key x").empty());
    CHECK(c.ike.at("site-b").psk.empty());
    CHECK(apply_line(c, "no ike connection site-b child local-ts 10.1.0.0/16 remote-ts 10.2.0.0/16").empty());
    CHECK_FALSE(c.ike.at("site-b").child);
    CHECK(apply_line(c, "no ike connection v6 local 2001:db8:a::1 remote 2001:db8:b::2").empty());
    CHECK(c.ike.count("v6") == 0);
}

TEST_CASE("IKE identities, TS-lists, PAD, lockout and cookie settings load and round-trip", "[config][ike]") {
    RunningConfig c = load((std::string(kIke) + R"(
ike connection site-b local-id fqdn gw-a.example.com
ike connection site-b remote-id dn "C=CH,  O=Example, CN=gw-b"
ike connection site-b ts-list local 10.3.0.0/16
ike connection site-b ts-list remote 10.4.0.0/16
ike connection site-b ts-list remote 10.5.0.0/16
ike connection site-b reverse-route
ike connection v6 crl "/etc/rampart/ike/ca crl.pem"
ike connection v6 remote-id key-id 0xA0B1
ike pad fqdn gw-b.example.com remote-ts 10.2.1.0/24
ike pad fqdn gw-b.example.com remote-ts 10.4.0.0/16
ike pad ip 203.0.113.9 remote-ts 10.9.0.0/16
ike lockout failures 5 window 120 duration 300
ike cookie-threshold 0
)").c_str());
    const IkeConnectionConfig& b = c.ike.at("site-b");
    REQUIRE(b.local_id);
    CHECK(*b.local_id == IkeIdentity{IkeIdentity::Type::fqdn, "gw-a.example.com"});
    CHECK(*b.remote_id == IkeIdentity{IkeIdentity::Type::dn, "C=CH, O=Example, CN=gw-b"});  // canonical spacing
    CHECK(*c.ike.at("v6").remote_id == IkeIdentity{IkeIdentity::Type::key_id, "a0b1"});
    CHECK(b.child->local_ts == std::vector<Prefix>{pfx("10.1.0.0/16"), pfx("10.3.0.0/16")});
    CHECK(b.child->remote_ts == std::vector<Prefix>{pfx("10.2.0.0/16"), pfx("10.4.0.0/16"), pfx("10.5.0.0/16")});
    CHECK(b.child->policy_count() == 6);  // policies 500-505
    CHECK(b.reverse_route);
    CHECK(c.ike.at("v6").crl_file == "/etc/rampart/ike/ca crl.pem");
    CHECK(c.ike_settings.lockout_failures == 5);
    CHECK(c.ike_settings.lockout_window == 120);
    CHECK(c.ike_settings.lockout_duration == 300);
    CHECK(c.ike_settings.cookie_threshold == 0);
    CHECK(c.ike_settings.pad.at({IkeIdentity::Type::fqdn, "gw-b.example.com"}) ==
          std::vector<Prefix>{pfx("10.2.1.0/24"), pfx("10.4.0.0/16")});
    auto round_trip = [](const RunningConfig& cfg) {
        const std::string full = render_running_config(cfg, true);
        RunningConfig again;
        auto err = load_config_text(again, full);
        INFO(full << err.value_or(""));
        REQUIRE(!err);
        CHECK(again == cfg);
    };
    round_trip(c);
    const std::string text = render_running_config(c);
    CHECK(text.find("ike connection site-b remote-id dn \"C=CH, O=Example, CN=gw-b\"\n") != std::string::npos);
    CHECK(text.find("ike connection site-b ts-list remote 10.5.0.0/16\n") != std::string::npos);
    CHECK(text.find("ike lockout failures 5 window 120 duration 300\nike cookie-threshold 0\n") != std::string::npos);

    // Re-setting the child line keeps the ts-list entries and changes the first pair.
    CHECK(apply_line(c, "ike connection site-b child local-ts 10.11.0.0/16 remote-ts 10.2.0.0/16 policy 500").empty());
    CHECK(c.ike.at("site-b").child->local_ts == std::vector<Prefix>{pfx("10.11.0.0/16"), pfx("10.3.0.0/16")});
    CHECK(apply_line(c, "no ike connection site-b ts-list remote 10.4.0.0/16").empty());
    CHECK(c.ike.at("site-b").child->remote_ts == std::vector<Prefix>{pfx("10.2.0.0/16"), pfx("10.5.0.0/16")});
    CHECK(apply_line(c, "no ike pad fqdn gw-b.example.com remote-ts 10.2.1.0/24").empty());
    CHECK(apply_line(c, "no ike pad fqdn gw-b.example.com remote-ts 10.4.0.0/16").empty());
    CHECK(c.ike_settings.pad.count({IkeIdentity::Type::fqdn, "gw-b.example.com"}) == 0);
    CHECK(apply_line(c, "no ike connection site-b remote-id dn \"C=CH, O=Example, CN=gw-b\"").empty());
    CHECK_FALSE(c.ike.at("site-b").remote_id);
    CHECK(apply_line(c, "no ike lockout failures 5 window 120 duration 300").empty());
    CHECK(c.ike_settings.lockout_failures == 3);
    CHECK(apply_line(c, "no ike cookie-threshold 0").empty());
    CHECK(c.ike_settings.cookie_threshold == 8);
    round_trip(c);
}

TEST_CASE("IKE identities, TS-lists and the PAD refuse bad values precisely", "[config][ike]") {
    RunningConfig c = load(kIke);
    // A 32-entry remote side takes policies 500-531; a 33rd entry is refused.
    for (int i = 1; i < 32; ++i)
        REQUIRE(apply_line(c, fmt::format("ike connection site-b ts-list remote 10.{}.0.0/16", 100 + i)).empty());
    REQUIRE(c.ike.at("site-b").child->remote_ts.size() == 32);
    REQUIRE(apply_line(c, "ike connection v6 child local-ts 2001:db8:1::/48 remote-ts 2001:db8:2::/48 policy 540").empty());
    check_refused(c, {
        {"ike connection site-b ts-list remote 10.200.0.0/16",
         "the TS-list has 32 remote-ts entries already (at most 32)"},
        {"ike connection site-b ts-list remote 10.101.1.0/24", "remote-ts 10.101.1.0/24 overlaps the TS-list's 10.101.0.0/16"},
        {"ike connection site-b ts-list local 2001:db8::/32", "local-ts 2001:db8::/32 is not of the child's family (IPv4)"},
        {"ike connection v6 child local-ts 2001:db8:1::/48 remote-ts 2001:db8:2::/48 policy 520",
         "policies 520-520 overlap ike connection site-b's 500-531"},
        {"ike connection site-b ts-list local 10.3.0.0/16", "policies 500-563 overlap ike connection v6's 540-540"},
        {"no ike connection site-b ts-list remote 10.2.0.0/16",
         "remote-ts 10.2.0.0/16 is the child line's; change or remove the child instead"},
        {"no ike connection site-b ts-list remote 10.250.0.0/16", "the TS-list has no remote-ts 10.250.0.0/16"},
        {"ike connection site-b local-id fqdn bad/name", "fqdn identity 'bad/name' has '/'"},
        {"ike connection site-b local-id email nobody", "email identity 'nobody' is not of the form user@domain"},
        {"ike connection site-b remote-id ip 10.1.2", "ip identity '10.1.2' is not an IPv4 or IPv6 address"},
        {"ike connection site-b remote-id dn \"C=CH, Example\"", "dn identity 'C=CH, Example' has 'Example', not ATTRIBUTE=VALUE"},
        {"ike connection site-b remote-id key-id 0xabc", "key-id identity '0xabc' is not an even number of hex digits"},
        {"ike connection site-b remote-id uid 1000", "unknown identity type 'uid': expected ip, fqdn, email, dn or key-id"},
        {"no ike connection site-b remote-id fqdn x.example.com", "ike connection site-b has no remote-id fqdn x.example.com"},
        {"ike pad fqdn -bad? remote-ts 10.2.0.0/16", "fqdn identity '-bad?' has '?'"},
        {"no ike pad fqdn gw.example.com remote-ts 10.2.0.0/16", "ike pad has no fqdn gw.example.com remote-ts 10.2.0.0/16"},
        {"ike lockout failures 0 window 60 duration 60", "value 0 out of range 1-1000 for <failures>"},
        {"ike connection site-b crl /etc/ca.crl",
         "ike connection site-b has no certificate; a CRL checks the peer's certificate"},
    });
    RunningConfig fresh = load(kIke);
    CHECK(apply_line(fresh, "no ike connection site-b child local-ts 10.1.0.0/16 remote-ts 10.2.0.0/16").empty());
    CHECK(apply_line(fresh, "ike connection site-b ts-list local 10.3.0.0/16") ==
          "ike connection site-b has no child; set it with 'ike connection site-b child local-ts PREFIX remote-ts "
          "PREFIX' first");
}

TEST_CASE("Owned routes: all or nothing, never rendered, not changed by route lines", "[config][ike]") {
    RunningConfig c = load(kIke);
    REQUIRE(apply_line(c, "route 10.9.0.0/16 via 198.51.100.7").empty());
    OwnedRouteChange add;
    add.add = {{pfx("10.2.0.0/16"), ip("203.0.113.2")}, {pfx("10.4.0.0/16"), ip("203.0.113.2")}};
    CHECK_FALSE(apply_owned_route_change(c, "ike", add));
    CHECK(c.routes.at(pfx("10.2.0.0/16")).front().owner == "ike");
    CHECK(render_running_config(c, true).find("10.2.0.0/16 via") == std::string::npos);
    CHECK(render_running_config(c, true).find("route 10.9.0.0/16 via 198.51.100.7") != std::string::npos);
    const RunningConfig before = c;
    OwnedRouteChange clash;
    clash.add = {{pfx("10.5.0.0/16"), ip("203.0.113.2")}, {pfx("10.9.0.0/16"), ip("203.0.113.2")}};
    CHECK(apply_owned_route_change(c, "ike", clash) == "route 10.9.0.0/16 is configured");
    CHECK(apply_owned_route_change(c, "bgp", add) == "route 10.2.0.0/16 is installed by ike");
    OwnedRouteChange wrong_family;
    wrong_family.add = {{pfx("10.6.0.0/16"), ip("2001:db8::1")}};
    CHECK(apply_owned_route_change(c, "ike", wrong_family) ==
          "gateway 2001:db8::1 is not of the same address family as 10.6.0.0/16");
    OwnedRouteChange remove_other;
    remove_other.remove = {pfx("10.9.0.0/16")};
    CHECK(apply_owned_route_change(c, "ike", remove_other) == "route 10.9.0.0/16 is not installed by ike");
    CHECK(c == before);
    CHECK(apply_line(c, "no route 10.2.0.0/16 via 203.0.113.2") ==
          "route 10.2.0.0/16 is installed by ike; it goes when ike removes it");
    OwnedRouteChange remove;
    remove.remove = {pfx("10.2.0.0/16"), pfx("10.4.0.0/16")};
    CHECK_FALSE(apply_owned_route_change(c, "ike", remove));
    CHECK(c.routes.size() == 1);
}

TEST_CASE("IKE connection lines are validated and name the bad token", "[config][ike]") {
    RunningConfig c = load(kIke);
    const RunningConfig before = c;
    CHECK(apply_line(c, "ike connection nope dpd 10") ==
          "unknown ike connection nope; create it with 'ike connection nope local ADDRESS remote ADDRESS' first");
    CHECK(apply_line(c, "ike connection x local 192.0.2.1 remote 2001:db8::1") ==
          "local 192.0.2.1 and remote 2001:db8::1 are of different families");
    CHECK(apply_line(c, "ike connection site-b proposal aes-ccm dh 19").find("unknown IKE proposal 'aes-ccm'") == 0);
    CHECK(apply_line(c, "ike connection site-b proposal aes-gcm-128 dh 5") ==
          "unsupported dh group 5: expected 14, 19, 20 or 31");
    CHECK(apply_line(c, "ike connection site-b pfs 2") == "unsupported dh group 2: expected 14, 19, 20 or 31");
    CHECK(apply_line(c, "ike connection site-b child local-ts 10.1.0.0/16 remote-ts 2001:db8::/32") ==
          "local-ts 10.1.0.0/16 and remote-ts 2001:db8::/32 are of different families");
    CHECK(apply_line(c, "ike connection site-b child local-ts 10.1.0.0/16 remote-ts 10.2.0.0/16 esp-proposal des")
              .find("unknown ESP proposal 'des'") == 0);
    CHECK(apply_line(c, "ike connection v6 child local-ts 2001:db8:1::/48 remote-ts 2001:db8:2::/48 policy 500") ==
          "policy 500 is already used by ike connection site-b");
    CHECK(apply_line(c, "ike connection site-b dpd 0") == "parse: value 0 out of range 1-3600 for <seconds>");
    CHECK(apply_line(c, "ike connection site-b start-action sometimes").find("parse: unknown token 'sometimes'") == 0);
    // A bad hex key is named by its argument, never echoed.
    std::string e = apply_line(c, "ike connection site-b psk key 0xsecretstuff");
    CHECK(e.find("invalid hex value for <psk>") != std::string::npos);
    CHECK(e.find("secretstuff") == std::string::npos);
    CHECK(c == before);
    CHECK(cmd::redact_secrets("ike connection a psk text key \"my words\"") == "ike connection a psk text key <secret>");
}

TEST_CASE("A port's MAC address is set in the startup configuration and round-trips", "[config]") {
    RunningConfig c = load(R"(
interface port0 device net_null0
interface port0 mac 02:00:5e:00:53:aa
interface port0.7 vlan 7 parent port0
)");
    REQUIRE(c.interfaces.at("port0").mac);
    CHECK(c.interfaces.at("port0").mac->str() == "02:00:5e:00:53:aa");
    check_round_trip(c);
    CHECK(render_running_config(c).find("interface port0 mac 02:00:5e:00:53:aa\n") != std::string::npos);
    const RunningConfig before = c;
    CHECK_THAT(apply_line(c, "interface port0 mac 02:00:5e:00:53:bb"), Catch::Contains("startup configuration only"));
    CHECK_THAT(apply_line(c, "interface port0.7 mac 02:00:5e:00:53:bb", true), Catch::Contains("sub-interface"));
    CHECK_THAT(apply_line(c, "interface port0 mac 01:00:5e:00:00:01", true), Catch::Contains("multicast"));
    CHECK(c == before);
    CHECK(apply_line(c, "no interface port0 mac 02:00:5e:00:53:aa", true).empty());
    CHECK_FALSE(c.interfaces.at("port0").mac);
}

TEST_CASE("sav load lines belong to the startup configuration and round-trip", "[config][sav]") {
    RunningConfig c = load(R"(
interface port0 device net_null0
interface port1 device net_null1
interface port1.5 vlan 5 parent port1
sav load mrt "/var/lib/rampart/cust 1.mrt" interface port0
sav load mrt /var/lib/rampart/peer.mrt interface port1.5
sav load rpki /var/lib/rpki-client/json
)");
    CHECK(c.sav.mrt_files.at("port0") == "/var/lib/rampart/cust 1.mrt");
    CHECK(c.sav.rpki_file == "/var/lib/rpki-client/json");
    check_round_trip(c);
    const std::string text = render_running_config(c);
    CHECK(text.find("sav load mrt \"/var/lib/rampart/cust 1.mrt\" interface port0\n") != std::string::npos);
    CHECK(text.find("sav load rpki /var/lib/rpki-client/json\n") != std::string::npos);
    const RunningConfig before = c;
    CHECK(apply_line(c, "sav load mrt /x.mrt interface nosuch") == "unknown interface nosuch");
    // The interface a file feeds is not deleted under it.
    CHECK_THAT(apply_line(c, "no interface port1.5 vlan 5 parent port1"), Catch::Contains("sav load mrt"));
    CHECK(c == before);
    CHECK(apply_line(c, "no sav load mrt /var/lib/rampart/peer.mrt interface port1.5").empty());
    CHECK(apply_line(c, "no interface port1.5 vlan 5 parent port1").empty());
}

TEST_CASE("every registered command has its section, and the sections render in dependency order", "[config]") {
    std::vector<std::string_view> names;
    for (const config::Section* s : config::sections()) names.push_back(s->name());
    for (const std::string& id : cmd::command_ids()) {
        INFO(id);
        const std::string section = id.substr(0, id.find('.'));
        CHECK(std::find(names.begin(), names.end(), section) != names.end());
    }
    // What a line refers to comes first: VRFs before interfaces before routes before SAV lists.
    const std::string text = render_running_config(load(R"(
vrf blue
interface port0 device net_null0
interface port0 vrf blue
interface port0 address 192.0.2.1/24
route vrf blue 198.51.100.0/24 via 192.0.2.2
sav allow 203.0.113.0/24 interface port0
)"));
    const size_t vrf = text.find("vrf blue\n"), port = text.find("interface port0 device"),
                 route = text.find("route vrf blue"), sav = text.find("sav allow");
    CHECK(vrf < port);
    CHECK(port < route);
    CHECK(route < sav);
}

namespace {
const char* kBgp = R"(
bgp as 64500
bgp router-id 192.0.2.1
bgp network 198.51.100.0/24
bgp network 2001:db8:100::/48
bgp neighbor 203.0.113.2 remote-as 64501
bgp neighbor 203.0.113.2 password key "correct horse"
bgp neighbor 203.0.113.2 ttl-security hops 1
bgp neighbor 203.0.113.2 hold-time 30
bgp neighbor 203.0.113.2 max-prefix 1000
bgp neighbor 203.0.113.2 role customer strict
bgp neighbor 203.0.113.2 add-path receive
bgp neighbor 203.0.113.2 import from-transit
bgp neighbor 203.0.113.2 export to-transit
bgp neighbor 2001:db8::2 remote-as 64500
bgp neighbor 2001:db8::2 local-address 2001:db8::1
bgp neighbor 2001:db8::2 passive
bgp neighbor 2001:db8::2 graceful-restart
bgp neighbor 2001:db8::2 route-reflector-client
bgp neighbor 2001:db8::2 family ipv4-unicast
bgp neighbor 2001:db8::2 family ipv6-unicast
bgp neighbor 198.51.100.9 remote-as 4200000001
bgp neighbor 198.51.100.9 ebgp-multihop 3
bgp neighbor 198.51.100.9 add-path both
)";
}  // namespace

TEST_CASE("BGP configuration loads, round-trips and hides its TCP-MD5 keys", "[config][bgp]") {
    RunningConfig c = load(kBgp);
    const BgpConfig& b = c.bgp;
    CHECK(b.asn == 64500);
    CHECK(b.router_id == 0xc0000201u);
    CHECK(b.networks.size() == 2);
    REQUIRE(b.neighbors.size() == 3);
    const BgpNeighborConfig& t = b.neighbors.at(*IpAddr::parse("203.0.113.2"));
    CHECK(t.remote_as == 64501);
    CHECK(t.password == "correct horse");
    CHECK(t.ttl_security_hops == 1);
    CHECK(t.hold_time == 30);
    CHECK(t.max_prefix == 1000u);
    CHECK(t.role == bgp::Role::customer);
    CHECK(t.role_strict);
    CHECK(t.add_path_receive);
    CHECK_FALSE(t.add_path_send);
    CHECK(t.import_policy == "from-transit");
    const BgpNeighborConfig& i = b.neighbors.at(*IpAddr::parse("2001:db8::2"));
    CHECK(i.passive);
    CHECK(i.graceful_restart);
    CHECK(i.route_reflector_client);
    CHECK(i.families == std::set<bgp::AddressFamily>{bgp::kIpv4Unicast, bgp::kIpv6Unicast});
    const BgpNeighborConfig& m = b.neighbors.at(*IpAddr::parse("198.51.100.9"));
    CHECK(m.remote_as == 4200000001u);
    CHECK(m.ebgp_multihop == 3);
    CHECK((m.add_path_receive && m.add_path_send));

    std::string full = render_running_config(c, true);
    RunningConfig again;
    auto err = load_config_text(again, full);
    INFO(full);
    REQUIRE(!err);
    CHECK(again == c);
    CHECK(render_running_config(again, true) == full);
    CHECK(full.find("bgp neighbor 203.0.113.2 password key \"correct horse\"\n") != std::string::npos);
    std::string hidden = render_running_config(c);
    CHECK(hidden.find("bgp neighbor 203.0.113.2 password key <secret>\n") != std::string::npos);
    CHECK(hidden.find("horse") == std::string::npos);

    // Refusals leave the configuration as it was, and name the value.
    RunningConfig before = c;
    CHECK(apply_line(c, "bgp neighbor 192.0.2.99 hold-time 30").find("unknown bgp neighbor 192.0.2.99") != std::string::npos);
    CHECK(apply_line(c, "bgp neighbor 203.0.113.2 hold-time 2").find("hold time 2") != std::string::npos);
    CHECK(apply_line(c, "bgp neighbor 203.0.113.2 ebgp-multihop 5").find("exclude each other") != std::string::npos);
    CHECK(apply_line(c, "bgp neighbor 203.0.113.2 local-address 2001:db8::1").find("family") != std::string::npos);
    CHECK(apply_line(c, "bgp neighbor 203.0.113.2 route-reflector-client").find("iBGP") != std::string::npos);
    CHECK(apply_line(c, "bgp network 198.51.100.1/24").find("host bits") != std::string::npos);
    CHECK(apply_line(c, "bgp router-id 2001:db8::1").find("IPv4") != std::string::npos);
    CHECK(apply_line(c, "bgp as 64999").find("no bgp as 64500") != std::string::npos);
    CHECK(apply_line(c, "no bgp neighbor 203.0.113.2 remote-as 1").find("AS 64501") != std::string::npos);
    CHECK(apply_line(c, "bgp neighbor 203.0.113.2 password key " + std::string(81, 'k')).find("81") != std::string::npos);
    CHECK(c == before);

    // `no` forms.
    CHECK(apply_line(c, "no bgp neighbor 203.0.113.2 password key x").empty());
    CHECK(c.bgp.neighbors.at(*IpAddr::parse("203.0.113.2")).password.empty());
    CHECK(apply_line(c, "no bgp neighbor 203.0.113.2 add-path receive").empty());
    CHECK_FALSE(c.bgp.neighbors.at(*IpAddr::parse("203.0.113.2")).add_path_receive);
    CHECK(apply_line(c, "no bgp neighbor 2001:db8::2 remote-as 64500").empty());
    CHECK(c.bgp.neighbors.size() == 2);
    CHECK(apply_line(c, "no bgp as 64500").empty());
    CHECK(c.bgp == BgpConfig{});
    CHECK(render_running_config(c).find("bgp") == std::string::npos);
    // Neighbours need the local AS first.
    CHECK(apply_line(c, "bgp neighbor 203.0.113.2 remote-as 64501").find("bgp as") != std::string::npos);
}

TEST_CASE("BGP prefix lists and policies load, refuse what is wrong, and round-trip", "[config][bgp]") {
    RunningConfig c = load(R"(
bgp prefix-list customers seq 10 permit 198.51.100.0/24 le 26
bgp prefix-list customers seq 20 deny 2001:db8::/32 ge 48 le 64
bgp policy from-customer term 10 match prefix-list customers
bgp policy from-customer term 10 match rpki invalid
bgp policy from-customer term 10 action reject
bgp policy from-customer term 20 match prefix-list customers
bgp policy from-customer term 20 match as-path origin 64496
bgp policy from-customer term 20 match as-path length-le 10
bgp policy from-customer term 20 match community 64496:100
bgp policy from-customer term 20 match large-community 64496:1:2
bgp policy from-customer term 20 match aspa valid
bgp policy from-customer term 20 action local-pref 200
bgp policy from-customer term 20 action community add no-export
bgp policy from-customer term 20 action community remove 64496:100
bgp policy from-customer term 20 action accept
bgp policy to-peers term 10 action as-path prepend 64500 count 2
bgp policy to-peers term 10 action next-hop-self
bgp policy to-peers term 10 action med 5
bgp policy to-peers term 10 action accept
bgp policy empty
)");
    const auto& pc = c.bgp_policy;
    REQUIRE(pc.prefix_lists.at("customers").size() == 2);
    CHECK(pc.prefix_lists.at("customers").at(20).ge == 48);
    const auto& t20 = pc.policies.at("from-customer").terms.at(20);
    CHECK(t20.origin_as == 64496u);
    CHECK(t20.communities == std::vector<uint32_t>{64496u << 16 | 100});
    CHECK(t20.add_communities == std::vector<uint32_t>{0xFFFFFF01});
    CHECK(t20.aspa == rpki::AspaValidity::valid);
    CHECK(t20.disposition == bgp::PolicyTerm::Disposition::accept);
    CHECK(pc.policies.at("to-peers").terms.at(10).prepend_count == 2);
    CHECK(pc.policies.at("empty").terms.empty());
    check_round_trip(c);

    // Refused, leaving the configuration alone.
    const RunningConfig before = c;
    CHECK(apply_line(c, "bgp policy p term 1 match prefix-list nosuch") == "unknown prefix-list nosuch");
    CHECK(apply_line(c, "no bgp prefix-list customers").find("used by bgp policy from-customer") != std::string::npos);
    CHECK(apply_line(c, "bgp prefix-list l seq 1 permit 198.51.100.0/24 ge 20").find("between") != std::string::npos);
    CHECK(apply_line(c, "bgp prefix-list l seq 1 permit 198.51.100.0/24 ge 28 le 26") == "ge 28 is greater than le 26");
    CHECK(apply_line(c, "bgp policy p term 1 match community 70000:1").find("bad community") != std::string::npos);
    CHECK(apply_line(c, "bgp policy p term 1 match large-community 1:2").find("bad large community") !=
          std::string::npos);
    CHECK(apply_line(c, "no bgp policy from-customer term 20 action med 3") == "term 20 of from-customer has no action med 3");
    CHECK(c == before);

    // Removing piece by piece.
    CHECK(apply_line(c, "no bgp policy from-customer term 20 match as-path origin 64496") == "");
    CHECK_FALSE(c.bgp_policy.policies.at("from-customer").terms.at(20).origin_as);
    CHECK(apply_line(c, "no bgp policy from-customer term 20 action accept") == "");
    CHECK(c.bgp_policy.policies.at("from-customer").terms.at(20).disposition == bgp::PolicyTerm::Disposition::next);
    CHECK(apply_line(c, "no bgp policy from-customer") == "");
    CHECK(apply_line(c, "no bgp prefix-list customers seq 10") == "");
    CHECK(apply_line(c, "no bgp prefix-list customers") == "");
    CHECK(c.bgp_policy.prefix_lists.empty());
    check_round_trip(c);
}

TEST_CASE("RPKI caches and intervals load, round-trip and are checked", "[config][rpki]") {
    RunningConfig c = load(R"(
rpki cache 192.0.2.10 port 323
rpki cache 2001:db8::10 port 8282 preference 2
rpki refresh 300
rpki retry 60
rpki expire 3600
)");
    REQUIRE(c.rpki.caches.size() == 2);
    CHECK(c.rpki.caches[0].preference == 100);
    CHECK(c.rpki.caches[1].preference == 2);
    CHECK(c.rpki.caches[1].port == 8282);
    CHECK(c.rpki.refresh == 300u);
    CHECK(c.rpki.expire == 3600u);
    check_round_trip(c);
    // The same cache again changes its preference, not the list.
    CHECK(apply_line(c, "rpki cache 192.0.2.10 port 323 preference 5").empty());
    REQUIRE(c.rpki.caches.size() == 2);
    CHECK(c.rpki.caches[0].preference == 5);
    CHECK(apply_line(c, "no rpki cache 192.0.2.99 port 323") == "no rpki cache 192.0.2.99 port 323 is configured");
    // RFC 8210 §6: expire longer than refresh and retry.
    CHECK(apply_line(c, "rpki refresh 4000").find("must be longer") != std::string::npos);
    CHECK(c.rpki.refresh == 300u);
    CHECK(apply_line(c, "no rpki expire 3600").empty());
    CHECK(!c.rpki.expire);
    CHECK(apply_line(c, "no rpki cache 192.0.2.10 port 323").empty());
    CHECK(c.rpki.caches.size() == 1);
    check_round_trip(c);
}
