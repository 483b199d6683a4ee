#include "common/command.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart::cmd {
namespace {

// ---------------------------------------------------------------------------
// The registered rows: each section's group, in listing order.
// ---------------------------------------------------------------------------

std::vector<const CommandGroup*>& registered_groups() {
    static std::vector<const CommandGroup*> groups;  // a function static: filled during static initialisation
    return groups;
}
bool grammar_built = false;

constexpr std::string_view kNoHelp = "Delete a setting or restore its default";


// ---------------------------------------------------------------------------
// Grammar: each pattern expanded into flat token sequences (one per way of
// taking its optional groups), which keeps matching a simple left-to-right walk.
// ---------------------------------------------------------------------------

enum class Kind : uint8_t { keyword, word, ifname, prefix, prefix4, prefix6, ip, mac, uint, labels, hex, secret };

// Key material (HEX keys, SECRET texts): never echoed, always after the keyword `key`.
bool is_secret_kind(Kind k) { return k == Kind::hex || k == Kind::secret; }
constexpr size_t kMaxSecretChars = 255;  // characters in one SECRET argument

struct TokenSpec {
    Kind kind = Kind::keyword;
    std::string text;  // the keyword itself, or the capture name of an argument
    uint32_t lo = 0;   // UINT range
    uint32_t hi = 0;
    std::string help;
    size_t order = 0;  // table row, then position in the pattern: the order help lists tokens in

    bool is_keyword() const { return kind == Kind::keyword; }
    std::string display() const { return is_keyword() ? text : "<" + text + ">"; }
};

struct Variant {
    const CommandGroup* group;
    const CommandRow* command;
    std::vector<TokenSpec> tokens;

