// The RIBs: one table of destinations (prefixes), each holding every path
// any peer sent for it (the Adj-RIBs-In, as received, with the result of
// import processing next to it), the Loc-RIB outcome, and what was sent to
// each peer (the Adj-RIBs-Out). One table instead of one per peer and kind:
// a path costs one 16-byte Candidate, a prefix one Dest, the attributes are
// interned (attr_store.hpp), and a best-path change is found where the paths
// are.
//
// Input marks destinations dirty; settle() runs the decision process once per
// dirty destination however many updates touched it, and turns the outcome
// into FIB changes and per-peer Adj-RIB-Out changes. Every take_*() settles
// first, so the protocol sees one consistent batch.
#include "slowpath/bgp/rib.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <utility>

#include "slowpath/bgp/attr_store.hpp"
#include "slowpath/bgp/flat_index.hpp"
#include "slowpath/bgp/policy.hpp"

namespace rampart::bgp {

namespace {

constexpr uint32_t kLocalSlot = 0;  // locally originated routes (`bgp network`)
constexpr uint32_t kNoNextHop = 0xfffffffeu;
constexpr uint32_t kNoDest = FlatIndex::kNone;
constexpr uint32_t kCommunityNoExport = 0xFFFFFF01, kCommunityNoAdvertise = 0xFFFFFF02,
                   kCommunityNoExportSubconfed = 0xFFFFFF03;  // RFC 1997

uint64_t hash_prefix(const Prefix& p) {
    uint64_t w[2];
    std::memcpy(w, p.addr.bytes.data(), 16);
    return hash_combine(hash_combine(mix64(w[0] ^ (uint64_t(p.len) << 56) ^ uint64_t(p.addr.family)), w[1]), p.len);
}

unsigned family_index(const Prefix& p) { return p.addr.is_v4() ? 0 : 1; }
unsigned family_index(AddressFamily f) { return f.afi == Afi::ipv4 ? 0 : 1; }
AddressFamily family_of(const Prefix& p) { return p.addr.is_v4() ? kIpv4Unicast : kIpv6Unicast; }

// Vectors of a destination grow by one while small: most destinations have
// one to a few paths, and doubling would leave a third of the memory unused.
template <typename T>
void grow_for_one(std::vector<T>& v) {
    if (v.size() < v.capacity()) return;
    const size_t n = v.size();
    v.reserve(n < 4 ? n + 1 : n + n / 2);
}

struct Candidate {
    uint32_t slot_flags = 0;  // peer slot << 8 | flags
    uint32_t path_id = 0;
    AttrRef in = kNoAttr;   // as received (the Adj-RIB-In, before policy)
    AttrRef out = kNoAttr;  // after import processing and policy; kNoAttr: refused
    static constexpr uint32_t kStale = 1;  // graceful restart (RFC 4724): kept from the previous session
    uint32_t slot() const { return slot_flags >> 8; }
    bool stale() const { return slot_flags & kStale; }
};
static_assert(sizeof(Candidate) == 16);

struct Advertised {
    uint32_t slot;
    AttrRef attrs;
};

struct Dest {
    Prefix key;
    bool dirty = false;
    bool in_loc_rib = false;
    uint16_t best = 0;       // index into cands of the best path (valid when in_loc_rib, after settle)
    uint16_t multipath = 0;  // the ECMP members are cands[members] ... (see Impl::members_)
    uint16_t queued = 0;     // entries in peers' out queues naming this destination
    uint32_t fib_set = 0;    // the next-hop set last sent to the FIB (0: none)
    std::vector<Candidate> cands;
    std::vector<Advertised> adv;  // the Adj-RIBs-Out: what each peer was last sent
    bool unused() const { return cands.empty() && adv.empty() && queued == 0 && fib_set == 0 && !dirty; }
};

// Sets of FIB next hops, interned like attributes: a destination keeps the
// 4-byte id of what it last sent to the FIB, to send only changes.
class NextHopSets {
public:
    NextHopSets() { sets_.emplace_back(); }
    uint32_t intern(const std::vector<IpAddr>& hops) {
        if (hops.empty()) return 0;
        const uint64_t h = hash(hops);
        uint32_t id = index_.find(h, [&](uint32_t v) { return sets_[v].hops == hops; });
        if (id != FlatIndex::kNone) {
            ++sets_[id].refs;
            return id;
        }
        if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
        } else {
            id = uint32_t(sets_.size());
            sets_.emplace_back();
        }
        sets_[id] = Entry{hops, 1, h};
        index_.insert(h, id);
        return id;
    }
    void unref(uint32_t id) {
        if (id == 0 || --sets_[id].refs != 0) return;
        index_.erase(sets_[id].hash, [id](uint32_t v) { return v == id; });
        sets_[id].hops.clear();
        free_.push_back(id);
    }
    const std::vector<IpAddr>& hops(uint32_t id) const { return sets_[id].hops; }

private:
    static uint64_t hash(const std::vector<IpAddr>& hops) {
        uint64_t h = hops.size();
        for (const IpAddr& a : hops) {
            uint64_t w[2];
            std::memcpy(w, a.bytes.data(), 16);
            h = hash_combine(hash_combine(h, w[0]), w[1]);
        }
        return h;
    }
    struct Entry {
        std::vector<IpAddr> hops;
        uint32_t refs = 0;
        uint64_t hash = 0;
    };
    std::deque<Entry> sets_;
    std::vector<uint32_t> free_;
    FlatIndex index_;
};

bool has_community(const PathAttributes& a, uint32_t c) {
    return std::find(a.communities.begin(), a.communities.end(), c) != a.communities.end();
}

// Puts `asn` in front of the path (RFC 4271 §5.1.2): into the leading
// AS_SEQUENCE while it has room, else a new one.
void prepend(std::vector<AsPathSegment>& path, Asn asn, unsigned count = 1) {
    for (unsigned i = 0; i < count; ++i) {
        if (path.empty() || path.front().kind != AsPathSegment::Kind::sequence || path.front().asns.size() >= 255)
            path.insert(path.begin(), AsPathSegment{AsPathSegment::Kind::sequence, {}});
        path.front().asns.insert(path.front().asns.begin(), asn);
    }
}

}  // namespace

