// The IKE SA state machine; see sa_state.hpp. Each exchange is written as
// build (our message) and process (the peer's), with the RFC 7296 step it
// implements in the comment.
#include "slowpath/ike/sa_state.hpp"

#include <openssl/evp.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace rampart::ike {

namespace {

uint64_t random_u64() {
    uint64_t v = 0;
    while (v == 0) {
        const Bytes b = random_bytes(8);
        for (uint8_t x : b) v = v << 8 | x;
    }
    return v;
}

uint32_t random_spi() {
    uint32_t v = 0;
    while (v < 256) {  // SPIs 1..255 are reserved (RFC 4303 §2.1)
        const Bytes b = random_bytes(4);
        v = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
    }
    return v;
}

Bytes spi_bytes(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }
uint32_t spi_value(const Bytes& b) {
    return b.size() == 4 ? uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3] : 0;
}

Bytes spi_bytes64(uint64_t v) {
    Bytes b(8);
    for (int i = 7; i >= 0; --i, v >>= 8) b[i] = uint8_t(v);
    return b;
}
uint64_t spi_value64(const Bytes& b) {
    uint64_t v = 0;
    if (b.size() == 8)
        for (uint8_t x : b) v = v << 8 | x;
    return v;
}

// §2.8.1: nonces compare as their bytes, over the shorter length (as charon does).
bool nonce_less(const Bytes& a, const Bytes& b) {
    return std::memcmp(a.data(), b.data(), std::min(a.size(), b.size())) < 0;
}
const Bytes& lower_nonce(const Bytes& a, const Bytes& b) { return nonce_less(a, b) ? a : b; }

bool same_transform(const Transform& a, const Transform& b) {
    return a.type == b.type && a.id == b.id && a.key_length() == b.key_length();
}

std::vector<TransformType> types_of(const Proposal& p) {
    std::vector<TransformType> t;
    for (const Transform& x : p.transforms)
        if (std::find(t.begin(), t.end(), x.type) == t.end()) t.push_back(x.type);
    std::sort(t.begin(), t.end());
    return t;
}

const Transform* first_of(const Proposal& p, TransformType t) {
    for (const Transform& x : p.transforms)
        if (x.type == t) return &x;
    return nullptr;
}

// The negotiated algorithms of a one-transform-per-type proposal.
struct Algs {
    CipherSuite suite;
    std::optional<PrfAlg> prf;
    uint16_t dh = 0;
    bool esn = false;
};
std::optional<Algs> algs_of(const Proposal& p) {
    Algs a;
    const Transform* e = first_of(p, TransformType::encr);
    if (!e) return std::nullopt;
    a.suite.encr = e->id;
    a.suite.key_bits = e->key_length();
    const Transform* i = first_of(p, TransformType::integ);
    a.suite.integ = i ? i->id : integ_id::none;
    if (!a.suite.supported()) return std::nullopt;
    if (const Transform* f = first_of(p, TransformType::prf)) {
        a.prf = prf_from_id(f->id);
        if (!a.prf) return std::nullopt;
    }
    if (const Transform* d = first_of(p, TransformType::dh)) a.dh = d->id;
    if (const Transform* s = first_of(p, TransformType::esn)) a.esn = s->id == esn_id::yes;
    return a;
}

// A Child SA's algorithms and keys (§2.17): KEYMAT's initiator-to-responder
// keys are our outbound ones when we initiated the exchange, else inbound.
void set_child_keys(ChildSa& c, const Algs& a, const ChildKeys& k, bool we_initiated) {
    c.suite = a.suite;
    c.esn = a.esn;
    Secret& to_responder_encr = we_initiated ? c.encr_out : c.encr_in;
    Secret& to_responder_integ = we_initiated ? c.integ_out : c.integ_in;
    Secret& to_initiator_encr = we_initiated ? c.encr_in : c.encr_out;
    Secret& to_initiator_integ = we_initiated ? c.integ_in : c.integ_out;
    to_responder_encr = k.encr_i;
    to_responder_integ = k.integ_i;
    to_initiator_encr = k.encr_r;
    to_initiator_integ = k.integ_r;
}

std::vector<Proposal> numbered(std::vector<Proposal> ps, ProtocolId proto, const Bytes& spi) {
    for (size_t i = 0; i < ps.size(); ++i) {
        ps[i].number = uint8_t(i + 1);
        ps[i].protocol = proto;
        ps[i].spi = spi;
    }
    return ps;
}

const NotifyPayload* find_notify(const std::vector<Payload>& ps, uint16_t type) {
    for (const Payload& p : ps)
        if (auto* n = std::get_if<NotifyPayload>(&p.body); n && n->type == type) return n;
    return nullptr;
}
const NotifyPayload* first_error(const std::vector<Payload>& ps) {
    for (const Payload& p : ps)
        if (auto* n = std::get_if<NotifyPayload>(&p.body); n && notify::is_error(n->type)) return n;
    return nullptr;
}
template <class T> const T* find_body(const std::vector<Payload>& ps, PayloadType t) {
    for (const Payload& p : ps)
        if (p.type == t) return std::get_if<T>(&p.body);
    return nullptr;
}

bool contained(const std::vector<TrafficSelector>& got, const std::vector<TrafficSelector>& offered) {
    if (got.empty()) return false;
    for (const TrafficSelector& g : got) {
        bool inside = false;
        for (const TrafficSelector& o : offered)
            if (auto x = intersect(g, o); x && *x == g) inside = true;
        if (!inside) return false;
    }
    return true;
}

}  // namespace

// ---------------------------------------------------------------- helpers

std::optional<Proposal> choose_proposal(const std::vector<Proposal>& theirs, const std::vector<Proposal>& ours) {
    for (const Proposal& t : theirs)
        for (const Proposal& o : ours) {
            if (t.protocol != o.protocol || types_of(t) != types_of(o)) continue;
            Proposal c;
            c.number = t.number;
            c.protocol = t.protocol;
            c.spi = t.spi;
            bool ok = true;
            for (TransformType type : types_of(o)) {
                const Transform* pick = nullptr;
                for (const Transform& x : t.transforms)
                    if (x.type == type && !pick)
                        for (const Transform& y : o.transforms)
                            if (same_transform(x, y)) pick = &x;
                if (!pick) {
                    ok = false;
                    break;
                }
                c.transforms.push_back(*pick);
            }
            if (ok) return c;
        }
    return std::nullopt;
}

bool chosen_from_offer(const Proposal& chosen, const std::vector<Proposal>& offered) {
    for (const Proposal& o : offered) {
        if (o.number != chosen.number || o.protocol != chosen.protocol) continue;
        if (types_of(chosen) != types_of(o) || types_of(chosen).size() != chosen.transforms.size()) return false;
        for (const Transform& c : chosen.transforms)
            if (std::none_of(o.transforms.begin(), o.transforms.end(),
                             [&](const Transform& x) { return same_transform(c, x); }))
                return false;
        return true;
    }
    return false;
}

std::optional<TrafficSelector> intersect(const TrafficSelector& a, const TrafficSelector& b) {
    if (a.type != b.type) return std::nullopt;
    TrafficSelector r = a;
    if (a.ip_protocol && b.ip_protocol && a.ip_protocol != b.ip_protocol) return std::nullopt;
    r.ip_protocol = a.ip_protocol ? a.ip_protocol : b.ip_protocol;
    r.start_port = std::max(a.start_port, b.start_port);
    r.end_port = std::min(a.end_port, b.end_port);
    if (r.start_port > r.end_port) return std::nullopt;
    r.start = std::max(a.start, b.start);  // same family: byte-wise order is numeric order
    r.end = std::min(a.end, b.end);
    if (r.end < r.start) return std::nullopt;
    return r;
}

std::vector<TrafficSelector> narrow(const std::vector<TrafficSelector>& theirs,
                                    const std::vector<TrafficSelector>& ours) {
    std::vector<TrafficSelector> out;
    for (const TrafficSelector& t : theirs)
        for (const TrafficSelector& o : ours)
            if (auto x = intersect(t, o); x && std::find(out.begin(), out.end(), *x) == out.end()) out.push_back(*x);
    return out;
}

std::string selector_limit_problem(const std::vector<TrafficSelector>& tsi, const std::vector<TrafficSelector>& tsr,
                                   const PeerConfig& cfg) {
    if (tsi.size() > cfg.max_selectors || tsr.size() > cfg.max_selectors)
        return fmt::format("{} TSi and {} TSr selectors (at most {} each side)", tsi.size(), tsr.size(),
                           cfg.max_selectors);
    if (cfg.max_selector_pairs && tsi.size() * tsr.size() > cfg.max_selector_pairs)
        return fmt::format("{} x {} selector pairs, more than the {} policies configured", tsi.size(), tsr.size(),
                           cfg.max_selector_pairs);
    return "";
}

