#include "slowpath/bgp/attr_store.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
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

// ---- the encoding: a 16-bit presence mask, then each present field ----
enum Field : uint16_t {
    kOrigin = 1 << 0, kAsPath = 1 << 1, kNextHop = 1 << 2, kLinkLocal = 1 << 3, kMed = 1 << 4,
    kLocalPref = 1 << 5, kAtomic = 1 << 6, kAggregator = 1 << 7, kCommunities = 1 << 8, kExtended = 1 << 9,
    kLarge = 1 << 10, kOriginator = 1 << 11, kClusterList = 1 << 12, kOtc = 1 << 13, kUnknown = 1 << 14,
};

void put_varint(std::vector<uint8_t>& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(uint8_t(v | 0x80));
        v >>= 7;
    }
    out.push_back(uint8_t(v));
}
template <typename T>
void put_raw(std::vector<uint8_t>& out, const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
}
void put_ip(std::vector<uint8_t>& out, const IpAddr& a) {
    out.push_back(uint8_t(a.family));
    out.insert(out.end(), a.bytes.begin(), a.bytes.begin() + (a.is_v4() ? 4 : 16));
}

// Reads what encode_attributes wrote; the store only decodes its own bytes.
struct Reader {
    const uint8_t* p;
    uint64_t varint() {
        uint64_t v = 0;
        for (unsigned shift = 0;; shift += 7) {
            const uint8_t b = *p++;
            v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
    }
    template <typename T>
    T raw() {
        T v;
        std::memcpy(&v, p, sizeof(T));
        p += sizeof(T);
        return v;
    }
    IpAddr ip() {
        IpAddr a;
        a.family = Family(*p++);
        const size_t n = a.is_v4() ? 4 : 16;
        std::memcpy(a.bytes.data(), p, n);
        p += n;
        return a;
    }
};

uint64_t hash_bytes(const uint8_t* p, size_t n) {
    uint64_t h = 0x5bd1e995u ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        h = hash_combine(h, w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    return hash_combine(h, tail);
}

}  // namespace

void encode_attributes(const PathAttributes& a, std::vector<uint8_t>& out) {
    out.clear();
    uint16_t mask = 0;
    if (a.origin) mask |= kOrigin;
    if (!a.as_path.empty()) mask |= kAsPath;
    if (a.next_hop) mask |= kNextHop;
    if (a.link_local_next_hop) mask |= kLinkLocal;
    if (a.med) mask |= kMed;
    if (a.local_pref) mask |= kLocalPref;
    if (a.atomic_aggregate) mask |= kAtomic;
    if (a.aggregator) mask |= kAggregator;
    if (!a.communities.empty()) mask |= kCommunities;
    if (!a.extended_communities.empty()) mask |= kExtended;
    if (!a.large_communities.empty()) mask |= kLarge;
    if (a.originator_id) mask |= kOriginator;
    if (!a.cluster_list.empty()) mask |= kClusterList;
    if (a.otc) mask |= kOtc;
    if (!a.unknown.empty()) mask |= kUnknown;
    put_raw(out, mask);
    if (a.origin) out.push_back(uint8_t(*a.origin));
    if (mask & kAsPath) {
        put_varint(out, a.as_path.size());
        for (const AsPathSegment& s : a.as_path) {
            out.push_back(uint8_t(s.kind));
            put_varint(out, s.asns.size());
            for (Asn x : s.asns) put_varint(out, x);
        }
    }
    if (a.next_hop) put_ip(out, *a.next_hop);
    if (a.link_local_next_hop) put_ip(out, *a.link_local_next_hop);
    if (a.med) put_varint(out, *a.med);
    if (a.local_pref) put_varint(out, *a.local_pref);
    if (a.aggregator) {
        put_varint(out, a.aggregator->asn);
        put_raw(out, a.aggregator->address);
    }
    if (mask & kCommunities) {
        put_varint(out, a.communities.size());
        for (uint32_t c : a.communities) put_raw(out, c);
    }
    if (mask & kExtended) {
        put_varint(out, a.extended_communities.size());
        for (uint64_t c : a.extended_communities) put_raw(out, c);
    }
    if (mask & kLarge) {
        put_varint(out, a.large_communities.size());
        for (const LargeCommunity& c : a.large_communities) {
            put_raw(out, c.global);
            put_raw(out, c.local1);
            put_raw(out, c.local2);
        }
    }
    if (a.originator_id) put_raw(out, *a.originator_id);
    if (mask & kClusterList) {
        put_varint(out, a.cluster_list.size());
        for (uint32_t c : a.cluster_list) put_raw(out, c);
    }
    if (a.otc) put_varint(out, *a.otc);
    if (mask & kUnknown) {
        put_varint(out, a.unknown.size());
        for (const UnknownAttribute& u : a.unknown) {
            out.push_back(u.flags);
            out.push_back(u.type);
            put_varint(out, u.value.size());
            out.insert(out.end(), u.value.begin(), u.value.end());
        }
    }
}

PathAttributes decode_attributes(const uint8_t* bytes, size_t length) {
    PathAttributes a;
    if (length < 2) return a;
    Reader r{bytes};
    const uint16_t mask = r.raw<uint16_t>();
    if (mask & kOrigin) a.origin = Origin(*r.p++);
    if (mask & kAsPath) {
        a.as_path.resize(r.varint());
        for (AsPathSegment& s : a.as_path) {
            s.kind = AsPathSegment::Kind(*r.p++);
            s.asns.resize(r.varint());
            for (Asn& x : s.asns) x = Asn(r.varint());
        }
    }
    if (mask & kNextHop) a.next_hop = r.ip();
    if (mask & kLinkLocal) a.link_local_next_hop = r.ip();
    if (mask & kMed) a.med = uint32_t(r.varint());
    if (mask & kLocalPref) a.local_pref = uint32_t(r.varint());
    a.atomic_aggregate = mask & kAtomic;
    if (mask & kAggregator) {
        Aggregator g;
        g.asn = Asn(r.varint());
        g.address = r.raw<uint32_t>();
        a.aggregator = g;
    }
    if (mask & kCommunities) {
        a.communities.resize(r.varint());
        for (uint32_t& c : a.communities) c = r.raw<uint32_t>();
    }
    if (mask & kExtended) {
        a.extended_communities.resize(r.varint());
        for (uint64_t& c : a.extended_communities) c = r.raw<uint64_t>();
    }
    if (mask & kLarge) {
        a.large_communities.resize(r.varint());
        for (LargeCommunity& c : a.large_communities) {
            c.global = r.raw<uint32_t>();
            c.local1 = r.raw<uint32_t>();
            c.local2 = r.raw<uint32_t>();
        }
    }
    if (mask & kOriginator) a.originator_id = r.raw<uint32_t>();
    if (mask & kClusterList) {
        a.cluster_list.resize(r.varint());
        for (uint32_t& c : a.cluster_list) c = r.raw<uint32_t>();
    }
    if (mask & kOtc) a.otc = Asn(r.varint());
    if (mask & kUnknown) {
        a.unknown.resize(r.varint());
        for (UnknownAttribute& u : a.unknown) {
            u.flags = *r.p++;
            u.type = *r.p++;
            const size_t length = r.varint();
            u.value.assign(r.p, r.p + length);  // (memcpy into an empty vector's null data() is UB)
            r.p += length;
        }
    }
    return a;
}

AttrStore::AttrStore() { entries_.emplace_back(); }

AttrStore::~AttrStore() {
    for (Entry& e : entries_) std::free(e.bytes);
}

AttrRef AttrStore::intern(const PathAttributes& attributes) {
    encode_attributes(attributes, scratch_);
    const uint64_t h = hash_bytes(scratch_.data(), scratch_.size());
    const uint32_t found = index_.find(h, [&](uint32_t r) {
        const Entry& e = entries_[r];
        return e.length == scratch_.size() && std::memcmp(e.bytes, scratch_.data(), e.length) == 0;
    });
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
    e.bytes = static_cast<uint8_t*>(std::malloc(scratch_.size()));
    if (!e.bytes) throw std::bad_alloc();
    std::memcpy(e.bytes, scratch_.data(), scratch_.size());
    e.length = uint32_t(scratch_.size());
    e.hash = uint32_t(h);
    e.refs = 1;
    e.tag = kUntagged;
    e.facts = facts_of(attributes);
    index_.insert(h, r);
    ++live_;
    encoded_bytes_ += e.length;
    return r;
}

const PathAttributes& AttrStore::get(AttrRef r) const {
    if (r != decoded_ref_) {
        decoded_ = decode_attributes(entries_[r].bytes, entries_[r].length);
        decoded_ref_ = r;
    }
    return decoded_;
}

void AttrStore::unref(AttrRef r) {
    Entry& e = entries_[r];
    if (--e.refs != 0) return;
    index_.erase(e.hash, [r](uint32_t v) { return v == r; });
    encoded_bytes_ -= e.length;
    std::free(e.bytes);
    e.bytes = nullptr;
    e.length = 0;
    if (decoded_ref_ == r) decoded_ref_ = kNoAttr;  // the ref may name another set next
    free_.push_back(r);
    --live_;
}

}  // namespace rampart::bgp
