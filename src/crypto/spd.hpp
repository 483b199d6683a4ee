// Security Policy Database classification (RFC 4301 §4.4.1): an ordered list
// of policies whose selectors are local/remote prefixes, next protocol and
// port ranges (for ICMP/ICMPv6 the type and code ranges, RFC 4301 §4.4.1.1),
// compiled into DPDK rte_acl tries, one per address family. The first policy
// in list order that matches wins. A compiled classifier is immutable: the
// control core builds a new one and publishes it; workers classify with no
// locks.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"

struct rte_acl_ctx;

namespace rampart {

struct PortRange {
    uint16_t lo = 0, hi = 65535;
    bool any() const { return lo == 0 && hi == 65535; }
    bool contains(uint16_t p) const { return p >= lo && p <= hi; }
    friend auto operator<=>(const PortRange&, const PortRange&) = default;
};

enum class SpdAction : uint8_t { bypass, discard, protect };

struct SpdSelector {
    Prefix local;                     // both prefixes of one family
    Prefix remote;
    std::optional<uint8_t> protocol;  // nullopt: any
    PortRange local_port;             // ICMP: type
    PortRange remote_port;            // ICMP: code
    friend auto operator<=>(const SpdSelector&, const SpdSelector&) = default;
};

// The fields of one packet that selectors look at, in host order.
struct SpdPacket {
    Family family = Family::v4;
    std::array<uint8_t, 16> local{};   // network order, v4 in the first 4 bytes
    std::array<uint8_t, 16> remote{};
    uint8_t protocol = 0;
    uint16_t local_port = 0;   // 0 when the packet carries none (non-initial fragment, other protocols)
    uint16_t remote_port = 0;
};

bool selector_matches(const SpdSelector& s, const SpdPacket& p);
// First match in list order, or -1: the reference the ACL is tested against,
// and the check of a decrypted packet against its SA's policy.
int32_t classify_linear(const std::vector<SpdSelector>& rules, const SpdPacket& p);

// The ACL key of a packet: what rte_acl reads (network order, fixed layout).
struct alignas(4) SpdKey4 {
    uint8_t protocol;
    uint8_t pad[3];
    uint32_t local_be, remote_be;
    uint16_t local_port_be, remote_port_be;
};
struct alignas(4) SpdKey6 {
    uint8_t protocol;
    uint8_t pad[3];
    uint8_t local[16], remote[16];
    uint16_t local_port_be, remote_port_be;
};
SpdKey4 spd_key4(const SpdPacket& p);
SpdKey6 spd_key6(const SpdPacket& p);

class SpdClassifier {
public:
    // Compiles `rules` (any mix of families; each keeps its list position as
    // priority). Throws std::runtime_error naming the rte_acl failure.
    SpdClassifier(const std::vector<SpdSelector>& rules, const std::string& name);
    ~SpdClassifier();
    SpdClassifier(const SpdClassifier&) = delete;
    SpdClassifier& operator=(const SpdClassifier&) = delete;

    // Index of the first matching rule, or -1. `keys` point at SpdKey4/SpdKey6.
    void classify4(const SpdKey4* const* keys, int32_t* out, unsigned n) const noexcept;
    void classify6(const SpdKey6* const* keys, int32_t* out, unsigned n) const noexcept;
    int32_t classify(const SpdPacket& p) const noexcept;
    size_t rule_count() const { return rules_; }

private:
    rte_acl_ctx* ctx4_ = nullptr;
    rte_acl_ctx* ctx6_ = nullptr;
    size_t rules_ = 0;
};

}  // namespace rampart