NarrowedSelectors narrow_request(const std::vector<TrafficSelector>& tsi, const std::vector<TrafficSelector>& tsr,
                                 const PeerConfig& cfg) {
    NarrowedSelectors n;
    if (tsi.size() > cfg.max_selectors || tsr.size() > cfg.max_selectors) {
        n.refusal = fmt::format("the peer proposed {} TSi and {} TSr selectors (at most {} each side)", tsi.size(),
                                tsr.size(), cfg.max_selectors);
        return n;
    }
    // TSi is the requester's side, the peer's: our remote selectors.
    std::vector<TrafficSelector> i = narrow(tsi, cfg.ts_remote), r = narrow(tsr, cfg.ts_local);
    if (i.empty() || r.empty()) {
        n.refusal = fmt::format("the peer's {} do not intersect ours", i.empty() ? "TSi" : "TSr");
        return n;
    }
    if (std::string why = selector_limit_problem(i, r, cfg); !why.empty()) {
        n.refusal = "narrowed to " + why;
        return n;
    }
    n.tsi = std::move(i);
    n.tsr = std::move(r);
    return n;
}

std::string_view name(SaState s) {
    switch (s) {
    case SaState::idle: return "idle";
    case SaState::init_sent: return "init-sent";
    case SaState::init_done: return "init-done";
    case SaState::auth_sent: return "auth-sent";
    case SaState::established: return "established";
    case SaState::rekeyed: return "rekeyed";
    case SaState::failed: return "failed";
    case SaState::deleted: return "deleted";
    }
    return "?";
}

// ---------------------------------------------------------------- common

IkeSa::IkeSa(PeerConfig cfg) : cfg_(std::move(cfg)) {}
IkeSa::~IkeSa() = default;

Output IkeSa::drop(std::string why) {
    ++dropped_;
    last_drop_ = std::move(why);
    return {};
}

void IkeSa::fail(Output& out, uint16_t notify, std::string why) {
    state_ = SaState::failed;
    deadline_.reset();
    request_.clear();
    out.events.push_back(IkeSaFailed{notify, std::move(why)});
}

Header IkeSa::header(ExchangeType x, bool response, uint32_t id) const {
    Header h;
    h.spi_i = spi_i_;
    h.spi_r = spi_r_;
    h.exchange = x;
    h.flags = uint8_t((cfg_.initiator ? kFlagInitiator : 0) | (response ? kFlagResponse : 0));
    h.message_id = id;
    return h;
}

void IkeSa::send_request(Output& out, std::vector<Bytes> msg, Millis now) {
    request_ = std::move(msg);
    tries_ = 1;
    rto_ = cfg_.retransmit_base;
    deadline_ = now + rto_;
    out.send.insert(out.send.end(), request_.begin(), request_.end());
}

void IkeSa::respond(Output& out, std::span<const uint8_t> request, std::vector<Bytes> response) {
    peer_request_.assign(request.begin(), request.end());
    response_ = std::move(response);
    ++peer_next_id_;
    out.send.insert(out.send.end(), response_.begin(), response_.end());
}

// One SK payload, or SKF fragments when it would exceed fragment_mtu and the
// peer supports them (RFC 7383 §2.5.1).
std::vector<Bytes> IkeSa::seal(const Header& h, const std::vector<Payload>& inner) const {
    const SkKeys k = outbound_keys(keys_, suite_, cfg_.initiator);
    Bytes whole = protect(k, h, inner);
    if (cfg_.fragment_mtu && peer_fragmentation_ && whole.size() > cfg_.fragment_mtu) {
        std::vector<Bytes> frags = protect_fragments(k, h, inner, cfg_.fragment_mtu);
        if (!frags.empty()) return frags;
    }
    return {std::move(whole)};
}

// The inner payloads of an SK message, or of the SKF message that completes
// a fragmented one (RFC 7383 §2.6: each fragment is authenticated before it
// is kept; a larger Total Fragments restarts the collection, a smaller one is
// dropped). nullopt while fragments are missing or when the input is dropped.
std::optional<std::vector<Payload>> IkeSa::open(const Message& m, std::span<const uint8_t> wire,
                                                std::string_view what) {
    Opened o = unprotect(inbound_keys(keys_, suite_, cfg_.initiator), wire, m);
    if (!o.ok()) {
        drop(fmt::format("{}: {}: {}", what, describe(o.error), o.detail));
        return std::nullopt;
    }
    if (o.fragment_total == 0) return std::move(o.payloads);
    Reassembly& r = frag_;
    const bool resp = m.header.is_response();
    if (r.active && (r.message_id != m.header.message_id || r.response != resp)) r.active = false;
    if (r.active && o.fragment_total < r.parts.size()) {
        drop(fmt::format("{}: fragment of {} after fragments of {}", what, o.fragment_total, r.parts.size()));
        return std::nullopt;
    }
    if (!r.active || o.fragment_total > r.parts.size()) {
        r = Reassembly{true, resp, m.header.message_id, PayloadType::none, std::vector<Bytes>(o.fragment_total),
                       std::vector<bool>(o.fragment_total)};
    }
    const size_t n = o.fragment_number - 1;
    if (n == 0) r.first = o.inner_first;
    r.parts[n] = std::move(o.plaintext);
    r.have[n] = true;
    if (std::find(r.have.begin(), r.have.end(), false) != r.have.end()) return std::nullopt;
    Bytes joined;
    for (const Bytes& part : r.parts) joined.insert(joined.end(), part.begin(), part.end());
    r.active = false;
    DecodedPayloads d = decode_payloads(r.first, joined);
    if (!d.ok()) {
        drop(fmt::format("{}: reassembled payloads: {}", what, d.status.detail));
        return std::nullopt;
    }
    return std::move(d.payloads);
}

Output IkeSa::timeout(Millis now) {
    Output out;
    if (!deadline_ || now < *deadline_) return out;
    if (tries_ >= cfg_.retransmit_tries) {
        fail(out, 0, fmt::format("no response after {} transmissions", tries_));
        return out;
    }
    ++tries_;
    rto_ *= 2;  // §2.1: exponential back-off
    deadline_ = now + rto_;
    out.send = request_;
    return out;
}

bool IkeSa::derive(std::span<const uint8_t> peer_ke) {
    const std::optional<Secret> g_ir = dh_->shared_secret(peer_ke);
    if (!g_ir) return false;
    const Secret seed = skeyseed(prf_, ni_, nr_, *g_ir);
    keys_ = derive_ike_keys(prf_, suite_, seed, ni_, nr_, spi_i_, spi_r_);
    return true;
}

// §2.23: SOURCE hashes our address and port, DESTINATION the peer's as we see them.
void IkeSa::add_nat_detection(std::vector<Payload>& ps) const {
    if (!cfg_.local_endpoint || !cfg_.remote_endpoint) return;
    const Endpoint& l = *cfg_.local_endpoint;
    const Endpoint& r = *cfg_.remote_endpoint;
    ps.push_back(make_payload(
        NotifyPayload::make(notify::nat_detection_source_ip, nat_detection_hash(spi_i_, spi_r_, l.addr, l.port))));
    ps.push_back(make_payload(NotifyPayload::make(notify::nat_detection_destination_ip,
                                                  nat_detection_hash(spi_i_, spi_r_, r.addr, r.port))));
}

void IkeSa::add_auth(std::vector<Payload>& ps, std::span<const uint8_t> octets) const {
    if (!cfg_.cert) {
        const Secret auth = psk_auth(prf_, cfg_.psk, octets);
        ps.push_back(make_payload(AuthPayload{AuthMethod::shared_key_mic, Bytes(auth.begin(), auth.end())}));
        return;
    }
    ps.push_back(make_payload(PayloadType::cert, CertPayload{CertEncoding::x509_signature, cfg_.cert->certificate}));
    for (const Bytes& im : cfg_.cert->intermediates)
        ps.push_back(make_payload(PayloadType::cert, CertPayload{CertEncoding::x509_signature, im}));
    EVP_PKEY* key = cfg_.cert->private_key.get();
    const SigScheme scheme = EVP_PKEY_is_a(key, "EC") ? SigScheme::ecdsa_sha256 : SigScheme::rsa_pkcs1_sha256;
    ps.push_back(make_payload(AuthPayload{AuthMethod::digital_signature, sign_auth(key, scheme, octets)}));
}

std::string IkeSa::check_auth(const std::vector<Payload>& ps, const IdPayload& id, const AuthPayload& auth,
                              std::span<const uint8_t> octets) const {
    if (!cfg_.cert) {
        if (auth.method != AuthMethod::shared_key_mic) return "AUTH is not a shared key MIC";
        return verify_psk_auth(prf_, cfg_.psk, octets, auth.data) ? "" : "AUTH does not verify";
    }
    if (auth.method != AuthMethod::digital_signature) return "AUTH is not an RFC 7427 signature";
    std::vector<Bytes> certs;
    for (const Payload& p : ps)
        if (auto* c = std::get_if<CertPayload>(&p.body))
            if (p.type == PayloadType::cert && c->encoding == CertEncoding::x509_signature) certs.push_back(c->data);
    if (certs.empty()) return "CERT is missing";
    std::string why;
    const PkeyPtr pub = verify_peer_certificate(certs.front(), {certs.begin() + 1, certs.end()},
                                                cfg_.cert->trust_anchors, id, why, cfg_.cert->crls);
    if (!pub) return why;
    return verify_auth(pub.get(), auth.data, octets) ? "" : "AUTH signature does not verify";
}

