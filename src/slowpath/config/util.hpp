// Small helpers the config sections share: how names are spelled and quoted,
// how tables and routes are named in messages, key handling.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/command.hpp"
#include "slowpath/config_model.hpp"

namespace rampart::config {

inline constexpr size_t kMaxEcmpNextHops = 8;
inline constexpr uint32_t kMinLabel = 16;  // 0-15 are reserved (RFC 3032)

// A value as a config line spells it: quoted when it holds blanks or quotes.
std::string quote_if_needed(const std::string& s);
// "16001/16002/3"
std::string labels_text(const LabelList& labels);
// Text quoted back in messages, cut short so a huge name cannot flood a terminal.
std::string shown(std::string_view text);
// VRF, SR policy and SA names: spelled like interface names, so they never
// need quoting and cannot be mistaken for values.
std::optional<std::string> check_name(std::string_view what, const std::string& name);
// "vrf X" in a command stands for the default table when it is "default" (where allowed).
inline std::string vrf_ref(const std::string& name) { return name == "default" ? "" : name; }
inline std::string table_name(const std::string& vrf) { return vrf.empty() ? "the default table" : "vrf " + vrf; }
std::string route_name(const std::string& vrf, const Prefix& p);
std::string srgb_text(const LabelBlock& b);
std::optional<std::string> check_interface_exists(const RunningConfig& cfg, const std::string& ifname);
// The optional "backup <ip> [backup-interface <if>] [backup-labels <labels>]" part of a line.
std::optional<std::string> read_backup(const RunningConfig& cfg, const cmd::Parsed& c, Family family,
                                       std::optional<BackupPath>& out);
std::string backup_text(const std::optional<BackupPath>& b);
// Key material: hex, or "<secret>" unless `with_secrets`.
std::string key_text(const std::vector<uint8_t>& key, bool with_secrets);
// Overwrites key material before it is freed.
void wipe(std::vector<uint8_t>& key);

}  // namespace rampart::config