struct Rib::Impl {
    struct PeerState {
        bool present = false;  // configured here: up, or down with stale routes kept
        bool up = false;
        PeerInfo info;
        const Policy* import_policy = nullptr;
        const Policy* export_policy = nullptr;
        bool import_all = false, export_all = false;   // iBGP without a policy
        bool import_none = false, export_none = false; // eBGP without one (RFC 8212) or an unknown name
        size_t received[2] = {0, 0};  // Adj-RIB-In paths per family (IPv4, IPv6)
        size_t accepted[2] = {0, 0};
        std::vector<uint32_t> out_queue;  // destinations whose Adj-RIB-Out entry changed
    };
    struct NextHop {
        IpAddr address;
        std::optional<Resolution> resolution;
    };

    Asn local_as;
    uint32_t router_id;
    uint32_t cluster_id;
    bool always_compare_med = false;
    unsigned max_paths = 1;
    const Policies* policies = nullptr;
    std::function<std::optional<Resolution>(const IpAddr&)> resolver;

    AttrStore attrs;
    std::deque<Dest> dests;
    std::vector<uint32_t> free_dests;
    FlatIndex dest_index;
    std::vector<uint32_t> dirty;
    size_t loc_rib_count[2] = {0, 0};

    std::vector<PeerState> peers{1};  // [kLocalSlot]
    std::unordered_map<PeerId, uint32_t> slot_of;

    std::deque<NextHop> next_hops;  // stable: resolution() hands out pointers into it
    std::unordered_map<IpAddr, uint32_t, decltype([](const IpAddr& a) {
                           uint64_t w[2];
                           std::memcpy(w, a.bytes.data(), 16);
                           return size_t(hash_combine(w[0], w[1]));
                       })>
        next_hop_ids;
    NextHopSets nh_sets;

    std::vector<FibChange> fib_changes;
    std::vector<SavChange> sav_changes;

    // Scratch of the decision process (no allocation per destination).
    std::vector<uint32_t> ranked, members;
    PathAttributes scratch;

    Impl(Asn as, uint32_t id) : local_as(as), router_id(id), cluster_id(id) {
        peers[kLocalSlot].present = peers[kLocalSlot].up = true;
        peers[kLocalSlot].import_all = true;
        peers[kLocalSlot].info.local_as = peers[kLocalSlot].info.peer_as = as;
        peers[kLocalSlot].info.peer_bgp_id = id;
    }

    // ---- destinations ----
    uint32_t find_dest(const Prefix& p) const {
        return dest_index.find(hash_prefix(p), [&](uint32_t d) { return dests[d].key == p; });
    }
    uint32_t find_or_add_dest(const Prefix& p) {
        const uint64_t h = hash_prefix(p);
        uint32_t d = dest_index.find(h, [&](uint32_t i) { return dests[i].key == p; });
        if (d != FlatIndex::kNone) return d;
        if (!free_dests.empty()) {
            d = free_dests.back();
            free_dests.pop_back();
        } else {
            d = uint32_t(dests.size());
            dests.emplace_back();
        }
        dests[d].key = p;
        dest_index.insert(h, d);
        return d;
    }
    void maybe_free(uint32_t d) {
        Dest& dest = dests[d];
        if (!dest.unused()) return;
        dest_index.erase(hash_prefix(dest.key), [d](uint32_t v) { return v == d; });
        dest = Dest{};
        free_dests.push_back(d);
    }
    void mark_dirty(uint32_t d) {
        if (dests[d].dirty) return;
        dests[d].dirty = true;
        dirty.push_back(d);
    }

    // ---- next hops ----
    uint32_t next_hop_id(AttrRef r) {
        if (!attrs.fresh(r)) return attrs.tag(r);
        const PathAttributes& a = attrs.get(r);
        uint32_t id = kNoNextHop;
        if (a.next_hop) {
            auto [it, added] = next_hop_ids.try_emplace(*a.next_hop, uint32_t(next_hops.size()));
            if (added) next_hops.push_back(NextHop{*a.next_hop, resolve(*a.next_hop)});
            id = it->second;
        }
        attrs.tag(r) = id;
        return id;
    }
    std::optional<Resolution> resolve(const IpAddr& a) const {
        if (!resolver) return Resolution{{a}, 0};  // no resolver: every next hop is reachable as itself
        return resolver(a);
    }
    // Reachable, with its IGP cost and FIB next hops; a route without a next
    // hop (locally originated) is reachable at cost 0 and needs no FIB entry.
    const Resolution* resolution(AttrRef r) {
        static const Resolution kLocal{};
        const uint32_t id = next_hop_id(r);
        if (id == kNoNextHop) return &kLocal;
        const auto& res = next_hops[id].resolution;
        return res ? &*res : nullptr;
    }

    // ---- peers ----
    PeerState* peer(PeerId id) {
        auto it = slot_of.find(id);
        return it == slot_of.end() ? nullptr : &peers[it->second];
    }
    uint32_t slot(PeerId id) const {
        auto it = slot_of.find(id);
        return it == slot_of.end() ? 0 : it->second;
    }
    void resolve_policies(PeerState& p) {
        auto pick = [&](const std::string& name, const Policy*& policy, bool& all, bool& none) {
            policy = nullptr;
            all = none = false;
            if (name.empty()) {
                (p.info.ibgp() ? all : none) = true;  // RFC 8212 for eBGP
                return;
            }
            policy = policies ? policies->find(name) : nullptr;
            if (!policy) none = true;  // a policy that is not configured refuses everything
        };
        pick(p.info.import_policy, p.import_policy, p.import_all, p.import_none);
        pick(p.info.export_policy, p.export_policy, p.export_all, p.export_none);
    }
    PolicyContext context(const PeerState& p, bool import) const {
        return PolicyContext{p.info.peer_as, local_as, p.info.local_role, p.info.local_address, import};
    }

