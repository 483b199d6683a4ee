// The command language shared by the startup config file and the interactive
// CLI: FRR-like lines such as "interface port0 address 192.0.2.1/24", where a
// leading `no` deletes what the rest of the line would add.
//
// Every command is one row of the table in command.cpp: a pattern string plus
// one help line per pattern token. Parsing, TAB completion and '?' help are
// all driven by that table, so a new command is one new row (and an Id).
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
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/net.hpp"

namespace rampart::cmd {

enum class Id {
    InterfaceDevice,
    InterfaceAddress,
    InterfaceMtu,
    InterfaceShutdown,
    InterfaceVlan,
    InterfaceDescription,
    InterfaceNeighbor,
    Route,
    IcmpRateLimit,
    InterfaceMpls,
    InterfaceVrf,
    Vrf,
    VrfLabel,
    MplsLabelRange,
    MplsTtlMode,
    MplsLabel,
    SrSrgb,
    SrPrefixSid,
    SrNeighborSrgb,
    SrAdjacencySid,
    SrPolicy,
    SrPolicyBindingSid,
    IpsecSa,
    IpsecSaEncryption,
    IpsecSaIntegrity,
    IpsecSaEsn,
    IpsecSaReplayWindow,
    IpsecSaNatTraversal,
    IpsecSaIpMtu,
    IpsecSaEncapsulatedIpMtu,
    IpsecSaLifetime,
    IpsecPolicy,
    InterfaceSav,
    InterfaceSavRole,
    SavAllow,
    SavDeny,
    SavLocalAsn,
    SavLoadMrt,
    SavLoadRpki,
    IkeConnection,
    IkeConnectionPsk,
    IkeConnectionCertificate,
    IkeConnectionProposal,
    IkeConnectionChild,
    IkeConnectionStartAction,
    IkeConnectionDpd,
    IkeConnectionLifetime,
    IkeConnectionPfs,
    IkeConnectionIdentity,
    IkeConnectionTsList,
    IkeConnectionReverseRoute,
    IkeConnectionCrl,
    IkePad,
    IkeLockout,
    IkeCookieThreshold,
    ShowInterfaces,
    ShowInterface,
    ShowRoute,
    ShowNeighbors,
    ShowWorkers,
    ShowRunningConfig,
    ShowVersion,
    ShowMplsIlm,
    ShowMplsFtn,
    ShowMplsLabel,
    ShowSegmentRouting,
    ShowVrf,
    ShowIpsecSa,
    ShowIpsecSaSpi,
    ShowIpsecSpd,
    ShowSavInterface,
    ShowSavPrefix,
    ShowIkeSa,
    ShowIkePeers,
    ShowIkeLockout,
    ShowIkePad,
    ShowIkeSummary,
    ClearCounters,
    ClearIkeSa,
    ClearIkeLockout,
    IkeInitiate,
    IkeTerminate,
    IkeRekey,
    WriteConfig,
};

// Where a command may be used. Binding a DPDK device happens only when the
// ports are set up at startup; show/clear/write only make sense interactively.
enum class Scope : uint8_t { config_and_exec, config_only, exec_only };
Scope scope(Id id);

struct Parsed {
    Id id{};
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
// The lines that configure one `ipsec sa NAME` (identity, keys, options).
bool is_ipsec_sa_command(Id id);

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