// The peer's SOURCE hashes must include its address as we see it, its
// DESTINATION hash our address as we know it; otherwise a NAT is in between.
void IkeSa::observed_endpoints(const Endpoint& local, const Endpoint& remote) {
    if (!cfg_.local_endpoint || !cfg_.remote_endpoint) return;
    if (state_ != SaState::idle && state_ != SaState::init_sent) return;
    if (local.addr.family == cfg_.local_endpoint->addr.family && local.addr != IpAddr{local.addr.family, {}})
        cfg_.local_endpoint = local;
    if (remote.addr.family == cfg_.remote_endpoint->addr.family) cfg_.remote_endpoint = remote;
}

void IkeSa::check_nat_detection(const std::vector<Payload>& ps, uint64_t spi_r) {
    if (!cfg_.local_endpoint || !cfg_.remote_endpoint) return;
    const Bytes peer = nat_detection_hash(spi_i_, spi_r, cfg_.remote_endpoint->addr, cfg_.remote_endpoint->port);
    const Bytes self = nat_detection_hash(spi_i_, spi_r, cfg_.local_endpoint->addr, cfg_.local_endpoint->port);
    bool any_src = false, src_match = false, any_dst = false, dst_match = false;
    for (const Payload& p : ps)
        if (auto* n = std::get_if<NotifyPayload>(&p.body)) {
            if (n->type == notify::nat_detection_source_ip) {
                any_src = true;
                src_match |= n->data == peer;
            } else if (n->type == notify::nat_detection_destination_ip) {
                any_dst = true;
                dst_match |= n->data == self;
            }
        }
    peer_nat_ = any_src && !src_match;
    local_nat_ = any_dst && !dst_match;
}

Output IkeSa::receive(std::span<const uint8_t> wire, Millis now) {
    if (state_ == SaState::failed || state_ == SaState::deleted) return drop("SA closed");
    Header h;
    if (const DecodeStatus st = decode_header(wire, h); !st.ok()) {
        // §2.5: a request of a higher major version gets INVALID_MAJOR_VERSION
        // in a version-2 header, unauthenticated and without state.
        if (st.error == DecodeError::invalid_major_version && (h.version >> 4) > 2 && !h.is_response() &&
            state_ == SaState::idle && !cfg_.initiator) {
            Message r;
            r.header = h;
            r.header.version = kVersion;
            r.header.flags = kFlagResponse;
            r.payloads.push_back(make_payload(NotifyPayload::make(notify::invalid_major_version)));
            Output out{{encode(r)}, {}};
            drop(st.detail);
            return out;
        }
        return drop(st.detail);
    }
    if (h.spi_i != spi_i_ && !(state_ == SaState::idle && !cfg_.initiator)) return drop("unknown initiator SPI");

    if (h.is_response()) {
        // §2.3: a response must answer our outstanding request.
        if (request_.empty() || h.message_id != next_id_) return drop("response to no outstanding request");
        // The I flag names the original initiator, which a response to us is not from.
        if (h.from_initiator() == cfg_.initiator) return drop("response with the wrong I flag");
        if (state_ != SaState::init_sent && h.spi_r != spi_r_) return drop("unknown responder SPI");
        const DecodedMessage d = decode(wire);
        if (!d.ok()) return drop(std::string(describe(d.status.error)) + ": " + d.status.detail);
        if (state_ == SaState::init_sent && h.exchange == ExchangeType::ike_sa_init)
            return init_response(d.message, wire, now);
        if (state_ == SaState::auth_sent && h.exchange == ExchangeType::ike_auth) return auth_response(d.message, wire);
        if ((state_ == SaState::established || state_ == SaState::rekeyed) &&
            h.exchange == ExchangeType::informational)
            return informational_response(d.message, wire);
        if (state_ == SaState::established && h.exchange == ExchangeType::create_child_sa)
            return create_child_response(d.message, wire, now);
        return drop("unexpected response exchange");
    }

    // A request from the peer.
    if (cfg_.initiator == h.from_initiator()) return drop("request with the wrong I flag");
    if (!response_.empty() && h.message_id + 1 == peer_next_id_) {
        // §2.1: a retransmitted request gets the same response again; for a
        // fragmented one, on its first fragment (RFC 7383 §2.6.1).
        if (h.next_payload == PayloadType::skf) {
            const DecodedMessage d = decode(wire);
            const auto* f = d.ok() && !d.message.payloads.empty()
                                ? std::get_if<SkfPayload>(&d.message.payloads.back().body)
                                : nullptr;
            if (f && f->number == 1) return Output{response_, {}};
            return drop("fragment of an answered request");
        }
        if (std::ranges::equal(wire, peer_request_)) return Output{response_, {}};
        return drop("different request with an answered message ID");
    }
    if (h.message_id != peer_next_id_) return drop(fmt::format("message ID {} outside the window", h.message_id));
    if (state_ == SaState::idle && !cfg_.initiator && h.exchange == ExchangeType::ike_sa_init && h.spi_r == 0)
        return init_request(wire, now);
    if (h.spi_r != spi_r_) return drop("unknown responder SPI");
    const DecodedMessage d = decode(wire);
    if (!d.ok()) return drop(std::string(describe(d.status.error)) + ": " + d.status.detail);
    if (state_ == SaState::init_done && h.exchange == ExchangeType::ike_auth) return auth_request(d.message, wire);
    const bool usable = state_ == SaState::established || state_ == SaState::rekeyed;
    if (usable && h.exchange == ExchangeType::informational) return informational_request(d.message, wire, now);
    if (usable && h.exchange == ExchangeType::create_child_sa) return create_child_request(d.message, wire, now);
    return drop("unexpected request exchange");
}

// ---------------------------------------------------------------- initiator

Output IkeSa::start(Millis now) {
    Output out;
    if (!cfg_.initiator || state_ != SaState::idle) return out;
    spi_i_ = random_u64();
    dh_ = DhKey::generate(cfg_.ke_group);
    ni_ = random_bytes(cfg_.nonce_len);
    if (!dh_) {
        fail(out, 0, fmt::format("D-H group {} not implemented", cfg_.ke_group));
        return out;
    }
    send_init(out, now);
    return out;
}

// IKE_SA_INIT request (§1.2): HDR, [N(COOKIE),] SAi1, KEi, Ni, N(IKEV2_FRAGMENTATION_SUPPORTED)
void IkeSa::send_init(Output& out, Millis now) {
    Message m;
    m.header = header(ExchangeType::ike_sa_init, false, 0);
    if (!cookie_.empty()) m.payloads.push_back(make_payload(NotifyPayload::make(notify::cookie, cookie_)));
    m.payloads.push_back(make_payload(SaPayload{numbered(cfg_.ike_proposals, ProtocolId::ike, {})}));
    m.payloads.push_back(make_payload(KePayload{dh_->group(), dh_->public_value()}));
    m.payloads.push_back(make_payload(NoncePayload{ni_}));
    add_nat_detection(m.payloads);
    m.payloads.push_back(make_payload(NotifyPayload::make(notify::ikev2_fragmentation_supported)));
    if (cfg_.cert)  // RFC 7427 §4: SHA2-256, -384, -512
        m.payloads.push_back(make_payload(NotifyPayload::make(notify::signature_hash_algorithms, {0, 2, 0, 3, 0, 4})));
    msg1_ = encode(m);
    state_ = SaState::init_sent;
    send_request(out, {msg1_}, now);
}

// IKE_SA_INIT response (§1.2): HDR, SAr1, KEr, Nr — or N(COOKIE) (§2.6), or
// N(INVALID_KE_PAYLOAD) (§1.2), or another error.
Output IkeSa::init_response(const Message& m, std::span<const uint8_t> wire, Millis now) {
    Output out;
    const std::vector<Payload>& ps = m.payloads;
    if (const NotifyPayload* c = find_notify(ps, notify::cookie)) {
        if (cookie_ == c->data) return drop("the same COOKIE again");
        cookie_ = c->data;
        send_init(out, now);
        return out;
    }
    if (const NotifyPayload* ke = find_notify(ps, notify::invalid_ke_payload)) {
        const uint16_t want = uint16_t(ke->data[0] << 8 | ke->data[1]);
        bool offered = false;
        for (const Proposal& p : cfg_.ike_proposals)
            for (const Transform& t : p.transforms)
                if (t.type == TransformType::dh && t.id == want) offered = true;
        if (!offered || want == dh_->group() || !DhKey::supported(want)) {
            fail(out, notify::invalid_ke_payload, fmt::format("responder wants D-H group {}, not offered", want));
            return out;
        }
        dh_ = DhKey::generate(want);
        send_init(out, now);
        return out;
    }
    if (const NotifyPayload* e = first_error(ps)) {
        fail(out, e->type, fmt::format("responder refused IKE_SA_INIT: {}", notify_name(e->type)));
        return out;
    }
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const KePayload* ke = find_body<KePayload>(ps, PayloadType::ke);
    const NoncePayload* nr = find_body<NoncePayload>(ps, PayloadType::nonce);
    if (!sa || !ke || !nr || m.header.spi_r == 0) return drop("IKE_SA_INIT response without SA, KE, Nr or SPIr");
    if (sa->proposals.size() != 1 ||
        !chosen_from_offer(sa->proposals[0], numbered(cfg_.ike_proposals, ProtocolId::ike, {}))) {
        fail(out, notify::no_proposal_chosen, "responder chose a proposal we did not offer");
        return out;
    }
    const std::optional<Algs> a = algs_of(sa->proposals[0]);
    if (!a || !a->prf || a->dh != dh_->group() || ke->group != dh_->group()) {
        fail(out, notify::invalid_ke_payload, "responder's D-H group or algorithms do not match");
        return out;
    }
    suite_ = a->suite;
    prf_ = *a->prf;
    group_ = a->dh;
    spi_r_ = m.header.spi_r;
    nr_ = nr->data;
    peer_fragmentation_ = find_notify(ps, notify::ikev2_fragmentation_supported) != nullptr;
    check_nat_detection(ps, spi_r_);
    msg2_.assign(wire.begin(), wire.end());
    if (!derive(ke->data)) {
        fail(out, notify::invalid_syntax, "responder's KE data is not a valid public value");
        return out;
    }
    request_.clear();
    deadline_.reset();
    next_id_ = 1;
    send_auth(out, now);
    return out;
}

