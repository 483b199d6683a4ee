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
    return a.id() == b.id() && a.negated == b.negated && a.line == b.line && a.args == b.args && a.keywords == b.keywords;
}

const NameLister kPorts = [] { return std::vector<std::string>{"port0", "port1", "uplink", "bad name"}; };

struct Example {
    const char* line;
    const char* id;  // "section.name"
};

// One line per pattern and per way of filling its optional parts.
const Example kExamples[] = {
    {"interface port0 device net_af_packet0,iface=veth0", "interfaces.device"},
    {"interface port0 device 0000:03:00.0", "interfaces.device"},
    {"interface port0.100 vlan 100 parent port0", "interfaces.vlan"},
    {"no interface port0.100 vlan 100 parent port0", "interfaces.vlan"},
    {"interface port0 address 192.0.2.1/24", "interfaces.address"},
    {"interface port0 address 2001:db8::1/64", "interfaces.address"},
    {"no interface port0 address 192.0.2.1/24", "interfaces.address"},
    {"interface port0 mtu 9000", "interfaces.mtu"},
    {"no interface port0 mtu 9000", "interfaces.mtu"},
    {"interface port0 shutdown", "interfaces.shutdown"},
    {"no interface port0 shutdown", "interfaces.shutdown"},
    {"interface port0 description uplink", "interfaces.description"},
    {"no interface port0 description uplink", "interfaces.description"},
    {"interface port0 neighbor 192.0.2.7 02:00:5e:00:53:07", "interfaces.neighbor"},
    {"no interface port0 neighbor 2001:db8::7 02:00:5e:00:53:07", "interfaces.neighbor"},
    {"route 198.51.100.0/24 via 192.0.2.254", "routes.route"},
    {"route 198.51.100.0/24 via 192.0.2.254 interface port0", "routes.route"},
    {"route 2001:db8:1::/48 via fe80::1 interface port1", "routes.route"},
    {"route 2001:db8:1::/48 interface port1", "routes.route"},
    {"route 203.0.113.0/24 blackhole", "routes.route"},
    {"route 203.0.113.0/24 unreachable", "routes.route"},
    {"no route 203.0.113.0/24 unreachable", "routes.route"},
    {"route vrf blue 198.51.100.0/24 via 192.0.2.254", "routes.route"},
    {"route 198.51.100.0/24 via 192.0.2.254 labels 16001/16002/3", "routes.route"},
    {"route 198.51.100.0/24 via 192.0.2.254 interface port0 labels 100 backup 192.0.2.253", "routes.route"},
    {"route 198.51.100.0/24 via 192.0.2.254 backup 192.0.2.253 backup-interface port1", "routes.route"},
    {"route 198.51.100.0/24 via 192.0.2.254 backup 192.0.2.253 backup-labels 16005/24001", "routes.route"},
    {"route vrf blue 198.51.100.0/24 via 192.0.2.254 interface port0 labels 24 backup 192.0.2.253 "
     "backup-interface port1 backup-labels 16005/24",
     "routes.route"},
    {"no route vrf blue 198.51.100.0/24 via 192.0.2.254 labels 24", "routes.route"},
    {"route vrf blue 2001:db8:1::/48 interface port1", "routes.route"},
    {"route vrf blue 203.0.113.0/24 blackhole", "routes.route"},
    {"no route vrf blue 203.0.113.0/24 unreachable", "routes.route"},
    {"route 203.0.113.0/24 next-vrf blue", "routes.route"},
    {"route vrf blue 0.0.0.0/0 next-vrf default", "routes.route"},
    {"no route vrf blue 0.0.0.0/0 next-vrf default", "routes.route"},
    {"route 203.0.113.0/24 policy to-pe2", "routes.route"},
    {"route vrf blue 203.0.113.0/24 policy to-pe2", "routes.route"},
    {"no route 203.0.113.0/24 policy to-pe2", "routes.route"},
    {"interface port0 mpls", "interfaces.mpls"},
    {"no interface port0 mpls", "interfaces.mpls"},
    {"interface port0 vrf blue", "interfaces.vrf"},
    {"no interface port0 vrf blue", "interfaces.vrf"},
    {"vrf blue", "vrf.vrf"},
    {"no vrf blue", "vrf.vrf"},
    {"vrf blue label 100", "vrf.label"},
    {"no vrf blue label 100", "vrf.label"},
    {"mpls label-range 16 1048575", "mpls.label-range"},
    {"no mpls label-range 1000 2000", "mpls.label-range"},
    {"mpls ttl-mode uniform", "mpls.ttl-mode"},
    {"mpls ttl-mode pipe", "mpls.ttl-mode"},
    {"no mpls ttl-mode pipe", "mpls.ttl-mode"},
    {"mpls label 100 swap 200 via 192.0.2.2", "mpls.label"},
    {"mpls label 100 swap 200/300 via 2001:db8::2 interface port0", "mpls.label"},
    {"mpls label 100 swap 200 via 192.0.2.2 backup 192.0.2.3", "mpls.label"},
    {"mpls label 100 swap 200 via 192.0.2.2 interface port0 backup 192.0.2.3 backup-interface port1 "
     "backup-labels 16003/200",
     "mpls.label"},
    {"no mpls label 100 swap 200 via 192.0.2.2", "mpls.label"},
    {"mpls label 101 pop via 192.0.2.2", "mpls.label"},
    {"mpls label 101 pop via 192.0.2.2 interface port0 backup 192.0.2.3 backup-labels 3", "mpls.label"},
    {"no mpls label 101 pop via 192.0.2.2", "mpls.label"},
    {"mpls label 102 lookup", "mpls.label"},
    {"mpls label 102 lookup vrf blue", "mpls.label"},
    {"no mpls label 102 lookup vrf blue", "mpls.label"},
    {"mpls label 103 drop", "mpls.label"},
    {"no mpls label 103 drop", "mpls.label"},
    {"segment-routing srgb 16000 23999", "segment-routing.srgb"},
    {"no segment-routing srgb 16000 23999", "segment-routing.srgb"},
    {"segment-routing prefix-sid 192.0.2.1/32 index 1", "segment-routing.prefix-sid"},
    {"no segment-routing prefix-sid 2001:db8::1/128 index 0", "segment-routing.prefix-sid"},
    {"segment-routing neighbor-srgb 192.0.2.2 17000 24999", "segment-routing.neighbor-srgb"},
    {"no segment-routing neighbor-srgb 192.0.2.2 17000 24999", "segment-routing.neighbor-srgb"},
    {"segment-routing adjacency-sid 24001 via 192.0.2.2", "segment-routing.adjacency-sid"},
    {"segment-routing adjacency-sid 24001 via fe80::2 interface port0", "segment-routing.adjacency-sid"},
    {"no segment-routing adjacency-sid 24001 via 192.0.2.2", "segment-routing.adjacency-sid"},
    {"segment-routing policy to-pe2 segments 16002/24005 via 192.0.2.2", "segment-routing.policy"},
    {"segment-routing policy to-pe2 segments 16002 via 192.0.2.2 interface port0", "segment-routing.policy"},
    {"no segment-routing policy to-pe2 segments 16002 via 192.0.2.2", "segment-routing.policy"},
    {"segment-routing policy to-pe2 binding-sid 15000", "segment-routing.binding-sid"},
    {"no segment-routing policy to-pe2 binding-sid 15000", "segment-routing.binding-sid"},
    {"ipsec sa to-b outbound spi 4097 tunnel 198.51.100.1 198.51.100.2", "ipsec.sa"},
    {"ipsec sa from-b inbound spi 4294967295 tunnel 2001:db8::1 2001:db8::2 vrf blue", "ipsec.sa"},
    {"no ipsec sa to-b outbound spi 256 tunnel 198.51.100.1 198.51.100.2 vrf blue", "ipsec.sa"},
    {"ipsec sa to-b encryption aes-gcm-128 key 000102030405060708090a0b0c0d0e0f10111213", "ipsec.sa-encryption"},
    {"no ipsec sa to-b encryption aes-cbc-128 key 00", "ipsec.sa-encryption"},
    {"ipsec sa to-b encryption null", "ipsec.sa-encryption"},
    {"no ipsec sa to-b encryption null", "ipsec.sa-encryption"},
    {"ipsec sa to-b integrity hmac-sha-256 key ff", "ipsec.sa-integrity"},
    {"no ipsec sa to-b integrity hmac-sha-256 key ff", "ipsec.sa-integrity"},
    {"ipsec sa to-b esn", "ipsec.sa-esn"},
    {"no ipsec sa to-b esn", "ipsec.sa-esn"},
    {"ipsec sa to-b nat-traversal", "ipsec.sa-nat-traversal"},
    {"ipsec sa to-b ip-mtu 1400", "ipsec.sa-ip-mtu"},
    {"ipsec sa to-b encapsulated-ip-mtu 1400", "ipsec.sa-encapsulated-ip-mtu"},
    {"ipsec sa gre-out outbound spi 5000 transport 192.0.2.1 192.0.2.2", "ipsec.sa"},
    {"ipsec sa to-b lifetime packets 900000 1000000", "ipsec.sa-lifetime"},
    {"ipsec sa to-b lifetime seconds 3000 3600", "ipsec.sa-lifetime"},
    {"ipsec sa to-b nat-traversal remote-port 61000", "ipsec.sa-nat-traversal"},
    {"ipsec sa from-b replay-window 4096", "ipsec.sa-replay-window"},
    {"no ipsec sa from-b replay-window 64", "ipsec.sa-replay-window"},
    {"ipsec policy 10 local 192.0.2.0/24 remote 203.0.113.0/24 protect to-b", "ipsec.policy"},
    {"ipsec policy 10 vrf blue local 192.0.2.0/24 remote 203.0.113.0/24 protocol 6 local-ports 1024 65535 "
     "remote-ports 443 443 protect to-b inbound from-b",
     "ipsec.policy"},
    {"ipsec policy 65535 local 2001:db8::/32 remote ::/0 protocol 58 remote-ports 0 0 bypass", "ipsec.policy"},
    {"ipsec policy 1 vrf blue local 0.0.0.0/0 remote 0.0.0.0/0 protocol 17 local-ports 500 500 bypass", "ipsec.policy"},
    {"ipsec policy 20 local 192.0.2.0/24 remote 203.0.113.0/24 discard", "ipsec.policy"},
    {"no ipsec policy 20 local 192.0.2.0/24 remote 203.0.113.0/24 discard", "ipsec.policy"},
    {"no ipsec policy 10 vrf blue local 192.0.2.0/24 remote 203.0.113.0/24 protect to-b", "ipsec.policy"},
    {"icmp rate-limit 0", "icmp.rate-limit"},
    {"icmp rate-limit 1000000", "icmp.rate-limit"},
    {"no icmp rate-limit 100", "icmp.rate-limit"},
    {"show interfaces", "interfaces.show-interfaces"},
    {"show interface port0", "interfaces.show-interface"},
    {"show route", "routes.show"},
    {"show route ipv4", "routes.show"},
    {"show route ipv6", "routes.show"},
    {"show route 10.0.0.0/8", "routes.show"},
    {"show route ipv4 10.0.0.0/8", "routes.show"},
    {"show route ipv6 2001:db8::/32", "routes.show"},
    {"show route vrf blue", "routes.show"},
    {"show route vrf blue ipv4", "routes.show"},
    {"show route vrf blue 10.0.0.0/8", "routes.show"},
    {"show route vrf blue ipv6 2001:db8::/32", "routes.show"},
    {"show mpls ilm", "mpls.show-ilm"},
    {"show mpls ftn", "mpls.show-ftn"},
    {"show mpls label 0", "mpls.show-label"},
    {"show mpls label 1048575", "mpls.show-label"},
    {"show segment-routing", "segment-routing.show"},
    {"show vrf", "vrf.show"},
    {"show vrf blue", "vrf.show"},
    {"show neighbors", "system.show-neighbors"},
    {"show workers", "system.show-workers"},
    {"show running-config", "system.show-running-config"},
    {"show running-config secrets", "system.show-running-config"},
    {"show ipsec sa", "ipsec.show-sa"},
    {"show ipsec sa to-b", "ipsec.show-sa"},
    {"show ipsec sa spi 4097", "ipsec.show-sa-spi"},
    {"show ipsec spd", "ipsec.show-spd"},
    {"show ipsec spd vrf blue", "ipsec.show-spd"},
    {"show version", "system.show-version"},
    {"interface port0 sav efp-b", "sav.interface-sav"},
    {"interface port0 sav strict monitor", "sav.interface-sav"},
    {"no interface port0 sav", "sav.interface-sav"},
    {"interface port0 sav-role provider asn 64500", "sav.interface-sav-role"},
    {"sav allow 192.0.2.0/24 interface port0", "sav.allow"},
    {"no sav deny 2001:db8::/32", "sav.deny"},
    {"sav local-asn 64496", "sav.local-asn"},
    {"sav load mrt /var/lib/rampart/cust1.mrt interface port0", "sav.load-mrt"},
    {"no sav load mrt /var/lib/rampart/cust1.mrt interface port0", "sav.load-mrt"},
    {"interface port0 mac 02:00:5e:00:53:01", "interfaces.mac"},
    {"no interface port0 mac 02:00:5e:00:53:01", "interfaces.mac"},
    {"sav load rpki /var/lib/rpki-client/json", "sav.load-rpki"},
    {"show sav interface port0", "sav.show-interface"},
    {"show sav prefix 192.0.2.0/24", "sav.show-prefix"},
    {"clear counters", "system.clear-counters"},
    {"ike connection b local 192.0.2.1 remote 203.0.113.2", "ike.connection"},
    {"no ike connection b local 2001:db8::1 remote 2001:db8::2", "ike.connection"},
    {"ike connection b psk key 0011aabb", "ike.psk"},
    {"ike connection b psk text key \"two words\"", "ike.psk"},
    {"ike connection b proposal aes-gcm-256 dh 31", "ike.proposal"},
    {"ike connection b certificate /etc/b.pem private-key /etc/b.key ca /etc/ca.pem", "ike.certificate"},
    {"ike connection b child local-ts 10.1.0.0/16 remote-ts 10.2.0.0/16", "ike.child"},
    {"ike connection b child local-ts 10.1.0.0/16 remote-ts 10.2.0.0/16 mode transport esp-proposal aes-gcm-128 "
     "policy 9",
     "ike.child"},
    {"ike connection b start-action trap", "ike.start-action"},
    {"ike connection b dpd 30", "ike.dpd"},
    {"ike connection b lifetime child 600", "ike.lifetime"},
    {"ike connection b lifetime ike 3600", "ike.lifetime"},
    {"ike connection b pfs 19", "ike.pfs"},
    {"no ike connection b pfs 19", "ike.pfs"},
    {"ike connection b local-id fqdn gw.example.com", "ike.identity"},
    {"ike connection b remote-id dn \"C=CH, O=Example, CN=peer\"", "ike.identity"},
    {"ike connection b ts-list local 10.3.0.0/16", "ike.ts-list"},
    {"ike connection b reverse-route", "ike.reverse-route"},
    {"ike connection b crl /etc/rampart/ca.crl", "ike.crl"},
    {"no ike connection b ts-list remote 10.4.0.0/16", "ike.ts-list"},
    {"ike pad email vpn@example.com remote-ts 10.2.1.0/24", "ike.pad"},
    {"ike lockout failures 5 window 120 duration 300", "ike.lockout"},
    {"ike cookie-threshold 0", "ike.cookie-threshold"},
    {"show ike lockout", "ike.show-lockout"},
    {"show ike pad", "ike.show-pad"},
    {"clear ike lockout", "ike.clear-lockout"},
    {"clear ike lockout 192.0.2.2", "ike.clear-lockout"},
    {"show ike sa", "ike.show-sa"},
    {"show ike sa detail", "ike.show-sa"},
    {"show ike peers", "ike.show-peers"},
    {"show ike summary", "ike.show-summary"},
    {"clear ike sa b", "ike.clear-sa"},
    {"ike initiate b", "ike.initiate"},
    {"ike rekey b", "ike.rekey"},
    {"ike rekey b child", "ike.rekey"},
    {"ike terminate b", "ike.terminate"},
    {"bgp as 64500", "bgp.as"},
    {"no bgp as 4200000001", "bgp.as"},
    {"bgp router-id 192.0.2.1", "bgp.router-id"},
    {"bgp network 198.51.100.0/24", "bgp.network"},
    {"bgp neighbor 203.0.113.2 remote-as 64501", "bgp.neighbor"},
    {"no bgp neighbor 2001:db8::2 remote-as 64501", "bgp.neighbor"},
    {"bgp neighbor 203.0.113.2 local-address 203.0.113.1", "bgp.local-address"},
    {"bgp neighbor 203.0.113.2 password key \"two words\"", "bgp.password"},
    {"bgp neighbor 203.0.113.2 ttl-security hops 1", "bgp.ttl-security"},
    {"bgp neighbor 203.0.113.2 ebgp-multihop 4", "bgp.ebgp-multihop"},
    {"bgp neighbor 203.0.113.2 passive", "bgp.passive"},
    {"bgp neighbor 203.0.113.2 hold-time 30", "bgp.hold-time"},
    {"bgp neighbor 203.0.113.2 max-prefix 1000", "bgp.max-prefix"},
    {"bgp neighbor 203.0.113.2 graceful-restart", "bgp.graceful-restart"},
    {"bgp neighbor 203.0.113.2 role customer", "bgp.role"},
    {"bgp neighbor 203.0.113.2 role rs-client strict", "bgp.role"},
    {"bgp neighbor 203.0.113.2 add-path both", "bgp.add-path"},
    {"bgp neighbor 203.0.113.2 import from-transit", "bgp.import"},
    {"bgp neighbor 203.0.113.2 export to-transit", "bgp.export"},
    {"bgp neighbor 203.0.113.2 route-reflector-client", "bgp.route-reflector-client"},
    {"bgp neighbor 2001:db8::2 family ipv4-unicast", "bgp.family"},
    {"show bgp summary", "bgp.show-summary"},
    {"show bgp neighbors", "bgp.show-neighbors"},
    {"show bgp neighbors 203.0.113.2", "bgp.show-neighbors"},
    {"show bgp neighbors 203.0.113.2 received-routes", "bgp.show-neighbor-routes"},
    {"show bgp neighbors 2001:db8::2 advertised-routes", "bgp.show-neighbor-routes"},
    {"show bgp ipv4", "bgp.show-table"},
    {"show bgp ipv4 192.0.2.0/24", "bgp.show-table"},
    {"show bgp ipv6 2001:db8::/32", "bgp.show-table"},
    {"clear bgp 203.0.113.2", "bgp.clear"},
    {"clear bgp 2001:db8::2 soft in", "bgp.clear"},
    {"bgp prefix-list customers seq 10 permit 198.51.100.0/24", "bgp-policy.prefix-list"},
    {"bgp prefix-list customers seq 20 deny 2001:db8::/32 ge 48 le 64", "bgp-policy.prefix-list"},
    {"bgp prefix-list customers seq 30 permit 203.0.113.0/24 le 26", "bgp-policy.prefix-list"},
    {"no bgp prefix-list customers seq 10 permit 198.51.100.0/24", "bgp-policy.prefix-list"},
    {"no bgp prefix-list customers seq 20", "bgp-policy.prefix-list"},
    {"no bgp prefix-list customers", "bgp-policy.prefix-list"},
    {"bgp policy from-customer", "bgp-policy.policy"},
    {"bgp policy from-customer term 10", "bgp-policy.policy"},
    {"no bgp policy from-customer term 10", "bgp-policy.policy"},
    {"bgp policy from-customer term 10 match prefix-list customers", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match as-path contains 64496", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match as-path origin 64496", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match as-path neighbor 64496", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match as-path length-ge 2", "bgp-policy.match"},
    {"no bgp policy from-customer term 10 match as-path length-le 30", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match community 64496:100", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match community no-export", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match large-community 64496:1:2", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match rpki invalid", "bgp-policy.match"},
    {"bgp policy from-customer term 10 match aspa unknown", "bgp-policy.match"},
    {"bgp policy from-customer term 10 action reject", "bgp-policy.action"},
    {"bgp policy from-customer term 20 action accept", "bgp-policy.action"},
    {"no bgp policy from-customer term 20 action next", "bgp-policy.action"},
    {"bgp policy from-customer term 20 action local-pref 200", "bgp-policy.action"},
    {"bgp policy from-customer term 20 action med 10", "bgp-policy.action"},
    {"bgp policy from-customer term 20 action community add 64496:7", "bgp-policy.action"},
    {"bgp policy from-customer term 20 action community remove graceful-shutdown", "bgp-policy.action"},
    {"bgp policy from-customer term 20 action large-community add 64496:0:1", "bgp-policy.action"},
    {"bgp policy to-peers term 10 action next-hop 192.0.2.1", "bgp-policy.action"},
    {"bgp policy to-peers term 10 action next-hop-self", "bgp-policy.action"},
    {"bgp policy to-peers term 10 action as-path prepend 64496", "bgp-policy.action"},
    {"bgp policy to-peers term 10 action as-path prepend 64496 count 3", "bgp-policy.action"},
    {"write config /etc/rampart/rampart.conf", "system.write-config"},
    {"rpki cache 192.0.2.10 port 323", "rpki.cache"},
    {"rpki cache 2001:db8::10 port 8282 preference 2", "rpki.cache"},
    {"no rpki cache 192.0.2.10 port 323", "rpki.cache"},
    {"rpki refresh 300", "rpki.refresh"},
    {"rpki retry 60", "rpki.retry"},
    {"no rpki expire 7200", "rpki.expire"},
    {"show rpki cache", "rpki.show-cache"},
    {"show rpki roa", "rpki.show-roa"},
    {"show rpki roa 192.0.2.0/24", "rpki.show-roa"},
    {"show rpki aspa", "rpki.show-aspa"},
    {"show rpki validity 192.0.2.0/24 origin 64500", "rpki.show-validity"},
};

}  // namespace

