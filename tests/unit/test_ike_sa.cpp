// The IKE SA state machine with two in-process peers, initiator <-> responder,
// messages handed over by the test (strongSwan's exchange-test idiom): each
// case runs the exchange to its end and checks both sides' events. Steps:
//   I -> R  IKE_SA_INIT  HDR, SAi1, KEi, Ni
//   R -> I  IKE_SA_INIT  HDR, SAr1, KEr, Nr
//   I -> R  IKE_AUTH     HDR, SK {IDi, [IDr], AUTH, SAi2, TSi, TSr}
//   R -> I  IKE_AUTH     HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
#include "slowpath/ike/sa_state.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <deque>
#include <functional>

using namespace rampart;
using namespace rampart::ike;
using namespace std::chrono_literals;

namespace {

Secret secret(std::string_view s) { return Secret(s.begin(), s.end()); }
TrafficSelector ts(const char* prefix, uint8_t proto = 0, uint16_t sp = 0, uint16_t ep = 65535) {
    return TrafficSelector::from_prefix(*Prefix::parse(prefix), proto, sp, ep);
}

Proposal ike_gcm(std::initializer_list<uint16_t> groups) {
    Proposal p;
    p.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, 256),
                    Transform::make(TransformType::prf, prf_id::hmac_sha2_384)};
    for (uint16_t g : groups) p.transforms.push_back(Transform::make(TransformType::dh, g));
    return p;
}
Proposal ike_cbc(uint16_t integ, uint16_t prf, uint16_t group, uint16_t bits = 128) {
    Proposal p;
    p.transforms = {Transform::make(TransformType::encr, encr_id::aes_cbc, bits),
                    Transform::make(TransformType::integ, integ), Transform::make(TransformType::prf, prf),
                    Transform::make(TransformType::dh, group)};
    return p;
}
Proposal esp_gcm(uint16_t bits) {
    Proposal p;
    p.protocol = ProtocolId::esp;
    p.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, bits),
                    Transform::make(TransformType::esn, esn_id::no)};
    return p;
}
Proposal esp_cbc() {
    Proposal p;
    p.protocol = ProtocolId::esp;
    p.transforms = {Transform::make(TransformType::encr, encr_id::aes_cbc, 256),
                    Transform::make(TransformType::integ, integ_id::hmac_sha2_256_128),
                    Transform::make(TransformType::esn, esn_id::yes), Transform::make(TransformType::esn, esn_id::no)};
    return p;
}

// A spoke (initiator) and a concentrator (responder), RFC 5619 §3.5.4 style.
PeerConfig spoke() {
    PeerConfig c;
    c.initiator = true;
    c.ike_proposals = {ike_gcm({dh_id::curve25519, dh_id::ecp256})};
    c.ke_group = dh_id::curve25519;
    c.esp_proposals = {esp_gcm(256), esp_cbc()};
    c.local_id = IdPayload::text(IdType::fqdn, "spoke1.example.net");
    c.remote_id = IdPayload::address(*IpAddr::parse("198.51.100.1"));
    c.psk = secret("correct horse battery staple, but longer");
    c.ts_local = {ts("10.0.0.0/8")};
    c.ts_remote = {ts("0.0.0.0/0")};
    return c;
}
PeerConfig hub() {
    PeerConfig c;
    c.initiator = false;
    c.ike_proposals = {ike_cbc(integ_id::hmac_sha2_256_128, prf_id::hmac_sha2_256, dh_id::modp2048),
                       ike_gcm({dh_id::ecp256, dh_id::curve25519})};
    c.esp_proposals = {esp_cbc(), esp_gcm(256)};
    c.local_id = IdPayload::address(*IpAddr::parse("198.51.100.1"));
    c.remote_id = IdPayload::text(IdType::fqdn, "spoke1.example.net");
    c.psk = secret("correct horse battery staple, but longer");
    c.ts_local = {ts("192.0.2.0/24"), ts("2001:db8::/32")};
    c.ts_remote = {ts("10.1.0.0/16")};
    return c;
}

struct Side {
    IkeSa sa;
    std::vector<Event> events;
    std::vector<Bytes> sent;
    explicit Side(PeerConfig c) : sa(std::move(c)) {}
};

// Delivers messages both ways until none is left; `lose` may eat one.
struct Link {
    Side& i;
    Side& r;
    Millis now{0};
    std::deque<std::pair<bool, Bytes>> wire;  // (to responder?, datagram)
    std::function<bool(bool to_r, const Bytes&)> lose = [](bool, const Bytes&) { return false; };

    void take(Side& from, Output o) {
        for (Event& e : o.events) from.events.push_back(std::move(e));
        for (Bytes& b : o.send) {
            from.sent.push_back(b);
            wire.emplace_back(&from == &i, std::move(b));
        }
    }
    void run() {
        while (!wire.empty()) {
            auto [to_r, b] = std::move(wire.front());
            wire.pop_front();
            if (lose(to_r, b)) continue;
            Side& dst = to_r ? r : i;
            take(dst, dst.sa.receive(b, now));
        }
    }
    void tick(Millis t) {
        now = t;
        take(i, i.sa.timeout(now));
        take(r, r.sa.timeout(now));
        run();
    }
};

template <class T> std::vector<const T*> all(const std::vector<Event>& es) {
    std::vector<const T*> out;
    for (const Event& e : es)
        if (auto* x = std::get_if<T>(&e)) out.push_back(x);
    return out;
}

void check_child_pair(const ChildSa& a, const ChildSa& b) {
    CHECK(a.spi_in == b.spi_out);
    CHECK(a.spi_out == b.spi_in);
    CHECK(a.spi_in >= 256);
    CHECK(a.spi_out >= 256);
    CHECK(a.suite.encr == b.suite.encr);
    CHECK(a.suite.key_bits == b.suite.key_bits);
    CHECK(a.suite.integ == b.suite.integ);
    CHECK(a.esn == b.esn);
    CHECK(a.transport_mode == b.transport_mode);
    CHECK(a.udp_encapsulation == b.udp_encapsulation);
    CHECK(a.encr_in == b.encr_out);
    CHECK(a.encr_out == b.encr_in);
    CHECK(a.integ_in == b.integ_out);
    CHECK(a.integ_out == b.integ_in);
    CHECK(a.encr_in != a.encr_out);
    CHECK(a.encr_in.size() == a.suite.encr_keymat_len());
    CHECK(a.integ_in.size() == a.suite.integ_key_len());
    CHECK(a.ts_local == b.ts_remote);
    CHECK(a.ts_remote == b.ts_local);
}

}  // namespace

