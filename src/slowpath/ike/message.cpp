// IKEv2 message codec; see message.hpp. Section numbers are RFC 7296 unless
// said otherwise.
#include "slowpath/ike/message.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace rampart::ike {

namespace {

uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint64_t get64(const uint8_t* p) { return uint64_t(get32(p)) << 32 | get32(p + 4); }

void put8(Bytes& b, uint8_t v) { b.push_back(v); }
void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}
void put(Bytes& b, std::span<const uint8_t> s) { b.insert(b.end(), s.begin(), s.end()); }
void set16(Bytes& b, size_t at, size_t v) {
    b[at] = uint8_t(v >> 8);
    b[at + 1] = uint8_t(v);
}

using Span = std::span<const uint8_t>;

bool is_known(uint8_t t) { return (t >= 33 && t <= 48) || t == 53; }

// Decoding context: remembers the first error and where it happened.
struct Decoder {
    DecodeStatus status;
    size_t base = 0;  // offset of the current payload body in the whole input

    template <class... Args>
    bool fail(DecodeError e, size_t at, fmt::format_string<Args...> f, Args&&... args) {
        if (status.ok()) {
            status.error = e;
            status.offset = base + at;
            status.detail = fmt::format(f, std::forward<Args>(args)...);
        }
        return false;
    }

    bool attributes(Span b, std::vector<Attribute>& out) {
        size_t off = 0;
        while (off < b.size()) {
            if (b.size() - off < 4)
                return fail(DecodeError::bad_attribute, off, "attribute header needs 4 bytes, {} left", b.size() - off);
            Attribute a;
            const uint16_t t = get16(&b[off]);
            a.type = t & 0x7fff;
            a.tv = t & 0x8000;
            if (a.tv) {
                a.tv_value = get16(&b[off + 2]);
                off += 4;
            } else {
                const size_t len = get16(&b[off + 2]);
                if (len > b.size() - off - 4)
                    return fail(DecodeError::bad_attribute, off, "TLV attribute {} of {} bytes, {} left", a.type, len,
                                b.size() - off - 4);
                a.tlv_value.assign(&b[off + 4], &b[off + 4] + len);
                off += 4 + len;
            }
            // §3.3.5: Key Length is a TV attribute.
            if (a.type == kAttrKeyLength && !a.tv)
                return fail(DecodeError::bad_attribute, off, "Key Length attribute in TLV form");
            out.push_back(std::move(a));
        }
        return true;
    }

    bool transforms(Span b, size_t at, unsigned count, std::vector<Transform>& out) {
        size_t off = 0;
        for (unsigned i = 0; i < count; ++i) {
            if (b.size() - off < 8)
                return fail(DecodeError::bad_transform, at + off, "transform {} needs 8 bytes, {} left", i + 1,
                            b.size() - off);
            const uint8_t last = b[off];
            const size_t len = get16(&b[off + 2]);
            if (len < 8 || len > b.size() - off)
                return fail(DecodeError::bad_transform, at + off, "transform {} length {} outside 8..{}", i + 1, len,
                            b.size() - off);
            const bool is_last = i + 1 == count;
            if (last != (is_last ? 0 : 3))
                return fail(DecodeError::bad_transform, at + off, "transform {} of {}: last-substructure byte {}",
                            i + 1, count, last);
            Transform t;
            t.type = TransformType(b[off + 4]);
            t.id = get16(&b[off + 6]);
            const size_t save = base;
            base += at + off + 8;
            const bool ok = attributes(b.subspan(off + 8, len - 8), t.attributes);
            base = save;
            if (!ok) return false;
            out.push_back(std::move(t));
            off += len;
        }
        if (off != b.size())
            return fail(DecodeError::bad_proposal, at + off, "{} bytes after the proposal's {} transforms",
                        b.size() - off, count);
        return true;
    }

