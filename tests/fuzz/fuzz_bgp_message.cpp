// libFuzzer target for the BGP-4 message codec (framing, OPEN,
// NOTIFICATION, KEEPALIVE, ROUTE-REFRESH, UPDATE with its attributes and
// NLRI). The first octet picks the negotiated options; the rest is a TCP
// byte stream cut into messages by frame_length, each message copied into
// an exact-size heap buffer (ASan sees any overread). Contracts checked:
//  - frame_length: 0 only below a header, else a length within 19..max or
//    a Message Header Error with a reason;
//  - a refused message gets a NOTIFICATION with a code the RFCs give for
//    decoding (header, OPEN, UPDATE, ROUTE-REFRESH) and a reason;
//  - an OPEN re-encodes to a message that decodes to the same OPEN;
//  - an UPDATE (4-octet session, no RFC 7606 action) re-encodes into
//    messages within the maximum length that carry the same NLRI and the
//    same attributes; an End-of-RIB stays one.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tests/fuzz/fuzz_bgp_common.hpp"

using namespace rampart::bgp;

namespace {

void check_refusal(const Notification& n) {
    if (n.reason.empty()) std::abort();
    if (n.code != error::kHeader && n.code != error::kOpen && n.code != error::kUpdate &&
        n.code != error::kRouteRefresh)
        std::abort();
}

const Update& as_update(const std::variant<Message, Notification>& r) {
    if (!std::holds_alternative<Message>(r)) std::abort();
    const Message& m = std::get<Message>(r);
    if (!std::holds_alternative<Update>(m)) std::abort();
    return std::get<Update>(m);
}

void check_update(const Update& u, const CodecOptions& o) {
    if (!o.four_octet_as || u.treat_as_withdraw || !u.discarded.empty()) return;
    const auto out = encode(u, o);
    std::vector<Update::FamilyRoutes> got;
    std::optional<AddressFamily> eor;
    for (const auto& m : out) {
        if (m.size() > o.max_message_length()) std::abort();
        auto r = decode(m, o);
        const Update& d = as_update(r);
        if (d.treat_as_withdraw) std::abort();
        if (d.end_of_rib) eor = d.end_of_rib;
        for (const auto& f : d.families) {
            if (!f.announced.empty() && fuzz::as_passed_on(d.attributes) != fuzz::as_passed_on(u.attributes)) {
                // The next hop may sit in the family instead (two next hops).
                PathAttributes a = d.attributes, b = u.attributes;
                a.next_hop = b.next_hop = std::nullopt;
                a.link_local_next_hop = b.link_local_next_hop = std::nullopt;
                if (fuzz::as_passed_on(a) != fuzz::as_passed_on(b)) std::abort();
            }
            auto it = std::find_if(got.begin(), got.end(), [&](const auto& g) { return g.family == f.family; });
            if (it == got.end()) it = got.insert(got.end(), {f.family, {}, {}});
            it->withdrawn.insert(it->withdrawn.end(), f.withdrawn.begin(), f.withdrawn.end());
            it->announced.insert(it->announced.end(), f.announced.begin(), f.announced.end());
        }
    }
    if (eor != u.end_of_rib) std::abort();
    if (got.size() != u.families.size()) std::abort();
    for (size_t i = 0; i < got.size(); ++i)
        if (got[i].family != u.families[i].family || got[i].withdrawn != u.families[i].withdrawn ||
            got[i].announced != u.families[i].announced)
            std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const CodecOptions o = fuzz::options_from(data[0]);
    std::span<const uint8_t> stream(data + 1, size - 1);
    while (!stream.empty()) {
        auto framed = frame_length(stream, o);
        if (auto* n = std::get_if<Notification>(&framed)) {
            if (n->code != error::kHeader || n->reason.empty()) std::abort();
            return 0;
        }
        const size_t len = std::get<size_t>(framed);
        if (len == 0) {
            if (stream.size() >= kHeaderLength) std::abort();
            return 0;
        }
        if (len < kHeaderLength || len > o.max_message_length()) std::abort();
        // A message cut short: decode it anyway (the length check must catch it).
        const size_t take = std::min(len, stream.size());
        std::unique_ptr<uint8_t[]> exact(new uint8_t[take]);
        std::memcpy(exact.get(), stream.data(), take);
        const std::span<const uint8_t> message(exact.get(), take);
        auto r = decode(message, o);
        if (take < len) {
            if (!std::holds_alternative<Notification>(r)) std::abort();
            return 0;
        }
        if (auto* n = std::get_if<Notification>(&r)) {
            check_refusal(*n);
        } else {
            const Message& m = std::get<Message>(r);
            if (auto* open = std::get_if<Open>(&m)) {
                auto again = decode(encode(*open), o);
                if (!std::holds_alternative<Message>(again) || !(std::get<Open>(std::get<Message>(again)) == *open))
                    std::abort();
            } else if (auto* u = std::get_if<Update>(&m)) {
                check_update(*u, o);
            } else if (auto* nt = std::get_if<Notification>(&m)) {
                (void)describe(*nt);
            }
        }
        stream = stream.subspan(len);
    }
    return 0;
}
