// MPLS: the local label range, the TTL model (RFC 3443) and static incoming
// labels (ILM entries: swap, pop, lookup in a VRF, drop).
#include <algorithm>

#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { MplsLabelRange, MplsTtlMode, MplsLabel, ShowMplsIlm, ShowMplsFtn, ShowMplsLabel };

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::MplsLabelRange), "label-range", "mpls label-range <lo:UINT(16-1048575)> <hi:UINT(16-1048575)>",
     "Set the range of local labels accepted on the wire",
     {kMpls, "Local labels accepted on the wire; others are dropped", "Lowest label", "Highest label"},
     Negatable::yes, kBoth},
    {int(Cmd::MplsTtlMode), "ttl-mode", "mpls ttl-mode uniform", "Copy the TTL between the IP header and the label stack",
     {kMpls, "How the TTL crosses the label stack (RFC 3443)", "Copy the TTL in and out of the label stack"},
     Negatable::yes, kBoth},
    {int(Cmd::MplsTtlMode), "ttl-mode", "mpls ttl-mode pipe", "Keep the label stack's TTL separate from the IP header's",
     {kMpls, "How the TTL crosses the label stack (RFC 3443)", "Leave the IP TTL alone inside the tunnel"},
     Negatable::yes, kBoth},
    {int(Cmd::MplsLabel), "label",
     "mpls label <in:UINT(16-1048575)> swap <labels:LABELS> via <gateway:IP> [interface <ifname:IFNAME>] "
     "[backup <backup:IP> [backup-interface <backup-ifname:IFNAME>] [backup-labels <backup-labels:LABELS>]]",
     "Add a path that swaps an incoming label for a label stack",
     {kMpls, kMplsLabel, kInLabel, "Swap the label for a label stack and forward",
      "Outgoing labels, top of stack first", kVia, kGateway, kViaIf, kOutInterface, kBackup, kBackupGateway,
      kBackupIf, kOutInterface, kBackupLabels, kBackupStack},
     Negatable::yes, kBoth},
    {int(Cmd::MplsLabel), "label",
     "mpls label <in:UINT(16-1048575)> pop via <gateway:IP> [interface <ifname:IFNAME>] "
     "[backup <backup:IP> [backup-interface <backup-ifname:IFNAME>] [backup-labels <backup-labels:LABELS>]]",
     "Add a path that pops an incoming label and forwards (penultimate hop popping)",
     {kMpls, kMplsLabel, kInLabel, "Pop the label and forward", kVia, kGateway, kViaIf, kOutInterface, kBackup,
      kBackupGateway, kBackupIf, kOutInterface, kBackupLabels, kBackupStack},
     Negatable::yes, kBoth},
    {int(Cmd::MplsLabel), "label", "mpls label <in:UINT(16-1048575)> lookup [vrf <vrf:WORD>]",
     "Pop an incoming label and look the payload up in a VRF or the default table",
     {kMpls, kMplsLabel, kInLabel, "Pop the label and look up what it carried",
      "In a VRF instead of the default table", kVrfName},
     Negatable::yes, kBoth},
    {int(Cmd::MplsLabel), "label", "mpls label <in:UINT(16-1048575)> drop", "Discard packets carrying an incoming label",
     {kMpls, kMplsLabel, kInLabel, "Discard packets carrying this label"}, Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kShowRows[] = {
    {int(Cmd::ShowMplsIlm), "show-ilm", "show mpls ilm", "Show the incoming label map (every local label and its action)",
     {kShow, "MPLS forwarding state", "Incoming label map: every local label and its action"},
     Negatable::no, kExec},
    {int(Cmd::ShowMplsFtn), "show-ftn", "show mpls ftn", "Show the routes that push labels (FEC to NHLFE)",
     {kShow, "MPLS forwarding state", "Routes that push labels (FEC to NHLFE)"}, Negatable::no, kExec},
    {int(Cmd::ShowMplsLabel), "show-label", "show mpls label <label:UINT(0-1048575)>", "Show what one local label does",
     {kShow, "MPLS forwarding state", "One local label", "Label"}, Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"mpls", 50, kRows}};
const cmd::CommandRegistration kShowGroup{{"mpls", 130, kShowRows}};

std::string ilm_owner(uint32_t label) { return fmt::format("static ILM entry mpls label {}", label); }

std::string_view action_name(IlmConfig::Action a) {
    switch (a) {
        case IlmConfig::Action::forward: return "swap/pop";
        case IlmConfig::Action::lookup: return "lookup";
        case IlmConfig::Action::drop: return "drop";
    }
    return "?";
}

std::optional<std::string> apply_label_range(RunningConfig& cfg, const cmd::Parsed& c) {
    uint32_t lo = c.negated ? kMinLabel : c.number("lo");
    uint32_t hi = c.negated ? kMaxLabelValue : c.number("hi");
    if (lo > hi) return fmt::format("label range {}-{} is empty: {} is above {}", lo, hi, lo, hi);
    for (auto& [label, owner] : single_labels(cfg))
        if (label < lo || label > hi)
            return fmt::format("label range {}-{} would leave out label {} ({}); change that first", lo, hi, label,
                               owner);
    if (auto& srgb = cfg.sr.srgb; srgb && (srgb->lo < lo || srgb->hi > hi))
        return fmt::format("label range {}-{} would leave out part of the SRGB {}; change that first", lo, hi,
                           srgb_text(*srgb));
    cfg.mpls.label_lo = lo;
    cfg.mpls.label_hi = hi;
    return std::nullopt;
}

// "via <gateway> [interface <ifname>] [backup ...]" of an ILM path.
std::optional<std::string> read_mpls_path(const RunningConfig& cfg, const cmd::Parsed& c, MplsPath& path) {
    path.gateway = c.ip("gateway");
    if (c.has("ifname")) path.ifname = c.word("ifname");
    if (auto bad = check_interface_exists(cfg, path.ifname)) return bad;
    if (c.has("swap")) path.labels = c.labels("labels");
    if (auto bad = read_backup(cfg, c, path.gateway.family, path.backup)) return bad;
    if (path.backup && path.backup->gateway == path.gateway && path.backup->ifname == path.ifname &&
        path.backup->labels == path.labels)
        return fmt::format("backup {} is the primary path itself", path.backup->gateway.str());
    return std::nullopt;
}

std::optional<std::string> apply_mpls_label(RunningConfig& cfg, const cmd::Parsed& c) {
    uint32_t in = c.number("in");
    IlmConfig::Action action = c.has("lookup") ? IlmConfig::Action::lookup
                               : c.has("drop") ? IlmConfig::Action::drop
                                               : IlmConfig::Action::forward;
    std::string vrf;  // lookup
    MplsPath path;    // forward
    if (action == IlmConfig::Action::lookup && c.has("vrf")) {
        vrf = vrf_ref(c.word("vrf"));
        if (!vrf.empty() && !cfg.vrfs.count(vrf)) return fmt::format("unknown vrf {}", shown(vrf));
    }
    if (action == IlmConfig::Action::forward)
        if (auto bad = read_mpls_path(cfg, c, path)) return bad;

    auto it = cfg.mpls.ilm.find(in);
    if (c.negated) {
        if (it == cfg.mpls.ilm.end()) return fmt::format("no static ILM entry for label {}", in);
        IlmConfig& entry = it->second;
        if (entry.action != action)
            return fmt::format("label {} is a {} entry, not a {} entry", in, action_name(entry.action),
                               action_name(action));
        if (action == IlmConfig::Action::forward) {
            auto pos = std::find(entry.paths.begin(), entry.paths.end(), path);
            if (pos == entry.paths.end()) return fmt::format("label {} has no such path", in);
            entry.paths.erase(pos);
            if (entry.paths.empty()) cfg.mpls.ilm.erase(it);
            return std::nullopt;
        }
        if (action == IlmConfig::Action::lookup && entry.vrf != vrf)
            return fmt::format("label {} looks up in {}, not in {}", in, table_name(entry.vrf), table_name(vrf));
        cfg.mpls.ilm.erase(it);
        return std::nullopt;
    }
    if (it != cfg.mpls.ilm.end() && it->second.action != action)
        return fmt::format("label {} is a {} entry; delete it first", in, action_name(it->second.action));
    if (it == cfg.mpls.ilm.end()) {
        if (auto bad = check_new_label(cfg, in, ilm_owner(in))) return bad;
        IlmConfig entry;
        entry.action = action;
        entry.vrf = vrf;
        if (action == IlmConfig::Action::forward) entry.paths.push_back(std::move(path));
        cfg.mpls.ilm.emplace(in, std::move(entry));
        return std::nullopt;
    }
    IlmConfig& entry = it->second;
    switch (action) {
        case IlmConfig::Action::lookup:
            if (entry.vrf == vrf) return fmt::format("label {} already looks up in {}", in, table_name(vrf));
            return fmt::format("label {} already looks up in {}; delete it first", in, table_name(entry.vrf));
        case IlmConfig::Action::drop: return fmt::format("label {} is already a drop entry", in);
        case IlmConfig::Action::forward: break;
    }
    if (std::find(entry.paths.begin(), entry.paths.end(), path) != entry.paths.end())
        return fmt::format("label {} already has this path", in);
    for (auto& p : entry.paths)
        if (p.gateway == path.gateway && p.ifname == path.ifname)
            return fmt::format("label {} already has a path via {} with other labels or backup; delete it first", in,
                               p.gateway.str());
    if (entry.paths.size() >= kMaxEcmpNextHops)
        return fmt::format("label {} already has {} paths (the ECMP maximum)", in, kMaxEcmpNextHops);
    entry.paths.push_back(std::move(path));
    return std::nullopt;
}


std::string ilm_line(uint32_t label, const IlmConfig& entry, const MplsPath* path) {
    std::string out = fmt::format("mpls label {}", label);
    switch (entry.action) {
        case IlmConfig::Action::forward:
            out += path->labels.empty() ? " pop" : " swap " + labels_text(path->labels);
            out += " via " + path->gateway.str();
            if (!path->ifname.empty()) out += " interface " + path->ifname;
            out += backup_text(path->backup);
            break;
        case IlmConfig::Action::lookup: out += entry.vrf.empty() ? " lookup" : " lookup vrf " + entry.vrf; break;
        case IlmConfig::Action::drop: out += " drop"; break;
    }
    return out + "\n";
}

// The label space first: VRF labels and everything else must fall inside it.
std::string render_label_space(const RunningConfig& config, bool) {
    std::string out;
    const MplsConfig& mpls = config.mpls;
    bool default_range = mpls.label_lo == kMinLabel && mpls.label_hi == kMaxLabelValue;
    if (!default_range || mpls.ttl_mode != TtlMode::uniform) out += "!\n";
    if (!default_range) out += fmt::format("mpls label-range {} {}\n", mpls.label_lo, mpls.label_hi);
    if (mpls.ttl_mode == TtlMode::pipe) out += "mpls ttl-mode pipe\n";
    return out;
}

// Static labels after the interfaces and VRFs their paths name.
std::string render_static_labels(const RunningConfig& config, bool) {
    std::string out;
    if (!config.mpls.ilm.empty()) out += "!\n";
    for (auto& [label, entry] : config.mpls.ilm) {
        if (entry.action == IlmConfig::Action::forward)
            for (auto& path : entry.paths) out += ilm_line(label, entry, &path);
        else
            out += ilm_line(label, entry, nullptr);
    }
    return out;
}

class MplsSection final : public Section {
public:
    MplsSection() : Section("mpls", 40) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        switch (Cmd(c.tag())) {
            case Cmd::MplsLabelRange: return apply_label_range(cfg, c);
            case Cmd::MplsTtlMode:
                cfg.mpls.ttl_mode = !c.negated && c.has("pipe") ? TtlMode::pipe : TtlMode::uniform;
                return std::nullopt;
            case Cmd::MplsLabel: return apply_mpls_label(cfg, c);
            default: return "not an mpls command";
        }
    }

    // Labels, their range and the TTL model: the FIB publisher brings the ILM
    // in line on every publication; no route changes.
    ChangeSet changes(const cmd::Parsed&) const override { return no_route_change(); }

    std::optional<std::string> user(const RunningConfig& cfg, Ref what, const std::string& name) const override {
        for (auto& [label, entry] : cfg.mpls.ilm) {
            if (what == Ref::interface)
                for (auto& path : entry.paths)
                    if (path.ifname == name || (path.backup && path.backup->ifname == name))
                        return fmt::format("mpls label {} uses interface {}; delete the path first", label, name);
            if (what == Ref::vrf && entry.action == IlmConfig::Action::lookup && entry.vrf == name)
                return fmt::format("mpls label {} looks up in vrf {}; delete it first", label, name);
        }
        return std::nullopt;
    }

    std::optional<std::string> label_owner(const RunningConfig& cfg, uint32_t label) const override {
        if (cfg.mpls.ilm.count(label)) return ilm_owner(label);
        return std::nullopt;
    }
    void single_labels(const RunningConfig& cfg, std::vector<std::pair<uint32_t, std::string>>& out) const override {
        for (auto& [label, entry] : cfg.mpls.ilm) out.emplace_back(label, ilm_owner(label));
    }

    std::vector<RenderPart> render_parts() const override {
        return {{10, render_label_space}, {70, render_static_labels}};
    }

    CommandResult exec(Control& control, const cmd::Parsed& c) const override {
        switch (Cmd(c.tag())) {
            case Cmd::ShowMplsIlm: return {true, show_mpls_ilm(control.fib(), control.label_counters())};
            case Cmd::ShowMplsLabel: return show_mpls_label(control.fib(), control.label_counters(), c.number("label"));
            case Cmd::ShowMplsFtn: return {true, show_mpls_ftn(control.config(), control.fib())};
            default: return Section::exec(control, c);
        }
    }
};

const MplsSection kSection;

}  // namespace
}  // namespace rampart::config
