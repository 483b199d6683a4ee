#include "slowpath/config/util.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace rampart::config {

std::string quote_if_needed(const std::string& s) {
    bool plain = !s.empty() && s.find_first_of(" \t\"\\") == std::string::npos;
    if (plain) return s;
    std::string q = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
    }
    return q + "\"";
}

std::string labels_text(const LabelList& labels) {
    std::string out;
    for (uint32_t l : labels) {
        if (!out.empty()) out += '/';
        out += std::to_string(l);
    }
    return out;
}

std::string shown(std::string_view text) {
    constexpr size_t kMax = 64;
    if (text.size() <= kMax) return std::string(text);
    return std::string(text.substr(0, kMax - 3)) + "...";
}

std::optional<std::string> check_name(std::string_view what, const std::string& name) {
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    bool ok = !name.empty() && name.size() <= 31 && alpha(name[0]) &&
              std::all_of(name.begin() + 1, name.end(),
                          [&](char c) { return alpha(c) || digit(c) || c == '_' || c == '.' || c == '-'; });
    if (!ok)
        return fmt::format("invalid {} name '{}': expected a letter followed by up to 30 letters, digits, '_', '.' or '-'",
                           what, shown(name));
    if (name == "default") return fmt::format("invalid {} name 'default': it means the default table", what);
    return std::nullopt;
}

std::string route_name(const std::string& vrf, const Prefix& p) {
    return vrf.empty() ? "route " + p.str() : fmt::format("route vrf {} {}", vrf, p.str());
}

std::string srgb_text(const LabelBlock& b) { return fmt::format("{}-{}", b.lo, b.hi); }

std::optional<std::string> check_interface_exists(const RunningConfig& cfg, const std::string& ifname) {
    if (!ifname.empty() && !cfg.interfaces.count(ifname)) return fmt::format("unknown interface {}", ifname);
    return std::nullopt;
}

std::optional<std::string> read_backup(const RunningConfig& cfg, const cmd::Parsed& c, Family family,
                                       std::optional<BackupPath>& out) {
    if (!c.has("backup")) return std::nullopt;
    BackupPath b;
    b.gateway = c.ip("backup");
    if (b.gateway.family != family)
        return fmt::format("backup {} is not of the same address family as the primary", b.gateway.str());
    if (c.has("backup-ifname")) b.ifname = c.word("backup-ifname");
    if (auto bad = check_interface_exists(cfg, b.ifname)) return bad;
    if (c.has("backup-labels")) b.labels = c.labels("backup-labels");
    out = std::move(b);
    return std::nullopt;
}

std::string backup_text(const std::optional<BackupPath>& b) {
    if (!b) return "";
    std::string out = " backup " + b->gateway.str();
    if (!b->ifname.empty()) out += " backup-interface " + b->ifname;
    if (!b->labels.empty()) out += " backup-labels " + labels_text(b->labels);
    return out;
}

std::string key_text(const std::vector<uint8_t>& key, bool with_secrets) {
    if (!with_secrets) return "<secret>";
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (uint8_t b : key) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

void wipe(std::vector<uint8_t>& key) {
    std::fill(key.begin(), key.end(), uint8_t{0});
    key.clear();
}

}  // namespace rampart::config
