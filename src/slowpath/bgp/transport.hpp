// BGP's TCP transport: non-blocking kernel sockets, IPv4 and IPv6. rampartd's
// TAP twins carry the box's addresses, so the kernel in rampartd's namespace
// terminates the TCP sessions (as it does IKE's UDP, ike/transport.cpp): we
// listen on port 179 and connect out like any BGP daemon.
//
// Per neighbour: TCP-MD5 (RFC 2385, the kernel's TCP_MD5SIG, set on the
// listening socket too so that the peer's SYN is answered), GTSM (RFC 5082:
// TTL 255 out, IP_MINTTL / IPV6_MINHOPCOUNT in), the TTL of eBGP (1, or the
// multihop value). Bytes only: framing uses the codec's frame_length, and
// the protocol decodes.
//
// The connections come and go; the protocol polls one epoll descriptor
// (Poller) that stands for all of them, so the daemon's loop needs to know
// only that one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/net.hpp"
#include "slowpath/bgp/message.hpp"

namespace rampart::bgp {

inline constexpr uint16_t kBgpPort = 179;

// What a neighbour's sockets carry.
struct SocketOptions {
    std::string md5_key;                 // empty: no TCP-MD5
    int ttl = 1;                         // of our segments (GTSM: 255)
    std::optional<int> min_ttl;          // GTSM: drop segments arriving with less
};

// An epoll set: readable when any registered socket is ready.
class Poller {
public:
    Poller();
    ~Poller();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;
    int fd() const { return fd_; }
    void watch(int fd, bool write);   // add, or change whether writability matters
    void forget(int fd);
    // The sockets that are ready now (never blocks).
    struct Ready { int fd; bool readable, writable; };
    std::vector<Ready> ready();

private:
    int fd_ = -1;
};

// The listening sockets (IPv4 and IPv6) on port 179.
class Listener {
public:
    explicit Listener(uint16_t port = kBgpPort);
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    std::vector<int> fds() const;
    const std::string& open_problems() const { return problems_; }
    // TCP-MD5 key for segments from `peer` (empty: remove it).
    bool set_md5(const IpAddr& peer, const std::string& key, std::string& why);
    struct Incoming {
        int fd;
        IpAddr remote, local;
    };
    // Every connection waiting on `fd` (non-blocking).
    std::vector<Incoming> accept(int fd);

private:
    struct Sock { int fd; bool v6; };
    std::vector<Sock> socks_;
    std::string problems_;
};

// One BGP TCP connection: non-blocking, buffered both ways.
class Connection {
public:
    // Starts connecting to the peer (from `local` when given). Null with the
    // reason when the socket could not even be set up.
    static std::unique_ptr<Connection> connect(const IpAddr& remote, const std::optional<IpAddr>& local, uint16_t port,
                                               const SocketOptions& options, std::string& why);
    // Takes an accepted socket and applies the neighbour's options.
    static std::unique_ptr<Connection> adopt(int fd, const IpAddr& remote, const SocketOptions& options, std::string& why);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    int fd() const { return fd_; }
    bool connecting() const { return connecting_; }
    // After writability while connecting: empty when connected, else why not.
    std::optional<std::string> finish_connect();
    IpAddr local_address() const;

    // Reads what the kernel has (bounded per call). False when the peer closed
    // or the connection failed (`error()` says why).
    bool read();
    // The next whole message in the input (its bytes are valid until the next
    // call), nothing when more bytes are needed, or the Notification for a bad
    // header.
    std::variant<std::monostate, std::span<const uint8_t>, Notification> next_message(const CodecOptions& options);
    // Queues and writes what the kernel takes. False when the connection failed.
    bool send(std::span<const uint8_t> bytes);
    bool flush();
    bool wants_write() const { return connecting_ || out_.size() > out_sent_; }
    size_t queued() const { return out_.size() - out_sent_; }
    const std::string& error() const { return error_; }

private:
    Connection(int fd, const IpAddr& remote) : fd_(fd), remote_(remote) {}
    int fd_ = -1;
    IpAddr remote_;
    bool connecting_ = false;
    std::vector<uint8_t> in_;
    size_t in_start_ = 0;       // consumed bytes at the front of in_
    std::vector<uint8_t> out_;
    size_t out_sent_ = 0;
    std::string error_;
};

// Applies TCP-MD5 / TTL / GTSM to a socket (exposed for the listener's keys and tests).
bool set_md5_key(int fd, const IpAddr& peer, const std::string& key, std::string& why);

}  // namespace rampart::bgp
