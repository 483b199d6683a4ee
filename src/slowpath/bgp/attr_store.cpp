#include "slowpath/bgp/attr_store.hpp"

#include <utility>

namespace rampart::bgp {

size_t decision_path_length(const std::vector<AsPathSegment>& path) {
    size_t n = 0;
    for (const AsPathSegment& s : path) {
        switch (s.kind) {
            case AsPathSegment::Kind::sequence: n += s.asns.size(); break;
            case AsPathSegment::Kind::set: n += s.asns.empty() ? 0 : 1; break;
            case AsPathSegment::Kind::confed_sequence:
            case AsPathSegment::Kind::confed_set: break;
        }
    }
    return n;
}

std::optional<Asn> neighbor_as(const std::vector<AsPathSegment>& path) {
    for (const AsPathSegment& s : path) {
        if (s.kind == AsPathSegment::Kind::confed_sequence || s.kind == AsPathSegment::Kind::confed_set) continue;
        if (s.kind == AsPathSegment::Kind::sequence && !s.asns.empty()) return s.asns.front();
        return std::nullopt;
    }
    return std::nullopt;
}

std::optional<Asn> origin_as(const std::vector<AsPathSegment>& path) {
    if (path.empty() || path.back().kind != AsPathSegment::Kind::sequence || path.back().asns.empty())
        return std::nullopt;
    return path.back().asns.back();
}

bool path_contains(const std::vector<AsPathSegment>& path, Asn asn) {
    for (const AsPathSegment& s : path)
        for (Asn a : s.asns)
            if (a == asn) return true;
    return false;
}

namespace {

uint64_t hash_ip(uint64_t h, const IpAddr& a) {
    uint64_t w[2];
    std::memcpy(w, a.bytes.data(), 16);
    return hash_combine(hash_combine(hash_combine(h, uint64_t(a.family)), w[0]), w[1]);
}

template <typename T>
uint64_t hash_opt(uint64_t h, const std::optional<T>& v) {
    return v ? hash_combine(h, uint64_t(*v) + 1) : hash_combine(h, 0);
}

DecisionFacts facts_of(const PathAttributes& a) {
    DecisionFacts f;
    f.local_pref = a.local_pref.value_or(100);
    f.med = a.med.value_or(0);
    f.neighbor_as = neighbor_as(a.as_path).value_or(0);
    f.has_originator = a.originator_id.has_value();
    f.originator_id = a.originator_id.value_or(0);
    const size_t len = decision_path_length(a.as_path);
    f.path_length = uint16_t(len > 0xffff ? 0xffff : len);
    f.cluster_length = uint16_t(a.cluster_list.size() > 0xffff ? 0xffff : a.cluster_list.size());
    f.origin = uint8_t(a.origin.value_or(Origin::incomplete));
    return f;
}

}  // namespace

uint64_t hash_attributes(const PathAttributes& a) {
    uint64_t h = 0x5bd1e995;
    h = hash_combine(h, a.origin ? uint64_t(*a.origin) + 1 : 0);
    for (const AsPathSegment& s : a.as_path) {
        h = hash_combine(h, uint64_t(s.kind) << 32 | s.asns.size());
        for (Asn x : s.asns) h = hash_combine(h, x);
    }
    h = a.next_hop ? hash_ip(h, *a.next_hop) : hash_combine(h, 1);
    h = a.link_local_next_hop ? hash_ip(h, *a.link_local_next_hop) : hash_combine(h, 2);
    h = hash_opt(h, a.med);
    h = hash_opt(h, a.local_pref);
    h = hash_combine(h, a.atomic_aggregate);
    h = a.aggregator ? hash_combine(hash_combine(h, a.aggregator->asn), a.aggregator->address) : hash_combine(h, 3);
    h = hash_combine(h, a.communities.size());
    for (uint32_t c : a.communities) h = hash_combine(h, c);
    h = hash_combine(h, a.extended_communities.size());
    for (uint64_t c : a.extended_communities) h = hash_combine(h, c);
    h = hash_combine(h, a.large_communities.size());
    for (const LargeCommunity& c : a.large_communities)
        h = hash_combine(hash_combine(hash_combine(h, c.global), c.local1), c.local2);
    h = hash_opt(h, a.originator_id);
    h = hash_combine(h, a.cluster_list.size());
    for (uint32_t c : a.cluster_list) h = hash_combine(h, c);
    h = hash_opt(h, a.otc);
    for (const UnknownAttribute& u : a.unknown) {
        h = hash_combine(h, uint64_t(u.flags) << 8 | u.type);
        for (uint8_t b : u.value) h = hash_combine(h, b);
    }
    return h;
}

AttrStore::AttrStore() { entries_.emplace_back(); }

template <typename A>
AttrRef AttrStore::intern_impl(A&& attributes) {
    const uint64_t h = hash_attributes(attributes);
    const uint32_t found =
        index_.find(h, [&](uint32_t r) { return entries_[r].hash == h && entries_[r].attributes == attributes; });
    if (found != FlatIndex::kNone) {
        ++entries_[found].refs;
        return found;
    }
    AttrRef r;
    if (!free_.empty()) {
        r = free_.back();
        free_.pop_back();
    } else {
        r = AttrRef(entries_.size());
        entries_.emplace_back();
    }
    Entry& e = entries_[r];
    e.attributes = std::forward<A>(attributes);
    e.facts = facts_of(e.attributes);
    e.hash = h;
    e.refs = 1;
    e.tag = kUntagged;
    index_.insert(h, r);
    ++live_;
    return r;
}

AttrRef AttrStore::intern(const PathAttributes& attributes) { return intern_impl(attributes); }
AttrRef AttrStore::intern(PathAttributes&& attributes) { return intern_impl(std::move(attributes)); }

void AttrStore::unref(AttrRef r) {
    Entry& e = entries_[r];
    if (--e.refs != 0) return;
    index_.erase(e.hash, [r](uint32_t v) { return v == r; });
    e.attributes = PathAttributes{};  // gives its vectors back now, not at reuse
    free_.push_back(r);
    --live_;
}

}  // namespace rampart::bgp
