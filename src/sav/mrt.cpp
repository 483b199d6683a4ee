#include "sav/mrt.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace rampart::sav {

namespace {

// A record-level failure; parse_mrt adds file, record index and offset.
struct Malformed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Big-endian reads, each checked against what is left.
class Cursor {
public:
    Cursor(const uint8_t* p, size_t n) : p_(p), n_(n) {}
    size_t left() const { return n_ - pos_; }
    bool done() const { return pos_ == n_; }
    void need(size_t k, const char* what) const {
        if (k > left()) throw Malformed(fmt::format("truncated {}: needs {} bytes, {} left", what, k, left()));
    }
    uint8_t u8(const char* what) {
        need(1, what);
        return p_[pos_++];
    }
    uint16_t u16(const char* what) {
        need(2, what);
        const uint16_t v = uint16_t(p_[pos_] << 8 | p_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    uint32_t u32(const char* what) {
        need(4, what);
        const uint32_t v = uint32_t(p_[pos_]) << 24 | uint32_t(p_[pos_ + 1]) << 16 | uint32_t(p_[pos_ + 2]) << 8 | p_[pos_ + 3];
        pos_ += 4;
        return v;
    }
    Cursor take(size_t k, const char* what) {
        need(k, what);
        Cursor c(p_ + pos_, k);
        pos_ += k;
        return c;
    }
    const uint8_t* bytes(size_t k, const char* what) {
        need(k, what);
        const uint8_t* b = p_ + pos_;
        pos_ += k;
        return b;
    }

private:
    const uint8_t* p_;
    size_t n_;
    size_t pos_ = 0;
};

IpAddr read_address(Cursor& c, Family f, const char* what) {
    const uint8_t* b = c.bytes(f == Family::v4 ? 4 : 16, what);
    IpAddr a;
    a.family = f;
    std::memcpy(a.bytes.data(), b, f == Family::v4 ? 4 : 16);
    return a;
}

// RFC 4271 4.3 / RFC 4760 5: length in bits, then just enough bytes.
Prefix read_prefix(Cursor& c, Family f, const char* what) {
    const unsigned max = f == Family::v4 ? 32 : 128;
    const uint8_t len = c.u8(what);
    if (len > max) throw Malformed(fmt::format("{}: prefix length {} exceeds {}", what, len, max));
    const uint8_t* b = c.bytes((len + 7u) / 8u, what);
    Prefix p;
    p.addr.family = f;
    std::memcpy(p.addr.bytes.data(), b, (len + 7u) / 8u);
    p.len = len;
    return p.network();
}

void read_prefixes(Cursor c, Family f, const char* what, std::vector<Prefix>& out) {
    while (!c.done()) out.push_back(read_prefix(c, f, what));
}

constexpr uint8_t kAttrOrigin = 1, kAttrAsPath = 2, kAttrNextHop = 3, kAttrCommunities = 8, kAttrMpReach = 14,
                  kAttrMpUnreach = 15;
constexpr uint8_t kFlagOptional = 0x80, kFlagTransitive = 0x40, kFlagExtendedLength = 0x10;
constexpr uint16_t kAfiIpv4 = 1, kAfiIpv6 = 2;
constexpr uint8_t kSafiUnicast = 1;

struct Attributes {
    Route base;  // AS path and communities
    std::vector<Prefix> mp_reach, mp_unreach;
};

// `asn_size`: 4, or 2 for BGP4MP_MESSAGE (no 4-byte AS capability).
// `rib_entry`: TABLE_DUMP_V2 abbreviates MP_REACH_NLRI to the next hop
// (RFC 6396 4.3.4); some writers keep the full form, both are accepted.
Attributes read_attributes(Cursor c, unsigned asn_size, bool rib_entry) {
    Attributes out;
    bool seen_path = false, seen_communities = false, seen_reach = false, seen_unreach = false;
    auto once = [](bool& seen, const char* name) {
        if (seen) throw Malformed(fmt::format("{} attribute appears twice", name));
        seen = true;
    };
    while (!c.done()) {
        const uint8_t flags = c.u8("attribute flags");
        const uint8_t type = c.u8("attribute type");
        const size_t len = flags & kFlagExtendedLength ? c.u16("attribute length") : c.u8("attribute length");
        Cursor data = c.take(len, fmt::format("attribute {} value", type).c_str());
        switch (type) {
            case kAttrAsPath: {
                once(seen_path, "AS_PATH");
                while (!data.done()) {
                    const uint8_t seg_type = data.u8("AS_PATH segment type");
                    const uint8_t count = data.u8("AS_PATH segment length");
                    if (seg_type < 1 || seg_type > 4) throw Malformed(fmt::format("AS_PATH segment type {} unknown", seg_type));
                    if (count == 0) throw Malformed("AS_PATH segment with no AS");
                    Cursor asns = data.take(size_t(count) * asn_size, "AS_PATH segment");
                    AsPathSegment seg;
                    seg.is_set = seg_type == 1;
                    while (!asns.done()) seg.asns.push_back(asn_size == 4 ? asns.u32("ASN") : asns.u16("ASN"));
                    // Confederation segments (3, 4) are internal to the
                    // neighbour's confederation: not part of the path.
                    if (seg_type <= 2) out.base.as_path.push_back(std::move(seg));
                }
                break;
            }
            case kAttrCommunities:
                once(seen_communities, "COMMUNITIES");
                if (len % 4) throw Malformed(fmt::format("COMMUNITIES length {} is not a multiple of 4", len));
                while (!data.done()) out.base.communities.push_back(data.u32("community"));
                break;
            case kAttrMpReach: {
                once(seen_reach, "MP_REACH_NLRI");
                if (rib_entry && len >= 1) {
                    Cursor probe = data;
                    if (size_t(probe.u8("next hop length")) + 1 == len) break;  // abbreviated: next hop only
                }
                const uint16_t afi = data.u16("MP_REACH_NLRI AFI");
                const uint8_t safi = data.u8("MP_REACH_NLRI SAFI");
                const uint8_t nh_len = data.u8("MP_REACH_NLRI next hop length");
                data.bytes(nh_len, "MP_REACH_NLRI next hop");
                data.u8("MP_REACH_NLRI reserved octet");
                if (safi != kSafiUnicast || (afi != kAfiIpv4 && afi != kAfiIpv6)) break;  // not ours: ignored
                read_prefixes(data, afi == kAfiIpv4 ? Family::v4 : Family::v6, "MP_REACH_NLRI prefix", out.mp_reach);
                break;
            }
            case kAttrMpUnreach: {
                once(seen_unreach, "MP_UNREACH_NLRI");
                const uint16_t afi = data.u16("MP_UNREACH_NLRI AFI");
                const uint8_t safi = data.u8("MP_UNREACH_NLRI SAFI");
                if (safi != kSafiUnicast || (afi != kAfiIpv4 && afi != kAfiIpv6)) break;
                read_prefixes(data, afi == kAfiIpv4 ? Family::v4 : Family::v6, "MP_UNREACH_NLRI prefix",
                              out.mp_unreach);
                break;
            }
            default: break;  // length-checked above; not used for SAV
        }
    }
    return out;
}

void read_peer_index_table(Cursor c, MrtDump& dump) {
    c.u32("collector BGP ID");
    const uint16_t name_len = c.u16("view name length");
    c.bytes(name_len, "view name");
    const uint16_t count = c.u16("peer count");
    std::vector<MrtPeer> peers;
    peers.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
        const uint8_t type = c.u8("peer type");
        if (type & ~3u) throw Malformed(fmt::format("peer {}: peer type {:#x} has unknown bits", i, type));
        MrtPeer p;
        p.bgp_id = c.u32("peer BGP ID");
        p.address = read_address(c, type & 1 ? Family::v6 : Family::v4, "peer IP address");
        p.asn = type & 2 ? c.u32("peer AS") : c.u16("peer AS");
        peers.push_back(p);
    }
    if (!c.done()) throw Malformed(fmt::format("{} bytes after the last peer entry", c.left()));
    dump.peers = std::move(peers);
}

void read_rib(Cursor c, Family f, MrtDump& dump) {
    if (dump.peers.empty()) throw Malformed("RIB record before any PEER_INDEX_TABLE");
    c.u32("sequence number");
    const Prefix prefix = read_prefix(c, f, "RIB prefix");
    const uint16_t count = c.u16("entry count");
    for (unsigned i = 0; i < count; ++i) {
        MrtRibRoute r;
        r.peer_index = c.u16("peer index");
        if (r.peer_index >= dump.peers.size())
            throw Malformed(fmt::format("RIB entry {}: peer index {} not in the peer table ({} peers)", i, r.peer_index,
                                        dump.peers.size()));
        r.originated = c.u32("originated time");
        const uint16_t attr_len = c.u16("attribute length");
        Attributes a = read_attributes(c.take(attr_len, "RIB entry attributes"), 4, true);
        r.route = std::move(a.base);
        r.route.prefix = prefix;
        dump.rib.push_back(std::move(r));
    }
    if (!c.done()) throw Malformed(fmt::format("{} bytes after the last RIB entry", c.left()));
}

// Returns false for BGP messages other than UPDATE (skipped).
bool read_bgp4mp_message(Cursor c, uint16_t subtype, uint32_t timestamp, MrtDump& dump) {
    const bool as4 = subtype == kBgp4mpMessageAs4 || subtype == kBgp4mpMessageAs4Local;
    MrtUpdate u;
    u.timestamp = timestamp;
    u.peer.asn = as4 ? c.u32("peer AS") : c.u16("peer AS");
    as4 ? c.u32("local AS") : c.u16("local AS");
    c.u16("interface index");
    const uint16_t afi = c.u16("address family");
    if (afi != kAfiIpv4 && afi != kAfiIpv6) throw Malformed(fmt::format("address family {} unknown", afi));
    const Family f = afi == kAfiIpv4 ? Family::v4 : Family::v6;
    u.peer.address = read_address(c, f, "peer IP address");
    read_address(c, f, "local IP address");
    // RFC 4271 4.1: marker, length, type.
    const uint8_t* marker = c.bytes(16, "BGP marker");
    if (!std::all_of(marker, marker + 16, [](uint8_t b) { return b == 0xff; }))
        throw Malformed("BGP marker is not all ones");
    const uint16_t msg_len = c.u16("BGP message length");
    const uint8_t msg_type = c.u8("BGP message type");
    if (msg_len < 19 || size_t(msg_len) - 19 != c.left())
        throw Malformed(fmt::format("BGP message length {} does not match the {} bytes in the record", msg_len,
                                    c.left() + 19));
    if (msg_type != 2) return false;
    // RFC 4271 4.3: withdrawn routes, path attributes, NLRI.
    const uint16_t withdrawn_len = c.u16("withdrawn routes length");
    read_prefixes(c.take(withdrawn_len, "withdrawn routes"), Family::v4, "withdrawn prefix", u.withdrawn);
    const uint16_t attr_len = c.u16("total path attribute length");
    Attributes a = read_attributes(c.take(attr_len, "path attributes"), as4 ? 4 : 2, false);
    std::vector<Prefix> nlri;
    read_prefixes(c, Family::v4, "NLRI prefix", nlri);
    nlri.insert(nlri.end(), a.mp_reach.begin(), a.mp_reach.end());
    u.withdrawn.insert(u.withdrawn.end(), a.mp_unreach.begin(), a.mp_unreach.end());
    for (const Prefix& p : nlri) {
        Route r = a.base;
        r.prefix = p;
        u.announced.push_back(std::move(r));
    }
    dump.updates.push_back(std::move(u));
    return true;
}

}  // namespace

MrtError::MrtError(std::string file, size_t record, size_t offset, std::string reason)
    : std::runtime_error(fmt::format("{}: MRT record {} (offset {}): {}", file, record, offset, reason)),
      file_(std::move(file)), record_(record), offset_(offset), reason_(std::move(reason)) {}

MrtDump parse_mrt(std::span<const uint8_t> data, std::string_view file_name) {
    MrtDump dump;
    Cursor file(data.data(), data.size());
    size_t index = 0;
    while (!file.done()) {
        const size_t offset = data.size() - file.left();
        try {
            // RFC 6396 2: timestamp, type, subtype, length (of what follows).
            const uint32_t timestamp = file.u32("MRT header");
            const uint16_t type = file.u16("MRT header");
            const uint16_t subtype = file.u16("MRT header");
            const uint32_t length = file.u32("MRT header");
            if (length > kMrtMaxRecordLength)
                throw Malformed(fmt::format("record length {} exceeds the {} byte limit", length, kMrtMaxRecordLength));
            if (length > file.left())
                throw Malformed(fmt::format("record length {} exceeds the {} bytes left in the file", length, file.left()));
            Cursor body = file.take(length, "record");
            bool used = false;
            if (type == kMrtTableDumpV2) {
                switch (subtype) {
                    case kMrtPeerIndexTable: read_peer_index_table(body, dump); used = true; break;
                    case kMrtRibIpv4Unicast: read_rib(body, Family::v4, dump); used = true; break;
                    case kMrtRibIpv6Unicast: read_rib(body, Family::v6, dump); used = true; break;
                    default: break;  // multicast, generic, ADD-PATH RIBs: not used for SAV
                }
            } else if (type == kMrtBgp4mp || type == kMrtBgp4mpEt) {
                if (type == kMrtBgp4mpEt) body.u32("BGP4MP_ET microseconds");  // RFC 6396 3
                switch (subtype) {
                    case kBgp4mpMessage:
                    case kBgp4mpMessageAs4:
                    case kBgp4mpMessageLocal:
                    case kBgp4mpMessageAs4Local: used = read_bgp4mp_message(body, subtype, timestamp, dump); break;
                    default: break;  // state changes
                }
            }
            if (!used) ++dump.skipped_records;
        } catch (const Malformed& e) {
            throw MrtError(std::string(file_name), index, offset, e.what());
        }
        ++index;
    }
    dump.records = index;
    return dump;
}

MrtDump load_mrt_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw MrtError(path, 0, 0, "cannot open the file");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw MrtError(path, 0, 0, "read error");
    return parse_mrt(bytes, path);
}

