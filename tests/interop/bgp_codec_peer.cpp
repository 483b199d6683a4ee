// bgp-codec-peer — the BGP codec (slowpath/bgp/message.hpp) alone against a
// real daemon, for tests/interop/bgp_codec.sh: a TCP connection, our OPEN,
// our UPDATEs (a fixed route set with every attribute the codec writes), and
// every message of the peer decoded and printed one per line:
//   open as=65001 hold=90 id=192.0.2.2 four-octet=1 families=1/1,2/1
//   announce 198.51.100.0/24 path-id=0 next-hop=192.0.2.2 origin=0 as-path=65001 med=10 ...
//   withdraw 2001:db8:1::/48 path-id=0
//   eor 2/1
//   notification Cease/Administrative Shutdown
// A message the codec refuses prints "refused <describe>" and ends the run
// with status 2 (after sending that NOTIFICATION, as a session would).
// No FSM beyond what one session needs: the session layer is elsewhere.
//
// bgp-codec-peer ADDRESS LOCAL_AS SECONDS [two-octet] [no-link-local]
//   two-octet: no 4-octet AS capability (AS_TRANS, AS4_PATH, AS4_AGGREGATOR)
//   no-link-local: our IPv6 route with its global next hop only (FRR's bgpd
//   without zebra withdraws routes with a link-local next hop: it cannot
//   tell the interface)
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "slowpath/bgp/message.hpp"

using namespace rampart;
using namespace rampart::bgp;

