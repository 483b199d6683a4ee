// BGP path attributes (RFC 4271 §4.3, §5, §6.3), with RFC 7606's revised
// error handling: each malformed attribute gets the approach §7 of that RFC
// gives it (treat-as-withdraw, attribute discard, session reset), the
// strongest one wins (§3 j), framing errors withdraw and stop (§4).
// RFC 6793 (4-octet ASNs: AS4_PATH / AS4_AGGREGATOR merged on decode, split
// on encode), RFC 4760 (MP_REACH / MP_UNREACH), RFC 7607 (AS 0), RFC 8092,
// RFC 9234 (OTC).
#include <fmt/format.h>

#include <algorithm>
#include <bitset>

#include "slowpath/bgp/codec_detail.hpp"

namespace rampart::bgp {

using namespace detail;

// ---- PathAttributes helpers ----

size_t PathAttributes::as_path_length() const {
    size_t n = 0;
    for (const AsPathSegment& s : as_path) {
        if (s.kind == AsPathSegment::Kind::sequence) n += s.asns.size();
        else if (s.kind == AsPathSegment::Kind::set) n += 1;
    }
    return n;
}

std::optional<Asn> PathAttributes::origin_as() const {
    if (as_path.empty() || as_path.back().kind != AsPathSegment::Kind::sequence || as_path.back().asns.empty())
        return std::nullopt;
    return as_path.back().asns.back();
}

std::optional<Asn> PathAttributes::first_as() const {
    for (const AsPathSegment& s : as_path) {
        if (s.kind == AsPathSegment::Kind::confed_sequence || s.kind == AsPathSegment::Kind::confed_set) continue;
        if (s.kind == AsPathSegment::Kind::sequence && !s.asns.empty()) return s.asns.front();
        return std::nullopt;
    }
    return std::nullopt;
}

namespace detail {

namespace {

// Flags a known attribute must carry (RFC 4271 §5 and each attribute's RFC):
// the optional and transitive bits; partial and extended length are free.
std::optional<uint8_t> expected_flags(uint8_t type) {
    switch (AttrType(type)) {
    case AttrType::origin:
    case AttrType::as_path:
    case AttrType::next_hop:
    case AttrType::local_pref:
    case AttrType::atomic_aggregate: return kFlagTransitive;
    case AttrType::med:
    case AttrType::originator_id:
    case AttrType::cluster_list:
    case AttrType::mp_reach:
    case AttrType::mp_unreach: return kFlagOptional;
    case AttrType::aggregator:
    case AttrType::communities:
    case AttrType::extended_communities:
    case AttrType::as4_path:
    case AttrType::as4_aggregator:
    case AttrType::large_communities:
    case AttrType::otc: return kFlagOptional | kFlagTransitive;
    }
    return std::nullopt;
}

const char* attr_name(uint8_t type) {
    switch (AttrType(type)) {
    case AttrType::origin: return "ORIGIN";
    case AttrType::as_path: return "AS_PATH";
    case AttrType::next_hop: return "NEXT_HOP";
    case AttrType::med: return "MULTI_EXIT_DISC";
    case AttrType::local_pref: return "LOCAL_PREF";
    case AttrType::atomic_aggregate: return "ATOMIC_AGGREGATE";
    case AttrType::aggregator: return "AGGREGATOR";
    case AttrType::communities: return "COMMUNITIES";
    case AttrType::originator_id: return "ORIGINATOR_ID";
    case AttrType::cluster_list: return "CLUSTER_LIST";
    case AttrType::mp_reach: return "MP_REACH_NLRI";
    case AttrType::mp_unreach: return "MP_UNREACH_NLRI";
    case AttrType::extended_communities: return "EXTENDED_COMMUNITIES";
    case AttrType::as4_path: return "AS4_PATH";
    case AttrType::as4_aggregator: return "AS4_AGGREGATOR";
    case AttrType::large_communities: return "LARGE_COMMUNITY";
    case AttrType::otc: return "OTC";
    }
    return "attribute";
}

// AS_PATH / AS4_PATH segments of `asn_size`-octet ASNs (§4.3, RFC 6793 §3).
// Malformed (RFC 7606 §7.2): an unknown segment type, a zero segment
// length, a segment past the end.
bool parse_as_path(Span v, size_t asn_size, std::vector<AsPathSegment>& out, std::string& why) {
    size_t at = 0;
    while (at < v.size()) {
        if (v.size() - at < 2) {
            why = fmt::format("segment header needs 2 octets, {} left", v.size() - at);
            return false;
        }
        const uint8_t kind = v[at], count = v[at + 1];
        if (kind < 1 || kind > 4) {
            why = fmt::format("segment type {}", kind);
            return false;
        }
        if (count == 0) {
            why = "segment of length 0";
            return false;
        }
        if (size_t(count) * asn_size > v.size() - at - 2) {
            why = fmt::format("segment of {} ASNs, {} octets left", count, v.size() - at - 2);
            return false;
        }
        AsPathSegment s;
        s.kind = AsPathSegment::Kind(kind);
        s.asns.resize(count);
        const uint8_t* p = &v[at + 2];
        for (size_t i = 0; i < count; ++i, p += asn_size) s.asns[i] = asn_size == 4 ? get32(p) : get16(p);
        out.push_back(std::move(s));
        at += 2 + size_t(count) * asn_size;
    }
    return true;
}

bool has_as0(const std::vector<AsPathSegment>& path) {
    for (const AsPathSegment& s : path)
        if (std::find(s.asns.begin(), s.asns.end(), 0u) != s.asns.end()) return true;
    return false;
}

size_t path_count(const std::vector<AsPathSegment>& path) {
    PathAttributes a;
    a.as_path = path;
    return a.as_path_length();
}

// RFC 6793 §4.2.3: the leading ASNs of AS_PATH that AS4_PATH does not cover,
// then AS4_PATH. Adjacent AS_SEQUENCEs are joined (up to 255 ASNs) so the
// merged path encodes the way the 4-octet speaker that built it did.
std::vector<AsPathSegment> merge_as4_path(const std::vector<AsPathSegment>& as_path,
                                          const std::vector<AsPathSegment>& as4_path) {
    size_t keep = path_count(as_path) - path_count(as4_path);
    std::vector<AsPathSegment> out;
    for (const AsPathSegment& s : as_path) {
        if (s.kind == AsPathSegment::Kind::confed_sequence || s.kind == AsPathSegment::Kind::confed_set) {
            out.push_back(s);  // counts 0: always kept
            continue;
        }
        if (keep == 0) break;
        if (s.kind == AsPathSegment::Kind::set) {
            out.push_back(s);
            --keep;
            continue;
        }
        const size_t n = std::min(keep, s.asns.size());
        out.push_back({s.kind, std::vector<Asn>(s.asns.begin(), s.asns.begin() + n)});
        keep -= n;
    }
    for (const AsPathSegment& s : as4_path) {
        if (!out.empty() && out.back().kind == AsPathSegment::Kind::sequence &&
            s.kind == AsPathSegment::Kind::sequence && out.back().asns.size() + s.asns.size() <= 255) {
            out.back().asns.insert(out.back().asns.end(), s.asns.begin(), s.asns.end());
        } else {
            out.push_back(s);
        }
    }
    return out;
}

bool valid_ipv4_next_hop(uint32_t a) {
    // 0.0.0.0/8, 127/8, class D and E: never a next hop (RFC 4271 §6.3
    // "syntactically incorrect", RFC 7606 §7.3: treat-as-withdraw).
    const uint8_t top = uint8_t(a >> 24);
    return top != 0 && top != 127 && top < 224;
}

bool valid_ipv6_next_hop(const IpAddr& a) {
    static constexpr std::array<uint8_t, 16> kZero{};
    return a.bytes != kZero && a.bytes[0] != 0xff;  // not :: nor multicast
}

// The RFC 7606 approach for a malformed attribute that does not reset.
enum class Approach : uint8_t { attribute_discard, treat_as_withdraw };

}  // namespace

// Decoding state of one attribute block.
struct AttributeDecoder {
    const CodecOptions& options;
    Update& update;
    AttributeScan& scan;
    std::optional<Notification> reset;
    bool as4_path_seen = false, as4_aggregator_seen = false;
    std::vector<AsPathSegment> as4_path;
    std::optional<Aggregator> as4_aggregator;

