// SAV rule compiler (control core): turns interface roles, the Adj-RIBs-In,
// the local FIB, validated ROAs/ASPAs and operator lists into one list per
// address family of (source prefix -> interfaces where that source may enter).
// The data plane (sav/table.hpp) loads that list into one LPM keyed by source.
//
// Mechanisms, per interface:
//   strict uRPF (RFC 3704 2.2), loose uRPF with and without the default route
//   (RFC 3704 2.4), feasible-path uRPF (RFC 3704 2.3), EFP-uRPF algorithm A and
//   B (RFC 8704 3.3/3.4; on lateral peer and provider interfaces RFC 8704 3.6
//   recommends loose uRPF, which is what they do there), and BAR-SAV
//   (draft-ietf-sidrops-bar-sav): customer cones from ASPA + AS paths, their
//   prefixes from ROAs + Adj-RIBs-In, plus a downstream check on provider and
//   lateral peer interfaces (see Mechanism::bar_sav).
//
// Semantics of a source address S on interface I (the compiler evaluates them
// once per prefix of the "universe": every prefix that any input mentions):
//   - strict: the longest FIB route covering S has I among its egresses.
//   - loose: some FIB route other than the default covers S (loose_with_default:
//     the default counts too). A route with no egress (discard) does not count.
//   - list mechanisms (FP, EFP, BAR-SAV customer side, allow-lists): S is inside
//     some prefix of I's list ("contained in the RPF list", RFC 8704 3.1).
//   - BAR-SAV provider/peer side: the most specific prefix covering S that has
//     a known origin decides; no such prefix: allowed.
//   - deny-list: S inside a denied prefix of I: refused, whatever the mechanism
//     (except off). Allow-lists are information beyond the RIB and are used by
//     BAR-SAV only, so the RFC mechanisms stay as their RFCs define them.
//
// Incremental: every input change marks the prefixes it touches (and their
// more specifics, which inherit from them); `recompute()` re-evaluates only
// those and records what changed for the publisher (`take_changes()`).
#pragma once

#include <array>
#include <cstring>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/net.hpp"

namespace rampart::sav {

using Asn = uint32_t;

inline constexpr unsigned kMaxSavInterfaces = 256;

// A set of interface ids 0..255. Four words so that the data plane can test
// one bit without a branch on the id's size.
struct InterfaceSet {
    std::array<uint64_t, 4> words{};

    void add(unsigned id) { words[id >> 6] |= uint64_t(1) << (id & 63); }
    void remove(unsigned id) { words[id >> 6] &= ~(uint64_t(1) << (id & 63)); }
    bool has(unsigned id) const { return (words[(id >> 6) & 3] >> (id & 63)) & 1; }
    bool empty() const { return (words[0] | words[1] | words[2] | words[3]) == 0; }
    InterfaceSet& operator|=(const InterfaceSet& o) {
        for (int i = 0; i < 4; ++i) words[i] |= o.words[i];
        return *this;
    }
    InterfaceSet& operator&=(const InterfaceSet& o) {
        for (int i = 0; i < 4; ++i) words[i] &= o.words[i];
        return *this;
    }
    static InterfaceSet all() {
        InterfaceSet s;
        s.words.fill(~uint64_t(0));
        return s;
    }
    std::string str() const;  // "{1,3,7}"
    friend bool operator==(const InterfaceSet&, const InterfaceSet&) = default;
};

struct InterfaceSetHash {
    size_t operator()(const InterfaceSet& s) const {
        uint64_t h = 0x9e3779b97f4a7c15ull;
        for (uint64_t w : s.words) h = (h ^ w) * 0x100000001b3ull;
        return size_t(h ^ (h >> 29));
    }
};

struct PrefixHash {
    size_t operator()(const Prefix& p) const {
        uint64_t a, b;
        std::memcpy(&a, p.addr.bytes.data(), 8);
        std::memcpy(&b, p.addr.bytes.data() + 8, 8);
        uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b + 0x632be59bd9b4e019ull + (uint64_t(p.len) << 8) + uint64_t(p.addr.family));
        h ^= h >> 31;
        h *= 0xbf58476d1ce4e5b9ull;
        return size_t(h ^ (h >> 29));
    }
};

