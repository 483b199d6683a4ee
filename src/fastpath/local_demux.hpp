// Local delivery: what happens to an IP packet addressed to the box. The
// IP stages hand it to the handler registered for its protocol (ESP 50, and
// later GRE 47, IP-in-IP 4, IPv6-in-IP 41), UDP to the one registered for its
// destination port (NAT-T 4500, later L2TP 1701); anything without a handler
// takes the exception path (local_exception: the SPD cleartext check, then
// the kernel through the TAP twin).
//
// A feature registers from its own file, at start-up:
//     RAMPART_LOCAL_PROTOCOL(esp, kIpProtoEsp, esp_local_input);
//     RAMPART_LOCAL_UDP_PORT(nat_traversal, kNatTraversalPort, nat_traversal_input);
// Each Worker copies the registrations into its own flat tables when it is
// constructed (a 256-entry array of function pointers by protocol, a short
// list of UDP ports): one indexed load and a direct-predicted indirect call
// per local packet, no virtual dispatch. Two registrations of one key fail
// the Worker's construction. The stage libraries are linked whole
// (meson link_whole) so a registration in a file nothing else references is
// not dropped by the static linker.
#pragma once

#include <array>
#include <cstdint>

#include <rte_mbuf.h>

#include "fastpath/packet_meta.hpp"

namespace rampart {

class Worker;

// Where the upper-layer header of a local packet is.
struct LocalL4 {
    uint32_t off;     // from the start of the frame
    uint32_t len;     // bytes from `off` to the end of the IP datagram (per the IP length fields)
    uint8_t proto;    // IP protocol / IPv6 upper-layer next header
    bool fragment;    // a fragment (any, first included): the L4 header may be absent
};

using LocalHandler = void (*)(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept;

// One registration (static storage, linked at start-up).
struct LocalDemuxEntry {
    enum class Kind : uint8_t { ip_protocol, udp_port, udp_fragments };
    Kind kind;
    uint16_t key;  // protocol number or UDP port (host order); unused for udp_fragments
    LocalHandler handler;
    const char* name;
    const LocalDemuxEntry* next = nullptr;

    // Links itself into the registrations (static storage only); `chain`:
    // a private list instead (tests).
    LocalDemuxEntry(Kind k, uint16_t key, LocalHandler h, const char* name) noexcept;
    LocalDemuxEntry(Kind k, uint16_t key, LocalHandler h, const char* name, const LocalDemuxEntry* chain) noexcept
        : kind(k), key(key), handler(h), name(name), next(chain) {}
    // Every registration made so far (start-up code only).
    static const LocalDemuxEntry* registered() noexcept;
};

#define RAMPART_LOCAL_PROTOCOL(name, protocol, handler)                                                   \
    static const ::rampart::LocalDemuxEntry rampart_local_protocol_##name{                                \
        ::rampart::LocalDemuxEntry::Kind::ip_protocol, uint16_t(protocol), handler, #name}
#define RAMPART_LOCAL_UDP_PORT(name, port, handler)                                                       \
    static const ::rampart::LocalDemuxEntry rampart_local_udp_port_##name{                                \
        ::rampart::LocalDemuxEntry::Kind::udp_port, uint16_t(port), handler, #name}
// Fragmented UDP to the box: its ports are unknown until it is reassembled.
// At most one handler (it may hand the fragment on to local_exception).
#define RAMPART_LOCAL_UDP_FRAGMENTS(name, handler)                                                        \
    static const ::rampart::LocalDemuxEntry rampart_local_udp_fragments_##name{                           \
        ::rampart::LocalDemuxEntry::Kind::udp_fragments, 0, handler, #name}

// A worker's copy of the registrations.
class LocalDemux {
public:
    static constexpr unsigned kMaxUdpPorts = 8;

    // Fills the tables from the registrations (by default all of them);
    // throws std::runtime_error on a duplicate key or more than kMaxUdpPorts ports.
    void fill(const LocalDemuxEntry* registrations = LocalDemuxEntry::registered());

    LocalHandler protocol(uint8_t proto) const noexcept { return by_protocol_[proto]; }
    LocalHandler udp_port(uint16_t port_be) const noexcept {
        for (unsigned i = 0; i < udp_count_; ++i)
            if (udp_port_be_[i] == port_be) return udp_handler_[i];
        return nullptr;
    }
    LocalHandler udp_fragments() const noexcept { return udp_fragments_; }

private:
    std::array<LocalHandler, 256> by_protocol_{};
    std::array<uint16_t, kMaxUdpPorts> udp_port_be_{};
    std::array<LocalHandler, kMaxUdpPorts> udp_handler_{};
    unsigned udp_count_ = 0;
    LocalHandler udp_fragments_ = nullptr;
};

// The exception path for local packets no handler took (or that a handler
// declined): cleartext that the SPD says must arrive protected is dropped
// (RFC 4301 §5.2), the rest goes to the kernel.
void local_exception(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept;

// Called by ip4_forward/ip6_forward for a packet whose route is local.
void local_deliver(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept;

}  // namespace rampart
