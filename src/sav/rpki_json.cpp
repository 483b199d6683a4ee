#include "sav/rpki_json.hpp"

#include <charconv>
#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>

namespace rampart::sav {

namespace {

struct Fail : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A pull parser over the whole text (RFC 8259 grammar). The caller walks
// the structure it expects; anything else is skipped with skip_value().
class JsonReader {
public:
    JsonReader(std::string_view text, const RpkiJsonLimits& limits) : s_(text), limits_(limits) {}

    size_t pos() const { return pos_; }
    void ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }
    char peek() {
        ws();
        if (pos_ >= s_.size()) throw Fail("unexpected end of input");
        return s_[pos_];
    }
    void expect(char c) {
        const char got = peek();
        if (got != c) throw Fail(fmt::format("expected '{}', found {}", c, describe(got)));
        ++pos_;
    }
    void end() {
        ws();
        if (pos_ != s_.size()) throw Fail(fmt::format("unexpected {} after the top-level value", describe(s_[pos_])));
    }

    // Calls on_member(key) positioned at each member's value.
    template <typename F>
    void object(F&& on_member) {
        enter();
        expect('{');
        if (peek() == '}') {
            ++pos_;
            leave();
            return;
        }
        for (;;) {
            if (peek() != '"') throw Fail(fmt::format("expected a member name, found {}", describe(peek())));
            const std::string key = string();
            expect(':');
            on_member(key);
            const char c = peek();
            ++pos_;
            if (c == '}') break;
            if (c != ',') throw Fail(fmt::format("expected ',' or '}}' in an object, found {}", describe(c)));
        }
        leave();
    }
    // Calls on_element(index) positioned at each element.
    template <typename F>
    void array(F&& on_element) {
        enter();
        expect('[');
        if (peek() == ']') {
            ++pos_;
            leave();
            return;
        }
        for (size_t i = 0;; ++i) {
            on_element(i);
            const char c = peek();
            ++pos_;
            if (c == ']') break;
            if (c != ',') throw Fail(fmt::format("expected ',' or ']' in an array, found {}", describe(c)));
        }
        leave();
    }

    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) throw Fail("unterminated string");
            const unsigned char c = static_cast<unsigned char>(s_[pos_++]);
            if (c == '"') break;
            if (c < 0x20) throw Fail(fmt::format("control character {:#04x} in a string", c));
            if (c != '\\') {
                out += char(c);
            } else {
                if (pos_ >= s_.size()) throw Fail("unterminated escape");
                const char e = s_[pos_++];
                switch (e) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': utf8(out, unicode_escape()); break;
                    default: throw Fail(fmt::format("invalid escape '\\{}'", e));
                }
            }
            if (out.size() > limits_.max_string)
                throw Fail(fmt::format("string longer than {} bytes", limits_.max_string));
        }
        return out;
    }

    struct Number {
        bool negative = false, integral = true, overflow = false;
        uint64_t value = 0;
        std::string_view text;
    };
    Number number() {
        ws();
        Number n;
        const size_t start = pos_;
        if (pos_ < s_.size() && s_[pos_] == '-') {
            n.negative = true;
            ++pos_;
        }
        if (pos_ >= s_.size() || !isdigit(s_[pos_])) throw Fail("invalid number");
        if (s_[pos_] == '0' && pos_ + 1 < s_.size() && isdigit(s_[pos_ + 1])) throw Fail("number with a leading zero");
        while (pos_ < s_.size() && isdigit(s_[pos_])) {
            const uint64_t d = uint64_t(s_[pos_++] - '0');
            if (n.value > (UINT64_MAX - d) / 10) n.overflow = true;
            n.value = n.value * 10 + d;
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            n.integral = false;
            ++pos_;
            if (pos_ >= s_.size() || !isdigit(s_[pos_])) throw Fail("invalid number: no digit after '.'");
            while (pos_ < s_.size() && isdigit(s_[pos_])) ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            n.integral = false;
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (pos_ >= s_.size() || !isdigit(s_[pos_])) throw Fail("invalid number: no digit in the exponent");
            while (pos_ < s_.size() && isdigit(s_[pos_])) ++pos_;
        }
        n.text = s_.substr(start, pos_ - start);
        return n;
    }

    void skip_value() {
        switch (peek()) {
            case '{': object([&](const std::string&) { skip_value(); }); break;
            case '[': array([&](size_t) { skip_value(); }); break;
            case '"': string(); break;
            case 't': literal("true"); break;
            case 'f': literal("false"); break;
            case 'n': literal("null"); break;
            default: number(); break;
        }
    }

    // 1-based line and column of a byte offset, for messages.
    std::pair<size_t, size_t> line_column(size_t at) const {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < s_.size(); ++i) {
            if (s_[i] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        return {line, col};
    }

private:
    static bool isdigit(char c) { return c >= '0' && c <= '9'; }
    static std::string describe(char c) {
        if (c >= 0x21 && c <= 0x7e) return fmt::format("'{}'", c);
        return fmt::format("byte {:#04x}", static_cast<unsigned char>(c));
    }
    void enter() {
        if (++depth_ > limits_.max_depth) throw Fail(fmt::format("nesting deeper than {}", limits_.max_depth));
    }
    void leave() { --depth_; }
    void literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) throw Fail(fmt::format("invalid literal (expected {})", word));
        pos_ += word.size();
    }
    uint32_t hex4() {
        if (s_.size() - pos_ < 4) throw Fail("truncated \\u escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
            else throw Fail("invalid hex digit in a \\u escape");
        }
        return v;
    }
    uint32_t unicode_escape() {
        uint32_t cp = hex4();
        if (cp >= 0xdc00 && cp <= 0xdfff) throw Fail("lone low surrogate in a \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (s_.substr(pos_, 2) != "\\u") throw Fail("high surrogate without its low surrogate");
            pos_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) throw Fail("high surrogate without its low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        return cp;
    }
    static void utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xc0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += char(0xe0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3f));
            out += char(0x80 | (cp & 0x3f));
        } else {
            out += char(0xf0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3f));
            out += char(0x80 | ((cp >> 6) & 0x3f));
            out += char(0x80 | (cp & 0x3f));
        }
    }

    std::string_view s_;
    const RpkiJsonLimits& limits_;
    size_t pos_ = 0;
    unsigned depth_ = 0;
};

