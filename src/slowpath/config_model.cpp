// The centre of the configuration model: a line goes to the section that owns
// it (src/slowpath/config/<feature>.cpp), the running configuration is the
// sections' blocks in dependency order.
#include "slowpath/config_model.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "slowpath/config/section.hpp"

namespace rampart {

// Every section validates before it changes anything, so a failed command
// leaves the configuration as it was without copying it (a million routes
// would make each CLI change cost a copy).
std::optional<std::string> apply_command(RunningConfig& config, const cmd::Parsed& c, bool startup) {
    const config::Section* section = config::section_of(c);
    if (!section || c.scope() == cmd::Scope::exec_only) return "not a configuration command";
    return section->apply(config, c, startup);
}

// Order: what a line refers to comes before it. The MPLS label range (10),
// then VRFs and their labels (20) before anything that binds or allocates
// labels; IPsec (30) and IKE (40) need only the VRFs; interfaces (50), bound
// to their VRF before their addresses, which may repeat across VRFs; segment
// routing (60), with policies before the routes steering into them; static
// labels (70); the default table and the VRF tables (80); ICMP (90); SAV
// lists and files, which name interfaces (100).
std::string render_running_config(const RunningConfig& config, bool with_secrets) {
    std::vector<config::RenderPart> parts;
    for (const config::Section* s : config::sections())
        for (const config::RenderPart& p : s->render_parts()) parts.push_back(p);
    std::stable_sort(parts.begin(), parts.end(), [](auto& a, auto& b) { return a.rank < b.rank; });
    std::string out = "! rampartd running configuration\n";
    for (const config::RenderPart& p : parts) out += p.render(config, with_secrets);
    return out;
}

std::optional<std::string> load_config_text(RunningConfig& config, std::string_view text) {
    RunningConfig candidate = config;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (cmd::is_blank_or_comment(line)) continue;
        auto parsed = cmd::parse(line);
        if (auto* e = std::get_if<cmd::ParseError>(&parsed))
            return fmt::format("line {}: {}: {}", line_no, cmd::redact_secrets(line), e->message);
        const auto& c = std::get<cmd::Parsed>(parsed);
        if (c.scope() == cmd::Scope::exec_only)
            return fmt::format("line {}: {}: '{}' is not allowed in a configuration file", line_no,
                               cmd::redact_secrets(line),
                               c.line.substr(0, c.line.find(' ')));
        if (auto err = apply_command(candidate, c, true))
            return fmt::format("line {}: {}: {}", line_no, cmd::redact_secrets(line), *err);
    }
    config = std::move(candidate);
    return std::nullopt;
}

}  // namespace rampart
