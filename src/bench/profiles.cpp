#include "bench/profiles.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unistd.h>
#include <unordered_set>

#include <fmt/format.h>

#include "bench/esp_profiles.hpp"
#include "sav/mrt.hpp"
#include "slowpath/config_model.hpp"

namespace rampart::bench {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr unsigned kIpv4FrameSize = 64;
constexpr unsigned kIpv6FrameSize = 78;
// "A few hundred flows": enough to spread over every route and sender without
// leaving the caches, like a small branch office behind a CE.
constexpr unsigned kSmallProfileFlows = 512;
constexpr unsigned kSmallProfileRoutes = 8;
// One flow in this many goes to a host on the egress subnet instead of through a gateway.
constexpr unsigned kConnectedFlowEvery = 4;

MacAddr sender_mac(unsigned host) { return MacAddr{{0x02, 0xaa, 0, 0, 0, uint8_t(host)}}; }

UdpFlow flow_from_sender(unsigned flow, const IpAddr& src, const IpAddr& dst) {
    UdpFlow f;
    f.dst_mac = plan::port_mac(plan::kIngressPort);
    f.src_mac = sender_mac(flow % 64);
    f.src = src;
    f.dst = dst;
    f.src_port = uint16_t(1024 + flow);
    f.dst_port = uint16_t(5000 + flow % 16);
    return f;
}

void add_flow(FrameTemplates& frames, const UdpFlow& flow, unsigned frame_size) {
    std::vector<uint8_t> bytes = build_udp_frame(flow, frame_size);
    frames.add(bytes);
}

// ---- ipv4-fwd ----------------------------------------------------------------

FrameTemplates prepare_ipv4_fwd(BenchRouter& router, std::mt19937_64&, ProfileSetup& setup) {
    for (unsigned r = 0; r < kSmallProfileRoutes; ++r)
        router.exec(fmt::format("route 10.{}.0.0/16 via {}", r, plan::gateway4(r % plan::kGateways).str()));
    setup.routes = kSmallProfileRoutes;
    setup.frame_size = kIpv4FrameSize;
    FrameTemplates frames;
    for (unsigned f = 0; f < kSmallProfileFlows; ++f) {
        IpAddr dst = f % kConnectedFlowEvery == kConnectedFlowEvery - 1
                         ? plan::connected_host4(f % plan::kConnectedHosts)
                         : IpAddr::v4(0x0a000000u | (f % kSmallProfileRoutes) << 16 | (f / 8 % 256) << 8 | (1 + f % 250));
        add_flow(frames, flow_from_sender(f, plan::sender4(f % 64), dst), kIpv4FrameSize);
    }
    return frames;
}

// ---- ipv6-fwd ----------------------------------------------------------------

IpAddr documentation6(unsigned site, unsigned host) {  // 2001:db8:<site>::<host>
    uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, uint8_t(site >> 8), uint8_t(site)};
    b[14] = uint8_t(host >> 8);
    b[15] = uint8_t(host);
    return IpAddr::v6(b);
}

FrameTemplates prepare_ipv6_fwd(BenchRouter& router, std::mt19937_64&, ProfileSetup& setup) {
    for (unsigned r = 0; r < kSmallProfileRoutes; ++r)
        router.exec(fmt::format("route 2001:db8:{:x}::/48 via {}", r, plan::gateway6(r % plan::kGateways).str()));
    setup.routes = kSmallProfileRoutes;
    setup.frame_size = kIpv6FrameSize;
    FrameTemplates frames;
    for (unsigned f = 0; f < kSmallProfileFlows; ++f) {
        IpAddr dst = f % kConnectedFlowEvery == kConnectedFlowEvery - 1
                         ? plan::connected_host6(f % plan::kConnectedHosts)
                         : documentation6(f % kSmallProfileRoutes, 1 + f);
        add_flow(frames, flow_from_sender(f, plan::sender6(f % 64), dst), kIpv6FrameSize);
    }
    return frames;
}

// ---- ipv4-fwd-1m -------------------------------------------------------------