// 65000, "AS65000" or "as65000".
Asn read_asn(JsonReader& r, const char* field) {
    if (r.peek() == '"') {
        const std::string s = r.string();
        std::string_view digits = s;
        if (digits.size() >= 2 && (digits[0] == 'A' || digits[0] == 'a') && (digits[1] == 'S' || digits[1] == 's'))
            digits.remove_prefix(2);
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || v > UINT32_MAX)
            throw Fail(fmt::format("{}: \"{}\" is not an AS number", field, s));
        return Asn(v);
    }
    const auto n = r.number();
    if (n.negative || !n.integral || n.overflow || n.value > UINT32_MAX)
        throw Fail(fmt::format("{}: {} is not an AS number (0..4294967295)", field, n.text));
    return Asn(n.value);
}

Roa read_roa(JsonReader& r) {
    std::optional<Asn> asn;
    std::optional<Prefix> prefix;
    std::optional<unsigned> max_length;
    r.object([&](const std::string& key) {
        if (key == "asn") {
            if (asn) throw Fail("\"asn\" given twice");
            asn = read_asn(r, "asn");
        } else if (key == "prefix") {
            if (prefix) throw Fail("\"prefix\" given twice");
            if (r.peek() != '"') throw Fail("prefix: expected a string");
            const std::string text = r.string();
            auto p = Prefix::parse(text);
            if (!p) throw Fail(fmt::format("prefix: \"{}\" is not an IPv4 or IPv6 prefix", text));
            if (!(p->network() == *p)) throw Fail(fmt::format("prefix: \"{}\" has host bits set", text));
            prefix = p;
        } else if (key == "maxLength") {
            if (max_length) throw Fail("\"maxLength\" given twice");
            const auto n = r.number();
            if (n.negative || !n.integral || n.overflow || n.value > 128)
                throw Fail(fmt::format("maxLength: {} is not a prefix length", n.text));
            max_length = unsigned(n.value);
        } else {
            r.skip_value();  // "ta", "expires", "source", ...
        }
    });
    if (!asn) throw Fail("missing \"asn\"");
    if (!prefix) throw Fail("missing \"prefix\"");
    // RFC 6482 3.3: maxLength defaults to the prefix length, and may not be
    // shorter than it nor longer than the address.
    const unsigned ml = max_length.value_or(prefix->len);
    if (ml < prefix->len || ml > prefix->addr.bits())
        throw Fail(fmt::format("maxLength {} outside {}..{} for {}", ml, prefix->len, prefix->addr.bits(), prefix->str()));
    return Roa{*prefix, uint8_t(ml), *asn};
}

Aspa read_aspa(JsonReader& r) {
    std::optional<Asn> customer;
    std::optional<std::vector<Asn>> providers;
    r.object([&](const std::string& key) {
        if (key == "customer_asid" || key == "customer") {
            if (customer) throw Fail("customer AS given twice");
            customer = read_asn(r, key.c_str());
        } else if (key == "providers") {
            if (providers) throw Fail("\"providers\" given twice");
            if (r.peek() != '[') throw Fail("providers: expected an array");
            std::vector<Asn> list;
            r.array([&](size_t i) { list.push_back(read_asn(r, fmt::format("providers[{}]", i).c_str())); });
            providers = std::move(list);
        } else {
            r.skip_value();
        }
    });
    if (!customer) throw Fail("missing the customer AS (\"customer_asid\" or \"customer\")");
    if (!providers) throw Fail("missing \"providers\"");
    return Aspa{*customer, std::move(*providers)};
}

}  // namespace