// IKE_AUTH request (§1.2, §1.3): HDR, SK {IDi, [IDr,] AUTH, [N(USE_TRANSPORT_MODE),] SAi2, TSi, TSr}
void IkeSa::send_auth(Output& out, Millis now) {
    child_spi_ = random_spi();
    std::vector<Payload> in;
    in.push_back(make_payload(PayloadType::idi, cfg_.local_id));
    if (cfg_.cert)  // §3.7: ask for the responder's certificate from our CAs
        in.push_back(make_payload(PayloadType::certreq,
                                  CertPayload{CertEncoding::x509_signature, ca_key_hashes(cfg_.cert->trust_anchors)}));
    if (cfg_.remote_id) in.push_back(make_payload(PayloadType::idr, *cfg_.remote_id));
    add_auth(in, signed_octets(prf_, msg1_, nr_, keys_.sk_pi, cfg_.local_id));
    if (cfg_.transport_mode) in.push_back(make_payload(NotifyPayload::make(notify::use_transport_mode)));
    in.push_back(make_payload(SaPayload{numbered(cfg_.esp_proposals, ProtocolId::esp, spi_bytes(child_spi_))}));
    in.push_back(make_payload(PayloadType::tsi, TsPayload{cfg_.ts_local}));
    in.push_back(make_payload(PayloadType::tsr, TsPayload{cfg_.ts_remote}));
    state_ = SaState::auth_sent;
    send_request(out, seal(header(ExchangeType::ike_auth, false, 1), in), now);
}

// IKE_AUTH response: HDR, SK {IDr, AUTH, [N(USE_TRANSPORT_MODE),] SAr2, TSi, TSr}
// or SK {N(AUTHENTICATION_FAILED)}, or IDr, AUTH and a Child SA error notify.
Output IkeSa::auth_response(const Message& m, std::span<const uint8_t> wire) {
    Output out;
    const std::optional<std::vector<Payload>> opened = open(m, wire, "IKE_AUTH response");
    if (!opened) return out;
    const std::vector<Payload>& ps = *opened;
    const IdPayload* idr = find_body<IdPayload>(ps, PayloadType::idr);
    const AuthPayload* auth = find_body<AuthPayload>(ps, PayloadType::auth);
    if (!idr || !auth) {
        const NotifyPayload* e = first_error(ps);
        fail(out, e ? e->type : notify::invalid_syntax,
             e ? fmt::format("responder refused IKE_AUTH: {}", notify_name(e->type))
               : std::string("IKE_AUTH response without IDr or AUTH"));
        return out;
    }
    if (cfg_.remote_id && *idr != *cfg_.remote_id) {
        fail(out, notify::authentication_failed, "responder's identity is not the configured one");
        return out;
    }
    // §2.15: the responder signs RealMessage2 | NonceIData | prf(SK_pr, IDr').
    const Bytes octets = signed_octets(prf_, msg2_, ni_, keys_.sk_pr, *idr);
    if (const std::string why = check_auth(ps, *idr, *auth, octets); !why.empty()) {
        fail(out, notify::authentication_failed, "responder's " + why);
        return out;
    }
    request_.clear();
    deadline_.reset();
    next_id_ = 2;
    state_ = SaState::established;
    out.events.push_back(IkeSaUp{spi_i_, spi_r_, suite_, prf_, group_, *idr, local_nat_, peer_nat_});

    // The Child SA (§1.3, §2.9).
    if (const NotifyPayload* e = first_error(ps)) {
        out.events.push_back(ChildSaRefused{e->type, fmt::format("responder refused the Child SA: {}",
                                                                 notify_name(e->type))});
        return out;
    }
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const TsPayload* tsi = find_body<TsPayload>(ps, PayloadType::tsi);
    const TsPayload* tsr = find_body<TsPayload>(ps, PayloadType::tsr);
    const auto offered = numbered(cfg_.esp_proposals, ProtocolId::esp, spi_bytes(child_spi_));
    std::optional<Algs> a;
    if (!sa || !tsi || !tsr || sa->proposals.size() != 1 || spi_value(sa->proposals[0].spi) < 256 ||
        !chosen_from_offer(sa->proposals[0], offered) || !(a = algs_of(sa->proposals[0]))) {
        out.events.push_back(ChildSaRefused{notify::no_proposal_chosen, "responder's Child SA proposal is invalid"});
        return out;
    }
    if (!contained(tsi->selectors, cfg_.ts_local) || !contained(tsr->selectors, cfg_.ts_remote)) {
        out.events.push_back(ChildSaRefused{notify::ts_unacceptable, "responder widened the traffic selectors"});
        return out;
    }
    if (std::string why = selector_limit_problem(tsi->selectors, tsr->selectors, cfg_); !why.empty()) {
        out.events.push_back(ChildSaRefused{notify::ts_unacceptable, "responder narrowed to " + why});
        return out;
    }
    const ChildKeys k = derive_child_keys(prf_, keys_.sk_d, a->suite, ni_, nr_);
    ChildSa c;
    c.spi_in = child_spi_;
    c.spi_out = spi_value(sa->proposals[0].spi);
    set_child_keys(c, *a, k, true);
    c.transport_mode = cfg_.transport_mode && find_notify(ps, notify::use_transport_mode);
    c.udp_encapsulation = local_nat_ || peer_nat_;
    c.ts_local = tsi->selectors;
    c.ts_remote = tsr->selectors;
    remember(c);
    out.events.push_back(ChildSaUp{std::move(c)});
    return out;
}

// ---------------------------------------------------------------- responder

// IKE_SA_INIT request -> response HDR, SAr1, KEr, Nr, N(IKEV2_FRAGMENTATION_SUPPORTED),
// or a stateless error response (§2.21.1) that leaves us idle.
Output IkeSa::init_request(std::span<const uint8_t> wire, Millis) {
    Output out;
    const DecodedMessage d = decode(wire);
    Header eh = d.message.header;
    auto refuse = [&](uint16_t type, Bytes data, std::string why) {
        Message r;
        r.header = eh;
        r.header.spi_r = 0;
        r.header.flags = kFlagResponse;
        r.payloads.push_back(make_payload(NotifyPayload::make(type, std::move(data))));
        out.send.push_back(encode(r));
        ++dropped_;
        last_drop_ = std::move(why);
        return std::move(out);
    };
    if (!d.ok()) {
        const ErrorNotify n = d.status.notify();
        return refuse(n.type, n.data, std::string(describe(d.status.error)) + ": " + d.status.detail);
    }
    const std::vector<Payload>& ps = d.message.payloads;
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const KePayload* ke = find_body<KePayload>(ps, PayloadType::ke);
    const NoncePayload* ni = find_body<NoncePayload>(ps, PayloadType::nonce);
    if (!sa || !ke || !ni) return refuse(notify::invalid_syntax, {}, "IKE_SA_INIT without SA, KE or Ni");
    std::optional<Proposal> chosen = choose_proposal(sa->proposals, numbered(cfg_.ike_proposals, ProtocolId::ike, {}));
    std::optional<Algs> a;
    if (!chosen || !(a = algs_of(*chosen)) || !a->prf || !DhKey::supported(a->dh))
        return refuse(notify::no_proposal_chosen, {}, "no acceptable IKE proposal");
    if (ke->group != a->dh)  // §1.2: tell the initiator which group we want
        return refuse(notify::invalid_ke_payload, {uint8_t(a->dh >> 8), uint8_t(a->dh)},
                      fmt::format("KE for group {}, we chose {}", ke->group, a->dh));
    dh_ = DhKey::generate(a->dh);
    suite_ = a->suite;
    prf_ = *a->prf;
    group_ = a->dh;
    spi_i_ = d.message.header.spi_i;
    spi_r_ = random_u64();
    ni_ = ni->data;
    nr_ = random_bytes(cfg_.nonce_len);
    peer_fragmentation_ = find_notify(ps, notify::ikev2_fragmentation_supported) != nullptr;
    check_nat_detection(ps, 0);
    if (!derive(ke->data)) {
        spi_i_ = spi_r_ = 0;
        return refuse(notify::invalid_syntax, {}, "initiator's KE data is not a valid public value");
    }
    Message r;
    r.header = header(ExchangeType::ike_sa_init, true, 0);
    r.payloads.push_back(make_payload(SaPayload{{*chosen}}));
    r.payloads.push_back(make_payload(KePayload{group_, dh_->public_value()}));
    r.payloads.push_back(make_payload(NoncePayload{nr_}));
    add_nat_detection(r.payloads);
    r.payloads.push_back(make_payload(NotifyPayload::make(notify::ikev2_fragmentation_supported)));
    if (cfg_.cert) {
        r.payloads.push_back(make_payload(PayloadType::certreq, CertPayload{CertEncoding::x509_signature,
                                                                            ca_key_hashes(cfg_.cert->trust_anchors)}));
        r.payloads.push_back(make_payload(NotifyPayload::make(notify::signature_hash_algorithms, {0, 2, 0, 3, 0, 4})));
    }
    msg1_.assign(wire.begin(), wire.end());
    msg2_ = encode(r);
    state_ = SaState::init_done;
    respond(out, wire, {msg2_});
    return out;
}

