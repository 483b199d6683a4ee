// A control protocol on the control core, as BIRD's `struct protocol`: a table
// of callbacks the daemon's event loop drives. The daemon creates every
// registered protocol once the startup configuration is installed, then
//   - reconfigure(): after that and after every change of the running
//     configuration (the protocol starts, stops or adapts itself);
//   - fds() / on_readable(): its sockets are polled with the loop's;
//   - tick(): its timers, after every wakeup of the loop (at least every 20 ms);
//   - exec(): the exec-only commands of its config section (`show ike ...`);
//   - stop(): before the daemon exits (tell the peers, take out what it installed).
// `rampartd --check-config` prints each protocol's summary line.
//
// A protocol registers itself from its own file with a static
// ProtocolRegistration (the file is in the link_whole `protocols` library,
// src/slowpath/meson.build); see src/slowpath/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/command.hpp"
#include "slowpath/command_result.hpp"
#include "slowpath/config_model.hpp"

namespace rampart {

class Control;

class Protocol {
public:
    virtual ~Protocol() = default;
    virtual void reconfigure(const RunningConfig& config) = 0;
    virtual void stop() = 0;
    virtual std::vector<int> fds() const = 0;
    virtual void on_readable(int fd) = 0;
    virtual void tick(uint64_t now_tsc) = 0;
    virtual CommandResult exec(const cmd::Parsed& c) = 0;
};

struct ProtocolInfo {
    std::string_view name;     // e.g. "ike"
    std::string_view section;  // the config section whose exec commands it answers
    std::unique_ptr<Protocol> (*create)(Control& control);
    // One line for --check-config ("" when the configuration has none of it).
    std::string (*summary)(const RunningConfig& config);
};

void register_protocol(const ProtocolInfo& info);
const std::vector<const ProtocolInfo*>& protocols();  // by name

struct ProtocolRegistration {
    explicit ProtocolRegistration(const ProtocolInfo& info) { register_protocol(info); }
};

}  // namespace rampart