TEST_CASE("ike sa: initiator and responder establish the IKE SA and the first Child SA", "[ike][sa]") {
    struct Case {
        const char* what;
        std::vector<Proposal> ike;
        uint16_t group;
        std::vector<Proposal> esp;
        uint16_t want_encr, want_integ;
    };
    const std::vector<Case> cases = {
        {"AES-GCM-256 / PRF-SHA384 / Curve25519, ESP AES-GCM-256", {ike_gcm({dh_id::curve25519})}, dh_id::curve25519,
         {esp_gcm(256)}, encr_id::aes_gcm_16, integ_id::none},
        {"AES-GCM-256 / ECP-256, ESP AES-CBC-256 + SHA256", {ike_gcm({dh_id::ecp256})}, dh_id::ecp256, {esp_cbc()},
         encr_id::aes_gcm_16, integ_id::none},
        {"AES-CBC-128 + SHA256 / MODP-2048", {ike_cbc(integ_id::hmac_sha2_256_128, prf_id::hmac_sha2_256, 14)}, 14,
         {esp_gcm(256)}, encr_id::aes_cbc, integ_id::hmac_sha2_256_128},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        PeerConfig ic = spoke();
        ic.ike_proposals = c.ike;
        ic.ke_group = c.group;
        ic.esp_proposals = c.esp;
        Side i(ic), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        REQUIRE(i.sa.state() == SaState::init_sent);
        l.run();
        CHECK(i.sa.state() == SaState::established);
        CHECK(r.sa.state() == SaState::established);
        CHECK(i.sent.size() == 2);
        CHECK(r.sent.size() == 2);
        CHECK(i.sa.dropped() == 0);
        CHECK(r.sa.dropped() == 0);
        CHECK(i.sa.spi_i() == r.sa.spi_i());
        CHECK(i.sa.spi_r() == r.sa.spi_r());
        CHECK(!i.sa.next_timeout());

        auto iu = all<IkeSaUp>(i.events), ru = all<IkeSaUp>(r.events);
        REQUIRE(iu.size() == 1);
        REQUIRE(ru.size() == 1);
        CHECK(iu[0]->suite.encr == c.want_encr);
        CHECK(iu[0]->suite.integ == c.want_integ);
        CHECK(ru[0]->suite.encr == c.want_encr);
        CHECK(iu[0]->dh_group == c.group);
        CHECK(iu[0]->peer_id == hub().local_id);
        CHECK(ru[0]->peer_id == spoke().local_id);

        auto ic_up = all<ChildSaUp>(i.events), rc_up = all<ChildSaUp>(r.events);
        REQUIRE(ic_up.size() == 1);
        REQUIRE(rc_up.size() == 1);
        check_child_pair(ic_up[0]->sa, rc_up[0]->sa);
        // §2.9: the responder narrowed 10/8 to its 10.1/16; 0/0 to its two prefixes' IPv4 one.
        CHECK(ic_up[0]->sa.ts_local == std::vector{ts("10.1.0.0/16")});
        CHECK(ic_up[0]->sa.ts_remote == std::vector{ts("192.0.2.0/24")});
        CHECK(!ic_up[0]->sa.transport_mode);
    }
}

TEST_CASE("ike sa: nonces and key sizes on the wire", "[ike][sa]") {
    Side i(spoke()), r(hub());
    Link l{i, r};
    l.take(i, i.sa.start(0ms));
    l.run();
    REQUIRE(i.sa.state() == SaState::established);
    const Message init_req = decode(i.sent[0]).message;
    const Message init_resp = decode(r.sent[0]).message;
    const Bytes ni = init_req.get<NoncePayload>(PayloadType::nonce)->data;
    const Bytes nr = init_resp.get<NoncePayload>(PayloadType::nonce)->data;
    CHECK(ni.size() == 32);
    CHECK(nr.size() == 32);
    CHECK(ni != nr);
    const ChildSa& ci = all<ChildSaUp>(i.events)[0]->sa;
    CHECK(ci.suite.encr == encr_id::aes_gcm_16);
    CHECK(ci.suite.key_bits == 256);
    CHECK(ci.encr_out.size() == 36);  // 32-byte key + 4-byte salt
}

TEST_CASE("ike sa: lost and duplicated messages, retransmission with back-off", "[ike][sa]") {
    Side i(spoke()), r(hub());
    Link l{i, r};
    int lost = 0;
    // Lose the first IKE_SA_INIT request and the first IKE_AUTH response.
    l.lose = [&](bool to_r, const Bytes& b) {
        const Header h = decode(b).message.header;
        if (lost == 0 && to_r && h.exchange == ExchangeType::ike_sa_init) return ++lost, true;
        if (lost == 1 && !to_r && h.exchange == ExchangeType::ike_auth) return ++lost, true;
        return false;
    };
    l.take(i, i.sa.start(0ms));
    l.run();
    CHECK(r.sa.state() == SaState::idle);
    REQUIRE(i.sa.next_timeout() == 500ms);
    l.tick(499ms);
    CHECK(i.sent.size() == 1);
    l.tick(500ms);  // retransmitted; this time IKE_SA_INIT goes through, IKE_AUTH is sent, its answer lost
    CHECK(i.sent.size() == 3);
    CHECK(i.sent[1] == i.sent[0]);
    CHECK(r.sa.state() == SaState::established);
    CHECK(i.sa.state() == SaState::auth_sent);
    REQUIRE(i.sa.next_timeout() == 1000ms);  // a new request starts from the base timeout
    l.tick(1000ms);
    // The responder answers the retransmitted IKE_AUTH from its cache, once.
    CHECK(r.sent.size() == 3);
    CHECK(r.sent[2] == r.sent[1]);
    CHECK(all<ChildSaUp>(r.events).size() == 1);
    CHECK(i.sa.state() == SaState::established);
    CHECK(all<ChildSaUp>(i.events).size() == 1);
    check_child_pair(all<ChildSaUp>(i.events)[0]->sa, all<ChildSaUp>(r.events)[0]->sa);

    // A late duplicate of the IKE_SA_INIT request: answered from the cache? No:
    // its message ID is outside the window now and it is dropped.
    const unsigned before = r.sa.dropped();
    l.take(i, Output{{i.sent[0]}, {}});
    l.run();
    CHECK(r.sa.dropped() == before + 1);
    // A late IKE_AUTH response duplicate at the initiator: no request outstanding.
    l.take(r, Output{{r.sent[1]}, {}});
    l.run();
    CHECK(i.sa.dropped() == 1);
    CHECK(i.sa.last_drop() == "response to no outstanding request");
}

TEST_CASE("ike sa: no answer at all, back-off then failure", "[ike][sa]") {
    PeerConfig c = spoke();
    c.retransmit_base = 500ms;
    c.retransmit_tries = 5;
    IkeSa i(c);
    Output o = i.start(0ms);
    REQUIRE(o.send.size() == 1);
    std::vector<Millis> sends{0ms};
    for (Millis t = 0ms; t <= 20000ms; t += 50ms) {
        Output x = i.timeout(t);
        if (!x.send.empty()) {
            CHECK(x.send[0] == o.send[0]);
            sends.push_back(t);
        }
        if (!x.events.empty()) {
            const auto* f = std::get_if<IkeSaFailed>(&x.events[0]);
            REQUIRE(f);
            CHECK(f->reason == "no response after 5 transmissions");
            CHECK(t == 15500ms);
        }
    }
    CHECK(sends == std::vector<Millis>{0ms, 500ms, 1500ms, 3500ms, 7500ms});
    CHECK(i.state() == SaState::failed);
    CHECK(!i.next_timeout());
}

TEST_CASE("ike sa: INVALID_KE_PAYLOAD makes the initiator retry with the responder's group", "[ike][sa]") {
    PeerConfig ic = spoke();
    ic.ike_proposals = {ike_gcm({dh_id::ecp256, dh_id::curve25519})};  // ECP-256 preferred ...
    ic.ke_group = dh_id::curve25519;                                   // ... but KE guessed for 31
    Side i(ic), r(hub());
    Link l{i, r};
    l.take(i, i.sa.start(0ms));
    l.run();
    REQUIRE(r.sent.size() >= 1);
    const Message refusal = decode(r.sent[0]).message;
    REQUIRE(refusal.find_notify(notify::invalid_ke_payload));
    CHECK(refusal.find_notify(notify::invalid_ke_payload)->data == Bytes{0, 19});
    CHECK(refusal.header.spi_r == 0);
    CHECK(i.sa.state() == SaState::established);
    CHECK(all<IkeSaUp>(i.events)[0]->dh_group == dh_id::ecp256);
    CHECK(decode(i.sent[1]).message.get<KePayload>(PayloadType::ke)->group == dh_id::ecp256);
}

