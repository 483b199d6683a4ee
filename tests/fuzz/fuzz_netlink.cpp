// libFuzzer target for the rtnetlink parser: arbitrary bytes must be either
// decoded or rejected, never read out of bounds.
#include "slowpath/netlink.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

// Decoded fields are summed here so the optimiser keeps the reads.
volatile size_t fuzz_netlink_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto result = rampart::netlink::parse(std::span<const uint8_t>(data, size));
    // The contract the transport relies on: a rejected buffer yields nothing.
    if (!result.ok() && !result.messages.empty()) std::abort();
    size_t sink = 0;
    for (const auto& m : result.messages) {
        if (const auto* n = std::get_if<rampart::netlink::NeighborEvent>(&m.event))
            sink += n->ip.str().size() + (n->mac ? n->mac->str().size() : 0);
        else if (const auto* l = std::get_if<rampart::netlink::LinkEvent>(&m.event))
            sink += l->name.size() + l->kind.size() + l->vlan_id.value_or(0) + size_t(l->link);
        else if (const auto* a = std::get_if<rampart::netlink::AddressEvent>(&m.event))
            sink += a->prefix.str().size();
        else if (const auto* r = std::get_if<rampart::netlink::RouteEvent>(&m.event))
            sink += r->dst.str().size() + (r->gateway ? r->gateway->str().size() : 0);
        else if (const auto* ack = std::get_if<rampart::netlink::Ack>(&m.event))
            sink += ack->message.size();
    }
    fuzz_netlink_sink = sink;
    return 0;
}