constexpr size_t kLargeTableRoutes = 1'000'000;
// Flows drawn over the large table: far more distinct destinations than the
// caches hold tbl24 lines for, so the lookup cost is that of a full table.
constexpr unsigned kLargeTableFlows = 1u << 16;

// Prefix lengths shaped like today's IPv4 default-free zone (about 60 % /24).
// Nothing is longer than /24, so the DIR-24-8 FIB answers every lookup from
// tbl24 and needs no tbl8 group. /24 takes whatever the others leave.
struct LengthShare {
    uint8_t length;
    double share;
};
constexpr LengthShare kIpv4LengthMix[] = {
    {8, 0.00002}, {9, 0.00005}, {10, 0.0001}, {11, 0.0002}, {12, 0.0004}, {13, 0.0008},
    {14, 0.0015}, {15, 0.0025}, {16, 0.013},  {17, 0.008},  {18, 0.013},  {19, 0.025},
    {20, 0.04},   {21, 0.045},  {22, 0.11},   {23, 0.095},
};

uint32_t prefix_mask(unsigned length) { return length == 0 ? 0 : ~uint32_t(0) << (32 - length); }

bool overlaps(uint32_t a, unsigned a_len, uint32_t b, unsigned b_len) {
    return ((a ^ b) & prefix_mask(std::min(a_len, b_len))) == 0;
}

// A network that could appear in a global table: not 0/8, loopback,
// multicast or class E, and clear of the benchmark's own subnets.
bool usable_network(uint32_t net, unsigned length) {
    unsigned first_octet = net >> 24;
    return first_octet != 0 && first_octet != 127 && first_octet < 224 &&
           !overlaps(net, length, plan::kPlanNet4, plan::kPlanLen4);
}

struct Ipv4Route {
    uint32_t network;  // host byte order, host bits clear
    uint8_t length;
};

std::vector<Ipv4Route> random_ipv4_table(size_t count, std::mt19937_64& rng) {
    std::vector<Ipv4Route> table;
    table.reserve(count);
    std::unordered_set<uint64_t> seen;
    seen.reserve(count * 2);
    auto add_random = [&](uint8_t length, size_t how_many) {
        while (how_many) {
            uint32_t net = uint32_t(rng()) & prefix_mask(length);
            if (!usable_network(net, length) || !seen.insert(uint64_t(net) << 8 | length).second) continue;
            table.push_back({net, length});
            --how_many;
        }
    };
    size_t shorter = 0;
    for (const LengthShare& s : kIpv4LengthMix) {
        size_t n = size_t(s.share * double(count));
        add_random(s.length, n);
        shorter += n;
    }
    add_random(24, count - shorter);
    return table;
}

