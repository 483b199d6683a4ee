// The command language shared by the startup config file and the interactive
// CLI: FRR-like lines such as "interface port0 address 192.0.2.1/24", where a
// leading `no` deletes what the rest of the line would add.
//
// Every command is one row (CommandRow) of the section that owns it
// (src/slowpath/config/<feature>.cpp): a pattern string plus one help line per
// pattern token. Parsing, TAB completion and '?' help are all driven by the
// registered rows, so a new command is one new row in its section.
//
// Pattern syntax:
//   keyword                  literal token, e.g. `interface`, `rate-limit`
//   <name:KIND>              argument captured under `name`; KIND is one of
//                            WORD IFNAME PREFIX PREFIX4 PREFIX6 IP MAC
//                            UINT(lo-hi) LABELS (1-10 MPLS labels "16001/16002/3")
//                            HEX (1-128 bytes as hex digits, optionally after 0x;
//                            key material: always right after the keyword `key`,
//                            never echoed in parse errors)
//                            SECRET (1-255 characters of text key material, e.g. a
//                            quoted pre-shared key; also only right after `key`)
//   [ a b | c ]              optional group with alternatives
//
// Line syntax: tokens are separated by whitespace; a token that starts with a
// double quote runs to the closing quote and may contain spaces (inside it,
// \" and \\ stand for " and \). Control characters are rejected. A line whose
// first non-blank character is `#` or `!` is a comment.
//
// Parsing is total: any byte string yields either Parsed or ParseError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <array>
#include <span>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/net.hpp"

namespace rampart::cmd {

// Whether a leading `no` may delete what a command adds.
enum class Negatable : bool { no = false, yes = true };

// Where a command may be used. Binding a DPDK device happens only when the
// ports are set up at startup; show/clear/write only make sense interactively.
enum class Scope : uint8_t { config_and_exec, config_only, exec_only };

// One command: a pattern plus one help line per pattern token. The section
// that owns it tells its commands apart by `tag` (its own enum, cast), so no
// list of every command exists anywhere.
struct CommandRow {
    int tag = 0;
    std::string_view name;     // stable within the section, e.g. "route"; several rows may share it
    std::string_view pattern;
    std::string_view help;     // what the whole command does; shown next to <cr>
    std::array<std::string_view, 24> token_help;  // one per pattern token, in pattern order
    Negatable negatable = Negatable::yes;
    Scope scope = Scope::config_and_exec;
};

// A section's rows. `listing_rank` orders the groups in completion and help
// listings (and, for lines two patterns could both take, which one wins).
struct CommandGroup {
    std::string_view section;  // e.g. "routes"
    int listing_rank = 0;
    std::span<const CommandRow> rows;
};

// Adds a group to the language. Call before the first parse (a section file
// holds a static CommandRegistration); a group registered later is a bug.
void register_commands(const CommandGroup& group);
// Holds the group it registers: a static object of the section's file.
struct CommandRegistration {
    explicit CommandRegistration(const CommandGroup& g) : group(g) { register_commands(group); }
    CommandRegistration(const CommandRegistration&) = delete;
    CommandRegistration& operator=(const CommandRegistration&) = delete;
    const CommandGroup group;
};

// "section.name" of every registered command, in listing order, each once.
std::vector<std::string> command_ids();
// The scope of the command "section.name" (std::out_of_range if there is none).
Scope scope(std::string_view id);

struct Parsed {
    const CommandGroup* group = nullptr;  // never null in a parsed line
    const CommandRow* row = nullptr;
    std::string_view section() const { return group->section; }
    std::string_view name() const { return row->name; }
    int tag() const { return row->tag; }
    Scope scope() const { return row->scope; }
    std::string id() const;  // "section.name", e.g. "routes.route"
    bool negated = false;  // the line began with `no`
    std::string line;      // normalized: single spaces, canonical values, quoted where needed

    std::vector<std::pair<std::string, std::string>> args;  // (capture name, canonical text)
    std::vector<std::string> keywords;                       // every keyword of the line, in order

    // True if `name` is a captured argument or a keyword of the line, so that
    // has("gateway") tells an optional part and has("blackhole") a flag keyword.
    bool has(std::string_view name) const;
    // True only if `name` is a captured argument (when a keyword of the
    // command has the same name, has() cannot tell them apart).
    bool has_arg(std::string_view name) const;
    // The accessors below throw std::out_of_range if `name` was not captured
    // and std::invalid_argument if the capture is not of the requested kind.
    const std::string& word(std::string_view name) const;
    Prefix prefix(std::string_view name) const;
    IpAddr ip(std::string_view name) const;
    MacAddr mac(std::string_view name) const;
    uint32_t number(std::string_view name) const;
    // LABELS argument: 1 to 10 MPLS label values written "16001/16002/3", top first.
    std::vector<uint32_t> labels(std::string_view name) const;
    // HEX argument: the bytes (canonical text: lower-case hex digits, no 0x).
    std::vector<uint8_t> hex(std::string_view name) const;
};

struct ParseError {
    size_t token_index = 0;  // index of the offending token; token count when the line ended early
    std::string token;       // its text ("" when the line ended early)
    std::string message;     // names the token and what was expected
};

std::variant<Parsed, ParseError> parse(std::string_view line);

// True for blank lines and comments (first non-blank character `#` or `!`).
bool is_blank_or_comment(std::string_view line);

// Live interface names, used to complete IFNAME arguments.
using NameLister = std::function<std::vector<std::string>()>;

// Candidates for the last token of `partial_line` (the empty token when the
// line is empty or ends in whitespace). Only text that can be inserted is
// returned: keywords and interface names, never placeholders like <prefix>.
std::vector<std::string> complete(std::string_view partial_line, const NameLister& ifnames);

// The '?' answer: each token that can come next (or that the partial last
// token can become) with its help text, one per line; "<cr>" when the line can
// end here. An error in the earlier tokens is returned as "% <message>".
std::string help(std::string_view partial_line);

struct ConfigError {
    size_t line_no = 0;  // 1-based
    std::string line;
    ParseError error;
};

// Parses a whole config text. Either every line parses, or the FIRST error is
// returned, so the caller applies all or nothing. Interactive-only commands
// (show, clear, write) are errors in a config file.
std::variant<std::vector<Parsed>, ConfigError> parse_config(std::string_view text);

// `line` with the token after each `key` keyword replaced by "<secret>", for
// logs and error messages: `Parsed::line` and raw lines may carry key material.
std::string redact_secrets(std::string_view line);

// "line 7: interface port0 adress 10.0.0.1/24: unknown token 'adress': expected one of: ..."
// (the line as redact_secrets() shows it)
std::string format_error(const ConfigError& error);

}  // namespace rampart::cmd
