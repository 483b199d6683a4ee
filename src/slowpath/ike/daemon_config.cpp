// The daemon's view of configuration: algorithm names into IKEv2 proposals,
// traffic selectors into prefixes and SPD entries, identities into ID
// payloads, a connection into the state machine's PeerConfig.
#include <algorithm>

#include <fmt/format.h>

#include "slowpath/ike/daemon_internal.hpp"

namespace rampart::ike {

namespace detail {

uint64_t be64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
}

Proposal ike_proposal(const std::string& name, uint16_t dh) {
    Proposal p;
    p.protocol = ProtocolId::ike;
    if (name.starts_with("aes-gcm-")) {
        p.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, name == "aes-gcm-256" ? 256 : 128),
                        Transform::make(TransformType::prf, prf_id::hmac_sha2_256)};
    } else {
        uint16_t bits = name.starts_with("aes-cbc-256") ? 256 : 128;
        uint16_t integ = integ_id::hmac_sha2_256_128, prf = prf_id::hmac_sha2_256;
        if (name.ends_with("sha384")) integ = integ_id::hmac_sha2_384_192, prf = prf_id::hmac_sha2_384;
        if (name.ends_with("sha512")) integ = integ_id::hmac_sha2_512_256, prf = prf_id::hmac_sha2_512;
        p.transforms = {Transform::make(TransformType::encr, encr_id::aes_cbc, bits),
                        Transform::make(TransformType::integ, integ), Transform::make(TransformType::prf, prf)};
    }
    p.transforms.push_back(Transform::make(TransformType::dh, dh));
    return p;
}

Proposal esp_proposal(const std::string& name) {
    Proposal p;
    p.protocol = ProtocolId::esp;
    if (name.starts_with("aes-gcm-")) {
        p.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, name == "aes-gcm-256" ? 256 : 128)};
    } else {
        uint16_t bits = name.starts_with("aes-cbc-256") ? 256 : 128;
        uint16_t integ = name.ends_with("sha384")   ? integ_id::hmac_sha2_384_192
                         : name.ends_with("sha512") ? integ_id::hmac_sha2_512_256
                                                    : integ_id::hmac_sha2_256_128;
        p.transforms = {Transform::make(TransformType::encr, encr_id::aes_cbc, bits),
                        Transform::make(TransformType::integ, integ)};
    }
    p.transforms.push_back(Transform::make(TransformType::esn, esn_id::no));
    return p;
}

std::string suite_text(const CipherSuite& s) {
    std::string out = fmt::format("{}-{}", s.aead() ? "aes-gcm" : "aes-cbc", s.key_bits);
    if (!s.aead())
        out += s.integ == integ_id::hmac_sha2_384_192   ? "/hmac-sha2-384"
               : s.integ == integ_id::hmac_sha2_512_256 ? "/hmac-sha2-512"
                                                        : "/hmac-sha2-256";
    return out;
}



bool full_ports(const TrafficSelector& ts) { return ts.start_port == 0 && ts.end_port == 65535; }

std::optional<std::vector<IpsecPolicyConfig>> policy_matches(const std::vector<TrafficSelector>& local,
                                                             const std::vector<TrafficSelector>& remote) {
    std::vector<IpsecPolicyConfig> out;
    for (const TrafficSelector& l : local)
        for (const TrafficSelector& r : remote) {
            if (l.ip_protocol && r.ip_protocol && l.ip_protocol != r.ip_protocol) continue;  // matches nothing
            const std::vector<Prefix> lp = range_prefixes(l), rp = range_prefixes(r);
            if (lp.empty() || rp.empty()) return std::nullopt;
            for (const Prefix& a : lp)
                for (const Prefix& b : rp) {
                    IpsecPolicyConfig e;
                    e.local = a;
                    e.remote = b;
                    e.action = IpsecPolicyConfig::Action::protect;
                    if (const uint8_t proto = l.ip_protocol ? l.ip_protocol : r.ip_protocol) e.protocol = proto;
                    if (!full_ports(l)) e.local_port_lo = l.start_port, e.local_port_hi = l.end_port;
                    if (!full_ports(r)) e.remote_port_lo = r.start_port, e.remote_port_hi = r.end_port;
                    out.push_back(e);
                }
        }
    return out;
}

std::vector<IpsecPolicyConfig> configured_matches(const IkeConnectionConfig::Child& child) {
    std::vector<IpsecPolicyConfig> out;
    for (const Prefix& l : child.local_ts)
        for (const Prefix& r : child.remote_ts) {
            IpsecPolicyConfig e;
            e.local = l;
            e.remote = r;
            e.action = IpsecPolicyConfig::Action::protect;
            out.push_back(e);
        }
    return out;
}

std::vector<TrafficSelector> selectors(const std::vector<Prefix>& prefixes) {
    std::vector<TrafficSelector> out;
    for (const Prefix& p : prefixes) out.push_back(TrafficSelector::from_prefix(p));
    return out;
}

std::string prefixes_text(const std::vector<Prefix>& ps) {
    std::string out;
    for (const Prefix& p : ps) out += (out.empty() ? "" : ",") + p.str();
    return out;
}

IkeIdentity remote_identity(const IkeConnectionConfig& c) {
    return c.remote_id ? *c.remote_id : IkeIdentity{IkeIdentity::Type::ip, c.remote.str()};
}

std::string sa_tag(const std::string& conn) {
    std::string out;
    for (char ch : conn.substr(0, kMaxConnNameInSa)) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  ch == '.' || ch == '-';
        out += ok ? ch : '_';
    }
    return out;
}

