// What the BGP codec's files (codec.cpp, attributes.cpp, nlri.cpp) share and
// nothing else needs: big-endian reads and writes, the message header, the
// NLRI and attribute coders the UPDATE decoder and encoder are built from.
// Not part of the codec's API (message.hpp is).
#pragma once

#include <bitset>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "slowpath/bgp/message.hpp"

namespace rampart::bgp::detail {

using Bytes = std::vector<uint8_t>;
using Span = std::span<const uint8_t>;

inline uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t get32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t get64(const uint8_t* p) { return uint64_t(get32(p)) << 32 | get32(p + 4); }

inline void put8(Bytes& b, uint8_t v) { b.push_back(v); }
inline void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}
inline void put32(Bytes& b, uint32_t v) {
    b.push_back(uint8_t(v >> 24));
    b.push_back(uint8_t(v >> 16));
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}
inline void put64(Bytes& b, uint64_t v) {
    put32(b, uint32_t(v >> 32));
    put32(b, uint32_t(v));
}
inline void put(Bytes& b, Span s) { b.insert(b.end(), s.begin(), s.end()); }
inline void set16(Bytes& b, size_t at, size_t v) {
    b[at] = uint8_t(v >> 8);
    b[at + 1] = uint8_t(v);
}

// The 16-octet marker, a length to fill in by finish_message, the type.
void begin_message(Bytes& b, MessageType type);
// Writes the length of everything from the marker on into the header.
void finish_message(Bytes& b, size_t start = 0);

Notification make_notification(uint8_t code, uint8_t subcode, std::vector<uint8_t> data, std::string reason);

// The UPDATE after its header (update.cpp).
std::variant<Message, Notification> decode_update(Span body, const CodecOptions& options);

// ---- NLRI (nlri.cpp) ----

// How many octets the NLRI encoding of `n` takes in `family` (path id
// included when `add_path`; a withdrawal of a labeled family carries one
// label field whatever its labels, RFC 8277 §2.4).
size_t nlri_size(const Nlri& n, AddressFamily family, bool add_path, bool withdrawn);
void encode_nlri(Bytes& out, const Nlri& n, AddressFamily family, bool add_path, bool withdrawn);
// Decodes a whole NLRI field (the classic withdrawn/NLRI fields or the one
// inside MP_REACH / MP_UNREACH) into `out`. False with `error` set on a
// syntax error: a length past the field, a prefix length the family cannot
// have, a label stack or RD past the entry. Trailing (host) bits are
// cleared: RFC 4271 §4.3 calls their value irrelevant.
bool decode_nlri(Span field, AddressFamily family, bool add_path, bool withdrawn, std::vector<Nlri>& out,
                 std::string& error);
// The families whose NLRI this codec reads and writes: IPv4 and IPv6
// unicast, labeled unicast and VPN (the others are skipped on decode:
// RFC 4760 §7 lets a speaker ignore what it did not negotiate, and a
// session only negotiates what it knows).
bool supported_family(AddressFamily family);

// ---- path attributes (attributes.cpp) ----

// What decoding an attribute block found besides the attributes: the next
// hops before they are settled (an UPDATE may carry NEXT_HOP for classic
// NLRI and an MP_REACH next hop for another family), framing errors, the
// MP attributes (RFC 4724 End-of-RIB, RFC 7606 §5.2 missing NLRI).
struct AttributeScan {
    std::optional<IpAddr> next_hop_attribute;            // NEXT_HOP
    std::optional<IpAddr> mp_next_hop, mp_link_local;    // MP_REACH
    std::optional<AddressFamily> mp_family;              // of a decoded MP_REACH
    std::optional<AddressFamily> mp_unreach_family;
    bool mp_reach = false, mp_unreach = false, mp_unreach_empty = false;
    bool framing_error = false;                          // RFC 7606 §4: attributes after it unread
    std::bitset<256> seen;                               // attribute types met (first occurrences)
    std::vector<AddressFamily> skipped_families;         // MP attributes of families not decoded
    using FamilyRoutesRef = Update::FamilyRoutes&;
    // The update's entry for `f`, made on first use.
    static FamilyRoutesRef routes(Update& u, AddressFamily f);
};

// Decodes `block` into update.attributes and the MP NLRI into
// update.families; a Notification when the session must reset.
std::optional<Notification> decode_attribute_block(Span block, const CodecOptions& options, Update& update,
                                                   AttributeScan& scan);
// Puts the next hops found where message.hpp says they go.
void settle_next_hops(Update& update, const AttributeScan& scan, bool classic_nlri);

// The attributes other than MP_REACH / MP_UNREACH, in type order, for a
// peer with `options`; NEXT_HOP when `classic_next_hop` is an IPv4 address.
void encode_attributes(Bytes& out, const PathAttributes& a, const CodecOptions& options,
                       const std::optional<IpAddr>& classic_next_hop);
// The header of an MP_REACH / MP_UNREACH attribute whose value is `len`
// octets (extended length when it needs it), and its size.
void mp_attribute_header(Bytes& out, AttrType type, size_t len);
size_t mp_attribute_header_size(size_t len);

}  // namespace rampart::bgp::detail