TEST_CASE("ike sa: failures as both roles", "[ike][sa]") {
    SECTION("wrong pre-shared key: AUTHENTICATION_FAILED") {
        PeerConfig ic = spoke();
        ic.psk = secret("a different key");
        Side i(ic), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        CHECK(r.sa.state() == SaState::failed);
        CHECK(i.sa.state() == SaState::failed);
        REQUIRE(all<IkeSaFailed>(r.events).size() == 1);
        CHECK(all<IkeSaFailed>(r.events)[0]->notify == notify::authentication_failed);
        REQUIRE(all<IkeSaFailed>(i.events).size() == 1);
        CHECK(all<IkeSaFailed>(i.events)[0]->notify == notify::authentication_failed);
        CHECK(all<ChildSaUp>(r.events).empty());
    }
    SECTION("unexpected identity") {
        PeerConfig rc = hub();
        rc.remote_id = IdPayload::text(IdType::fqdn, "spoke2.example.net");
        Side i(spoke()), r(rc);
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        CHECK(all<IkeSaFailed>(r.events)[0]->reason == "initiator's identity is not the configured one");
        CHECK(all<IkeSaFailed>(i.events)[0]->notify == notify::authentication_failed);
    }
    SECTION("the responder is not who the initiator wants") {
        // The responder authenticates the initiator, then presents its own
        // identity, which the initiator refuses.
        PeerConfig ic = spoke();
        ic.remote_id = IdPayload::address(*IpAddr::parse("198.51.100.2"));
        Side i(ic), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        CHECK(i.sa.state() == SaState::failed);
        CHECK(all<IkeSaFailed>(i.events)[0]->reason == "responder's identity is not the configured one");
    }
    SECTION("no common IKE proposal: NO_PROPOSAL_CHOSEN") {
        PeerConfig ic = spoke();
        ic.ike_proposals = {ike_cbc(integ_id::hmac_sha2_512_256, prf_id::hmac_sha2_512, dh_id::ecp384, 256)};
        ic.ke_group = dh_id::ecp384;
        Side i(ic), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        CHECK(r.sa.state() == SaState::idle);  // nothing kept for a refused IKE_SA_INIT
        CHECK(i.sa.state() == SaState::failed);
        CHECK(all<IkeSaFailed>(i.events)[0]->notify == notify::no_proposal_chosen);
    }
    SECTION("disjoint traffic selectors: IKE SA up, Child SA refused with TS_UNACCEPTABLE") {
        PeerConfig ic = spoke();
        ic.ts_local = {ts("172.16.0.0/12")};
        Side i(ic), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        CHECK(i.sa.state() == SaState::established);
        CHECK(r.sa.state() == SaState::established);
        REQUIRE(all<ChildSaRefused>(i.events).size() == 1);
        CHECK(all<ChildSaRefused>(i.events)[0]->notify == notify::ts_unacceptable);
        CHECK(all<ChildSaRefused>(r.events)[0]->notify == notify::ts_unacceptable);
        CHECK(all<ChildSaUp>(i.events).empty());
    }
    SECTION("no common ESP proposal: NO_PROPOSAL_CHOSEN for the Child SA") {
        PeerConfig ic = spoke();
        ic.esp_proposals = {esp_gcm(128)};
        Side i(ic), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        CHECK(i.sa.state() == SaState::established);
        CHECK(all<ChildSaRefused>(i.events)[0]->notify == notify::no_proposal_chosen);
    }
}

TEST_CASE("ike sa: transport mode for an L2TP softwire (RFC 5619 §3.5.4.1)", "[ike][sa]") {
    PeerConfig ic = spoke(), rc = hub();
    ic.transport_mode = rc.transport_mode = true;
    ic.ts_local = {ts("203.0.113.5/32", 17, 1701, 1701)};
    ic.ts_remote = {ts("198.51.100.1/32", 17, 0, 65535)};
    rc.ts_local = {ts("198.51.100.1/32", 17, 1701, 1701)};
    rc.ts_remote = {ts("0.0.0.0/0", 17, 1701, 1701)};
    Side i(ic), r(rc);
    Link l{i, r};
    l.take(i, i.sa.start(0ms));
    l.run();
    auto ci = all<ChildSaUp>(i.events), cr = all<ChildSaUp>(r.events);
    REQUIRE(ci.size() == 1);
    REQUIRE(cr.size() == 1);
    CHECK(ci[0]->sa.transport_mode);
    check_child_pair(ci[0]->sa, cr[0]->sa);
    CHECK(ci[0]->sa.ts_remote == std::vector{ts("198.51.100.1/32", 17, 1701, 1701)});

    // The responder not configured for transport answers tunnel mode.
    rc.transport_mode = false;
    Side i2(ic), r2(rc);
    Link l2{i2, r2};
    l2.take(i2, i2.sa.start(0ms));
    l2.run();
    REQUIRE(all<ChildSaUp>(i2.events).size() == 1);
    CHECK(!all<ChildSaUp>(i2.events)[0]->sa.transport_mode);
}

TEST_CASE("ike sa: NAT detection (§2.23)", "[ike][sa]") {
    const Endpoint spoke_addr{*IpAddr::parse("10.0.0.2"), 500};
    const Endpoint spoke_public{*IpAddr::parse("203.0.113.9"), 4500};
    const Endpoint hub_addr{*IpAddr::parse("198.51.100.1"), 500};
    struct Case {
        const char* what;
        Endpoint hub_sees_spoke;
        bool nat;
    };
    for (const Case& c : {Case{"no NAT", spoke_addr, false}, Case{"spoke behind a NAT", spoke_public, true}}) {
        INFO(c.what);
        PeerConfig ic = spoke(), rc = hub();
        ic.local_endpoint = spoke_addr;
        ic.remote_endpoint = hub_addr;
        rc.local_endpoint = hub_addr;
        rc.remote_endpoint = c.hub_sees_spoke;
        Side i(ic), r(rc);
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        // Both IKE_SA_INIT messages carry the two hashes.
        for (const Bytes* b : {&i.sent[0], &r.sent[0]}) {
            const Message m = decode(*b).message;
            REQUIRE(m.find_notify(notify::nat_detection_source_ip));
            REQUIRE(m.find_notify(notify::nat_detection_destination_ip));
        }
        const Message req = decode(i.sent[0]).message;
        CHECK(req.find_notify(notify::nat_detection_source_ip)->data ==
              nat_detection_hash(req.header.spi_i, 0, spoke_addr.addr, 500));
        auto iu = all<IkeSaUp>(i.events), ru = all<IkeSaUp>(r.events);
        REQUIRE(iu.size() == 1);
        REQUIRE(ru.size() == 1);
        CHECK(iu[0]->local_behind_nat == c.nat);
        CHECK(!iu[0]->peer_behind_nat);
        CHECK(ru[0]->peer_behind_nat == c.nat);
        CHECK(!ru[0]->local_behind_nat);
        auto ci = all<ChildSaUp>(i.events), cr = all<ChildSaUp>(r.events);
        REQUIRE(ci.size() == 1);
        REQUIRE(cr.size() == 1);
        CHECK(ci[0]->sa.udp_encapsulation == c.nat);
        check_child_pair(ci[0]->sa, cr[0]->sa);
    }
}