    bool sa(Span b, SaPayload& out) {
        size_t off = 0;
        if (b.empty()) return fail(DecodeError::bad_proposal, 0, "SA payload without proposals");
        while (off < b.size()) {
            if (b.size() - off < 8)
                return fail(DecodeError::bad_proposal, off, "proposal needs 8 bytes, {} left", b.size() - off);
            const uint8_t last = b[off];
            const size_t len = get16(&b[off + 2]);
            const size_t spi_size = b[off + 6];
            const unsigned ntrans = b[off + 7];
            if (len < 8 + spi_size || len > b.size() - off)
                return fail(DecodeError::bad_proposal, off, "proposal length {} outside {}..{}", len, 8 + spi_size,
                            b.size() - off);
            const bool is_last = off + len == b.size();
            if (last != (is_last ? 0 : 2))
                return fail(DecodeError::bad_proposal, off, "proposal {}: last-substructure byte {} but {}", b[off + 4],
                            last, is_last ? "it is the last" : "more follow");
            if (ntrans == 0) return fail(DecodeError::bad_proposal, off, "proposal {} without transforms", b[off + 4]);
            Proposal p;
            p.number = b[off + 4];
            p.protocol = ProtocolId(b[off + 5]);
            p.spi.assign(&b[off + 8], &b[off + 8] + spi_size);
            if (!transforms(b.subspan(off + 8 + spi_size, len - 8 - spi_size), off + 8 + spi_size, ntrans,
                            p.transforms))
                return false;
            out.proposals.push_back(std::move(p));
            off += len;
        }
        return true;
    }

    bool id(Span b, IdPayload& out) {
        if (b.size() < 4) return fail(DecodeError::bad_payload_length, 0, "ID payload needs 4 bytes, got {}", b.size());
        out.type = IdType(b[0]);
        out.data.assign(b.begin() + 4, b.end());
        const size_t n = out.data.size();
        if (out.type == IdType::ipv4_addr && n != 4)
            return fail(DecodeError::bad_id, 4, "ID_IPV4_ADDR of {} bytes", n);
        if (out.type == IdType::ipv6_addr && n != 16)
            return fail(DecodeError::bad_id, 4, "ID_IPV6_ADDR of {} bytes", n);
        if (n == 0) return fail(DecodeError::bad_id, 4, "empty identification data (type {})", b[0]);
        return true;
    }

    bool notify(Span b, NotifyPayload& out) {
        if (b.size() < 4)
            return fail(DecodeError::bad_payload_length, 0, "notify payload needs 4 bytes, got {}", b.size());
        out.protocol = ProtocolId(b[0]);
        const size_t spi_size = b[1];
        out.type = get16(&b[2]);
        if (spi_size != 0 && spi_size != 4 && spi_size != 8)
            return fail(DecodeError::bad_notify, 1, "{}: SPI size {}", notify_name(out.type), spi_size);
        if (spi_size > b.size() - 4)
            return fail(DecodeError::bad_notify, 1, "{}: SPI of {} bytes, {} left", notify_name(out.type), spi_size,
                        b.size() - 4);
        out.spi.assign(b.begin() + 4, b.begin() + 4 + spi_size);
        out.data.assign(b.begin() + 4 + spi_size, b.end());
        const size_t n = out.data.size();
        auto want = [&](size_t lo, size_t hi) {
            if (n >= lo && n <= hi) return true;
            return lo == hi ? fail(DecodeError::bad_notify, 4 + spi_size, "{}: data of {} bytes, expected {}",
                                   notify_name(out.type), n, lo)
                            : fail(DecodeError::bad_notify, 4 + spi_size, "{}: data of {} bytes, expected {}..{}",
                                   notify_name(out.type), n, lo, hi);
        };
        switch (out.type) {
        case notify::nat_detection_source_ip:
        case notify::nat_detection_destination_ip: return want(20, 20);  // SHA-1 (§2.23)
        case notify::cookie: return want(1, 64);                          // §2.6
        case notify::invalid_ke_payload: return want(2, 2);               // the accepted group
        case notify::unsupported_critical_payload: return want(1, 1);  // the payload type
        case notify::set_window_size:
        case notify::invalid_message_id: return want(4, 4);
        case notify::initial_contact:
        case notify::use_transport_mode:
        case notify::esp_tfc_padding_not_supported:
        case notify::non_first_fragments_also:
        case notify::mobike_supported:
        case notify::ikev2_fragmentation_supported: return want(0, 0);
        case notify::rekey_sa:
            if (spi_size == 0) return fail(DecodeError::bad_notify, 1, "REKEY_SA without an SPI");
            return want(0, 0);
        case notify::signature_hash_algorithms:  // RFC 7427 §4: a list of 2-byte hash IDs
            if (n == 0 || n % 2)
                return fail(DecodeError::bad_notify, 4 + spi_size,
                            "SIGNATURE_HASH_ALGORITHMS: {} bytes is not a list of 2-byte IDs", n);
            return true;
        default: return true;
        }
    }

