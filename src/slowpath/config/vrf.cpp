// VRFs: routing tables of their own, with an optional per-VRF VPN label.
#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { Vrf, VrfLabel, ShowVrf };

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::Vrf), "vrf", "vrf <vrf:WORD>", "Create a VRF (no: delete it with its routes)",
     {kVrf, kVrfName}, Negatable::yes, kBoth},
    {int(Cmd::VrfLabel), "label", "vrf <vrf:WORD> label <label:UINT(16-1048575)>",
     "Set the VRF's VPN label: labelled packets carrying it are looked up in the VRF",
     {kVrf, kVrfName, "Per-VRF VPN label (RFC 4364)", "Local label"}, Negatable::yes, kBoth},
};
constexpr cmd::CommandRow kShowRows[] = {
    {int(Cmd::ShowVrf), "show", "show vrf [<vrf:WORD>]", "Show the VRFs, or one VRF in detail",
     {kShow, "VRFs with their interfaces and labels", "Only this VRF, in detail"}, Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"vrf", 40, kRows}};
const cmd::CommandRegistration kShowGroup{{"vrf", 150, kShowRows}};

std::string vrf_label_owner(const std::string& vrf) { return fmt::format("vrf {}'s VPN label", vrf); }

std::string render_vrfs(const RunningConfig& config, bool) {
    std::string out;
    if (!config.vrfs.empty()) out += "!\n";
    for (auto& [name, vrf] : config.vrfs) {
        out += fmt::format("vrf {}\n", name);
        if (vrf.label) out += fmt::format("vrf {} label {}\n", name, *vrf.label);
    }
    return out;
}

class VrfSection final : public Section {
public:
    VrfSection() : Section("vrf", 50) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override;

    ChangeSet changes(const cmd::Parsed& c) const override {
        if (Cmd(c.tag()) == Cmd::Vrf) return all_routes();  // a deleted VRF's routes leave the FIB
        return {};
    }

    std::optional<std::string> label_owner(const RunningConfig& cfg, uint32_t label) const override {
        for (auto& [name, vrf] : cfg.vrfs)
            if (vrf.label == label) return vrf_label_owner(name);
        return std::nullopt;
    }
    void single_labels(const RunningConfig& cfg, std::vector<std::pair<uint32_t, std::string>>& out) const override {
        for (auto& [name, vrf] : cfg.vrfs)
            if (vrf.label) out.emplace_back(*vrf.label, vrf_label_owner(name));
    }

    std::vector<RenderPart> render_parts() const override { return {{20, render_vrfs}}; }

    CommandResult exec(Control& control, const cmd::Parsed& c) const override {
        std::optional<std::string> only;
        if (c.has_arg("vrf")) only = c.word("vrf");  // `vrf` is also the command's keyword
        return show_vrf(control.config(), control.fib(), only);
    }
};

std::optional<std::string> VrfSection::apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const {
    const std::string& name = c.word("vrf");
    auto it = cfg.vrfs.find(name);
    if (Cmd(c.tag()) == Cmd::Vrf) {
        if (c.negated) {
            if (it == cfg.vrfs.end()) return fmt::format("unknown vrf {}", shown(name));
            if (auto user = first_user(cfg, Ref::vrf, name)) return user;
            cfg.vrfs.erase(it);  // its routes and its VPN label go with it
            return std::nullopt;
        }
        if (it != cfg.vrfs.end()) return fmt::format("vrf {} already exists", name);
        if (auto bad = check_name("vrf", name)) return bad;
        cfg.vrfs.emplace(name, VrfConfig{});
        return std::nullopt;
    }
    // Cmd::VrfLabel
    if (it == cfg.vrfs.end()) return fmt::format("unknown vrf {}", shown(name));
    uint32_t label = c.number("label");
    auto& current = it->second.label;
    if (c.negated) {
        if (!current) return fmt::format("vrf {} has no VPN label", name);
        if (*current != label) return fmt::format("vrf {}'s VPN label is {}, not {}", name, *current, label);
        current.reset();
        return std::nullopt;
    }
    if (current == label) return std::nullopt;
    if (auto bad = check_new_label(cfg, label, vrf_label_owner(name))) return bad;
    current = label;
    return std::nullopt;
}


const VrfSection kSection;

}  // namespace
}  // namespace rampart::config
