// BGP routing policy: prefix lists and named policies of ordered terms
// (match conditions, actions, a disposition), which BGP neighbours name for
// import and export (config/bgp.cpp). The BGP protocol compiles them into
// bgp::Policies after every change and applies them by soft reconfiguration.
//
//   bgp prefix-list customers seq 10 permit 198.51.100.0/24 le 26
//   bgp policy from-customer term 10 match prefix-list customers
//   bgp policy from-customer term 10 match rpki invalid
//   bgp policy from-customer term 10 action reject
//   bgp policy from-customer term 20 match prefix-list customers
//   bgp policy from-customer term 20 action local-pref 200
//   bgp policy from-customer term 20 action accept
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"

namespace rampart::config {
namespace {

using namespace help;
using bgp::Asn;
using bgp::LargeCommunity;
using bgp::PolicyTerm;

enum class Cmd {
    PrefixList, PrefixListDelete, Policy, MatchPrefixList, MatchAsPath, MatchCommunity, MatchLargeCommunity,
    MatchRpki, MatchAspa, Disposition, LocalPref, Med, Community, LargeCommunityAction, NextHop, NextHopSelf, Prepend
};

constexpr std::string_view kBgp = "Configure BGP";
constexpr std::string_view kPrefixList = "A prefix list: ordered permit/deny entries";
constexpr std::string_view kListName = "Prefix list name";
constexpr std::string_view kSeq = "The entry's sequence number (lower first)";
constexpr std::string_view kSeqValue = "Sequence number";
constexpr std::string_view kBgpPolicy = "A routing policy: ordered terms of matches and actions";
constexpr std::string_view kBgpPolicyName = "Policy name";
constexpr std::string_view kTerm = "A term of the policy (evaluated in number order)";
constexpr std::string_view kTermNumber = "Term number";
constexpr std::string_view kMatch = "A condition the route must meet for the term to apply";
constexpr std::string_view kAction = "What the term does to a matching route";

#define TERM kBgp, kBgpPolicy, kBgpPolicyName, kTerm, kTermNumber
// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::PrefixList), "prefix-list",
     "bgp prefix-list <list:WORD> seq <seq:UINT(1-4294967295)> [permit|deny] <prefix:PREFIX> [ge <ge:UINT(0-128)>] [le <le:UINT(0-128)>]",
     "A prefix list entry: prefixes within PREFIX whose length is in [ge, le] (neither: exactly PREFIX) (no: remove it)",
     {kBgp, kPrefixList, kListName, kSeq, kSeqValue, "Permit matching prefixes", "Deny matching prefixes",
      "The covering prefix", "Shortest length matched", "Length", "Longest length matched", "Length"},
     Negatable::yes, kBoth},
    {int(Cmd::PrefixListDelete), "prefix-list",
     "bgp prefix-list <list:WORD> [seq <seq:UINT(1-4294967295)>]",
     "With no: remove a prefix list entry, or the whole list",
     {kBgp, kPrefixList, kListName, kSeq, kSeqValue}, Negatable::yes, kBoth},
    {int(Cmd::Policy), "policy", "bgp policy <policy:WORD> [term <term:UINT(1-65535)>]",
     "Create a policy (refuses every route until a term accepts) or one of its terms (no: delete it)",
     {kBgp, kBgpPolicy, kBgpPolicyName, kTerm, kTermNumber}, Negatable::yes, kBoth},
    {int(Cmd::MatchPrefixList), "match", "bgp policy <policy:WORD> term <term:UINT(1-65535)> match prefix-list <list:WORD>",
     "Match routes whose prefix the prefix list permits",
     {TERM, kMatch, "The prefix list permits the prefix", kListName}, Negatable::yes, kBoth},
    {int(Cmd::MatchAsPath), "match",
     "bgp policy <policy:WORD> term <term:UINT(1-65535)> match as-path [contains|origin|neighbor|length-ge|length-le] <value:UINT(0-4294967295)>",
     "Match on the AS path: an AS anywhere in it, the origin AS, the neighbour AS, or its length",
     {TERM, kMatch, "A condition on the AS path", "The path contains this AS", "The path's origin (last) AS is this",
      "The path's first AS is this", "The path is at least this long", "The path is at most this long",
      "AS number or length"}, Negatable::yes, kBoth},
    {int(Cmd::MatchCommunity), "match", "bgp policy <policy:WORD> term <term:UINT(1-65535)> match community <community:WORD>",
     "Match routes carrying a community (RFC 1997)",
     {TERM, kMatch, "The route carries this community", "ASN:VALUE, or no-export, no-advertise, no-export-subconfed, "
      "no-peer, blackhole, graceful-shutdown"}, Negatable::yes, kBoth},
    {int(Cmd::MatchLargeCommunity), "match",
     "bgp policy <policy:WORD> term <term:UINT(1-65535)> match large-community <community:WORD>",
     "Match routes carrying a large community (RFC 8092)",
     {TERM, kMatch, "The route carries this large community", "GLOBAL:LOCAL1:LOCAL2"}, Negatable::yes, kBoth},
    {int(Cmd::MatchRpki), "match", "bgp policy <policy:WORD> term <term:UINT(1-65535)> match rpki [valid|invalid|not-found]",
     "Match on the route's RPKI origin validation state (RFC 6811)",
     {TERM, kMatch, "RPKI origin validation state", "A ROA covers the prefix and authorises the origin AS",
      "ROAs cover the prefix but none authorises the origin AS or length", "No ROA covers the prefix"},
     Negatable::yes, kBoth},
    {int(Cmd::MatchAspa), "match", "bgp policy <policy:WORD> term <term:UINT(1-65535)> match aspa [valid|invalid|unknown]",
     "Match on the route's ASPA path verification state",
     {TERM, kMatch, "ASPA AS path verification state", "Every hop of the path is attested",
      "Some hop is attested not to be a provider: a leak", "Not every hop has an ASPA"},
     Negatable::yes, kBoth},
    {int(Cmd::Disposition), "action", "bgp policy <policy:WORD> term <term:UINT(1-65535)> action [accept|reject|next]",
     "What becomes of a matching route once the term's changes are made (no: next term)",
     {TERM, kAction, "Accept it", "Refuse it", "Go on with the next term (the default)"}, Negatable::yes, kBoth},
    {int(Cmd::LocalPref), "action", "bgp policy <policy:WORD> term <term:UINT(1-65535)> action local-pref <value:UINT(0-4294967295)>",
     "Set LOCAL_PREF", {TERM, kAction, "Set LOCAL_PREF (higher is preferred)", "Value"}, Negatable::yes, kBoth},
    {int(Cmd::Med), "action", "bgp policy <policy:WORD> term <term:UINT(1-65535)> action med <value:UINT(0-4294967295)>",
     "Set MULTI_EXIT_DISC", {TERM, kAction, "Set the MED (lower is preferred)", "Value"}, Negatable::yes, kBoth},
    {int(Cmd::Community), "action", "bgp policy <policy:WORD> term <term:UINT(1-65535)> action community [add|remove] <community:WORD>",
     "Add or remove a community",
     {TERM, kAction, "Change the communities", "Add this community", "Remove this community",
      "ASN:VALUE or a well-known name"}, Negatable::yes, kBoth},
    {int(Cmd::LargeCommunityAction), "action",
     "bgp policy <policy:WORD> term <term:UINT(1-65535)> action large-community [add|remove] <community:WORD>",
     "Add or remove a large community",
     {TERM, kAction, "Change the large communities", "Add this large community", "Remove this large community",
      "GLOBAL:LOCAL1:LOCAL2"}, Negatable::yes, kBoth},
    {int(Cmd::NextHop), "action", "bgp policy <policy:WORD> term <term:UINT(1-65535)> action next-hop <address:IP>",
     "Set the next hop", {TERM, kAction, "Set the next hop", "Next hop address"}, Negatable::yes, kBoth},
    {int(Cmd::NextHopSelf), "action", "bgp policy <policy:WORD> term <term:UINT(1-65535)> action next-hop-self",
     "Set the next hop to our address on the session", {TERM, kAction, "Next hop: our address on the session"},
     Negatable::yes, kBoth},
    {int(Cmd::Prepend), "action",
     "bgp policy <policy:WORD> term <term:UINT(1-65535)> action as-path prepend <asn:UINT(1-4294967295)> [count <count:UINT(1-16)>]",
     "Prepend an AS to the path, once or COUNT times",
     {TERM, kAction, "Change the AS path", "Prepend an AS", "AS number", "How many times", "Count (1-16)"},
     Negatable::yes, kBoth},
};
// clang-format on
#undef TERM
const cmd::CommandRegistration kConfigGroup{{"bgp-policy", 96, kRows}};