    // ---- import ----
    // What the peer sent, after the checks and changes that do not depend on
    // the prefix (loops, RFC 9234 OTC, attributes an eBGP peer may not set);
    // kNoAttr when the route is ineligible. Takes a reference.
    AttrRef import_base(const PeerState& p, uint32_t s, AttrRef in) {
        if (s == kLocalSlot) {
            attrs.ref(in);
            return in;
        }
        const PathAttributes& a = attrs.get(in);
        // RFC 4271 §9.1.2: a path with our AS in it is a loop.
        if (path_contains(a.as_path, local_as)) return kNoAttr;
        // RFC 4456 §8: our own route reflected back, or through our cluster.
        if (a.originator_id && *a.originator_id == router_id) return kNoAttr;
        if (std::find(a.cluster_list.begin(), a.cluster_list.end(), cluster_id) != a.cluster_list.end())
            return kNoAttr;
        if (p.info.ibgp()) {
            attrs.ref(in);
            return in;
        }
        // RFC 4271 §6.3: an eBGP route starts with the peer's AS (a route server does not prepend its own).
        const bool route_server = p.info.local_role == Role::rs_client;
        if (!route_server && neighbor_as(a.as_path) != p.info.peer_as) return kNoAttr;
        // RFC 9234 §5 ingress.
        std::optional<Asn> add_otc;
        if (auto role = p.info.local_role) {
            const bool from_customer = *role == Role::provider || *role == Role::rs;
            if (a.otc && from_customer) return kNoAttr;
            if (a.otc && *role == Role::peer && *a.otc != p.info.peer_as) return kNoAttr;
            if (!a.otc && (*role == Role::customer || *role == Role::peer || *role == Role::rs_client))
                add_otc = p.info.peer_as;
        }
        // LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST have no meaning across
        // an AS boundary (RFC 4271 §5.1.5, RFC 4456): ignored.
        if (!add_otc && !a.local_pref && !a.originator_id && a.cluster_list.empty()) {
            attrs.ref(in);
            return in;
        }
        PathAttributes b = a;
        b.local_pref.reset();
        b.originator_id.reset();
        b.cluster_list.clear();
        if (add_otc) b.otc = add_otc;
        return attrs.intern(std::move(b));
    }
    // Import policy over `base` for `prefix`; kNoAttr when refused. Takes a reference.
    AttrRef import_policy(const PeerState& p, const Prefix& prefix, AttrRef base) {
        if (base == kNoAttr || p.import_none) return kNoAttr;
        if (p.import_all) {
            attrs.ref(base);
            return base;
        }
        switch (p.import_policy->run(prefix, attrs.get(base), context(p, true), scratch)) {
            case Policy::Result::reject: return kNoAttr;
            case Policy::Result::accept: attrs.ref(base); return base;
            case Policy::Result::accept_modified: return attrs.intern(std::move(scratch));
        }
        return kNoAttr;
    }

    void count(PeerState& p, const Prefix& prefix, const Candidate& c, int delta) {
        const unsigned f = family_index(prefix);
        p.received[f] += delta;
        if (c.out != kNoAttr) p.accepted[f] += delta;
    }
    void release(Candidate& c) {
        attrs.unref(c.in);
        if (c.out != kNoAttr) attrs.unref(c.out);
    }
    void sav_announce(const PeerState& p, const Prefix& prefix, AttrRef in) {
        if (!p.info.sav_interface) return;
        const PathAttributes& a = attrs.get(in);
        sav_changes.push_back(SavChange{*p.info.sav_interface, prefix, false, a.as_path, a.communities});
    }
    void sav_withdraw(const PeerState& p, const Dest& d, uint32_t s) {
        if (!p.info.sav_interface) return;
        // ADD-PATH: the interface still has a route while any path of the peer remains.
        for (const Candidate& c : d.cands)
            if (c.slot() == s) return;
        sav_changes.push_back(SavChange{*p.info.sav_interface, d.key, true, {}, {}});
    }

    // Adds or replaces the path (s, path_id) of `prefix`.
    void add_path(uint32_t s, const Prefix& prefix, uint32_t path_id, AttrRef in, AttrRef base) {
        PeerState& p = peers[s];
        const uint32_t d = find_or_add_dest(prefix);
        Dest& dest = dests[d];
        const AttrRef out = import_policy(p, prefix, base);
        attrs.ref(in);
        Candidate* c = nullptr;
        for (Candidate& x : dest.cands)
            if (x.slot() == s && x.path_id == path_id) c = &x;
        if (c) {  // implicit withdraw (RFC 4271 §3.1)
            count(p, prefix, *c, -1);
            release(*c);
        } else {
            grow_for_one(dest.cands);
            c = &dest.cands.emplace_back();
        }
        *c = Candidate{s << 8, path_id, in, out};
        count(p, prefix, *c, +1);
        sav_announce(p, prefix, in);
        mark_dirty(d);
    }
    bool remove_path(uint32_t s, const Prefix& prefix, uint32_t path_id) {
        const uint32_t d = find_dest(prefix);
        if (d == kNoDest) return false;
        Dest& dest = dests[d];
        for (size_t i = 0; i < dest.cands.size(); ++i) {
            Candidate& c = dest.cands[i];
            if (c.slot() != s || c.path_id != path_id) continue;
            count(peers[s], prefix, c, -1);
            release(c);
            dest.cands.erase(dest.cands.begin() + ptrdiff_t(i));
            sav_withdraw(peers[s], dest, s);
            mark_dirty(d);
            return true;
        }
        return false;
    }
    // Removes the paths of slot `s` that `drop` selects, over the whole table.
    template <typename Pred>
    void remove_paths_if(uint32_t s, Pred&& drop) {
        for (uint32_t d = 0; d < dests.size(); ++d) {
            Dest& dest = dests[d];
            bool removed = false;
            for (size_t i = 0; i < dest.cands.size();) {
                Candidate& c = dest.cands[i];
                if (c.slot() == s && drop(dest, c)) {
                    count(peers[s], dest.key, c, -1);
                    release(c);
                    dest.cands.erase(dest.cands.begin() + ptrdiff_t(i));
                    removed = true;
                } else {
                    ++i;
                }
            }
            if (removed) {
                sav_withdraw(peers[s], dest, s);
                mark_dirty(d);
            }
        }
    }
    // Runs import processing again over the Adj-RIB-In of slot `s`.
    void reimport(uint32_t s) {
        PeerState& p = peers[s];
        std::unordered_map<AttrRef, AttrRef> base_of;  // per distinct received set: the prefix-independent part once
        for (uint32_t d = 0; d < dests.size(); ++d) {
            Dest& dest = dests[d];
            for (Candidate& c : dest.cands) {
                if (c.slot() != s) continue;
                auto [it, added] = base_of.try_emplace(c.in, kNoAttr);
                if (added) it->second = import_base(p, s, c.in);
                const AttrRef out = import_policy(p, dest.key, it->second);
                if (out == c.out) {
                    if (out != kNoAttr) attrs.unref(out);
                    continue;
                }
                count(p, dest.key, c, -1);
                if (c.out != kNoAttr) attrs.unref(c.out);
                c.out = out;
                count(p, dest.key, c, +1);
                mark_dirty(d);
            }
        }
        for (auto& [in, base] : base_of)
            if (base != kNoAttr) attrs.unref(base);
    }