// `sav_efpb`: the ingress (port0) is a customer interface with EFP-uRPF-B
// whose Adj-RIB-In holds the same million prefixes (written as an MRT file
// and loaded with `sav load mrt`, as an operator would), and every source is
// drawn from them: one SAV lookup per packet over a 1M-rule table.
FrameTemplates prepare_ipv4_fwd_1m_impl(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup,
                                        bool sav_efpb) {
    auto t = Clock::now();
    std::vector<Ipv4Route> table = random_ipv4_table(kLargeTableRoutes, rng);
    const double generate_s = seconds_since(t);

    // Installing a million routes one Control::execute() at a time would copy
    // the whole running configuration per command (see the note below): build
    // the configuration once and install it, as a startup config is.
    t = Clock::now();
    RunningConfig config = router.control().config();
    for (size_t i = 0; i < table.size(); ++i) {
        RouteNextHop hop{RouteNextHop::Kind::via, plan::gateway4(unsigned(i % plan::kGateways)), ""};
        config.routes[Prefix{IpAddr::v4(table[i].network), table[i].length}] = {hop};
    }
    const double config_s = seconds_since(t);

    // The longest step of the whole run: say what the wait is for.
    fmt::print(stderr, "[ipv4-fwd-1m] installing {} routes through Control::install ...\n", table.size());
    t = Clock::now();
    std::string warnings = router.control().install(config);
    const double install_s = seconds_since(t);
    config = RunningConfig{};  // the control core keeps its own copy
    if (!warnings.empty()) throw std::runtime_error("installing the 1M-route table: " + warnings.substr(0, 400));

    // The cost of one operator command once the table is this large.
    const std::string probe_route = fmt::format("route 198.18.200.0/24 via {}", plan::gateway4(0).str());
    t = Clock::now();
    router.exec(probe_route);
    const double add_ms = seconds_since(t) * 1e3;
    t = Clock::now();
    router.exec("no " + probe_route);
    const double delete_ms = seconds_since(t) * 1e3;

    setup.routes = table.size();
    setup.frame_size = kIpv4FrameSize;
    setup.notes.push_back(fmt::format(
        "{} routes (/8../24, DFZ-like mix, 2 gateways): generated {:.2f} s, RunningConfig built {:.2f} s, "
        "Control::install -> FibPublisher -> FIB {:.2f} s",
        table.size(), generate_s, config_s, install_s));
    setup.notes.push_back(fmt::format(
        "one more route through Control::execute with {} routes installed: add {:.0f} ms, delete {:.0f} ms",
        table.size(), add_ms, delete_ms));
    setup.metrics = {{"table_generate_s", generate_s},
                     {"table_config_s", config_s},
                     {"table_install_s", install_s},
                     {"execute_route_add_ms", add_ms},
                     {"execute_route_delete_ms", delete_ms}};

    if (sav_efpb) {
        // The customer announces the whole table on port0 (one MRT RIB dump).
        t = Clock::now();
        sav::MrtWriter w;
        w.peer_index_table(0xc6120002, "bench", {sav::MrtPeer{0xc6120002, IpAddr::v4(0xc6120002), 64501}});
        for (size_t i = 0; i < table.size(); ++i) {
            sav::MrtRibRoute r;
            r.route.prefix = Prefix{IpAddr::v4(table[i].network), table[i].length};
            r.route.as_path = {sav::AsPathSegment{false, {64501, sav::Asn(65000 + i % 1000)}}};
            w.rib(uint32_t(i), r.route.prefix, {r});
        }
        const std::string path = fmt::format("/tmp/rampart-bench-sav-{}.mrt", getpid());
        w.write_file(path);
        const double mrt_s = seconds_since(t);
        fmt::print(stderr, "[ipv4-fwd-1m-sav-efpb] compiling EFP-B SAV rules from {} prefixes ...\n", table.size());
        t = Clock::now();
        router.exec("interface port0 sav-role customer asn 64501");
        router.exec("sav local-asn 64500");
        router.exec("interface port0 sav efp-b");
        const CommandResult load = router.control().execute("sav load mrt " + path + " interface port0");
        if (!load.ok || load.text.find("% warning") != std::string::npos)
            throw std::runtime_error("sav load mrt: " + load.text);
        const double sav_s = seconds_since(t);
        std::remove(path.c_str());
        const sav::SavTablePublisher* pub = router.control().sav().publisher();
        const double sav_mb = pub ? double(pub->memory_bytes()) / (1 << 20) : 0;
        const size_t rules = router.control().sav().compiler().rules(Family::v4).size();
        setup.notes.push_back(fmt::format(
            "SAV: port0 customer, EFP-uRPF-B; MRT file of {} prefixes written {:.2f} s; `sav load mrt` + compile + "
            "publish {:.2f} s; {} IPv4 rules, SAV table {:.0f} MB of EAL memory",
            table.size(), mrt_s, sav_s, rules, sav_mb));
        setup.metrics.emplace_back("sav_compile_publish_s", sav_s);
        setup.metrics.emplace_back("sav_table_mb", sav_mb);
        setup.metrics.emplace_back("sav_rules", double(rules));
    }

    FrameTemplates frames;
    std::uniform_int_distribution<size_t> pick(0, table.size() - 1);
    for (unsigned f = 0; f < kLargeTableFlows; ++f) {
        const Ipv4Route& r = table[pick(rng)];
        uint32_t dst = r.network | (uint32_t(rng()) & ~prefix_mask(r.length));
        IpAddr src = plan::sender4(f % 64);
        if (sav_efpb) {
            const Ipv4Route& s = table[pick(rng)];
            src = IpAddr::v4(s.network | (uint32_t(rng()) & ~prefix_mask(s.length)));
        }
        add_flow(frames, flow_from_sender(f, src, IpAddr::v4(dst)), kIpv4FrameSize);
    }
    return frames;
}