    void note(const std::string& what) {
        if (!update.error.empty()) update.error += "; ";
        update.error += what;
    }
    void withdraw(uint8_t type, const std::string& why) {
        update.treat_as_withdraw = true;
        note(fmt::format("{} ({}): {}: treat-as-withdraw", attr_name(type), type, why));
    }
    void discard(uint8_t type, const std::string& why) {
        if (std::find(update.discarded.begin(), update.discarded.end(), type) == update.discarded.end())
            update.discarded.push_back(type);
        note(fmt::format("{} ({}): {}: discarded", attr_name(type), type, why));
    }
    // The attribute as it came (flags, type, length, value): the data of
    // the NOTIFICATIONs that name an attribute (RFC 4271 §6.3).
    static std::vector<uint8_t> whole(Span raw) { return {raw.begin(), raw.end()}; }
    void session_reset(uint8_t subcode, Span raw, const std::string& why) {
        if (!reset) reset = make_notification(error::kUpdate, subcode, whole(raw), why);
    }

    // Returns false when parsing must stop (a framing error or a reset).
    bool run(Span block) {
        size_t at = 0;
        while (at < block.size()) {
            // RFC 7606 §4: too few octets for a header, or a length past the
            // block: treat-as-withdraw, and the attributes end here.
            const size_t left = block.size() - at;
            if (left < 3 || (left < 4 && (block[at] & kFlagExtendedLength))) {
                update.treat_as_withdraw = true;
                note(fmt::format("attribute header truncated ({} octets left): treat-as-withdraw", left));
                scan.framing_error = true;
                return true;
            }
            const uint8_t flags = block[at], type = block[at + 1];
            const bool extended = flags & kFlagExtendedLength;
            const size_t header = extended ? 4 : 3;
            const size_t len = extended ? get16(&block[at + 2]) : block[at + 2];
            if (len > left - header) {
                update.treat_as_withdraw = true;
                note(fmt::format("{} ({}) of {} octets, {} left: treat-as-withdraw", attr_name(type), type, len,
                                 left - header));
                scan.framing_error = true;
                return true;
            }
            const Span raw = block.subspan(at, header + len);
            const Span value = raw.subspan(header);
            at += header + len;
            one(flags, type, value, raw);
            if (reset) return false;
        }
        return true;
    }

