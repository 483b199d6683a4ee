// Source address validation through the real worker code: the SAV check on
// the ingress interface before anything else, per-interface mode (enforce:
// drop and count per reason; monitor: count and forward), live changes from
// the CLI, and EFP-B rules built from an MRT file loaded with `sav load mrt`.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include <fmt/format.h>

#include "sav/mrt.hpp"
#include "tests/pipeline/fixture.hpp"

using namespace rampart;
using namespace rampart::test;

namespace {

// A UDP datagram from `src` arriving on port0 from host A's MAC, to host B.
Bytes on_port0(const IpAddr& src, const IpAddr& dst = kHostB) {
    return ether(kPort0Mac, kHostAMac, 0x0800, ipv4(src, dst, 17, 64, udp(src, dst, 4000, 53, pattern(18))));
}
Bytes on_port0_v6(const IpAddr& src, const IpAddr& dst = kHostB6) {
    return ether(kPort0Mac, kHostAMac, 0x86dd, ipv6(src, dst, 17, 64, udp(src, dst, 4000, 53, pattern(18))));
}
// From router R on port1, to host A.
Bytes on_port1(const IpAddr& src) {
    return ether(kPort1Mac, kRouterMac, 0x0800, ipv4(src, kHostA, 17, 64, udp(src, kHostA, 4000, 53, pattern(18))));
}

size_t forwarded(Pipeline& p, unsigned port) { return p.wire_out(port).size(); }

std::string temp_path(const char* name) {
    return fmt::format("/tmp/rampart-sav-{}-{}", getpid(), name);
}

sav::MrtRibRoute rib_route(const char* prefix, std::vector<sav::Asn> path) {
    sav::MrtRibRoute r;
    r.peer_index = 0;
    r.route.prefix = *Prefix::parse(prefix);
    r.route.as_path = {sav::AsPathSegment{false, std::move(path)}};
    return r;
}

}  // namespace

TEST_CASE("SAV strict uRPF in enforce mode drops spoofed sources per reason, forwards legitimate ones",
          "[pipeline][sav]") {
    TwoSided p;
    p.exec("interface port0 sav strict");
    REQUIRE(p.tables->iface(0)->sav_mode == SavMode::enforce);
    REQUIRE(p.tables->sav() != nullptr);

    p.send(0, on_port0(kHostA));              // connected on port0: legitimate
    p.send(0, on_port0(addr("192.0.2.99")));  // the route back leaves by port1: wrong interface
    p.send(0, on_port0(addr("100.64.9.9")));  // no route at all: no rule
    p.send(0, on_port0(addr("100.64.9.10")));
    p.run();
    CHECK(forwarded(p, 1) == 1);
    CHECK(p.drops(0, Drop::sav_wrong_interface) == 1);
    CHECK(p.drops(0, Drop::sav_no_rule) == 2);
    CHECK(p.drops(1, Drop::sav_wrong_interface) == 0);

    // IPv6 alike.
    p.send(0, on_port0_v6(kHostA6));
    p.send(0, on_port0_v6(addr("2001:db8:c::9")));
    p.run();
    CHECK(forwarded(p, 1) == 1);
    CHECK(p.drops(0, Drop::sav_wrong_interface) == 2);

    // port1 has SAV off: no lookup, nothing counted, anything goes.
    p.send(1, on_port1(addr("100.64.9.9")));
    p.run();
    CHECK(forwarded(p, 0) == 1);
    CHECK(p.drops(1, Drop::sav_no_rule) == 0);

    auto show = p.control->execute("show sav interface port0");
    REQUIRE(show.ok);
    CHECK(show.text.find("mechanism strict, mode enforce") != std::string::npos);
    CHECK(show.text.find("dropped: 2 no rule, 2 wrong interface") != std::string::npos);
    auto why = p.control->execute("show sav prefix 192.0.2.99/32");
    REQUIRE(why.ok);
    INFO(why.text);
    CHECK(why.text.find("port0 (strict): refused") != std::string::npos);
}