    bool del(Span b, DeletePayload& out) {
        if (b.size() < 4)
            return fail(DecodeError::bad_payload_length, 0, "delete payload needs 4 bytes, got {}", b.size());
        out.protocol = ProtocolId(b[0]);
        out.spi_size = b[1];
        const size_t num = get16(&b[2]);
        if (out.protocol == ProtocolId::ike && (out.spi_size != 0 || num != 0))
            return fail(DecodeError::bad_delete, 1, "IKE SA delete with SPI size {} and {} SPIs", out.spi_size, num);
        if ((out.protocol == ProtocolId::esp || out.protocol == ProtocolId::ah) && out.spi_size != 4)
            return fail(DecodeError::bad_delete, 1, "ESP/AH delete with SPI size {}", out.spi_size);
        if (b.size() - 4 != num * out.spi_size)
            return fail(DecodeError::bad_delete, 2, "{} SPIs of {} bytes in {} bytes", num, out.spi_size, b.size() - 4);
        for (size_t i = 0; i < num; ++i)
            out.spis.emplace_back(b.begin() + 4 + i * out.spi_size, b.begin() + 4 + (i + 1) * out.spi_size);
        return true;
    }

    bool ts(Span b, TsPayload& out) {
        if (b.size() < 4) return fail(DecodeError::bad_payload_length, 0, "TS payload needs 4 bytes, got {}", b.size());
        const unsigned num = b[0];
        if (num == 0) return fail(DecodeError::bad_traffic_selector, 0, "TS payload with no selectors");
        size_t off = 4;
        for (unsigned i = 0; i < num; ++i) {
            if (b.size() - off < 4)
                return fail(DecodeError::bad_traffic_selector, off, "selector {} of {}: header needs 4 bytes, {} left",
                            i + 1, num, b.size() - off);
            TrafficSelector s;
            s.type = TsType(b[off]);
            s.ip_protocol = b[off + 1];
            const size_t len = get16(&b[off + 2]);
            size_t alen;
            if (s.type == TsType::ipv4_addr_range) alen = 4;
            else if (s.type == TsType::ipv6_addr_range) alen = 16;
            else return fail(DecodeError::bad_traffic_selector, off, "selector {}: unknown TS type {}", i + 1, b[off]);
            if (len != 8 + 2 * alen)
                return fail(DecodeError::bad_traffic_selector, off, "selector {}: length {}, expected {}", i + 1, len,
                            8 + 2 * alen);
            if (len > b.size() - off)
                return fail(DecodeError::bad_traffic_selector, off, "selector {}: length {}, {} left", i + 1, len,
                            b.size() - off);
            s.start_port = get16(&b[off + 4]);
            s.end_port = get16(&b[off + 6]);
            s.start.family = s.end.family = alen == 4 ? Family::v4 : Family::v6;
            std::memcpy(s.start.bytes.data(), &b[off + 8], alen);
            std::memcpy(s.end.bytes.data(), &b[off + 8 + alen], alen);
            out.selectors.push_back(s);
            off += len;
        }
        if (off != b.size())
            return fail(DecodeError::bad_traffic_selector, off, "{} bytes after {} selectors", b.size() - off, num);
        return true;
    }

    bool cp(Span b, CpPayload& out) {
        if (b.size() < 4) return fail(DecodeError::bad_payload_length, 0, "CP payload needs 4 bytes, got {}", b.size());
        out.type = CfgType(b[0]);
        size_t off = 4;
        while (off < b.size()) {
            if (b.size() - off < 4)
                return fail(DecodeError::bad_config_attribute, off, "attribute header needs 4 bytes, {} left",
                            b.size() - off);
            CpAttribute a;
            a.type = get16(&b[off]) & 0x7fff;
            const size_t len = get16(&b[off + 2]);
            if (len > b.size() - off - 4)
                return fail(DecodeError::bad_config_attribute, off, "attribute {} of {} bytes, {} left", a.type, len,
                            b.size() - off - 4);
            a.value.assign(&b[off + 4], &b[off + 4] + len);
            out.attributes.push_back(std::move(a));
            off += 4 + len;
        }
        return true;
    }