    // ---- the decision process (RFC 4271 §9.1.2, RFC 4456 §9) ----
    struct Facts {
        const DecisionFacts* f;
        const PeerState* peer;
        uint32_t igp_cost;
        uint32_t path_id;
        bool ebgp;
        bool local;
        uint32_t bgp_id() const { return f->has_originator ? f->originator_id : peer->info.peer_bgp_id; }
    };
    std::vector<Facts> facts_scratch;
    std::vector<uint32_t> cand_of;  // facts_scratch index -> cands index

    Facts facts_of(const Candidate& c, const Resolution* res) {
        const PeerState& p = peers[c.slot()];
        return Facts{&attrs.facts(c.out), &p, res->igp_cost, c.path_id, c.slot() != kLocalSlot && !p.info.ibgp(),
                     c.slot() == kLocalSlot};
    }

    // Keeps in `ranked` (indices into facts_scratch) the ones `better` does not beat.
    // The step that ruled each path out, for show (null while decide()
    // runs for the tables: no strings on that path).
    std::vector<const char*>* why = nullptr;
    void note(uint32_t i, const char* step) {
        if (why) (*why)[cand_of[i]] = step;
    }
    template <typename Key>
    void keep_min(Key&& key, const char* step) {
        if (ranked.size() < 2) return;
        auto best = key(facts_scratch[ranked[0]]);
        for (uint32_t i : ranked) best = std::min(best, key(facts_scratch[i]));
        std::erase_if(ranked, [&](uint32_t i) {
            if (key(facts_scratch[i]) == best) return false;
            note(i, step);
            return true;
        });
    }

    // Fills `members` with the indices into dest.cands of the multipath set,
    // best first; empty when no path is eligible.
    void decide(const Dest& dest) {
        members.clear();
        ranked.clear();
        facts_scratch.clear();
        cand_of.clear();
        for (uint32_t i = 0; i < dest.cands.size(); ++i) {
            const Candidate& c = dest.cands[i];
            if (c.out == kNoAttr) continue;
            const Resolution* res = resolution(c.out);
            if (!res) continue;  // next hop unreachable: not eligible (RFC 4271 §9.1.2)
            ranked.push_back(uint32_t(facts_scratch.size()));
            facts_scratch.push_back(facts_of(c, res));
            cand_of.push_back(i);
        }
        if (ranked.empty()) return;
        if (ranked.size() > 1) {
            keep_min([](const Facts& x) { return ~x.f->local_pref; }, "lower LOCAL_PREF");
            keep_min([](const Facts& x) { return x.local ? 0 : 1; }, "a locally originated path exists");
            keep_min([](const Facts& x) { return x.f->path_length; }, "longer AS path");
            keep_min([](const Facts& x) { return x.f->origin; }, "worse ORIGIN");  // IGP < EGP < INCOMPLETE
            // MED: compared only between paths from the same neighbour AS
            // unless always-compare; a path loses if one from its AS has a lower MED.
            if (ranked.size() > 1) {
                std::erase_if(ranked, [&](uint32_t i) {
                    const Facts& x = facts_scratch[i];
                    for (uint32_t j : ranked) {
                        const Facts& y = facts_scratch[j];
                        if ((always_compare_med || y.f->neighbor_as == x.f->neighbor_as) && y.f->med < x.f->med) {
                            note(i, "higher MED");
                            return true;
                        }
                    }
                    return false;
                });
            }
            keep_min([](const Facts& x) { return x.ebgp ? 0 : 1; }, "iBGP, an eBGP path exists");
            keep_min([](const Facts& x) { return x.igp_cost; }, "higher IGP cost to its next hop");
        }
        // What remains is equally good for forwarding: the multipath set.
        // The rest of the tie-breakers only order it (the first is the best).
        auto tie = [&](uint32_t a, uint32_t b) {
            const Facts& x = facts_scratch[a];
            const Facts& y = facts_scratch[b];
            if (x.bgp_id() != y.bgp_id()) return x.bgp_id() < y.bgp_id();                        // router / originator id
            if (x.f->cluster_length != y.f->cluster_length) return x.f->cluster_length < y.f->cluster_length;
            if (x.peer->info.address != y.peer->info.address) return x.peer->info.address < y.peer->info.address;
            return x.path_id < y.path_id;
        };
        std::sort(ranked.begin(), ranked.end(), tie);
        const size_t n = std::min<size_t>(ranked.size(), std::max(1u, max_paths));
        for (size_t i = 0; i < n; ++i) members.push_back(cand_of[ranked[i]]);
        if (why) {
            const Facts& b = facts_scratch[ranked[0]];
            for (size_t k = 1; k < ranked.size(); ++k) {
                const Facts& x = facts_scratch[ranked[k]];
                note(ranked[k], x.bgp_id() != b.bgp_id()                        ? "higher router id"
                                : x.f->cluster_length != b.f->cluster_length    ? "longer CLUSTER_LIST"
                                : x.peer->info.address != b.peer->info.address ? "higher peer address"
                                                                                : "higher path id");
            }
        }
    }

