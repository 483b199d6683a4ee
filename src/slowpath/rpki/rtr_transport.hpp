// The RTR client's transport: plain TCP (RFC 8210 §9; the caches of this
// deployment are on the management network), nonblocking. One epoll set
// holds every cache connection, so the control loop polls a single, stable
// descriptor however often connections come and go; reconnection waits with
// exponential back-off.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace rampart::rpki::rtr {

// The descriptors of the connections, behind one pollable descriptor.
class Poller {
public:
    Poller();
    ~Poller();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;
    int fd() const { return epfd_; }
    void watch(int fd, bool want_write);  // add or change
    void unwatch(int fd);
    struct Ready {
        int fd;
        bool readable, writable, error;
    };
    std::vector<Ready> ready();  // without waiting

private:
    int epfd_;
};

class TcpConnection {
public:
    enum class Status { closed, connecting, connected };
    TcpConnection() = default;
    ~TcpConnection() { close(); }
    TcpConnection(const TcpConnection&) = delete;
    TcpConnection& operator=(const TcpConnection&) = delete;

    // Starts a nonblocking connect; the error if it failed at once.
    std::optional<std::string> connect(const IpAddr& address, uint16_t port);
    // The socket turned writable while connecting: the error if the connect failed.
    std::optional<std::string> finish_connect();
    // Appends what the socket holds to `into`; false (and why) when the peer
    // closed or the connection broke.
    bool read(std::vector<uint8_t>& into, std::string& error);
    // Queues and sends what the socket takes now; the rest waits for flush().
    bool send(std::span<const uint8_t> bytes, std::string& error);
    bool flush(std::string& error);
    bool wants_write() const { return status_ == Status::connecting || !out_.empty(); }
    void close();
    int fd() const { return fd_; }
    Status status() const { return status_; }

private:
    int fd_ = -1;
    Status status_ = Status::closed;
    std::vector<uint8_t> out_;
};

// Reconnection delays: 1 s, 2 s, 4 s ... up to `cap`; reset after a success.
class Backoff {
public:
    using Millis = std::chrono::milliseconds;
    Millis next(Millis cap) {
        const Millis d = std::min(delay_, cap);
        delay_ = std::min(delay_ * 2, cap);
        return d;
    }
    void reset() { delay_ = Millis(1000); }

private:
    Millis delay_{1000};
};

}  // namespace rampart::rpki::rtr
