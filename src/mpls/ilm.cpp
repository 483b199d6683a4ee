#include "mpls/ilm.hpp"

#include <cstdlib>
#include <stdexcept>

namespace rampart {

IlmTable::IlmTable() {
    // Zeroed memory is a map of empty entries (0 = no entry).
    map_ = static_cast<std::atomic<uint64_t>*>(std::calloc(kLabelSpace, sizeof(std::atomic<uint64_t>)));
    if (!map_) throw std::runtime_error("incoming label map: out of memory");
}

IlmTable::~IlmTable() { std::free(map_); }

void IlmTable::set(uint32_t label, uint32_t group, uint32_t counter) {
    // release: a worker that sees the entry sees the group it names.
    map_[label & (kLabelSpace - 1)].store((uint64_t(counter) << 32) | (uint64_t(group) + 1), std::memory_order_release);
}

void IlmTable::clear(uint32_t label) { map_[label & (kLabelSpace - 1)].store(0, std::memory_order_release); }

}  // namespace rampart
