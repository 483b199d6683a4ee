// libFuzzer target for the RPKI JSON loader: arbitrary text in an exact-size
// buffer. What parses must come back unchanged through the writer.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "sav/rpki_json.hpp"

using namespace rampart;
using namespace rampart::sav;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::unique_ptr<char[]> exact(new char[size]);
    if (size) std::memcpy(exact.get(), data, size);
    RpkiSet s;
    try {
        s = parse_rpki_json(std::string_view(exact.get(), size), "fuzz.json");
    } catch (const RpkiJsonError& e) {
        if (e.reason().empty()) abort();
        return 0;
    }
    for (const Roa& r : s.roas)
        if (r.max_length < r.prefix.len || r.max_length > r.prefix.addr.bits()) abort();
    const RpkiSet back = parse_rpki_json(write_rpki_json(s), "roundtrip.json");
    if (back.roas != s.roas || back.aspas.size() != s.aspas.size()) abort();
    for (size_t i = 0; i < s.aspas.size(); ++i)
        if (back.aspas[i].customer != s.aspas[i].customer || back.aspas[i].providers != s.aspas[i].providers) abort();
    return 0;
}