    // ---- export ----
    // What `to` is sent for the best path `c` of `dest` (a new reference), or
    // kNoAttr when nothing: iBGP and route reflection rules (RFC 4271 §9.2,
    // RFC 4456 §6), well-known communities (RFC 1997), RFC 9234 OTC, export
    // policy (RFC 8212), next-hop self and our AS on eBGP.
    AttrRef export_to(uint32_t to, const Dest& dest, const Candidate& c) {
        const PeerState& p = peers[to];
        const uint32_t from = c.slot();
        if (from == to || p.export_none) return kNoAttr;
        const PeerState& src = peers[from];
        const bool from_ibgp = from != kLocalSlot && src.info.ibgp();
        const bool to_ibgp = p.info.ibgp();
        const bool reflect = from_ibgp && to_ibgp;
        if (reflect && !src.info.route_reflector_client && !p.info.route_reflector_client) return kNoAttr;
        const PathAttributes& a = attrs.get(c.out);
        if (has_community(a, kCommunityNoAdvertise)) return kNoAttr;
        if (!to_ibgp && (has_community(a, kCommunityNoExport) || has_community(a, kCommunityNoExportSubconfed)))
            return kNoAttr;
        if (!to_ibgp && a.otc && p.info.local_role &&
            (*p.info.local_role == Role::customer || *p.info.local_role == Role::peer ||
             *p.info.local_role == Role::rs_client))
            return kNoAttr;  // RFC 9234 §5: a route with OTC goes to customers (and RS clients) only

        PathAttributes o = a;
        std::erase_if(o.unknown, [](const UnknownAttribute& u) { return !(u.flags & kFlagTransitive); });
        for (UnknownAttribute& u : o.unknown) u.flags |= kFlagPartial;  // RFC 4271 §5: passed on, not understood
        if (to_ibgp) {
            o.local_pref = a.local_pref.value_or(100);
            if (!o.next_hop) o.next_hop = p.info.local_address;
            if (reflect) {
                if (!o.originator_id) o.originator_id = src.info.peer_bgp_id;
                o.cluster_list.insert(o.cluster_list.begin(), cluster_id);
            }
        } else {
            o.local_pref.reset();
            o.originator_id.reset();
            o.cluster_list.clear();
            if (from != kLocalSlot) o.med.reset();  // RFC 4271 §5.1.4: not passed to another AS
            o.next_hop = p.info.local_address;
            o.link_local_next_hop.reset();
            if (!o.otc && p.info.local_role &&
                (*p.info.local_role == Role::provider || *p.info.local_role == Role::peer ||
                 *p.info.local_role == Role::rs))
                o.otc = local_as;  // RFC 9234 §5 egress
        }
        if (!p.export_all) {
            PathAttributes changed;
            switch (p.export_policy->run(dest.key, o, context(p, false), changed)) {
                case Policy::Result::reject: return kNoAttr;
                case Policy::Result::accept: break;
                case Policy::Result::accept_modified: o = std::move(changed); break;
            }
        }
        if (!to_ibgp) prepend(o.as_path, local_as);
        return attrs.intern(std::move(o));
    }

    void set_advertised(uint32_t d, uint32_t to, AttrRef now) {
        Dest& dest = dests[d];
        auto it = std::find_if(dest.adv.begin(), dest.adv.end(), [to](const Advertised& a) { return a.slot == to; });
        const AttrRef was = it == dest.adv.end() ? kNoAttr : it->attrs;
        if (was == now) {
            if (now != kNoAttr) attrs.unref(now);
            return;
        }
        if (was != kNoAttr) attrs.unref(was);
        if (now == kNoAttr) dest.adv.erase(it);
        else if (it != dest.adv.end()) it->attrs = now;
        else {
            grow_for_one(dest.adv);
            dest.adv.push_back({to, now});
        }
        peers[to].out_queue.push_back(d);
        ++dest.queued;
    }

    PathView view(uint32_t s, const Candidate& c);

    // ---- settle: decision and outputs for the dirty destinations ----
    void settle() {
        std::vector<IpAddr> hops;
        for (size_t k = 0; k < dirty.size(); ++k) {
            const uint32_t d = dirty[k];
            Dest& dest = dests[d];
            dest.dirty = false;
            decide(dest);
            const unsigned f = family_index(dest.key);
            const bool now_in = !members.empty();
            if (now_in != dest.in_loc_rib) loc_rib_count[f] += now_in ? 1 : size_t(-1);
            dest.in_loc_rib = now_in;
            dest.best = now_in ? uint16_t(members[0]) : 0;
            dest.multipath = uint16_t(members.size());
            // FIB: the union of the multipath members' resolved next hops.
            hops.clear();
            if (now_in && dest.cands[members[0]].slot() != kLocalSlot) {
                for (uint32_t m : members)
                    for (const IpAddr& h : resolution(dest.cands[m].out)->next_hops) hops.push_back(h);
                std::sort(hops.begin(), hops.end());
                hops.erase(std::unique(hops.begin(), hops.end()), hops.end());
            }
            const uint32_t set = nh_sets.intern(hops);
            if (set != dest.fib_set) {
                fib_changes.push_back(FibChange{dest.key, hops});
                nh_sets.unref(dest.fib_set);
                dest.fib_set = set;
            } else {
                nh_sets.unref(set);
            }
            // Adj-RIBs-Out.
            for (uint32_t to = 1; to < peers.size(); ++to) {
                if (!peers[to].up) continue;
                const AttrRef now = now_in ? export_to(to, dest, dest.cands[members[0]]) : kNoAttr;
                set_advertised(d, to, now);
            }
            maybe_free(d);
        }
        dirty.clear();
    }

