// NLRI (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3) and the UPDATE message
// around them: decode checks the withdrawn-routes and attribute lengths
// against the message, the NLRI against their fields; encode packs NLRI
// into as few messages as the maximum length allows.
//
// Families: an NLRI's layout is [path id] length [labels] [RD] prefix, the
// length counting labels and RD: unicast has neither, labeled unicast
// (RFC 8277) a label stack, VPN (RFC 4364) labels and a route
// distinguisher; their next hops are checked in attributes.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "slowpath/bgp/codec_detail.hpp"

namespace rampart::bgp {

using namespace detail;

namespace detail {

namespace {

unsigned address_bits(AddressFamily f) { return f.afi == Afi::ipv6 ? 128 : 32; }

// What precedes the prefix in an NLRI of `family`, inside its length:
// a label stack (RFC 8277 §2: 3 octets per label, the last with the
// bottom-of-stack bit) and a route distinguisher (RFC 4364 §4.3.4).
struct Layout {
    bool labels = false;
    bool rd = false;
};
Layout layout(AddressFamily f) {
    switch (f.safi) {
    case Safi::labeled_unicast: return {true, false};
    case Safi::vpn: return {true, true};
    default: return {};
    }
}

// RFC 8277 §2.4 / RFC 3107: the label field of a withdrawal, ignored on receipt.
inline constexpr uint32_t kWithdrawLabelField = 0x800000;
inline constexpr size_t kLabelOctets = 3, kRdOctets = 8;

// One NLRI at field[at]: the octets it takes, or 0 with `error`. Fills `n`
// when given (the first decode pass only checks and counts).
size_t parse_nlri(Span field, size_t at, AddressFamily family, bool add_path, bool withdrawn, Nlri* n,
                  std::string& error) {
    const size_t start = at;
    if (add_path) {
        if (field.size() - at < 4) {
            error = fmt::format("path id at {} needs 4 octets, {} left", at, field.size() - at);
            return 0;
        }
        if (n) n->path_id = get32(&field[at]);
        at += 4;
    }
    if (at >= field.size()) {
        error = fmt::format("NLRI entry at {} has no length", start);
        return 0;
    }
    size_t bits = field[at++];
    const Layout l = layout(family);
    if (l.labels) {
        // A withdrawal carries one label field whatever its value (RFC 8277
        // §2.4); an announcement a stack down to the bottom-of-stack bit.
        for (bool bottom = false; !bottom;) {
            if (bits < 24 || field.size() - at < kLabelOctets) {
                error = fmt::format("label stack at {} runs past the NLRI ({} bits, {} octets left)", start, bits,
                                    field.size() - at);
                return 0;
            }
            const uint32_t entry = uint32_t(field[at]) << 16 | uint32_t(field[at + 1]) << 8 | field[at + 2];
            bottom = withdrawn || (entry & 1);
            if (n && !withdrawn) n->labels.push_back(entry >> 4);
            at += kLabelOctets;
            bits -= 24;
        }
    }
    if (l.rd) {
        if (bits < 64 || field.size() - at < kRdOctets) {
            error = fmt::format("route distinguisher at {} runs past the NLRI", start);
            return 0;
        }
        if (n) n->route_distinguisher = get64(&field[at]);
        at += kRdOctets;
        bits -= 64;
    }
    const unsigned max_bits = address_bits(family);
    if (bits > max_bits) {
        error = fmt::format("prefix length {} for a {}-bit address", bits, max_bits);
        return 0;
    }
    const size_t bytes = (bits + 7) / 8;
    if (bytes > field.size() - at) {
        error = fmt::format("prefix of length {} needs {} octets, {} left", bits, bytes, field.size() - at);
        return 0;
    }
    if (n) {
        n->prefix.addr.family = family.afi == Afi::ipv6 ? Family::v6 : Family::v4;
        n->prefix.len = uint8_t(bits);
        std::memcpy(n->prefix.addr.bytes.data(), &field[at], bytes);
        // RFC 4271 §4.3: the trailing bits' value is irrelevant.
        if (bits % 8) n->prefix.addr.bytes[bytes - 1] &= uint8_t(0xff << (8 - bits % 8));
    }
    return at + bytes - start;
}

}  // namespace

bool supported_family(AddressFamily f) {
    return (f.afi == Afi::ipv4 || f.afi == Afi::ipv6) &&
           (f.safi == Safi::unicast || f.safi == Safi::labeled_unicast || f.safi == Safi::vpn);
}

size_t nlri_size(const Nlri& n, AddressFamily family, bool add_path, bool withdrawn) {
    const Layout l = layout(family);
    const size_t labels = l.labels ? (withdrawn || n.labels.empty() ? 1 : n.labels.size()) : 0;
    return (add_path ? 4 : 0) + 1 + kLabelOctets * labels + (l.rd ? kRdOctets : 0) + (size_t(n.prefix.len) + 7) / 8;
}

void encode_nlri(Bytes& out, const Nlri& n, AddressFamily family, bool add_path, bool withdrawn) {
    if (add_path) put32(out, n.path_id);
    const Layout l = layout(family);
    const size_t labels = l.labels ? (withdrawn || n.labels.empty() ? 1 : n.labels.size()) : 0;
    put8(out, uint8_t(24 * labels + (l.rd ? 64 : 0) + n.prefix.len));
    for (size_t i = 0; i < labels; ++i) {
        // Label(20) TC(3) S(1); an announcement without labels gets the
        // implicit-null label 3.
        const uint32_t entry =
            withdrawn ? kWithdrawLabelField
                      : ((n.labels.empty() ? 3u : n.labels[i]) & 0xfffff) << 4 | (i + 1 == labels ? 1u : 0u);
        put8(out, uint8_t(entry >> 16));
        put8(out, uint8_t(entry >> 8));
        put8(out, uint8_t(entry));
    }
    if (l.rd) put64(out, n.route_distinguisher.value_or(0));
    const uint8_t len = n.prefix.len;
    const size_t bytes = (size_t(len) + 7) / 8;
    const size_t at = out.size();
    out.insert(out.end(), n.prefix.addr.bytes.begin(), n.prefix.addr.bytes.begin() + bytes);
    if (len % 8) out[at + bytes - 1] &= uint8_t(0xff << (8 - len % 8));  // host bits go out as zeros
}

bool decode_nlri(Span field, AddressFamily family, bool add_path, bool withdrawn, std::vector<Nlri>& out,
                 std::string& error) {
    // First pass: check every entry and count them, so the second fills
    // one allocation.
    size_t count = 0;
    for (size_t at = 0; at < field.size(); ++count) {
        const size_t n = parse_nlri(field, at, family, add_path, withdrawn, nullptr, error);
        if (n == 0) return false;
        at += n;
    }
    out.reserve(out.size() + count);
    for (size_t at = 0; at < field.size();) at += parse_nlri(field, at, family, add_path, withdrawn, &out.emplace_back(), error);
    return true;
}

std::variant<Message, Notification> decode_update(Span body, const CodecOptions& options) {
    // Withdrawn Routes Length(2) Withdrawn Routes, Total Path Attribute
    // Length(2) Path Attributes, NLRI (§4.3). The header guaranteed 4 octets.
    auto malformed_list = [](std::string why) {
        return make_notification(error::kUpdate, error::kMalformedAttributeList, {}, std::move(why));
    };
    const size_t withdrawn_len = get16(&body[0]);
    if (withdrawn_len > body.size() - 4)  // §6.3: lengths past the message
        return malformed_list(fmt::format("withdrawn routes length {} with {} octets left", withdrawn_len,
                                          body.size() - 4));
    const size_t attr_len = get16(&body[2 + withdrawn_len]);
    if (attr_len > body.size() - 4 - withdrawn_len)
        return malformed_list(fmt::format("total path attribute length {} with {} octets left", attr_len,
                                          body.size() - 4 - withdrawn_len));
    const Span withdrawn = body.subspan(2, withdrawn_len);
    const Span attrs = body.subspan(4 + withdrawn_len, attr_len);
    const Span nlri = body.subspan(4 + withdrawn_len + attr_len);

    Update u;
    // RFC 4724 §2: an UPDATE with nothing in it is IPv4 unicast's End-of-RIB.
    if (body.size() == 4) {
        u.end_of_rib = kIpv4Unicast;
        return Message{std::move(u)};
    }
    auto invalid_network = [](const char* field, std::string why) {
        // RFC 7606 §5.3: NLRI that cannot be parsed reset the session.
        return make_notification(error::kUpdate, error::kInvalidNetworkField, {},
                                 fmt::format("{}: {}", field, why));
    };
    const bool add_path = options.receive_add_path(kIpv4Unicast);
    std::string why;
    if (!withdrawn.empty() &&
        !decode_nlri(withdrawn, kIpv4Unicast, add_path, true, AttributeScan::routes(u, kIpv4Unicast).withdrawn, why))
        return invalid_network("withdrawn routes", why);
    AttributeScan scan;
    if (auto n = decode_attribute_block(attrs, options, u, scan)) return std::move(*n);
    if (!nlri.empty() &&
        !decode_nlri(nlri, kIpv4Unicast, add_path, false, AttributeScan::routes(u, kIpv4Unicast).announced, why))
        return invalid_network("NLRI", why);

    bool announces = false;
    for (const auto& r : u.families) announces |= !r.announced.empty();
    // RFC 7606 §3 d: a missing well-known mandatory attribute withdraws.
    if (announces && !scan.framing_error) {
        auto missing = [&](AttrType t, const char* name) {
            if (scan.seen[uint8_t(t)]) return;
            u.treat_as_withdraw = true;
            if (!u.error.empty()) u.error += "; ";
            u.error += fmt::format("{} missing: treat-as-withdraw", name);
        };
        missing(AttrType::origin, "ORIGIN");
        missing(AttrType::as_path, "AS_PATH");
        if (!nlri.empty()) missing(AttrType::next_hop, "NEXT_HOP");
    }
    // RFC 7606 §5.2: after an error, an UPDATE with attributes but no
    // reachable NLRI found may have lost them in the malformation: it resets.
    if (u.treat_as_withdraw && nlri.empty() && !scan.mp_reach)
        return malformed_list("malformed attributes and no reachable NLRI: " + u.error);
    settle_next_hops(u, scan, !nlri.empty());
    // RFC 4724 §2: an MP_UNREACH alone with no NLRI is a family's End-of-RIB.
    if (scan.mp_unreach && scan.mp_unreach_empty && scan.seen.count() == 1 && withdrawn.empty() && nlri.empty())
        u.end_of_rib = scan.mp_unreach_family;
    std::erase_if(u.families, [](const Update::FamilyRoutes& r) { return r.withdrawn.empty() && r.announced.empty(); });
    return Message{std::move(u)};
}

}  // namespace detail

namespace {

// One family's routes as UPDATE messages of at most `max` octets.
class UpdatePacker {
public:
    UpdatePacker(const Update& m, const Update::FamilyRoutes& routes, const CodecOptions& options,
                 std::vector<Bytes>& out)
        : routes_(routes), out_(out), max_(options.max_message_length()),
          add_path_(options.send_add_path(routes.family)) {
        next_hop_ = routes.next_hop ? routes.next_hop : m.attributes.next_hop;
        link_local_ = routes.next_hop ? routes.link_local_next_hop : m.attributes.link_local_next_hop;
        // IPv4 unicast goes in the classic fields unless its next hop is
        // IPv6 (RFC 8950), which only MP_REACH can carry.
        classic_ = routes.family == kIpv4Unicast && (!next_hop_ || next_hop_->is_v4());
        if (!routes.announced.empty())
            encode_attributes(attributes_, m.attributes, options, classic_ ? next_hop_ : std::nullopt);
        if (!classic_ && next_hop_) {
            // VPN next hops: a zero route distinguisher before each address.
            const size_t rd = routes.family.safi == Safi::vpn ? 8 : 0;
            next_hop_bytes_.insert(next_hop_bytes_.end(), rd, 0);
            const size_t n = next_hop_->is_v4() ? 4 : 16;
            next_hop_bytes_.insert(next_hop_bytes_.end(), next_hop_->bytes.begin(), next_hop_->bytes.begin() + n);
            if (!next_hop_->is_v4() && link_local_) {
                next_hop_bytes_.insert(next_hop_bytes_.end(), rd, 0);
                next_hop_bytes_.insert(next_hop_bytes_.end(), link_local_->bytes.begin(), link_local_->bytes.end());
            }
        }
    }