// IKE_AUTH request -> HDR, SK {IDr, AUTH, [N(USE_TRANSPORT_MODE),] SAr2, TSi, TSr}
Output IkeSa::auth_request(const Message& m, std::span<const uint8_t> wire) {
    Output out;
    const std::optional<std::vector<Payload>> opened = open(m, wire, "IKE_AUTH request");
    if (!opened) return out;
    const std::vector<Payload>& ps = *opened;
    const Header rh = header(ExchangeType::ike_auth, true, m.header.message_id);
    auto refuse_ike = [&](uint16_t type, std::string why) {
        const std::vector<Payload> n = {make_payload(NotifyPayload::make(type))};
        respond(out, wire, seal(rh, n));
        fail(out, type, std::move(why));
        return std::move(out);
    };
    const IdPayload* idi = find_body<IdPayload>(ps, PayloadType::idi);
    const AuthPayload* auth = find_body<AuthPayload>(ps, PayloadType::auth);
    if (!idi || !auth) return refuse_ike(notify::invalid_syntax, "IKE_AUTH request without IDi or AUTH");
    size_t alternative = 0;
    if (cfg_.remote_id && *idi != *cfg_.remote_id) {
        // Another connection to this peer may expect this IDi: it takes over
        // from here (the IKE SA's algorithms and addresses stay ours).
        auto alt = std::find_if(cfg_.alternatives.begin(), cfg_.alternatives.end(),
                                [&](const PeerConfig& a) { return a.remote_id && *a.remote_id == *idi; });
        if (alt == cfg_.alternatives.end())
            return refuse_ike(notify::authentication_failed, "initiator's identity is not the configured one");
        alternative = size_t(alt - cfg_.alternatives.begin()) + 1;
        PeerConfig next = std::move(*alt);
        next.initiator = false;
        next.ike_proposals = std::move(cfg_.ike_proposals);
        next.local_endpoint = cfg_.local_endpoint;
        next.remote_endpoint = cfg_.remote_endpoint;
        next.fragment_mtu = cfg_.fragment_mtu;
        next.retransmit_base = cfg_.retransmit_base;
        next.retransmit_tries = cfg_.retransmit_tries;
        next.nonce_len = cfg_.nonce_len;
        next.alternatives.clear();
        cfg_ = std::move(next);
    }
    // §2.15: the initiator signs RealMessage1 | NonceRData | prf(SK_pi, IDi').
    const Bytes octets = signed_octets(prf_, msg1_, nr_, keys_.sk_pi, *idi);
    if (const std::string why = check_auth(ps, *idi, *auth, octets); !why.empty())
        return refuse_ike(notify::authentication_failed, "initiator's " + why);

    std::vector<Payload> r;
    r.push_back(make_payload(PayloadType::idr, cfg_.local_id));
    add_auth(r, signed_octets(prf_, msg2_, ni_, keys_.sk_pr, cfg_.local_id));
    state_ = SaState::established;
    out.events.push_back(IkeSaUp{spi_i_, spi_r_, suite_, prf_, group_, *idi, local_nat_, peer_nat_, alternative});

    // The Child SA: proposal, then §2.9 narrowing (TSi is theirs, TSr ours).
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const TsPayload* tsi = find_body<TsPayload>(ps, PayloadType::tsi);
    const TsPayload* tsr = find_body<TsPayload>(ps, PayloadType::tsr);
    std::optional<Proposal> chosen;
    std::optional<Algs> a;
    uint16_t refused = 0;
    NarrowedSelectors narrowed;
    if (!sa || !tsi || !tsr) refused = notify::invalid_syntax;
    else if (!(chosen = choose_proposal(sa->proposals, numbered(cfg_.esp_proposals, ProtocolId::esp, {}))) ||
             spi_value(chosen->spi) < 256 || !(a = algs_of(*chosen)))  // 4 bytes, not reserved
        refused = notify::no_proposal_chosen;
    else if (!(narrowed = narrow_request(tsi->selectors, tsr->selectors, cfg_)).refusal.empty())
        refused = notify::ts_unacceptable;
    const std::vector<TrafficSelector>& ni_ts = narrowed.tsi;
    const std::vector<TrafficSelector>& nr_ts = narrowed.tsr;
    if (refused) {
        r.push_back(make_payload(NotifyPayload::make(refused)));
        out.events.push_back(ChildSaRefused{refused,
                                            fmt::format("refused the Child SA: {}{}", notify_name(refused),
                                                        narrowed.refusal.empty() ? "" : ": " + narrowed.refusal),
                                            true});
    } else {
        const bool transport = cfg_.transport_mode && find_notify(ps, notify::use_transport_mode);
        if (transport) r.push_back(make_payload(NotifyPayload::make(notify::use_transport_mode)));
        child_spi_ = random_spi();
        ChildSa c;
        c.spi_in = child_spi_;
        c.spi_out = spi_value(chosen->spi);
        chosen->spi = spi_bytes(child_spi_);
        r.push_back(make_payload(SaPayload{{*chosen}}));
        r.push_back(make_payload(PayloadType::tsi, TsPayload{ni_ts}));
        r.push_back(make_payload(PayloadType::tsr, TsPayload{nr_ts}));
        const ChildKeys k = derive_child_keys(prf_, keys_.sk_d, a->suite, ni_, nr_);
        set_child_keys(c, *a, k, false);
        c.transport_mode = transport;
        c.udp_encapsulation = local_nat_ || peer_nat_;
        c.ts_local = nr_ts;
        c.ts_remote = ni_ts;
        remember(c);
        out.events.push_back(ChildSaUp{std::move(c)});
    }
    respond(out, wire, seal(rh, r));
    return out;
}

// INFORMATIONAL request (§1.4): answered with an empty SK payload (liveness
// check); a Delete of the IKE SA ends it.
Output IkeSa::informational_request(const Message& m, std::span<const uint8_t> wire, Millis now) {
    Output out;
    const std::optional<std::vector<Payload>> ps = open(m, wire, "INFORMATIONAL request");
    if (!ps) return out;
    // Delete(ESP) names the peer's inbound SPIs (our outbound ones); the
    // response names ours for the same Child SAs (§1.4.1).
    std::vector<Payload> answer;
    DeletePayload ours{ProtocolId::esp, 4, {}};
    bool delete_ike = false;
    for (const Payload& p : *ps) {
        const auto* del = std::get_if<DeletePayload>(&p.body);
        if (!del) continue;
        if (del->protocol == ProtocolId::ike) delete_ike = true;
        if (del->protocol != ProtocolId::esp) continue;
        for (const Bytes& spi : del->spis) {
            if (spi.size() != 4) continue;
            auto it = std::find_if(children_.begin(), children_.end(),
                                   [&](const ChildRef& c) { return c.spi_out == spi_value(spi); });
            if (it == children_.end()) continue;
            ours.spis.push_back(spi_bytes(it->spi_in));
            out.events.push_back(ChildSaDeleted{it->spi_in, true});
            const uint32_t gone = it->spi_in;
            children_.erase(it);
            forget_child(gone);
        }
    }
    if (!ours.spis.empty() && !delete_ike) answer.push_back(make_payload(ours));
    respond(out, wire, seal(header(ExchangeType::informational, true, m.header.message_id), answer));
    // §2.25.2: the peer deletes the IKE SA we both rekeyed: its rekey, which we answered, stands.
    if (delete_ike && peer_ike_rekey_) finish_ike_rekey(out, std::move(peer_ike_rekey_), nullptr, now);
    if (delete_ike) {
        state_ = SaState::deleted;
        deadline_.reset();
        request_.clear();
        out.events.push_back(IkeSaDeleted{true});
    }
    return out;
}

