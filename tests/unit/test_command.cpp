// The command language: parsing, normalization, errors, completion, help and
// whole config files.
#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <stdexcept>

#include "common/command.hpp"

using namespace rampart;
using namespace rampart::cmd;

namespace {

Parsed parse_ok(std::string_view line) {
    auto result = parse(line);
    if (auto* error = std::get_if<ParseError>(&result)) FAIL_CHECK("'" << line << "': " << error->message);
    REQUIRE(std::holds_alternative<Parsed>(result));
    return std::get<Parsed>(result);
}

ParseError parse_fail(std::string_view line) {
    auto result = parse(line);
    if (auto* parsed = std::get_if<Parsed>(&result)) FAIL_CHECK("'" << line << "' parsed as '" << parsed->line << "'");
    REQUIRE(std::holds_alternative<ParseError>(result));
    return std::get<ParseError>(result);
}

bool same(const Parsed& a, const Parsed& b) {
    return a.id == b.id && a.negated == b.negated && a.line == b.line && a.args == b.args && a.keywords == b.keywords;
}

const NameLister kPorts = [] { return std::vector<std::string>{"port0", "port1", "uplink", "bad name"}; };

struct Example {
    const char* line;
    Id id;
};

// One line per pattern and per way of filling its optional parts.
const Example kExamples[] = {
    {"interface port0 device net_af_packet0,iface=veth0", Id::InterfaceDevice},
    {"interface port0 device 0000:03:00.0", Id::InterfaceDevice},
    {"interface port0.100 vlan 100 parent port0", Id::InterfaceVlan},
    {"no interface port0.100 vlan 100 parent port0", Id::InterfaceVlan},
    {"interface port0 address 192.0.2.1/24", Id::InterfaceAddress},
    {"interface port0 address 2001:db8::1/64", Id::InterfaceAddress},
    {"no interface port0 address 192.0.2.1/24", Id::InterfaceAddress},
    {"interface port0 mtu 9000", Id::InterfaceMtu},
    {"no interface port0 mtu 9000", Id::InterfaceMtu},
    {"interface port0 shutdown", Id::InterfaceShutdown},
    {"no interface port0 shutdown", Id::InterfaceShutdown},
    {"interface port0 description uplink", Id::InterfaceDescription},
    {"no interface port0 description uplink", Id::InterfaceDescription},
    {"interface port0 neighbor 192.0.2.7 02:00:5e:00:53:07", Id::InterfaceNeighbor},
    {"no interface port0 neighbor 2001:db8::7 02:00:5e:00:53:07", Id::InterfaceNeighbor},
    {"route 198.51.100.0/24 via 192.0.2.254", Id::Route},
    {"route 198.51.100.0/24 via 192.0.2.254 interface port0", Id::Route},
    {"route 2001:db8:1::/48 via fe80::1 interface port1", Id::Route},
    {"route 2001:db8:1::/48 interface port1", Id::Route},
    {"route 203.0.113.0/24 blackhole", Id::Route},
    {"route 203.0.113.0/24 unreachable", Id::Route},
    {"no route 203.0.113.0/24 unreachable", Id::Route},
    {"icmp rate-limit 0", Id::IcmpRateLimit},
    {"icmp rate-limit 1000000", Id::IcmpRateLimit},
    {"no icmp rate-limit 100", Id::IcmpRateLimit},
    {"show interfaces", Id::ShowInterfaces},
    {"show interface port0", Id::ShowInterface},
    {"show route", Id::ShowRoute},
    {"show route ipv4", Id::ShowRoute},
    {"show route ipv6", Id::ShowRoute},
    {"show route 10.0.0.0/8", Id::ShowRoute},
    {"show route ipv4 10.0.0.0/8", Id::ShowRoute},
    {"show route ipv6 2001:db8::/32", Id::ShowRoute},
    {"show neighbors", Id::ShowNeighbors},
    {"show workers", Id::ShowWorkers},
    {"show running-config", Id::ShowRunningConfig},
    {"show version", Id::ShowVersion},
    {"clear counters", Id::ClearCounters},
    {"write config /etc/rampart/rampart.conf", Id::WriteConfig},
};

}  // namespace

