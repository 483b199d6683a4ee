// Interned BGP path attribute sets: every distinct PathAttributes is stored
// once, reference-counted, and named by a 32-bit AttrRef. Routes (Adj-RIB-In,
// Loc-RIB, Adj-RIB-Out entries) hold AttrRefs, so a table where many prefixes
// share an attribute set pays for the set once — BIRD's and FRR's "attribute
// cache", the main reason their memory per path is what it is.
//
// Equal sets get equal refs, so the RIB compares attribute sets by comparing
// two integers. Next to each set the store keeps the few values the decision
// process reads (DecisionFacts), precomputed at interning, so the decision
// never walks an AS path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "slowpath/bgp/flat_index.hpp"
#include "slowpath/bgp/message.hpp"

namespace rampart::bgp {

using AttrRef = uint32_t;
inline constexpr AttrRef kNoAttr = 0;  // never a stored set

// Number of ASNs as RFC 4271 §9.1.2.2 (a) counts them: an AS_SET counts 1,
// confederation segments (RFC 5065) nothing.
size_t decision_path_length(const std::vector<AsPathSegment>& path);
// The neighbour AS: the first ASN of a path starting with an AS_SEQUENCE.
std::optional<Asn> neighbor_as(const std::vector<AsPathSegment>& path);
// The origin AS: the last ASN of a path ending in an AS_SEQUENCE (a path
// ending in an AS_SET has none, RFC 6811 §2).
std::optional<Asn> origin_as(const std::vector<AsPathSegment>& path);
bool path_contains(const std::vector<AsPathSegment>& path, Asn asn);

// What the decision process reads of an attribute set.
struct DecisionFacts {
    uint32_t local_pref = 100;  // RFC 4271 §9.1.1: absent (eBGP) → the local default
    uint32_t med = 0;           // absent → 0, the most preferred (RFC 4271 §9.1.2.2 c)
    uint32_t neighbor_as = 0;   // 0: none (empty path: an iBGP-internal route)
    uint32_t originator_id = 0;
    uint16_t path_length = 0;
    uint16_t cluster_length = 0;
    uint8_t origin = 0;
    bool has_originator = false;
};

// A set is stored as a compact canonical encoding (a presence mask, then
// varints and raw addresses: ~40 bytes for a typical set, where the
// PathAttributes struct alone is ~240), so equal sets are equal bytes: the
// index compares with memcmp and hashes the bytes. get() decodes.
class AttrStore {
public:
    AttrStore();
    ~AttrStore();
    AttrStore(const AttrStore&) = delete;
    AttrStore& operator=(const AttrStore&) = delete;
    // The ref of the set equal to `attributes`, stored if new; takes one reference.
    AttrRef intern(const PathAttributes& attributes);
    void ref(AttrRef r) { ++entries_[r].refs; }
    void unref(AttrRef r);
    // The set, decoded. The reference stays valid until the next get() or
    // intern(): copy what must outlive that.
    const PathAttributes& get(AttrRef r) const;
    const DecisionFacts& facts(AttrRef r) const { return entries_[r].facts; }
    uint32_t refs(AttrRef r) const { return entries_[r].refs; }
    // A value of the owner's, kept with the set while it lives (the RIB: its next-hop id).
    uint32_t& tag(AttrRef r) { return entries_[r].tag; }
    uint32_t tag(AttrRef r) const { return entries_[r].tag; }
    // Whether `r` was stored by the last intern() (the owner fills its tag).
    bool fresh(AttrRef r) const { return entries_[r].tag == kUntagged; }
    static constexpr uint32_t kUntagged = 0xffffffffu;
    size_t size() const { return live_; }
    size_t encoded_bytes() const { return encoded_bytes_; }

private:
    struct Entry {
        uint8_t* bytes = nullptr;  // the encoding (malloc'd)
        uint32_t length = 0;
        uint32_t hash = 0;         // low 32 bits of the encoding's hash (the index's)
        uint32_t refs = 0;
        uint32_t tag = kUntagged;
        DecisionFacts facts;
    };

    std::deque<Entry> entries_;  // stable addresses; [0] unused (kNoAttr)
    std::vector<AttrRef> free_;
    FlatIndex index_;
    size_t live_ = 0;
    size_t encoded_bytes_ = 0;
    std::vector<uint8_t> scratch_;          // intern(): the encoding being looked up
    mutable AttrRef decoded_ref_ = kNoAttr;  // get(): the last set decoded
    mutable PathAttributes decoded_;
};

// The canonical encoding AttrStore keeps (exposed for its tests).
void encode_attributes(const PathAttributes& a, std::vector<uint8_t>& out);
PathAttributes decode_attributes(const uint8_t* bytes, size_t length);


}  // namespace rampart::bgp
