// rampart-cli: the operator's shell for rampartd.
//
//   rampart-cli [-s SOCKET] [-c COMMAND]...
//
// With -c, runs each command in turn. Without -c and with stdin not a
// terminal, runs the commands read from stdin, one per line. Otherwise opens
// an interactive prompt with history, TAB completion and '?' help, all
// answered by rampartd so that they always match the daemon's grammar.
//
// Exit status: 0 all commands succeeded, 1 some command failed, 2 rampartd
// unreachable or the connection was lost, 64 bad usage.
#include <getopt.h>
#include <histedit.h>
#include <pwd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "cli/cli_client.hpp"
#include "common/command.hpp"

namespace {

using rampart::cli::Client;

constexpr int kExitOk = 0;
constexpr int kExitCommandFailed = 1;
constexpr int kExitNoDaemon = 2;
constexpr int kExitUsage = 64;

struct Options {
    std::string socket_path;
    std::vector<std::string> commands;
};

void print_usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: rampart-cli [-s SOCKET] [-c COMMAND]...\n"
                 "  -s, --socket SOCKET    rampartd CLI socket (default $RAMPART_SOCKET or %s)\n"
                 "  -c, --command COMMAND  run COMMAND and exit; may be repeated\n"
                 "  -h, --help             show this help\n"
                 "Without -c, commands are read from stdin when it is not a terminal.\n",
                 rampart::cli::kDefaultSocketPath);
}

std::optional<Options> parse_options(int argc, char** argv) {
    Options options;
    if (const char* env = std::getenv("RAMPART_SOCKET"); env && *env) options.socket_path = env;
    if (options.socket_path.empty()) options.socket_path = rampart::cli::kDefaultSocketPath;

    static const option kLongOptions[] = {
        {"socket", required_argument, nullptr, 's'},
        {"command", required_argument, nullptr, 'c'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "s:c:h", kLongOptions, nullptr)) != -1) {
        switch (opt) {
            case 's': options.socket_path = optarg; break;
            case 'c': options.commands.emplace_back(optarg); break;
            case 'h': print_usage(stdout); std::exit(kExitOk);
            default: return std::nullopt;
        }
    }
    if (optind != argc) {
        std::fprintf(stderr, "rampart-cli: unexpected argument '%s' (quote a command and pass it with -c)\n",
                     argv[optind]);
        return std::nullopt;
    }
    return options;
}

void print_text(std::FILE* out, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), out);
    if (!text.empty() && text.back() != '\n') std::fputc('\n', out);
    std::fflush(out);
}

// Thrown when rampartd can no longer be reached; ends the session.
struct ConnectionLost : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Runs one command and prints its output, or its error after `error_prefix`.
// Returns whether it succeeded.
bool run_command(Client& client, const std::string& line, std::string_view error_prefix) {
    rampart::cli::Reply reply;
    try {
        reply = client.exec(line);
    } catch (const std::invalid_argument& e) {
        reply = {false, e.what()};
    } catch (const std::exception& e) {
        throw ConnectionLost(e.what());
    }
    if (reply.ok) {
        print_text(stdout, reply.text);
    } else {
        std::fflush(stdout);
        print_text(stderr, rampart::cli::error_text(error_prefix, reply.text));
    }
    return reply.ok;
}

int run_commands(Client& client, const std::vector<std::string>& commands) {
    bool all_ok = true;
    for (const auto& command : commands)
        if (!run_command(client, command, fmt::format("rampart-cli: '{}': ", command))) all_ok = false;
    return all_ok ? kExitOk : kExitCommandFailed;
}

int run_batch(Client& client, std::istream& in) {
    bool all_ok = true;
    std::string line;
    for (size_t line_no = 1; std::getline(in, line); ++line_no) {
        if (rampart::cmd::is_blank_or_comment(line)) continue;
        if (!run_command(client, line, fmt::format("rampart-cli: line {}: ", line_no))) all_ok = false;
    }
    return all_ok ? kExitOk : kExitCommandFailed;
}

// ---------------------------------------------------------------------------
// Interactive shell on libedit
// ---------------------------------------------------------------------------

std::string history_path() {
    const char* home = std::getenv("HOME");
    if (!home || !*home) {
        const passwd* pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : nullptr;
    }
    return home ? std::string(home) + "/.rampart_history" : std::string();
}

// The token being typed: what follows the last blank ("" after a blank).
std::string_view token_being_typed(std::string_view line) {
    auto blank = line.find_last_of(" \t");
    return blank == std::string_view::npos ? line : line.substr(blank + 1);
}

bool inside_quotes(std::string_view line) {
    bool open = false;
    for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\' && open) {
            ++i;
        } else if (line[i] == '"') {
            open = !open;
        }
    }
    return open;
}

std::string common_prefix(const std::vector<std::string>& words) {
    std::string prefix = words.front();
    for (const auto& w : words) {
        auto mismatch = std::mismatch(prefix.begin(), prefix.end(), w.begin(), w.end());
        prefix.erase(mismatch.first, prefix.end());
    }
    return prefix;
}

void print_columns(const std::vector<std::string>& words) {
    winsize ws{};
    size_t terminal_width = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    size_t width = 0;
    for (const auto& w : words) width = std::max(width, w.size());
    width += 2;
    size_t columns = std::max<size_t>(1, terminal_width / width);
    std::string out;
    for (size_t i = 0; i < words.size(); ++i) {
        bool last_in_row = (i + 1) % columns == 0 || i + 1 == words.size();
        out += last_in_row ? words[i] + "\n" : fmt::format("{:<{}}", words[i], width);
    }
    print_text(stdout, out);
}