struct WellKnown {
    std::string_view name;
    uint32_t value;
};
constexpr WellKnown kWellKnown[] = {
    {"no-export", 0xFFFFFF01},       {"no-advertise", 0xFFFFFF02}, {"no-export-subconfed", 0xFFFFFF03},
    {"no-peer", 0xFFFFFF04},         {"blackhole", 0xFFFF029A},    {"graceful-shutdown", 0xFFFF0000},
};

std::optional<uint32_t> parse_u32(std::string_view s, uint64_t max) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v > max) return std::nullopt;
    return uint32_t(v);
}

std::optional<uint32_t> parse_community(std::string_view s) {
    for (auto& w : kWellKnown)
        if (w.name == s) return w.value;
    const size_t colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto hi = parse_u32(s.substr(0, colon), 0xffff), lo = parse_u32(s.substr(colon + 1), 0xffff);
    if (!hi || !lo) return std::nullopt;
    return *hi << 16 | *lo;
}

std::string community_text(uint32_t c) {
    for (auto& w : kWellKnown)
        if (w.value == c) return std::string(w.name);
    return fmt::format("{}:{}", c >> 16, c & 0xffff);
}

std::optional<LargeCommunity> parse_large(std::string_view s) {
    const size_t a = s.find(':');
    const size_t b = a == std::string_view::npos ? a : s.find(':', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    auto g = parse_u32(s.substr(0, a), 0xffffffff), l1 = parse_u32(s.substr(a + 1, b - a - 1), 0xffffffff),
         l2 = parse_u32(s.substr(b + 1), 0xffffffff);
    if (!g || !l1 || !l2) return std::nullopt;
    return LargeCommunity{*g, *l1, *l2};
}

std::string large_text(const LargeCommunity& c) { return fmt::format("{}:{}:{}", c.global, c.local1, c.local2); }

const char* aspa_text(rpki::AspaValidity v) {
    switch (v) {
        case rpki::AspaValidity::valid: return "valid";
        case rpki::AspaValidity::invalid: return "invalid";
        case rpki::AspaValidity::unknown: return "unknown";
    }
    return "?";
}

// Adds `v` to `list` (add) or removes it (negated); false when a removal finds nothing.
template <typename T>
bool edit_list(std::vector<T>& list, const T& v, bool negated) {
    auto it = std::find(list.begin(), list.end(), v);
    if (negated) {
        if (it == list.end()) return false;
        list.erase(it);
    } else if (it == list.end()) {
        list.push_back(v);
    }
    return true;
}

std::string render_term(const std::string& name, uint32_t number, const PolicyTerm& t) {
    const std::string head = fmt::format("bgp policy {} term {}", name, number);
    std::string out = head + "\n";
    if (t.prefix_list) out += fmt::format("{} match prefix-list {}\n", head, *t.prefix_list);
    for (Asn a : t.path_contains) out += fmt::format("{} match as-path contains {}\n", head, a);
    if (t.origin_as) out += fmt::format("{} match as-path origin {}\n", head, *t.origin_as);
    if (t.neighbor_as) out += fmt::format("{} match as-path neighbor {}\n", head, *t.neighbor_as);
    if (t.path_length_ge) out += fmt::format("{} match as-path length-ge {}\n", head, *t.path_length_ge);
    if (t.path_length_le) out += fmt::format("{} match as-path length-le {}\n", head, *t.path_length_le);
    for (uint32_t c : t.communities) out += fmt::format("{} match community {}\n", head, community_text(c));
    for (auto& c : t.large_communities) out += fmt::format("{} match large-community {}\n", head, large_text(c));
    if (t.rpki) out += fmt::format("{} match rpki {}\n", head, rpki::origin_validity_name(*t.rpki));
    if (t.aspa) out += fmt::format("{} match aspa {}\n", head, aspa_text(*t.aspa));
    if (t.set_local_pref) out += fmt::format("{} action local-pref {}\n", head, *t.set_local_pref);
    if (t.set_med) out += fmt::format("{} action med {}\n", head, *t.set_med);
    for (uint32_t c : t.add_communities) out += fmt::format("{} action community add {}\n", head, community_text(c));
    for (uint32_t c : t.remove_communities)
        out += fmt::format("{} action community remove {}\n", head, community_text(c));
    for (auto& c : t.add_large_communities) out += fmt::format("{} action large-community add {}\n", head, large_text(c));
    for (auto& c : t.remove_large_communities)
        out += fmt::format("{} action large-community remove {}\n", head, large_text(c));
    if (t.set_next_hop) out += fmt::format("{} action next-hop {}\n", head, t.set_next_hop->str());
    if (t.next_hop_self) out += fmt::format("{} action next-hop-self\n", head);
    if (t.prepend_as)
        out += t.prepend_count == 1 ? fmt::format("{} action as-path prepend {}\n", head, *t.prepend_as)
                                    : fmt::format("{} action as-path prepend {} count {}\n", head, *t.prepend_as,
                                                  t.prepend_count);
    if (t.disposition == PolicyTerm::Disposition::accept) out += head + " action accept\n";
    if (t.disposition == PolicyTerm::Disposition::reject) out += head + " action reject\n";
    return out;
}

std::string render_bgp_policy(const RunningConfig& config, bool) {
    const bgp::BgpPolicyConfig& c = config.bgp_policy;
    if (c.prefix_lists.empty() && c.policies.empty()) return {};
    std::string out = "!\n";
    for (auto& [name, list] : c.prefix_lists)
        for (auto& [seq, e] : list) {
            out += fmt::format("bgp prefix-list {} seq {} {} {}", name, seq, e.permit ? "permit" : "deny", e.prefix.str());
            if (e.ge) out += fmt::format(" ge {}", *e.ge);
            if (e.le) out += fmt::format(" le {}", *e.le);
            out += "\n";
        }
    for (auto& [name, def] : c.policies) {
        out += fmt::format("bgp policy {}\n", name);
        for (auto& [number, term] : def.terms) out += render_term(name, number, term);
    }
    return out;
}

std::optional<std::string> apply_prefix_list(bgp::BgpPolicyConfig& c, const cmd::Parsed& p) {
    const std::string& name = p.word("list");
    const uint32_t seq = p.number("seq");
    if (!p.has("permit") && !p.has("deny")) return std::string("say permit or deny");
    bgp::PrefixListEntry e;
    e.permit = p.has("permit");
    e.prefix = p.prefix("prefix").network();
    const unsigned bits = e.prefix.addr.bits();
    if (p.has_arg("ge")) e.ge = uint8_t(p.number("ge"));
    if (p.has_arg("le")) e.le = uint8_t(p.number("le"));
    if ((e.ge && (*e.ge > bits || *e.ge < e.prefix.len)) || (e.le && (*e.le > bits || *e.le < e.prefix.len)))
        return fmt::format("ge and le must lie between {}'s length {} and {}", e.prefix.str(), e.prefix.len, bits);
    if (e.ge && e.le && *e.ge > *e.le) return fmt::format("ge {} is greater than le {}", *e.ge, *e.le);
    if (p.negated) {
        auto list = c.prefix_lists.find(name);
        if (list == c.prefix_lists.end() || !list->second.count(seq) || !(list->second.at(seq) == e))
            return fmt::format("prefix-list {} has no such entry seq {}", shown(name), seq);
        list->second.erase(seq);
        if (list->second.empty()) c.prefix_lists.erase(list);
        return std::nullopt;
    }
    if (auto bad = check_name("prefix-list", name)) return bad;
    c.prefix_lists[name][seq] = e;
    return std::nullopt;
}

std::optional<std::string> list_user(const bgp::BgpPolicyConfig& c, const std::string& list) {
    for (auto& [name, def] : c.policies)
        for (auto& [n, t] : def.terms)
            if (t.prefix_list == list)
                return fmt::format("prefix-list {} is used by bgp policy {} term {}", list, name, n);
    return std::nullopt;
}

std::optional<std::string> apply_prefix_list_delete(bgp::BgpPolicyConfig& c, const cmd::Parsed& p) {
    if (!p.negated) return std::string("say permit or deny and a prefix");
    const std::string& name = p.word("list");
    auto list = c.prefix_lists.find(name);
    if (list == c.prefix_lists.end()) return fmt::format("unknown prefix-list {}", shown(name));
    if (p.has_arg("seq")) {
        if (!list->second.erase(p.number("seq")))
            return fmt::format("prefix-list {} has no entry seq {}", name, p.number("seq"));
        if (!list->second.empty()) return std::nullopt;
    }
    if (auto user = list_user(c, name)) return user;
    c.prefix_lists.erase(list);
    return std::nullopt;
}

// A term line: finds (or, adding, creates) the policy's term and changes it.
std::optional<std::string> apply_term(bgp::BgpPolicyConfig& c, const cmd::Parsed& p) {
    const std::string& name = p.word("policy");
    const uint32_t number = p.number("term");
    const bool no = p.negated;
    auto def = c.policies.find(name);
    if (no && (def == c.policies.end() || !def->second.terms.count(number)))
        return fmt::format("bgp policy {} has no term {}", shown(name), number);
    if (!no) {
        if (auto bad = check_name("policy", name)) return bad;
    }
    PolicyTerm t = no ? def->second.terms.at(number) : (def == c.policies.end() || !def->second.terms.count(number)
                                                            ? PolicyTerm{}
                                                            : def->second.terms.at(number));
    // "term 20 of from-customer has no action med 3": the line's own words after the term.
    const std::string_view line = p.line;
    size_t words = line.find(" match ");
    if (words == std::string_view::npos) words = line.find(" action ");
    const std::string_view what = words == std::string_view::npos ? line : line.substr(words + 1);
    auto absent = [&](auto&&...) { return fmt::format("term {} of {} has no {}", number, name, what); };
    auto set_or_clear = [&](auto& field, auto value, std::string_view what) -> std::optional<std::string> {
        if (no) {
            if (field != value) return absent(what);
            field.reset();
        } else {
            field = value;
        }
        return std::nullopt;
    };
    std::optional<std::string> bad;
    switch (Cmd(p.tag())) {
        case Cmd::MatchPrefixList: {
            const std::string& list = p.word("list");
            if (!no && !c.prefix_lists.count(list)) return fmt::format("unknown prefix-list {}", shown(list));
            bad = set_or_clear(t.prefix_list, std::optional<std::string>(list), "match prefix-list " + list);
            break;
        }
        case Cmd::MatchAsPath: {
            const uint32_t v = p.number("value");
            if (p.has("contains")) {
                if (!edit_list(t.path_contains, Asn(v), no)) bad = absent(fmt::format("match as-path contains {}", v));
            } else if (p.has("origin")) {
                bad = set_or_clear(t.origin_as, std::optional<Asn>(v), "that origin match");
            } else if (p.has("neighbor")) {
                bad = set_or_clear(t.neighbor_as, std::optional<Asn>(v), "that neighbor match");
            } else if (p.has("length-ge")) {
                bad = set_or_clear(t.path_length_ge, std::optional<uint32_t>(v), "that length match");
            } else if (p.has("length-le")) {
                bad = set_or_clear(t.path_length_le, std::optional<uint32_t>(v), "that length match");
            } else {
                return std::string("say contains, origin, neighbor, length-ge or length-le");
            }
            break;
        }
        case Cmd::MatchCommunity:
        case Cmd::Community: {
            auto v = parse_community(p.word("community"));
            if (!v) return fmt::format("bad community {}: ASN:VALUE (each 0-65535) or a well-known name",
                                       shown(p.word("community")));
            std::vector<uint32_t>* list = &t.communities;
            if (Cmd(p.tag()) == Cmd::Community) {
                if (!p.has("add") && !p.has("remove")) return std::string("say add or remove");
                list = p.has("add") ? &t.add_communities : &t.remove_communities;
            }
            if (!edit_list(*list, *v, no)) bad = absent("community " + community_text(*v));
            break;
        }
        case Cmd::MatchLargeCommunity:
        case Cmd::LargeCommunityAction: {
            auto v = parse_large(p.word("community"));
            if (!v) return fmt::format("bad large community {}: GLOBAL:LOCAL1:LOCAL2", shown(p.word("community")));
            std::vector<LargeCommunity>* list = &t.large_communities;
            if (Cmd(p.tag()) == Cmd::LargeCommunityAction) {
                if (!p.has("add") && !p.has("remove")) return std::string("say add or remove");
                list = p.has("add") ? &t.add_large_communities : &t.remove_large_communities;
            }
            if (!edit_list(*list, *v, no)) bad = absent("large-community " + large_text(*v));
            break;
        }
        case Cmd::MatchRpki: {
            std::optional<rpki::OriginValidity> v;
            if (p.has("valid")) v = rpki::OriginValidity::valid;
            if (p.has("invalid")) v = rpki::OriginValidity::invalid;
            if (p.has("not-found")) v = rpki::OriginValidity::not_found;
            if (!v) return std::string("say valid, invalid or not-found");
            bad = set_or_clear(t.rpki, v, "that rpki match");
            break;
        }
        case Cmd::MatchAspa: {
            std::optional<rpki::AspaValidity> v;
            if (p.has("valid")) v = rpki::AspaValidity::valid;
            if (p.has("invalid")) v = rpki::AspaValidity::invalid;
            if (p.has("unknown")) v = rpki::AspaValidity::unknown;
            if (!v) return std::string("say valid, invalid or unknown");
            bad = set_or_clear(t.aspa, v, "that aspa match");
            break;
        }
        case Cmd::Disposition: {
            PolicyTerm::Disposition d = PolicyTerm::Disposition::next;
            if (p.has("accept")) d = PolicyTerm::Disposition::accept;
            else if (p.has("reject")) d = PolicyTerm::Disposition::reject;
            else if (!p.has("next")) return std::string("say accept, reject or next");
            if (no) {
                if (t.disposition != d) return absent("such action");
                t.disposition = PolicyTerm::Disposition::next;
            } else {
                t.disposition = d;
            }
            break;
        }
        case Cmd::LocalPref:
            bad = set_or_clear(t.set_local_pref, std::optional<uint32_t>(p.number("value")), "that local-pref action");
            break;
        case Cmd::Med: bad = set_or_clear(t.set_med, std::optional<uint32_t>(p.number("value")), "that med action"); break;
        case Cmd::NextHop: bad = set_or_clear(t.set_next_hop, std::optional<IpAddr>(p.ip("address")), "that next-hop"); break;
        case Cmd::NextHopSelf:
            if (no && !t.next_hop_self) return absent("next-hop-self");
            t.next_hop_self = !no;
            break;
        case Cmd::Prepend: {
            const uint8_t count = p.has_arg("count") ? uint8_t(p.number("count")) : 1;
            if (no) {
                if (t.prepend_as != p.number("asn") || (p.has_arg("count") && t.prepend_count != count))
                    return absent("that prepend");
                t.prepend_as.reset();
                t.prepend_count = 1;
            } else {
                t.prepend_as = p.number("asn");
                t.prepend_count = count;
            }
            break;
        }
        default: return std::string("not a term line");
    }
    if (bad) return bad;
    c.policies[name].terms[number] = std::move(t);
    return std::nullopt;
}

class BgpPolicySection final : public Section {
public:
    BgpPolicySection() : Section("bgp-policy", 96) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        bgp::BgpPolicyConfig& pc = cfg.bgp_policy;
        switch (Cmd(c.tag())) {
            case Cmd::PrefixList: return apply_prefix_list(pc, c);
            case Cmd::PrefixListDelete: return apply_prefix_list_delete(pc, c);
            case Cmd::Policy: {
                const std::string& name = c.word("policy");
                auto def = pc.policies.find(name);
                if (c.negated) {
                    if (def == pc.policies.end()) return fmt::format("unknown bgp policy {}", shown(name));
                    if (c.has_arg("term")) {
                        if (!def->second.terms.erase(c.number("term")))
                            return fmt::format("bgp policy {} has no term {}", name, c.number("term"));
                    } else {
                        pc.policies.erase(def);
                    }
                    return std::nullopt;
                }
                if (auto bad = check_name("policy", name)) return bad;
                auto& created = pc.policies[name];
                if (c.has_arg("term")) created.terms.try_emplace(c.number("term"));
                return std::nullopt;
            }
            default: return apply_term(pc, c);
        }
    }
    // Policies reach the routes through the BGP protocol (soft reconfiguration), not the FIB publisher.
    ChangeSet changes(const cmd::Parsed&) const override { return no_route_change(); }
    std::vector<RenderPart> render_parts() const override { return {{45, render_bgp_policy}}; }
};

const BgpPolicySection kSection;

}  // namespace
}  // namespace rampart::config