RpkiJsonError::RpkiJsonError(std::string file, std::string record, size_t line, size_t column, std::string reason)
    : std::runtime_error(fmt::format("{}:{}:{}: {}{}", file, line, column, record.empty() ? "" : record + ": ", reason)),
      file_(std::move(file)), record_(std::move(record)), line_(line), column_(column), reason_(std::move(reason)) {}

RpkiSet parse_rpki_json(std::string_view text, std::string_view file_name, const RpkiJsonLimits& limits) {
    JsonReader r(text, limits);
    RpkiSet out;
    std::string record;  // where we are, for the message
    try {
        if (text.size() > limits.max_bytes)
            throw Fail(fmt::format("input of {} bytes exceeds the {} byte limit", text.size(), limits.max_bytes));
        if (r.peek() != '{') throw Fail("the top level must be an object");
        bool seen_roas = false, seen_aspas = false;
        auto aspa_list = [&](const std::string& name) {
            if (r.peek() != '[') throw Fail(fmt::format("\"{}\" must be an array", name));
            r.array([&](size_t i) {
                record = fmt::format("{}[{}]", name, i);
                if (r.peek() != '{') throw Fail("expected an object");
                out.aspas.push_back(read_aspa(r));
                record.clear();
            });
        };
        r.object([&](const std::string& key) {
            if (key == "roas") {
                if (seen_roas) throw Fail("\"roas\" given twice");
                seen_roas = true;
                if (r.peek() != '[') throw Fail("\"roas\" must be an array");
                r.array([&](size_t i) {
                    record = fmt::format("roas[{}]", i);
                    if (r.peek() != '{') throw Fail("expected an object");
                    out.roas.push_back(read_roa(r));
                    record.clear();
                });
            } else if (key == "aspas") {
                if (seen_aspas) throw Fail("\"aspas\" given twice");
                seen_aspas = true;
                aspa_list("aspas");
            } else if (key == "provider_authorizations") {
                // Older rpki-client: one list per address family. SAV's
                // customer cones do not depend on the family: union them.
                if (r.peek() != '{') throw Fail("\"provider_authorizations\" must be an object");
                r.object([&](const std::string& afi) {
                    if (afi == "ipv4" || afi == "ipv6")
                        aspa_list("provider_authorizations." + afi);
                    else
                        r.skip_value();
                });
            } else {
                r.skip_value();
            }
        });
        r.end();
    } catch (const Fail& e) {
        auto [line, col] = r.line_column(r.pos());
        throw RpkiJsonError(std::string(file_name), record, line, col, e.what());
    }
    return out;
}

RpkiSet load_rpki_json_file(const std::string& path, const RpkiJsonLimits& limits) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw RpkiJsonError(path, "", 0, 0, "cannot open the file");
    in.seekg(0, std::ios::end);
    const auto size = in.tellg();
    if (size < 0) throw RpkiJsonError(path, "", 0, 0, "cannot size the file");
    if (size_t(size) > limits.max_bytes)
        throw RpkiJsonError(path, "", 0, 0, fmt::format("file of {} bytes exceeds the {} byte limit", size_t(size), limits.max_bytes));
    in.seekg(0);
    std::string text(size_t(size), '\0');
    in.read(text.data(), size);
    if (!in) throw RpkiJsonError(path, "", 0, 0, "read error");
    return parse_rpki_json(text, path, limits);
}

std::string write_rpki_json(const RpkiSet& set) {
    std::string out = "{\n  \"metadata\": {\"generated\": 0},\n  \"roas\": [";
    for (size_t i = 0; i < set.roas.size(); ++i) {
        const Roa& r = set.roas[i];
        out += fmt::format("{}\n    {{ \"asn\": {}, \"prefix\": \"{}\", \"maxLength\": {}, \"ta\": \"test\" }}", i ? "," : "",
                           r.origin, r.prefix.str(), r.max_length);
    }
    out += "\n  ],\n  \"aspas\": [";
    for (size_t i = 0; i < set.aspas.size(); ++i) {
        const Aspa& a = set.aspas[i];
        std::string providers;
        for (size_t k = 0; k < a.providers.size(); ++k) providers += fmt::format("{}{}", k ? ", " : "", a.providers[k]);
        out += fmt::format("{}\n    {{ \"customer_asid\": {}, \"expires\": 1700000000, \"providers\": [{}] }}", i ? "," : "",
                           a.customer, providers);
    }
    out += "\n  ]\n}\n";
    return out;
}

}  // namespace rampart::sav
