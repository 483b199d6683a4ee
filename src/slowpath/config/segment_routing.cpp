// Segment routing (SR-MPLS): the SRGB, prefix SIDs, neighbours' SRGBs,
// adjacency SIDs and SR policies with their binding SIDs.
#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { SrSrgb, SrPrefixSid, SrNeighborSrgb, SrAdjacencySid, SrPolicy, SrPolicyBindingSid, ShowSegmentRouting };

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::SrSrgb), "srgb", "segment-routing srgb <lo:UINT(16-1048575)> <hi:UINT(16-1048575)>",
     "Set the segment routing global block (the labels of prefix SIDs)",
     {kSr, "Segment routing global block: local labels of prefix SIDs", "Lowest label", "Highest label"},
     Negatable::yes, kBoth},
    {int(Cmd::SrPrefixSid), "prefix-sid", "segment-routing prefix-sid <prefix:PREFIX> index <index:UINT(0-1048575)>",
     "Give a prefix a SID: its label is the SRGB base plus the index",
     {kSr, "Prefix SID (a node SID for a host prefix)", "Prefix the SID stands for, e.g. 192.0.2.1/32",
      "Index into the SRGB", "SID index"},
     Negatable::yes, kBoth},
    {int(Cmd::SrNeighborSrgb), "neighbor-srgb", "segment-routing neighbor-srgb <gateway:IP> <lo:UINT(16-1048575)> <hi:UINT(16-1048575)>",
     "Set a next hop's SRGB when it differs from ours",
     {kSr, "A next hop's SRGB, used to label prefix SIDs sent to it", "Next hop IPv4/IPv6 address",
      "Lowest label", "Highest label"},
     Negatable::yes, kBoth},
    {int(Cmd::SrAdjacencySid), "adjacency-sid", "segment-routing adjacency-sid <label:UINT(16-1048575)> via <gateway:IP> [interface <ifname:IFNAME>]",
     "Add an adjacency SID: pop the label and send to one neighbor",
     {kSr, "Adjacency SID: a local label that pops and sends to one neighbor", "Local label",
      "The adjacency", "Neighbor IPv4/IPv6 address", kViaIf, kOutInterface},
     Negatable::yes, kBoth},
    {int(Cmd::SrPolicy), "policy", "segment-routing policy <policy:WORD> segments <labels:LABELS> via <gateway:IP> [interface <ifname:IFNAME>]",
     "Create or replace an SR policy (no: delete it)",
     {kSr, kPolicy, kPolicyName, "Explicit segment list", "Segment labels, first segment on top",
      "Where the segment list is sent", kGateway, kViaIf, kOutInterface},
     Negatable::yes, kBoth},
    {int(Cmd::SrPolicyBindingSid), "binding-sid", "segment-routing policy <policy:WORD> binding-sid <label:UINT(16-1048575)>",
     "Give an SR policy a binding SID: a local label that steers into it",
     {kSr, kPolicy, kPolicyName, "Binding SID: local label that steers into the policy", "Local label"},
     Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kShowRows[] = {
    {int(Cmd::ShowSegmentRouting), "show", "show segment-routing", "Show the SRGB, SIDs and SR policies",
     {kShow, "SRGB, SIDs and SR policies"}, Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"segment-routing", 60, kRows}};
const cmd::CommandRegistration kShowGroup{{"segment-routing", 140, kShowRows}};

constexpr uint32_t kMaxSrgbSize = 65536;

std::string adjacency_owner(uint32_t label, const MplsPath& p) {
    return fmt::format("adjacency-sid {} via {}", label, p.gateway.str());
}
std::string binding_owner(const std::string& policy) { return fmt::format("policy {}'s binding SID", policy); }

std::optional<std::string> check_block(std::string_view what, uint32_t lo, uint32_t hi) {
    if (lo > hi) return fmt::format("{} {}-{} is empty: {} is above {}", what, lo, hi, lo, hi);
    if (uint64_t(hi) - lo + 1 > kMaxSrgbSize)
        return fmt::format("{} {}-{} has {} labels, at most {}", what, lo, hi, uint64_t(hi) - lo + 1, kMaxSrgbSize);
    return std::nullopt;
}

std::optional<std::string> apply_srgb(RunningConfig& cfg, const cmd::Parsed& c) {
    LabelBlock block{c.number("lo"), c.number("hi")};
    auto& sr = cfg.sr;
    if (c.negated) {
        if (!sr.srgb) return "no SRGB is configured";
        if (*sr.srgb != block) return fmt::format("the SRGB is {}, not {}", srgb_text(*sr.srgb), srgb_text(block));
        if (!sr.prefix_sids.empty())
            return fmt::format("prefix-sid {} uses the SRGB; delete the prefix SIDs first",
                               sr.prefix_sids.begin()->first.str());
        sr.srgb.reset();
        return std::nullopt;
    }
    if (auto bad = check_block("SRGB", block.lo, block.hi)) return bad;
    if (block.lo < cfg.mpls.label_lo || block.hi > cfg.mpls.label_hi)
        return fmt::format("SRGB {} is outside the MPLS label range {}-{}", srgb_text(block), cfg.mpls.label_lo,
                           cfg.mpls.label_hi);
    for (auto& [label, owner] : single_labels(cfg))
        if (label >= block.lo && label <= block.hi)
            return fmt::format("SRGB {} contains label {}, already used by {}", srgb_text(block), label, owner);
    uint32_t size = block.hi - block.lo + 1;
    for (auto& [prefix, index] : sr.prefix_sids)
        if (index >= size)
            return fmt::format("prefix-sid {} index {} does not fit the SRGB {} ({} labels)", prefix.str(), index,
                               srgb_text(block), size);
    sr.srgb = block;
    return std::nullopt;
}

std::optional<std::string> apply_prefix_sid(RunningConfig& cfg, const cmd::Parsed& c) {
    Prefix prefix = c.prefix("prefix").network();
    uint32_t index = c.number("index");
    auto& sids = cfg.sr.prefix_sids;
    auto it = sids.find(prefix);
    if (c.negated) {
        if (it == sids.end()) return fmt::format("no prefix-sid for {}", prefix.str());
        if (it->second != index)
            return fmt::format("prefix-sid {} has index {}, not {}", prefix.str(), it->second, index);
        sids.erase(it);
        return std::nullopt;
    }
    const auto& srgb = cfg.sr.srgb;
    if (!srgb) return fmt::format("prefix-sid {} needs an SRGB; configure segment-routing srgb first", prefix.str());
    uint32_t size = srgb->hi - srgb->lo + 1;
    if (index >= size)
        return fmt::format("index {} is outside the SRGB {} ({} labels, indexes 0-{})", index, srgb_text(*srgb), size,
                           size - 1);
    if (it != sids.end()) {
        if (it->second == index) return fmt::format("prefix-sid {} already has index {}", prefix.str(), index);
        return fmt::format("prefix-sid {} already has index {}; delete it first", prefix.str(), it->second);
    }
    for (auto& [p, i] : sids)
        if (i == index) return fmt::format("index {} is already the prefix-sid of {}", index, p.str());
    sids.emplace(prefix, index);
    return std::nullopt;
}

std::optional<std::string> apply_neighbor_srgb(RunningConfig& cfg, const cmd::Parsed& c) {
    IpAddr gateway = c.ip("gateway");
    LabelBlock block{c.number("lo"), c.number("hi")};
    auto& srgbs = cfg.sr.neighbor_srgbs;
    if (c.negated) {
        auto it = srgbs.find(gateway);
        if (it == srgbs.end()) return fmt::format("no neighbor-srgb for {}", gateway.str());
        if (it->second != block)
            return fmt::format("neighbor {}'s SRGB is {}, not {}", gateway.str(), srgb_text(it->second),
                               srgb_text(block));
        srgbs.erase(it);
        return std::nullopt;
    }
    if (auto bad = check_block("neighbor SRGB", block.lo, block.hi)) return bad;
    srgbs[gateway] = block;
    return std::nullopt;
}

std::optional<std::string> apply_adjacency_sid(RunningConfig& cfg, const cmd::Parsed& c) {
    uint32_t label = c.number("label");
    MplsPath path;
    path.gateway = c.ip("gateway");
    if (c.has("ifname")) path.ifname = c.word("ifname");
    auto& adjs = cfg.sr.adjacency_sids;
    if (c.negated) {
        auto it = adjs.find(label);
        if (it == adjs.end()) return fmt::format("no adjacency-sid {}", label);
        if (it->second != path) return fmt::format("adjacency-sid {} has another next hop", label);
        adjs.erase(it);
        return std::nullopt;
    }
    if (auto bad = check_interface_exists(cfg, path.ifname)) return bad;
    if (auto bad = check_new_label(cfg, label, fmt::format("adjacency-sid {}", label))) return bad;
    adjs.emplace(label, std::move(path));
    return std::nullopt;
}

std::optional<std::string> apply_policy(RunningConfig& cfg, const cmd::Parsed& c) {
    const std::string& name = c.word("policy");
    auto& policies = cfg.sr.policies;
    auto it = policies.find(name);
    if (Cmd(c.tag()) == Cmd::SrPolicy) {
        if (c.negated) {
            if (it == policies.end()) return fmt::format("unknown segment-routing policy {}", shown(name));
            if (auto user = first_user(cfg, Ref::sr_policy, name)) return user;
            policies.erase(it);  // its binding SID goes with it
            return std::nullopt;
        }
        if (it == policies.end())
            if (auto bad = check_name("policy", name)) return bad;
        std::string ifname = c.has("ifname") ? c.word("ifname") : "";
        if (auto bad = check_interface_exists(cfg, ifname)) return bad;
        SrPolicy& policy = policies[name];  // created or replaced; its binding SID stays
        policy.segments = c.labels("labels");
        policy.gateway = c.ip("gateway");
        policy.ifname = std::move(ifname);
        return std::nullopt;
    }
    // Cmd::SrPolicyBindingSid
    if (it == policies.end()) return fmt::format("unknown segment-routing policy {}", shown(name));
    uint32_t label = c.number("label");
    auto& current = it->second.binding_sid;
    if (c.negated) {
        if (current != label) return fmt::format("policy {} has no binding SID {}", name, label);
        current.reset();
        return std::nullopt;
    }
    if (current == label) return std::nullopt;
    if (auto bad = check_new_label(cfg, label, binding_owner(name))) return bad;
    current = label;
    return std::nullopt;
}


std::string render_sr(const RunningConfig& config, bool) {
    std::string out;
    const SegmentRoutingConfig& sr = config.sr;
    if (sr.srgb || !sr.neighbor_srgbs.empty() || !sr.adjacency_sids.empty() || !sr.policies.empty()) out += "!\n";
    if (sr.srgb) out += fmt::format("segment-routing srgb {} {}\n", sr.srgb->lo, sr.srgb->hi);
    for (auto& [p, index] : sr.prefix_sids)
        out += fmt::format("segment-routing prefix-sid {} index {}\n", p.str(), index);
    for (auto& [gateway, block] : sr.neighbor_srgbs)
        out += fmt::format("segment-routing neighbor-srgb {} {} {}\n", gateway.str(), block.lo, block.hi);
    for (auto& [label, path] : sr.adjacency_sids) {
        out += fmt::format("segment-routing adjacency-sid {} via {}", label, path.gateway.str());
        out += path.ifname.empty() ? "\n" : " interface " + path.ifname + "\n";
    }
    for (auto& [name, policy] : sr.policies) {
        out += fmt::format("segment-routing policy {} segments {} via {}", name, labels_text(policy.segments),
                           policy.gateway.str());
        out += policy.ifname.empty() ? "\n" : " interface " + policy.ifname + "\n";
        if (policy.binding_sid)
            out += fmt::format("segment-routing policy {} binding-sid {}\n", name, *policy.binding_sid);
    }
    return out;
}

class SegmentRoutingSection final : public Section {
public:
    SegmentRoutingSection() : Section("segment-routing", 60) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        switch (Cmd(c.tag())) {
            case Cmd::SrSrgb: return apply_srgb(cfg, c);
            case Cmd::SrPrefixSid: return apply_prefix_sid(cfg, c);
            case Cmd::SrNeighborSrgb: return apply_neighbor_srgb(cfg, c);
            case Cmd::SrAdjacencySid: return apply_adjacency_sid(cfg, c);
            case Cmd::SrPolicy:
            case Cmd::SrPolicyBindingSid: return apply_policy(cfg, c);
            default: return "not a segment-routing command";
        }
    }

    ChangeSet changes(const cmd::Parsed& c) const override {
        switch (Cmd(c.tag())) {
            case Cmd::SrPrefixSid: return ChangeSet::route({std::string(), c.prefix("prefix").network()});  // its imposed label
            case Cmd::SrSrgb:          // every prefix-SID label moves
            case Cmd::SrNeighborSrgb:  // labels imposed towards that neighbour move
            case Cmd::SrPolicy:        // routes steered into the policy change
                return all_routes();
            default: return {};
        }
    }

    std::optional<std::string> user(const RunningConfig& cfg, Ref what, const std::string& name) const override {
        if (what != Ref::interface) return std::nullopt;
        for (auto& [label, path] : cfg.sr.adjacency_sids)
            if (path.ifname == name) return fmt::format("adjacency-sid {} uses interface {}; delete it first", label, name);
        for (auto& [policy, p] : cfg.sr.policies)
            if (p.ifname == name)
                return fmt::format("segment-routing policy {} uses interface {}; delete it first", policy, name);
        return std::nullopt;
    }

    std::optional<std::string> label_owner(const RunningConfig& cfg, uint32_t label) const override {
        if (auto& srgb = cfg.sr.srgb; srgb && label >= srgb->lo && label <= srgb->hi) {
            for (auto& [prefix, index] : cfg.sr.prefix_sids)
                if (srgb->lo + index == label)
                    return fmt::format("prefix-sid {} index {} in the SRGB {}", prefix.str(), index, srgb_text(*srgb));
            return fmt::format("the SRGB {}", srgb_text(*srgb));
        }
        if (auto a = cfg.sr.adjacency_sids.find(label); a != cfg.sr.adjacency_sids.end())
            return adjacency_owner(label, a->second);
        for (auto& [name, policy] : cfg.sr.policies)
            if (policy.binding_sid == label) return binding_owner(name);
        return std::nullopt;
    }
    void single_labels(const RunningConfig& cfg, std::vector<std::pair<uint32_t, std::string>>& out) const override {
        for (auto& [label, path] : cfg.sr.adjacency_sids) out.emplace_back(label, adjacency_owner(label, path));
        for (auto& [name, policy] : cfg.sr.policies)
            if (policy.binding_sid) out.emplace_back(*policy.binding_sid, binding_owner(name));
    }

    std::vector<RenderPart> render_parts() const override { return {{60, render_sr}}; }

    CommandResult exec(Control& control, const cmd::Parsed&) const override {
        return {true, show_segment_routing(control.config(), control.fib())};
    }
};

const SegmentRoutingSection kSection;

}  // namespace
}  // namespace rampart::config
