// What the stages know about a packet besides its bytes: where it came in,
// how long its L2 header is, which table it is looked up in and what already
// happened to it. Passed by value: 16 bytes travel in two registers (SysV
// x86-64 ABI), where the positional parameters they replace spilled to the
// stack. Nothing here is written into the mbuf.
#pragma once

#include <cstdint>

namespace rampart {

struct InterfaceState;

// What already happened to a packet (bits of PacketMeta::flags).
enum PacketFlag : uint8_t {
    // Came out of an ESP SA whose policy it matched: the SPD is not consulted
    // again, and SAV counts it as tunnel-validated (sav_ingress.hpp).
    kDecrypted = 1u << 0,
    // Already passed SAV on this ingress (handed to another worker, or a
    // datagram reassembled from fragments that were each checked).
    kSavDone = 1u << 1,
    // The box's own packet from the kernel (exception path): `ifindex`/`in`
    // name the interface it leaves by.
    kLocalOutput = 1u << 2,
    // ESP that arrived in UDP 4500 (RFC 3948).
    kInUdp = 1u << 3,
};

struct PacketMeta {
    const InterfaceState* in;  // the ingress interface (see kLocalOutput); valid until the worker's next quiescent state
    uint16_t ifindex;          // in->ifindex; drops and counters are charged to it
    uint16_t vrf;              // the table the destination is looked up in
    uint8_t l2_len;            // bytes of Ethernet/802.1Q header in front of the L3 header
    uint8_t family;            // 4 or 6 once the IP stage knows; 0 before
    uint8_t flags;             // PacketFlag bits
    uint8_t features;          // IngressFeature bits in force (ingress_features.hpp)

    bool has(PacketFlag f) const { return flags & f; }
    PacketMeta with(PacketFlag f) const {
        PacketMeta m = *this;
        m.flags = uint8_t(m.flags | f);
        return m;
    }
};
static_assert(sizeof(PacketMeta) == 16, "two registers: keep it small");

}  // namespace rampart
