#include "common/cli_protocol.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include <fmt/format.h>

namespace rampart::cli {
namespace {

constexpr std::pair<Verb, std::string_view> kVerbs[] = {
    {Verb::exec, "exec"},
    {Verb::complete, "complete"},
    {Verb::help, "help"},
};

std::string_view verb_name(Verb verb) {
    for (auto [v, name] : kVerbs)
        if (v == verb) return name;
    return "exec";
}

// Enough for any length up to kMaxReplyBytes; more digits is garbage.
constexpr size_t kMaxLengthDigits = 10;

}  // namespace

std::optional<std::string> encode_request(const Request& request) {
    if (request.line.find('\n') != std::string::npos) return std::nullopt;
    auto encoded = fmt::format("{} {}\n", verb_name(request.verb), request.line);
    if (encoded.size() - 1 > kMaxRequestLine) return std::nullopt;
    return encoded;
}

std::optional<Request> decode_request_line(std::string_view line) {
    auto space = line.find(' ');
    auto verb = line.substr(0, space);
    for (auto [v, name] : kVerbs)
        if (verb == name)
            return Request{v, space == std::string_view::npos ? std::string() : std::string(line.substr(space + 1))};
    return std::nullopt;
}

std::string encode_reply(const Reply& reply) {
    return fmt::format("{} {}\n{}", reply.ok ? "ok" : "err", reply.text.size(), reply.text);
}

ReplyDecode decode_reply(std::string_view buffer) {
    ReplyDecode result;
    auto malformed = [&](std::string message) {
        result.status = ReplyDecode::Status::malformed;
        result.error = std::move(message);
        return result;
    };

    // The header is checked as far as it has arrived, so garbage is refused
    // at once instead of waiting for a newline that may never come.
    auto newline = buffer.find('\n');
    auto header = buffer.substr(0, newline);
    size_t verb_size = header.starts_with("ok ") ? 3 : header.starts_with("err ") ? 4 : 0;
    if (verb_size == 0) {
        bool may_become_verb = newline == std::string_view::npos && (std::string_view("ok ").starts_with(header) ||
                                                                      std::string_view("err ").starts_with(header));
        if (may_become_verb) return result;
        return malformed("reply header must start with 'ok ' or 'err '");
    }
    auto digits = header.substr(verb_size);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return malformed("reply length must be decimal digits followed by a newline");
    if (digits.size() > kMaxLengthDigits) return malformed("reply length has too many digits");
    if (newline == std::string_view::npos) return result;
    if (digits.empty()) return malformed("reply length is missing");

    uint64_t length = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (length > kMaxReplyBytes) return malformed(fmt::format("reply length {} exceeds {}", length, kMaxReplyBytes));

    auto body_start = newline + 1;
    if (buffer.size() - body_start < length) return result;
    result.status = ReplyDecode::Status::complete;
    result.reply = Reply{verb_size == 3, std::string(buffer.substr(body_start, length))};
    result.consumed = body_start + length;
    return result;
}

std::string encode_candidates(const std::vector<std::string>& candidates) {
    std::string out;
    for (const auto& c : candidates) {
        out += c;
        out += '\n';
    }
    return out;
}

std::vector<std::string> decode_candidates(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        auto newline = std::min(text.find('\n'), text.size());
        if (newline > 0) out.emplace_back(text.substr(0, newline));
        text.remove_prefix(std::min(newline + 1, text.size()));
    }
    return out;
}

}  // namespace rampart::cli