TEST_CASE("every command pattern parses", "[command]") {
    std::set<std::string> seen;
    for (const auto& example : kExamples) {
        INFO(example.line);
        auto p = parse_ok(example.line);
        CHECK(p.id() == example.id);
        CHECK(p.negated == std::string_view(example.line).starts_with("no "));
        CHECK(p.line == example.line);  // the examples are already normalized
        seen.insert(p.id());
    }
    CHECK(seen.size() == command_ids().size());  // an example for every registered command
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
    CHECK(device.scope() == Scope::config_only);
    CHECK(scope("routes.show") == Scope::exec_only);
    CHECK(scope("routes.route") == Scope::config_and_exec);

    CHECK_THROWS_AS(mtu.word("prefix"), std::out_of_range);
    CHECK_THROWS_AS(mtu.number("name"), std::invalid_argument);
    CHECK_THROWS_AS(address.ip("prefix"), std::invalid_argument);
    CHECK_THROWS_AS(address.mac("name"), std::invalid_argument);
}

TEST_CASE("SAV commands capture their arguments", "[command][sav]") {
    auto mode = parse_ok("interface port0 sav bar-sav monitor");
    CHECK(mode.has("bar-sav"));
    CHECK(mode.has("monitor"));
    CHECK_FALSE(mode.has("efp-b"));
    auto role = parse_ok("interface port0 sav-role peer");
    CHECK(role.has("peer"));
    CHECK_FALSE(role.has_arg("asn"));
    CHECK(parse_ok("interface port0 sav-role customer asn 4200000000").number("asn") == 4200000000u);
    auto load = parse_ok("sav load mrt \"/tmp/a file.mrt\" interface port1");
    CHECK(load.word("path") == "/tmp/a file.mrt");
    CHECK(load.word("ifname") == "port1");
    CHECK(scope("sav.load-mrt") == Scope::config_and_exec);  // a box boots with its SAV inputs
    CHECK(scope("sav.show-prefix") == Scope::exec_only);
    CHECK(scope("sav.interface-sav") == Scope::config_and_exec);
    parse_fail("interface port0 sav efp-c");
    parse_fail("interface port0 sav-role customer asn 0");
    parse_fail("sav allow 192.0.2.0/24");
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

TEST_CASE("label stacks", "[command][mpls]") {
    auto p = parse_ok("route 10.0.0.0/8 via 192.0.2.1 labels 016001/16002/3");
    CHECK(p.line == "route 10.0.0.0/8 via 192.0.2.1 labels 16001/16002/3");  // canonical decimal
    CHECK(p.word("labels") == "16001/16002/3");
    CHECK(p.labels("labels") == std::vector<uint32_t>{16001, 16002, 3});
    CHECK(same(p, parse_ok(p.line)));

    CHECK(parse_ok("mpls label 16 swap 0 via 192.0.2.1").labels("labels") == std::vector<uint32_t>{0});
    CHECK(parse_ok("mpls label 16 swap 1048575 via 192.0.2.1").labels("labels") == std::vector<uint32_t>{1048575});
    auto ten = parse_ok("mpls label 16 swap 1/2/3/4/5/6/7/8/9/10 via 192.0.2.1");
    CHECK(ten.labels("labels").size() == 10);

    struct Bad {
        const char* labels;
        const char* reason;
    };
    const Bad bad[] = {
        {"1/2/3/4/5/6/7/8/9/10/11", "more than 10 labels"},
        {"1048576", "label 1048576 is out of range 0-1048575"},
        {"16001/99999999999999999999", "label 99999999999999999999 is out of range 0-1048575"},
        {"16001//3", "empty label"},
        {"16001/", "empty label"},
        {"/16001", "empty label"},
        {"16001/x", "'x' is not a number"},
        {"16001/-1", "'-1' is not a number"},
    };
    for (auto& b : bad) {
        std::string line = std::string("mpls label 100 swap ") + b.labels + " via 192.0.2.1";
        INFO(line);
        auto e = parse_fail(line);
        CHECK(e.token_index == 4);
        CHECK(e.token == b.labels);
        CHECK_THAT(e.message, Catch::StartsWith(std::string("invalid label stack '") + b.labels +
                                                "': expected an MPLS label stack for <labels>"));
        CHECK_THAT(e.message, Catch::EndsWith(b.reason));
    }
    CHECK(parse_fail("route 10.0.0.0/8 via 192.0.2.1 labels 16001/x").message ==
          "invalid label stack '16001/x': expected an MPLS label stack for <labels> (1 to 10 labels 0-1048575 "
          "separated by '/', e.g. 16001/16002/3): 'x' is not a number");
    CHECK_THAT(parse_fail("route 10.0.0.0/8 via 192.0.2.1 backup 192.0.2.2 backup-labels 1//2").message,
               Catch::Contains("for <backup-labels>") && Catch::EndsWith("empty label"));
    CHECK(parse_fail("route 10.0.0.0/8 via 192.0.2.1 labels").message == "incomplete command: expected <labels>");

    CHECK_THROWS_AS(p.labels("prefix"), std::invalid_argument);
    CHECK_THROWS_AS(p.labels("backup-labels"), std::out_of_range);
    CHECK_THROWS_AS(p.number("labels"), std::invalid_argument);
}

TEST_CASE("VRF, MPLS and segment routing commands capture their arguments", "[command][mpls]") {
    auto vrf_route = parse_ok(
        "route vrf blue 10.0.0.0/8 via 192.0.2.1 interface port0 labels 24 backup 192.0.2.9 backup-interface port1 "
        "backup-labels 16009/24");
    CHECK(vrf_route.id() == "routes.route");
    CHECK(vrf_route.word("vrf") == "blue");
    CHECK(vrf_route.prefix("prefix") == *Prefix::parse("10.0.0.0/8"));
    CHECK(vrf_route.ip("gateway") == *IpAddr::parse("192.0.2.1"));
    CHECK(vrf_route.word("ifname") == "port0");
    CHECK(vrf_route.labels("labels") == std::vector<uint32_t>{24});
    CHECK(vrf_route.ip("backup") == *IpAddr::parse("192.0.2.9"));
    CHECK(vrf_route.word("backup-ifname") == "port1");
    CHECK(vrf_route.labels("backup-labels") == std::vector<uint32_t>{16009, 24});

    auto plain = parse_ok("route 10.0.0.0/8 via 192.0.2.1");
    for (const char* absent : {"vrf", "labels", "backup", "backup-ifname", "backup-labels"}) CHECK_FALSE(plain.has(absent));

    auto leak = parse_ok("route vrf blue 0.0.0.0/0 next-vrf default");
    CHECK(leak.has("next-vrf"));
    CHECK(leak.word("target") == "default");
    CHECK_FALSE(leak.has("gateway"));
    auto steer = parse_ok("route 10.0.0.0/8 policy to-pe2");
    CHECK(steer.word("policy") == "to-pe2");
    CHECK_FALSE(steer.has("next-vrf"));
    // A keyword beats a VRF name: "route vrf" always starts the vrf part.
    CHECK(parse_fail("route vrf 10.0.0.0/8 via 192.0.2.1").message == "invalid prefix 'via'");

    auto swap = parse_ok("mpls label 100 swap 200/300 via 192.0.2.2 interface port0");
    CHECK(swap.id() == "mpls.label");
    CHECK(swap.number("in") == 100);
    CHECK(swap.has("swap"));
    CHECK(swap.labels("labels") == std::vector<uint32_t>{200, 300});
    auto pop = parse_ok("mpls label 100 pop via 192.0.2.2");
    CHECK(pop.has("pop"));
    CHECK_FALSE(pop.has("labels"));
    auto lookup = parse_ok("mpls label 100 lookup vrf blue");
    CHECK(lookup.has("lookup"));
    CHECK(lookup.word("vrf") == "blue");
    CHECK_FALSE(parse_ok("mpls label 100 lookup").has("vrf"));
    CHECK(parse_ok("mpls label 100 drop").has("drop"));
    CHECK(parse_fail("mpls label 15 drop").message == "value 15 out of range 16-1048575 for <in>");
    CHECK(parse_fail("mpls label 1048576 drop").message == "value 1048576 out of range 16-1048575 for <in>");
    CHECK(parse_fail("mpls label 100 pop 200 via 192.0.2.2").message == "unknown token '200': expected via");

    auto range = parse_ok("mpls label-range 1000 2000");
    CHECK(range.number("lo") == 1000);
    CHECK(range.number("hi") == 2000);
    CHECK(parse_ok("mpls ttl-mode pipe").has("pipe"));
    CHECK_FALSE(parse_ok("mpls ttl-mode uniform").has("pipe"));
    CHECK(parse_ok("mpls ttl-mode uniform").id() == "mpls.ttl-mode");

    CHECK(parse_ok("vrf blue").word("vrf") == "blue");
    CHECK(parse_ok("vrf blue label 100").number("label") == 100);
    CHECK(parse_ok("interface port0 vrf blue").word("vrf") == "blue");

    auto sid = parse_ok("segment-routing prefix-sid 192.0.2.1/32 index 0");
    CHECK(sid.number("index") == 0);
    auto nsrgb = parse_ok("segment-routing neighbor-srgb 192.0.2.2 17000 24999");
    CHECK(nsrgb.ip("gateway") == *IpAddr::parse("192.0.2.2"));
    CHECK(nsrgb.number("hi") == 24999);
    auto adj = parse_ok("segment-routing adjacency-sid 24001 via 192.0.2.2 interface port0");
    CHECK(adj.number("label") == 24001);
    CHECK(adj.word("ifname") == "port0");
    auto policy = parse_ok("segment-routing policy to-pe2 segments 16002/24005 via 192.0.2.2");
    CHECK(policy.id() == "segment-routing.policy");
    CHECK(policy.labels("labels") == std::vector<uint32_t>{16002, 24005});
    auto bsid = parse_ok("segment-routing policy to-pe2 binding-sid 15000");
    CHECK(bsid.id() == "segment-routing.binding-sid");
    CHECK(bsid.word("policy") == "to-pe2");

    auto show = parse_ok("show route vrf blue ipv4 10.0.0.0/8");
    CHECK(show.word("vrf") == "blue");
    CHECK(show.has("ipv4"));
    CHECK(parse_ok("show mpls label 3").number("label") == 3);
    CHECK(parse_ok("show vrf blue").word("vrf") == "blue");
    CHECK(parse_ok("show vrf").args.empty());
    CHECK(parse_ok("show vrf").has("vrf"));  // the keyword
    CHECK(!parse_ok("show vrf").has_arg("vrf"));
    CHECK(parse_ok("show vrf blue").has_arg("vrf"));
}

TEST_CASE("new commands are negatable or exec-only as specified", "[command][mpls]") {
    for (const char* id : {"interfaces.mpls", "interfaces.vrf", "vrf.vrf", "vrf.label", "mpls.label-range", "mpls.ttl-mode",
                  "mpls.label", "segment-routing.srgb", "segment-routing.prefix-sid", "segment-routing.neighbor-srgb", "segment-routing.adjacency-sid", "segment-routing.policy",
                  "segment-routing.binding-sid"})
        CHECK(scope(id) == Scope::config_and_exec);
    for (const char* id : {"mpls.show-ilm", "mpls.show-ftn", "mpls.show-label", "segment-routing.show", "vrf.show"})
        CHECK(scope(id) == Scope::exec_only);
    for (const char* line : {"no show mpls ilm", "no show mpls ftn", "no show mpls label 16", "no show segment-routing",
                             "no show vrf", "no show vrf blue", "no show route vrf blue"}) {
        INFO(line);
        auto e = parse_fail(line);
        CHECK(e.token == "no");
        CHECK_THAT(e.message, Catch::StartsWith("'no' cannot be used with 'show"));
    }
    auto result = parse_config("vrf blue\nshow vrf blue\n");
    REQUIRE(std::holds_alternative<ConfigError>(result));
    CHECK(std::get<ConfigError>(result).error.message == "'show vrf blue' cannot be used in a config file");
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
              "unknown token 'adress': expected one of: device, vlan, address, mtu, shutdown, description, neighbor, mpls, "
              "vrf, mac, sav, sav-role");
    }
    SECTION("unknown first word") {
        auto e = parse_fail("frobnicate now");
        CHECK(e.token_index == 0);
        CHECK(e.message == "unknown token 'frobnicate': expected one of: interface, route, icmp, vrf, mpls, "
                           "segment-routing, ipsec, sav, ike, rpki, bgp, show, clear, write");
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
              "incomplete command: expected one of: device, vlan, address, mtu, shutdown, description, neighbor, "
              "mpls, vrf, mac, sav, sav-role");
        CHECK(parse_fail("no").message ==
              "incomplete command: expected one of: interface, route, icmp, vrf, mpls, segment-routing, ipsec, sav, ike, rpki, bgp");
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
              "unknown token 'bogus': expected one of: vrf, ipv4, ipv6, <prefix>, <cr>");
        CHECK(parse_fail("show route 10.0.0.300/8").message == "invalid prefix '10.0.0.300/8'");
        CHECK(parse_fail("show route ipv4 foo").message == "invalid prefix 'foo'");
        CHECK(parse_fail("route 10.0.0.0/8 vai 10.0.0.1").message ==
              "unknown token 'vai': expected one of: via, interface, blackhole, unreachable, next-vrf, policy");
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
              "unknown token 'adress': expected one of: vlan, address, mtu, shutdown, description, neighbor, mpls, vrf, mac, sav, sav-role");
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
    CHECK(complete("", kPorts) ==
          V{"interface", "route", "icmp", "vrf", "mpls", "segment-routing", "ipsec", "sav", "ike", "rpki", "bgp",
            "show", "clear", "write", "no"});
    CHECK(complete("sh", kPorts) == V{"show"});
    CHECK(complete("n", kPorts) == V{"no"});
    CHECK(complete("no ", kPorts) ==
          V{"interface", "route", "icmp", "vrf", "mpls", "segment-routing", "ipsec", "sav", "ike", "rpki", "bgp"});
    CHECK(complete("no s", kPorts) == V{"segment-routing", "sav"});
    CHECK(complete("no sh", kPorts).empty());
    CHECK(complete("interface ", kPorts) == V{"port0", "port1", "uplink"});  // "bad name" is no IFNAME
    CHECK(complete("interface po", kPorts) == V{"port0", "port1"});
    CHECK(complete("interface port0 ", kPorts) ==
          V{"device", "vlan", "address", "mtu", "shutdown", "description", "neighbor", "mpls", "vrf", "mac", "sav",
            "sav-role"});
    CHECK(complete("no interface port0 ", kPorts) ==
          V{"vlan", "address", "mtu", "shutdown", "description", "neighbor", "mpls", "vrf", "mac", "sav", "sav-role"});
    CHECK(complete("interface port0 a", kPorts) == V{"address"});
    CHECK(complete("interface port0 address ", kPorts).empty());  // a prefix cannot be guessed
    CHECK(complete("show ", kPorts) ==
          V{"interfaces", "interface", "route", "neighbors", "workers", "running-config", "version", "mpls",
            "segment-routing", "vrf", "ipsec", "sav", "ike", "rpki", "bgp"});
    CHECK(complete("show interface", kPorts) == V{"interfaces", "interface"});
    CHECK(complete("show interface ", kPorts) == V{"port0", "port1", "uplink"});
    CHECK(complete("show route ", kPorts) == V{"vrf", "ipv4", "ipv6"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 ", kPorts) == V{"interface", "labels", "backup"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 interface u", kPorts) == V{"uplink"});
    CHECK(complete("interface port0 adress ", kPorts).empty());
    CHECK(complete("show version ", kPorts).empty());
    CHECK(complete("interface port0 description \"abc", kPorts).empty());
    CHECK(complete("interface ", nullptr).empty());
}