void wipe(std::vector<uint8_t>& v) {
    std::fill(v.begin(), v.end(), uint8_t{0});
    v.clear();
}

std::string ago(Millis now, Millis then) { return fmt::format("{}s", (now - then).count() / 1000); }


}  // namespace detail

using namespace detail;

std::vector<Prefix> range_prefixes(const TrafficSelector& ts) {
    std::vector<Prefix> out;
    if (ts.start.family != ts.end.family || ts.end < ts.start) return out;
    const unsigned bits = ts.start.bits();
    IpAddr start = ts.start;
    while (out.size() < kMaxPrefixesPerSelector) {
        Prefix p{start, uint8_t(bits)};
        for (unsigned len = 0; len <= bits; ++len) {  // the shortest aligned at start and ending inside
            Prefix q{start, uint8_t(len)};
            if (q.network().addr == start && TrafficSelector::from_prefix(q).end <= ts.end) {
                p = q;
                break;
            }
        }
        out.push_back(p);
        start = TrafficSelector::from_prefix(p).end;
        if (start == ts.end) return out;
        // The next address: add one to the last byte, carrying leftwards.
        size_t i = bits / 8;
        while (i > 0 && ++start.bytes[i - 1] == 0) --i;
    }
    return {};
}

std::optional<IdPayload> id_payload(const IkeIdentity& id, std::string& why) {
    switch (id.type) {
        case IkeIdentity::Type::ip:
            if (auto a = IpAddr::parse(id.value)) return IdPayload::address(*a);
            why = "ip identity " + id.value + " is not an address";
            return std::nullopt;
        case IkeIdentity::Type::fqdn: return IdPayload::text(IdType::fqdn, id.value);
        case IkeIdentity::Type::email: return IdPayload::text(IdType::rfc822_addr, id.value);
        case IkeIdentity::Type::dn: {
            std::string problem;
            auto der = dn_der(id.value, problem);
            if (!der) {
                why = "dn identity: " + problem;
                return std::nullopt;
            }
            IdPayload p;
            p.type = IdType::der_asn1_dn;
            p.data = std::move(*der);
            return p;
        }
        case IkeIdentity::Type::key_id: {
            IdPayload p;
            p.type = IdType::key_id;
            auto nibble = [](char ch) -> int {
                if (ch >= '0' && ch <= '9') return ch - '0';
                if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
                if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
                return -1;
            };
            for (size_t i = 0; i + 1 < id.value.size(); i += 2) {
                const int hi = nibble(id.value[i]), lo = nibble(id.value[i + 1]);
                if (hi < 0 || lo < 0 || id.value.size() % 2) {
                    why = "key-id identity " + id.value + " is not hex";
                    return std::nullopt;
                }
                p.data.push_back(uint8_t(hi << 4 | lo));
            }
            return p;
        }
    }
    why = "unknown identity type";
    return std::nullopt;
}

std::optional<PeerConfig> peer_config(const IkeConnectionConfig& c, bool initiator, uint16_t ike_port,
                                      const std::optional<Credentials>& cert, const IkeSettings& settings,
                                      std::string& why) {
    PeerConfig p;
    p.initiator = initiator;
    p.ike_proposals = {ike_proposal(c.proposal, c.dh)};
    p.ke_group = c.dh;
    if (c.pfs_group) p.pfs_groups = {c.pfs_group};
    if (c.child) {
        p.esp_proposals = {esp_proposal(c.child->esp_proposal)};
        p.ts_local = selectors(c.child->local_ts);
        p.ts_remote = selectors(c.child->remote_ts);
        // The PAD (RFC 4301 §4.4.3): only what the peer's identity is authorized for.
        if (!settings.pad.empty()) {
            auto allowed = settings.pad.find(remote_identity(c));
            p.ts_remote = allowed == settings.pad.end() ? std::vector<TrafficSelector>{}
                                                         : narrow(p.ts_remote, selectors(allowed->second));
        }
        p.transport_mode = c.child->transport;
        p.max_selectors = kMaxIkeTrafficSelectors;
        p.max_selector_pairs = c.child->policy_count();
    }
    auto local_id = c.local_id ? id_payload(*c.local_id, why) : IdPayload::address(c.local);
    auto remote_id = c.remote_id ? id_payload(*c.remote_id, why) : IdPayload::address(c.remote);
    if (!local_id || !remote_id) return std::nullopt;
    p.local_id = *local_id;
    p.remote_id = *remote_id;
    p.psk = Secret(c.psk.begin(), c.psk.end());
    p.cert = cert;
    p.local_endpoint = Endpoint{c.local, ike_port};
    p.remote_endpoint = Endpoint{c.remote, ike_port};
    p.fragment_mtu = 1280;
    return p;
}

std::optional<std::pair<std::string, std::string>> esp_names(const CipherSuite& s) {
    if (s.key_bits != 128 && s.key_bits != 256) return std::nullopt;
    if (s.encr == encr_id::aes_gcm_16) return std::pair{fmt::format("aes-gcm-{}", s.key_bits), std::string()};
    if (s.encr != encr_id::aes_cbc) return std::nullopt;
    std::string integ = s.integ == integ_id::hmac_sha2_256_128   ? "hmac-sha-256"
                        : s.integ == integ_id::hmac_sha2_384_192 ? "hmac-sha-384"
                        : s.integ == integ_id::hmac_sha2_512_256 ? "hmac-sha-512"
                                                                 : "";
    if (integ.empty()) return std::nullopt;
    return std::pair{fmt::format("aes-cbc-{}", s.key_bits), integ};
}

}  // namespace rampart::ike
