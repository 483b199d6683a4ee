// libFuzzer target for the BGP path attribute decoder alone (the UPDATE's
// attribute block, as the MRT reader also feeds it). The first octet picks
// the negotiated options, the rest is the block, in an exact-size heap
// buffer. Contracts checked:
//  - a reset is an UPDATE Message Error with a reason;
//  - an RFC 7606 action (withdraw, discard) always says why;
//  - what decodes cleanly (4-octet session) and announces something
//    survives encode -> decode with the same attributes and NLRI.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tests/fuzz/fuzz_bgp_common.hpp"

using namespace rampart;
using namespace rampart::bgp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 || size > 60000) return 0;
    const CodecOptions o = fuzz::options_from(data[0]);
    std::unique_ptr<uint8_t[]> exact(new uint8_t[size - 1]);
    if (size > 1) std::memcpy(exact.get(), data + 1, size - 1);
    Update u;
    auto n = decode_attributes(std::span<const uint8_t>(exact.get(), size - 1), o, u);
    if (n) {
        if (n->code != error::kUpdate || n->reason.empty()) std::abort();
        return 0;
    }
    if ((u.treat_as_withdraw || !u.discarded.empty()) && u.error.empty()) std::abort();
    for (const auto& f : u.families)
        for (const auto* list : {&f.withdrawn, &f.announced})
            for (const Nlri& x : *list)
                if (!(x.prefix.network() == x.prefix)) std::abort();
    if (!o.four_octet_as || u.treat_as_withdraw || !u.discarded.empty()) return 0;
    bool announces = false;
    for (const auto& f : u.families) announces |= !f.announced.empty();
    if (!announces) return 0;
    CodecOptions big = o;
    big.extended_message = true;
    const auto out = encode(u, big);
    std::vector<Nlri> before, after;
    for (const auto& f : u.families) before.insert(before.end(), f.announced.begin(), f.announced.end());
    for (const auto& m : out) {
        auto r = decode(m, big);
        if (!std::holds_alternative<Message>(r)) std::abort();
        const Update& d = std::get<Update>(std::get<Message>(r));
        if (!d.discarded.empty()) std::abort();
        for (const auto& f : d.families) {
            if (!f.announced.empty() && fuzz::as_passed_on(d.attributes) != fuzz::as_passed_on(u.attributes))
                std::abort();
            after.insert(after.end(), f.announced.begin(), f.announced.end());
        }
    }
    if (before != after) std::abort();
    return 0;
}