    // One payload body of a known type.
    bool body(PayloadType type, uint8_t next, Span b, PayloadBody& out) {
        auto fixed = [&](size_t n, const char* what) {
            return b.size() >= n ||
                   fail(DecodeError::bad_payload_length, 0, "{} payload needs {} bytes, got {}", what, n, b.size());
        };
        switch (type) {
        case PayloadType::sa: return sa(b, out.emplace<SaPayload>());
        case PayloadType::ke: {
            if (!fixed(4, "KE")) return false;
            auto& ke = out.emplace<KePayload>();
            ke.group = get16(&b[0]);
            ke.data.assign(b.begin() + 4, b.end());
            if (ke.data.empty()) return fail(DecodeError::bad_payload_length, 4, "KE payload without key data");
            return true;
        }
        case PayloadType::idi:
        case PayloadType::idr: return id(b, out.emplace<IdPayload>());
        case PayloadType::cert:
        case PayloadType::certreq: {
            if (!fixed(1, type == PayloadType::cert ? "CERT" : "CERTREQ")) return false;
            auto& c = out.emplace<CertPayload>();
            c.encoding = CertEncoding(b[0]);
            c.data.assign(b.begin() + 1, b.end());
            return true;
        }
        case PayloadType::auth: {
            if (!fixed(4, "AUTH")) return false;
            auto& a = out.emplace<AuthPayload>();
            a.method = AuthMethod(b[0]);
            a.data.assign(b.begin() + 4, b.end());
            if (a.data.empty()) return fail(DecodeError::bad_payload_length, 4, "AUTH payload without data");
            return true;
        }
        case PayloadType::nonce:
            if (b.size() < 16 || b.size() > 256)
                return fail(DecodeError::bad_nonce, 0, "nonce of {} bytes (§3.9: 16..256)", b.size());
            out.emplace<NoncePayload>().data.assign(b.begin(), b.end());
            return true;
        case PayloadType::notify: return notify(b, out.emplace<NotifyPayload>());
        case PayloadType::del: return del(b, out.emplace<DeletePayload>());
        case PayloadType::vendor: out.emplace<VendorPayload>().id.assign(b.begin(), b.end()); return true;
        case PayloadType::tsi:
        case PayloadType::tsr: return ts(b, out.emplace<TsPayload>());
        case PayloadType::sk: {
            auto& sk = out.emplace<SkPayload>();
            sk.inner_first = PayloadType(next);
            sk.body.assign(b.begin(), b.end());
            return true;
        }
        case PayloadType::skf: {
            if (!fixed(4, "SKF")) return false;
            auto& f = out.emplace<SkfPayload>();
            f.inner_first = PayloadType(next);
            f.number = get16(&b[0]);
            f.total = get16(&b[2]);
            f.body.assign(b.begin() + 4, b.end());
            // RFC 7383 §2.5: numbering starts at 1; Next Payload only in fragment 1.
            if (f.number == 0 || f.number > f.total)
                return fail(DecodeError::bad_fragment, 0, "fragment {} of {}", f.number, f.total);
            if (f.number != 1 && next != 0)
                return fail(DecodeError::bad_fragment, 0, "fragment {} names a next payload ({})", f.number, next);
            return true;
        }
        case PayloadType::cp: return cp(b, out.emplace<CpPayload>());
        case PayloadType::eap: {
            if (!fixed(4, "EAP")) return false;
            if (get16(&b[2]) != b.size())
                return fail(DecodeError::bad_payload_length, 2, "EAP length {} in a {}-byte payload", get16(&b[2]),
                            b.size());
            out.emplace<EapPayload>().data.assign(b.begin(), b.end());
            return true;
        }
        default: return false;  // not reached: is_known() first
        }
    }