FrameTemplates prepare_ipv4_fwd_1m(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup) {
    return prepare_ipv4_fwd_1m_impl(router, rng, setup, false);
}

FrameTemplates prepare_ipv4_fwd_1m_sav_efpb(BenchRouter& router, std::mt19937_64& rng, ProfileSetup& setup) {
    // The SAV table holds the million prefixes plus the rib's branch nodes.
    sav::SavTableSizes sizes;
    sizes.v4_max_routes = 2'000'000;
    router.control().set_sav_sizes(sizes);
    return prepare_ipv4_fwd_1m_impl(router, rng, setup, true);
}

TableSizes large_ipv4_table_sizes() {
    TableSizes s;
    // The FIB's RIB also spends nodes on branch points: a million prefixes
    // need up to twice as many (rampartd's --fib4-routes 2000000 for a full table).
    s.fib4_max_routes = 2'000'000;
    return s;
}

// ---- MPLS: mpls-swap, sr-push3, vpn-pop-lookup --------------------------------
//
// port0 is core-facing (MPLS enabled) where labelled frames arrive; every frame
// the router sends is checked byte for byte against the one the profile
// expects before measuring.

constexpr unsigned kMplsFrameSize = 64;  // on the wire: Ethernet + labels + IPv4/UDP, FCS included
constexpr unsigned kMplsFlows = 512;
constexpr unsigned kEthernetBytes = 14;
constexpr unsigned kLabelBytes = 4;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeMpls = 0x8847;

// mpls-swap: a P router's ILM, one label per LSP.
constexpr unsigned kSwapLabels = 64;
constexpr uint32_t kSwapFirstLabel = 100;
constexpr uint32_t kSwapOffset = 1000;  // label L leaves as L + 1000

// sr-push3: an SR headend's routes, each imposing three SIDs.
constexpr uint32_t kSrSegments[] = {16001, 16002, 16003};

// vpn-pop-lookup: a PE's per-VRF VPN label towards a customer behind port1.
constexpr const char* kVpnVrf = "blue";
constexpr uint32_t kVpnLabel = 1000;

PortRoles core_facing_ingress() { return PortRoles{true, ""}; }
PortRoles pe_towards_vrf_customer() { return PortRoles{true, kVpnVrf}; }

// The IPv4 destinations of ipv4-fwd: 10.<route>.x.y behind the gateways, and
// with `connected_every` a host on the egress subnet for one flow in that many.
IpAddr small_profile_destination(unsigned flow, unsigned connected_every) {
    if (connected_every && flow % connected_every == connected_every - 1)
        return plan::connected_host4(flow % plan::kConnectedHosts);
    return IpAddr::v4(0x0a000000u | (flow % kSmallProfileRoutes) << 16 | (flow / 8 % 256) << 8 | (1 + flow % 250));
}

// The neighbour the router sends a flow to: the route's gateway, or the connected host itself.
MacAddr next_hop_mac(unsigned flow, unsigned connected_every) {
    if (connected_every && flow % connected_every == connected_every - 1)
        return plan::connected_host_mac(flow % plan::kConnectedHosts);
    return plan::gateway_mac(flow % kSmallProfileRoutes % plan::kGateways);
}

