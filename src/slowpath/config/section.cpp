#include "slowpath/config/section.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace rampart::config {
namespace {

struct Registry {
    std::vector<const Section*> sections;
    bool sorted = false;
};

Registry& registry() {
    static Registry r;  // a function static: sections register during static initialisation
    return r;
}

}  // namespace

Section::Section(std::string_view name, int rank) : name_(name), rank_(rank) {
    Registry& r = registry();
    r.sections.push_back(this);
    r.sorted = false;
}

std::optional<std::string> Section::apply(RunningConfig&, const cmd::Parsed&, bool) const {
    return "not a configuration command";
}
ChangeSet Section::changes(const cmd::Parsed&) const { return {}; }
std::optional<std::string> Section::user(const RunningConfig&, Ref, const std::string&) const { return std::nullopt; }
std::optional<std::string> Section::label_owner(const RunningConfig&, uint32_t) const { return std::nullopt; }
void Section::single_labels(const RunningConfig&, std::vector<std::pair<uint32_t, std::string>>&) const {}
std::vector<RenderPart> Section::render_parts() const { return {}; }
void Section::render_interface(const InterfaceConfig&, std::string&) const {}
std::optional<std::string> Section::refuse_live(const Control&, const cmd::Parsed&) const { return std::nullopt; }
std::optional<CommandResult> Section::act_live(Control&, const cmd::Parsed&) const { return std::nullopt; }
std::string Section::on_install(Control&) const { return {}; }
CommandResult Section::exec(Control&, const cmd::Parsed&) const { return {false, "% not a show command\n"}; }

const std::vector<const Section*>& sections() {
    Registry& r = registry();
    if (!r.sorted) {
        std::stable_sort(r.sections.begin(), r.sections.end(), [](const Section* a, const Section* b) {
            return a->rank() != b->rank() ? a->rank() < b->rank() : a->name() < b->name();
        });
        r.sorted = true;
    }
    return r.sections;
}

const Section* section_of(const cmd::Parsed& c) {
    for (const Section* s : sections())
        if (s->name() == c.section()) return s;
    return nullptr;
}

std::optional<std::string> first_user(const RunningConfig& config, Ref what, const std::string& name) {
    for (const Section* s : sections())
        if (auto user = s->user(config, what, name)) return user;
    return std::nullopt;
}

std::optional<std::string> label_owner(const RunningConfig& config, uint32_t label) {
    for (const Section* s : sections())
        if (auto owner = s->label_owner(config, label)) return owner;
    return std::nullopt;
}

std::vector<std::pair<uint32_t, std::string>> single_labels(const RunningConfig& config) {
    std::vector<std::pair<uint32_t, std::string>> out;
    for (const Section* s : sections()) s->single_labels(config, out);
    return out;
}

std::optional<std::string> check_new_label(const RunningConfig& cfg, uint32_t label, const std::string& what) {
    if (label < cfg.mpls.label_lo || label > cfg.mpls.label_hi)
        return fmt::format("label {} for {} is outside the MPLS label range {}-{}", label, what, cfg.mpls.label_lo,
                           cfg.mpls.label_hi);
    if (auto owner = label_owner(cfg, label))
        return fmt::format("label {} for {} is already used by {}", label, what, *owner);
    return std::nullopt;
}

}  // namespace rampart::config
