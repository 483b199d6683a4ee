#include "slowpath/ike/transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart::ike {

namespace {

constexpr size_t kMaxDatagram = 65535;
constexpr size_t kReceiveBuffer = 8 << 20;

int open_socket(bool v6, uint16_t port, std::string& why) {
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        why = strerror(errno);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Thousands of peers may send at once (a restart, a flood of DPD): room
    // for a few thousand datagrams rather than the default few hundred. Past
    // rmem_max when allowed to (root); else the kernel's cap applies.
    int room = int(kReceiveBuffer);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof room) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
    bool ok;
    if (v6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        ok = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0;
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        a.sin6_addr = in6addr_any;
        ok = ok && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    } else {
        ok = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        ok = ok && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    if (!ok) {
        why = strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

UdpTransport::UdpTransport(uint16_t ike_port, uint16_t natt_port) : ike_port_(ike_port), natt_port_(natt_port) {
    for (bool v6 : {false, true})
        for (uint16_t port : {ike_port, natt_port}) {
            std::string why;
            int fd = open_socket(v6, port, why);
            if (fd < 0) {
                problems_ += fmt::format("{}UDP/{} {}: {}", problems_.empty() ? "" : "; ", v6 ? "IPv6" : "IPv4", port, why);
                continue;
            }
            socks_.push_back({fd, v6, port});
        }
    if (socks_.empty()) throw std::runtime_error("ike: no UDP socket: " + problems_);
}

UdpTransport::~UdpTransport() {
    for (auto& s : socks_) close(s.fd);
}

std::vector<int> UdpTransport::fds() const {
    std::vector<int> out;
    for (auto& s : socks_) out.push_back(s.fd);
    return out;
}

std::vector<Datagram> UdpTransport::receive(int fd, size_t max) {
    std::vector<Datagram> out;
    const Sock* sock = nullptr;
    for (auto& s : socks_)
        if (s.fd == fd) sock = &s;
    if (!sock) return out;
    std::vector<uint8_t> buf(kMaxDatagram);
    while (out.size() < max) {
        sockaddr_storage from{};
        iovec iov{buf.data(), buf.size()};
        alignas(cmsghdr) char control[256];
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = recvmsg(fd, &msg, 0);
        if (n < 0) break;  // EAGAIN or an error: nothing more now
        if (msg.msg_flags & MSG_TRUNC) {
            ++counters_.truncated;
            continue;
        }
        Datagram d;
        d.local.port = sock->port;
        if (sock->v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&from);
            d.remote.addr = IpAddr::v6(a->sin6_addr.s6_addr);
            d.remote.port = ntohs(a->sin6_port);
            d.local.addr.family = Family::v6;
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                    in6_pktinfo pi;
                    std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
                    d.local.addr = IpAddr::v6(pi.ipi6_addr.s6_addr);
                }
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&from);
            d.remote.addr = IpAddr::v4(ntohl(a->sin_addr.s_addr));
            d.remote.port = ntohs(a->sin_port);
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                    in_pktinfo pi;
                    std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
                    d.local.addr = IpAddr::v4(ntohl(pi.ipi_addr.s_addr));
                }
        }
        size_t skip = 0;
        if (sock->port == natt_port_) {
            if (n == 1 && buf[0] == 0xff) {
                ++counters_.keepalives;
                continue;
            }
            if (n < 4 || buf[0] || buf[1] || buf[2] || buf[3]) {
                ++counters_.not_ike;  // ESP in UDP: the fast path's, not ours
                continue;
            }
            skip = 4;
        }
        d.data.assign(buf.begin() + long(skip), buf.begin() + n);
        ++counters_.rx;
        out.push_back(std::move(d));
    }
    return out;
}

bool UdpTransport::send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> message) {
    return transmit(local, remote, local.port == natt_port_, message);
}

bool UdpTransport::send_keepalive(const Endpoint& local, const Endpoint& remote) {
    static const uint8_t kKeepalive[1] = {0xff};  // RFC 3948 §2.3: one octet, no non-ESP marker
    if (!transmit(Endpoint{local.addr, natt_port_}, remote, false, kKeepalive)) return false;
    ++counters_.keepalives_sent;
    return true;
}

bool UdpTransport::transmit(const Endpoint& local, const Endpoint& remote, bool marker, std::span<const uint8_t> message) {
    const bool v6 = !remote.addr.is_v4();
    const bool natt = local.port == natt_port_;
    const Sock* sock = nullptr;
    for (auto& s : socks_)
        if (s.v6 == v6 && s.port == (natt ? natt_port_ : ike_port_)) sock = &s;
    if (!sock) {
        ++counters_.tx_errors;
        return false;
    }
    static const uint8_t kMarker[4] = {0, 0, 0, 0};
    iovec iov[2];
    int niov = 0;
    if (marker) iov[niov++] = {const_cast<uint8_t*>(kMarker), 4};
    iov[niov++] = {const_cast<uint8_t*>(message.data()), message.size()};
    sockaddr_storage to{};
    socklen_t tolen;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))]{};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = size_t(niov);
    const bool have_local = local.addr.is_v4() == remote.addr.is_v4() &&
                            local.addr != IpAddr{local.addr.family, {}};
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&to);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(remote.port);
        std::memcpy(a->sin6_addr.s6_addr, remote.addr.bytes.data(), 16);
        tolen = sizeof *a;
        if (have_local) {
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
            in6_pktinfo pi{};
            std::memcpy(pi.ipi6_addr.s6_addr, local.addr.bytes.data(), 16);
            std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
        }
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&to);
        a->sin_family = AF_INET;
        a->sin_port = htons(remote.port);
        a->sin_addr.s_addr = htonl(remote.addr.v4_host());
        tolen = sizeof *a;
        if (have_local) {
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
            in_pktinfo pi{};
            pi.ipi_spec_dst.s_addr = htonl(local.addr.v4_host());
            std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
        }
    }
    msg.msg_name = &to;
    msg.msg_namelen = tolen;
    if (sendmsg(sock->fd, &msg, 0) < 0) {
        ++counters_.tx_errors;
        return false;
    }
    ++counters_.tx;
    return true;
}

}  // namespace rampart::ike