TEST_CASE("SAV monitor mode counts and forwards; live mode changes take effect at once", "[pipeline][sav]") {
    TwoSided p;
    p.exec("interface port0 sav strict monitor");
    REQUIRE(p.tables->iface(0)->sav_mode == SavMode::monitor);
    p.send(0, on_port0(kHostA));
    p.send(0, on_port0(addr("192.0.2.99")));
    p.send(0, on_port0(addr("100.64.9.9")));
    p.run();
    CHECK(forwarded(p, 1) == 3);
    CHECK(p.counters(0).sav_monitor_wrong_interface == 1);
    CHECK(p.counters(0).sav_monitor_no_rule == 1);
    CHECK(p.drops(0, Drop::sav_no_rule) + p.drops(0, Drop::sav_wrong_interface) == 0);

    p.exec("interface port0 sav strict");  // enforce, live
    p.send(0, on_port0(addr("192.0.2.99")));
    p.run();
    CHECK(forwarded(p, 1) == 0);
    CHECK(p.drops(0, Drop::sav_wrong_interface) == 1);

    p.exec("interface port0 sav loose");  // another mechanism: the route to 192.0.2.0/24 makes it valid
    p.send(0, on_port0(addr("192.0.2.99")));
    p.send(0, on_port0(addr("100.64.9.9")));
    p.run();
    CHECK(forwarded(p, 1) == 1);
    CHECK(p.drops(0, Drop::sav_no_rule) == 1);

    p.exec("no interface port0 sav");  // off: no lookup, nothing counted
    REQUIRE(p.tables->iface(0)->sav_mode == SavMode::off);
    p.send(0, on_port0(addr("100.64.9.9")));
    p.run();
    CHECK(forwarded(p, 1) == 1);
    CHECK(p.drops(0, Drop::sav_no_rule) == 1);
    CHECK(p.counters(0).sav_monitor_no_rule == 1);

    // The running-config shows the live state.
    p.exec("interface port0 sav efp-b monitor");
    auto rc = p.control->execute("show running-config");
    CHECK(rc.text.find("interface port0 sav efp-b monitor\n") != std::string::npos);

    // A route added later changes the rules incrementally.
    p.exec("interface port0 sav strict");
    p.send(0, on_port0(addr("100.64.9.9")));
    p.run();
    CHECK(forwarded(p, 1) == 0);
    p.exec("route 100.64.0.0/16 via 198.51.100.10");
    p.send(0, on_port0(addr("100.64.9.9")));
    p.run();
    CHECK(forwarded(p, 1) == 1);
}