TEST_CASE("IPsec commands capture their arguments", "[command][ipsec]") {
    auto sa = parse_ok("ipsec sa from-b inbound spi 4098 tunnel 198.51.100.1 198.51.100.2 vrf blue");
    CHECK(sa.id() == "ipsec.sa");
    CHECK(sa.word("name") == "from-b");
    CHECK(sa.has("inbound"));
    CHECK_FALSE(sa.has("outbound"));
    CHECK(sa.number("spi") == 4098);
    CHECK(sa.ip("local") == *IpAddr::parse("198.51.100.1"));
    CHECK(sa.ip("remote") == *IpAddr::parse("198.51.100.2"));
    CHECK(sa.word("vrf") == "blue");
    CHECK(parse_fail("ipsec sa x inbound spi 255 tunnel 192.0.2.1 192.0.2.2").message ==
          "value 255 out of range 256-4294967295 for <spi>");
    CHECK(parse_fail("ipsec sa x inbound spi 4294967296 tunnel 192.0.2.1 192.0.2.2").message ==
          "value 4294967296 out of range 256-4294967295 for <spi>");

    auto enc = parse_ok("ipsec sa to-b encryption aes-gcm-128 key 0x000102030405060708090A0B0C0D0E0F10111213");
    CHECK(enc.word("cipher") == "aes-gcm-128");
    CHECK(enc.hex("key").size() == 20);
    CHECK(enc.hex("key")[10] == 0x0a);
    CHECK(enc.line == "ipsec sa to-b encryption aes-gcm-128 key 000102030405060708090a0b0c0d0e0f10111213");
    auto null = parse_ok("ipsec sa to-b encryption null");
    CHECK(null.has("null"));
    CHECK_FALSE(null.has_arg("cipher"));
    CHECK_FALSE(null.has_arg("key"));
    CHECK(parse_fail("ipsec sa to-b encryption null key 00").message ==
          "unexpected token 'key' after the end of the command");
    CHECK_THROWS_AS(enc.hex("cipher"), std::invalid_argument);
    CHECK_THROWS_AS(enc.hex("nope"), std::out_of_range);

    auto policy = parse_ok("ipsec policy 10 vrf blue local 192.0.2.7/24 remote 203.0.113.0/24 protocol 6 "
                           "local-ports 1024 65535 remote-ports 443 443 protect to-b inbound from-b");
    CHECK(policy.number("seq") == 10);
    CHECK(policy.word("vrf") == "blue");
    CHECK(policy.prefix("local").str() == "192.0.2.7/24");  // the model takes the network
    CHECK(policy.prefix("remote").str() == "203.0.113.0/24");
    CHECK(policy.number("protocol") == 6);
    CHECK(policy.number("lport-lo") == 1024);
    CHECK(policy.number("lport-hi") == 65535);
    CHECK(policy.number("rport-lo") == 443);
    CHECK(policy.number("rport-hi") == 443);
    CHECK(policy.has("protect"));
    CHECK(policy.word("outbound-sa") == "to-b");
    CHECK(policy.word("inbound-sa") == "from-b");
    auto bypass = parse_ok("ipsec policy 5 local 192.0.2.0/24 remote 0.0.0.0/0 bypass");
    CHECK(bypass.has("bypass"));
    CHECK_FALSE(bypass.has("protect"));
    CHECK_FALSE(bypass.has_arg("protocol"));
    CHECK(parse_fail("ipsec policy 0 local 192.0.2.0/24 remote 0.0.0.0/0 bypass").message ==
          "value 0 out of range 1-65535 for <seq>");
    CHECK(parse_fail("ipsec policy 5 local 192.0.2.0/24 remote 0.0.0.0/0").message ==
          "incomplete command: expected one of: protocol, local-ports, remote-ports, protect, bypass, discard");
    // Ports come in the pattern's order: local, then remote.
    parse_fail("ipsec policy 5 local 192.0.2.0/24 remote 0.0.0.0/0 protocol 6 remote-ports 1 2 local-ports 1 2 bypass");

    CHECK(parse_ok("show running-config secrets").has("secrets"));
    CHECK_FALSE(parse_ok("show running-config").has("secrets"));
    CHECK(parse_ok("show ipsec sa to-b").word("name") == "to-b");
    CHECK(parse_ok("show ipsec spd vrf blue").word("vrf") == "blue");
    for (const char* id : {"ipsec.sa", "ipsec.sa-encryption", "ipsec.sa-integrity", "ipsec.sa-esn", "ipsec.sa-replay-window",
                  "ipsec.policy"})
        CHECK(scope(id) == Scope::config_and_exec);
    CHECK(scope("ipsec.show-sa") == Scope::exec_only);
    CHECK(scope("ipsec.show-spd") == Scope::exec_only);
    CHECK(parse_fail("no show ipsec sa").message == "'no' cannot be used with 'show'");
}