    void one(uint8_t flags, uint8_t type, Span v, Span raw) {
        // RFC 7606 §3 g: MP_REACH / MP_UNREACH twice resets; any other
        // attribute twice keeps the first.
        if (scan.seen[type]) {
            if (type == uint8_t(AttrType::mp_reach) || type == uint8_t(AttrType::mp_unreach))
                return session_reset(error::kMalformedAttributeList, {},
                                     fmt::format("{} appears twice", attr_name(type)));
            discard(type, "repeated");
            return;
        }
        scan.seen[type] = true;
        const auto expected = expected_flags(type);
        if (!expected) return unknown(flags, type, v);
        // RFC 7606 §3 c: optional/transitive bits in conflict → malformed.
        // The NLRI of MP attributes are still read (to be withdrawn).
        if ((flags & (kFlagOptional | kFlagTransitive)) != *expected) {
            withdraw(type, fmt::format("flags {:#04x}", flags));
            if (type != uint8_t(AttrType::mp_reach) && type != uint8_t(AttrType::mp_unreach)) return;
        }
        PathAttributes& a = update.attributes;
        auto length_is = [&](size_t want, Approach approach) {
            if (v.size() == want) return true;
            const std::string why = fmt::format("length {}, expected {}", v.size(), want);
            approach == Approach::attribute_discard ? discard(type, why) : withdraw(type, why);
            return false;
        };
        auto multiple_of = [&](size_t unit) {
            if (!v.empty() && v.size() % unit == 0) return true;
            withdraw(type, fmt::format("length {}, not a non-zero multiple of {}", v.size(), unit));
            return false;
        };
        switch (AttrType(type)) {
        case AttrType::origin:  // RFC 7606 §7.1
            if (!length_is(1, Approach::treat_as_withdraw)) return;
            if (v[0] > 2) return withdraw(type, fmt::format("value {}", v[0]));
            a.origin = Origin(v[0]);
            return;
        case AttrType::as_path: {  // RFC 7606 §7.2, RFC 7607
            std::string why;
            std::vector<AsPathSegment> path;
            if (!parse_as_path(v, options.four_octet_as ? 4 : 2, path, why)) return withdraw(type, why);
            if (has_as0(path)) return withdraw(type, "AS 0 in the path");
            a.as_path = std::move(path);
            return;
        }
        case AttrType::next_hop:  // RFC 7606 §7.3
            if (!length_is(4, Approach::treat_as_withdraw)) return;
            if (!valid_ipv4_next_hop(get32(&v[0])))
                return withdraw(type, fmt::format("{} is no next hop", IpAddr::v4(get32(&v[0])).str()));
            scan.next_hop_attribute = IpAddr::v4(get32(&v[0]));
            return;
        case AttrType::med:  // RFC 7606 §7.4
            if (length_is(4, Approach::treat_as_withdraw)) a.med = get32(&v[0]);
            return;
        case AttrType::local_pref:  // RFC 7606 §7.5
            if (!length_is(4, Approach::treat_as_withdraw)) return;
            if (options.external_peer) return discard(type, "from an external peer");
            a.local_pref = get32(&v[0]);
            return;
        case AttrType::atomic_aggregate:  // RFC 7606 §7.6
            if (length_is(0, Approach::attribute_discard)) a.atomic_aggregate = true;
            return;
        case AttrType::aggregator: {  // RFC 7606 §7.7, RFC 7607
            const size_t asn_size = options.four_octet_as ? 4 : 2;
            if (!length_is(asn_size + 4, Approach::attribute_discard)) return;
            const Aggregator g{asn_size == 4 ? get32(&v[0]) : get16(&v[0]), get32(&v[asn_size])};
            if (g.asn == 0) return discard(type, "AS 0");
            a.aggregator = g;
            return;
        }
        case AttrType::communities:  // RFC 7606 §7.8
            if (!multiple_of(4)) return;
            a.communities.resize(v.size() / 4);
            for (size_t i = 0; i < a.communities.size(); ++i) a.communities[i] = get32(&v[4 * i]);
            return;
        case AttrType::originator_id:  // RFC 7606 §7.9
            if (!length_is(4, Approach::treat_as_withdraw)) return;
            if (options.external_peer) return discard(type, "from an external peer");
            a.originator_id = get32(&v[0]);
            return;
        case AttrType::cluster_list:  // RFC 7606 §7.10
            if (!multiple_of(4)) return;
            if (options.external_peer) return discard(type, "from an external peer");
            a.cluster_list.resize(v.size() / 4);
            for (size_t i = 0; i < a.cluster_list.size(); ++i) a.cluster_list[i] = get32(&v[4 * i]);
            return;
        case AttrType::mp_reach: return mp_reach(v, raw);
        case AttrType::mp_unreach: return mp_unreach(v, raw);
        case AttrType::extended_communities:  // RFC 7606 §7.14
            if (!multiple_of(8)) return;
            a.extended_communities.resize(v.size() / 8);
            for (size_t i = 0; i < a.extended_communities.size(); ++i)
                a.extended_communities[i] = get64(&v[8 * i]);
            return;
        case AttrType::as4_path: {  // RFC 6793 §6: malformed → discard
            if (options.four_octet_as) return discard(type, "from a 4-octet AS speaker");
            std::string why;
            std::vector<AsPathSegment> path;
            if (!parse_as_path(v, 4, path, why)) return discard(type, why);
            for (const AsPathSegment& s : path)
                if (s.kind == AsPathSegment::Kind::confed_sequence || s.kind == AsPathSegment::Kind::confed_set)
                    return discard(type, "confederation segment");
            if (has_as0(path)) return discard(type, "AS 0 in the path");
            as4_path = std::move(path);
            as4_path_seen = true;
            return;
        }
        case AttrType::as4_aggregator:  // RFC 6793 §6: malformed → discard
            if (options.four_octet_as) return discard(type, "from a 4-octet AS speaker");
            if (!length_is(8, Approach::attribute_discard)) return;
            if (get32(&v[0]) == 0) return discard(type, "AS 0");
            as4_aggregator = Aggregator{get32(&v[0]), get32(&v[4])};
            as4_aggregator_seen = true;
            return;
        case AttrType::large_communities:  // RFC 8092 §6
            if (!multiple_of(12)) return;
            a.large_communities.resize(v.size() / 12);
            for (size_t i = 0; i < a.large_communities.size(); ++i)
                a.large_communities[i] = {get32(&v[12 * i]), get32(&v[12 * i + 4]), get32(&v[12 * i + 8])};
            return;
        case AttrType::otc:  // RFC 9234 §5
            if (length_is(4, Approach::treat_as_withdraw)) a.otc = get32(&v[0]);
            return;
        }
    }