FrameTemplates prepare_mpls_swap(BenchRouter& router, std::mt19937_64&, ProfileSetup& setup) {
    for (unsigned i = 0; i < kSwapLabels; ++i)
        router.exec(fmt::format("mpls label {} swap {} via {}", kSwapFirstLabel + i, kSwapFirstLabel + i + kSwapOffset,
                                plan::gateway4(i % plan::kGateways).str()));
    setup.routes = 0;
    setup.frame_size = kMplsFrameSize;
    setup.notes.push_back(fmt::format("{} ILM entries: label {}..{} swap to label + {} via the 2 gateways on port{}; "
                                      "1 label over IPv4/UDP, flows spread over labels and inner 5-tuples",
                                      kSwapLabels, kSwapFirstLabel, kSwapFirstLabel + kSwapLabels - 1, kSwapOffset,
                                      plan::kEgressPort));
    setup.metrics = {{"ilm_entries", double(kSwapLabels)}, {"labels_in", 1}, {"labels_out", 1}};
    FrameTemplates frames;
    for (unsigned f = 0; f < kMplsFlows; ++f) {
        const unsigned lsp = f % kSwapLabels;
        // Inner packets vary independently of the label: 8 senders and 8 destinations per LSP.
        UdpFlow inner = flow_from_sender(f, plan::sender4(f / kSwapLabels + 8 * lsp), small_profile_destination(f, 0));
        const LabelStackEntry in[] = {{kSwapFirstLabel + lsp, uint8_t(f % 8), 64}};
        std::vector<uint8_t> frame = build_labelled_udp_frame(inner, in, kMplsFrameSize);
        std::vector<uint8_t> out = frame;
        const LabelStackEntry swapped[] = {{kSwapFirstLabel + lsp + kSwapOffset, uint8_t(f % 8), 63}};
        replace_label_stack(out, kEthernetBytes + kLabelBytes, swapped);
        set_ethernet(out, plan::gateway_mac(lsp % plan::kGateways), plan::port_mac(plan::kEgressPort), kEthertypeMpls);
        frames.add(frame, std::move(out));
    }
    return frames;
}

FrameTemplates prepare_sr_push3(BenchRouter& router, std::mt19937_64&, ProfileSetup& setup) {
    const std::string segments = fmt::format("{}/{}/{}", kSrSegments[0], kSrSegments[1], kSrSegments[2]);
    for (unsigned r = 0; r < kSmallProfileRoutes; ++r)
        router.exec(fmt::format("route 10.{}.0.0/16 via {} labels {}", r, plan::gateway4(r % plan::kGateways).str(),
                                segments));
    setup.routes = kSmallProfileRoutes;
    setup.frame_size = kIpv4FrameSize;
    setup.notes.push_back(fmt::format("{} routes each imposing labels {} (uniform TTL, TC from DSCP); "
                                      "{}-byte IPv4 frames leave {} bytes longer",
                                      kSmallProfileRoutes, segments, kIpv4FrameSize, 3 * kLabelBytes));
    setup.metrics = {{"labels_in", 0}, {"labels_out", 3}};
    FrameTemplates frames;
    for (unsigned f = 0; f < kSmallProfileFlows; ++f) {
        UdpFlow flow = flow_from_sender(f, plan::sender4(f % 64), small_profile_destination(f, 0));
        flow.tos = uint8_t((f % 8) << 5);  // class selectors: TC = DSCP >> 3 = f % 8
        std::vector<uint8_t> frame = build_udp_frame(flow, kIpv4FrameSize);
        std::vector<uint8_t> out = frame;
        set_ipv4_ttl(out, kEthernetBytes, uint8_t(flow.ttl - 1));
        const uint8_t tc = uint8_t(f % 8), ttl = uint8_t(flow.ttl - 1);
        const LabelStackEntry pushed[] = {{kSrSegments[0], tc, ttl}, {kSrSegments[1], tc, ttl}, {kSrSegments[2], tc, ttl}};
        replace_label_stack(out, kEthernetBytes, pushed);
        set_ethernet(out, next_hop_mac(f, 0), plan::port_mac(plan::kEgressPort), kEthertypeMpls);
        frames.add(frame, std::move(out));
    }
    return frames;
}

