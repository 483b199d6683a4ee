#include "slowpath/rpki/table.hpp"

#include <algorithm>
#include <bit>

namespace rampart::rpki {
namespace {

using Key = unsigned __int128;

Key key_of(const IpAddr& a) {
    Key k = 0;
    const size_t n = a.is_v4() ? 4 : 16;
    for (size_t i = 0; i < 16; ++i) k = k << 8 | (i < n ? a.bytes[i] : 0);
    return k;
}

IpAddr addr_of(Key k, bool v4) {
    IpAddr a;
    a.family = v4 ? Family::v4 : Family::v6;
    for (size_t i = 0; i < 16; ++i) a.bytes[i] = uint8_t(k >> (120 - 8 * i));
    if (v4) std::fill(a.bytes.begin() + 4, a.bytes.end(), 0);
    return a;
}

Key mask(Key k, unsigned len) { return len == 0 ? 0 : k & (~Key(0) << (128 - len)); }
int bit(Key k, unsigned i) { return int(k >> (127 - i)) & 1; }
unsigned common(Key a, Key b) {
    const Key x = a ^ b;
    const uint64_t hi = uint64_t(x >> 64), lo = uint64_t(x);
    if (hi) return unsigned(std::countl_zero(hi));
    if (lo) return 64 + unsigned(std::countl_zero(lo));
    return 128;
}

enum class Hop { no_attestation, provider_plus, not_provider_plus };

}  // namespace

RpkiTable::RpkiTable() : roots_(2 + (size_t(1) << kV4Split), -1) {}

int RpkiTable::root_slot(const Prefix& p, bool create) {
    if (p.addr.is_v4()) return p.len < kV4Split ? 0 : 2 + int(p.addr.bytes[0] << 8 | p.addr.bytes[1]);
    if (p.len < kV6Split) return 1;
    const uint32_t top = uint32_t(p.addr.bytes[0]) << 24 | uint32_t(p.addr.bytes[1]) << 16 |
                         uint32_t(p.addr.bytes[2]) << 8 | p.addr.bytes[3];
    if (auto it = v6_slots_.find(top); it != v6_slots_.end()) return it->second;
    if (!create) return -1;
    roots_.push_back(-1);
    return v6_slots_[top] = int32_t(roots_.size() - 1);
}

int32_t RpkiTable::alloc(Key key, uint8_t len) {
    if (!free_.empty()) {
        const int32_t n = free_.back();
        free_.pop_back();
        nodes_[size_t(n)] = Node{key, len, {-1, -1}, {}};
        return n;
    }
    nodes_.push_back(Node{key, len, {-1, -1}, {}});
    return int32_t(nodes_.size() - 1);
}

void RpkiTable::release(int32_t n) {
    nodes_[size_t(n)] = Node{};
    free_.push_back(n);
}

void RpkiTable::add(const Vrp& v) {
    const Key key = mask(key_of(v.prefix.addr), v.prefix.len);
    const uint8_t len = v.prefix.len;
    Link link{-1, root_slot(v.prefix, true)};
    int32_t n = get(link);
    int32_t target = -1;
    while (n >= 0) {
        const Node& nd = nodes_[size_t(n)];
        const unsigned c = std::min({common(nd.key, key), unsigned(nd.len), unsigned(len)});
        if (c == nd.len) {
            if (nd.len == len) {
                target = n;
                break;
            }
            link = {n, bit(key, nd.len)};
            n = get(link);
            continue;
        }
        // The node is off the new prefix's path below bit c.
        const Key old_key = nd.key;
        if (c == len) {  // the new prefix covers it
            target = alloc(key, len);
            nodes_[size_t(target)].child[bit(old_key, len)] = n;
        } else {  // they part at bit c: a branching node holds both
            const int32_t branch = alloc(mask(key, c), uint8_t(c));
            target = alloc(key, len);
            nodes_[size_t(branch)].child[bit(key, c)] = target;
            nodes_[size_t(branch)].child[bit(old_key, c)] = n;
            set(link, branch);
            break;
        }
        set(link, target);
        break;
    }
    if (target < 0) {
        target = alloc(key, len);
        set(link, target);
    }
    auto& entries = nodes_[size_t(target)].entries;
    for (Entry& e : entries)
        if (e.max_length == v.max_length && e.asn == v.asn) {
            ++e.refs;
            return;
        }
    entries.push_back(Entry{v.max_length, v.asn, 1});
    ++unique_vrps_;
}

void RpkiTable::remove(const Vrp& v) {
    const Key key = mask(key_of(v.prefix.addr), v.prefix.len);
    std::vector<Link> path;  // the links down to the node
    const int slot = root_slot(v.prefix, false);
    if (slot < 0) return;
    Link link{-1, slot};
    int32_t n = get(link);
    while (n >= 0) {
        path.push_back(link);
        const Node& nd = nodes_[size_t(n)];
        if (nd.len > v.prefix.len || common(nd.key, key) < nd.len) return;  // not there
        if (nd.len == v.prefix.len) break;
        link = {n, bit(key, nd.len)};
        n = get(link);
    }
    if (n < 0) return;
    auto& entries = nodes_[size_t(n)].entries;
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const Entry& e) { return e.max_length == v.max_length && e.asn == v.asn; });
    if (it == entries.end()) return;
    if (--it->refs > 0) return;
    entries.erase(it);
    --unique_vrps_;
    // Prune: a node without VRPs is kept only while it branches.
    while (!path.empty()) {
        const Link at = path.back();
        const int32_t cur = get(at);
        Node& nd = nodes_[size_t(cur)];
        if (!nd.entries.empty()) return;
        const int32_t c0 = nd.child[0], c1 = nd.child[1];
        if (c0 >= 0 && c1 >= 0) return;
        set(at, c0 >= 0 ? c0 : c1);
        release(cur);
        if (c0 >= 0 || c1 >= 0) return;  // the parent keeps its number of children
        path.pop_back();
    }
}