class Shell {
public:
    Shell(Client& client, const char* program) : client_(client), history_file_(history_path()) {
        editor_ = el_init(program, stdin, stdout, stderr);
        history_ = history_init();
        HistEvent ev;
        history(history_, &ev, H_SETSIZE, 1000);
        history(history_, &ev, H_SETUNIQUE, 1);
        if (!history_file_.empty()) history(history_, &ev, H_LOAD, history_file_.c_str());

        el_set(editor_, EL_CLIENTDATA, this);
        el_set(editor_, EL_PROMPT, &Shell::prompt);
        el_set(editor_, EL_EDITOR, "emacs");
        el_set(editor_, EL_SIGNAL, 1);  // restore the terminal if a signal kills us
        el_set(editor_, EL_HIST, history, history_);
        el_set(editor_, EL_ADDFN, "rampart-help", "Show what can come next", &Shell::on_help_key);
        el_set(editor_, EL_ADDFN, "rampart-complete", "Complete the current token", &Shell::on_tab_key);
        el_set(editor_, EL_BIND, "?", "rampart-help", nullptr);
        el_set(editor_, EL_BIND, "^I", "rampart-complete", nullptr);
        el_source(editor_, nullptr);  // ~/.editrc may still override the bindings
    }

    ~Shell() {
        history_end(history_);
        el_end(editor_);
    }
    Shell(const Shell&) = delete;
    Shell& operator=(const Shell&) = delete;

    int run() {
        for (;;) {
            int count = 0;
            const char* raw = el_gets(editor_, &count);
            if (!raw || count <= 0) {  // Ctrl-D
                std::fputc('\n', stdout);
                return kExitOk;
            }
            std::string line(raw);
            while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
            if (rampart::cmd::is_blank_or_comment(line)) continue;
            auto trimmed = line.substr(line.find_first_not_of(" \t"));
            trimmed.erase(trimmed.find_last_not_of(" \t") + 1);
            if (trimmed == "exit" || trimmed == "quit") return kExitOk;
            remember(line);
            run_command(client_, line, "% ");
        }
    }

private:
    static const char* prompt(EditLine*) { return "rampart> "; }

    static Shell& of(EditLine* editor) {
        void* self = nullptr;
        el_get(editor, EL_CLIENTDATA, &self);
        return *static_cast<Shell*>(self);
    }

    std::string line_before_cursor() const {
        const LineInfo* info = el_line(editor_);
        return std::string(info->buffer, info->cursor);
    }

    void remember(const std::string& line) {
        HistEvent ev;
        // Keys never reach the history file (or the in-memory history).
        const std::string safe = rampart::cmd::redact_secrets(line);
        history(history_, &ev, H_ENTER, safe.c_str());
        if (!history_file_.empty()) history(history_, &ev, H_SAVE, history_file_.c_str());
    }

    static unsigned char on_help_key(EditLine* editor, int) {
        Shell& shell = of(editor);
        auto line = shell.line_before_cursor();
        if (inside_quotes(line)) {  // a '?' inside a description is just text
            el_insertstr(editor, "?");
            return CC_REFRESH;
        }
        std::fputc('\n', stdout);
        try {
            print_text(stdout, shell.client_.help(line));
        } catch (const std::exception& e) {
            print_text(stderr, fmt::format("% {}", e.what()));
        }
        return CC_REDISPLAY;
    }

    static unsigned char on_tab_key(EditLine* editor, int) {
        Shell& shell = of(editor);
        auto line = shell.line_before_cursor();
        std::vector<std::string> candidates;
        try {
            candidates = shell.client_.complete(line);
        } catch (const std::exception& e) {
            std::fputc('\n', stdout);
            print_text(stderr, fmt::format("% {}", e.what()));
            return CC_REDISPLAY;
        }
        auto partial = token_being_typed(line);
        std::erase_if(candidates, [&](const std::string& c) { return !c.starts_with(partial); });
        if (candidates.empty()) return CC_ERROR;  // beep
        if (candidates.size() == 1) {
            el_insertstr(editor, (candidates.front().substr(partial.size()) + " ").c_str());
            return CC_REFRESH;
        }
        auto prefix = common_prefix(candidates);
        if (prefix.size() > partial.size()) el_insertstr(editor, prefix.substr(partial.size()).c_str());
        std::fputc('\n', stdout);
        print_columns(candidates);
        return CC_REDISPLAY;
    }

    Client& client_;
    std::string history_file_;
    EditLine* editor_ = nullptr;
    History* history_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
    auto options = parse_options(argc, argv);
    if (!options) {
        print_usage(stderr);
        return kExitUsage;
    }

    std::optional<Client> client;
    try {
        client.emplace(options->socket_path);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "rampart-cli: %s\n", e.what());
        return kExitNoDaemon;
    }

    try {
        if (!options->commands.empty()) return run_commands(*client, options->commands);
        if (!isatty(STDIN_FILENO)) return run_batch(*client, std::cin);
        return Shell(*client, argv[0]).run();
    } catch (const ConnectionLost& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "rampart-cli: lost connection to rampartd: %s\n", e.what());
        return kExitNoDaemon;
    }
}
