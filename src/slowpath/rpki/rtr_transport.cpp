#include "slowpath/rpki/rtr_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart::rpki::rtr {

Poller::Poller() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) throw std::runtime_error(fmt::format("rpki: epoll_create1: {}", std::strerror(errno)));
}

Poller::~Poller() { ::close(epfd_); }

void Poller::watch(int fd, bool want_write) {
    epoll_event ev{};
    ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT) epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

void Poller::unwatch(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

std::vector<Poller::Ready> Poller::ready() {
    epoll_event evs[32];
    const int n = epoll_wait(epfd_, evs, 32, 0);
    std::vector<Ready> out;
    for (int i = 0; i < n; ++i)
        out.push_back(Ready{evs[i].data.fd, (evs[i].events & EPOLLIN) != 0, (evs[i].events & EPOLLOUT) != 0,
                            (evs[i].events & (EPOLLERR | EPOLLHUP)) != 0});
    return out;
}

std::optional<std::string> TcpConnection::connect(const IpAddr& address, uint16_t port) {
    close();
    sockaddr_storage ss{};
    socklen_t len;
    if (address.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        std::memcpy(&sin->sin_addr, address.bytes.data(), 4);
        len = sizeof(sockaddr_in);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        std::memcpy(&sin6->sin6_addr, address.bytes.data(), 16);
        len = sizeof(sockaddr_in6);
    }
    fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return fmt::format("socket: {}", std::strerror(errno));
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) < 0 && errno != EINPROGRESS) {
        std::string e = fmt::format("connect: {}", std::strerror(errno));
        close();
        return e;
    }
    status_ = Status::connecting;
    return std::nullopt;
}

std::optional<std::string> TcpConnection::finish_connect() {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        close();
        return fmt::format("connect: {}", std::strerror(err));
    }
    status_ = Status::connected;
    return std::nullopt;
}

bool TcpConnection::read(std::vector<uint8_t>& into, std::string& error) {
    uint8_t buf[65536];
    for (;;) {
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            into.insert(into.end(), buf, buf + n);
            // Bounded per call: a fast cache cannot keep the control loop here.
            if (into.size() >= (size_t(1) << 20)) return true;
            continue;
        }
        if (n == 0) {
            error = "closed by the cache";
            return false;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == EINTR) continue;
        error = fmt::format("recv: {}", std::strerror(errno));
        return false;
    }
}

bool TcpConnection::send(std::span<const uint8_t> bytes, std::string& error) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return flush(error);
}

bool TcpConnection::flush(std::string& error) {
    if (status_ != Status::connected) return true;
    size_t done = 0;
    while (done < out_.size()) {
        const ssize_t n = ::send(fd_, out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += size_t(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        error = fmt::format("send: {}", std::strerror(errno));
        return false;
    }
    out_.erase(out_.begin(), out_.begin() + long(done));
    return true;
}

void TcpConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    status_ = Status::closed;
    out_.clear();
}

}  // namespace rampart::rpki::rtr