// ---------------------------------------------------------------- CREATE_CHILD_SA (§1.3)

// Our ESP proposals with `spi`; with PFS each carries the D-H groups too (§1.3.1).
std::vector<Proposal> IkeSa::child_proposals(const Bytes& spi) const {
    std::vector<Proposal> ps = numbered(cfg_.esp_proposals, ProtocolId::esp, spi);
    for (Proposal& p : ps)
        for (uint16_t g : cfg_.pfs_groups) p.transforms.push_back(Transform::make(TransformType::dh, g));
    return ps;
}

void IkeSa::forget_child(uint32_t spi_in) {
    std::erase_if(child_rekeys_,
                  [&](const ChildRekey& r) { return r.old_spi_in == spi_in || r.new_spi_in == spi_in; });
}

// Request: HDR, SK {[N(REKEY_SA)], [N(USE_TRANSPORT_MODE)], SA, Ni, [KEi], TSi, TSr}
// or, rekeying the IKE SA, HDR, SK {SA, Ni, KEi}.
Output IkeSa::create_child_request(const Message& m, std::span<const uint8_t> wire, Millis now) {
    Output out;
    const std::optional<std::vector<Payload>> opened = open(m, wire, "CREATE_CHILD_SA request");
    if (!opened) return out;
    const std::vector<Payload>& ps = *opened;
    const Header rh = header(ExchangeType::create_child_sa, true, m.header.message_id);
    auto refuse = [&](uint16_t type, std::string why, Bytes data = {}) {
        respond(out, wire, seal(rh, {make_payload(NotifyPayload::make(type, std::move(data)))}));
        out.events.push_back(ChildSaRefused{type, std::move(why), true});
        return std::move(out);
    };
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const NoncePayload* ni = find_body<NoncePayload>(ps, PayloadType::nonce);
    const KePayload* ke = find_body<KePayload>(ps, PayloadType::ke);
    const TsPayload* tsi = find_body<TsPayload>(ps, PayloadType::tsi);
    const TsPayload* tsr = find_body<TsPayload>(ps, PayloadType::tsr);
    if (!sa || !ni || sa->proposals.empty()) return refuse(notify::invalid_syntax, "CREATE_CHILD_SA without SA or Ni");
    if (sa->proposals[0].protocol == ProtocolId::ike) return ike_rekey_request(ps, rh, wire, now);
    if (deleting_ || state_ != SaState::established)  // §2.25.1
        return refuse(notify::temporary_failure, "a Child SA request while the IKE SA is being deleted or replaced");
    if (!tsi || !tsr) return refuse(notify::invalid_syntax, "CREATE_CHILD_SA without TSi or TSr");
    const ChildRef* old = nullptr;
    if (const NotifyPayload* rk = find_notify(ps, notify::rekey_sa)) {
        if (rk->protocol != ProtocolId::esp || rk->spi.size() != 4)
            return refuse(notify::invalid_syntax, "REKEY_SA not for a 4-byte ESP SPI");
        for (const ChildRef& c : children_)
            if (c.spi_out == spi_value(rk->spi)) old = &c;
        if (!old) return refuse(notify::child_sa_not_found, "REKEY_SA for an unknown Child SA");
        if (pending_ == Pending::delete_child && pending_old_spi_in_ == old->spi_in)
            return refuse(notify::temporary_failure, "REKEY_SA for a Child SA we are deleting");
    }
    std::optional<Proposal> chosen = choose_proposal(sa->proposals, child_proposals({}));
    std::optional<Algs> a;
    if (!chosen || spi_value(chosen->spi) < 256 || !(a = algs_of(*chosen)))
        return refuse(notify::no_proposal_chosen, cfg_.pfs_groups.empty() == !find_body<KePayload>(ps, PayloadType::ke)
                                                      ? "no acceptable Child SA proposal"
                                                  : cfg_.pfs_groups.empty() ? "the peer wants PFS, we do not"
                                                                            : "the peer offers no PFS, we require it");
    // PFS (§1.3.1): the KE must be for the chosen group, else INVALID_KE_PAYLOAD names ours.
    std::optional<Secret> g_ir;
    Bytes our_ke;
    if (a->dh) {
        if (!ke) return refuse(notify::invalid_syntax, "a D-H group in the proposal but no KE");
        if (ke->group != a->dh)
            return refuse(notify::invalid_ke_payload, fmt::format("KE for group {}, we chose {}", ke->group, a->dh),
                          {uint8_t(a->dh >> 8), uint8_t(a->dh)});
        const std::unique_ptr<DhKey> dh = DhKey::generate(a->dh);
        if (!dh || !(g_ir = dh->shared_secret(ke->data)))
            return refuse(notify::invalid_syntax, "the peer's KE data is not a valid public value");
        our_ke = dh->public_value();
    }
    const NarrowedSelectors narrowed = narrow_request(tsi->selectors, tsr->selectors, cfg_);
    if (!narrowed.refusal.empty()) return refuse(notify::ts_unacceptable, "traffic selectors unacceptable: " + narrowed.refusal);
    const std::vector<TrafficSelector>& ni_ts = narrowed.tsi;
    const std::vector<TrafficSelector>& nr_ts = narrowed.tsr;
    const bool transport = cfg_.transport_mode && find_notify(ps, notify::use_transport_mode);
    const Bytes nr = random_bytes(cfg_.nonce_len);
    ChildSa c;
    c.spi_in = random_spi();
    c.spi_out = spi_value(chosen->spi);
    chosen->spi = spi_bytes(c.spi_in);
    std::vector<Payload> r;
    if (transport) r.push_back(make_payload(NotifyPayload::make(notify::use_transport_mode)));
    r.push_back(make_payload(SaPayload{{*chosen}}));
    r.push_back(make_payload(NoncePayload{nr}));
    if (g_ir) r.push_back(make_payload(KePayload{a->dh, our_ke}));
    r.push_back(make_payload(PayloadType::tsi, TsPayload{ni_ts}));
    r.push_back(make_payload(PayloadType::tsr, TsPayload{nr_ts}));
    // §2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) with this exchange's
    // nonces; the exchange's initiator-to-responder keys come first.
    const ChildKeys k = derive_child_keys(prf_, keys_.sk_d, a->suite, ni->data, nr, g_ir ? *g_ir : Secret{});
    set_child_keys(c, *a, k, false);
    c.pfs = g_ir.has_value();
    c.transport_mode = transport;
    c.udp_encapsulation = local_nat_ || peer_nat_;
    c.ts_local = nr_ts;
    c.ts_remote = ni_ts;
    c.replaces_spi_in = old ? old->spi_in : 0;
    // §2.8.1: a rekey of a Child SA we rekey too. While ours is outstanding
    // the decision waits for its response; if ours completed first, the
    // exchange with the lowest nonce loses now.
    uint32_t ours_lost = 0;
    if (old) {
        const Bytes& low = lower_nonce(ni->data, nr);
        auto mine = std::find_if(child_rekeys_.begin(), child_rekeys_.end(),
                                 [&](const ChildRekey& x) { return x.ours && x.old_spi_in == c.replaces_spi_in; });
        if (pending_ == Pending::rekey && pending_old_spi_in_ == c.replaces_spi_in)
            child_rekeys_.push_back({c.replaces_spi_in, c.spi_in, low, false});
        else if (mine != child_rekeys_.end() && nonce_less(mine->low_nonce, low))
            ours_lost = mine->new_spi_in;  // ours is redundant: theirs takes over, we delete ours
        else if (mine != child_rekeys_.end())
            c.redundant = true;  // theirs is redundant: the peer deletes it
    }
    remember(c);
    out.events.push_back(ChildSaUp{std::move(c)});
    if (ours_lost) out.events.push_back(ChildSaRedundant{ours_lost});
    respond(out, wire, seal(rh, r));
    return out;
}

Output IkeSa::rekey_child(uint32_t spi_in, Millis now) {
    Output out;
    if (state_ != SaState::established || !request_.empty() || deleting_) return out;
    auto it = std::find_if(children_.begin(), children_.end(), [&](const ChildRef& c) { return c.spi_in == spi_in; });
    if (it == children_.end()) return out;
    pending_dh_.reset();
    if (!cfg_.pfs_groups.empty() && !(pending_dh_ = DhKey::generate(cfg_.pfs_groups.front()))) return out;
    pending_ = Pending::rekey;
    pending_old_spi_in_ = spi_in;
    pending_new_spi_ = random_spi();
    pending_ni_ = random_bytes(cfg_.nonce_len);
    send_child_rekey(out, *it, now);
    return out;
}

void IkeSa::send_child_rekey(Output& out, const ChildRef& old, Millis now) {
    std::vector<Payload> in;
    NotifyPayload rk = NotifyPayload::make(notify::rekey_sa);
    rk.protocol = ProtocolId::esp;
    rk.spi = spi_bytes(old.spi_in);  // the SPI we receive on (§1.3.3)
    in.push_back(make_payload(rk));
    if (old.transport) in.push_back(make_payload(NotifyPayload::make(notify::use_transport_mode)));
    in.push_back(make_payload(SaPayload{child_proposals(spi_bytes(pending_new_spi_))}));
    in.push_back(make_payload(NoncePayload{pending_ni_}));
    if (pending_dh_) in.push_back(make_payload(KePayload{pending_dh_->group(), pending_dh_->public_value()}));
    in.push_back(make_payload(PayloadType::tsi, TsPayload{old.ts_local}));
    in.push_back(make_payload(PayloadType::tsr, TsPayload{old.ts_remote}));
    send_request(out, seal(header(ExchangeType::create_child_sa, false, next_id_), in), now);
}