    void unknown(uint8_t flags, uint8_t type, Span v) {
        // An unrecognized well-known attribute is an error (RFC 4271 §6.3);
        // RFC 7606 §3 b makes it treat-as-withdraw, as BIRD does.
        if (!(flags & kFlagOptional)) return withdraw(type, "unrecognized well-known attribute");
        UnknownAttribute u;
        u.flags = flags & ~kFlagExtendedLength;  // how the length was written is not part of the value
        u.type = type;
        u.value.assign(v.begin(), v.end());
        update.attributes.unknown.push_back(std::move(u));
    }

    // RFC 4760 §3: AFI(2) SAFI(1) next hop length(1) next hop reserved(1) NLRI.
    // RFC 7606 §7.11: a next hop or NLRI that cannot be parsed resets.
    void mp_reach(Span v, Span raw) {
        if (v.size() < 5)
            return session_reset(error::kOptionalAttributeError, raw,
                                 fmt::format("MP_REACH_NLRI of {} octets", v.size()));
        const AddressFamily family{Afi(get16(&v[0])), Safi(v[2])};
        const size_t nh_len = v[3];
        if (nh_len > v.size() - 5)
            return session_reset(error::kOptionalAttributeError, raw,
                                 fmt::format("MP_REACH_NLRI next hop of {} octets, {} left", nh_len, v.size() - 5));
        scan.mp_reach = true;
        if (!supported_family(family) || !options.decodes(family)) {
            scan.skipped_families.push_back(family);
            return;
        }
        // The next hop: IPv4 4 octets (IPv4 families only), or IPv6 16, or 32
        // with the link-local one (RFC 2545 §3; RFC 8950 for IPv4 NLRI).
        // VPN next hops carry a (zero) route distinguisher before each
        // address (RFC 4364 §4.3.2, RFC 4659 §3.2.1): 12, 24 or 48 octets.
        const size_t rd = family.safi == Safi::vpn ? 8 : 0;
        const size_t address_len = rd == 0 ? nh_len : nh_len == 12 ? 4 : nh_len == 24 ? 16 : nh_len == 48 ? 32 : 0;
        if (!(address_len == 4 && family.afi == Afi::ipv4) && address_len != 16 && address_len != 32)
            return session_reset(error::kOptionalAttributeError, raw,
                                 fmt::format("MP_REACH_NLRI next hop length {} for AFI {} SAFI {}", nh_len,
                                             uint16_t(family.afi), uint8_t(family.safi)));
        std::vector<Nlri>& out = scan.routes(update, family).announced;
        std::string why;
        if (!decode_nlri(v.subspan(5 + nh_len), family, options.receive_add_path(family), false, out, why))
            return session_reset(error::kOptionalAttributeError, raw, "MP_REACH_NLRI: " + why);
        scan.mp_family = family;
        const uint8_t* nh = &v[4 + rd];
        if (address_len == 4) {
            scan.mp_next_hop = IpAddr::v4(get32(nh));
            if (!valid_ipv4_next_hop(get32(nh)))
                return withdraw(uint8_t(AttrType::mp_reach),
                                fmt::format("next hop {} is no next hop", scan.mp_next_hop->str()));
        } else {
            scan.mp_next_hop = IpAddr::v6(nh);
            if (address_len == 32) scan.mp_link_local = IpAddr::v6(nh + 16 + rd);
            if (!valid_ipv6_next_hop(*scan.mp_next_hop))
                return withdraw(uint8_t(AttrType::mp_reach),
                                fmt::format("next hop {} is no next hop", scan.mp_next_hop->str()));
        }
    }

