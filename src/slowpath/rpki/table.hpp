// The RPKI view of the control core (rpki::Validator): the union of what
// the RTR caches (rtr_*) and the rpki-client/Routinator JSON file (`sav load
// rpki`) provide. Each source is replaced as a whole; the table applies the
// difference to its tries, so a Serial Notify that changes three VRPs of
// 500,000 costs three trie updates and one O(n) comparison of sorted lists.
//
// Origin validation (RFC 6811) looks up the VRPs covering a prefix in
// path-compressed binary tries: at most one node per VRP prefix and one per
// branching point, a lookup visits only the nodes on the prefix's path. The
// first level is a direct index (IPv4: the first 16 bits, IPv6: the first 32,
// hashed) with one trie per slot, plus one trie per family for the shorter
// VRPs: a lookup walks the few nodes of one small trie instead of the ~20
// branching levels (cache misses) of one trie of half a million prefixes. ASPA verification follows draft-ietf-sidrops-aspa-verification
// (upstream and downstream algorithms, hop check per customer/provider pair).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "slowpath/rpki/rtr_session.hpp"
#include "slowpath/rpki/validator.hpp"

namespace rampart::rpki {

using Vrp = rtr::Vrp;
using AspaMap = std::map<Asn, std::vector<Asn>>;  // customer -> providers (sorted, unique)

enum class Source : uint8_t { json, rtr };
inline constexpr size_t kSources = 2;

class RpkiTable final : public Validator {
public:
    RpkiTable();

    // Replaces what `source` contributes (`vrps` in any order, duplicates
    // allowed). Returns whether the union changed (then generation() moved).
    bool replace(Source source, std::vector<Vrp> vrps, AspaMap aspas);

    OriginValidity origin_validity(const Prefix& prefix, std::optional<Asn> origin) const override;
    AspaValidity aspa_validity(const std::vector<bgp::AsPathSegment>& path, Asn neighbor_as,
                               bool upstream) const override;
    uint64_t generation() const override { return generation_; }

    // The VRPs covering `prefix` (shorter or equal length), shortest first.
    std::vector<Vrp> covering(const Prefix& prefix) const;
    // Every VRP of the union, sorted, each once.
    std::vector<Vrp> vrps() const;
    size_t vrp_count() const { return unique_vrps_; }
    size_t vrp_count(Source s) const { return sources_[size_t(s)].vrps.size(); }
    const AspaMap& aspas() const { return aspas_; }
    size_t aspa_count(Source s) const { return sources_[size_t(s)].aspas.size(); }
    size_t trie_nodes() const { return nodes_.size() - free_.size(); }

private:
    using Key = unsigned __int128;
    struct Entry {
        uint8_t max_length;
        Asn asn;
        uint32_t refs;  // how many sources hold it
    };
    struct Node {
        Key key = 0;  // the prefix, host bits clear
        uint8_t len = 0;
        int32_t child[2] = {-1, -1};
        std::vector<Entry> entries;
    };
    struct Link {  // where a node hangs: a parent's child (parent, side), or a root slot (-1, slot)
        int32_t parent;
        int side;
    };
    static constexpr unsigned kV4Split = 16, kV6Split = 32;  // the direct index's bits
    // The root slot of `p`'s trie (-1: none yet and not `create`).
    int root_slot(const Prefix& p, bool create);
    struct SourceData {
        std::vector<Vrp> vrps;  // sorted, unique
        AspaMap aspas;
    };

    int32_t get(Link l) const { return l.parent < 0 ? roots_[size_t(l.side)] : nodes_[size_t(l.parent)].child[l.side]; }
    void set(Link l, int32_t n) { (l.parent < 0 ? roots_[size_t(l.side)] : nodes_[size_t(l.parent)].child[l.side]) = n; }
    int32_t alloc(Key key, uint8_t len);
    void release(int32_t n);
    void add(const Vrp& v);
    void remove(const Vrp& v);
    template <typename Visit>
    void walk_covering(const Prefix& p, Visit&& visit) const;

    std::vector<Node> nodes_;
    std::vector<int32_t> free_;
    // Root slots: 0 IPv4 shorter than /16, 1 IPv6 shorter than /32, then one
    // per IPv4 /16 (2 + its first 16 bits), then IPv6 /32s as they come.
    std::vector<int32_t> roots_;
    std::unordered_map<uint32_t, int32_t> v6_slots_;  // first 32 bits -> root slot
    std::array<SourceData, kSources> sources_;
    AspaMap aspas_;  // the union
    size_t unique_vrps_ = 0;
    uint64_t generation_ = 0;
};

// Route-leak check helpers, exposed for tests: the path as verification
// sees it (AS_SETs make it nullopt: invalid), origin first, prepends collapsed.
std::optional<std::vector<Asn>> aspa_path(const std::vector<bgp::AsPathSegment>& path);

}  // namespace rampart::rpki
