// Hands a frame, unchanged, to the kernel through the ingress port's TAP twin
// (the exception path), policed per worker.
#pragma once

#include "fastpath/worker.hpp"

namespace rampart {
void punt(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept;
}