// Response: HDR, SK {[N(USE_TRANSPORT_MODE)], SA, Nr, [KEr], TSi, TSr} or an error notify.
Output IkeSa::create_child_response(const Message& m, std::span<const uint8_t> wire, Millis now) {
    Output out;
    if (pending_ != Pending::rekey && pending_ != Pending::rekey_ike)
        return drop("CREATE_CHILD_SA response to another exchange");
    const std::optional<std::vector<Payload>> opened = open(m, wire, "CREATE_CHILD_SA response");
    if (!opened) return out;
    const std::vector<Payload>& ps = *opened;
    request_.clear();
    deadline_.reset();
    ++next_id_;
    const Pending was = pending_;
    pending_ = Pending::none;
    if (was == Pending::rekey_ike) return ike_rekey_response(ps, now);
    auto old = std::find_if(children_.begin(), children_.end(),
                            [&](const ChildRef& c) { return c.spi_in == pending_old_spi_in_; });
    if (const NotifyPayload* e = first_error(ps)) {
        // §1.3.1: INVALID_KE_PAYLOAD names the group the peer wants; retry once with it if we offered it.
        if (e->type == notify::invalid_ke_payload && e->data.size() == 2 && pending_dh_ && old != children_.end()) {
            const uint16_t want = uint16_t(e->data[0] << 8 | e->data[1]);
            if (want != pending_dh_->group() &&
                std::find(cfg_.pfs_groups.begin(), cfg_.pfs_groups.end(), want) != cfg_.pfs_groups.end())
                if (std::unique_ptr<DhKey> dh = DhKey::generate(want)) {
                    pending_dh_ = std::move(dh);
                    pending_ = Pending::rekey;
                    send_child_rekey(out, *old, now);
                    return out;
                }
        }
        std::erase_if(child_rekeys_, [&](const ChildRekey& x) { return x.old_spi_in == pending_old_spi_in_; });
        out.events.push_back(ChildSaRefused{e->type, fmt::format("peer refused the rekey: {}", notify_name(e->type))});
        return out;
    }
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const NoncePayload* nr = find_body<NoncePayload>(ps, PayloadType::nonce);
    const KePayload* ke = find_body<KePayload>(ps, PayloadType::ke);
    const TsPayload* tsi = find_body<TsPayload>(ps, PayloadType::tsi);
    const TsPayload* tsr = find_body<TsPayload>(ps, PayloadType::tsr);
    std::vector<Proposal> offered = child_proposals(spi_bytes(pending_new_spi_));
    std::optional<Algs> a;
    if (old == children_.end() || !sa || !nr || !tsi || !tsr || sa->proposals.size() != 1 ||
        spi_value(sa->proposals[0].spi) < 256 || !chosen_from_offer(sa->proposals[0], offered) ||
        !(a = algs_of(sa->proposals[0]))) {
        out.events.push_back(ChildSaRefused{notify::no_proposal_chosen, "peer's rekey response is invalid"});
        return out;
    }
    std::optional<Secret> g_ir;
    if (a->dh) {
        if (!pending_dh_ || a->dh != pending_dh_->group() || !ke || ke->group != a->dh ||
            !(g_ir = pending_dh_->shared_secret(ke->data))) {
            out.events.push_back(ChildSaRefused{notify::invalid_ke_payload, "peer's rekey response has no valid KE"});
            return out;
        }
    }
    if (!contained(tsi->selectors, old->ts_local) || !contained(tsr->selectors, old->ts_remote)) {
        out.events.push_back(ChildSaRefused{notify::ts_unacceptable, "peer widened the traffic selectors"});
        return out;
    }
    const ChildKeys k = derive_child_keys(prf_, keys_.sk_d, a->suite, pending_ni_, nr->data, g_ir ? *g_ir : Secret{});
    pending_dh_.reset();
    ChildSa c;
    c.spi_in = pending_new_spi_;
    c.spi_out = spi_value(sa->proposals[0].spi);
    set_child_keys(c, *a, k, true);
    c.pfs = g_ir.has_value();
    c.transport_mode = old->transport && find_notify(ps, notify::use_transport_mode);
    c.udp_encapsulation = local_nat_ || peer_nat_;
    c.ts_local = tsi->selectors;
    c.ts_remote = tsr->selectors;
    c.replaces_spi_in = pending_old_spi_in_;
    // §2.8.1: the peer rekeyed the same Child SA meanwhile (we answered it):
    // the exchange with the lowest of the four nonces made the redundant SA.
    const Bytes& low = lower_nonce(pending_ni_, nr->data);
    auto theirs = std::find_if(child_rekeys_.begin(), child_rekeys_.end(),
                               [&](const ChildRekey& x) { return !x.ours && x.old_spi_in == c.replaces_spi_in; });
    if (theirs != child_rekeys_.end() && nonce_less(low, theirs->low_nonce)) c.redundant = c.delete_redundant = true;
    child_rekeys_.push_back({c.replaces_spi_in, c.spi_in, low, true});
    remember(c);
    out.events.push_back(ChildSaUp{std::move(c)});
    return out;
}

// ---------------------------------------------------------------- IKE SA rekey (§1.3.2, §2.18)

// The new IKE SA of a rekey: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
// with the old PRF, keys from it with the new one and the new SPIs; message
// IDs from 0; its initiator is the rekey's initiator.
std::unique_ptr<IkeSa> IkeSa::new_ike_sa(bool we_initiate, uint64_t spi_i, uint64_t spi_r, const CipherSuite& suite,
                                         PrfAlg prf, uint16_t group, std::span<const uint8_t> g_ir, const Bytes& ni,
                                         const Bytes& nr) const {
    PeerConfig c = cfg_;
    c.initiator = we_initiate;
    auto n = std::make_unique<IkeSa>(std::move(c));
    const Secret seed = skeyseed_rekey(prf_, keys_.sk_d, g_ir, ni, nr);
    n->keys_ = derive_ike_keys(prf, suite, seed, ni, nr, spi_i, spi_r);
    n->state_ = SaState::established;
    n->spi_i_ = spi_i;
    n->spi_r_ = spi_r;
    n->suite_ = suite;
    n->prf_ = prf;
    n->group_ = group;
    n->ni_ = ni;
    n->nr_ = nr;
    n->peer_fragmentation_ = peer_fragmentation_;
    n->local_nat_ = local_nat_;
    n->peer_nat_ = peer_nat_;
    return n;
}

// The rekey is done: the Child SAs move to `winner`, which the event reports;
// the initiator of the winning rekey deletes this IKE SA, and a redundant
// one from a collision (§2.8.2) is deleted by the side that created it.
void IkeSa::finish_ike_rekey(Output& out, std::unique_ptr<IkeSa> winner, std::unique_ptr<IkeSa> loser, Millis now) {
    winner->children_ = std::move(children_);
    winner->child_rekeys_ = std::move(child_rekeys_);
    children_.clear();
    child_rekeys_.clear();
    state_ = SaState::rekeyed;
    pending_dh_.reset();
    out.events.push_back(IkeSaRekeyed{spi_i_, spi_r_,
                                      IkeSaUp{winner->spi_i_, winner->spi_r_, winner->suite_, winner->prf_,
                                              winner->group_, {}, local_nat_, peer_nat_},
                                      winner->cfg_.initiator, loser != nullptr});
    if (loser && loser->cfg_.initiator) {
        Output o = loser->delete_sa(now);
        out.send.insert(out.send.end(), o.send.begin(), o.send.end());
    }
    if (winner->cfg_.initiator && request_.empty()) {
        send_request(out, seal(header(ExchangeType::informational, false, next_id_),
                               {make_payload(DeletePayload{ProtocolId::ike, 0, {}})}),
                     now);
        deleting_ = true;
    }
    successor_ = std::move(winner);
    redundant_ = std::move(loser);
}

Output IkeSa::rekey_ike(Millis now) {
    Output out;
    if (state_ != SaState::established || !request_.empty() || deleting_) return out;
    pending_dh_ = DhKey::generate(group_);
    if (!pending_dh_) return out;
    pending_ = Pending::rekey_ike;
    pending_ike_spi_ = random_u64();
    pending_ni_ = random_bytes(cfg_.nonce_len);
    send_ike_rekey(out, now);
    return out;
}