size_t feed_mrt(RuleCompiler& compiler, const MrtDump& dump,
                const std::function<std::optional<uint16_t>(const MrtPeer&)>& iface_of) {
    size_t announced = 0;
    std::vector<std::optional<uint16_t>> iface_of_peer;
    for (const MrtPeer& p : dump.peers) iface_of_peer.push_back(iface_of(p));
    for (const MrtRibRoute& r : dump.rib)
        if (auto iface = iface_of_peer[r.peer_index]) {
            compiler.announce(*iface, r.route);
            ++announced;
        }
    for (const MrtUpdate& u : dump.updates) {
        auto iface = iface_of(u.peer);
        if (!iface) continue;
        for (const Prefix& p : u.withdrawn) compiler.withdraw(*iface, p);
        for (const Route& r : u.announced) {
            compiler.announce(*iface, r);
            ++announced;
        }
    }
    return announced;
}

// ---------------------------------------------------------------- writer

namespace {

void put8(std::vector<uint8_t>& o, uint8_t v) { o.push_back(v); }
void put16(std::vector<uint8_t>& o, uint16_t v) {
    o.push_back(uint8_t(v >> 8));
    o.push_back(uint8_t(v));
}
void put32(std::vector<uint8_t>& o, uint32_t v) {
    put16(o, uint16_t(v >> 16));
    put16(o, uint16_t(v));
}
void put_address(std::vector<uint8_t>& o, const IpAddr& a) {
    o.insert(o.end(), a.bytes.begin(), a.bytes.begin() + (a.is_v4() ? 4 : 16));
}
void put_prefix(std::vector<uint8_t>& o, const Prefix& p) {
    const Prefix n = p.network();
    put8(o, n.len);
    o.insert(o.end(), n.addr.bytes.begin(), n.addr.bytes.begin() + (n.len + 7) / 8);
}
void put_attribute(std::vector<uint8_t>& o, uint8_t flags, uint8_t type, const std::vector<uint8_t>& value) {
    if (value.size() > 0xffff) throw std::length_error("path attribute longer than 65535 bytes");
    if (value.size() > 255) flags |= kFlagExtendedLength;
    put8(o, flags);
    put8(o, type);
    if (flags & kFlagExtendedLength)
        put16(o, uint16_t(value.size()));
    else
        put8(o, uint8_t(value.size()));
    o.insert(o.end(), value.begin(), value.end());
}
void put_path_and_communities(std::vector<uint8_t>& o, const Route& r) {
    std::vector<uint8_t> v;
    put8(v, 0);  // ORIGIN IGP
    put_attribute(o, kFlagTransitive, kAttrOrigin, v);
    v.clear();
    for (const auto& seg : r.as_path)
        for (size_t at = 0; at < seg.asns.size(); at += 255) {  // a segment holds at most 255 ASes
            const size_t n = std::min<size_t>(255, seg.asns.size() - at);
            put8(v, seg.is_set ? 1 : 2);
            put8(v, uint8_t(n));
            for (size_t i = 0; i < n; ++i) put32(v, seg.asns[at + i]);
        }
    put_attribute(o, kFlagTransitive, kAttrAsPath, v);
    if (!r.communities.empty()) {
        v.clear();
        for (uint32_t c : r.communities) put32(v, c);
        put_attribute(o, kFlagOptional | kFlagTransitive, kAttrCommunities, v);
    }
}

}  // namespace