TEST_CASE("HEX arguments: keys in hex, never echoed", "[command][ipsec]") {
    const std::string prefix = "ipsec sa a integrity hmac-sha-256 key ";
    auto key_of = [&](const std::string& text) { return parse_ok(prefix + text).hex("key"); };
    CHECK(key_of("00") == std::vector<uint8_t>{0});
    CHECK(key_of("0x00ff") == std::vector<uint8_t>{0x00, 0xff});
    CHECK(key_of("0XaBcD") == std::vector<uint8_t>{0xab, 0xcd});
    CHECK(parse_ok(prefix + "0XaBcD").word("key") == "abcd");  // canonical: lower case, no 0x
    CHECK(parse_ok(prefix + "\"0xAB\"").line == prefix + "ab");
    CHECK(key_of(std::string(256, 'f')) == std::vector<uint8_t>(128, 0xff));  // 128 bytes, the most

    struct Bad {
        std::string text;
        std::string reason;
    };
    const Bad bad[] = {
        {"abc", "3 hex digits, not a whole number of bytes"},
        {"0xabc", "3 hex digits, not a whole number of bytes"},
        {"0x", "no hex digits"},
        {"\"\"", "no hex digits"},
        {"00g1", "character 3 is not a hex digit"},
        {"0x0g", "character 4 is not a hex digit"},
        {"0x0x00", "character 4 is not a hex digit"},
        {"-1", "character 1 is not a hex digit"},
        {"\"00 11\"", "character 3 is not a hex digit"},
        {std::string(258, 'a'), "129 bytes, at most 128"},
    };
    for (auto& b : bad) {
        INFO(b.text);
        auto e = parse_fail(prefix + b.text);
        CHECK(e.message == "invalid hex value for <key>: " + b.reason +
                               "; expected 1-128 bytes as an even number of hex digits, optionally after 0x");
        CHECK(e.token_index == 6);
        CHECK(e.token == "<key>");  // the token is named by its place, not its text
    }
    // A key-like secret never shows up in an error, wherever the line fails.
    const std::string secret = "5ec2e75ec2e75ec2e75ec2e75ec2e7";
    for (auto line : {prefix + secret + "9", prefix + secret + "zz", prefix + secret + " extra"}) {
        INFO(line);
        auto e = parse_fail(line);
        CHECK(e.message.find("5ec2e7") == std::string::npos);
        CHECK(e.token.find("5ec2e7") == std::string::npos);
    }
    CHECK(parse_fail(prefix).message == "incomplete command: expected <key>");

    CHECK_THAT(help("ipsec sa a encryption aes-gcm-128 key "),
               Catch::Contains("<key>") && Catch::Contains("1-128 bytes") && Catch::Contains("salt"));
    CHECK_THAT(help("ipsec sa a encryption aes-gcm-128 key 0x0A"), Catch::Contains("<key>"));
    CHECK_THAT(help("ipsec sa a encryption aes-gcm-128 key 0"), Catch::Contains("<key>"));
    CHECK(help("ipsec sa a encryption aes-gcm-128 key zz") == "% unknown token 'zz'\n");
    CHECK(complete("ipsec sa a encryption aes-gcm-128 key ", kPorts).empty());  // keys cannot be guessed
}

