// Hands a frame, unchanged, to the kernel through the ingress port's TAP twin.
#pragma once

#include "fastpath/worker.hpp"

namespace rampart {
void punt(Worker& w, uint16_t ifindex, const InterfaceState& in, rte_mbuf* m) noexcept;
}