template <typename Visit>
void RpkiTable::walk_covering(const Prefix& p, Visit&& visit) const {
    const Key key = mask(key_of(p.addr), p.len);
    auto walk = [&](int32_t n) {
        while (n >= 0) {
            const Node& nd = nodes_[size_t(n)];
            if (nd.len > p.len || common(nd.key, key) < nd.len) return;
            visit(nd);
            if (nd.len == p.len) return;
            n = nd.child[bit(key, nd.len)];
        }
    };
    // The shorter VRPs first, then those of p's slot of the direct index.
    const bool v4 = p.addr.is_v4();
    walk(roots_[v4 ? 0 : 1]);
    if (p.len < (v4 ? kV4Split : kV6Split)) return;
    int slot;
    if (v4) {
        slot = 2 + int(p.addr.bytes[0] << 8 | p.addr.bytes[1]);
    } else {
        const uint32_t top = uint32_t(p.addr.bytes[0]) << 24 | uint32_t(p.addr.bytes[1]) << 16 |
                             uint32_t(p.addr.bytes[2]) << 8 | p.addr.bytes[3];
        auto it = v6_slots_.find(top);
        if (it == v6_slots_.end()) return;
        slot = it->second;
    }
    walk(roots_[size_t(slot)]);
}

bool RpkiTable::replace(Source source, std::vector<Vrp> vrps, AspaMap aspas) {
    for (Vrp& v : vrps) v.prefix = v.prefix.network();
    std::sort(vrps.begin(), vrps.end());
    vrps.erase(std::unique(vrps.begin(), vrps.end()), vrps.end());
    for (auto& [customer, providers] : aspas) {
        std::sort(providers.begin(), providers.end());
        providers.erase(std::unique(providers.begin(), providers.end()), providers.end());
    }
    SourceData& old = sources_[size_t(source)];
    const SourceData& other = sources_[size_t(source) ^ 1];
    bool changed = false;
    // A VRP the other source holds too leaves the union as it was.
    auto moves_union = [&](const Vrp& v) {
        if (!std::binary_search(other.vrps.begin(), other.vrps.end(), v)) changed = true;
    };
    // Merge walk over the two sorted lists: only the difference touches the trie.
    size_t i = 0, j = 0;
    while (i < old.vrps.size() || j < vrps.size()) {
        if (j == vrps.size() || (i < old.vrps.size() && old.vrps[i] < vrps[j])) {
            moves_union(old.vrps[i]);
            remove(old.vrps[i++]);
        } else if (i == old.vrps.size() || vrps[j] < old.vrps[i]) {
            moves_union(vrps[j]);
            add(vrps[j++]);
        } else {
            ++i;
            ++j;
        }
    }
    old.vrps = std::move(vrps);
    if (old.aspas != aspas) {
        old.aspas = std::move(aspas);
        AspaMap merged;
        for (const SourceData& s : sources_)
            for (auto& [customer, providers] : s.aspas) {
                auto& into = merged[customer];
                into.insert(into.end(), providers.begin(), providers.end());
            }
        for (auto& [customer, providers] : merged) {
            std::sort(providers.begin(), providers.end());
            providers.erase(std::unique(providers.begin(), providers.end()), providers.end());
        }
        if (merged != aspas_) {
            aspas_ = std::move(merged);
            changed = true;
        }
    }
    if (changed) ++generation_;
    return changed;
}

OriginValidity RpkiTable::origin_validity(const Prefix& prefix, std::optional<Asn> origin) const {
    bool covered = false, matched = false;
    walk_covering(prefix, [&](const Node& nd) {
        for (const Entry& e : nd.entries) {
            covered = true;
            // AS0 (RFC 7607) authorises nobody.
            if (origin && e.asn != 0 && e.asn == *origin && prefix.len <= e.max_length) matched = true;
        }
    });
    if (matched) return OriginValidity::valid;
    return covered ? OriginValidity::invalid : OriginValidity::not_found;
}