// Request: HDR, SK {SA (our new SPI), Ni, KEi}. The KE's group goes first
// among each proposal's D-H transforms: the responder picks by our order
// (§2.7), so it takes the group of the KE unless it does not accept it.
void IkeSa::send_ike_rekey(Output& out, Millis now) {
    std::vector<Proposal> offer = numbered(cfg_.ike_proposals, ProtocolId::ike, spi_bytes64(pending_ike_spi_));
    for (Proposal& p : offer)
        std::stable_partition(p.transforms.begin(), p.transforms.end(), [&](const Transform& t) {
            return t.type != TransformType::dh || t.id == pending_dh_->group();
        });
    std::vector<Payload> in;
    in.push_back(make_payload(SaPayload{std::move(offer)}));
    in.push_back(make_payload(NoncePayload{pending_ni_}));
    in.push_back(make_payload(KePayload{pending_dh_->group(), pending_dh_->public_value()}));
    send_request(out, seal(header(ExchangeType::create_child_sa, false, next_id_), in), now);
}

// As responder: HDR, SK {SA (our new SPI), Nr, KEr} or an error notify.
Output IkeSa::ike_rekey_request(const std::vector<Payload>& ps, const Header& rh, std::span<const uint8_t> wire,
                                Millis now) {
    Output out;
    auto refuse = [&](uint16_t type, std::string why, Bytes data = {}) {
        respond(out, wire, seal(rh, {make_payload(NotifyPayload::make(type, std::move(data)))}));
        ++dropped_;  // not an error of ours: counted and explained like a drop
        last_drop_ = "refused the peer's IKE SA rekey: " + why;
        return std::move(out);
    };
    // §2.25.2: not while we delete or replace it; and, as charon does, not
    // while one of our Child SA exchanges is outstanding (it would lose its SA).
    if (deleting_ || state_ != SaState::established || peer_ike_rekey_)
        return refuse(notify::temporary_failure, "the IKE SA is being deleted or replaced");
    if (pending_ == Pending::rekey || pending_ == Pending::delete_child)
        return refuse(notify::temporary_failure, "a Child SA exchange of ours is outstanding");
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const NoncePayload* ni = find_body<NoncePayload>(ps, PayloadType::nonce);
    const KePayload* ke = find_body<KePayload>(ps, PayloadType::ke);
    if (!ke) return refuse(notify::invalid_syntax, "no KE");
    std::optional<Proposal> chosen = choose_proposal(sa->proposals, numbered(cfg_.ike_proposals, ProtocolId::ike, {}));
    std::optional<Algs> a;
    if (!chosen || spi_value64(chosen->spi) == 0 || !(a = algs_of(*chosen)) || !a->prf || !DhKey::supported(a->dh))
        return refuse(notify::no_proposal_chosen, "no acceptable IKE proposal");
    if (ke->group != a->dh)
        return refuse(notify::invalid_ke_payload, fmt::format("KE for group {}, we chose {}", ke->group, a->dh),
                      {uint8_t(a->dh >> 8), uint8_t(a->dh)});
    const std::unique_ptr<DhKey> dh = DhKey::generate(a->dh);
    std::optional<Secret> g_ir;
    if (!dh || !(g_ir = dh->shared_secret(ke->data)))
        return refuse(notify::invalid_syntax, "the peer's KE data is not a valid public value");
    const uint64_t their_spi = spi_value64(chosen->spi), our_spi = random_u64();
    const Bytes nr = random_bytes(cfg_.nonce_len);
    chosen->spi = spi_bytes64(our_spi);
    std::unique_ptr<IkeSa> next = new_ike_sa(false, their_spi, our_spi, a->suite, *a->prf, a->dh, *g_ir, ni->data, nr);
    respond(out, wire,
            seal(rh, {make_payload(SaPayload{{*chosen}}), make_payload(NoncePayload{nr}),
                      make_payload(KePayload{a->dh, dh->public_value()})}));
    if (pending_ == Pending::rekey_ike) {  // §2.8.2: decided when the response to ours comes
        peer_ike_rekey_ = std::move(next);
        peer_ike_rekey_low_ = lower_nonce(ni->data, nr);
        return out;
    }
    finish_ike_rekey(out, std::move(next), nullptr, now);
    return out;
}

// As initiator: the response to our IKE SA rekey (pending_ already cleared).
Output IkeSa::ike_rekey_response(const std::vector<Payload>& ps, Millis now) {
    Output out;
    std::unique_ptr<IkeSa> theirs = std::move(peer_ike_rekey_);
    auto refused = [&](uint16_t type, std::string why) {
        if (theirs) finish_ike_rekey(out, std::move(theirs), nullptr, now);  // the peer's rekey stands alone
        else out.events.push_back(IkeSaRekeyRefused{type, std::move(why)});
        pending_dh_.reset();
        return std::move(out);
    };
    if (const NotifyPayload* e = first_error(ps)) {
        if (e->type == notify::invalid_ke_payload && e->data.size() == 2 && !theirs) {
            const uint16_t want = uint16_t(e->data[0] << 8 | e->data[1]);
            bool offered = false;
            for (const Proposal& p : cfg_.ike_proposals)
                for (const Transform& t : p.transforms)
                    if (t.type == TransformType::dh && t.id == want) offered = true;
            if (offered && want != pending_dh_->group())
                if (std::unique_ptr<DhKey> dh = DhKey::generate(want)) {
                    pending_dh_ = std::move(dh);
                    pending_ = Pending::rekey_ike;
                    send_ike_rekey(out, now);
                    return out;
                }
        }
        return refused(e->type, fmt::format("peer refused the IKE SA rekey: {}", notify_name(e->type)));
    }
    const SaPayload* sa = find_body<SaPayload>(ps, PayloadType::sa);
    const NoncePayload* nr = find_body<NoncePayload>(ps, PayloadType::nonce);
    const KePayload* ke = find_body<KePayload>(ps, PayloadType::ke);
    std::optional<Algs> a;
    if (!sa || !nr || !ke || sa->proposals.size() != 1 || spi_value64(sa->proposals[0].spi) == 0 ||
        !chosen_from_offer(sa->proposals[0], numbered(cfg_.ike_proposals, ProtocolId::ike, {})) ||
        !(a = algs_of(sa->proposals[0])) || !a->prf || a->dh != pending_dh_->group() || ke->group != a->dh)
        return refused(notify::no_proposal_chosen, "peer's IKE SA rekey response is invalid");
    const std::optional<Secret> g_ir = pending_dh_->shared_secret(ke->data);
    if (!g_ir) return refused(notify::invalid_syntax, "peer's KE data is not a valid public value");
    std::unique_ptr<IkeSa> ours = new_ike_sa(true, pending_ike_spi_, spi_value64(sa->proposals[0].spi), a->suite,
                                             *a->prf, a->dh, *g_ir, pending_ni_, nr->data);
    if (!theirs) {
        finish_ike_rekey(out, std::move(ours), nullptr, now);
    } else if (nonce_less(lower_nonce(pending_ni_, nr->data), peer_ike_rekey_low_)) {
        finish_ike_rekey(out, std::move(theirs), std::move(ours), now);  // §2.8.2: ours is redundant
    } else {
        finish_ike_rekey(out, std::move(ours), std::move(theirs), now);
    }
    return out;
}

Output IkeSa::delete_child(uint32_t spi_in, Millis now) {
    Output out;
    auto it = std::find_if(children_.begin(), children_.end(), [&](const ChildRef& c) { return c.spi_in == spi_in; });
    if (it == children_.end() || deleting_) return out;
    out = send_informational({make_payload(DeletePayload{ProtocolId::esp, 4, {spi_bytes(spi_in)}})}, now);
    if (!out.send.empty()) {
        pending_ = Pending::delete_child;
        pending_old_spi_in_ = spi_in;
    }
    return out;
}

// ---------------------------------------------------------------- INFORMATIONAL as requester

Output IkeSa::send_informational(std::vector<Payload> ps, Millis now) {
    Output out;
    if (state_ != SaState::established || !request_.empty()) return out;
    send_request(out, seal(header(ExchangeType::informational, false, next_id_), ps), now);
    return out;
}

Output IkeSa::liveness_check(Millis now) { return send_informational({}, now); }

Output IkeSa::delete_sa(Millis now) {
    Output out = send_informational({make_payload(DeletePayload{ProtocolId::ike, 0, {}})}, now);
    if (!out.send.empty()) deleting_ = true;
    return out;
}

Output IkeSa::informational_response(const Message& m, std::span<const uint8_t> wire) {
    Output out;
    if (pending_ == Pending::rekey || pending_ == Pending::rekey_ike)
        return drop("INFORMATIONAL response to a CREATE_CHILD_SA request");
    if (!open(m, wire, "INFORMATIONAL response")) return out;
    request_.clear();
    deadline_.reset();
    ++next_id_;
    if (pending_ == Pending::delete_child) {
        pending_ = Pending::none;
        auto it = std::find_if(children_.begin(), children_.end(),
                               [&](const ChildRef& c) { return c.spi_in == pending_old_spi_in_; });
        if (it != children_.end()) children_.erase(it);
        forget_child(pending_old_spi_in_);
        out.events.push_back(ChildSaDeleted{pending_old_spi_in_, false});
    } else if (deleting_) {
        state_ = SaState::deleted;
        out.events.push_back(IkeSaDeleted{false});
    } else {
        out.events.push_back(PeerAlive{});
    }
    return out;
}

}  // namespace rampart::ike