    std::vector<Update> take_updates(uint32_t to) {
        settle();
        std::vector<Update> out;
        PeerState& p = peers[to];
        std::vector<uint32_t> queue = std::move(p.out_queue);
        p.out_queue.clear();
        for (uint32_t d : queue) --dests[d].queued;
        std::sort(queue.begin(), queue.end());
        queue.erase(std::unique(queue.begin(), queue.end()), queue.end());
        if (p.up) {
            // Withdrawals first, in one UPDATE; then one UPDATE per attribute
            // set and family, with every prefix that shares it (the codec
            // splits it into messages that fit).
            Update withdraw;
            std::unordered_map<uint64_t, size_t> by_attrs;  // attrs << 1 | family -> index in out
            out.emplace_back();
            for (uint32_t d : queue) {
                const Dest& dest = dests[d];
                auto it = std::find_if(dest.adv.begin(), dest.adv.end(), [to](const Advertised& a) { return a.slot == to; });
                const AddressFamily fam = family_of(dest.key);
                auto routes_of = [&fam](Update& u) -> Update::FamilyRoutes& {
                    for (auto& r : u.families)
                        if (r.family == fam) return r;
                    return u.families.emplace_back(Update::FamilyRoutes{fam, {}, {}});
                };
                if (it == dest.adv.end()) {
                    routes_of(out[0]).withdrawn.push_back(Nlri{dest.key, 0, {}, {}});
                    continue;
                }
                const uint64_t key = uint64_t(it->attrs) << 1 | family_index(dest.key);
                auto [g, added] = by_attrs.try_emplace(key, out.size());
                if (added) {
                    out.emplace_back();
                    out.back().attributes = attrs.get(it->attrs);
                }
                routes_of(out[g->second]).announced.push_back(Nlri{dest.key, 0, {}, {}});
            }
            if (out[0].families.empty()) out.erase(out.begin());
        }
        for (uint32_t d : queue) maybe_free(d);
        return out;
    }

    // Queues every destination for `to` whose best path it should get
    // (session up) or forgets its Adj-RIB-Out (session down).
    void export_all_to(uint32_t to) {
        settle();
        for (uint32_t d = 0; d < dests.size(); ++d) {
            Dest& dest = dests[d];
            if (!dest.in_loc_rib) continue;
            set_advertised(d, to, export_to(to, dest, dest.cands[dest.best]));
        }
    }
    void forget_out(uint32_t to) {
        PeerState& p = peers[to];
        for (uint32_t d : p.out_queue) --dests[d].queued;
        p.out_queue.clear();
        for (uint32_t d = 0; d < dests.size(); ++d) {
            Dest& dest = dests[d];
            auto it = std::find_if(dest.adv.begin(), dest.adv.end(), [to](const Advertised& a) { return a.slot == to; });
            if (it == dest.adv.end()) continue;
            attrs.unref(it->attrs);
            dest.adv.erase(it);
            maybe_free(d);
        }
    }
};

// ---------------------------------------------------------------------------

Rib::Rib(Asn local_as, uint32_t router_id) : impl_(std::make_unique<Impl>(local_as, router_id)) {}
Rib::~Rib() = default;

void Rib::peer_up(const PeerInfo& info) {
    Impl& m = *impl_;
    auto [it, added] = m.slot_of.try_emplace(info.id, 0);
    if (added) {
        it->second = uint32_t(m.peers.size());
        m.peers.emplace_back();
    }
    const uint32_t s = it->second;
    Impl::PeerState& p = m.peers[s];
    // Paths kept from the previous session (graceful restart) meet the new
    // session's policy, AS and role.
    const bool kept_paths = p.present;
    p.info = info;
    p.present = p.up = true;
    m.resolve_policies(p);
    if (kept_paths) m.reimport(s);
    m.forget_out(s);
    m.export_all_to(s);
}

void Rib::peer_down(PeerId id, bool keep_stale) {
    Impl& m = *impl_;
    const uint32_t s = m.slot(id);
    if (s == kLocalSlot) return;
    Impl::PeerState& p = m.peers[s];
    p.up = false;
    m.forget_out(s);
    if (keep_stale) {
        for (Dest& dest : m.dests)
            for (Candidate& c : dest.cands)
                if (c.slot() == s) c.slot_flags |= Candidate::kStale;
    } else {
        m.remove_paths_if(s, [](const Dest&, const Candidate&) { return true; });
        p.present = false;
    }
}

void Rib::end_of_rib(PeerId id, AddressFamily family) {
    Impl& m = *impl_;
    const uint32_t s = m.slot(id);
    if (s == kLocalSlot) return;
    const unsigned f = family_index(family);
    m.remove_paths_if(s, [f](const Dest& d, const Candidate& c) { return c.stale() && family_index(d.key) == f; });
}

void Rib::stale_timeout(PeerId id) {
    Impl& m = *impl_;
    const uint32_t s = m.slot(id);
    if (s == kLocalSlot) return;
    m.remove_paths_if(s, [](const Dest&, const Candidate& c) { return c.stale(); });
}