    // Walks a payload chain of buf starting at `first`; at is buf's offset in
    // the whole input.
    bool chain(PayloadType first, Span buf, size_t at, bool inner, std::vector<Payload>& out) {
        uint8_t next = uint8_t(first);
        size_t off = 0;
        while (next != 0) {
            base = 0;
            const uint8_t type = next;
            if (buf.size() - off < kPayloadHeaderLen)
                return fail(DecodeError::truncated_payload, at + off, "{} payload header needs 4 bytes, {} left",
                            name(PayloadType(type)), buf.size() - off);
            next = buf[off];
            const bool critical = buf[off + 1] & 0x80;
            const size_t len = get16(&buf[off + 2]);
            if (len < kPayloadHeaderLen)
                return fail(DecodeError::bad_payload_length, at + off, "{} payload length {} below 4",
                            name(PayloadType(type)), len);
            if (len > buf.size() - off)
                return fail(DecodeError::truncated_payload, at + off, "{} payload length {}, {} bytes left",
                            name(PayloadType(type)), len, buf.size() - off);
            if (!is_known(type)) {
                if (critical) {
                    status.payload_type = type;
                    return fail(DecodeError::unsupported_critical_payload, at + off,
                                "payload type {} is critical and unknown", type);
                }
                off += len;  // §2.5: skip it
                continue;
            }
            Payload p;
            p.type = PayloadType(type);
            p.critical = critical;
            base = at + off + kPayloadHeaderLen;
            if (!body(p.type, next, buf.subspan(off + kPayloadHeaderLen, len - kPayloadHeaderLen), p.body))
                return false;
            base = 0;
            off += len;
            const bool encrypted = p.type == PayloadType::sk || p.type == PayloadType::skf;
            out.push_back(std::move(p));
            if (encrypted) {
                // §3.14: SK is the last payload; its Next Payload is the first inner one.
                if (inner || off != buf.size())
                    return fail(DecodeError::sk_not_last, at + off - len, "{} payload {}", name(PayloadType(type)),
                                inner ? "inside an encrypted payload" : "followed by more bytes");
                return true;
            }
        }
        if (off != buf.size())
            return fail(DecodeError::truncated_payload, at + off, "{} bytes after the last payload",
                        buf.size() - off);
        return true;
    }
};

// ---------------------------------------------------------------- encoding

void encode_body(const Payload& p, Bytes& b) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, SaPayload>) {
                for (size_t i = 0; i < v.proposals.size(); ++i) {
                    const Proposal& pr = v.proposals[i];
                    const size_t start = b.size();
                    put8(b, i + 1 == v.proposals.size() ? 0 : 2);
                    put8(b, 0);
                    put16(b, 0);
                    put8(b, pr.number);
                    put8(b, uint8_t(pr.protocol));
                    put8(b, uint8_t(pr.spi.size()));
                    put8(b, uint8_t(pr.transforms.size()));
                    put(b, pr.spi);
                    for (size_t j = 0; j < pr.transforms.size(); ++j) {
                        const Transform& t = pr.transforms[j];
                        const size_t ts = b.size();
                        put8(b, j + 1 == pr.transforms.size() ? 0 : 3);
                        put8(b, 0);
                        put16(b, 0);
                        put8(b, uint8_t(t.type));
                        put8(b, 0);
                        put16(b, t.id);
                        for (const Attribute& a : t.attributes) {
                            if (a.tv) {
                                put16(b, uint16_t(0x8000 | a.type));
                                put16(b, a.tv_value);
                            } else {
                                put16(b, a.type & 0x7fff);
                                put16(b, uint16_t(a.tlv_value.size()));
                                put(b, a.tlv_value);
                            }
                        }
                        set16(b, ts + 2, b.size() - ts);
                    }
                    set16(b, start + 2, b.size() - start);
                }
            } else if constexpr (std::is_same_v<T, KePayload>) {
                put16(b, v.group);
                put16(b, 0);
                put(b, v.data);
            } else if constexpr (std::is_same_v<T, IdPayload>) {
                put8(b, uint8_t(v.type));
                put8(b, 0);
                put16(b, 0);
                put(b, v.data);
            } else if constexpr (std::is_same_v<T, CertPayload>) {
                put8(b, uint8_t(v.encoding));
                put(b, v.data);
            } else if constexpr (std::is_same_v<T, AuthPayload>) {
                put8(b, uint8_t(v.method));
                put8(b, 0);
                put16(b, 0);
                put(b, v.data);
            } else if constexpr (std::is_same_v<T, NoncePayload>) {
                put(b, v.data);
            } else if constexpr (std::is_same_v<T, NotifyPayload>) {
                put8(b, uint8_t(v.protocol));
                put8(b, uint8_t(v.spi.size()));
                put16(b, v.type);
                put(b, v.spi);
                put(b, v.data);
            } else if constexpr (std::is_same_v<T, DeletePayload>) {
                put8(b, uint8_t(v.protocol));
                put8(b, v.spi_size);
                put16(b, uint16_t(v.spis.size()));
                for (const Bytes& s : v.spis) put(b, s);
            } else if constexpr (std::is_same_v<T, VendorPayload>) {
                put(b, v.id);
            } else if constexpr (std::is_same_v<T, TsPayload>) {
                put8(b, uint8_t(v.selectors.size()));
                put8(b, 0);
                put16(b, 0);
                for (const TrafficSelector& s : v.selectors) {
                    const size_t alen = s.type == TsType::ipv6_addr_range ? 16 : 4;
                    put8(b, uint8_t(s.type));
                    put8(b, s.ip_protocol);
                    put16(b, uint16_t(8 + 2 * alen));
                    put16(b, s.start_port);
                    put16(b, s.end_port);
                    put(b, Span(s.start.bytes.data(), alen));
                    put(b, Span(s.end.bytes.data(), alen));
                }
            } else if constexpr (std::is_same_v<T, SkPayload>) {
                put(b, v.body);
            } else if constexpr (std::is_same_v<T, SkfPayload>) {
                put16(b, v.number);
                put16(b, v.total);
                put(b, v.body);
            } else if constexpr (std::is_same_v<T, CpPayload>) {
                put8(b, uint8_t(v.type));
                put8(b, 0);
                put16(b, 0);
                for (const CpAttribute& a : v.attributes) {
                    put16(b, a.type & 0x7fff);
                    put16(b, uint16_t(a.value.size()));
                    put(b, a.value);
                }
            } else if constexpr (std::is_same_v<T, EapPayload>) {
                put(b, v.data);
            }
        },
        p.body);
}