void MrtWriter::header(uint32_t timestamp, uint16_t type, uint16_t subtype, size_t length) {
    if (length > kMrtMaxRecordLength) throw std::length_error("MRT record too long");
    put32(out_, timestamp);
    put16(out_, type);
    put16(out_, subtype);
    put32(out_, uint32_t(length));
}

void MrtWriter::peer_index_table(uint32_t collector_bgp_id, std::string_view view_name, const std::vector<MrtPeer>& peers,
                                 uint32_t timestamp) {
    std::vector<uint8_t> b;
    put32(b, collector_bgp_id);
    put16(b, uint16_t(view_name.size()));
    b.insert(b.end(), view_name.begin(), view_name.end());
    put16(b, uint16_t(peers.size()));
    for (const MrtPeer& p : peers) {
        put8(b, uint8_t((p.address.is_v4() ? 0 : 1) | 2));  // always 4-byte AS
        put32(b, p.bgp_id);
        put_address(b, p.address);
        put32(b, p.asn);
    }
    header(timestamp, kMrtTableDumpV2, kMrtPeerIndexTable, b.size());
    out_.insert(out_.end(), b.begin(), b.end());
}

void MrtWriter::rib(uint32_t sequence, const Prefix& prefix, const std::vector<MrtRibRoute>& entries, uint32_t timestamp) {
    std::vector<uint8_t> b;
    put32(b, sequence);
    put_prefix(b, prefix);
    put16(b, uint16_t(entries.size()));
    for (const MrtRibRoute& e : entries) {
        put16(b, e.peer_index);
        put32(b, e.originated);
        std::vector<uint8_t> attrs;
        put_path_and_communities(attrs, e.route);
        if (!prefix.addr.is_v4()) {  // RFC 6396 4.3.4: abbreviated MP_REACH_NLRI, next hop only
            std::vector<uint8_t> nh;
            put8(nh, 16);
            nh.resize(17, 0);
            put_attribute(attrs, kFlagOptional, kAttrMpReach, nh);
        }
        put16(b, uint16_t(attrs.size()));
        b.insert(b.end(), attrs.begin(), attrs.end());
    }
    header(timestamp, kMrtTableDumpV2, prefix.addr.is_v4() ? kMrtRibIpv4Unicast : kMrtRibIpv6Unicast, b.size());
    out_.insert(out_.end(), b.begin(), b.end());
}