TEST_CASE("every command pattern parses", "[command]") {
    std::set<Id> seen;
    for (const auto& example : kExamples) {
        INFO(example.line);
        auto p = parse_ok(example.line);
        CHECK(p.id == example.id);
        CHECK(p.negated == std::string_view(example.line).starts_with("no "));
        CHECK(p.line == example.line);  // the examples are already normalized
        seen.insert(p.id);
    }
    CHECK(seen.size() == static_cast<size_t>(Id::WriteConfig) + 1);
}

TEST_CASE("arguments are captured with their types", "[command]") {
    auto vlan = parse_ok("interface port0.100 vlan 100 parent port0");
    CHECK(vlan.word("name") == "port0.100");
    CHECK(vlan.number("vid") == 100);
    CHECK(vlan.word("parent") == "port0");  // the argument, not the keyword of the same name
    CHECK(vlan.has("parent"));

    auto mtu = parse_ok("interface port0 mtu 1500");
    CHECK(mtu.number("mtu") == 1500);

    auto address = parse_ok("interface port0 address 192.0.2.1/24");
    auto prefix = address.prefix("prefix");
    CHECK(prefix.addr == *IpAddr::parse("192.0.2.1"));  // host bits kept for an interface address
    CHECK(prefix.len == 24);

    auto device = parse_ok("interface port0 device net_af_packet0,iface=veth0");
    CHECK(device.word("dev") == "net_af_packet0,iface=veth0");
    CHECK(scope(device.id) == Scope::config_only);
    CHECK(scope(Id::ShowRoute) == Scope::exec_only);
    CHECK(scope(Id::Route) == Scope::config_and_exec);

    CHECK_THROWS_AS(mtu.word("prefix"), std::out_of_range);
    CHECK_THROWS_AS(mtu.number("name"), std::invalid_argument);
    CHECK_THROWS_AS(address.ip("prefix"), std::invalid_argument);
    CHECK_THROWS_AS(address.mac("name"), std::invalid_argument);
}

TEST_CASE("route forms are told apart by their captures", "[command]") {
    auto via = parse_ok("route 198.51.100.0/24 via 192.0.2.254");
    CHECK(via.has("gateway"));
    CHECK_FALSE(via.has("ifname"));
    CHECK(via.ip("gateway") == *IpAddr::parse("192.0.2.254"));

    auto via_on = parse_ok("route 198.51.100.0/24 via 192.0.2.254 interface port0");
    CHECK(via_on.has("gateway"));
    CHECK(via_on.word("ifname") == "port0");

    auto attached = parse_ok("route 198.51.100.0/24 interface port1");
    CHECK_FALSE(attached.has("gateway"));
    CHECK(attached.word("ifname") == "port1");

    auto blackhole = parse_ok("route 198.51.100.0/24 blackhole");
    CHECK(blackhole.has("blackhole"));
    CHECK_FALSE(blackhole.has("unreachable"));
    CHECK_FALSE(blackhole.has("gateway"));

    auto unreachable = parse_ok("no route 2001:db8::/32 unreachable");
    CHECK(unreachable.negated);
    CHECK(unreachable.has("unreachable"));
    CHECK(unreachable.prefix("prefix") == *Prefix::parse("2001:db8::/32"));

    auto show = parse_ok("show route ipv6");
    CHECK(show.has("ipv6"));
    CHECK_FALSE(show.has("ipv4"));
    CHECK_FALSE(show.has("prefix"));
}