FrameTemplates prepare_vpn_pop_lookup(BenchRouter& router, std::mt19937_64&, ProfileSetup& setup) {
    router.exec(fmt::format("vrf {} label {}", kVpnVrf, kVpnLabel));
    for (unsigned r = 0; r < kSmallProfileRoutes; ++r)
        router.exec(fmt::format("route vrf {} 10.{}.0.0/16 via {}", kVpnVrf, r, plan::gateway4(r % plan::kGateways).str()));
    setup.routes = kSmallProfileRoutes;
    setup.frame_size = kMplsFrameSize;
    setup.notes.push_back(fmt::format(
        "VPN label {} pops into vrf {} (port{} and its subnet, {} routes + connected hosts); label TTL 57..64 "
        "lowers the IP TTL (uniform), then the VRF's FIB forwards unlabelled",
        kVpnLabel, kVpnVrf, plan::kEgressPort, kSmallProfileRoutes));
    setup.metrics = {{"labels_in", 1}, {"labels_out", 0}};
    FrameTemplates frames;
    for (unsigned f = 0; f < kMplsFlows; ++f) {
        UdpFlow inner = flow_from_sender(f, plan::sender4(f % 64), small_profile_destination(f, kConnectedFlowEvery));
        const uint8_t label_ttl = uint8_t(64 - f % 8);
        const LabelStackEntry in[] = {{kVpnLabel, 0, label_ttl}};
        std::vector<uint8_t> frame = build_labelled_udp_frame(inner, in, kMplsFrameSize);
        std::vector<uint8_t> out = frame;
        replace_label_stack(out, kEthernetBytes + kLabelBytes, {});
        set_ipv4_ttl(out, kEthernetBytes, uint8_t(std::min(inner.ttl, label_ttl) - 1));
        set_ethernet(out, next_hop_mac(f, kConnectedFlowEvery), plan::port_mac(plan::kEgressPort), kEthertypeIpv4);
        frames.add(frame, std::move(out));
    }
    return frames;
}

const Profile kForwardingProfiles[] = {
    {"ipv4-fwd", "IPv4 UDP, 64-byte frames, 512 flows, 8 static routes + connected hosts", TableSizes{},
     prepare_ipv4_fwd, PortRoles{}},
    {"ipv4-fwd-1m", "IPv4 UDP, 64-byte frames, 65536 flows over a 1,000,000-route FIB", large_ipv4_table_sizes(),
     prepare_ipv4_fwd_1m, PortRoles{}},
    {"ipv4-fwd-1m-sav-efpb",
     "ipv4-fwd-1m with EFP-uRPF-B SAV on the ingress, compiled from 1,000,000 prefixes (sources drawn from them)",
     large_ipv4_table_sizes(), prepare_ipv4_fwd_1m_sav_efpb, PortRoles{}},
    {"ipv6-fwd", "IPv6 UDP, 78-byte frames, 512 flows, 8 static routes + connected hosts", TableSizes{},
     prepare_ipv6_fwd, PortRoles{}},
    {"mpls-swap", "MPLS swap, 64-byte frames (1 label + IPv4/UDP), 512 flows over 64 ILM entries",
     TableSizes{}, prepare_mpls_swap, core_facing_ingress()},
    {"sr-push3", "SR headend: IPv4 UDP, 64-byte frames, 512 flows, 8 routes pushing 3 labels", TableSizes{},
     prepare_sr_push3, PortRoles{}},
    {"vpn-pop-lookup", "VPN label pop and lookup in a VRF, 64-byte frames, 512 flows, 8 VRF routes + hosts",
     TableSizes{}, prepare_vpn_pop_lookup, pe_towards_vrf_customer()},
};

RAMPART_BENCH_PROFILES(forwarding, 10, kForwardingProfiles);

}  // namespace

namespace {
const ProfileRegistration* registrations = nullptr;  // written by static initializers only
}  // namespace

ProfileRegistration::ProfileRegistration(int order_, std::span<const Profile> profiles_) noexcept
    : order(order_), profiles(profiles_), next(registrations) {
    registrations = this;
}

std::span<const Profile> all_profiles() {
    static const std::vector<Profile> all = [] {
        std::vector<const ProfileRegistration*> regs;
        for (const ProfileRegistration* r = registrations; r; r = r->next) regs.push_back(r);
        std::stable_sort(regs.begin(), regs.end(), [](auto* a, auto* b) { return a->order < b->order; });
        std::vector<Profile> v;
        for (const ProfileRegistration* r : regs) v.insert(v.end(), r->profiles.begin(), r->profiles.end());
        return v;
    }();
    return all;
}

const Profile* find_profile(std::string_view name) {
    for (const Profile& p : all_profiles())
        if (p.name == name) return &p;
    return nullptr;
}

}  // namespace rampart::bench
