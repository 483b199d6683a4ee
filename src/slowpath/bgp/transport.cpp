#include "slowpath/bgp/transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart::bgp {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Per read() call: a full table arrives in many wakeups, so that one busy
// peer cannot hold the control core from the others, the CLI and the timers.
constexpr size_t kReadBudget = 1024 * 1024;

socklen_t to_sockaddr(const IpAddr& a, uint16_t port, sockaddr_storage& out) {
    std::memset(&out, 0, sizeof out);
    if (a.is_v4()) {
        auto* s = reinterpret_cast<sockaddr_in*>(&out);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        s->sin_addr.s_addr = htonl(a.v4_host());
        return sizeof *s;
    }
    auto* s = reinterpret_cast<sockaddr_in6*>(&out);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(s->sin6_addr.s6_addr, a.bytes.data(), 16);
    return sizeof *s;
}

IpAddr from_sockaddr(const sockaddr_storage& s) {
    if (s.ss_family == AF_INET) return IpAddr::v4(ntohl(reinterpret_cast<const sockaddr_in&>(s).sin_addr.s_addr));
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(s);
    // An IPv4 peer on a dual-stack socket (not ours: v6only) would come as ::ffff:a.b.c.d.
    if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) {
        uint32_t v4;
        std::memcpy(&v4, s6.sin6_addr.s6_addr + 12, 4);
        return IpAddr::v4(ntohl(v4));
    }
    return IpAddr::v6(s6.sin6_addr.s6_addr);
}

bool apply_options(int fd, const IpAddr& remote, const SocketOptions& o, std::string& why) {
    const bool v6 = !remote.is_v4();
    const int ttl = o.ttl;
    if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &ttl, sizeof ttl) != 0) {
        why = fmt::format("TTL {}: {}", ttl, strerror(errno));
        return false;
    }
    if (o.min_ttl) {
        const int min = *o.min_ttl;
        if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MINHOPCOUNT : IP_MINTTL, &min, sizeof min) != 0) {
            why = fmt::format("GTSM minimum TTL {}: {}", min, strerror(errno));
            return false;
        }
    }
    // BGP messages are whole units written at once: no Nagle delay for the
    // KEEPALIVE after an OPEN.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // CS6 (network control), as routing daemons mark their traffic.
    int tos = 0xc0;
    if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    else setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    return true;
}

}  // namespace

bool set_md5_key(int fd, const IpAddr& peer, const std::string& key, std::string& why) {
    tcp_md5sig sig{};
    if (key.size() > sizeof sig.tcpm_key) {
        why = "TCP-MD5 key longer than 80 bytes";
        return false;
    }
    to_sockaddr(peer, 0, sig.tcpm_addr);
    sig.tcpm_keylen = uint16_t(key.size());
    std::memcpy(sig.tcpm_key, key.data(), key.size());
    const int rc = setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig);
    const int err = errno;
    explicit_bzero(&sig, sizeof sig);
    // Removing a key that was never set is ENOENT: nothing to remove.
    if (rc != 0 && !(key.empty() && err == ENOENT)) {
        why = fmt::format("TCP-MD5 for {}: {}", peer.str(), strerror(err));
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------
// Poller
// ---------------------------------------------------------------------------

Poller::Poller() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error(fmt::format("bgp: epoll: {}", strerror(errno)));
}

Poller::~Poller() {
    if (fd_ >= 0) close(fd_);
}

void Poller::watch(int fd, bool write) {
    epoll_event ev{};
    ev.events = uint32_t(EPOLLIN) | (write ? uint32_t(EPOLLOUT) : 0u);
    ev.data.fd = fd;
    if (epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &ev) != 0) epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev);
}

void Poller::forget(int fd) { epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

std::vector<Poller::Ready> Poller::ready() {
    std::vector<Ready> out;
    epoll_event evs[64];
    const int n = epoll_wait(fd_, evs, 64, 0);
    for (int i = 0; i < n; ++i) {
        const bool err = evs[i].events & (EPOLLERR | EPOLLHUP);
        out.push_back({evs[i].data.fd, bool(evs[i].events & EPOLLIN) || err, bool(evs[i].events & EPOLLOUT) || err});
    }
    return out;
}

// ---------------------------------------------------------------------------
// Listener
// ---------------------------------------------------------------------------

Listener::Listener(uint16_t port) {
    for (bool v6 : {false, true}) {
        int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            problems_ += fmt::format("{}TCP/{} {}: {}", problems_.empty() ? "" : "; ", v6 ? "IPv6" : "IPv4", port,
                                     strerror(errno));
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        sockaddr_storage a;
        const socklen_t len = to_sockaddr(v6 ? IpAddr{Family::v6, {}} : IpAddr::v4(0), port, a);
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd, 64) != 0) {
            problems_ += fmt::format("{}TCP/{} {}: {}", problems_.empty() ? "" : "; ", v6 ? "IPv6" : "IPv4", port,
                                     strerror(errno));
            close(fd);
            continue;
        }
        socks_.push_back({fd, v6});
    }
    if (socks_.empty()) throw std::runtime_error("bgp: cannot listen: " + problems_);
}

