// libFuzzer target for the MRT reader (RFC 6396): arbitrary bytes in an
// exact-size heap buffer (ASan sees any overread). What parses must be
// self-consistent, and must survive write -> parse unchanged.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "sav/mrt.hpp"

using namespace rampart;
using namespace rampart::sav;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::unique_ptr<uint8_t[]> exact(new uint8_t[size]);
    if (size) std::memcpy(exact.get(), data, size);
    MrtDump d;
    try {
        d = parse_mrt(std::span<const uint8_t>(exact.get(), size), "fuzz.mrt");
    } catch (const MrtError& e) {
        if (e.record() > size / 12 || e.reason().empty()) abort();
        return 0;
    }
    for (const MrtRibRoute& r : d.rib) {
        if (r.peer_index >= d.peers.size()) abort();
        if (!(r.route.prefix.network() == r.route.prefix)) abort();
    }
    // Round trip: one record per route; updates keep their attributes. The
    // writer always uses 4-byte ASNs, so a 2-byte-AS message near the size
    // limits may not fit any more: that is the writer's limit, not a bug.
    MrtWriter w;
    try {
    if (!d.peers.empty()) w.peer_index_table(0, "", d.peers);
    uint32_t seq = 0;
    for (const MrtRibRoute& r : d.rib) w.rib(seq++, r.route.prefix, {r});
    for (const MrtUpdate& u : d.updates) {
        std::vector<Prefix> announced;
        for (const Route& r : u.announced) announced.push_back(r.prefix);
        w.update(u.peer, 65000, u.peer.address, u.withdrawn, announced, u.announced.empty() ? Route{} : u.announced[0],
                 u.timestamp);
    }
    } catch (const std::length_error&) {
        return 0;
    }
    const MrtDump back = parse_mrt(w.bytes(), "roundtrip.mrt");
    if (back.rib.size() != d.rib.size() || back.updates.size() != d.updates.size()) abort();
    for (size_t i = 0; i < d.rib.size(); ++i)
        if (!(back.rib[i].route == d.rib[i].route) || back.rib[i].peer_index != d.rib[i].peer_index) abort();
    for (size_t i = 0; i < d.updates.size(); ++i) {
        if (back.updates[i].withdrawn != d.updates[i].withdrawn) abort();
        if (back.updates[i].announced != d.updates[i].announced) abort();
    }
    return 0;
}