TEST_CASE("redact_secrets hides the token after every 'key'", "[command][ipsec]") {
    CHECK(redact_secrets("ipsec sa a encryption aes-gcm-128 key 0x0011") ==
          "ipsec sa a encryption aes-gcm-128 key <secret>");
    CHECK(redact_secrets("  ipsec sa a integrity hmac-sha-256 key \"00 11\" junk") ==
          "  ipsec sa a integrity hmac-sha-256 key <secret> junk");
    CHECK(redact_secrets("ipsec sa a encryption x key") == "ipsec sa a encryption x key");
    CHECK(redact_secrets("interface port0 description key") == "interface port0 description key");
    CHECK(redact_secrets("interface port0 address 192.0.2.1/24") == "interface port0 address 192.0.2.1/24");

    auto result = parse_config("ipsec sa a inbound spi 300 tunnel 192.0.2.1 192.0.2.2\n"
                               "ipsec sa a encryption aes-gcm-128 key 5ec2e75ec2e7 extra\n");
    REQUIRE(std::holds_alternative<ConfigError>(result));
    auto text = format_error(std::get<ConfigError>(result));
    CHECK(text == "line 2: ipsec sa a encryption aes-gcm-128 key <secret> extra: unexpected token 'extra' after the "
                  "end of the command");
}

