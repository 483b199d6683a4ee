// Validated ROA payloads and ASPAs from the JSON that RPKI relying parties
// export, for the SAV compiler (BAR-SAV's ROA and ASPA inputs).
//
// Accepted shapes (top-level object; unknown members such as "metadata",
// "bgpsec_keys" or "routerKeys" are skipped):
//   rpki-client: "roas": [{"asn": 65000, "prefix": "192.0.2.0/24", "maxLength": 24,
//                          "ta": "ripe", "expires": ...}],
//                "aspas": [{"customer_asid": 65000, "expires": ..., "providers": [65001, 65002]}]
//                older releases: "provider_authorizations": {"ipv4": [<aspa>], "ipv6": [<aspa>]}
//   Routinator:  "roas": [{"asn": "AS65000", "prefix": "...", "maxLength": 24, "ta": "..."}],
//                "aspas": [{"customer": "AS65000", "providers": ["AS65001", ...]}]
// An ASN is a number or an "AS<number>" string (either case).
//
// The parser is hand-written and bounded: input size, nesting depth and
// string length are limited, numbers must be plain non-negative integers
// where integers are expected. Any error fails the whole load with the file,
// the record (e.g. "roas[12]") when inside one, the line and column, and the
// reason: all-or-nothing, the previous RPKI view stays in force.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sav/rules.hpp"

namespace rampart::sav {

struct RpkiJsonLimits {
    size_t max_bytes = size_t(1) << 30;
    unsigned max_depth = 32;
    size_t max_string = 4096;
};

class RpkiJsonError : public std::runtime_error {
public:
    RpkiJsonError(std::string file, std::string record, size_t line, size_t column, std::string reason);
    const std::string& file() const { return file_; }
    const std::string& record() const { return record_; }  // "" outside a record
    size_t line() const { return line_; }
    size_t column() const { return column_; }
    const std::string& reason() const { return reason_; }

private:
    std::string file_, record_;
    size_t line_, column_;
    std::string reason_;
};

struct RpkiSet {
    std::vector<Roa> roas;
    std::vector<Aspa> aspas;
};

// Throws RpkiJsonError.
RpkiSet parse_rpki_json(std::string_view text, std::string_view file_name, const RpkiJsonLimits& limits = {});
RpkiSet load_rpki_json_file(const std::string& path, const RpkiJsonLimits& limits = {});

// The rpki-client shape, for tests and fixtures.
std::string write_rpki_json(const RpkiSet& set);

}  // namespace rampart::sav