// The same order as Prefix's operator<=> (family, address bytes, length),
// with the address compared as two big-endian words instead of byte by byte:
// the compiler's prefix tree is a std::map of a full table.
struct PrefixLess {
    static uint64_t word(const Prefix& p, int i) {
        uint64_t w;
        std::memcpy(&w, p.addr.bytes.data() + 8 * i, 8);
        return __builtin_bswap64(w);
    }
    bool operator()(const Prefix& a, const Prefix& b) const {
        if (a.addr.family != b.addr.family) return a.addr.family < b.addr.family;
        const uint64_t a0 = word(a, 0), b0 = word(b, 0);
        if (a0 != b0) return a0 < b0;
        const uint64_t a1 = word(a, 1), b1 = word(b, 1);
        if (a1 != b1) return a1 < b1;
        return a.len < b.len;
    }
};

enum class Role : uint8_t { customer, lateral_peer, provider };

enum class Mechanism : uint8_t {
    off,
    strict_urpf,
    loose_urpf,               // the default route does not make a source valid
    loose_urpf_with_default,  // ... it does
    feasible_path_urpf,
    efp_urpf_a,
    efp_urpf_b,
    // Customer interfaces: S must belong to the customer cone of the neighbour
    // (ASPA, AS paths received on the interface) as known from ROAs and the
    // Adj-RIBs-In, or be received on the interface, or be allow-listed.
    // Provider and lateral peer interfaces: a source of our own cone (or our
    // own ROAs) is refused unless ASPA shows a valley-free path through that
    // neighbour could carry it: through a lateral peer only if the peer is an
    // (indirect) provider of the origin; through a provider only if the
    // origin's providers (transitively) include an AS outside our cone. When an
    // AS on the way has no ASPA the path cannot be ruled out: allowed.
    // Caveats: a customer that leaks provider routes to us puts their ASes
    // into its cone (route-leak filtering, e.g. ASPA path verification, is
    // BGP's job upstream of this compiler); a cone member that peers with a
    // provider of ours is a valley-free path ASPA cannot show, and is refused
    // on that provider interface (allow-list it).
    bar_sav,
};

std::string_view to_string(Role r);
std::string_view to_string(Mechanism m);
std::optional<Mechanism> mechanism_from_string(std::string_view text);

struct AsPathSegment {
    bool is_set = false;  // AS_SET (unordered) rather than AS_SEQUENCE
    std::vector<Asn> asns;
    friend bool operator==(const AsPathSegment&, const AsPathSegment&) = default;
};

inline constexpr uint32_t kCommunityNoExport = 0xFFFFFF01;   // RFC 1997
inline constexpr uint32_t kCommunityNoAdvertise = 0xFFFFFF02;

struct Route {
    Prefix prefix;
    std::vector<AsPathSegment> as_path;
    std::vector<uint32_t> communities;

    // The origin AS: the last AS of a path ending in an AS_SEQUENCE. A path
    // ending in an AS_SET has no single origin (RFC 6811 2, RFC 6907).
    std::optional<Asn> origin() const;
    bool has_community(uint32_t c) const;
    std::string path_str() const;
    friend bool operator==(const Route&, const Route&) = default;
};

// A validated ROA payload. For SAV the prefix says whose addresses these
// are; maxLength only limits which announcements are valid, so a source in
// a more specific is the ROA's as well (it inherits from the ROA's rule).
struct Roa {
    Prefix prefix;
    uint8_t max_length = 0;
    Asn origin = 0;  // AS0 (RFC 7607) authorises nobody
    friend auto operator<=>(const Roa&, const Roa&) = default;
};

