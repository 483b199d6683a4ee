// Per-interface ingress features: what an arriving IP packet goes through
// besides forwarding, one bit each, from one constexpr list (the drop-reason
// idiom). ForwardingTables derives an interface's bits when it publishes it
// (set_iface; VRF-derived bits also when the VRF's tables change), the worker
// copies them into PacketMeta::features at eth_input and tests bits: a
// feature that is off costs one bit test, and nothing is called indirectly.
//
// Adding a feature: a row here, the derivation in ingress_features_of(), and
// the test `meta.features & feature_bit(IngressFeature::x)` at the point of
// the pipeline where it acts (its own stage file).
#pragma once

#include <cstdint>
#include <string_view>

namespace rampart {

#define RAMPART_INGRESS_FEATURES(_)                                                                            \
    _(sav, "source address validation of arriving IPv4/IPv6 (fastpath/sav_ingress.hpp)")                       \
    _(spd, "the VRF has an IPsec SPD: forwarded packets are classified (crypto/spd_output.cpp) and cleartext " \
           "to the box that a protect entry covers is refused (RFC 4301 §5.2)")

enum class IngressFeature : uint8_t {
#define RAMPART_FEATURE_ENUM(name, text) name,
    RAMPART_INGRESS_FEATURES(RAMPART_FEATURE_ENUM)
#undef RAMPART_FEATURE_ENUM
};

inline constexpr unsigned kNumIngressFeatures = 0
#define RAMPART_FEATURE_COUNT(name, text) +1
    RAMPART_INGRESS_FEATURES(RAMPART_FEATURE_COUNT)
#undef RAMPART_FEATURE_COUNT
    ;
static_assert(kNumIngressFeatures <= 8, "PacketMeta::features is one byte");

struct IngressFeatureInfo {
    std::string_view name;
    std::string_view text;
};

inline constexpr IngressFeatureInfo kIngressFeatureInfo[kNumIngressFeatures] = {
#define RAMPART_FEATURE_INFO(name, text) {#name, text},
    RAMPART_INGRESS_FEATURES(RAMPART_FEATURE_INFO)
#undef RAMPART_FEATURE_INFO
};

constexpr uint8_t feature_bit(IngressFeature f) { return uint8_t(1u << unsigned(f)); }

// The features an interface in SAV mode `sav_on`, whose VRF has an SPD or
// not, runs on arriving packets.
constexpr uint8_t ingress_features_of(bool sav_on, bool vrf_has_spd) {
    return uint8_t((sav_on ? feature_bit(IngressFeature::sav) : 0) | (vrf_has_spd ? feature_bit(IngressFeature::spd) : 0));
}

}  // namespace rampart
