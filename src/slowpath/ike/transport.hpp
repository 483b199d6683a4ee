// IKEv2's UDP transport (RFC 7296 §2, RFC 3948 §2.2): non-blocking kernel
// sockets on ports 500 and 4500, IPv4 and IPv6. rampartd's TAP twins carry
// the box's addresses, so the kernel in rampartd's namespace delivers IKE to
// these sockets. On 4500 an IKE message follows the 4-byte non-ESP marker
// (zero), which is stripped on receipt and added on sending; a one-byte 0xff
// is a NAT-keepalive and ignored, and anything else there is ESP, not ours.
// Received datagrams carry the local address they were sent to
// (IP_PKTINFO / IPV6_RECVPKTINFO); sends go out from the given local address.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "slowpath/ike/sa_state.hpp"

namespace rampart::ike {

struct Datagram {
    Endpoint local, remote;
    Bytes data;  // the IKE message, non-ESP marker removed
};

class UdpTransport {
public:
    /// Opens what it can of {v4, v6} x {500, 4500} (on `port_base`,
    /// `port_base + 1` - 500 + 4500 for tests: natt_port). Throws only if
    /// nothing could be opened.
    explicit UdpTransport(uint16_t ike_port = 500, uint16_t natt_port = 4500);
    ~UdpTransport();
    UdpTransport(const UdpTransport&) = delete;
    UdpTransport& operator=(const UdpTransport&) = delete;

    /// The sockets to poll for reading.
    std::vector<int> fds() const;
    /// Everything waiting on `fd` (non-blocking), at most `max` datagrams.
    std::vector<Datagram> receive(int fd, size_t max = 64);
    /// Sends one IKE message; `local.port` picks the socket (the NAT-T port
    /// adds the non-ESP marker). False (and counted) if the kernel refused.
    bool send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> message);
    /// A NAT-keepalive (RFC 3948 §2.3) from our NAT-T port to the peer's.
    bool send_keepalive(const Endpoint& local, const Endpoint& remote);

    uint16_t ike_port() const { return ike_port_; }
    uint16_t natt_port() const { return natt_port_; }
    struct Counters {
        uint64_t rx = 0, tx = 0, tx_errors = 0, keepalives = 0, keepalives_sent = 0, not_ike = 0, truncated = 0;
    };
    const Counters& counters() const { return counters_; }
    /// Why sockets could not be opened (empty when all were).
    const std::string& open_problems() const { return problems_; }

private:
    bool transmit(const Endpoint& local, const Endpoint& remote, bool marker, std::span<const uint8_t> message);
    struct Sock {
        int fd = -1;
        bool v6 = false;
        uint16_t port = 0;
    };
    std::vector<Sock> socks_;
    uint16_t ike_port_, natt_port_;
    Counters counters_;
    std::string problems_;
};

}  // namespace rampart::ike