    bool usable(bool negated) const { return !negated || command->negatable == Negatable::yes; }
};

[[noreturn]] void table_bug(const CommandRow& c, std::string_view what) {
    throw std::logic_error(fmt::format("command table: pattern '{}': {}", c.pattern, what));
}

bool parse_u32(std::string_view text, uint32_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

constexpr size_t kMaxLabels = 10;          // labels in one LABELS argument
constexpr uint32_t kMaxLabel = 1048575;    // 20 bits

// "16001/16002/3" (top of stack first) -> label values; on failure `reason`
// says what is wrong with the text.
std::optional<std::vector<uint32_t>> parse_label_stack(std::string_view text, std::string& reason) {
    std::vector<uint32_t> labels;
    if (text.empty()) {
        reason = "no labels";
        return std::nullopt;
    }
    for (size_t start = 0;;) {
        size_t slash = std::min(text.find('/', start), text.size());
        std::string_view label = text.substr(start, slash - start);
        if (label.empty()) {
            reason = "empty label";
            return std::nullopt;
        }
        if (!std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            reason = fmt::format("'{}' is not a number", label.size() > 24 ? std::string(label.substr(0, 21)) + "..."
                                                                                : std::string(label));
            return std::nullopt;
        }
        auto digits = label.substr(std::min(label.find_first_not_of('0'), label.size() - 1));
        uint32_t value = 0;
        if (digits.size() > 7 || !parse_u32(digits, value) || value > kMaxLabel) {
            reason = fmt::format("label {} is out of range 0-{}",
                                 digits.size() > 24 ? std::string(digits.substr(0, 21)) + "..." : std::string(digits),
                                 kMaxLabel);
            return std::nullopt;
        }
        if (labels.size() == kMaxLabels) {
            reason = fmt::format("more than {} labels", kMaxLabels);
            return std::nullopt;
        }
        labels.push_back(value);
        if (slash == text.size()) return labels;
        start = slash + 1;
    }
}

constexpr size_t kMaxHexBytes = 128;  // bytes in one HEX argument

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "0x0001ff" or "0001FF" -> bytes. Key material: `reason` never quotes the text.
std::optional<std::vector<uint8_t>> parse_hex(std::string_view text, std::string& reason) {
    size_t skip = text.starts_with("0x") || text.starts_with("0X") ? 2 : 0;
    auto digits = text.substr(skip);
    for (size_t i = 0; i < digits.size(); ++i)
        if (hex_digit(digits[i]) < 0) {
            reason = fmt::format("character {} is not a hex digit", skip + i + 1);
            return std::nullopt;
        }
    if (digits.empty()) {
        reason = "no hex digits";
        return std::nullopt;
    }
    if (digits.size() % 2) {
        reason = fmt::format("{} hex digits, not a whole number of bytes", digits.size());
        return std::nullopt;
    }
    if (digits.size() / 2 > kMaxHexBytes) {
        reason = fmt::format("{} bytes, at most {}", digits.size() / 2, kMaxHexBytes);
        return std::nullopt;
    }
    std::vector<uint8_t> bytes(digits.size() / 2);
    for (size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<uint8_t>(hex_digit(digits[2 * i]) << 4 | hex_digit(digits[2 * i + 1]));
    return bytes;
}

std::string hex_text(const std::vector<uint8_t>& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

std::string label_stack_text(const std::vector<uint32_t>& labels) {
    std::string out;
    for (uint32_t l : labels) {
        if (!out.empty()) out += '/';
        out += std::to_string(l);
    }
    return out;
}

// Turns one pattern into its flat variants. Grammar: seq := (atom | '[' seq ('|' seq)* ']')*
class PatternCompiler {
public:
    PatternCompiler(const CommandRow& command, size_t row)
        : command_(command), row_(row), symbols_(split(command.pattern)) {}

    std::vector<std::vector<TokenSpec>> compile() {
        auto variants = sequence();
        if (pos_ < symbols_.size()) table_bug(command_, "unbalanced ']' or '|'");
        if (next_help_ != help_count()) table_bug(command_, "token and help counts differ");
        return variants;
    }

private:
    using Expansions = std::vector<std::vector<TokenSpec>>;

    // Atoms and the group symbols '[', '|', ']' (which need no spaces around them).
    static std::vector<std::string> split(std::string_view pattern) {
        auto is_group_symbol = [](char c) { return c == '[' || c == ']' || c == '|'; };
        std::vector<std::string> symbols;
        for (size_t i = 0; i < pattern.size();) {
            if (pattern[i] == ' ') {
                ++i;
            } else if (is_group_symbol(pattern[i])) {
                symbols.emplace_back(1, pattern[i++]);
            } else {
                size_t start = i;
                while (i < pattern.size() && pattern[i] != ' ' && !is_group_symbol(pattern[i])) ++i;
                symbols.emplace_back(pattern.substr(start, i - start));
            }
        }
        return symbols;
    }

    size_t help_count() const {
        size_t n = 0;
        while (n < command_.token_help.size() && !command_.token_help[n].empty()) ++n;
        return n;
    }

    Expansions sequence() {
        Expansions result{{}};
        while (pos_ < symbols_.size() && symbols_[pos_] != "]" && symbols_[pos_] != "|") {
            Expansions element;
            if (symbols_[pos_] == "[") {
                ++pos_;
                element.push_back({});  // the group may be left out
                for (;;) {
                    for (auto& alternative : sequence()) element.push_back(std::move(alternative));
                    if (pos_ >= symbols_.size()) table_bug(command_, "missing ']'");
                    if (symbols_[pos_++] == "]") break;
                }
            } else {
                element.push_back({atom(symbols_[pos_++])});
            }
            Expansions product;
            for (auto& head : result)
                for (auto& tail : element) {
                    auto joined = head;
                    joined.insert(joined.end(), tail.begin(), tail.end());
                    product.push_back(std::move(joined));
                }
            result = std::move(product);
        }
        return result;
    }

    TokenSpec atom(std::string_view text) {
        if (next_help_ >= help_count()) table_bug(command_, "more tokens than help lines");
        TokenSpec spec;
        spec.order = row_ * command_.token_help.size() + next_help_;
        spec.help = command_.token_help[next_help_++];
        if (text.front() != '<') {
            spec.text = text;
            return spec;
        }
        auto colon = text.find(':');
        if (text.back() != '>' || colon == std::string_view::npos) table_bug(command_, "bad argument syntax");
        spec.text = text.substr(1, colon - 1);
        auto kind = text.substr(colon + 1, text.size() - colon - 2);
        static constexpr std::pair<std::string_view, Kind> kKinds[] = {
            {"WORD", Kind::word}, {"IFNAME", Kind::ifname},   {"PREFIX", Kind::prefix},
            {"PREFIX4", Kind::prefix4}, {"PREFIX6", Kind::prefix6}, {"IP", Kind::ip},
            {"MAC", Kind::mac}, {"LABELS", Kind::labels}, {"HEX", Kind::hex}, {"SECRET", Kind::secret},
        };
        for (auto [name, k] : kKinds)
            if (kind == name) {
                spec.kind = k;
                if (k == Kind::labels)
                    spec.help += fmt::format(" (1-{} labels 0-{} joined by '/', e.g. 16001/16002/3)", kMaxLabels,
                                             kMaxLabel);
                if (k == Kind::hex)
                    spec.help += fmt::format(" (1-{} bytes: an even number of hex digits, optionally after 0x)",
                                             kMaxHexBytes);
                return spec;
            }
        // UINT(lo-hi)
        if (!kind.starts_with("UINT(") || !kind.ends_with(")")) table_bug(command_, "unknown argument kind");
        auto range = kind.substr(5, kind.size() - 6);
        auto dash = range.find('-');
        if (dash == std::string_view::npos || !parse_u32(range.substr(0, dash), spec.lo) ||
            !parse_u32(range.substr(dash + 1), spec.hi) || spec.lo > spec.hi)
            table_bug(command_, "bad UINT range");
        spec.kind = Kind::uint;
        spec.help += fmt::format(" ({}-{})", spec.lo, spec.hi);
        return spec;
    }

    const CommandRow& command_;
    size_t row_;
    const std::vector<std::string> symbols_;
    size_t pos_ = 0;
    size_t next_help_ = 0;
};

const std::vector<Variant>& grammar() {
    static const std::vector<Variant> variants = [] {
        std::vector<Variant> all;
        grammar_built = true;
        auto groups = registered_groups();
        std::stable_sort(groups.begin(), groups.end(), [](const CommandGroup* a, const CommandGroup* b) {
            return a->listing_rank != b->listing_rank ? a->listing_rank < b->listing_rank : a->section < b->section;
        });
        std::vector<std::pair<const CommandGroup*, const CommandRow*>> rows;
        for (const CommandGroup* g : groups)
            for (const CommandRow& r : g->rows) rows.emplace_back(g, &r);
        for (size_t row = 0; row < rows.size(); ++row) {
            const CommandRow& command = *rows[row].second;
            for (auto& tokens : PatternCompiler(command, row).compile()) {
                for (size_t i = 0; i < tokens.size(); ++i)
                    for (size_t j = 0; j < i; ++j)
                        if (!tokens[i].is_keyword() && !tokens[j].is_keyword() && tokens[i].text == tokens[j].text)
                            table_bug(command, "two arguments share a name");
                if (tokens.empty() || !tokens.front().is_keyword()) table_bug(command, "must start with a keyword");
                // redact_secrets() finds key material as the token after `key`.
                for (size_t i = 0; i < tokens.size(); ++i)
                    if (is_secret_kind(tokens[i].kind) != (i > 0 && tokens[i - 1].is_keyword() && tokens[i - 1].text == "key"))
                        table_bug(command, "a HEX or SECRET argument (and only it) must follow the keyword 'key'");
                all.push_back({rows[row].first, &command, std::move(tokens)});
            }
        }
        return all;
    }();
    return variants;
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

struct Token {
    std::string text;
    bool quoted = false;
};

struct TokenizedLine {
    std::vector<Token> tokens;
    bool ends_in_space = true;  // the next token to type would be a new one
};

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }
bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// Tokens quoted back in messages are cut short so a huge token cannot flood a terminal.
std::string shown(std::string_view text) {
    constexpr size_t kMax = 64;
    if (text.size() <= kMax) return std::string(text);
    return std::string(text.substr(0, kMax - 3)) + "...";
}

ParseError control_character_error(size_t token_index, unsigned char c, size_t column) {
    return {token_index, "", fmt::format("invalid control character 0x{:02x} at column {}", c, column + 1)};
}

std::variant<TokenizedLine, ParseError> tokenize(std::string_view line) {
    TokenizedLine out;
    size_t i = 0;
    while (i < line.size()) {
        unsigned char c = line[i];
        if (is_space(c)) {
            ++i;
            continue;
        }
        if (is_control(c)) return control_character_error(out.tokens.size(), c, i);
        Token token;
        if (c == '"') {
            token.quoted = true;
            bool closed = false;
            for (++i; i < line.size();) {
                unsigned char q = line[i];
                if (q == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                if (is_control(q)) return control_character_error(out.tokens.size(), q, i);
                if (q == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
                    token.text += line[i + 1];
                    i += 2;
                    continue;
                }
                token.text += static_cast<char>(q);
                ++i;
            }
            if (!closed) return ParseError{out.tokens.size(), shown(token.text), "unterminated quoted string"};
            if (i < line.size() && !is_space(line[i]))
                return ParseError{out.tokens.size(), shown(token.text),
                                  fmt::format("expected a space after the closing quote at column {}", i)};
        } else {
            size_t start = i;
            while (i < line.size() && !is_control(line[i])) {
                if (is_space(line[i])) break;
                ++i;
            }
            if (i < line.size() && !is_space(line[i])) return control_character_error(out.tokens.size(), line[i], i);
            token.text = line.substr(start, i - start);
        }
        out.tokens.push_back(std::move(token));
    }
    out.ends_in_space = line.empty() || is_space(line.back());
    return out;
}

// Inverse of the tokenizer for one argument value.
std::string quote_if_needed(std::string_view text) {
    bool needs_quotes = text.empty() || text.front() == '"' ||
                        std::any_of(text.begin(), text.end(), [](char c) { return is_space(c); });
    if (!needs_quotes) return std::string(text);
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

// ---------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------

bool is_ifname(std::string_view s) {
    if (s.empty() || s.size() > 31 || !is_ascii_alpha(s[0])) return false;
    return std::all_of(s.begin() + 1, s.end(), [](char c) {
        return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '.' || c == '-';
    });
}

// Whether an unknown token was probably meant as an address or number, so that
// "invalid prefix 'x'" is a better message than a list of keywords.
bool looks_like_value(std::string_view s) {
    return !s.empty() && (is_ascii_digit(s[0]) || s.find_first_of(":/") != std::string_view::npos);
}

struct Checked {
    std::optional<std::string> value;  // canonical text when valid
    std::string error;
};

Checked check(const TokenSpec& spec, std::string_view text) {
    auto invalid = [&](std::string_view what) {
        return Checked{std::nullopt, fmt::format("invalid {} '{}'", what, shown(text))};
    };
    switch (spec.kind) {
        case Kind::keyword:
            if (text == spec.text) return {std::string(text), {}};
            return invalid("keyword");
        case Kind::word:
            return {std::string(text), {}};
        case Kind::ifname:
            if (is_ifname(text)) return {std::string(text), {}};
            return Checked{std::nullopt,
                           fmt::format("invalid interface name '{}': expected a letter followed by up to 30 "
                                       "letters, digits, '_', '.' or '-'",
                                       shown(text))};
        case Kind::prefix:
        case Kind::prefix4:
        case Kind::prefix6: {
            auto p = Prefix::parse(text);
            if (spec.kind == Kind::prefix4 && (!p || !p->addr.is_v4())) return invalid("IPv4 prefix");
            if (spec.kind == Kind::prefix6 && (!p || p->addr.is_v4())) return invalid("IPv6 prefix");
            if (!p) return invalid("prefix");
            return {p->str(), {}};
        }
        case Kind::ip: {
            auto a = IpAddr::parse(text);
            if (!a) return invalid("IP address");
            return {a->str(), {}};
        }
        case Kind::mac: {
            auto m = MacAddr::parse(text);
            if (!m) return invalid("MAC address");
            return {m->str(), {}};
        }
        case Kind::labels: {
            std::string reason;
            auto labels = parse_label_stack(text, reason);
            if (!labels)
                return Checked{std::nullopt,
                               fmt::format("invalid label stack '{}': expected an MPLS label stack for <{}> (1 to {} "
                                           "labels 0-{} separated by '/', e.g. 16001/16002/3): {}",
                                           shown(text), spec.text, kMaxLabels, kMaxLabel, reason)};
            return {label_stack_text(*labels), {}};
        }
        case Kind::hex: {
            // Key material: the message names the argument, never the text.
            std::string reason;
            auto bytes = parse_hex(text, reason);
            if (!bytes)
                return Checked{std::nullopt,
                               fmt::format("invalid hex value for <{}>: {}; expected 1-{} bytes as an even number "
                                           "of hex digits, optionally after 0x",
                                           spec.text, reason, kMaxHexBytes)};
            return {hex_text(*bytes), {}};
        }
        case Kind::secret: {
            // Key material as text: the message names the argument, never the text.
            if (text.empty() || text.size() > kMaxSecretChars)
                return Checked{std::nullopt, fmt::format("invalid secret for <{}>: {} characters; expected 1-{}",
                                                         spec.text, text.size(), kMaxSecretChars)};
            return {std::string(text), {}};
        }
        case Kind::uint: {
            if (text.empty() || !std::all_of(text.begin(), text.end(), is_ascii_digit))
                return Checked{std::nullopt, fmt::format("invalid number '{}' for <{}>: expected {}-{}", shown(text),
                                                         spec.text, spec.lo, spec.hi)};
            auto digits = text.substr(std::min(text.find_first_not_of('0'), text.size() - 1));
            uint32_t value = 0;
            if (!parse_u32(digits, value) || value < spec.lo || value > spec.hi)
                return Checked{std::nullopt, fmt::format("value {} out of range {}-{} for <{}>", shown(digits),
                                                         spec.lo, spec.hi, spec.text)};
            return {std::to_string(value), {}};
        }
    }
    return invalid("token");
}

// Whether a partly typed token could still become a valid argument (for '?').
bool could_become(const TokenSpec& spec, std::string_view partial) {
    if (partial.empty()) return true;
    auto all_of = [&](auto pred) { return std::all_of(partial.begin(), partial.end(), pred); };
    auto address_char = [](char c) {
        return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.' ||
               c == '/';
    };
    switch (spec.kind) {
        case Kind::keyword: return std::string_view(spec.text).starts_with(partial);
        case Kind::word:
        case Kind::secret: return true;
        case Kind::ifname: return is_ifname(partial);
        case Kind::uint: return all_of(is_ascii_digit);
        case Kind::labels: return all_of([](char c) { return is_ascii_digit(c) || c == '/'; });
        case Kind::hex: {
            auto digits = partial.starts_with("0x") || partial.starts_with("0X") ? partial.substr(2) : partial;
            return std::all_of(digits.begin(), digits.end(), [](char c) { return hex_digit(c) >= 0; });
        }
        default: return all_of(address_char);
    }
}

// ---------------------------------------------------------------------------
// Matching: walk the tokens left to right, keeping the variants that agree.
// ---------------------------------------------------------------------------

struct Walk {
    // Variants consistent with every walked token; after `no`, usable() tells
    // which of them may actually be negated.
    std::vector<const Variant*> alive;
    bool negated = false;
    size_t first = 0;  // index of the first command token (1 after `no`)
    size_t pos = 0;    // variant position of the next token
    std::optional<ParseError> error;
};

// Distinct specs that can come at `pos`, in table and pattern order.
std::vector<const TokenSpec*> next_specs(const Walk& w) {
    std::vector<const TokenSpec*> specs;
    for (const Variant* v : w.alive) {
        if (!v->usable(w.negated) || w.pos >= v->tokens.size()) continue;
        const TokenSpec& spec = v->tokens[w.pos];
        bool seen = std::any_of(specs.begin(), specs.end(),
                                [&](const TokenSpec* s) { return s->display() == spec.display(); });
        if (!seen) specs.push_back(&spec);
    }
    // Expanding optional groups reorders tokens ("show route <prefix>" comes
    // before "show route ipv4"); list them as the pattern spells them.
    std::stable_sort(specs.begin(), specs.end(),
                     [](const TokenSpec* a, const TokenSpec* b) { return a->order < b->order; });
    return specs;
}

const Variant* complete_variant(const Walk& w) {
    for (const Variant* v : w.alive)
        if (v->usable(w.negated) && v->tokens.size() == w.pos) return v;
    return nullptr;
}

std::string describe_expected(const std::vector<const TokenSpec*>& specs, bool can_end) {
    std::vector<std::string> names;
    for (const TokenSpec* s : specs) names.push_back(s->display());
    if (can_end) names.push_back("<cr>");
    if (names.size() == 1) return "expected " + names.front();
    return fmt::format("expected one of: {}", fmt::join(names, ", "));
}

ParseError mismatch(const Walk& w, size_t index, std::string_view token) {
    auto specs = next_specs(w);
    if (specs.empty())
        return {index, std::string(token),
                fmt::format("unexpected token '{}' after the end of the command", shown(token))};
    std::vector<const TokenSpec*> arguments;
    bool any_keyword = false;
    for (const TokenSpec* s : specs) {
        if (s->is_keyword())
            any_keyword = true;
        else
            arguments.push_back(s);
    }
    // Where a key is expected, the token is key material: it is never echoed.
    bool secret = std::any_of(arguments.begin(), arguments.end(), [](const TokenSpec* s) { return is_secret_kind(s->kind); });
    if (arguments.size() == 1 && (!any_keyword || looks_like_value(token) || secret))
        return {index, secret ? arguments.front()->display() : std::string(token), check(*arguments.front(), token).error};
    if (secret)
        return {index, "", fmt::format("unknown token: {}", describe_expected(specs, complete_variant(w)))};
    return {index, std::string(token),
            fmt::format("unknown token '{}': {}", shown(token), describe_expected(specs, complete_variant(w)))};
}

std::vector<const Variant*> step(const std::vector<const Variant*>& alive, size_t pos, std::string_view text) {
    // A keyword beats an argument that would also accept the text, as in FRR.
    bool keyword_hit = std::any_of(alive.begin(), alive.end(), [&](const Variant* v) {
        return pos < v->tokens.size() && v->tokens[pos].is_keyword() && v->tokens[pos].text == text;
    });
    std::vector<const Variant*> next;
    for (const Variant* v : alive) {
        if (pos >= v->tokens.size()) continue;
        const TokenSpec& spec = v->tokens[pos];
        bool match = keyword_hit ? spec.is_keyword() && spec.text == text
                                 : !spec.is_keyword() && check(spec, text).value.has_value();
        if (match) next.push_back(v);
    }
    return next;
}

std::string join_tokens(const std::vector<Token>& tokens, size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) {
        if (!out.empty()) out += ' ';
        out += quote_if_needed(tokens[i].text);
    }
    return out;
}

// Walks the first `count` tokens.
Walk walk(const std::vector<Token>& tokens, size_t count) {
    Walk w;
    w.negated = count > 0 && tokens[0].text == "no";
    w.first = w.negated ? 1 : 0;
    for (const Variant& v : grammar()) w.alive.push_back(&v);
    for (size_t i = w.first; i < count; ++i) {
        // Commands that cannot be negated stay in the walk so that `no` on
        // them is reported as such rather than as an unknown token.
        auto next = step(w.alive, w.pos, tokens[i].text);
        if (next.empty()) {
            w.error = mismatch(w, i, tokens[i].text);
            return w;
        }
        if (w.negated && std::none_of(next.begin(), next.end(), [](const Variant* v) { return v->usable(true); })) {
            w.error = ParseError{
                0, "no", fmt::format("'no' cannot be used with '{}'",
                                     shown(redact_secrets(join_tokens(tokens, w.first, i + 1))))};
            return w;
        }
        w.alive = std::move(next);
        ++w.pos;
    }
    return w;
}

Parsed build(const Variant& v, const std::vector<Token>& tokens, const Walk& w) {
    Parsed p;
    p.group = v.group;
    p.row = v.command;
    p.negated = w.negated;
    if (w.negated) p.line = "no";
    for (size_t k = 0; k < v.tokens.size(); ++k) {
        const TokenSpec& spec = v.tokens[k];
        if (!p.line.empty()) p.line += ' ';
        if (spec.is_keyword()) {
            p.keywords.push_back(spec.text);
            p.line += spec.text;
        } else {
            auto value = *check(spec, tokens[w.first + k].text).value;
            p.line += quote_if_needed(value);
            p.args.emplace_back(spec.text, std::move(value));
        }
    }
    return p;
}

// The tokens before the one being typed, and the partial one itself.
struct PartialLine {
    TokenizedLine line;
    size_t done = 0;
    std::string partial;
    bool partial_quoted = false;
};

std::variant<PartialLine, ParseError> split_partial(std::string_view text) {
    auto tokenized = tokenize(text);
    if (auto* error = std::get_if<ParseError>(&tokenized)) return *error;
    PartialLine p;
    p.line = std::move(std::get<TokenizedLine>(tokenized));
    auto& tokens = p.line.tokens;
    p.done = tokens.size();
    if (!p.line.ends_in_space && !tokens.empty()) {
        p.done = tokens.size() - 1;
        p.partial = tokens.back().text;
        p.partial_quoted = tokens.back().quoted;
    }
    return p;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

void register_commands(const CommandGroup& group) {
    if (grammar_built)
        throw std::logic_error(fmt::format("commands of section '{}' registered after the first parse", group.section));
    registered_groups().push_back(&group);
}

std::string Parsed::id() const { return fmt::format("{}.{}", group->section, row->name); }

std::vector<std::string> command_ids() {
    std::vector<std::string> ids;
    for (const Variant& v : grammar()) {
        std::string id = fmt::format("{}.{}", v.group->section, v.command->name);
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
    }
    return ids;
}

Scope scope(std::string_view id) {
    for (const Variant& v : grammar())
        if (fmt::format("{}.{}", v.group->section, v.command->name) == id) return v.command->scope;
    throw std::out_of_range(fmt::format("no command {}", id));
}

bool Parsed::has_arg(std::string_view name) const {
    return std::any_of(args.begin(), args.end(), [&](const auto& a) { return a.first == name; });
}

bool Parsed::has(std::string_view name) const {
    return std::any_of(args.begin(), args.end(), [&](const auto& a) { return a.first == name; }) ||
           std::find(keywords.begin(), keywords.end(), name) != keywords.end();
}

const std::string& Parsed::word(std::string_view name) const {
    for (const auto& [n, value] : args)
        if (n == name) return value;
    throw std::out_of_range(fmt::format("command '{}' has no argument <{}>", line, name));
}

Prefix Parsed::prefix(std::string_view name) const {
    auto p = Prefix::parse(word(name));
    if (!p) throw std::invalid_argument(fmt::format("argument <{}> is not a prefix", name));
    return *p;
}

IpAddr Parsed::ip(std::string_view name) const {
    auto a = IpAddr::parse(word(name));
    if (!a) throw std::invalid_argument(fmt::format("argument <{}> is not an IP address", name));
    return *a;
}

MacAddr Parsed::mac(std::string_view name) const {
    auto m = MacAddr::parse(word(name));
    if (!m) throw std::invalid_argument(fmt::format("argument <{}> is not a MAC address", name));
    return *m;
}

uint32_t Parsed::number(std::string_view name) const {
    uint32_t value = 0;
    if (!parse_u32(word(name), value))
        throw std::invalid_argument(fmt::format("argument <{}> is not a number", name));
    return value;
}

std::vector<uint8_t> Parsed::hex(std::string_view name) const {
    std::string reason;
    auto bytes = parse_hex(word(name), reason);
    if (!bytes) throw std::invalid_argument(fmt::format("argument <{}> is not hex: {}", name, reason));
    return *bytes;
}

std::string redact_secrets(std::string_view line) {
    std::string out;
    bool after_key = false;
    for (size_t i = 0; i < line.size();) {
        if (is_space(line[i])) {
            out += line[i++];
            continue;
        }
        size_t start = i;
        if (line[i] == '"') {  // a quoted token runs to its closing quote, as the tokenizer reads it
            for (++i; i < line.size() && line[i] != '"'; ++i)
                if (line[i] == '\\' && i + 1 < line.size()) ++i;
            if (i < line.size()) ++i;
        }
        while (i < line.size() && !is_space(line[i])) ++i;
        std::string_view token = line.substr(start, i - start);
        out += after_key ? std::string_view("<secret>") : token;
        after_key = token == "key";
    }
    return out;
}

std::vector<uint32_t> Parsed::labels(std::string_view name) const {
    std::string reason;
    auto labels = parse_label_stack(word(name), reason);
    if (!labels) throw std::invalid_argument(fmt::format("argument <{}> is not a label stack: {}", name, reason));
    return *labels;
}

bool is_blank_or_comment(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && is_space(line[i])) ++i;
    return i == line.size() || line[i] == '#' || line[i] == '!';
}

std::variant<Parsed, ParseError> parse(std::string_view line) {
    if (is_blank_or_comment(line)) return ParseError{0, "", "empty command"};
    auto tokenized = tokenize(line);
    if (auto* error = std::get_if<ParseError>(&tokenized)) return *error;
    const auto& tokens = std::get<TokenizedLine>(tokenized).tokens;
    Walk w = walk(tokens, tokens.size());
    if (w.error) return *w.error;
    if (const Variant* v = complete_variant(w)) return build(*v, tokens, w);
    return ParseError{tokens.size(), "", "incomplete command: " + describe_expected(next_specs(w), false)};
}

std::vector<std::string> complete(std::string_view partial_line, const NameLister& ifnames) {
    auto split = split_partial(partial_line);
    auto* p = std::get_if<PartialLine>(&split);
    if (!p || p->partial_quoted) return {};
    Walk w = walk(p->line.tokens, p->done);
    if (w.error) return {};

    std::vector<std::string> candidates;
    auto add = [&](std::string candidate) {
        if (candidate.starts_with(p->partial) &&
            std::find(candidates.begin(), candidates.end(), candidate) == candidates.end())
            candidates.push_back(std::move(candidate));
    };
    bool wants_ifname = false;
    for (const TokenSpec* spec : next_specs(w)) {
        if (spec->is_keyword()) add(spec->text);
        if (spec->kind == Kind::ifname) wants_ifname = true;
    }
    if (wants_ifname && ifnames)
        for (auto& name : ifnames())
            if (is_ifname(name)) add(std::move(name));
    if (p->done == 0) add("no");
    return candidates;
}

std::string help(std::string_view partial_line) {
    auto split = split_partial(partial_line);
    if (auto* error = std::get_if<ParseError>(&split)) return "% " + error->message + "\n";
    auto& p = std::get<PartialLine>(split);
    Walk w = walk(p.line.tokens, p.done);
    if (w.error) return "% " + w.error->message + "\n";

    std::vector<std::pair<std::string, std::string_view>> entries;
    for (const TokenSpec* spec : next_specs(w)) {
        bool offered = spec->is_keyword() ? !p.partial_quoted && spec->text.starts_with(p.partial)
                                          : could_become(*spec, p.partial);
        if (offered) entries.emplace_back(spec->display(), spec->help);
    }
    if (p.done == 0 && std::string_view("no").starts_with(p.partial) && !p.partial_quoted)
        entries.emplace_back("no", kNoHelp);
    if (p.line.ends_in_space && w.pos > 0)
        if (const Variant* v = complete_variant(w)) entries.emplace_back("<cr>", v->command->help);
    if (entries.empty()) return fmt::format("% unknown token '{}'\n", shown(p.partial));

    size_t width = 0;
    for (auto& [name, text] : entries) width = std::max(width, name.size());
    std::string out;
    for (auto& [name, text] : entries) out += fmt::format("  {:<{}}  {}\n", name, width, text);
    return out;
}

std::variant<std::vector<Parsed>, ConfigError> parse_config(std::string_view text) {
    std::vector<Parsed> commands;
    size_t line_no = 0;
    for (size_t start = 0; start <= text.size();) {
        size_t end = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, end - start);
        ++line_no;
        start = end + 1;
        if (is_blank_or_comment(line)) continue;

        auto trimmed = line;
        while (!trimmed.empty() && is_space(trimmed.back())) trimmed.remove_suffix(1);
        while (!trimmed.empty() && is_space(trimmed.front())) trimmed.remove_prefix(1);
        auto result = parse(line);
        if (auto* error = std::get_if<ParseError>(&result))
            return ConfigError{line_no, std::string(trimmed), std::move(*error)};
        auto& parsed = std::get<Parsed>(result);
        if (parsed.scope() == Scope::exec_only)
            return ConfigError{line_no, std::string(trimmed),
                               ParseError{0, parsed.keywords.front(),
                                          fmt::format("'{}' cannot be used in a config file", parsed.line)}};
        commands.push_back(std::move(parsed));
    }
    return commands;
}

std::string format_error(const ConfigError& error) {
    // The line may hold the very control character that made it fail.
    constexpr size_t kMaxShown = 160;
    std::string line;
    // ...and may hold a key.
    std::string redacted = redact_secrets(error.line);
    for (unsigned char c : std::string_view(redacted).substr(0, kMaxShown))
        line += is_control(c) ? '?' : static_cast<char>(c);
    if (redacted.size() > kMaxShown) line += "...";
    return fmt::format("line {}: {}: {}", error.line_no, line, error.error.message);
}

}  // namespace rampart::cmd
