// The box as a whole: neighbours, workers, version, the running configuration
// (shown and written), counters. Exec commands only.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { ShowNeighbors, ShowWorkers, ShowRunningConfig, ShowVersion, ClearCounters, WriteConfig };

// clang-format off
constexpr cmd::CommandRow kShowRows[] = {
    {int(Cmd::ShowNeighbors), "show-neighbors", "show neighbors", "Show the ARP/ND neighbor cache",
     {kShow, "ARP/ND neighbor cache"}, Negatable::no, kExec},
    {int(Cmd::ShowWorkers), "show-workers", "show workers", "Show the worker cores and their packet counters",
     {kShow, "Worker cores and their packet counters"}, Negatable::no, kExec},
    {int(Cmd::ShowRunningConfig), "show-running-config", "show running-config [secrets]", "Show the configuration in effect as config lines",
     {kShow, "Configuration in effect, as config lines (keys shown as <secret>)",
      "Show the keys too (the output then loads back)"},
     Negatable::no, kExec},
    {int(Cmd::ShowVersion), "show-version", "show version", "Show the rampartd version",
     {kShow, "rampartd version"}, Negatable::no, kExec},
};
constexpr cmd::CommandRow kActionRows[] = {
    {int(Cmd::ClearCounters), "clear-counters", "clear counters", "Reset the interface and worker counters",
     {"Reset state", "Interface and worker counters"}, Negatable::no, kExec},
    {int(Cmd::WriteConfig), "write-config", "write config <path:WORD>", "Write the running configuration to a file",
     {"Save state", "Running configuration as a config file", "Path of the file to write"},
     Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kShowGroup{{"system", 120, kShowRows}};
const cmd::CommandRegistration kActionGroup{{"system", 190, kActionRows}};

CommandResult write_config(const Control& control, const std::string& path) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << render_running_config(control.config(), true);  // a saved config must load back, keys included
        if (!f) return {false, fmt::format("% cannot write {}\n", tmp)};
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        return {false, fmt::format("% cannot rename {} to {}: {}\n", tmp, path, strerror(errno))};
    return {true, fmt::format("configuration written to {}\n", path)};
}

class SystemSection final : public Section {
public:
    SystemSection() : Section("system", 100) {}

    CommandResult exec(Control& control, const cmd::Parsed& c) const override {
        switch (Cmd(c.tag())) {
            case Cmd::ShowNeighbors: return {true, show_neighbors(control.fib())};
            case Cmd::ShowWorkers: return {true, show_workers(control.worker_rates())};
            case Cmd::ShowRunningConfig: return {true, render_running_config(control.config(), c.has("secrets"))};
            case Cmd::ShowVersion: return {true, control.version_text()};
            case Cmd::ClearCounters: control.clear_counters(); return {true, ""};
            case Cmd::WriteConfig: return write_config(control, c.word("path"));
        }
        return Section::exec(control, c);
    }
};

const SystemSection kSection;

}  // namespace
}  // namespace rampart::config