TEST_CASE("completion and help know the IPsec commands", "[command][complete][help][ipsec]") {
    using V = std::vector<std::string>;
    CHECK(complete("ipsec ", kPorts) == V{"sa", "policy"});
    CHECK(complete("ipsec sa x ", kPorts) ==
          V{"inbound", "outbound", "encryption", "integrity", "esn", "nat-traversal", "lifetime", "ip-mtu",
            "encapsulated-ip-mtu", "replay-window"});
    CHECK(complete("ipsec sa x inbound spi 300 ", kPorts) == V{"tunnel", "transport"});
    CHECK(complete("ipsec sa x inbound spi 300 tunnel 192.0.2.1 192.0.2.2 ", kPorts) == V{"vrf"});
    CHECK(complete("ipsec sa x encryption ", kPorts) == V{"null"});
    CHECK(complete("ipsec sa x encryption aes-gcm-128 ", kPorts) == V{"key"});
    CHECK(complete("ipsec policy 10 ", kPorts) == V{"vrf", "local"});
    CHECK(complete("ipsec policy 10 local 10.0.0.0/8 remote 0.0.0.0/0 ", kPorts) ==
          V{"protocol", "local-ports", "remote-ports", "protect", "bypass", "discard"});
    CHECK(complete("ipsec policy 10 local 10.0.0.0/8 remote 0.0.0.0/0 protect a ", kPorts) == V{"inbound"});
    CHECK(complete("show ipsec ", kPorts) == V{"sa", "spd"});
    CHECK(complete("show running-config ", kPorts) == V{"secrets"});
    CHECK(complete("no ipsec p", kPorts) == V{"policy"});

    CHECK_THAT(help("ipsec sa x encryption "), Catch::Contains("<cipher>") && Catch::Contains("aes-gcm-256") &&
                                                   Catch::Contains("null") && Catch::Contains("RFC 2410"));
    CHECK_THAT(help("ipsec sa x inbound spi "), Catch::Contains("<spi>") && Catch::Contains("(256-4294967295)"));
    CHECK_THAT(help("ipsec sa x replay-window "), Catch::Contains("(64-4096)") && Catch::Contains("multiple of 64"));
    CHECK_THAT(help("ipsec sa x esn "), Catch::Contains("<cr>") && Catch::Contains("RFC 4304"));
    CHECK_THAT(help("ipsec policy 10 local 10.0.0.0/8 remote 0.0.0.0/0 protocol 1 local-ports "),
               Catch::Contains("<lport-lo>") && Catch::Contains("ICMP type"));
    CHECK_THAT(help("show running-config "), Catch::Contains("secrets") && Catch::Contains("<cr>"));
}

