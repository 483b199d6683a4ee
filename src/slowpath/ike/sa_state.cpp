// The IKE SA state machine; see sa_state.hpp. Each exchange is written as
// build (our message) and process (the peer's), with the RFC 7296 step it
// implements in the comment, in a file of its own: sa_init_auth.cpp
// (IKE_SA_INIT, IKE_AUTH), sa_create_child.cpp (CREATE_CHILD_SA: Child SAs,
// rekeys, collisions), sa_informational.cpp (INFORMATIONAL, deletes). This
// file: what they share (sealing, opening, retransmission, NAT detection,
// AUTH) and the dispatch of what arrives.
#include "slowpath/ike/sa_state.hpp"

#include <openssl/evp.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "slowpath/ike/sa_detail.hpp"

namespace rampart::ike {

using namespace sa_detail;

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

}  // namespace rampart::ike