TEST_CASE("ike sa: INVALID_MAJOR_VERSION to an IKEv3 request, nothing kept", "[ike][sa]") {
    IkeSa r(hub());
    Side i(spoke());
    Bytes req = i.sa.start(0ms).send[0];
    req[17] = 0x30;
    Output o = r.receive(req, 0ms);
    REQUIRE(o.send.size() == 1);
    const DecodedMessage d = decode(o.send[0]);
    REQUIRE(d.ok());
    CHECK(d.message.header.version == kVersion);
    CHECK(d.message.header.is_response());
    REQUIRE(d.message.find_notify(notify::invalid_major_version));
    CHECK(r.state() == SaState::idle);
}

TEST_CASE("ike sa: IKE_AUTH in RFC 7383 fragments, with a lost fragment", "[ike][sa]") {
    for (int lose_which : {-1, 0, 1}) {  // none, the request's fragment 2, the response's fragment 1
        INFO("lose " << lose_which);
        PeerConfig ic = spoke(), rc = hub();
        ic.fragment_mtu = rc.fragment_mtu = 160;
        // Enough selectors to need several fragments each way.
        for (int k = 0; k < 6; ++k) {
            ic.ts_local.push_back(ts(fmt::format("2001:db8:{}::/48", k + 1).c_str()));
            rc.ts_remote.push_back(ts(fmt::format("2001:db8:{}::/48", k + 1).c_str()));
        }
        Side i(ic), r(rc);
        Link l{i, r};
        int seen = 0;
        l.lose = [&](bool to_r, const Bytes& b) {
            const Message m = decode(b).message;
            if (m.header.exchange != ExchangeType::ike_auth || m.header.next_payload != PayloadType::skf) return false;
            const auto& f = std::get<SkfPayload>(m.payloads.back().body);
            if (lose_which == 0 && to_r && f.number == 2 && seen++ == 0) return true;
            if (lose_which == 1 && !to_r && f.number == 1 && seen++ == 0) return true;
            return false;
        };
        l.take(i, i.sa.start(0ms));
        l.run();
        if (lose_which >= 0) {
            CHECK(i.sa.state() == SaState::auth_sent);
            l.tick(*i.sa.next_timeout());
        }
        REQUIRE(i.sa.state() == SaState::established);
        REQUIRE(r.sa.state() == SaState::established);
        size_t i_frags = 0, r_frags = 0;
        for (const Bytes& b : i.sent) {
            CHECK(b.size() <= 160 + (decode(b).message.header.exchange == ExchangeType::ike_sa_init ? 1000 : 0));
            i_frags += decode(b).message.header.next_payload == PayloadType::skf;
        }
        for (const Bytes& b : r.sent) r_frags += decode(b).message.header.next_payload == PayloadType::skf;
        CHECK(i_frags >= 3);
        CHECK(r_frags >= 2);
        auto ci = all<ChildSaUp>(i.events), cr = all<ChildSaUp>(r.events);
        REQUIRE(ci.size() == 1);
        REQUIRE(cr.size() == 1);
        check_child_pair(ci[0]->sa, cr[0]->sa);
        CHECK(ci[0]->sa.ts_local.size() == 7);
    }
    // Without the configured MTU nothing is fragmented.
    Side i(spoke()), r(hub());
    Link l{i, r};
    l.take(i, i.sa.start(0ms));
    l.run();
    for (const Bytes& b : i.sent) CHECK(decode(b).message.header.next_payload != PayloadType::skf);
}

TEST_CASE("ike sa: a tampered IKE_AUTH is dropped, the retransmission succeeds", "[ike][sa]") {
    Side i(spoke()), r(hub());
    Link l{i, r};
    bool tampered = false;
    l.lose = [&](bool to_r, const Bytes& b) {
        if (!tampered && to_r && decode(b).message.header.exchange == ExchangeType::ike_auth) {
            tampered = true;
            Bytes t = b;
            t[t.size() - 20] ^= 0x40;
            l.take(r, r.sa.receive(t, l.now));
            return true;
        }
        return false;
    };
    l.take(i, i.sa.start(0ms));
    l.run();
    CHECK(r.sa.dropped() == 1);
    CHECK(r.sa.state() == SaState::init_done);
    CHECK(r.sa.last_drop().find("integrity check value mismatch") != std::string::npos);
    l.tick(*i.sa.next_timeout());
    CHECK(i.sa.state() == SaState::established);
    CHECK(r.sa.state() == SaState::established);
}

TEST_CASE("ike sa: INFORMATIONAL liveness check and delete, from either side", "[ike][sa]") {
    for (bool initiator_deletes : {true, false}) {
        INFO((initiator_deletes ? "initiator" : "responder") << " sends the requests");
        Side i(spoke()), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        REQUIRE(i.sa.state() == SaState::established);
        Side& a = initiator_deletes ? i : r;
        Side& b = initiator_deletes ? r : i;
        l.take(a, a.sa.liveness_check(10ms));
        CHECK(a.sa.liveness_check(10ms).send.empty());  // window 1: one request at a time
        l.run();
        CHECK(all<PeerAlive>(a.events).size() == 1);
        // Message IDs: the initiator's requests continue at 2, the responder's start at 0.
        CHECK(decode(a.sent.back()).message.header.message_id == (initiator_deletes ? 2u : 0u));
        l.take(a, a.sa.delete_sa(20ms));
        l.run();
        CHECK(a.sa.state() == SaState::deleted);
        CHECK(b.sa.state() == SaState::deleted);
        REQUIRE(all<IkeSaDeleted>(a.events).size() == 1);
        CHECK(!all<IkeSaDeleted>(a.events)[0]->by_peer);
        CHECK(all<IkeSaDeleted>(b.events)[0]->by_peer);
        CHECK(i.sa.dropped() == 0);
        CHECK(r.sa.dropped() == 0);
    }
}

TEST_CASE("ike sa: proposal choice and selector narrowing helpers", "[ike][sa]") {
    const std::vector<Proposal> ours = {ike_cbc(integ_id::hmac_sha2_256_128, prf_id::hmac_sha2_256, 14),
                                        ike_gcm({dh_id::ecp256, dh_id::curve25519})};
    Proposal theirs = ike_gcm({dh_id::curve25519, dh_id::ecp256});
    theirs.number = 3;
    const auto c = choose_proposal({theirs}, ours);
    REQUIRE(c);
    CHECK(c->number == 3);
    REQUIRE(c->transforms.size() == 3);
    CHECK(c->transforms[2].id == dh_id::curve25519);  // their preference among ours
    CHECK(chosen_from_offer(*c, {theirs}));
    Proposal two = *c;
    two.transforms.push_back(Transform::make(TransformType::dh, dh_id::ecp256));
    CHECK(!chosen_from_offer(two, {theirs}));
    // Key length is part of the transform.
    Proposal g128 = ike_gcm({dh_id::ecp256});
    g128.transforms[0] = Transform::make(TransformType::encr, encr_id::aes_gcm_16, 128);
    CHECK(!choose_proposal({g128}, ours));
    // A type we do not have (INTEG with GCM) makes a proposal unacceptable.
    Proposal extra = ike_gcm({dh_id::ecp256});
    extra.transforms.push_back(Transform::make(TransformType::integ, integ_id::hmac_sha2_256_128));
    CHECK(!choose_proposal({extra}, ours));

    CHECK(intersect(ts("10.0.0.0/8"), ts("10.1.0.0/16")) == ts("10.1.0.0/16"));
    CHECK(!intersect(ts("10.0.0.0/8"), ts("11.0.0.0/8")));
    CHECK(!intersect(ts("10.0.0.0/8"), ts("2001:db8::/32")));
    CHECK(intersect(ts("0.0.0.0/0", 0, 1000, 2000), ts("0.0.0.0/0", 17, 1500, 3000)) ==
          ts("0.0.0.0/0", 17, 1500, 2000));
    CHECK(!intersect(ts("0.0.0.0/0", 6), ts("0.0.0.0/0", 17)));
    CHECK(narrow({ts("0.0.0.0/0")}, {ts("192.0.2.0/24"), ts("2001:db8::/32"), ts("198.51.100.0/24")}) ==
          std::vector{ts("192.0.2.0/24"), ts("198.51.100.0/24")});
}

