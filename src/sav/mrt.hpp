// MRT (RFC 6396) reader and writer for the SAV compiler's route inputs:
// TABLE_DUMP_V2 RIB snapshots (PEER_INDEX_TABLE, RIB_IPV4_UNICAST,
// RIB_IPV6_UNICAST) and BGP4MP / BGP4MP_ET UPDATE messages (MESSAGE and
// MESSAGE_AS4, plus their _LOCAL twins): withdrawn routes, NLRI, and
// MP_REACH_NLRI / MP_UNREACH_NLRI for IPv6 (RFC 4760). Of the path
// attributes only AS_PATH (RFC 4271 4.3, 4-byte ASNs per RFC 6793 where the
// record says so) and COMMUNITIES (RFC 1997) are kept; the others are
// length-checked and skipped.
//
// Every read is bounds-checked. A malformed record fails the whole parse
// with the file name, the record index, its byte offset and the reason: a
// dump is all-or-nothing, so the rules compiled from the previous one stay
// in force. Record types this reader does not use (other MRT types, BGP
// state changes, OPEN/KEEPALIVE/NOTIFICATION) are skipped after their
// header checks out; the count is reported.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "sav/rules.hpp"

namespace rampart::sav {

// RFC 6396 4 (types), 4.3 (TABLE_DUMP_V2 subtypes), 4.4 (BGP4MP subtypes).
inline constexpr uint16_t kMrtTableDumpV2 = 13;
inline constexpr uint16_t kMrtBgp4mp = 16;
inline constexpr uint16_t kMrtBgp4mpEt = 17;
inline constexpr uint16_t kMrtPeerIndexTable = 1;
inline constexpr uint16_t kMrtRibIpv4Unicast = 2;
inline constexpr uint16_t kMrtRibIpv6Unicast = 4;
inline constexpr uint16_t kBgp4mpStateChange = 0;
inline constexpr uint16_t kBgp4mpMessage = 1;
inline constexpr uint16_t kBgp4mpMessageAs4 = 4;
inline constexpr uint16_t kBgp4mpStateChangeAs4 = 5;
inline constexpr uint16_t kBgp4mpMessageLocal = 6;
inline constexpr uint16_t kBgp4mpMessageAs4Local = 7;

// Largest record accepted: a RIB record with many peers stays well below.
inline constexpr uint32_t kMrtMaxRecordLength = 16u << 20;

class MrtError : public std::runtime_error {
public:
    MrtError(std::string file, size_t record, size_t offset, std::string reason);
    const std::string& file() const { return file_; }
    size_t record() const { return record_; }  // 0-based index of the failing record
    size_t offset() const { return offset_; }  // byte offset of that record's header
    const std::string& reason() const { return reason_; }

private:
    std::string file_;
    size_t record_, offset_;
    std::string reason_;
};

struct MrtPeer {
    uint32_t bgp_id = 0;
    IpAddr address;
    Asn asn = 0;
    friend bool operator==(const MrtPeer&, const MrtPeer&) = default;
};

struct MrtRibRoute {
    uint16_t peer_index = 0;  // into MrtDump::peers
    uint32_t originated = 0;
    Route route;
    friend bool operator==(const MrtRibRoute&, const MrtRibRoute&) = default;
};

struct MrtUpdate {
    uint32_t timestamp = 0;
    MrtPeer peer;  // bgp_id unknown (0) in BGP4MP
    std::vector<Prefix> withdrawn;
    std::vector<Route> announced;  // one per NLRI prefix, all with the message's attributes
    friend bool operator==(const MrtUpdate&, const MrtUpdate&) = default;
};

struct MrtDump {
    std::vector<MrtPeer> peers;
    std::vector<MrtRibRoute> rib;
    std::vector<MrtUpdate> updates;
    size_t records = 0;
    size_t skipped_records = 0;
};

// Parses a whole MRT file image. Throws MrtError.
MrtDump parse_mrt(std::span<const uint8_t> data, std::string_view file_name);
// Reads then parses; the file is read completely first (no parsing mixed
// with I/O). Throws MrtError (I/O errors too, with record 0).
MrtDump load_mrt_file(const std::string& path);

// Feeds a parsed dump into the compiler: RIB routes, then the updates in
// order. `iface_of` maps a peer to a SAV interface; peers it maps to nothing
// are left out. Returns the number of routes announced.
size_t feed_mrt(RuleCompiler& compiler, const MrtDump& dump,
                const std::function<std::optional<uint16_t>(const MrtPeer&)>& iface_of);

// Builds MRT files (tests, fixtures, the scale program).
class MrtWriter {
public:
    void peer_index_table(uint32_t collector_bgp_id, std::string_view view_name, const std::vector<MrtPeer>& peers,
                          uint32_t timestamp = 0);
    // One RIB_IPV4_UNICAST or RIB_IPV6_UNICAST record (by the prefix's family).
    void rib(uint32_t sequence, const Prefix& prefix, const std::vector<MrtRibRoute>& entries, uint32_t timestamp = 0);
    // One BGP4MP(_ET) MESSAGE_AS4 UPDATE from `peer` to `local`. IPv4 prefixes
    // travel in the withdrawn/NLRI fields, IPv6 ones in MP_(UN)REACH_NLRI.
    // `attributes` supplies AS_PATH and COMMUNITIES (its prefix is ignored).
    void update(const MrtPeer& peer, Asn local_asn, const IpAddr& local_address, const std::vector<Prefix>& withdrawn,
                const std::vector<Prefix>& announced, const Route& attributes, uint32_t timestamp = 0,
                bool extended_timestamp = false);
    const std::vector<uint8_t>& bytes() const { return out_; }
    void write_file(const std::string& path) const;  // throws std::runtime_error

private:
    void header(uint32_t timestamp, uint16_t type, uint16_t subtype, size_t length);
    std::vector<uint8_t> out_;
};

}  // namespace rampart::sav