std::vector<Vrp> RpkiTable::covering(const Prefix& prefix) const {
    std::vector<Vrp> out;
    walk_covering(prefix, [&](const Node& nd) {
        const Prefix p{addr_of(nd.key, prefix.addr.is_v4()), nd.len};
        for (const Entry& e : nd.entries) out.push_back(Vrp{p, e.max_length, e.asn});
    });
    std::sort(out.begin(), out.end(), [](const Vrp& a, const Vrp& b) {
        return std::tie(a.prefix.len, a.max_length, a.asn) < std::tie(b.prefix.len, b.max_length, b.asn);
    });
    return out;
}

std::vector<Vrp> RpkiTable::vrps() const {
    std::vector<Vrp> out;
    out.reserve(unique_vrps_);
    std::vector<int32_t> stack;
    for (size_t slot = 0; slot < roots_.size(); ++slot) {
        if (roots_[slot] < 0) continue;
        const bool v4 = slot == 0 || (slot >= 2 && slot < 2 + (size_t(1) << kV4Split));
        stack.push_back(roots_[slot]);
        while (!stack.empty()) {
            const Node& nd = nodes_[size_t(stack.back())];
            stack.pop_back();
            const Prefix p{addr_of(nd.key, v4), nd.len};
            for (const Entry& e : nd.entries) out.push_back(Vrp{p, e.max_length, e.asn});
            if (nd.child[1] >= 0) stack.push_back(nd.child[1]);
            if (nd.child[0] >= 0) stack.push_back(nd.child[0]);
        }
    }
    std::sort(out.begin(), out.end());  // entries of one node in Vrp order too
    return out;
}

std::optional<std::vector<Asn>> aspa_path(const std::vector<bgp::AsPathSegment>& path) {
    std::vector<Asn> seq;
    for (const auto& seg : path) {
        switch (seg.kind) {
            case bgp::AsPathSegment::Kind::set: return std::nullopt;
            case bgp::AsPathSegment::Kind::confed_sequence:
            case bgp::AsPathSegment::Kind::confed_set: break;  // inside our confederation
            case bgp::AsPathSegment::Kind::sequence:
                for (Asn a : seg.asns)
                    if (seq.empty() || seq.back() != a) seq.push_back(a);
                break;
        }
    }
    std::reverse(seq.begin(), seq.end());
    return seq;
}

AspaValidity RpkiTable::aspa_validity(const std::vector<bgp::AsPathSegment>& path, Asn neighbor_as,
                                      bool upstream) const {
    const auto seq = aspa_path(path);
    if (!seq) return AspaValidity::invalid;  // an AS_SET
    const std::vector<Asn>& as = *seq;       // origin first
    const size_t n = as.size();
    // The neighbour must be the last AS added (route servers aside, which do not add theirs).
    if (neighbor_as != 0 && (n == 0 || as.back() != neighbor_as)) return AspaValidity::invalid;
    if (n == 0) return AspaValidity::unknown;
    auto hop = [&](Asn customer, Asn provider) {
        auto it = aspas_.find(customer);
        if (it == aspas_.end()) return Hop::no_attestation;
        return std::binary_search(it->second.begin(), it->second.end(), provider) ? Hop::provider_plus
                                                                                   : Hop::not_provider_plus;
    };
    // Up-ramp from the origin: as[i] -> as[i+1] are customer-to-provider hops.
    size_t max_up = n, min_up = n;
    for (size_t i = 0; i + 1 < n; ++i) {
        const Hop h = hop(as[i], as[i + 1]);
        if (h != Hop::provider_plus && min_up == n) min_up = i + 1;
        if (h == Hop::not_provider_plus) {
            max_up = i + 1;
            break;
        }
    }
    if (upstream) {
        if (max_up < n) return AspaValidity::invalid;
        return min_up < n ? AspaValidity::unknown : AspaValidity::valid;
    }
    if (n <= 2) return AspaValidity::valid;
    // Down-ramp from the neighbour: as[i+1] -> as[i] seen from the provider side.
    size_t max_down = n, min_down = n;
    for (size_t i = n - 1; i-- > 0;) {
        const Hop h = hop(as[i + 1], as[i]);
        if (h != Hop::provider_plus && min_down == n) min_down = n - (i + 1);
        if (h == Hop::not_provider_plus) {
            max_down = n - (i + 1);
            break;
        }
    }
    if (max_up + max_down < n) return AspaValidity::invalid;
    if (min_up + min_down < n) return AspaValidity::unknown;
    return AspaValidity::valid;
}

}  // namespace rampart::rpki