ApplyResult Rib::apply(PeerId id, const Update& update) {
    Impl& m = *impl_;
    ApplyResult result;
    const uint32_t s = m.slot(id);
    if (s == kLocalSlot || !m.peers[s].up) return result;
    Impl::PeerState& p = m.peers[s];
    AttrRef in = kNoAttr, base = kNoAttr;
    for (const Update::FamilyRoutes& fr : update.families) {
        // Labeled unicast and VPN (next issue) need their own keys: a VPN
        // route is no unicast route of the same prefix. Not taken yet.
        if (fr.family.safi != Safi::unicast) continue;
        for (const Nlri& n : fr.withdrawn)
            if (m.remove_path(s, n.prefix.network(), n.path_id)) ++result.withdrawn;
        if (fr.announced.empty()) continue;
        if (update.treat_as_withdraw) {  // RFC 7606 §2
            for (const Nlri& n : fr.announced)
                if (m.remove_path(s, n.prefix.network(), n.path_id)) ++result.withdrawn;
            continue;
        }
        if (in == kNoAttr) {
            in = m.attrs.intern(update.attributes);
            base = m.import_base(p, s, in);
        }
        for (const Nlri& n : fr.announced) {
            m.add_path(s, n.prefix.network(), n.path_id, in, base);
            ++result.announced;
        }
    }
    if (in != kNoAttr) m.attrs.unref(in);
    if (base != kNoAttr) m.attrs.unref(base);
    // Stale paths the new session announced again lost their mark in
    // add_path; what is still stale at End-of-RIB goes.
    if (update.end_of_rib) end_of_rib(id, *update.end_of_rib);
    if (p.info.max_prefixes) {
        for (AddressFamily fam : {kIpv4Unicast, kIpv6Unicast}) {
            if (p.received[family_index(fam)] <= *p.info.max_prefixes) continue;
            // RFC 4486 §4: AFI, SAFI and the configured upper bound.
            const uint32_t limit = *p.info.max_prefixes;
            Notification n{error::kCease, error::kMaxPrefixes,
                           {uint8_t(uint16_t(fam.afi) >> 8), uint8_t(uint16_t(fam.afi)), uint8_t(fam.safi),
                            uint8_t(limit >> 24), uint8_t(limit >> 16), uint8_t(limit >> 8), uint8_t(limit)},
                           "maximum number of prefixes reached"};
            result.reset = std::move(n);
            break;
        }
    }
    return result;
}

void Rib::soft_in(PeerId id) {
    Impl& m = *impl_;
    const uint32_t s = m.slot(id);
    if (s == kLocalSlot) return;
    m.resolve_policies(m.peers[s]);
    m.reimport(s);
}

void Rib::peer_changed(const PeerInfo& info) {
    Impl& m = *impl_;
    const uint32_t s = m.slot(info.id);
    if (s == kLocalSlot || !m.peers[s].up) return;
    m.peers[s].info = info;
    m.resolve_policies(m.peers[s]);
    m.reimport(s);
    // Its export policy may have changed: the Adj-RIB-Out makes the second
    // look a diff (only what changes is sent, withdrawals included).
    for (uint32_t d = 0; d < m.dests.size(); ++d)
        if (m.dests[d].in_loc_rib) m.mark_dirty(d);
}

void Rib::resend(PeerId id, AddressFamily family) {
    Impl& m = *impl_;
    const uint32_t s = m.slot(id);
    if (s == kLocalSlot || !m.peers[s].up) return;
    m.settle();
    const unsigned f = family_index(family);
    for (uint32_t d = 0; d < m.dests.size(); ++d) {
        Dest& dest = m.dests[d];
        if (family_index(dest.key) != f) continue;
        for (const Advertised& a : dest.adv)
            if (a.slot == s) {
                m.peers[s].out_queue.push_back(d);
                ++dest.queued;
            }
    }
}

void Rib::set_policies(const Policies* policies) {
    Impl& m = *impl_;
    m.policies = policies;
    for (uint32_t s = 1; s < m.peers.size(); ++s) {
        if (!m.peers[s].present) continue;
        m.resolve_policies(m.peers[s]);
        m.reimport(s);
    }
    // Export policies may have changed too: every destination is looked at again
    // (the Adj-RIBs-Out make that a diff: only what changes is sent).
    for (uint32_t d = 0; d < m.dests.size(); ++d)
        if (m.dests[d].in_loc_rib) m.mark_dirty(d);
}

void Rib::originate(const Prefix& prefix, const PathAttributes& attributes) {
    Impl& m = *impl_;
    PathAttributes a = attributes;
    if (!a.origin) a.origin = Origin::igp;
    const AttrRef in = m.attrs.intern(std::move(a));
    m.add_path(kLocalSlot, prefix.network(), 0, in, in);
    m.attrs.unref(in);
}

void Rib::withdraw_originated(const Prefix& prefix) { impl_->remove_path(kLocalSlot, prefix.network(), 0); }

void Rib::set_resolver(std::function<std::optional<Resolution>(const IpAddr&)> resolver) {
    impl_->resolver = std::move(resolver);
    next_hops_changed();
}

void Rib::next_hops_changed() {
    Impl& m = *impl_;
    std::vector<bool> changed(m.next_hops.size());
    bool any = false;
    for (size_t i = 0; i < m.next_hops.size(); ++i) {
        auto now = m.resolve(m.next_hops[i].address);
        const auto& was = m.next_hops[i].resolution;
        const bool same = now.has_value() == was.has_value() &&
                          (!now || (now->igp_cost == was->igp_cost && now->next_hops == was->next_hops));
        if (same) continue;
        m.next_hops[i].resolution = std::move(now);
        changed[i] = any = true;
    }
    if (!any) return;
    for (uint32_t d = 0; d < m.dests.size(); ++d)
        for (const Candidate& c : m.dests[d].cands) {
            if (c.out == kNoAttr) continue;
            const uint32_t nh = m.next_hop_id(c.out);
            if (nh != kNoNextHop && changed[nh]) {
                m.mark_dirty(d);
                break;
            }
        }
}

void Rib::set_multipath(unsigned max_paths) {
    Impl& m = *impl_;
    m.max_paths = std::max(1u, max_paths);
    for (uint32_t d = 0; d < m.dests.size(); ++d)
        if (!m.dests[d].cands.empty()) m.mark_dirty(d);
}