struct Aspa {
    Asn customer = 0;
    std::vector<Asn> providers;
};

struct InterfaceConfig {
    uint16_t id = 0;  // < kMaxSavInterfaces
    std::string name;
    Role role = Role::customer;
    Mechanism mechanism = Mechanism::off;
    Asn neighbor_asn = 0;  // 0: unknown (BAR-SAV then uses the AS paths received)
};

// One compiled rule: sources inside `prefix` (and not inside a more specific
// rule) may enter on `allowed`. `no_rule` marks the synthetic /0 entries that
// stand for "no input mentions this source at all".
struct SavRule {
    Prefix prefix;
    InterfaceSet allowed;
    bool no_rule = false;
    friend bool operator==(const SavRule&, const SavRule&) = default;
};

struct SavRuleChange {
    Prefix prefix;
    bool removed = false;
    InterfaceSet allowed;  // when !removed
    bool no_rule = false;
};

class RuleCompiler {
public:
    explicit RuleCompiler(Asn local_asn) : local_asn_(local_asn) {}

    // ---- inputs; each marks what it touches, recompute() evaluates ----
    // Throws std::invalid_argument for an id >= kMaxSavInterfaces.
    void set_interface(const InterfaceConfig& cfg);
    void remove_interface(uint16_t id);  // also drops its Adj-RIB-In
    // Adds or replaces the route of `r.prefix` on `iface` (one path per prefix
    // and neighbour, as BGP without ADD-PATH). Throws for an unknown interface.
    void announce(uint16_t iface, const Route& r);
    void withdraw(uint16_t iface, const Prefix& p);
    void set_fib_route(const Prefix& p, const InterfaceSet& egress);  // empty egress: discard route
    void remove_fib_route(const Prefix& p);
    // Replace the whole RPKI view (validated ROA payloads and ASPAs).
    void set_roas(std::vector<Roa> roas);
    void set_aspas(std::vector<Aspa> aspas);
    // Operator lists. An empty interface set in a deny entry means every interface.
    void set_allow(const Prefix& p, const InterfaceSet& ifaces);
    void remove_allow(const Prefix& p);
    void set_deny(const Prefix& p, const InterfaceSet& ifaces);
    void remove_deny(const Prefix& p);

    // Evaluates what changed since the last call. Returns the number of
    // prefixes re-evaluated (the incremental cost).
    size_t recompute();
    // Rule changes since the last take (after recompute), for the publisher.
    std::vector<SavRuleChange> take_changes();

    // ---- outputs ----
    std::vector<SavRule> rules(Family f) const;  // sorted, /0 first
    std::optional<Mechanism> mechanism(uint16_t iface) const;
    const InterfaceConfig* interface(uint16_t iface) const;
    // Why sources in `p` (its most specific covering rule) are allowed or
    // refused on `iface`: one human-readable line per fact used.
    std::vector<std::string> explain(const Prefix& p, uint16_t iface) const;
    // The customer cone BAR-SAV uses on a customer interface (for show/tests).
    std::set<Asn> customer_cone(uint16_t iface) const;
    size_t universe_size() const { return nodes_.size(); }
    size_t route_count() const;

private:
    // Everything known about one prefix.
    struct Node {
        InterfaceSet received_on;                  // Adj-RIB-In presence, any role
        std::vector<std::pair<Asn, uint32_t>> route_origins;  // origin -> routes with it
        std::vector<Asn> roa_origins;
        bool in_fib = false;
        InterfaceSet fib_egress;
        bool has_allow = false, has_deny = false;
        InterfaceSet allow, deny;
        // Result, as last published.
        bool published = false;
        InterfaceSet allowed;
        bool no_rule = false;
        bool needed() const {
            return !received_on.empty() || !route_origins.empty() || !roa_origins.empty() || in_fib || has_allow ||
                   has_deny;
        }
    };
    // What a prefix passes down to its more specifics.
    struct Inherited {
        bool strict_known = false;
        InterfaceSet strict;        // egress of the longest FIB route
        bool route_covered = false;
        bool default_covered = false;
        InterfaceSet feasible;      // OR of received_on
        InterfaceSet efp_a;         // OR of algorithm A lists
        bool efp_b = false;
        InterfaceSet bar_customer;  // OR of cone-derived lists
        InterfaceSet bar_blocked;   // of the most specific prefix with an origin
        InterfaceSet allow, deny;
        bool any_input = false;
    };
    // Per-AS facts derived from ASPAs, customer routes and interface config.
    struct AsFacts {
        InterfaceSet efp_a_ifaces;  // customer interfaces where a route with this origin arrived
        InterfaceSet cone_ifaces;   // BAR-SAV customer interfaces whose cone holds this AS
        InterfaceSet block_ifaces;  // BAR-SAV provider/peer interfaces that refuse it
        friend bool operator==(const AsFacts&, const AsFacts&) = default;
    };