TEST_CASE("completion and help know the MPLS, SR and VRF commands", "[command][complete][help][mpls]") {
    using V = std::vector<std::string>;
    CHECK(complete("vrf blue ", kPorts) == V{"label"});
    CHECK(complete("mpls ", kPorts) == V{"label-range", "ttl-mode", "label"});
    CHECK(complete("mpls la", kPorts) == V{"label-range", "label"});
    CHECK(complete("mpls ttl-mode ", kPorts) == V{"uniform", "pipe"});
    CHECK(complete("mpls label 100 ", kPorts) == V{"swap", "pop", "lookup", "drop"});
    CHECK(complete("mpls label 100 swap ", kPorts).empty());  // labels cannot be guessed
    CHECK(complete("mpls label 100 swap 200 ", kPorts) == V{"via"});
    CHECK(complete("mpls label 100 swap 200 via 192.0.2.2 ", kPorts) == V{"interface", "backup"});
    CHECK(complete("mpls label 100 pop via 192.0.2.2 interface p", kPorts) == V{"port0", "port1"});
    CHECK(complete("mpls label 100 lookup ", kPorts) == V{"vrf"});
    CHECK(complete("segment-routing ", kPorts) ==
          V{"srgb", "prefix-sid", "neighbor-srgb", "adjacency-sid", "policy"});
    CHECK(complete("segment-routing prefix-sid 192.0.2.1/32 ", kPorts) == V{"index"});
    CHECK(complete("segment-routing adjacency-sid 24001 via 192.0.2.2 ", kPorts) == V{"interface"});
    CHECK(complete("segment-routing policy p ", kPorts) == V{"segments", "binding-sid"});
    CHECK(complete("segment-routing policy p segments 16002 ", kPorts) == V{"via"});
    CHECK(complete("route ", kPorts) == V{"vrf"});
    CHECK(complete("route vrf blue 10.0.0.0/8 ", kPorts) ==
          V{"via", "interface", "blackhole", "unreachable", "next-vrf", "policy"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 labels 100 ", kPorts) == V{"backup"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 backup 10.0.0.2 ", kPorts) ==
          V{"backup-interface", "backup-labels"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 backup 10.0.0.2 backup-interface ", kPorts) ==
          V{"port0", "port1", "uplink"});
    CHECK(complete("route 10.0.0.0/8 via 10.0.0.1 backup 10.0.0.2 backup-labels 3 ", kPorts).empty());
    CHECK(complete("interface port0 vrf ", kPorts).empty());
    CHECK(complete("show mpls ", kPorts) == V{"ilm", "ftn", "label"});
    CHECK(complete("show route vrf blue ", kPorts) == V{"ipv4", "ipv6"});

    auto labels = help("route 10.0.0.0/8 via 10.0.0.1 labels ");
    CHECK_THAT(labels, Catch::Contains("<labels>") && Catch::Contains("e.g. 16001/16002/3") &&
                           Catch::Contains("top of stack first"));
    CHECK_THAT(help("mpls label 100 swap 16001/"), Catch::Contains("<labels>"));
    CHECK(help("mpls label 100 swap x") == "% unknown token 'x'\n");
    CHECK_THAT(help("mpls label "), Catch::Contains("<in>") && Catch::Contains("(16-1048575)"));
    CHECK_THAT(help("mpls label 100 "), Catch::Contains("swap") && Catch::Contains("pop") &&
                                            Catch::Contains("lookup") && Catch::Contains("drop"));
    CHECK_THAT(help("mpls label 100 lookup "), Catch::Contains("vrf") && Catch::Contains("<cr>"));
    CHECK_THAT(help("route 10.0.0.0/8 via 10.0.0.1 "),
               Catch::Contains("backup") && Catch::Contains("Fast-reroute") && Catch::Contains("<cr>"));
    CHECK_THAT(help("route "), Catch::Contains("vrf") && Catch::Contains("<prefix>"));
    CHECK_THAT(help("segment-routing "), Catch::Contains("srgb") && Catch::Contains("policy"));
    CHECK_THAT(help("show vrf "), Catch::Contains("<vrf>") && Catch::Contains("<cr>"));
    CHECK_THAT(help("show "), Catch::Contains("mpls") && Catch::Contains("segment-routing") && Catch::Contains("vrf"));
    CHECK_THAT(help("vrf "), Catch::Contains("<vrf>") && Catch::Contains("VRF name"));
    CHECK_THAT(help("interface port0 "), Catch::Contains("mpls") && Catch::Contains("vrf"));
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
          "% unknown token 'adress': expected one of: device, vlan, address, mtu, shutdown, description, neighbor, "
          "mpls, vrf, mac, sav, sav-role\n");
    CHECK(help("xyz") == "% unknown token 'xyz'\n");

    // One entry per line, help text aligned in one column.
    auto lines = std::count(show_route.begin(), show_route.end(), '\n');
    CHECK(lines == 5);
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
        CHECK(commands[0].id() == "interfaces.device");
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
              "address, mtu, shutdown, description, neighbor, mpls, vrf, mac, sav, sav-role");
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
        "vrf", "blue", "default", "mpls", "label", "label-range", "16001/16002/3", "1//2", "16", "swap", "pop",
        "lookup", "drop", "labels", "backup", "backup-interface", "backup-labels", "next-vrf", "policy",
        "segment-routing", "srgb", "prefix-sid", "index", "adjacency-sid", "segments", "binding-sid", "ttl-mode",
        "pipe", "ilm", "ipsec", "sa", "inbound", "outbound", "spi", "4097", "tunnel", "192.0.2.1", "encryption",
        "aes-gcm-128", "null", "integrity", "key", "0x00", "00112233", "0xg", "esn", "replay-window", "spd",
        "protect", "bypass", "discard", "local", "remote", "protocol", "local-ports", "remote-ports", "secrets",
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

