// The IKE SA state machine (sa_state.hpp): IKE_SA_INIT and IKE_AUTH (RFC 7296
// §1.2), as initiator and as responder, with the first Child SA.
#include "slowpath/ike/sa_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "slowpath/ike/sa_detail.hpp"

namespace rampart::ike {

using namespace sa_detail;

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

}  // namespace rampart::ike