// The Next Payload value a payload announces when it is followed by `next`:
// SK/SKF announce their first inner payload instead.
uint8_t announced_next(const Payload& p, PayloadType next) {
    if (auto* sk = std::get_if<SkPayload>(&p.body)) return uint8_t(sk->inner_first);
    if (auto* f = std::get_if<SkfPayload>(&p.body)) return uint8_t(f->inner_first);
    return uint8_t(next);
}

void encode_chain(std::span<const Payload> ps, Bytes& b) {
    for (size_t i = 0; i < ps.size(); ++i) {
        const size_t start = b.size();
        put8(b, announced_next(ps[i], i + 1 < ps.size() ? ps[i + 1].type : PayloadType::none));
        put8(b, ps[i].critical ? 0x80 : 0);
        put16(b, 0);
        encode_body(ps[i], b);
        set16(b, start + 2, b.size() - start);
    }
}

struct PayloadNameEntry {
    PayloadType t;
    std::string_view n;
};
constexpr PayloadNameEntry kPayloadNames[] = {
    {PayloadType::none, "none"},   {PayloadType::sa, "SA"},       {PayloadType::ke, "KE"},
    {PayloadType::idi, "IDi"},     {PayloadType::idr, "IDr"},     {PayloadType::cert, "CERT"},
    {PayloadType::certreq, "CERTREQ"}, {PayloadType::auth, "AUTH"}, {PayloadType::nonce, "Nonce"},
    {PayloadType::notify, "N"},    {PayloadType::del, "D"},       {PayloadType::vendor, "V"},
    {PayloadType::tsi, "TSi"},     {PayloadType::tsr, "TSr"},     {PayloadType::sk, "SK"},
    {PayloadType::cp, "CP"},       {PayloadType::eap, "EAP"},     {PayloadType::skf, "SKF"},
};

}  // namespace

// ---------------------------------------------------------------- helpers

uint16_t Transform::key_length() const {
    for (const Attribute& a : attributes)
        if (a.type == kAttrKeyLength && a.tv) return a.tv_value;
    return 0;
}

Transform Transform::make(TransformType t, uint16_t id, uint16_t key_bits) {
    Transform x;
    x.type = t;
    x.id = id;
    if (key_bits) x.attributes.push_back(Attribute{kAttrKeyLength, true, key_bits, {}});
    return x;
}

IdPayload IdPayload::address(const IpAddr& a) {
    IdPayload p;
    p.type = a.is_v4() ? IdType::ipv4_addr : IdType::ipv6_addr;
    p.data.assign(a.bytes.begin(), a.bytes.begin() + (a.is_v4() ? 4 : 16));
    return p;
}

IdPayload IdPayload::text(IdType t, std::string_view s) {
    IdPayload p;
    p.type = t;
    p.data.assign(s.begin(), s.end());
    return p;
}

NotifyPayload NotifyPayload::make(uint16_t type, Bytes data) {
    NotifyPayload n;
    n.type = type;
    n.data = std::move(data);
    return n;
}

