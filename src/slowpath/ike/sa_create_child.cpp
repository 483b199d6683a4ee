// The IKE SA state machine (sa_state.hpp): CREATE_CHILD_SA (RFC 7296 §1.3)
// in both roles: Child SA rekeys with optional PFS, additional Child SAs, IKE
// SA rekeys (§1.3.2, §2.18) and rekey collisions (§2.8.1, §2.8.2).
#include "slowpath/ike/sa_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "slowpath/ike/sa_detail.hpp"

namespace rampart::ike {

using namespace sa_detail;

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

}  // namespace rampart::ike