    // RFC 4760 §4: AFI(2) SAFI(1) withdrawn NLRI. RFC 7606 §7.12: resets
    // when malformed.
    void mp_unreach(Span v, Span raw) {
        if (v.size() < 3)
            return session_reset(error::kOptionalAttributeError, raw,
                                 fmt::format("MP_UNREACH_NLRI of {} octets", v.size()));
        const AddressFamily family{Afi(get16(&v[0])), Safi(v[2])};
        scan.mp_unreach = true;
        scan.mp_unreach_family = family;
        scan.mp_unreach_empty = v.size() == 3;
        if (!supported_family(family) || !options.decodes(family)) {
            scan.skipped_families.push_back(family);
            return;
        }
        std::string why;
        if (!decode_nlri(v.subspan(3), family, options.receive_add_path(family), true, scan.routes(update, family).withdrawn,
                         why))
            return session_reset(error::kOptionalAttributeError, raw, "MP_UNREACH_NLRI: " + why);
    }

    // RFC 6793 §4.2.3: from a 2-octet speaker, AS4_PATH and AS4_AGGREGATOR
    // restore what AS_TRANS stands for.
    void merge_as4() {
        PathAttributes& a = update.attributes;
        if (as4_aggregator_seen) {
            // An AGGREGATOR that is not AS_TRANS means the aggregation was
            // done by a 2-octet speaker after the AS4 attributes were made:
            // both are ignored.
            if (a.aggregator && a.aggregator->asn != kAsTrans) {
                note("AS4_AGGREGATOR and AS4_PATH ignored: AGGREGATOR is not AS_TRANS");
                return;
            }
            if (a.aggregator) a.aggregator = as4_aggregator;
        }
        if (!as4_path_seen) return;
        if (path_count(a.as_path) < path_count(as4_path)) {
            note("AS4_PATH ignored: longer than AS_PATH");
            return;
        }
        a.as_path = merge_as4_path(a.as_path, as4_path);
    }
};

AttributeScan::FamilyRoutesRef AttributeScan::routes(Update& u, AddressFamily f) {
    for (auto& r : u.families)
        if (r.family == f) return r;
    u.families.push_back({f, {}, {}});
    return u.families.back();
}

std::optional<Notification> decode_attribute_block(Span block, const CodecOptions& options, Update& update,
                                                   AttributeScan& scan) {
    AttributeDecoder d{options, update, scan};
    d.run(block);
    if (d.reset) return d.reset;
    if (!options.four_octet_as) d.merge_as4();
    std::sort(update.attributes.unknown.begin(), update.attributes.unknown.end(),
              [](const UnknownAttribute& x, const UnknownAttribute& y) { return x.type < y.type; });
    return std::nullopt;
}

// Where the next hops go (message.hpp): the MP_REACH one is the
// attributes' unless classic IPv4 NLRI share the message, which keep
// NEXT_HOP (RFC 4760 §3 otherwise has NEXT_HOP ignored).
void settle_next_hops(Update& update, const AttributeScan& scan, bool classic_nlri) {
    PathAttributes& a = update.attributes;
    if (scan.mp_next_hop && classic_nlri && scan.mp_family != kIpv4Unicast) {
        a.next_hop = scan.next_hop_attribute;
        for (auto& r : update.families)
            if (r.family == *scan.mp_family) {
                r.next_hop = scan.mp_next_hop;
                r.link_local_next_hop = scan.mp_link_local;
            }
    } else if (scan.mp_next_hop && !classic_nlri) {
        a.next_hop = scan.mp_next_hop;
        a.link_local_next_hop = scan.mp_link_local;
    } else {
        a.next_hop = scan.next_hop_attribute ? scan.next_hop_attribute : scan.mp_next_hop;
    }
}

// ---- encode ----

namespace {

void attribute_header(Bytes& out, uint8_t flags, AttrType type, size_t len) {
    if (len > 255) {
        put8(out, flags | kFlagExtendedLength);
        put8(out, uint8_t(type));
        put16(out, uint16_t(len));
    } else {
        put8(out, flags & ~kFlagExtendedLength);
        put8(out, uint8_t(type));
        put8(out, uint8_t(len));
    }
}

// Segments with ASNs of `asn_size` octets; ASNs that do not fit 2 octets
// become AS_TRANS (RFC 6793 §4.2.2). A segment over 255 ASNs is split.
Bytes as_path_value(const std::vector<AsPathSegment>& path, size_t asn_size, bool skip_confed) {
    Bytes v;
    for (const AsPathSegment& s : path) {
        if (skip_confed &&
            (s.kind == AsPathSegment::Kind::confed_sequence || s.kind == AsPathSegment::Kind::confed_set))
            continue;
        for (size_t from = 0; from < s.asns.size(); from += 255) {
            const size_t n = std::min<size_t>(255, s.asns.size() - from);
            put8(v, uint8_t(s.kind));
            put8(v, uint8_t(n));
            for (size_t i = from; i < from + n; ++i) {
                const Asn asn = s.asns[i];
                if (asn_size == 4) put32(v, asn);
                else put16(v, uint16_t(asn > 0xffff ? kAsTrans : asn));
            }
        }
    }
    return v;
}

bool needs_as4(const std::vector<AsPathSegment>& path) {
    for (const AsPathSegment& s : path)
        for (Asn a : s.asns)
            if (a > 0xffff) return true;
    return false;
}

void u32_attribute(Bytes& out, uint8_t flags, AttrType type, uint32_t value) {
    attribute_header(out, flags, type, 4);
    put32(out, value);
}

}  // namespace

void encode_attributes(Bytes& out, const PathAttributes& a, const CodecOptions& options,
                       const std::optional<IpAddr>& classic_next_hop) {
    const uint8_t wk = kFlagTransitive, opt = kFlagOptional, optt = kFlagOptional | kFlagTransitive;
    auto unknown_upto = [&, next = size_t(0)](unsigned type) mutable {
        // Unknown attributes in type order among the known ones. Optional
        // transitive ones are passed on with the partial bit (§5).
        for (; next < a.unknown.size() && a.unknown[next].type < type; ++next) {
            const UnknownAttribute& u = a.unknown[next];
            uint8_t flags = u.flags;
            if ((flags & kFlagOptional) && (flags & kFlagTransitive)) flags |= kFlagPartial;
            attribute_header(out, flags, AttrType(u.type), u.value.size());
            put(out, u.value);
        }
    };
    if (a.origin) {
        unknown_upto(1);
        attribute_header(out, wk, AttrType::origin, 1);
        put8(out, uint8_t(*a.origin));
    }
    unknown_upto(2);
    const Bytes path = as_path_value(a.as_path, options.four_octet_as ? 4 : 2, false);
    attribute_header(out, wk, AttrType::as_path, path.size());
    put(out, path);
    if (classic_next_hop && classic_next_hop->is_v4()) {
        unknown_upto(3);
        u32_attribute(out, wk, AttrType::next_hop, classic_next_hop->v4_host());
    }
    if (a.med) {
        unknown_upto(4);
        u32_attribute(out, opt, AttrType::med, *a.med);
    }
    if (a.local_pref) {
        unknown_upto(5);
        u32_attribute(out, wk, AttrType::local_pref, *a.local_pref);
    }
    if (a.atomic_aggregate) {
        unknown_upto(6);
        attribute_header(out, wk, AttrType::atomic_aggregate, 0);
    }
    if (a.aggregator) {
        unknown_upto(7);
        if (options.four_octet_as) {
            attribute_header(out, optt, AttrType::aggregator, 8);
            put32(out, a.aggregator->asn);
        } else {
            attribute_header(out, optt, AttrType::aggregator, 6);
            put16(out, uint16_t(a.aggregator->asn > 0xffff ? kAsTrans : a.aggregator->asn));
        }
        put32(out, a.aggregator->address);
    }
    if (!a.communities.empty()) {
        unknown_upto(8);
        attribute_header(out, optt, AttrType::communities, 4 * a.communities.size());
        for (uint32_t c : a.communities) put32(out, c);
    }
    if (a.originator_id) {
        unknown_upto(9);
        u32_attribute(out, opt, AttrType::originator_id, *a.originator_id);
    }
    if (!a.cluster_list.empty()) {
        unknown_upto(10);
        attribute_header(out, opt, AttrType::cluster_list, 4 * a.cluster_list.size());
        for (uint32_t c : a.cluster_list) put32(out, c);
    }
    if (!a.extended_communities.empty()) {
        unknown_upto(16);
        attribute_header(out, optt, AttrType::extended_communities, 8 * a.extended_communities.size());
        for (uint64_t c : a.extended_communities) put64(out, c);
    }
    // RFC 6793 §4.2.2: to a 2-octet speaker, the real path (without
    // confederation segments) and aggregator in the AS4 attributes.
    if (!options.four_octet_as && needs_as4(a.as_path)) {
        unknown_upto(17);
        const Bytes path4 = as_path_value(a.as_path, 4, true);
        attribute_header(out, optt, AttrType::as4_path, path4.size());
        put(out, path4);
    }
    if (!options.four_octet_as && a.aggregator && a.aggregator->asn > 0xffff) {
        unknown_upto(18);
        attribute_header(out, optt, AttrType::as4_aggregator, 8);
        put32(out, a.aggregator->asn);
        put32(out, a.aggregator->address);
    }
    if (!a.large_communities.empty()) {
        unknown_upto(32);
        attribute_header(out, optt, AttrType::large_communities, 12 * a.large_communities.size());
        for (const LargeCommunity& c : a.large_communities) {
            put32(out, c.global);
            put32(out, c.local1);
            put32(out, c.local2);
        }
    }
    if (a.otc) {
        unknown_upto(35);
        u32_attribute(out, optt, AttrType::otc, *a.otc);
    }
    unknown_upto(256);
}

void mp_attribute_header(Bytes& out, AttrType type, size_t len) { attribute_header(out, kFlagOptional, type, len); }

size_t mp_attribute_header_size(size_t len) { return len > 255 ? 4 : 3; }

}  // namespace detail

std::optional<Notification> decode_attributes(std::span<const uint8_t> block, const CodecOptions& options,
                                              Update& update) {
    AttributeScan scan;
    auto n = decode_attribute_block(block, options, update, scan);
    if (n) return n;
    settle_next_hops(update, scan, false);
    return std::nullopt;
}

}  // namespace rampart::bgp