TrafficSelector TrafficSelector::from_prefix(const Prefix& p, uint8_t proto, uint16_t sp, uint16_t ep) {
    TrafficSelector s;
    s.type = p.addr.is_v4() ? TsType::ipv4_addr_range : TsType::ipv6_addr_range;
    s.ip_protocol = proto;
    s.start_port = sp;
    s.end_port = ep;
    s.start = p.network().addr;
    s.end = s.start;
    const unsigned bits = p.addr.bits();
    for (unsigned i = p.len; i < bits; ++i) s.end.bytes[i / 8] |= uint8_t(0x80 >> (i % 8));
    return s;
}

Payload make_payload(PayloadType type, PayloadBody body) {
    Payload p;
    p.type = type;
    p.body = std::move(body);
    return p;
}

Payload make_payload(PayloadBody body) {
    static constexpr PayloadType kByIndex[] = {
        PayloadType::sa,     PayloadType::ke,  PayloadType::idi,    PayloadType::cert, PayloadType::auth,
        PayloadType::nonce,  PayloadType::notify, PayloadType::del, PayloadType::vendor, PayloadType::tsi,
        PayloadType::sk,     PayloadType::skf, PayloadType::cp,     PayloadType::eap,
    };
    static_assert(std::size(kByIndex) == std::variant_size_v<PayloadBody>);
    const PayloadType t = kByIndex[body.index()];
    return make_payload(t, std::move(body));
}

const Payload* Message::find(PayloadType t) const {
    for (const Payload& p : payloads)
        if (p.type == t) return &p;
    return nullptr;
}

const NotifyPayload* Message::find_notify(uint16_t type) const {
    for (const Payload& p : payloads)
        if (auto* n = std::get_if<NotifyPayload>(&p.body); n && n->type == type) return n;
    return nullptr;
}

std::string_view describe(DecodeError e) {
    static constexpr std::string_view kText[] = {
#define RAMPART_IKE_X(name, text) text,
        RAMPART_IKE_DECODE_ERRORS(RAMPART_IKE_X)
#undef RAMPART_IKE_X
    };
    return kText[size_t(e)];
}

ErrorNotify DecodeStatus::notify() const {
    switch (error) {
    case DecodeError::none: return {};
    case DecodeError::unsupported_critical_payload: return {notify::unsupported_critical_payload, {payload_type}};
    // §3.10.1: the version we support is in the reply's header, the data is empty.
    case DecodeError::invalid_major_version: return {notify::invalid_major_version, {}};
    default: return {notify::invalid_syntax, {}};
    }
}

std::string_view name(PayloadType t) {
    for (const auto& e : kPayloadNames)
        if (e.t == t) return e.n;
    return "unknown";
}

std::string_view notify_name(uint16_t type) {
    switch (type) {
    case notify::unsupported_critical_payload: return "UNSUPPORTED_CRITICAL_PAYLOAD";
    case notify::invalid_ike_spi: return "INVALID_IKE_SPI";
    case notify::invalid_major_version: return "INVALID_MAJOR_VERSION";
    case notify::invalid_syntax: return "INVALID_SYNTAX";
    case notify::invalid_message_id: return "INVALID_MESSAGE_ID";
    case notify::invalid_spi: return "INVALID_SPI";
    case notify::no_proposal_chosen: return "NO_PROPOSAL_CHOSEN";
    case notify::invalid_ke_payload: return "INVALID_KE_PAYLOAD";
    case notify::authentication_failed: return "AUTHENTICATION_FAILED";
    case notify::single_pair_required: return "SINGLE_PAIR_REQUIRED";
    case notify::no_additional_sas: return "NO_ADDITIONAL_SAS";
    case notify::internal_address_failure: return "INTERNAL_ADDRESS_FAILURE";
    case notify::failed_cp_required: return "FAILED_CP_REQUIRED";
    case notify::ts_unacceptable: return "TS_UNACCEPTABLE";
    case notify::invalid_selectors: return "INVALID_SELECTORS";
    case notify::temporary_failure: return "TEMPORARY_FAILURE";
    case notify::child_sa_not_found: return "CHILD_SA_NOT_FOUND";
    case notify::initial_contact: return "INITIAL_CONTACT";
    case notify::set_window_size: return "SET_WINDOW_SIZE";
    case notify::additional_ts_possible: return "ADDITIONAL_TS_POSSIBLE";
    case notify::ipcomp_supported: return "IPCOMP_SUPPORTED";
    case notify::nat_detection_source_ip: return "NAT_DETECTION_SOURCE_IP";
    case notify::nat_detection_destination_ip: return "NAT_DETECTION_DESTINATION_IP";
    case notify::cookie: return "COOKIE";
    case notify::use_transport_mode: return "USE_TRANSPORT_MODE";
    case notify::http_cert_lookup_supported: return "HTTP_CERT_LOOKUP_SUPPORTED";
    case notify::rekey_sa: return "REKEY_SA";
    case notify::esp_tfc_padding_not_supported: return "ESP_TFC_PADDING_NOT_SUPPORTED";
    case notify::non_first_fragments_also: return "NON_FIRST_FRAGMENTS_ALSO";
    case notify::mobike_supported: return "MOBIKE_SUPPORTED";
    case notify::ikev2_fragmentation_supported: return "IKEV2_FRAGMENTATION_SUPPORTED";
    case notify::signature_hash_algorithms: return "SIGNATURE_HASH_ALGORITHMS";
    default: return "notify";
    }
}

