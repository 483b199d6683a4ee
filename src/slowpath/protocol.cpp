#include "slowpath/protocol.hpp"

#include <algorithm>

namespace rampart {
namespace {

std::vector<const ProtocolInfo*>& registry() {
    static std::vector<const ProtocolInfo*> r;  // a function static: filled during static initialisation
    return r;
}

}  // namespace

void register_protocol(const ProtocolInfo& info) {
    auto& r = registry();
    r.push_back(&info);
    // Static initialisation order across files is unspecified: by name, so runs agree.
    std::stable_sort(r.begin(), r.end(), [](auto* a, auto* b) { return a->name < b->name; });
}

const std::vector<const ProtocolInfo*>& protocols() { return registry(); }

}  // namespace rampart