TEST_CASE("SAV EFP-B from an MRT file loaded by the CLI; a malformed file keeps the previous table",
          "[pipeline][sav][mrt]") {
    TwoSided p;
    // port1 faces a customer AS 64501 whose routes (and its customer 64502's) arrive there.
    sav::MrtWriter w;
    w.peer_index_table(0x0a000001, "rampart", {sav::MrtPeer{0xcb007102, kRouter, 64501}});
    w.rib(0, *Prefix::parse("10.1.0.0/16"), {rib_route("10.1.0.0/16", {64501})});
    w.rib(1, *Prefix::parse("10.2.0.0/16"), {rib_route("10.2.0.0/16", {64501, 64502})});
    const std::string good = temp_path("good.mrt");
    w.write_file(good);

    p.exec("interface port1 sav-role customer asn 64501");
    p.exec("interface port1 sav efp-b");
    auto load = p.control->execute("sav load mrt " + good + " interface port1");
    INFO(load.text);
    REQUIRE(load.ok);
    CHECK(load.text.find("Adj-RIB-In of port1") != std::string::npos);

    p.send(1, on_port1(addr("10.1.2.3")));     // in the customer's cone
    p.send(1, on_port1(addr("10.2.200.1")));   // its customer's
    p.send(1, on_port1(addr("172.16.0.1")));   // nobody's: no rule
    p.send(1, on_port1(addr("198.51.100.77")));  // port0's subnet: a rule, not for port1
    p.run();
    CHECK(forwarded(p, 0) == 2);
    CHECK(p.drops(1, Drop::sav_no_rule) == 1);
    CHECK(p.drops(1, Drop::sav_wrong_interface) == 1);
    auto why = p.control->execute("show sav prefix 10.2.0.0/16");
    INFO(why.text);
    CHECK(why.text.find("port1 (efp-b): allowed") != std::string::npos);

    // A truncated copy: rejected with file, record and reason; the rules stay.
    std::vector<uint8_t> bytes = w.bytes();
    bytes.resize(bytes.size() - 5);
    const std::string bad = temp_path("bad.mrt");
    {
        std::ofstream f(bad, std::ios::binary);
        f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
    auto refused = p.control->execute("sav load mrt " + bad + " interface port1");
    CHECK_FALSE(refused.ok);
    CHECK(refused.text.find(bad) != std::string::npos);
    CHECK(refused.text.find("record 2") != std::string::npos);
    CHECK(refused.text.find("previous SAV table stays in force") != std::string::npos);
    p.send(1, on_port1(addr("10.2.200.1")));
    p.run();
    CHECK(forwarded(p, 0) == 1);

    // Malformed RPKI JSON alike.
    const std::string json = temp_path("bad.json");
    {
        std::ofstream f(json);
        f << R"({"roas": [{"asn": 64501, "prefix": "10.1.0.0/16", "maxLength": 24}, {"asn": "ASx"}]})";
    }
    auto rpki = p.control->execute("sav load rpki " + json);
    INFO(rpki.text);
    CHECK_FALSE(rpki.ok);
    CHECK(rpki.text.find("roas[1]") != std::string::npos);
    p.send(1, on_port1(addr("10.1.2.3")));
    p.run();
    CHECK(forwarded(p, 0) == 1);

    std::remove(good.c_str());
    std::remove(bad.c_str());
    std::remove(json.c_str());
}

TEST_CASE("SAV inputs in the startup configuration are loaded when it is installed", "[pipeline][sav][mrt]") {
    TwoSided p;
    sav::MrtWriter w;
    w.peer_index_table(0x0a000001, "rampart", {sav::MrtPeer{0xcb007102, kRouter, 64501}});
    w.rib(0, *Prefix::parse("10.1.0.0/16"), {rib_route("10.1.0.0/16", {64501})});
    const std::string good = temp_path("startup.mrt");
    w.write_file(good);

    RunningConfig startup = p.control->config();
    auto err = load_config_text(startup, "interface port1 sav-role customer asn 64501\n"
                                         "interface port1 sav efp-b\n"
                                         "sav load mrt " + good + " interface port1\n");
    REQUIRE_FALSE(err);
    CHECK(p.control->install(startup).empty());
    auto shown = p.control->execute("show sav interface port1");
    INFO(shown.text);
    CHECK(shown.text.find("Adj-RIB-In loaded from " + good) != std::string::npos);
    p.send(1, on_port1(addr("10.1.2.3")));   // in the customer's cone: allowed by the loaded routes
    p.send(1, on_port1(addr("172.16.0.1")));  // nobody's: no rule
    p.run();
    CHECK(forwarded(p, 0) == 1);
    CHECK(p.drops(1, Drop::sav_no_rule) == 1);
    // The line stays in the running configuration, so a saved configuration boots with it.
    CHECK(p.control->execute("show running-config").text.find("sav load mrt " + good + " interface port1\n") !=
          std::string::npos);

    // A file that is gone by the next start is a warning, not a failed start.
    std::remove(good.c_str());
    CHECK(p.control->install(startup).find("% warning: ") != std::string::npos);
}

TEST_CASE("BAR-SAV follows the RPKI view: the JSON file and the RTR caches united, live", "[pipeline][sav][rpki]") {
    TwoSided p;
    p.exec("sav local-asn 64496");
    p.exec("interface port1 sav-role customer asn 64501");
    p.exec("interface port1 sav bar-sav");
    const std::string json = temp_path("roas.json");
    {
        std::ofstream f(json);
        f << R"({"roas": [{"asn": 64501, "prefix": "10.1.0.0/16", "maxLength": 24}]})";
    }
    REQUIRE(p.control->execute("sav load rpki " + json).ok);
    CHECK(p.control->rpki().origin_validity(*Prefix::parse("10.1.0.0/16"), 64501) == rpki::OriginValidity::valid);
    auto sent = [&](const char* src) {
        const size_t before = p.wire_out(0).size();
        p.send(1, on_port1(addr(src)));
        p.run();
        return p.wire_out(0).size() - before;
    };
    CHECK(sent("10.1.2.3") == 1);  // the JSON ROA puts it in the customer's cone
    CHECK(sent("10.2.2.3") == 0);

    // An RTR cache adds 10.2.0.0/16 for the customer: both pass (the union).
    CHECK(p.control->rpki_rtr_update({{*Prefix::parse("10.2.0.0/16"), 16, 64501}}, {}).empty());
    CHECK(p.control->rpki().vrp_count() == 2);
    CHECK(sent("10.2.2.3") == 1);
    CHECK(sent("10.1.2.3") == 1);

    // The cache moves it to another AS: refused again; the JSON part stays.
    CHECK(p.control->rpki_rtr_update({{*Prefix::parse("10.2.0.0/16"), 16, 64999}}, {}).empty());
    CHECK(p.control->rpki().origin_validity(*Prefix::parse("10.2.0.0/16"), 64501) == rpki::OriginValidity::invalid);
    CHECK(sent("10.2.2.3") == 0);
    CHECK(sent("10.1.2.3") == 1);

    // A JSON reload without the ROA: the RTR part alone decides.
    {
        std::ofstream f(json);
        f << R"({"roas": [{"asn": 64501, "prefix": "10.2.0.0/16", "maxLength": 24}]})";
    }
    REQUIRE(p.control->execute("sav load rpki " + json).ok);
    CHECK(sent("10.1.2.3") == 0);
    CHECK(sent("10.2.2.3") == 1);
    CHECK(p.control->rpki().vrp_count(rpki::Source::json) == 1);
    CHECK(p.control->rpki().vrp_count(rpki::Source::rtr) == 1);
    std::remove(json.c_str());
}