    void run() {
        while (w_ < routes_.withdrawn.size() || a_ < routes_.announced.size()) {
            const size_t before = w_ + a_;
            classic_ ? classic_message() : mp_message();
            if (w_ + a_ == before) break;  // attributes too large for any message: nothing more fits
        }
    }

private:
    // How many of `nlri` from `from` fit in `room` octets, and their size.
    std::pair<size_t, size_t> fit(const std::vector<Nlri>& nlri, size_t from, size_t room) const {
        const bool withdrawn = &nlri == &routes_.withdrawn;
        size_t used = 0, i = from;
        for (; i < nlri.size(); ++i) {
            const size_t s = nlri_size(nlri[i], routes_.family, add_path_, withdrawn);
            if (used + s > room) break;
            used += s;
        }
        return {i - from, used};
    }

    void put_nlri(Bytes& b, const std::vector<Nlri>& nlri, size_t from, size_t n) const {
        const bool withdrawn = &nlri == &routes_.withdrawn;
        for (size_t i = from; i < from + n; ++i) encode_nlri(b, nlri[i], routes_.family, add_path_, withdrawn);
    }

    void classic_message() {
        Bytes b;
        b.reserve(max_);
        begin_message(b, MessageType::update);
        size_t room = max_ - kHeaderLength - 4;
        const auto [nw, wsize] = fit(routes_.withdrawn, w_, room);
        put16(b, uint16_t(wsize));
        put_nlri(b, routes_.withdrawn, w_, nw);
        w_ += nw;
        room -= wsize;
        const size_t attr_len_at = b.size();
        put16(b, 0);
        if (w_ == routes_.withdrawn.size() && a_ < routes_.announced.size() && attributes_.size() < room) {
            const auto [na, asize] = fit(routes_.announced, a_, room - attributes_.size());
            if (na > 0) {
                set16(b, attr_len_at, attributes_.size());
                put(b, attributes_);
                put_nlri(b, routes_.announced, a_, na);
                a_ += na;
            }
        }
        if (nw > 0 || b.size() > attr_len_at + 2) emit(b);
    }