TEST_CASE("IKE commands parse; pre-shared keys are never echoed", "[command][ike]") {
    Parsed p = parse_ok("ike connection a psk text key \"two words\"");
    CHECK(p.id() == "ike.psk");
    CHECK(p.word("psk") == "two words");
    CHECK(p.has("text"));
    p = parse_ok("ike connection a child local-ts 10.0.0.1/8 remote-ts 10.2.0.0/16 mode transport policy 7");
    CHECK(p.id() == "ike.child");
    CHECK(p.has("transport"));
    CHECK(p.number("seq") == 7);
    CHECK(parse_ok("show ike sa detail").id() == "ike.show-sa");
    CHECK(parse_ok("show ike peers").id() == "ike.show-peers");
    CHECK(parse_ok("clear ike sa a").id() == "ike.clear-sa");
    CHECK(parse_ok("ike initiate a").id() == "ike.initiate");
    CHECK(parse_ok("ike terminate a").id() == "ike.terminate");
    CHECK(scope("ike.initiate") == Scope::exec_only);
    CHECK(scope("ike.rekey") == Scope::exec_only);
    CHECK(parse_ok("ike rekey a child").has("child"));
    CHECK_FALSE(parse_ok("ike rekey a").has("child"));
    CHECK(parse_ok("ike connection a pfs 31").number("group") == 31);
    CHECK(scope("ike.psk") == Scope::config_and_exec);
    ParseError e = parse_fail("ike connection a psk key 0xzz-topsecret");
    CHECK(e.message.find("topsecret") == std::string::npos);
    CHECK(e.token.find("topsecret") == std::string::npos);
    e = parse_fail("ike connection a dpd 99999");
    CHECK(e.token == "99999");
    CHECK(e.message == "value 99999 out of range 1-3600 for <seconds>");
    e = parse_fail("ike connection a local 192.0.2.1 remote 192.0.2.x");
    CHECK(e.token == "192.0.2.x");
}
