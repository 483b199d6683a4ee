// Helpers the IKE SA's exchanges share (sa_state.cpp, sa_init_auth.cpp,
// sa_create_child.cpp, sa_informational.cpp); not part of the interface.
#pragma once

#include <algorithm>
#include <cstring>

#include "slowpath/ike/sa_state.hpp"

namespace rampart::ike::sa_detail {

inline uint64_t random_u64() {
    uint64_t v = 0;
    while (v == 0) {
        const Bytes b = random_bytes(8);
        for (uint8_t x : b) v = v << 8 | x;
    }
    return v;
}

inline uint32_t random_spi() {
    uint32_t v = 0;
    while (v < 256) {  // SPIs 1..255 are reserved (RFC 4303 §2.1)
        const Bytes b = random_bytes(4);
        v = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
    }
    return v;
}

inline Bytes spi_bytes(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }
inline uint32_t spi_value(const Bytes& b) {
    return b.size() == 4 ? uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3] : 0;
}

inline Bytes spi_bytes64(uint64_t v) {
    Bytes b(8);
    for (int i = 7; i >= 0; --i, v >>= 8) b[i] = uint8_t(v);
    return b;
}
inline uint64_t spi_value64(const Bytes& b) {
    uint64_t v = 0;
    if (b.size() == 8)
        for (uint8_t x : b) v = v << 8 | x;
    return v;
}

// §2.8.1: nonces compare as their bytes, over the shorter length (as charon does).
inline bool nonce_less(const Bytes& a, const Bytes& b) {
    return std::memcmp(a.data(), b.data(), std::min(a.size(), b.size())) < 0;
}
inline const Bytes& lower_nonce(const Bytes& a, const Bytes& b) { return nonce_less(a, b) ? a : b; }

inline bool same_transform(const Transform& a, const Transform& b) {
    return a.type == b.type && a.id == b.id && a.key_length() == b.key_length();
}

inline std::vector<TransformType> types_of(const Proposal& p) {
    std::vector<TransformType> t;
    for (const Transform& x : p.transforms)
        if (std::find(t.begin(), t.end(), x.type) == t.end()) t.push_back(x.type);
    std::sort(t.begin(), t.end());
    return t;
}

inline const Transform* first_of(const Proposal& p, TransformType t) {
    for (const Transform& x : p.transforms)
        if (x.type == t) return &x;
    return nullptr;
}

// The negotiated algorithms of a one-transform-per-type proposal.
struct Algs {
    CipherSuite suite;
    std::optional<PrfAlg> prf;
    uint16_t dh = 0;
    bool esn = false;
};
inline std::optional<Algs> algs_of(const Proposal& p) {
    Algs a;
    const Transform* e = first_of(p, TransformType::encr);
    if (!e) return std::nullopt;
    a.suite.encr = e->id;
    a.suite.key_bits = e->key_length();
    const Transform* i = first_of(p, TransformType::integ);
    a.suite.integ = i ? i->id : integ_id::none;
    if (!a.suite.supported()) return std::nullopt;
    if (const Transform* f = first_of(p, TransformType::prf)) {
        a.prf = prf_from_id(f->id);
        if (!a.prf) return std::nullopt;
    }
    if (const Transform* d = first_of(p, TransformType::dh)) a.dh = d->id;
    if (const Transform* s = first_of(p, TransformType::esn)) a.esn = s->id == esn_id::yes;
    return a;
}

// A Child SA's algorithms and keys (§2.17): KEYMAT's initiator-to-responder
// keys are our outbound ones when we initiated the exchange, else inbound.
inline void set_child_keys(ChildSa& c, const Algs& a, const ChildKeys& k, bool we_initiated) {
    c.suite = a.suite;
    c.esn = a.esn;
    Secret& to_responder_encr = we_initiated ? c.encr_out : c.encr_in;
    Secret& to_responder_integ = we_initiated ? c.integ_out : c.integ_in;
    Secret& to_initiator_encr = we_initiated ? c.encr_in : c.encr_out;
    Secret& to_initiator_integ = we_initiated ? c.integ_in : c.integ_out;
    to_responder_encr = k.encr_i;
    to_responder_integ = k.integ_i;
    to_initiator_encr = k.encr_r;
    to_initiator_integ = k.integ_r;
}

inline std::vector<Proposal> numbered(std::vector<Proposal> ps, ProtocolId proto, const Bytes& spi) {
    for (size_t i = 0; i < ps.size(); ++i) {
        ps[i].number = uint8_t(i + 1);
        ps[i].protocol = proto;
        ps[i].spi = spi;
    }
    return ps;
}

inline const NotifyPayload* find_notify(const std::vector<Payload>& ps, uint16_t type) {
    for (const Payload& p : ps)
        if (auto* n = std::get_if<NotifyPayload>(&p.body); n && n->type == type) return n;
    return nullptr;
}
inline const NotifyPayload* first_error(const std::vector<Payload>& ps) {
    for (const Payload& p : ps)
        if (auto* n = std::get_if<NotifyPayload>(&p.body); n && notify::is_error(n->type)) return n;
    return nullptr;
}
template <class T> inline const T* find_body(const std::vector<Payload>& ps, PayloadType t) {
    for (const Payload& p : ps)
        if (p.type == t) return std::get_if<T>(&p.body);
    return nullptr;
}

inline bool contained(const std::vector<TrafficSelector>& got, const std::vector<TrafficSelector>& offered) {
    if (got.empty()) return false;
    for (const TrafficSelector& g : got) {
        bool inside = false;
        for (const TrafficSelector& o : offered)
            if (auto x = intersect(g, o); x && *x == g) inside = true;
        if (!inside) return false;
    }
    return true;
}

}  // namespace rampart::ike::sa_detail