    void mp_message() {
        Bytes b;
        b.reserve(max_);
        begin_message(b, MessageType::update);
        put16(b, 0);  // no classic withdrawn routes
        const size_t attr_len_at = b.size();
        put16(b, 0);
        size_t room = max_ - kHeaderLength - 4;
        const uint16_t afi = uint16_t(routes_.family.afi);
        const uint8_t safi = uint8_t(routes_.family.safi);
        if (w_ < routes_.withdrawn.size()) {
            // MP_UNREACH: header (4 with extended length) AFI(2) SAFI(1) NLRI
            const auto [nw, wsize] = fit(routes_.withdrawn, w_, room - 4 - 3);
            mp_attribute_header(b, AttrType::mp_unreach, 3 + wsize);
            put16(b, afi);
            put8(b, safi);
            put_nlri(b, routes_.withdrawn, w_, nw);
            w_ += nw;
            room = max_ - b.size();
        }
        // MP_REACH: header, AFI(2) SAFI(1) NH length(1) NH reserved(1) NLRI;
        // then the other attributes.
        const size_t fixed = 4 + 5 + next_hop_bytes_.size() + attributes_.size();
        if (w_ == routes_.withdrawn.size() && a_ < routes_.announced.size() && fixed < room) {
            const auto [na, asize] = fit(routes_.announced, a_, room - fixed);
            if (na > 0) {
                mp_attribute_header(b, AttrType::mp_reach, 5 + next_hop_bytes_.size() + asize);
                put16(b, afi);
                put8(b, safi);
                put8(b, uint8_t(next_hop_bytes_.size()));
                put(b, next_hop_bytes_);
                put8(b, 0);
                put_nlri(b, routes_.announced, a_, na);
                a_ += na;
                put(b, attributes_);
            }
        }
        set16(b, attr_len_at, b.size() - attr_len_at - 2);
        if (b.size() > kHeaderLength + 4) emit(b);
    }

