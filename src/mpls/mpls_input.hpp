// The MPLS stage (mpls_input.cpp): labelled frames (EtherType 0x8847) from
// eth_input, meta.l2_len bytes of L2 in front of the stack.
#pragma once

#include <rte_mbuf.h>

#include "fastpath/packet_meta.hpp"

namespace rampart {

class Worker;

// ILM lookup of the top label, then swap / pop-and-forward (PHP) /
// pop-and-lookup in a VRF / drop; reserved labels by value.
void mpls_input(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept;

}  // namespace rampart