// ---------------------------------------------------------------- codec

DecodeStatus decode_header(std::span<const uint8_t> buf, Header& h) {
    DecodeStatus st;
    if (buf.size() < kHeaderLen) {
        st.error = DecodeError::truncated_header;
        st.detail = fmt::format("{} bytes, the IKE header needs 28", buf.size());
        return st;
    }
    h.spi_i = get64(&buf[0]);
    h.spi_r = get64(&buf[8]);
    h.next_payload = PayloadType(buf[16]);
    h.version = buf[17];
    h.exchange = ExchangeType(buf[18]);
    h.flags = buf[19];
    h.message_id = get32(&buf[20]);
    h.length = get32(&buf[24]);
    // §2.5: a major version above ours is answered with INVALID_MAJOR_VERSION;
    // below 2 is IKEv1 and not ours either.
    if ((h.version >> 4) != 2) {
        st.error = DecodeError::invalid_major_version;
        st.detail = fmt::format("major version {}", h.version >> 4);
        st.offset = 17;
    }
    return st;
}

DecodedMessage decode(std::span<const uint8_t> buf) {
    DecodedMessage out;
    out.status = decode_header(buf, out.message.header);
    if (!out.ok()) return out;
    const Header& h = out.message.header;
    if (h.length != buf.size()) {
        out.status.error = DecodeError::bad_message_length;
        out.status.detail = fmt::format("header length {} in a {}-byte datagram", h.length, buf.size());
        out.status.offset = 24;
        return out;
    }
    Decoder d;
    if (!d.chain(h.next_payload, buf.subspan(kHeaderLen), kHeaderLen, false, out.message.payloads)) {
        out.status = std::move(d.status);
        out.message.payloads.clear();
    }
    return out;
}

DecodedPayloads decode_payloads(PayloadType first, std::span<const uint8_t> buf) {
    DecodedPayloads out;
    Decoder d;
    if (!d.chain(first, buf, 0, true, out.payloads)) {
        out.status = std::move(d.status);
        out.payloads.clear();
    }
    return out;
}

void encode_header(const Header& h, uint8_t* p) {
    for (int i = 0; i < 8; ++i) p[i] = uint8_t(h.spi_i >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) p[8 + i] = uint8_t(h.spi_r >> (56 - 8 * i));
    p[16] = uint8_t(h.next_payload);
    p[17] = h.version;
    p[18] = uint8_t(h.exchange);
    p[19] = h.flags;
    for (int i = 0; i < 4; ++i) p[20 + i] = uint8_t(h.message_id >> (24 - 8 * i));
    for (int i = 0; i < 4; ++i) p[24 + i] = uint8_t(h.length >> (24 - 8 * i));
}

Bytes encode(const Message& m) {
    Bytes b(kHeaderLen);
    encode_chain(m.payloads, b);
    Header h = m.header;
    h.next_payload = m.payloads.empty() ? PayloadType::none : m.payloads.front().type;
    h.length = uint32_t(b.size());
    encode_header(h, b.data());
    return b;
}

Bytes encode_payloads(std::span<const Payload> payloads) {
    Bytes b;
    encode_chain(payloads, b);
    return b;
}

}  // namespace rampart::ike