TEST_CASE("ike sa: CREATE_CHILD_SA rekeys the Child SA from either side; Delete(ESP) removes the old one", "[ike][sa]") {
    for (bool initiator_rekeys : {true, false}) {
        INFO((initiator_rekeys ? "the IKE initiator rekeys" : "the IKE responder rekeys"));
        Side i(spoke()), r(hub());
        Link l{i, r};
        l.take(i, i.sa.start(0ms));
        l.run();
        REQUIRE(i.sa.state() == SaState::established);
        const ChildSa first_i = all<ChildSaUp>(i.events).at(0)->sa;
        const ChildSa first_r = all<ChildSaUp>(r.events).at(0)->sa;
        Side& a = initiator_rekeys ? i : r;  // the side that rekeys
        Side& b = initiator_rekeys ? r : i;
        const ChildSa& old_a = initiator_rekeys ? first_i : first_r;
        const ChildSa& old_b = initiator_rekeys ? first_r : first_i;
        l.take(a, a.sa.rekey_child(old_a.spi_in, 1s));
        CHECK(a.sa.busy());
        CHECK(a.sa.rekey_child(old_a.spi_in, 1s).send.empty());  // window 1
        l.run();
        CHECK_FALSE(a.sa.busy());
        auto ua = all<ChildSaUp>(a.events), ub = all<ChildSaUp>(b.events);
        REQUIRE(ua.size() == 2);
        REQUIRE(ub.size() == 2);
        check_child_pair(ua[1]->sa, ub[1]->sa);
        CHECK(ua[1]->sa.replaces_spi_in == old_a.spi_in);
        CHECK(ub[1]->sa.replaces_spi_in == old_b.spi_in);
        CHECK(ua[1]->sa.spi_in != old_a.spi_in);
        CHECK(ua[1]->sa.encr_in != old_a.encr_in);  // fresh nonces, fresh keys
        CHECK(a.sa.dropped() == 0);
        CHECK(b.sa.dropped() == 0);
        // The rekeying side deletes the old Child SA.
        l.take(a, a.sa.delete_child(old_a.spi_in, 2s));
        l.run();
        auto da = all<ChildSaDeleted>(a.events), db = all<ChildSaDeleted>(b.events);
        REQUIRE(da.size() == 1);
        REQUIRE(db.size() == 1);
        CHECK(da[0]->spi_in == old_a.spi_in);
        CHECK_FALSE(da[0]->by_peer);
        CHECK(db[0]->spi_in == old_b.spi_in);
        CHECK(db[0]->by_peer);
        // Rekeying what is gone does nothing; the new one can be rekeyed again.
        CHECK(a.sa.rekey_child(old_a.spi_in, 3s).send.empty());
        l.take(a, a.sa.rekey_child(ua[1]->sa.spi_in, 3s));
        l.run();
        CHECK(all<ChildSaUp>(a.events).size() == 3);
        CHECK(i.sa.state() == SaState::established);
        CHECK(r.sa.state() == SaState::established);
    }
}

TEST_CASE("ike sa: a Child SA deleted by the peer is gone: no rekey of it", "[ike][sa]") {
    Side i(spoke()), r(hub());
    Link l{i, r};
    l.take(i, i.sa.start(0ms));
    l.run();
    REQUIRE(r.sa.state() == SaState::established);
    const ChildSa first = all<ChildSaUp>(i.events).at(0)->sa;
    // The responder forgets the Child SA (the peer deleted it): the rekey gets CHILD_SA_NOT_FOUND.
    l.take(r, r.sa.delete_child(all<ChildSaUp>(r.events).at(0)->sa.spi_in, 1s));
    l.run();
    l.take(i, i.sa.rekey_child(first.spi_in, 2s));  // i deleted it too: nothing to rekey
    CHECK(i.sent.size() == 3);
    CHECK(all<ChildSaDeleted>(i.events).size() == 1);
    CHECK(i.sa.state() == SaState::established);
}

// ---------------------------------------------------------------- rekeying the IKE SA, PFS, collisions

namespace {

// One side with all its IKE SAs: the first, and those rekeys made
// (take_successor / take_redundant), found by the SPIs of a datagram.
struct Node {
    std::vector<std::unique_ptr<IkeSa>> sas;
    std::vector<Event> events;
    explicit Node(PeerConfig c) { sas.push_back(std::make_unique<IkeSa>(std::move(c))); }
    IkeSa& first() { return *sas.front(); }
    IkeSa& newest() { return *sas.back(); }
    IkeSa* find(const Bytes& b) {
        Header h;
        decode_header(b, h);
        for (auto& sa : sas)
            if (sa->spi_i() == h.spi_i && (h.spi_r == 0 || sa->spi_r() == 0 || sa->spi_r() == h.spi_r)) return sa.get();
        return sas.front()->state() == SaState::idle ? sas.front().get() : nullptr;
    }
};

struct Net {
    Node& i;
    Node& r;
    Millis now{0};
    std::deque<std::pair<bool, Bytes>> wire;  // (to responder?, datagram)
    unsigned undeliverable = 0;