Listener::~Listener() {
    for (auto& s : socks_) close(s.fd);
}

std::vector<int> Listener::fds() const {
    std::vector<int> out;
    for (auto& s : socks_) out.push_back(s.fd);
    return out;
}

bool Listener::set_md5(const IpAddr& peer, const std::string& key, std::string& why) {
    for (auto& s : socks_)
        if (s.v6 != peer.is_v4()) return set_md5_key(s.fd, peer, key, why);
    why = fmt::format("no {} listening socket", peer.is_v4() ? "IPv4" : "IPv6");
    return false;
}

std::vector<Listener::Incoming> Listener::accept(int fd) {
    std::vector<Incoming> out;
    for (int i = 0; i < 64; ++i) {
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        int c = accept4(fd, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        sockaddr_storage local{};
        socklen_t llen = sizeof local;
        getsockname(c, reinterpret_cast<sockaddr*>(&local), &llen);
        out.push_back({c, from_sockaddr(from), from_sockaddr(local)});
    }
    return out;
}

// ---------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------

std::unique_ptr<Connection> Connection::connect(const IpAddr& remote, const std::optional<IpAddr>& local, uint16_t port,
                                                const SocketOptions& options, std::string& why) {
    const bool v6 = !remote.is_v4();
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        why = fmt::format("socket: {}", strerror(errno));
        return nullptr;
    }
    std::unique_ptr<Connection> c(new Connection(fd, remote));
    if (!apply_options(fd, remote, options, why)) return nullptr;
    if (!options.md5_key.empty() && !set_md5_key(fd, remote, options.md5_key, why)) return nullptr;
    if (local) {
        sockaddr_storage a;
        const socklen_t len = to_sockaddr(*local, 0, a);
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
            why = fmt::format("bind to {}: {}", local->str(), strerror(errno));
            return nullptr;
        }
    }
    sockaddr_storage a;
    const socklen_t len = to_sockaddr(remote, port, a);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
        if (errno != EINPROGRESS) {
            why = fmt::format("connect: {}", strerror(errno));
            return nullptr;
        }
        c->connecting_ = true;
    }
    return c;
}

std::unique_ptr<Connection> Connection::adopt(int fd, const IpAddr& remote, const SocketOptions& options, std::string& why) {
    std::unique_ptr<Connection> c(new Connection(fd, remote));
    if (!apply_options(fd, remote, options, why)) return nullptr;
    return c;
}

Connection::~Connection() {
    if (fd_ >= 0) close(fd_);
}

std::optional<std::string> Connection::finish_connect() {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) {
        error_ = strerror(err);
        return error_;
    }
    connecting_ = false;
    return std::nullopt;
}

IpAddr Connection::local_address() const {
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    return from_sockaddr(local);
}

bool Connection::read() {
    size_t got = 0;
    while (got < kReadBudget) {
        // Keep the unread tail at the front before growing.
        if (in_start_ > 0 && in_start_ == in_.size()) {
            in_.clear();
            in_start_ = 0;
        } else if (in_start_ > kReadChunk) {
            in_.erase(in_.begin(), in_.begin() + long(in_start_));
            in_start_ = 0;
        }
        const size_t old = in_.size();
        in_.resize(old + kReadChunk);
        const ssize_t n = ::recv(fd_, in_.data() + old, kReadChunk, 0);
        if (n > 0) {
            in_.resize(old + size_t(n));
            got += size_t(n);
            continue;
        }
        in_.resize(old);
        if (n == 0) {
            error_ = "connection closed by the peer";
            return false;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == EINTR) continue;
        error_ = strerror(errno);
        return false;
    }
    return true;
}

std::variant<std::monostate, std::span<const uint8_t>, Notification> Connection::next_message(const CodecOptions& options) {
    const std::span<const uint8_t> rest(in_.data() + in_start_, in_.size() - in_start_);
    auto framed = frame_length(rest, options);
    if (auto* n = std::get_if<Notification>(&framed)) return *n;
    const size_t length = std::get<size_t>(framed);
    if (length == 0 || length > rest.size()) return std::monostate{};
    in_start_ += length;
    return rest.subspan(0, length);
}

bool Connection::send(std::span<const uint8_t> bytes) {
    if (out_sent_ == out_.size()) {
        out_.clear();
        out_sent_ = 0;
    }
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    if (connecting_) return true;
    return flush();
}

bool Connection::flush() {
    while (out_sent_ < out_.size()) {
        const ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
        if (n > 0) {
            out_sent_ += size_t(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        error_ = n < 0 ? strerror(errno) : "send returned 0";
        return false;
    }
    if (out_sent_ == out_.size()) {
        out_.clear();
        out_sent_ = 0;
    } else if (out_sent_ > (1u << 20)) {
        out_.erase(out_.begin(), out_.begin() + long(out_sent_));
        out_sent_ = 0;
    }
    return true;
}

}  // namespace rampart::bgp
