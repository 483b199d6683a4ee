// A blocking connection to rampartd's CLI socket: what rampart-cli (and the
// tests) use to send requests. Protocol: common/cli_protocol.hpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/cli_protocol.hpp"

namespace rampart::cli {

inline constexpr const char* kDefaultSocketPath = "/run/rampart/rampartd.sock";

class Client {
public:
    // Throws std::system_error carrying connect()'s errno; what() reads
    // "cannot connect to <path>: <strerror>".
    explicit Client(const std::string& socket_path);
    ~Client();
    Client(Client&& other) noexcept;
    Client& operator=(Client&& other) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Sends one request and waits for its reply. Throws std::invalid_argument
    // for a line that cannot be sent (contains '\n' or is too long),
    // std::system_error when the connection fails or rampartd closes it, and
    // std::runtime_error for a malformed reply.
    Reply call(Verb verb, std::string_view line);

    Reply exec(std::string_view line) { return call(Verb::exec, line); }
    // Candidates for the last token of `line` (empty on error).
    std::vector<std::string> complete(std::string_view line);
    // The '?' text for `line` (or the error text).
    std::string help(std::string_view line);

private:
    void send_all(const std::string& bytes);
    Reply receive_reply();

    int fd_ = -1;
    std::string received_;  // bytes read past the end of the last reply
};

// A failed reply as rampart-cli prints it: `prefix` ("% " in the shell,
// "rampart-cli: line 3: " in batch mode) before the text. rampartd's errors
// start with "% " already; that one is not doubled.
std::string error_text(std::string_view prefix, std::string_view text);

}  // namespace rampart::cli