    void take(Node& from, IkeSa& sa, Output o) {
        for (Event& e : o.events) {
            if (std::holds_alternative<IkeSaRekeyed>(e)) {
                if (auto red = sa.take_redundant()) from.sas.push_back(std::move(red));
                if (auto next = sa.take_successor()) from.sas.push_back(std::move(next));
            }
            from.events.push_back(std::move(e));
        }
        for (Bytes& b : o.send) wire.emplace_back(&from == &i, std::move(b));
    }
    void deliver(size_t n) {  // the n-th datagram on the wire, out of order
        auto [to_r, b] = wire[n];
        wire.erase(wire.begin() + long(n));
        Node& dst = to_r ? r : i;
        if (IkeSa* sa = dst.find(b)) take(dst, *sa, sa->receive(b, now));
        else ++undeliverable;
    }
    void run() {
        while (!wire.empty()) deliver(0);
    }
};

template <class T> std::vector<const T*> events_of(const Node& n) { return all<T>(n.events); }

PeerConfig with_pfs(PeerConfig c, std::vector<uint16_t> groups) {
    c.pfs_groups = std::move(groups);
    return c;
}

// The Child SA a side sends on after its rekeys: the last ChildSaUp that is
// not redundant and not made redundant afterwards.
const ChildSa* sending_child(const Node& n) {
    std::vector<uint32_t> lost;
    for (auto* x : events_of<ChildSaRedundant>(n)) lost.push_back(x->spi_in);
    const ChildSa* out = nullptr;
    for (auto* u : events_of<ChildSaUp>(n))
        if (!u->sa.redundant && std::find(lost.begin(), lost.end(), u->sa.spi_in) == lost.end()) out = &u->sa;
    return out;
}

// Replaces the KE data of a CREATE_CHILD_SA message (sealed by `sender`) with
// `dh`'s, so the test knows g^ir; returns the message and its Nonce and the KE data it replaced.
struct Swapped {
    Bytes wire, nonce, replaced_ke, spi;
};
Swapped swap_ke(const Bytes& b, const IkeSa& sender, const DhKey& dh) {
    const DecodedMessage d = decode(b);
    REQUIRE(d.ok());
    Opened o = unprotect(outbound_keys(sender.keys(), sender.suite(), sender.initiator()), b, d.message);
    REQUIRE(o.ok());
    Swapped s;
    for (Payload& p : o.payloads) {
        if (auto* ke = std::get_if<KePayload>(&p.body)) {
            s.replaced_ke = ke->data;
            ke->data = dh.public_value();
        }
        if (auto* n = std::get_if<NoncePayload>(&p.body)) s.nonce = n->data;
        if (auto* sa = std::get_if<SaPayload>(&p.body)) s.spi = sa->proposals.at(0).spi;
    }
    s.wire = protect(outbound_keys(sender.keys(), sender.suite(), sender.initiator()), d.message.header, o.payloads);
    return s;
}

uint64_t u64(const Bytes& b) {
    uint64_t v = 0;
    for (uint8_t x : b) v = v << 8 | x;
    return v;
}

}  // namespace

TEST_CASE("ike sa: the IKE SA is rekeyed in place from either side; Child SAs move; the old one is deleted",
          "[ike][sa][rekey]") {
    for (bool initiator_rekeys : {true, false}) {
        INFO((initiator_rekeys ? "the IKE initiator rekeys" : "the IKE responder rekeys"));
        Node i(spoke()), r(hub());
        Net n{i, r};
        n.take(i, i.first(), i.first().start(0ms));
        n.run();
        REQUIRE(i.first().state() == SaState::established);
        const ChildSa child_i = events_of<ChildSaUp>(i).at(0)->sa;
        const ChildSa child_r = events_of<ChildSaUp>(r).at(0)->sa;
        const uint64_t old_spi_i = i.first().spi_i(), old_spi_r = i.first().spi_r();
        Node& a = initiator_rekeys ? i : r;  // the side that rekeys
        Node& b = initiator_rekeys ? r : i;
        n.take(a, a.first(), a.first().rekey_ike(1s));
        CHECK(a.first().busy());
        CHECK(a.first().rekey_ike(1s).send.empty());  // window 1
        n.run();
        REQUIRE(a.sas.size() == 2);
        REQUIRE(b.sas.size() == 2);
        auto ra = events_of<IkeSaRekeyed>(a), rb = events_of<IkeSaRekeyed>(b);
        REQUIRE(ra.size() == 1);
        REQUIRE(rb.size() == 1);
        CHECK(ra[0]->we_initiated);
        CHECK_FALSE(rb[0]->we_initiated);
        CHECK_FALSE(ra[0]->collision);
        CHECK(ra[0]->old_spi_i == old_spi_i);
        CHECK(ra[0]->old_spi_r == old_spi_r);
        // New SPIs, the same on both sides; the rekey's initiator is the new IKE SA's initiator.
        IkeSa& na = a.newest();
        IkeSa& nb = b.newest();
        CHECK(na.spi_i() == nb.spi_i());
        CHECK(na.spi_r() == nb.spi_r());
        CHECK(na.spi_i() != old_spi_i);
        CHECK(na.spi_r() != old_spi_r);
        CHECK(ra[0]->up.spi_i == na.spi_i());
        CHECK(na.initiator());
        CHECK_FALSE(nb.initiator());
        CHECK(na.state() == SaState::established);
        CHECK(nb.state() == SaState::established);
        // The old IKE SA: deleted by the rekey's initiator.
        CHECK(a.first().state() == SaState::deleted);
        CHECK(b.first().state() == SaState::deleted);
        CHECK(events_of<IkeSaDeleted>(b).size() == 1);
        CHECK(events_of<ChildSaDeleted>(a).empty());  // the Child SAs were not touched
        CHECK(events_of<ChildSaDeleted>(b).empty());
        // Keys: the same both ways, not the old ones.
        CHECK(na.keys().sk_d == nb.keys().sk_d);
        CHECK(na.keys().sk_ei == nb.keys().sk_ei);
        CHECK(na.keys().sk_d != a.first().keys().sk_d);
        // The Child SAs live in the new IKE SA: a rekey of one goes over it,
        // message IDs restart at 0, and the old child's SPI is what it replaces.
        const ChildSa& old_a = initiator_rekeys ? child_i : child_r;
        n.take(a, na, na.rekey_child(old_a.spi_in, 2s));
        REQUIRE(n.wire.size() == 1);
        Header h;
        decode_header(n.wire.front().second, h);
        CHECK(h.spi_i == na.spi_i());
        CHECK(h.spi_r == na.spi_r());
        CHECK(h.message_id == 0);
        CHECK(h.from_initiator());
        n.run();
        auto ua = events_of<ChildSaUp>(a);
        REQUIRE(ua.size() == 2);
        CHECK(ua[1]->sa.replaces_spi_in == old_a.spi_in);
        CHECK(na.dropped() == 0);
        CHECK(nb.dropped() == 0);
        CHECK(n.undeliverable == 0);
        // The peer's requests on the new IKE SA (an INFORMATIONAL) start at 0 too.
        n.take(b, nb, nb.liveness_check(3s));
        decode_header(n.wire.front().second, h);
        CHECK(h.message_id == 0);
        CHECK_FALSE(h.from_initiator());
        n.run();
        CHECK(events_of<PeerAlive>(b).size() == 1);
    }
}