TEST_CASE("normalized lines re-parse to the same command", "[command]") {
    for (const auto& example : kExamples) {
        auto p = parse_ok(example.line);
        auto again = parse_ok(p.line);
        CHECK(same(p, again));
    }
    const std::pair<const char*, const char*> messy[] = {
        {"  interface\tport0   address 2001:DB8:0::1/64  ", "interface port0 address 2001:db8::1/64"},
        {"interface port0 mtu 09000\r", "interface port0 mtu 9000"},
        {"icmp rate-limit 000", "icmp rate-limit 0"},
        {"no   route 10.0.0.0/8 via 10.1.1.1", "no route 10.0.0.0/8 via 10.1.1.1"},
        {"interface port0 description \"plain\"", "interface port0 description plain"},
    };
    for (auto [input, normalized] : messy) {
        INFO(input);
        auto p = parse_ok(input);
        CHECK(p.line == normalized);
        CHECK(same(p, parse_ok(p.line)));
    }
}

TEST_CASE("quoted descriptions", "[command]") {
    auto p = parse_ok(R"(interface port0 description "uplink to core 1")");
    CHECK(p.word("text") == "uplink to core 1");
    CHECK(p.line == R"(interface port0 description "uplink to core 1")");

    auto escaped = parse_ok(R"(interface port0 description "say \"hi\" \\o/")");
    CHECK(escaped.word("text") == R"(say "hi" \o/)");
    CHECK(same(escaped, parse_ok(escaped.line)));

    auto empty = parse_ok(R"(interface port0 description "")");
    CHECK(empty.word("text").empty());
    CHECK(same(empty, parse_ok(empty.line)));

    auto utf8 = parse_ok("interface port0 description \"Zürich – Genève\"");
    CHECK(utf8.word("text") == "Zürich – Genève");

    // A quote inside an unquoted token is ordinary text.
    CHECK(parse_ok(R"(interface port0 description it"s)").word("text") == R"(it"s)");

    auto unterminated = parse_fail(R"(interface port0 description "uplink)");
    CHECK(unterminated.token_index == 3);
    CHECK(unterminated.message == "unterminated quoted string");

    auto glued = parse_fail(R"(interface port0 description "a"b)");
    CHECK(glued.token_index == 3);
    CHECK_THAT(glued.message, Catch::Contains("after the closing quote"));

    auto tab = parse_fail("interface port0 description \"a\tb\"");
    CHECK_THAT(tab.message, Catch::Contains("control character 0x09"));
}

TEST_CASE("errors name the bad token and what was expected", "[command]") {
    SECTION("misspelled keyword") {
        auto e = parse_fail("interface port0 adress 10.0.0.1/24");
        CHECK(e.token_index == 2);
        CHECK(e.token == "adress");
        CHECK(e.message ==
              "unknown token 'adress': expected one of: device, vlan, address, mtu, shutdown, description, neighbor");
    }
    SECTION("unknown first word") {
        auto e = parse_fail("frobnicate now");
        CHECK(e.token_index == 0);
        CHECK(e.message == "unknown token 'frobnicate': expected one of: interface, route, icmp, show, clear, write");
    }
    SECTION("bad prefix") {
        auto e = parse_fail("interface port0 address 10.0.0.300/24");
        CHECK(e.token_index == 3);
        CHECK(e.token == "10.0.0.300/24");
        CHECK(e.message == "invalid prefix '10.0.0.300/24'");
        CHECK(parse_fail("interface port0 address 10.0.0.1").message == "invalid prefix '10.0.0.1'");
        CHECK(parse_fail("interface port0 address 10.0.0.1/33").message == "invalid prefix '10.0.0.1/33'");
    }
    SECTION("bad address") {
        auto e = parse_fail("route 10.0.0.0/8 via 10.0.0.300");
        CHECK(e.token_index == 3);
        CHECK(e.message == "invalid IP address '10.0.0.300'");
    }
    SECTION("number out of range") {
        auto e = parse_fail("interface port0 mtu 70000");
        CHECK(e.token_index == 3);
        CHECK(e.message == "value 70000 out of range 68-9216 for <mtu>");
        CHECK(parse_fail("interface port0 mtu 67").message == "value 67 out of range 68-9216 for <mtu>");
        CHECK(parse_fail("interface port0 mtu 99999999999999999999").message ==
              "value 99999999999999999999 out of range 68-9216 for <mtu>");
        CHECK(parse_fail("interface p.5 vlan 4095 parent p").message == "value 4095 out of range 1-4094 for <vid>");
    }
    SECTION("not a number") {
        CHECK(parse_fail("interface port0 mtu -1").message == "invalid number '-1' for <mtu>: expected 68-9216");
        CHECK(parse_fail("interface port0 mtu 1e3").message == "invalid number '1e3' for <mtu>: expected 68-9216");
    }
    SECTION("bad interface name") {
        auto e = parse_fail("interface 0port address 10.0.0.1/24");
        CHECK(e.token_index == 1);
        CHECK_THAT(e.message, Catch::StartsWith("invalid interface name '0port'"));
        CHECK_FALSE(std::holds_alternative<Parsed>(parse("show interface " + std::string(32, 'a'))));
        CHECK(std::holds_alternative<Parsed>(parse("show interface " + std::string(31, 'a'))));
    }
    SECTION("missing argument") {
        auto e = parse_fail("interface port0 address");
        CHECK(e.token_index == 3);
        CHECK(e.token.empty());
        CHECK(e.message == "incomplete command: expected <prefix>");
        CHECK(parse_fail("interface port0").message ==
              "incomplete command: expected one of: device, vlan, address, mtu, shutdown, description, neighbor");
        CHECK(parse_fail("no").message == "incomplete command: expected one of: interface, route, icmp");
    }
    SECTION("trailing garbage") {
        auto e = parse_fail("show version now");
        CHECK(e.token_index == 2);
        CHECK(e.token == "now");
        CHECK(e.message == "unexpected token 'now' after the end of the command");
        CHECK(parse_fail("route 10.0.0.0/8 blackhole 1").token_index == 3);
    }
    SECTION("keyword or argument") {
        CHECK(parse_fail("show route bogus").message ==
              "unknown token 'bogus': expected one of: ipv4, ipv6, <prefix>, <cr>");
        CHECK(parse_fail("show route 10.0.0.300/8").message == "invalid prefix '10.0.0.300/8'");
        CHECK(parse_fail("show route ipv4 foo").message == "invalid prefix 'foo'");
        CHECK(parse_fail("route 10.0.0.0/8 vai 10.0.0.1").message ==
              "unknown token 'vai': expected one of: via, interface, blackhole, unreachable");
    }
    SECTION("no on commands that cannot be negated") {
        auto e = parse_fail("no show interfaces");
        CHECK(e.token_index == 0);
        CHECK(e.token == "no");
        CHECK(e.message == "'no' cannot be used with 'show'");
        CHECK(parse_fail("no clear counters").token == "no");
        CHECK(parse_fail("no write config x").token == "no");
        auto device = parse_fail("no interface port0 device x");
        CHECK(device.token_index == 0);
        CHECK(device.message == "'no' cannot be used with 'interface port0 device'");
        CHECK(parse_fail("no interface port0 adress 10.0.0.1/24").message ==
              "unknown token 'adress': expected one of: vlan, address, mtu, shutdown, description, neighbor");
    }
    SECTION("blank, comment and control characters") {
        CHECK(parse_fail("").message == "empty command");
        CHECK(parse_fail("   # comment").message == "empty command");
        CHECK(parse_fail("! comment").message == "empty command");
        auto nul = parse_fail(std::string_view("show interface po\0rt0", 21));
        CHECK(nul.token_index == 2);
        CHECK(nul.message == "invalid control character 0x00 at column 18");
        CHECK_THAT(parse_fail("show\x1b[2J version").message, Catch::Contains("0x1b"));
    }
    SECTION("long tokens are cut short in messages") {
        auto e = parse_fail("interface port0 " + std::string(10000, 'x'));
        CHECK(e.token.size() == 10000);
        CHECK(e.message.size() < 200);
    }
}

TEST_CASE("completion offers keywords and live interface names", "[command][complete]") {
    using V = std::vector<std::string>;
    CHECK(complete("", kPorts) == V{"interface", "route", "icmp", "show", "clear", "write", "no"});
    CHECK(complete("sh", kPorts) == V{"show"});
    CHECK(complete("n", kPorts) == V{"no"});
    CHECK(complete("no ", kPorts) == V{"interface", "route", "icmp"});
    CHECK(complete("no s", kPorts).empty());
    CHECK(complete("interface ", kPorts) == V{"port0", "port1", "uplink"});  // "bad name" is no IFNAME
    CHECK(complete("interface po", kPorts) == V{"port0", "port1"});
    CHECK(complete("interface port0 ", kPorts) ==
          V{"device", "vlan", "address", "mtu", "shutdown", "description", "neighbor"});
    CHECK(complete("no interface port0 ", kPorts) == V{"vlan", "address", "mtu", "shutdown", "description", "neighbor"});
    CHECK(complete("interface port0 a", kPorts) == V{"address"});
    CHECK(complete("interface port0 address ", kPorts).empty());  // a prefix cannot be guessed
    CHECK(complete("show ", kPorts) ==
          V{"interfaces", "interface", "route", "neighbors", "workers", "running-config", "version"});
    CHECK(complete("show interface", kPorts) == V{"interfaces", "interface"});
    CHECK(complete("show interface ", kPorts) == V{"port0", "port1", "uplink"});
    CHECK(complete("show route ", kPorts) == V{"ipv4", "ipv6"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 ", kPorts) == V{"interface"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 interface u", kPorts) == V{"uplink"});
    CHECK(complete("interface port0 adress ", kPorts).empty());
    CHECK(complete("show version ", kPorts).empty());
    CHECK(complete("interface port0 description \"abc", kPorts).empty());
    CHECK(complete("interface ", nullptr).empty());
}

TEST_CASE("help lists the next tokens with their help text", "[command][help]") {
    auto after_name = help("interface port0 ");
    CHECK_THAT(after_name, Catch::Contains("address") && Catch::Contains("IPv4/IPv6 interface address"));
    CHECK_THAT(after_name, Catch::Contains("mtu") && Catch::Contains("Maximum transmission unit"));
    CHECK_THAT(after_name, !Catch::Contains("<cr>"));

    auto complete_line = help("show version ");
    CHECK_THAT(complete_line, Catch::Contains("<cr>") && Catch::Contains("Show the rampartd version"));

    auto show_route = help("show route ");
    CHECK_THAT(show_route, Catch::Contains("ipv4") && Catch::Contains("ipv6") && Catch::Contains("<prefix>") &&
                               Catch::Contains("<cr>"));

    CHECK_THAT(help("interface port0 mtu "), Catch::Contains("<mtu>") && Catch::Contains("(68-9216)"));
    CHECK_THAT(help("interface "), Catch::Contains("<name>") && Catch::Contains("Interface name"));
    CHECK_THAT(help(""), Catch::Contains("interface") && Catch::Contains("no") && !Catch::Contains("<cr>"));
    CHECK_THAT(help("sh"), Catch::Contains("show") && !Catch::Contains("interface"));
    CHECK_THAT(help("show route i"), Catch::Contains("ipv4") && !Catch::Contains("<prefix>"));
    CHECK_THAT(help("show route 10"), Catch::Contains("<prefix>") && !Catch::Contains("ipv4"));
    CHECK(help("interface port0 adress ") ==
          "% unknown token 'adress': expected one of: device, vlan, address, mtu, shutdown, description, neighbor\n");
    CHECK(help("xyz") == "% unknown token 'xyz'\n");

    // One entry per line, help text aligned in one column.
    auto lines = std::count(show_route.begin(), show_route.end(), '\n');
    CHECK(lines == 4);
}

TEST_CASE("config files parse all or report the first bad line", "[command][config]") {
    SECTION("a good file") {
        auto result = parse_config(
            "# Rampart startup config\r\n"
            "interface port0 device net_af_packet0,iface=veth0\r\n"
            "\n"
            "! addresses\n"
            "interface port0 address 192.0.2.1/24\n"
            "  interface port0 description \"to the core\"\n"
            "route 0.0.0.0/0 via 192.0.2.254\n"
            "icmp rate-limit 50");  // no final newline
        REQUIRE(std::holds_alternative<std::vector<Parsed>>(result));
        auto& commands = std::get<std::vector<Parsed>>(result);
        REQUIRE(commands.size() == 5);
        CHECK(commands[0].id == Id::InterfaceDevice);
        CHECK(commands[2].word("text") == "to the core");
        CHECK(commands[4].number("pps") == 50);
    }
    SECTION("the first error wins and carries its line number") {
        auto result = parse_config(
            "interface port0 device net_af_packet0\n"
            "# comment\n"
            "\n"
            "interface port0 adress 10.0.0.1/24\n"
            "interface port0 mtu 70000\n");
        REQUIRE(std::holds_alternative<ConfigError>(result));
        auto& error = std::get<ConfigError>(result);
        CHECK(error.line_no == 4);
        CHECK(error.line == "interface port0 adress 10.0.0.1/24");
        CHECK(error.error.token == "adress");
        CHECK(format_error(error) ==
              "line 4: interface port0 adress 10.0.0.1/24: unknown token 'adress': expected one of: device, vlan, "
              "address, mtu, shutdown, description, neighbor");
    }
    SECTION("interactive commands are refused") {
        auto result = parse_config("interface port0 mtu 1500\nshow interfaces\n");
        REQUIRE(std::holds_alternative<ConfigError>(result));
        auto& error = std::get<ConfigError>(result);
        CHECK(error.line_no == 2);
        CHECK(error.error.token == "show");
        CHECK(error.error.message == "'show interfaces' cannot be used in a config file");
    }
    SECTION("control characters are not echoed") {
        auto result = parse_config("show\x1b[31m version\n");
        REQUIRE(std::holds_alternative<ConfigError>(result));
        CHECK(format_error(std::get<ConfigError>(result)).find('\x1b') == std::string::npos);
    }
    SECTION("an empty file is an empty config") {
        auto result = parse_config("");
        REQUIRE(std::holds_alternative<std::vector<Parsed>>(result));
        CHECK(std::get<std::vector<Parsed>>(result).empty());
    }
}

TEST_CASE("parsing is total on arbitrary input", "[command][fuzz]") {
    // Token soup from the grammar's own words hits deep paths; raw bytes hit the tokenizer.
    const std::vector<std::string> words = {
        "no", "interface", "port0", "address", "10.0.0.1/24", "2001:db8::/32", "mtu", "9000", "70000", "vlan",
        "parent", "device", "x", "description", "\"a b\"", "\"", "route", "via", "blackhole", "unreachable",
        "show", "route", "ipv4", "ipv6", "icmp", "rate-limit", "0", "write", "config", "clear", "counters", "#",
        "", " ", "\t", "\\", "-", "/", ":", "00:11:22:33:44:55",
    };
    std::mt19937 rng(20240601);
    for (int i = 0; i < 20000; ++i) {
        std::string line;
        if (i % 2 == 0) {
            size_t n = rng() % 9;
            for (size_t k = 0; k < n; ++k) line += words[rng() % words.size()] + (rng() % 4 ? " " : "");
        } else {
            size_t n = rng() % 40;
            for (size_t k = 0; k < n; ++k) line += static_cast<char>(rng() % 256);
        }
        auto result = parse(line);
        if (auto* p = std::get_if<Parsed>(&result)) {
            INFO(line);
            CHECK(same(*p, parse_ok(p->line)));
        }
        complete(line, kPorts);
        help(line);
        parse_config(line + "\n" + line);
    }
}