void MrtWriter::update(const MrtPeer& peer, Asn local_asn, const IpAddr& local_address, const std::vector<Prefix>& withdrawn,
                       const std::vector<Prefix>& announced, const Route& attributes, uint32_t timestamp,
                       bool extended_timestamp) {
    if (peer.address.family != local_address.family)
        throw std::invalid_argument("MRT update: peer and local addresses of different families");
    std::vector<uint8_t> w4, n4, mp_reach, mp_unreach;
    for (const Prefix& p : withdrawn) put_prefix(p.addr.is_v4() ? w4 : mp_unreach, p);
    for (const Prefix& p : announced) put_prefix(p.addr.is_v4() ? n4 : mp_reach, p);
    std::vector<uint8_t> attrs;
    if (!announced.empty()) {
        put_path_and_communities(attrs, attributes);
        if (!n4.empty()) {
            std::vector<uint8_t> nh;
            if (peer.address.is_v4())
                put_address(nh, peer.address);
            else
                nh.resize(4, 0);
            put_attribute(attrs, kFlagTransitive, kAttrNextHop, nh);
        }
        if (!mp_reach.empty()) {
            std::vector<uint8_t> v;
            put16(v, kAfiIpv6);
            put8(v, kSafiUnicast);
            put8(v, 16);
            if (peer.address.is_v4())
                v.resize(v.size() + 16, 0);
            else
                put_address(v, peer.address);
            put8(v, 0);
            v.insert(v.end(), mp_reach.begin(), mp_reach.end());
            put_attribute(attrs, kFlagOptional, kAttrMpReach, v);
        }
    }
    if (!mp_unreach.empty()) {
        std::vector<uint8_t> v;
        put16(v, kAfiIpv6);
        put8(v, kSafiUnicast);
        v.insert(v.end(), mp_unreach.begin(), mp_unreach.end());
        put_attribute(attrs, kFlagOptional, kAttrMpUnreach, v);
    }
    std::vector<uint8_t> msg(16, 0xff);
    const size_t msg_len = 19 + 2 + w4.size() + 2 + attrs.size() + n4.size();
    if (msg_len > 0xffff) throw std::length_error("BGP UPDATE longer than 65535 bytes");
    put16(msg, uint16_t(msg_len));
    put8(msg, 2);
    put16(msg, uint16_t(w4.size()));
    msg.insert(msg.end(), w4.begin(), w4.end());
    put16(msg, uint16_t(attrs.size()));
    msg.insert(msg.end(), attrs.begin(), attrs.end());
    msg.insert(msg.end(), n4.begin(), n4.end());

    std::vector<uint8_t> b;
    if (extended_timestamp) put32(b, 0);  // microseconds
    put32(b, peer.asn);
    put32(b, local_asn);
    put16(b, 0);
    put16(b, peer.address.is_v4() ? kAfiIpv4 : kAfiIpv6);
    put_address(b, peer.address);
    put_address(b, local_address);
    b.insert(b.end(), msg.begin(), msg.end());
    header(timestamp, extended_timestamp ? kMrtBgp4mpEt : kMrtBgp4mp, kBgp4mpMessageAs4, b.size());
    out_.insert(out_.end(), b.begin(), b.end());
}

void MrtWriter::write_file(const std::string& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error(fmt::format("cannot create {}", path));
    f.write(reinterpret_cast<const char*>(out_.data()), std::streamsize(out_.size()));
    if (!f) throw std::runtime_error(fmt::format("cannot write {}", path));
}

}  // namespace rampart::sav