void Rib::set_always_compare_med(bool on) {
    Impl& m = *impl_;
    m.always_compare_med = on;
    for (uint32_t d = 0; d < m.dests.size(); ++d)
        if (m.dests[d].cands.size() > 1) m.mark_dirty(d);
}

void Rib::set_cluster_id(uint32_t cluster_id) { impl_->cluster_id = cluster_id; }

std::vector<FibChange> Rib::take_fib_changes() {
    impl_->settle();
    return std::exchange(impl_->fib_changes, {});
}

std::vector<SavChange> Rib::take_sav_changes() { return std::exchange(impl_->sav_changes, {}); }

std::vector<Update> Rib::take_updates(PeerId id) {
    Impl& m = *impl_;
    const uint32_t s = m.slot(id);
    if (s == kLocalSlot) return {};
    return m.take_updates(s);
}

size_t Rib::loc_rib_size(AddressFamily family) const {
    impl_->settle();
    return impl_->loc_rib_count[family_index(family)];
}

size_t Rib::adj_rib_in_size(PeerId id, AddressFamily family, bool accepted_only) const {
    const uint32_t s = impl_->slot(id);
    if (s == kLocalSlot) return 0;
    const auto& p = impl_->peers[s];
    return accepted_only ? p.accepted[family_index(family)] : p.received[family_index(family)];
}

std::vector<Rib::PathView> Rib::paths(const Prefix& prefix) const {
    Impl& m = *impl_;
    m.settle();
    std::vector<PathView> out;
    const uint32_t d = m.find_dest(prefix.network());
    if (d == kNoDest) return out;
    const Dest& dest = m.dests[d];
    for (uint32_t i = 0; i < dest.cands.size(); ++i) {
        PathView v = m.view(dest.cands[i].slot(), dest.cands[i]);
        v.best = dest.in_loc_rib && dest.best == i;
        out.push_back(std::move(v));
    }
    // decide() again (one destination), noting why each path lost.
    std::vector<const char*> why(dest.cands.size(), nullptr);
    m.why = &why;
    m.decide(dest);
    m.why = nullptr;
    for (uint32_t mem : m.members) out[mem].multipath = true;
    for (uint32_t i = 0; i < out.size(); ++i) {
        PathView& v = out[i];
        if (v.best) continue;
        if (!v.accepted) v.why_not_best = "refused by import policy or a loop check";
        else if (!v.reachable) v.why_not_best = "next hop unreachable";
        else if (why[i]) v.why_not_best = why[i];
    }
    return out;
}

Rib::PathView Rib::Impl::view(uint32_t s, const Candidate& c) {
    PathView v;
    for (auto& [id, slot] : slot_of)
        if (slot == s) v.peer = id;
    v.local = s == kLocalSlot;
    v.peer_address = peers[s].info.address;
    v.path_id = c.path_id;
    v.received = attrs.get(c.in);
    if (c.out != kNoAttr) v.attributes = attrs.get(c.out);
    v.accepted = c.out != kNoAttr;
    v.reachable = c.out != kNoAttr && resolution(c.out) != nullptr;
    v.stale = c.stale();
    return v;
}

void Rib::for_each_best(AddressFamily family, const std::function<void(const Prefix&, const PathView&)>& f) const {
    Impl& m = *impl_;
    m.settle();
    const unsigned fam = family_index(family);
    for (const Dest& dest : m.dests) {
        if (!dest.in_loc_rib || family_index(dest.key) != fam) continue;
        const Candidate& c = dest.cands[dest.best];
        PathView v = m.view(c.slot(), c);
        v.best = true;
        v.multipath = dest.multipath > 1;
        f(dest.key, v);
    }
}

void Rib::for_each_received(PeerId peer, AddressFamily family,
                            const std::function<void(const Prefix&, const PathView&)>& f) const {
    Impl& m = *impl_;
    const uint32_t s = m.slot(peer);
    if (s == kLocalSlot) return;
    m.settle();
    const unsigned fam = family_index(family);
    for (const Dest& dest : m.dests) {
        if (dest.cands.empty() || family_index(dest.key) != fam) continue;
        for (uint32_t i = 0; i < dest.cands.size(); ++i) {
            const Candidate& c = dest.cands[i];
            if (c.slot() != s) continue;
            PathView v = m.view(s, c);
            v.best = dest.in_loc_rib && dest.best == i;
            f(dest.key, v);
        }
    }
}

void Rib::for_each_advertised(PeerId peer, AddressFamily family,
                              const std::function<void(const Prefix&, const PathAttributes&)>& f) const {
    Impl& m = *impl_;
    const uint32_t s = m.slot(peer);
    if (s == kLocalSlot) return;
    m.settle();
    const unsigned fam = family_index(family);
    for (const Dest& dest : m.dests) {
        if (family_index(dest.key) != fam) continue;
        for (const Advertised& a : dest.adv)
            if (a.slot == s) f(dest.key, m.attrs.get(a.attrs));
    }
}

void Rib::revalidate() {
    Impl& m = *impl_;
    bool exports = false;
    for (uint32_t s = 1; s < m.peers.size(); ++s) {
        const Impl::PeerState& p = m.peers[s];
        if (!p.present) continue;
        if (p.import_policy && p.import_policy->uses_rpki()) m.reimport(s);
        if (p.up && p.export_policy && p.export_policy->uses_rpki()) exports = true;
    }
    if (!exports) return;
    for (uint32_t d = 0; d < m.dests.size(); ++d)
        if (m.dests[d].in_loc_rib) m.mark_dirty(d);
}

Rib::Stats Rib::stats() const {
    Impl& m = *impl_;
    m.settle();
    Stats s;
    s.destinations = m.dest_index.size();
    s.attribute_sets = m.attrs.size();
    for (const Dest& d : m.dests) s.paths += d.cands.size();
    s.next_hops = m.next_hops.size();
    return s;
}

}  // namespace rampart::bgp