TEST_CASE("ike sa: the rekeyed IKE SA's keys follow RFC 7296 §2.18 in both roles", "[ike][sa][rekey]") {
    // The test's own D-H key replaces the KE of the side not checked, so the
    // test knows g^ir and computes the expected keys with the crypto layer.
    for (bool check_responder : {true, false}) {
        INFO((check_responder ? "the rekey's responder" : "the rekey's initiator"));
        Node i(spoke()), r(hub());
        Net n{i, r};
        n.take(i, i.first(), i.first().start(0ms));
        n.run();
        REQUIRE(i.first().state() == SaState::established);
        const IkeKeys old = i.first().keys();
        const PrfAlg old_prf = i.first().prf();
        const std::unique_ptr<DhKey> test_dh = DhKey::generate(dh_id::curve25519);
        n.take(i, i.first(), i.first().rekey_ike(1s));
        REQUIRE(n.wire.size() == 1);
        const Bytes request = n.wire.front().second;
        n.wire.clear();
        Swapped req = swap_ke(request, i.first(), *test_dh);  // also reads i's KE, Ni and SPI
        n.take(r, r.first(), r.first().receive(check_responder ? req.wire : request, 1s));
        REQUIRE(n.wire.size() == 1);
        const Bytes response = n.wire.front().second;
        n.wire.clear();
        Swapped resp = swap_ke(response, r.first(), *test_dh);
        n.take(i, i.first(), i.first().receive(check_responder ? response : resp.wire, 1s));
        const std::optional<Secret> g_ir = test_dh->shared_secret(check_responder ? resp.replaced_ke : req.replaced_ke);
        REQUIRE(g_ir);
        IkeSa& checked = check_responder ? r.newest() : i.newest();
        REQUIRE(events_of<IkeSaRekeyed>(check_responder ? r : i).size() == 1);
        const Secret seed = skeyseed_rekey(old_prf, old.sk_d, *g_ir, req.nonce, resp.nonce);
        const IkeKeys want = derive_ike_keys(checked.prf(), checked.suite(), seed, req.nonce, resp.nonce, u64(req.spi),
                                             u64(resp.spi));
        CHECK(checked.spi_i() == u64(req.spi));
        CHECK(checked.spi_r() == u64(resp.spi));
        CHECK(checked.keys().sk_d == want.sk_d);
        CHECK(checked.keys().sk_ai == want.sk_ai);
        CHECK(checked.keys().sk_ar == want.sk_ar);
        CHECK(checked.keys().sk_ei == want.sk_ei);
        CHECK(checked.keys().sk_er == want.sk_er);
        CHECK(checked.keys().sk_pi == want.sk_pi);
        CHECK(checked.keys().sk_pr == want.sk_pr);
        CHECK(checked.keys().sk_d != old.sk_d);
    }
}

TEST_CASE("ike sa: PFS in CREATE_CHILD_SA from either side; a PFS mismatch is refused; INVALID_KE_PAYLOAD retry",
          "[ike][sa][rekey]") {
    for (bool initiator_rekeys : {true, false}) {
        INFO((initiator_rekeys ? "the IKE initiator rekeys" : "the IKE responder rekeys"));
        SECTION("both want PFS (ECP-256): a KE each way, KEYMAT with g^ir") {
            Node i(with_pfs(spoke(), {dh_id::ecp256})), r(with_pfs(hub(), {dh_id::ecp256}));
            Net n{i, r};
            n.take(i, i.first(), i.first().start(0ms));
            n.run();
            Node& a = initiator_rekeys ? i : r;
            Node& b = initiator_rekeys ? r : i;
            const ChildSa old_a = events_of<ChildSaUp>(a).at(0)->sa;
            CHECK_FALSE(old_a.pfs);  // the IKE_AUTH Child SA has the IKE SA's keys (§1.3.1)
            n.take(a, a.first(), a.first().rekey_child(old_a.spi_in, 1s));
            n.run();
            auto ua = events_of<ChildSaUp>(a), ub = events_of<ChildSaUp>(b);
            REQUIRE(ua.size() == 2);
            REQUIRE(ub.size() == 2);
            CHECK(ua[1]->sa.pfs);
            CHECK(ub[1]->sa.pfs);
            check_child_pair(ua[1]->sa, ub[1]->sa);
            CHECK(ua[1]->sa.replaces_spi_in == old_a.spi_in);
        }
        SECTION("only one side wants PFS: NO_PROPOSAL_CHOSEN, the old Child SA stays") {
            for (bool rekeyer_has_pfs : {true, false}) {
                PeerConfig ci = spoke(), cr = hub();
                ((initiator_rekeys == rekeyer_has_pfs) ? ci : cr).pfs_groups = {dh_id::curve25519};
                Node i(ci), r(cr);
                Net n{i, r};
                n.take(i, i.first(), i.first().start(0ms));
                n.run();
                REQUIRE(events_of<ChildSaUp>(i).size() == 1);  // IKE_AUTH has no D-H either way
                Node& a = initiator_rekeys ? i : r;
                Node& b = initiator_rekeys ? r : i;
                n.take(a, a.first(), a.first().rekey_child(events_of<ChildSaUp>(a).at(0)->sa.spi_in, 1s));
                n.run();
                REQUIRE(events_of<ChildSaRefused>(a).size() == 1);
                CHECK(events_of<ChildSaRefused>(a)[0]->notify == notify::no_proposal_chosen);
                CHECK_FALSE(events_of<ChildSaRefused>(a)[0]->answered);
                REQUIRE(events_of<ChildSaRefused>(b).size() == 1);
                CHECK(events_of<ChildSaRefused>(b)[0]->answered);
                CHECK(events_of<ChildSaUp>(a).size() == 1);
                CHECK(events_of<ChildSaUp>(b).size() == 1);
                CHECK(a.first().state() == SaState::established);
            }
        }
        SECTION("the responder wants another group: INVALID_KE_PAYLOAD, then the retry succeeds") {
            PeerConfig ci = spoke(), cr = hub();
            (initiator_rekeys ? ci : cr).pfs_groups = {dh_id::ecp256, dh_id::curve25519};
            (initiator_rekeys ? cr : ci).pfs_groups = {dh_id::curve25519};
            Node i(ci), r(cr);
            Net n{i, r};
            n.take(i, i.first(), i.first().start(0ms));
            n.run();
            Node& a = initiator_rekeys ? i : r;
            Node& b = initiator_rekeys ? r : i;
            n.take(a, a.first(), a.first().rekey_child(events_of<ChildSaUp>(a).at(0)->sa.spi_in, 1s));
            n.run();
            REQUIRE(events_of<ChildSaRefused>(b).size() == 1);
            CHECK(events_of<ChildSaRefused>(b)[0]->notify == notify::invalid_ke_payload);
            CHECK(events_of<ChildSaRefused>(a).empty());
            auto ua = events_of<ChildSaUp>(a), ub = events_of<ChildSaUp>(b);
            REQUIRE(ua.size() == 2);
            REQUIRE(ub.size() == 2);
            CHECK(ua[1]->sa.pfs);
            check_child_pair(ua[1]->sa, ub[1]->sa);
        }
    }
}

TEST_CASE("ike sa: simultaneous Child SA rekeys (§2.8.1) leave one new Child SA on both sides", "[ike][sa][rekey]") {
    // in_order: each request reaches the peer before its response (both find
    // the collision at the response); otherwise i's exchange completes first
    // and i finds it at r's request.
    for (bool in_order : {true, false}) {
        for (int attempt = 0; attempt < 4; ++attempt) {  // random nonces: either side may win
            INFO((in_order ? "both requests cross" : "i's rekey completes before r's request arrives"));
            Node i(spoke()), r(hub());
            Net n{i, r};
            n.take(i, i.first(), i.first().start(0ms));
            n.run();
            const ChildSa ci = events_of<ChildSaUp>(i).at(0)->sa, cr = events_of<ChildSaUp>(r).at(0)->sa;
            n.take(i, i.first(), i.first().rekey_child(ci.spi_in, 1s));
            n.take(r, r.first(), r.first().rekey_child(cr.spi_in, 1s));
            REQUIRE(n.wire.size() == 2);
            if (in_order) {
                n.run();
            } else {
                n.deliver(0);  // i's request to r; r's response is queued last
                n.deliver(1);  // r's response to i: i's rekey is done
                n.run();       // r's request to i, then i's response to r
            }
            // Both exchanges completed on both sides.
            REQUIRE(events_of<ChildSaUp>(i).size() == 3);
            REQUIRE(events_of<ChildSaUp>(r).size() == 3);
            const ChildSa* si = sending_child(i);
            const ChildSa* sr = sending_child(r);
            REQUIRE(si);
            REQUIRE(sr);
            CHECK(si->spi_in == sr->spi_out);  // the same survivor on both sides
            CHECK(si->spi_out == sr->spi_in);
            CHECK(si->encr_in == sr->encr_out);
            const uint32_t survivor = si->spi_in;  // si points into i's events, which grow below
            // Exactly one side deletes the redundant SA it created.
            unsigned deleters = 0;
            for (Node* x : {&i, &r}) {
                std::vector<uint32_t> to_delete;
                for (auto* u : events_of<ChildSaUp>(*x))
                    if (u->sa.delete_redundant) to_delete.push_back(u->sa.spi_in);
                for (auto* red : events_of<ChildSaRedundant>(*x)) to_delete.push_back(red->spi_in);
                for (uint32_t spi : to_delete) {
                    ++deleters;
                    n.take(*x, x->first(), x->first().delete_child(spi, 2s));
                }
                n.run();
            }
            CHECK(deleters == 1);
            CHECK(events_of<ChildSaDeleted>(i).size() == 1);
            CHECK(events_of<ChildSaDeleted>(r).size() == 1);
            // The survivor is still there: it can be rekeyed.
            n.take(i, i.first(), i.first().rekey_child(survivor, 3s));
            n.run();
            CHECK(events_of<ChildSaUp>(i).size() == 4);
            CHECK(i.first().dropped() == 0);
            CHECK(r.first().dropped() == 0);
        }
    }
}

