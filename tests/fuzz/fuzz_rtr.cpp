// libFuzzer target for the RTR client: arbitrary bytes as a stream of PDUs
// from a cache. Every PDU that decodes must come back the same through the
// encoder; every error carries a reason; the session state machine fed the
// same bytes (in two pieces, at the fuzzer's chosen split) must stay
// consistent: a closed session sends at most one Error Report and holds no
// half-applied update.
#include <cstdlib>
#include <span>

#include "slowpath/rpki/rtr_codec.hpp"
#include "slowpath/rpki/rtr_session.hpp"

using namespace rampart::rpki::rtr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> in(data, size);
    // The codec alone.
    std::span<const uint8_t> rest = in;
    while (!rest.empty()) {
        Decoded d = decode(rest);
        if (d.status == Decoded::Status::need_more) break;
        if (d.status == Decoded::Status::error) {
            if (d.reason.empty() || d.erroneous.empty()) abort();
            if (d.consumed == 0) break;  // a bad length: the stream cannot go on
            rest = rest.subspan(d.consumed);
            continue;
        }
        if (d.consumed < kHeaderLength || d.consumed > rest.size()) abort();
        const std::vector<uint8_t> again = encode(d.pdu);
        Decoded back = decode(again);
        if (back.status != Decoded::Status::pdu || !(back.pdu == d.pdu) || back.consumed != again.size()) abort();
        rest = rest.subspan(d.consumed);
    }
    // The session: the first octet picks the split point.
    Session s;
    s.connected(std::chrono::milliseconds(0));
    const size_t split = size ? data[0] % (size + 1) : 0;
    for (auto piece : {in.first(split), in.subspan(split)}) {
        Session::Output out = s.received(piece, std::chrono::milliseconds(1));
        // At most one Error Report, and nothing after it.
        size_t reports = 0;
        for (size_t i = 0; i < out.send.size(); ++i) {
            Decoded d = decode(out.send[i]);
            if (d.status != Decoded::Status::pdu) abort();  // we send only what we can read back
            if (std::holds_alternative<ErrorReport>(d.pdu.body) && (++reports > 1 || i + 1 != out.send.size()))
                abort();
        }
        if (reports && !out.close) abort();
        if (out.close) {
            s.disconnected();
            break;
        }
    }
    s.tick(std::chrono::hours(100));  // past any expire interval
    if (s.has_data()) abort();
    return 0;
}
