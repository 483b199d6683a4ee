// The RPKI view the control core validates against: validated ROA payloads
// and ASPAs from RTR caches (rtr_*.cpp) and from rpki-client/Routinator JSON
// files. BGP policy matches on its answers (RFC 6811 origin validation, ASPA
// path verification), the SAV compiler reads its ROAs and ASPAs.
//
// Contract between the RTR client side (which fills it) and BGP (which
// reads it): readers compare generation() to learn that something changed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/net.hpp"
#include "slowpath/bgp/message.hpp"

namespace rampart::rpki {

using Asn = uint32_t;

enum class OriginValidity : uint8_t { not_found, valid, invalid };  // RFC 6811 §2
enum class AspaValidity : uint8_t { unknown, valid, invalid };      // draft-ietf-sidrops-aspa-verification

// The words of the command language and of `show` output.
constexpr const char* origin_validity_name(OriginValidity v) {
    switch (v) {
        case OriginValidity::valid: return "valid";
        case OriginValidity::invalid: return "invalid";
        case OriginValidity::not_found: return "not-found";
    }
    return "?";
}

class Validator {
public:
    virtual ~Validator() = default;
    // RFC 6811: `origin` empty (a path ending in an AS_SET) is never valid.
    virtual OriginValidity origin_validity(const Prefix& prefix, std::optional<Asn> origin) const = 0;
    // ASPA verification of a path received from `neighbor_as`; `upstream`:
    // the path came from a customer or lateral peer (else from a provider).
    virtual AspaValidity aspa_validity(const std::vector<bgp::AsPathSegment>& path, Asn neighbor_as,
                                       bool upstream) const = 0;
    // Changes whenever the ROA or ASPA set changes.
    virtual uint64_t generation() const = 0;
};

}  // namespace rampart::rpki