TEST_CASE("ike sa: simultaneous IKE SA rekeys (§2.8.2) leave one new IKE SA on both sides", "[ike][sa][rekey]") {
    for (int attempt = 0; attempt < 4; ++attempt) {
        Node i(spoke()), r(hub());
        Net n{i, r};
        n.take(i, i.first(), i.first().start(0ms));
        n.run();
        n.take(i, i.first(), i.first().rekey_ike(1s));
        n.take(r, r.first(), r.first().rekey_ike(1s));
        n.run();
        auto ri = events_of<IkeSaRekeyed>(i), rr = events_of<IkeSaRekeyed>(r);
        REQUIRE(ri.size() == 1);
        REQUIRE(rr.size() == 1);
        CHECK(ri[0]->collision);
        CHECK(rr[0]->collision);
        CHECK(ri[0]->up.spi_i == rr[0]->up.spi_i);  // the same survivor
        CHECK(ri[0]->up.spi_r == rr[0]->up.spi_r);
        CHECK(ri[0]->we_initiated != rr[0]->we_initiated);
        // Each side: old, redundant (deleted), survivor (established).
        for (Node* x : {&i, &r}) {
            REQUIRE(x->sas.size() == 3);
            CHECK(x->first().state() == SaState::deleted);
            CHECK(x->sas[1]->state() == SaState::deleted);
            CHECK(x->newest().state() == SaState::established);
            CHECK(x->newest().spi_i() == ri[0]->up.spi_i);
        }
        CHECK(n.undeliverable == 0);
        // The survivor carries the Child SA.
        const ChildSa c = events_of<ChildSaUp>(i).at(0)->sa;
        n.take(i, i.newest(), i.newest().rekey_child(c.spi_in, 2s));
        n.run();
        CHECK(events_of<ChildSaUp>(i).size() == 2);
        CHECK(events_of<ChildSaUp>(r).size() == 2);
    }
}

TEST_CASE("ike sa: a rekey of what is being deleted gets TEMPORARY_FAILURE (§2.25)", "[ike][sa][rekey]") {
    Node i(spoke()), r(hub());
    Net n{i, r};
    n.take(i, i.first(), i.first().start(0ms));
    n.run();
    const ChildSa ci = events_of<ChildSaUp>(i).at(0)->sa, cr = events_of<ChildSaUp>(r).at(0)->sa;
    // Child SA: i deletes it while r rekeys it.
    n.take(i, i.first(), i.first().delete_child(ci.spi_in, 1s));
    n.take(r, r.first(), r.first().rekey_child(cr.spi_in, 1s));
    n.run();
    REQUIRE(events_of<ChildSaRefused>(r).size() == 1);
    CHECK(events_of<ChildSaRefused>(r)[0]->notify == notify::temporary_failure);
    CHECK(events_of<ChildSaDeleted>(r).size() == 1);
    CHECK(events_of<ChildSaUp>(r).size() == 1);
    // IKE SA: r rekeys it while i deletes it; i answers TEMPORARY_FAILURE, r answers the Delete.
    n.take(i, i.first(), i.first().delete_sa(2s));
    n.take(r, r.first(), r.first().rekey_ike(2s));
    n.run();
    CHECK(i.first().state() == SaState::deleted);
    CHECK(r.first().state() == SaState::deleted);
    CHECK(events_of<IkeSaRekeyed>(r).empty());
    CHECK(r.sas.size() == 1);
    CHECK(i.first().last_drop().find("refused the peer's IKE SA rekey") != std::string::npos);
}

TEST_CASE("ike sa: a request's selectors are narrowed against the TS-list within its limits", "[ike][sa]") {
    auto ts = [](const char* p) { return TrafficSelector::from_prefix(*Prefix::parse(p)); };
    PeerConfig cfg;
    cfg.initiator = false;
    cfg.ts_local = {ts("10.2.0.0/16"), ts("10.4.0.0/16")};
    cfg.ts_remote = {ts("10.1.0.0/16")};
    cfg.max_selector_pairs = 2;
    // TSi (the peer's side) against ts_remote, TSr against ts_local.
    NarrowedSelectors n = narrow_request({ts("10.0.0.0/8")}, {ts("10.2.5.0/24"), ts("10.4.0.0/16")}, cfg);
    CHECK(n.refusal.empty());
    CHECK(n.tsi == std::vector<TrafficSelector>{ts("10.1.0.0/16")});
    CHECK(n.tsr == std::vector<TrafficSelector>{ts("10.2.5.0/24"), ts("10.4.0.0/16")});
    // No intersection.
    n = narrow_request({ts("10.9.0.0/16")}, {ts("10.2.0.0/16")}, cfg);
    CHECK(n.refusal == "the peer's TSi do not intersect ours");
    CHECK((n.tsi.empty() && n.tsr.empty()));
    // More pairs than policies.
    n = narrow_request({ts("10.1.1.0/24"), ts("10.1.2.0/24")}, {ts("10.2.0.0/16"), ts("10.4.0.0/16")}, cfg);
    CHECK(n.refusal == "narrowed to 2 x 2 selector pairs, more than the 2 policies configured");
    // More than 32 proposed on a side.
    std::vector<TrafficSelector> many;
    for (int i = 0; i < 33; ++i) many.push_back(ts(fmt::format("10.1.{}.0/24", i).c_str()));
    n = narrow_request(many, {ts("10.2.0.0/16")}, cfg);
    CHECK(n.refusal == "the peer proposed 33 TSi and 1 TSr selectors (at most 32 each side)");
    many.pop_back();
    cfg.max_selector_pairs = 0;
    n = narrow_request(many, {ts("10.2.0.0/16")}, cfg);
    CHECK(n.refusal.empty());
    CHECK(n.tsi.size() == 32);
    CHECK(selector_limit_problem(many, {ts("10.2.0.0/16")}, cfg).empty());
    many.push_back(ts("10.1.200.0/24"));
    CHECK(selector_limit_problem(many, {ts("10.2.0.0/16")}, cfg) == "33 TSi and 1 TSr selectors (at most 32 each side)");
}
