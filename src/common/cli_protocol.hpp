// Wire protocol between rampart-cli and rampartd's CLI server, as pure
// functions (no I/O) so both ends, the tests and the fuzzers share one codec.
//
// Over a Unix-domain stream socket, the client sends one request per line:
//
//     exec <line>\n        run a command; reply text is its output or error
//     complete <line>\n    TAB: reply text is the candidates, one per line
//     help <line>\n        '?': reply text is cmd::help(<line>)
//
// <line> is everything after the first space, verbatim (trailing spaces matter
// to complete/help); it cannot contain '\n'. "complete\n" means an empty line.
// The server answers every request, in order, with a header line and a body:
//
//     ok <nbytes>\n<nbytes of text>
//     err <nbytes>\n<nbytes of text>
//
// <nbytes> is decimal without sign or leading '+' and at most kMaxReplyBytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::cli {

enum class Verb { exec, complete, help };

struct Request {
    Verb verb = Verb::exec;
    std::string line;
    friend bool operator==(const Request&, const Request&) = default;
};

struct Reply {
    bool ok = true;
    std::string text;
    friend bool operator==(const Reply&, const Reply&) = default;
};

// A request line longer than this (without its '\n') is refused.
inline constexpr size_t kMaxRequestLine = 64 * 1024;
// Bounds what a client will buffer for one reply (a full routing table fits).
inline constexpr size_t kMaxReplyBytes = 256u * 1024 * 1024;

// "exec show version\n"; nullopt if the line contains '\n' or is too long.
std::optional<std::string> encode_request(const Request& request);

// Decodes one request line, without its '\n'. nullopt for an unknown verb.
std::optional<Request> decode_request_line(std::string_view line);

std::string encode_reply(const Reply& reply);

struct ReplyDecode {
    enum class Status { complete, incomplete, malformed };
    Status status = Status::incomplete;
    Reply reply;          // when complete
    size_t consumed = 0;  // bytes of the buffer that made up the reply, when complete
    std::string error;    // when malformed
};

// Decodes the reply at the start of `buffer`; `incomplete` means read more.
ReplyDecode decode_reply(std::string_view buffer);

// Completion candidates travel as the text of a `complete` reply, one per line.
std::string encode_candidates(const std::vector<std::string>& candidates);
std::vector<std::string> decode_candidates(std::string_view text);

}  // namespace rampart::cli