    void emit(Bytes& b) {
        finish_message(b);
        out_.push_back(std::move(b));
    }

    const Update::FamilyRoutes& routes_;
    std::vector<Bytes>& out_;
    const size_t max_;
    const bool add_path_;
    bool classic_ = false;
    std::optional<IpAddr> next_hop_, link_local_;
    Bytes attributes_;      // everything but MP_REACH / MP_UNREACH
    Bytes next_hop_bytes_;  // MP_REACH's next hop
    size_t w_ = 0, a_ = 0;  // withdrawn and announced NLRI written so far
};

}  // namespace

std::vector<std::vector<uint8_t>> encode(const Update& m, const CodecOptions& options) {
    std::vector<Bytes> out;
    for (const Update::FamilyRoutes& routes : m.families) UpdatePacker(m, routes, options, out).run();
    if (m.end_of_rib) {
        Bytes b;
        begin_message(b, MessageType::update);
        put16(b, 0);
        if (*m.end_of_rib == kIpv4Unicast) {
            put16(b, 0);
        } else {  // RFC 4724 §2: MP_UNREACH with the family and no NLRI
            put16(b, 6);
            mp_attribute_header(b, AttrType::mp_unreach, 3);
            put16(b, uint16_t(m.end_of_rib->afi));
            put8(b, uint8_t(m.end_of_rib->safi));
        }
        finish_message(b);
        out.push_back(std::move(b));
    }
    return out;
}

}  // namespace rampart::bgp