namespace {

using Bytes = std::vector<uint8_t>;

int connect_to(const IpAddr& a, int seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until) {
        const int fd = socket(a.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM, 0);
        sockaddr_storage ss{};
        socklen_t len;
        if (a.is_v4()) {
            auto* s = reinterpret_cast<sockaddr_in*>(&ss);
            s->sin_family = AF_INET;
            s->sin_port = htons(179);
            std::memcpy(&s->sin_addr, a.bytes.data(), 4);
            len = sizeof *s;
        } else {
            auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
            s->sin6_family = AF_INET6;
            s->sin6_port = htons(179);
            std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
            len = sizeof *s;
        }
        if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return fd;
        close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return -1;
}

void send_all(int fd, const Bytes& b) {
    for (size_t at = 0; at < b.size();) {
        const ssize_t n = send(fd, b.data() + at, b.size() - at, MSG_NOSIGNAL);
        if (n <= 0) {
            std::puts("send failed");
            std::exit(1);
        }
        at += size_t(n);
    }
}

// "65000,4200000001,{64513,64514}": no spaces, so a line splits into fields.
std::string path_text(const std::vector<AsPathSegment>& path) {
    std::string s;
    for (const AsPathSegment& seg : path) {
        std::string asns;
        for (Asn a : seg.asns) asns += (asns.empty() ? "" : ",") + std::to_string(a);
        if (!s.empty()) s += ',';
        s += seg.kind == AsPathSegment::Kind::set ? "{" + asns + "}" : asns;
    }
    return s.empty() ? "-" : s;
}

std::string attributes_text(const PathAttributes& a, const std::optional<IpAddr>& nh) {
    std::string s = fmt::format("next-hop={}", nh ? nh->str() : "-");
    if (a.link_local_next_hop) s += " link-local=" + a.link_local_next_hop->str();
    if (a.origin) s += fmt::format(" origin={}", int(*a.origin));
    s += " as-path=" + path_text(a.as_path);
    if (a.med) s += fmt::format(" med={}", *a.med);
    if (a.local_pref) s += fmt::format(" local-pref={}", *a.local_pref);
    if (a.atomic_aggregate) s += " atomic-aggregate";
    if (a.aggregator) s += fmt::format(" aggregator={}:{}", a.aggregator->asn, IpAddr::v4(a.aggregator->address).str());
    for (uint32_t c : a.communities) s += fmt::format(" community={}:{}", c >> 16, c & 0xffff);
    for (uint64_t c : a.extended_communities) s += fmt::format(" ext-community={:016x}", c);
    for (const LargeCommunity& c : a.large_communities)
        s += fmt::format(" large-community={}:{}:{}", c.global, c.local1, c.local2);
    if (a.otc) s += fmt::format(" otc={}", *a.otc);
    for (const UnknownAttribute& u : a.unknown) s += fmt::format(" attribute-{}=flags-{:02x}", u.type, u.flags);
    return s;
}

void print(const Update& u) {
    if (u.end_of_rib) std::printf("eor %d/%d\n", int(u.end_of_rib->afi), int(u.end_of_rib->safi));
    for (const auto& f : u.families) {
        for (const Nlri& n : f.withdrawn) std::printf("withdraw %s path-id=%u\n", n.prefix.str().c_str(), n.path_id);
        const auto nh = f.next_hop ? f.next_hop : u.attributes.next_hop;
        for (const Nlri& n : f.announced)
            std::printf("%s %s path-id=%u %s\n", u.treat_as_withdraw ? "treat-as-withdraw" : "announce",
                        n.prefix.str().c_str(), n.path_id, attributes_text(u.attributes, nh).c_str());
    }
    for (uint8_t t : u.discarded) std::printf("discarded %u\n", t);
    if (!u.error.empty()) std::printf("rfc7606 %s\n", u.error.c_str());
}

// The routes we announce: every attribute the codec writes, IPv4 in the
// classic fields and IPv6 in MP_REACH with a link-local next hop.
std::vector<Update> our_routes(const IpAddr& self, Asn local_as, bool link_local) {
    Update v4;
    v4.families.push_back({kIpv4Unicast, {}, {}});
    for (const char* p : {"198.18.0.0/24", "198.18.1.0/25", "198.18.2.128/26"})
        v4.families[0].announced.push_back(Nlri{*Prefix::parse(p)});
    PathAttributes& a = v4.attributes;
    a.origin = Origin::egp;
    a.as_path = {{AsPathSegment::Kind::sequence, {local_as, 4200000001u, 64512}},
                 {AsPathSegment::Kind::set, {64513, 64514}}};
    a.next_hop = self.is_v4() ? self : *IpAddr::parse("192.0.2.1");
    a.med = 77;
    a.atomic_aggregate = true;
    a.aggregator = Aggregator{4200000002u, 0xc0000203};
    a.communities = {local_as << 16 | 100, 0xffffff02};
    a.extended_communities = {0x0002000000000064 | uint64_t(local_as & 0xffff) << 32};
    a.large_communities = {{4200000001u, 7, 8}};
    a.unknown = {{kFlagOptional | kFlagTransitive, 99, {1, 2, 3}}};
    Update v6;
    v6.families.push_back({kIpv6Unicast, {}, {Nlri{*Prefix::parse("2001:db8:100::/40")}}});
    v6.attributes.origin = Origin::igp;
    v6.attributes.as_path = {{AsPathSegment::Kind::sequence, {local_as}}};
    v6.attributes.next_hop = *IpAddr::parse("2001:db8::1");
    if (link_local) v6.attributes.link_local_next_hop = *IpAddr::parse("fe80::1");
    v6.attributes.large_communities = {{local_as, 1, 1}};
    Update eor4, eor6;
    eor4.end_of_rib = kIpv4Unicast;
    eor6.end_of_rib = kIpv6Unicast;
    return {v4, v6, eor4, eor6};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s ADDRESS LOCAL_AS SECONDS [two-octet] [no-link-local]\n", argv[0]);
        return 64;
    }
    const auto peer = IpAddr::parse(argv[1]);
    const Asn local_as = Asn(std::strtoul(argv[2], nullptr, 10));
    const int seconds = std::atoi(argv[3]);
    bool two_octet = false, link_local = true;
    for (int i = 4; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "two-octet") two_octet = true;
        else if (flag == "no-link-local") link_local = false;
        else return 64;
    }
    if (!peer) return 64;
    setvbuf(stdout, nullptr, _IOLBF, 0);

    const int fd = connect_to(*peer, seconds);
    if (fd < 0) {
        std::puts("connect failed");
        return 1;
    }
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
    const IpAddr self = local.ss_family == AF_INET
                            ? IpAddr::v4(ntohl(reinterpret_cast<sockaddr_in*>(&local)->sin_addr.s_addr))
                            : IpAddr::v6(reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr.s6_addr);

    Open open;
    open.my_as = uint16_t(local_as > 0xffff ? kAsTrans : local_as);
    open.hold_time = 90;
    open.bgp_id = 0xc0000201;
    open.capabilities.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
    open.capabilities.route_refresh = true;
    if (!two_octet) open.capabilities.four_octet_as = local_as;
    send_all(fd, encode(open));

    CodecOptions options;
    options.four_octet_as = !two_octet;
    bool sent_routes = false;
    Bytes stream;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    auto last_keepalive = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < until) {
        if (std::chrono::steady_clock::now() - last_keepalive > std::chrono::seconds(10)) {
            send_all(fd, encode_keepalive());
            last_keepalive = std::chrono::steady_clock::now();
        }
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        uint8_t buf[65536];
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            std::puts("closed");
            return 1;
        }
        stream.insert(stream.end(), buf, buf + n);
        for (;;) {
            auto framed = frame_length(stream, options);
            if (auto* e = std::get_if<Notification>(&framed)) {
                std::printf("refused %s\n", describe(*e).c_str());
                send_all(fd, encode(*e));
                return 2;
            }
            const size_t len = std::get<size_t>(framed);
            if (len == 0 || stream.size() < len) break;
            auto decoded = decode(std::span(stream).first(len), options);
            stream.erase(stream.begin(), stream.begin() + ptrdiff_t(len));
            if (auto* e = std::get_if<Notification>(&decoded)) {
                std::printf("refused %s\n", describe(*e).c_str());
                send_all(fd, encode(*e));
                return 2;
            }
            const Message& m = std::get<Message>(decoded);
            if (auto* o = std::get_if<Open>(&m)) {
                std::string families;
                for (const AddressFamily& f : o->capabilities.multiprotocol)
                    families += fmt::format("{}{}/{}", families.empty() ? "" : ",", int(f.afi), int(f.safi));
                std::printf("open as=%u hold=%u id=%s four-octet=%d families=%s\n", o->asn(), o->hold_time,
                            IpAddr::v4(o->bgp_id).str().c_str(), o->capabilities.four_octet_as ? 1 : 0,
                            families.c_str());
                options.four_octet_as = !two_octet && o->capabilities.four_octet_as;
                options.external_peer = o->asn() != local_as;
                send_all(fd, encode_keepalive());
            } else if (std::holds_alternative<Keepalive>(m)) {
                if (!sent_routes) {
                    std::puts("established");
                    for (const Update& u : our_routes(self, local_as, link_local))
                        for (const Bytes& b : encode(u, options)) send_all(fd, b);
                    sent_routes = true;
                }
            } else if (auto* u = std::get_if<Update>(&m)) {
                print(*u);
            } else if (auto* nt = std::get_if<Notification>(&m)) {
                std::printf("notification %s\n", describe(*nt).c_str());
                return 1;
            }
        }
    }
    Notification bye;
    bye.code = error::kCease;
    bye.subcode = error::kAdminShutdown;
    send_all(fd, encode(bye));
    std::puts("done");
    close(fd);
    return 0;
}