    Node& node(const Prefix& p);
    void drop_if_unused(const Prefix& p);
    void mark(const Prefix& p);
    void mark_origin(Asn a);
    void add_origin(Node& n, const Prefix& p, Asn a, uint16_t iface);
    void remove_origin(Node& n, const Prefix& p, Asn a, uint16_t iface);
    void fold(const Prefix& p, const Node& n, Inherited& s) const;
    Inherited inherited_above(const Prefix& p) const;
    InterfaceSet evaluate(const Inherited& s) const;
    void recompute_as_facts();
    void recompute_cones();
    AsFacts compute_facts(Asn a) const;
    void refresh_facts(Asn a);
    AsFacts as_facts(Asn a) const;
    std::set<Asn> upward_closure(Asn a, bool& complete) const;
    InterfaceSet bar_interfaces(bool customer_side) const;
    void refresh_role_sets();

    Asn local_asn_;
    std::map<uint16_t, InterfaceConfig> ifaces_;
    InterfaceSet customer_ifaces_, bar_customer_ifaces_;  // cached from ifaces_ for fold()
    // Hash maps where order does not matter: a full table is 10^6 entries and
    // tree lookups there cost a cache miss per level.
    std::map<uint16_t, std::unordered_map<Prefix, Route, PrefixHash>> adj_rib_in_;
    std::map<Prefix, Node, PrefixLess> nodes_;
    // Origin AS -> prefixes that have it (routes or ROAs), with counts.
    std::unordered_map<Asn, std::unordered_map<Prefix, uint32_t, PrefixHash>> prefixes_of_origin_;
    // (origin, interface) -> routes with that origin on that interface.
    std::map<std::pair<Asn, uint16_t>, uint32_t> origin_on_iface_;
    // Customer interface -> AS -> routes whose path holds the AS.
    std::map<uint16_t, std::map<Asn, uint32_t>> path_asns_of_iface_;
    std::vector<Roa> roas_;
    std::unordered_map<Asn, std::vector<Asn>> aspa_;            // customer -> providers
    std::unordered_map<Asn, std::vector<Asn>> aspa_customers_;  // provider -> customers
    std::unordered_map<Asn, AsFacts> facts_;
    std::map<uint16_t, std::set<Asn>> cones_;  // BAR-SAV customer interface -> cone
    std::set<Prefix, PrefixLess> dirty_;
    // Set when so much changed (a full load) that walking the whole tree is
    // cheaper than remembering each prefix: recompute() then does everything.
    bool everything_dirty_ = false;
    // Cones (ASPA, customer AS paths, interfaces) changed: all AS facts are
    // recomputed. Otherwise only the origins that gained or lost a route on
    // an interface or a ROA are (pending_origins_).
    bool cones_dirty_ = false;
    std::unordered_set<Asn> pending_origins_;
    std::set<Asn> our_cone_;  // union of the customer cones
    std::vector<SavRuleChange> changes_;
};

}  // namespace rampart::sav
