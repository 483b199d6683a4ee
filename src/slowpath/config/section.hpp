// A config section: one feature's part of the command language and of the
// running configuration (BIRD's protocol table, VPP's VLIB_CLI_COMMAND). Each
// lives in its own file under src/slowpath/config/ and registers itself when
// the program starts: its command rows (a cmd::CommandGroup), how its lines
// change the candidate RunningConfig, what of the configuration it refers to
// and refuses to let be deleted, its lines of the running configuration, and
// which parts of the box a change touches (a ChangeSet for the publishers).
// Exec commands (`show ...`) of a section are answered by its exec().
//
// Nothing outside a section names its commands: a section's rows carry its
// own enum as their tag, and the centre dispatches on the section's name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/command.hpp"
#include "slowpath/change_set.hpp"
#include "slowpath/command_result.hpp"
#include "slowpath/config_model.hpp"

namespace rampart {
class Control;
}

namespace rampart::config {

// What configuration refers to by name. A section that holds such a
// reference answers user(); the owner of the name asks first_user() before
// deleting it.
enum class Ref : uint8_t { interface, vrf, sr_policy };

// A block of running-configuration lines. Blocks are written in `rank`
// order, so what a line refers to comes before it (see render_running_config).
struct RenderPart {
    int rank = 0;
    std::string (*render)(const RunningConfig& config, bool with_secrets) = nullptr;
};

class Section {
public:
    // Registers the section (call from a static object's constructor).
    // `rank` orders the sections whenever all of them are asked (references,
    // labels): the first answer wins, so it decides which user an error names.
    Section(std::string_view name, int rank);
    virtual ~Section() = default;
    Section(const Section&) = delete;
    Section& operator=(const Section&) = delete;

    std::string_view name() const { return name_; }
    int rank() const { return rank_; }

    // Applies one of the section's configuration lines to `config`. Checks
    // everything before it changes anything: on error `config` is unchanged
    // and the message names the offending value. `startup`: the line comes
    // from the startup configuration.
    virtual std::optional<std::string> apply(RunningConfig& config, const cmd::Parsed& c, bool startup) const;
    // What an applied line may have changed (default: interfaces and routes, no sweep).
    virtual ChangeSet changes(const cmd::Parsed& c) const;
    // The first thing of this section that uses `name` (an interface, a VRF,
    // an SR policy), said so that the operator knows what to delete first.
    virtual std::optional<std::string> user(const RunningConfig& config, Ref what, const std::string& name) const;
    // Local labels: who of this section owns `label`, and every single label
    // it owns (blocks such as the SRGB only in label_owner).
    virtual std::optional<std::string> label_owner(const RunningConfig& config, uint32_t label) const;
    virtual void single_labels(const RunningConfig& config, std::vector<std::pair<uint32_t, std::string>>& out) const;
    // The section's blocks of the running configuration.
    virtual std::vector<RenderPart> render_parts() const;
    // Lines of this section inside an `interface NAME` block (before `shutdown`).
    virtual void render_interface(const InterfaceConfig& i, std::string& out) const;
    // Live refusals before a CLI line is applied (a name a protocol installed).
    virtual std::optional<std::string> refuse_live(const Control& control, const cmd::Parsed& c) const;
    // A line with a live action besides its configuration (`sav load`): run
    // before the line is applied; a failure leaves the configuration alone.
    virtual std::optional<CommandResult> act_live(Control& control, const cmd::Parsed& c) const;
    // After the startup configuration is installed: its live work (files to
    // load). Returns warnings ("% warning: ...\n" lines).
    virtual std::string on_install(Control& control) const;
    // An exec-only line (`show ...`, `clear ...`).
    virtual CommandResult exec(Control& control, const cmd::Parsed& c) const;

private:
    std::string_view name_;
    int rank_;
};

// ChangeSets sections answer often.
inline ChangeSet no_route_change() {  // no route can have changed
    ChangeSet c;
    c.routes = ChangeSet::Routes::unchanged;
    return c;
}
inline ChangeSet all_routes() {  // every prefix may have changed: the FIB is swept
    ChangeSet c;
    c.routes = ChangeSet::Routes::all;
    return c;
}

// Every registered section by rank; the one owning a parsed line (null: none).
const std::vector<const Section*>& sections();
const Section* section_of(const cmd::Parsed& c);

// Questions asked of every section.
std::optional<std::string> first_user(const RunningConfig& config, Ref what, const std::string& name);
std::optional<std::string> label_owner(const RunningConfig& config, uint32_t label);
std::vector<std::pair<uint32_t, std::string>> single_labels(const RunningConfig& config);
// A label about to be given to `what`: inside the label range and free.
std::optional<std::string> check_new_label(const RunningConfig& config, uint32_t label, const std::string& what);

}  // namespace rampart::config
