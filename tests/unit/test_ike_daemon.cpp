// The IKE daemon with two instances wired back to back in-process: datagrams
// are handed over by the test, and each side's IPsec API hook is the real
// validator (apply_ipsec_change) over its own installed set.
#include "slowpath/ike/daemon.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <deque>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

using namespace rampart;
using namespace rampart::ike;
using namespace std::chrono_literals;

namespace {

IkeConnectionConfig conn(const char* local, const char* remote, const char* lts, const char* rts, std::string psk) {
    IkeConnectionConfig c;
    c.local = *IpAddr::parse(local);
    c.remote = *IpAddr::parse(remote);
    c.psk.assign(psk.begin(), psk.end());
    c.child = IkeConnectionConfig::Child{{*Prefix::parse(lts)}, {*Prefix::parse(rts)}};
    return c;
}

struct Box {
    RunningConfig config;
    IpsecInstalled installed;
    std::vector<std::string> apply_errors;
    std::unique_ptr<IkeDaemon> d;
    std::deque<Datagram>* to_peer = nullptr;
    unsigned keepalives = 0;

    explicit Box(size_t cookie_threshold = 8) {
        DaemonHooks h;
        h.apply = [this](const IpsecChange& ch) -> std::optional<std::string> {
            auto err = apply_ipsec_change(config, installed, "ike", ch);
            if (err) apply_errors.push_back(*err);
            return err;
        };
        h.routes = [this](const OwnedRouteChange& ch) { return apply_owned_route_change(config, "ike", ch); };
        h.send = [this](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> b) {
            to_peer->push_back(Datagram{r, l, Bytes(b.begin(), b.end())});
        };
        h.keepalive = [this](const Endpoint&, const Endpoint&) { ++keepalives; };
        d = std::make_unique<IkeDaemon>(h);
        IkeSettings settings;
        settings.cookie_threshold = uint32_t(cookie_threshold);
        d->configure_settings(settings);
    }
    size_t installed_sas_of(const std::string& conn) const { return d->installed_sas(conn).size(); }
    const IpsecPolicyConfig* policy(uint32_t seq) const {
        auto v = installed.entries.policies.find("");
        if (v == installed.entries.policies.end()) return nullptr;
        auto e = v->second.find(seq);
        return e == v->second.end() ? nullptr : &e->second;
    }
};

struct Lab {
    Box a, b;  // a: 192.0.2.1 (10.1/16), b: 192.0.2.2 (10.2/16)
    std::deque<Datagram> to_a, to_b;
    Millis now{1000};
    std::function<bool(const Datagram&)> lose = [](const Datagram&) { return false; };
    // a behind a port-translating NAT: b sees a's 500 as 40500 and 4500 as 44500.
    bool nat_a = false;
    static uint16_t nat_out(uint16_t p) { return p == 500 ? 40500 : p == 4500 ? 44500 : p; }
    static uint16_t nat_in(uint16_t p) { return p == 40500 ? 500 : p == 44500 ? 4500 : p; }
    explicit Lab(size_t b_cookie_threshold = 8) : b(b_cookie_threshold) {
        a.to_peer = &to_b;
        b.to_peer = &to_a;
    }
    void run() {
        for (int guard = 0; guard < 1000 && (!to_a.empty() || !to_b.empty()); ++guard) {
            while (!to_b.empty()) {
                Datagram d = std::move(to_b.front());
                to_b.pop_front();
                if (nat_a) d.remote.port = nat_out(d.remote.port);
                if (!lose(d)) b.d->receive(d, now);
            }
            while (!to_a.empty()) {
                Datagram d = std::move(to_a.front());
                to_a.pop_front();
                if (nat_a) d.local.port = nat_in(d.local.port);
                if (!lose(d)) a.d->receive(d, now);
            }
        }
    }
    void advance(Millis by, Millis step = 100ms) {
        for (Millis t{0}; t < by; t += step) {
            now += step;
            a.d->tick(now);
            b.d->tick(now);
            run();
        }
    }
};

std::map<std::string, IkeConnectionConfig> one(const std::string& name, IkeConnectionConfig c) { return {{name, c}}; }

// Each side's one inbound and one outbound SA; a's outbound SPI must be b's
// inbound SPI and the reverse.
struct SaPair {
    const IpsecSaConfig *a_out = nullptr, *a_in = nullptr, *b_out = nullptr, *b_in = nullptr;
};
SaPair paired_sas(const Lab& lab) {
    SaPair p;
    for (auto& [n, sa] : lab.a.installed.entries.sas)
        (sa.direction == IpsecSaConfig::Direction::outbound ? p.a_out : p.a_in) = &sa;
    for (auto& [n, sa] : lab.b.installed.entries.sas)
        (sa.direction == IpsecSaConfig::Direction::outbound ? p.b_out : p.b_in) = &sa;
    REQUIRE((p.a_out && p.a_in && p.b_out && p.b_in));
    CHECK(p.a_out->spi == p.b_in->spi);
    CHECK(p.b_out->spi == p.a_in->spi);
    return p;
}

}  // namespace

TEST_CASE("IKE daemons establish a Child SA and install it on both sides", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "shared secret text");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "shared secret text");
    ca.start_action = IkeConnectionConfig::StartAction::start;
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    lab.run();
    CHECK(lab.a.d->state("to-b") == "established");
    CHECK(lab.b.d->state("to-a") == "established");
    REQUIRE(lab.a.installed.entries.sas.size() == 2);
    REQUIRE(lab.b.installed.entries.sas.size() == 2);
    // a's outbound SPI is b's inbound SPI and the reverse; same keys.
    const auto [a_out, a_in, b_out, b_in] = paired_sas(lab);
    CHECK(a_out->cipher == "aes-gcm-128");
    CHECK(a_out->cipher_key == b_in->cipher_key);
    CHECK(a_out->cipher_key.size() == 20);
    CHECK(a_out->local == *IpAddr::parse("192.0.2.1"));
    CHECK(a_out->life_seconds.soft == 3600);
    const IpsecPolicyConfig* pa = lab.a.policy(1000);
    REQUIRE(pa);
    CHECK(pa->local == *Prefix::parse("10.1.0.0/16"));
    CHECK(pa->remote == *Prefix::parse("10.2.0.0/16"));
    CHECK(lab.a.installed.entries.sas.count(pa->outbound_sa));
    CHECK(lab.a.apply_errors.empty());
    CHECK(lab.b.apply_errors.empty());
    std::string show = lab.a.d->show_sa(true, lab.now);
    CHECK(show.find("to-b #1: established initiator, 192.0.2.1[500] <-> 192.0.2.2[500]") != std::string::npos);
    CHECK(show.find("child: tunnel 10.1.0.0/16 <-> 10.2.0.0/16 esp aes-gcm-128") != std::string::npos);
    CHECK(show.find("secret") == std::string::npos);
    const std::string summary = lab.a.d->show_summary();
    CHECK(summary.rfind("connections 1, with a Child SA up 1\nike sas 1, established 1\nchild sas 1\n", 0) == 0);
    CHECK(summary.find("established 1, failed 0") != std::string::npos);

    SECTION("terminate deletes both sides' SAs") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        CHECK(lab.a.installed.entries.sas.empty());
        CHECK(lab.b.installed.entries.sas.empty());
        CHECK(lab.a.policy(1000) == nullptr);
        CHECK(lab.b.d->state("to-a") == "down");
        CHECK(lab.b.d->counters().deleted_by_peer == 1);
    }
    SECTION("liveness checks; a dead peer ends the SA and start-action start restarts") {
        auto dpd = ca;
        dpd.dpd_seconds = 10;
        lab.a.d->configure(one("to-b", dpd), lab.now);  // changed: torn down and started again
        lab.run();
        CHECK(lab.a.d->state("to-b") == "established");
        lab.advance(11s);
        CHECK(lab.a.d->counters().dpd_sent >= 1);
        CHECK(lab.a.d->state("to-b") == "established");
        lab.lose = [](const Datagram&) { return true; };
        lab.advance(60s, 500ms);
        CHECK(lab.a.d->counters().dpd_failed == 1);
        CHECK(lab.a.installed.entries.sas.empty());
        lab.lose = [](const Datagram&) { return false; };
        lab.advance(30s, 500ms);  // a restart every 5 s after each failed attempt
        CHECK(lab.a.d->state("to-b") == "established");
        CHECK(lab.a.installed.entries.sas.size() == 2);
    }
    SECTION("rekey at the Child SA lifetime: CREATE_CHILD_SA in the same IKE SA, hitless") {
        auto before = lab.a.installed.entries.sas;
        const std::string old_in = lab.a.policy(1000)->inbound_sa;
        lab.a.d->on_lifetime(IpsecLifetimeEvent{lab.a.policy(1000)->outbound_sa, false, false}, lab.now);
        // Right after the exchange: the policy sends through the new SA and still accepts the old inbound one.
        lab.run();
        CHECK(lab.a.policy(1000)->inbound_sa != old_in);
        CHECK(lab.a.policy(1000)->older_inbound_sas == std::vector<std::string>{old_in});
        CHECK(lab.a.installed.entries.sas.count(old_in));
        lab.advance(1s);  // the old Child SA is deleted
        CHECK(lab.a.d->counters().rekeys == 1);
        CHECK(lab.a.installed.entries.sas.size() == 2);
        CHECK(lab.b.installed.entries.sas.size() == 2);
        for (auto& [n, sa] : lab.a.installed.entries.sas) CHECK(before.count(n) == 0);  // all new
        CHECK(lab.a.policy(1000)->older_inbound_sas.empty());
        CHECK(lab.b.policy(1000)->older_inbound_sas.empty());
        CHECK(lab.a.apply_errors.empty());
        CHECK(lab.b.apply_errors.empty());
        CHECK(lab.a.d->show_sa(false, lab.now).find("to-b #1: established") != std::string::npos);  // same IKE SA
        // The responder's timer rekeys too (lifetime 60 s).
        auto shorter = cb;
        shorter.child_lifetime = 60;
        lab.b.d->configure(one("to-a", shorter), lab.now);  // changed: a fresh IKE SA from a
        lab.run();
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now).has_value());
        lab.run();
        REQUIRE(lab.b.d->state("to-a") == "established");
        auto b_before = lab.b.installed.entries.sas;
        lab.advance(61s, 500ms);
        CHECK(lab.b.d->counters().rekeys == 1);
        CHECK(lab.b.installed.entries.sas.size() == 2);
        CHECK(lab.a.installed.entries.sas.size() == 2);
        for (auto& [n, sa] : lab.b.installed.entries.sas) CHECK(b_before.count(n) == 0);
        CHECK(lab.a.apply_errors.empty());
        CHECK(lab.b.apply_errors.empty());
    }
}

TEST_CASE("IKE daemon: a wrong PSK fails authentication and is counted", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "one secret");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "another secret");
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.b.d->counters().auth_failed == 1);
    CHECK(lab.a.d->counters().auth_failed == 1);
    CHECK(lab.a.installed.entries.sas.empty());
    CHECK(lab.b.installed.entries.sas.empty());
    CHECK(lab.a.d->state("to-b") == "down");
    CHECK(lab.a.d->show_peers().find("to-b") != std::string::npos);
}

TEST_CASE("IKE daemon: a trap policy's acquire starts negotiation", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("2001:db8::1", "2001:db8::2", "2001:db8:1::/48", "2001:db8:2::/48", "psk");
    auto cb = conn("2001:db8::2", "2001:db8::1", "2001:db8:2::/48", "2001:db8:1::/48", "psk");
    ca.start_action = IkeConnectionConfig::StartAction::trap;
    ca.child->seq = 7;
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    lab.run();
    const IpsecPolicyConfig* trap = lab.a.policy(7);
    REQUIRE(trap);
    CHECK(trap->outbound_sa.empty());
    CHECK(lab.a.d->state("to-b") == "down");
    lab.a.d->on_acquire(IpsecAcquire{"", 7, *IpAddr::parse("2001:db8:1::5"), *IpAddr::parse("2001:db8:2::5"), 58},
                        lab.now);
    lab.run();
    CHECK(lab.a.d->state("to-b") == "established");
    REQUIRE(lab.a.policy(7));
    CHECK_FALSE(lab.a.policy(7)->outbound_sa.empty());
    // Terminated: the trap comes back.
    CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
    lab.run();
    REQUIRE(lab.a.policy(7));
    CHECK(lab.a.policy(7)->outbound_sa.empty());
    CHECK(lab.a.installed.entries.sas.empty());
    // Removed from the configuration: nothing of it stays.
    lab.a.d->configure({}, lab.now);
    CHECK(lab.a.policy(7) == nullptr);
}

TEST_CASE("IKE daemon: junk datagrams are counted, never crash", "[ike][daemon]") {
    Lab lab;
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    lab.b.d->configure(one("to-a", cb), lab.now);
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        Bytes junk(rng() % 200);
        for (auto& x : junk) x = uint8_t(rng());
        if (junk.size() > 28 && i % 2) {  // some look like an IKE_SA_INIT request
            std::fill(junk.begin() + 8, junk.begin() + 16, 0);
            junk[17] = 0x20;
            junk[18] = 34;
            junk[19] = 0x08;
        }
        lab.b.d->receive(Datagram{{*IpAddr::parse("192.0.2.2"), 500}, {*IpAddr::parse("192.0.2.1"), 500}, junk},
                         lab.now);
        lab.to_a.clear();
    }
    auto& k = lab.b.d->counters();
    CHECK(k.received == 2000);
    CHECK(k.malformed + k.no_sa + k.no_connection + k.dropped_by_sa > 0);
    CHECK(lab.b.installed.entries.sas.empty());
}

TEST_CASE("IKE daemon: repeated authentication failures lock the connection out for a while", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "one secret");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "another secret");
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    for (int i = 0; i < 3; ++i) {
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        lab.advance(1s);
    }
    CHECK(lab.a.d->counters().auth_failed == 3);
    CHECK(lab.a.d->counters().lockouts == 1);
    CHECK(lab.b.d->counters().lockouts == 1);
    auto err = lab.a.d->initiate("to-b", lab.now);
    REQUIRE(err);
    CHECK(err->find("locked out") != std::string::npos);
    CHECK(lab.a.d->show_peers().find("locked-out") != std::string::npos);
    lab.advance(61s, 1s);
    CHECK(lab.a.d->show_peers().find("locked-out") == std::string::npos);
    // The right key: it works again.
    cb.psk = ca.psk;
    lab.b.d->configure(one("to-a", cb), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.a.d->state("to-b") == "established");
}

namespace {

// "NAME #N: ..." lines and their "spi i X r Y" of show ike sa, for the live IKE SAs.
std::vector<std::string> ike_spis(const std::string& show) {
    std::vector<std::string> out;
    for (size_t at = show.find("  spi i "); at != std::string::npos; at = show.find("  spi i ", at + 1))
        out.push_back(show.substr(at + 8, 35));
    return out;
}

// The installed SAs with their keys, to see that a rekey of the IKE SA leaves them alone.
std::map<std::string, std::vector<uint8_t>> sa_keys(const Box& b) {
    std::map<std::string, std::vector<uint8_t>> out;
    for (auto& [n, sa] : b.installed.entries.sas) out[n] = sa.cipher_key;
    return out;
}

void up(Lab& lab, IkeConnectionConfig& ca, IkeConnectionConfig& cb) {
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    REQUIRE_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    REQUIRE(lab.a.d->state("to-b") == "established");
    REQUIRE(lab.b.d->state("to-a") == "established");
}

}  // namespace

TEST_CASE("IKE daemon: at the IKE SA lifetime the IKE SA is rekeyed in place; Child SAs untouched", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    ca.ike_lifetime = cb.ike_lifetime = 60;
    up(lab, ca, cb);
    const auto before_a = sa_keys(lab.a), before_b = sa_keys(lab.b);
    const auto spis_before = ike_spis(lab.a.d->show_sa(false, lab.now));
    REQUIRE(spis_before.size() == 1);
    lab.advance(61s, 500ms);
    CHECK(lab.a.d->counters().ike_rekeys == 1);
    CHECK(lab.b.d->counters().ike_rekeys == 1);
    CHECK(lab.a.d->counters().ike_reestablished == 0);
    CHECK(lab.b.d->counters().deleted_by_peer == 0);  // the old IKE SA's Delete is part of the rekey
    const std::string show_a = lab.a.d->show_sa(false, lab.now), show_b = lab.b.d->show_sa(false, lab.now);
    CHECK(show_a.find("to-b #2: established initiator") != std::string::npos);
    CHECK(show_a.find("to-b #1:") == std::string::npos);  // the old IKE SA is gone
    CHECK(show_b.find("to-a #2: established responder") != std::string::npos);
    const auto spis_a = ike_spis(show_a), spis_b = ike_spis(show_b);
    REQUIRE(spis_a.size() == 1);
    CHECK(spis_a == spis_b);  // the same new SPIs on both sides
    CHECK(spis_a != spis_before);
    // The Child SAs were not touched: the same SAs with the same keys, listed under the new IKE SA.
    CHECK(sa_keys(lab.a) == before_a);
    CHECK(sa_keys(lab.b) == before_b);
    CHECK(show_a.find("child: tunnel 10.1.0.0/16 <-> 10.2.0.0/16") != std::string::npos);
    // Messages after the rekey use the new IKE SA: a Child SA rekey from the responder side.
    CHECK_FALSE(lab.b.d->rekey("to-a", true, lab.now));
    lab.advance(2s);
    CHECK(lab.b.d->counters().rekeys == 1);
    for (auto& [n, k] : sa_keys(lab.b)) CHECK(before_b.count(n) == 0);
    CHECK(lab.a.installed.entries.sas.size() == 2);
    CHECK(lab.b.installed.entries.sas.size() == 2);
    CHECK(lab.a.d->counters().no_sa == 0);
    CHECK(lab.b.d->counters().no_sa == 0);
    CHECK(lab.a.apply_errors.empty());
    CHECK(lab.b.apply_errors.empty());
    // And `ike rekey` from the other side (now the responder of the new IKE SA).
    CHECK_FALSE(lab.b.d->rekey("to-a", false, lab.now));
    lab.advance(2s);
    CHECK(lab.b.d->counters().ike_rekeys == 2);
    CHECK(lab.b.d->show_sa(false, lab.now).find("to-a #3: established initiator") != std::string::npos);
    CHECK(ike_spis(lab.a.d->show_sa(false, lab.now)) == ike_spis(lab.b.d->show_sa(false, lab.now)));
    CHECK(lab.a.d->rekey("nope", false, lab.now) == "unknown ike connection nope");
}

TEST_CASE("IKE daemon: PFS for Child SA rekeys; a peer without PFS refuses and the IKE SA is re-established",
          "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    ca.pfs_group = cb.pfs_group = 31;
    std::string why;
    const auto pc = peer_config(ca, true, 500, std::nullopt, IkeSettings{}, why);
    REQUIRE(pc);
    CHECK(pc->pfs_groups == std::vector<uint16_t>{31});
    up(lab, ca, cb);
    for (bool from_a : {true, false}) {
        auto before = sa_keys(lab.a);
        CHECK_FALSE((from_a ? lab.a : lab.b).d->rekey(from_a ? "to-b" : "to-a", true, lab.now));
        lab.advance(2s);
        CHECK(lab.a.installed.entries.sas.size() == 2);
        CHECK(lab.b.installed.entries.sas.size() == 2);
        for (auto& [n, k] : sa_keys(lab.a)) CHECK(before.count(n) == 0);
        CHECK(lab.a.d->counters().child_refused == 0);
        CHECK(lab.b.d->counters().child_refused == 0);
    }
    // b drops PFS: a's next rekey is refused (NO_PROPOSAL_CHOSEN); a falls back to a new IKE SA.
    cb.pfs_group = 0;
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.run();
    REQUIRE_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    REQUIRE(lab.a.d->state("to-b") == "established");
    CHECK_FALSE(lab.a.d->rekey("to-b", true, lab.now));
    lab.advance(2s);
    CHECK(lab.a.d->counters().child_refused == 1);
    CHECK(lab.b.d->counters().child_refused == 1);
    CHECK(lab.a.d->counters().ike_reestablished == 1);
    CHECK(lab.a.d->state("to-b") == "established");
    CHECK(lab.a.installed.entries.sas.size() == 2);
    CHECK(lab.a.apply_errors.empty());
    CHECK(lab.b.apply_errors.empty());
}

TEST_CASE("IKE daemon: rekey collisions leave one new SA with the same SPIs on both sides", "[ike][daemon]") {
    for (int attempt = 0; attempt < 3; ++attempt) {  // random nonces decide the winner
        Lab lab;
        auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
        auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
        up(lab, ca, cb);
        // Child SA: both rekey at the same moment.
        const auto before = sa_keys(lab.a);
        CHECK_FALSE(lab.a.d->rekey("to-b", true, lab.now));
        CHECK_FALSE(lab.b.d->rekey("to-a", true, lab.now));
        lab.advance(2s);
        REQUIRE(lab.a.installed.entries.sas.size() == 2);
        REQUIRE(lab.b.installed.entries.sas.size() == 2);
        const auto [a_out, a_in, b_out, b_in] = paired_sas(lab);
        CHECK(a_out->cipher_key == b_in->cipher_key);
        for (auto& [n, k] : sa_keys(lab.a)) CHECK(before.count(n) == 0);
        CHECK(lab.a.policy(1000)->older_inbound_sas.empty());
        CHECK(lab.b.policy(1000)->older_inbound_sas.empty());
        CHECK(lab.a.d->counters().ike_reestablished + lab.b.d->counters().ike_reestablished == 0);
        // IKE SA: both rekey at the same moment.
        const auto child_keys = sa_keys(lab.a);
        CHECK_FALSE(lab.a.d->rekey("to-b", false, lab.now));
        CHECK_FALSE(lab.b.d->rekey("to-a", false, lab.now));
        lab.advance(2s);
        const auto spis_a = ike_spis(lab.a.d->show_sa(false, lab.now)), spis_b = ike_spis(lab.b.d->show_sa(false, lab.now));
        CHECK(spis_a.size() == 1);
        CHECK(spis_a == spis_b);
        CHECK(sa_keys(lab.a) == child_keys);
        CHECK(lab.a.d->state("to-b") == "established");
        CHECK(lab.b.d->state("to-a") == "established");
        // The survivor works: a Child SA rekey over it.
        CHECK_FALSE(lab.a.d->rekey("to-b", true, lab.now));
        lab.advance(2s);
        CHECK(lab.a.installed.entries.sas.size() == 2);
        for (auto& [n, k] : sa_keys(lab.a)) CHECK(child_keys.count(n) == 0);
        CHECK(lab.a.d->counters().no_sa + lab.b.d->counters().no_sa == 0);
        CHECK(lab.a.apply_errors.empty());
        CHECK(lab.b.apply_errors.empty());
    }
}

TEST_CASE("IKE daemon: an IKE SA rekey that meets the peer's Child SA rekey gets TEMPORARY_FAILURE and is retried",
          "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    up(lab, ca, cb);
    const auto spis_before = ike_spis(lab.a.d->show_sa(false, lab.now));
    // Both requests cross: b refuses a's IKE SA rekey while its own Child SA exchange is outstanding (§2.25).
    CHECK_FALSE(lab.a.d->rekey("to-b", false, lab.now));
    CHECK_FALSE(lab.b.d->rekey("to-a", true, lab.now));
    lab.run();
    CHECK(lab.a.d->counters().ike_rekeys == 0);
    CHECK(lab.b.d->counters().rekeys == 1);
    CHECK(lab.a.d->counters().ike_reestablished == 0);  // no fallback: TEMPORARY_FAILURE means later
    lab.advance(3s);  // the retry after 2 s
    CHECK(lab.a.d->counters().ike_rekeys == 1);
    CHECK(lab.b.d->counters().ike_rekeys == 1);
    const auto spis_a = ike_spis(lab.a.d->show_sa(false, lab.now));
    CHECK(spis_a.size() == 1);
    CHECK(spis_a != spis_before);
    CHECK(spis_a == ike_spis(lab.b.d->show_sa(false, lab.now)));
    CHECK(lab.a.installed.entries.sas.size() == 2);
    CHECK(lab.b.installed.entries.sas.size() == 2);
    CHECK(lab.a.apply_errors.empty());
    CHECK(lab.b.apply_errors.empty());
}

TEST_CASE("IKE daemon: a replaced IKE SA whose Delete is lost closes by itself, counted as no failure", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    up(lab, ca, cb);
    const auto keys = sa_keys(lab.a);
    const std::string old_spi_i = ike_spis(lab.a.d->show_sa(false, lab.now)).at(0).substr(0, 16);
    // Every INFORMATIONAL of the old IKE SA is lost: its Delete never arrives.
    lab.lose = [&](const Datagram& d) {
        return d.data.size() > 19 && d.data[18] == uint8_t(ExchangeType::informational) &&
               fmt::format("{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", d.data[0], d.data[1], d.data[2],
                           d.data[3], d.data[4], d.data[5], d.data[6], d.data[7]) == old_spi_i;
    };
    CHECK_FALSE(lab.a.d->rekey("to-b", false, lab.now));
    lab.run();
    CHECK(lab.a.d->show_sa(false, lab.now).find("rekeyed initiator") != std::string::npos);  // waiting for the Delete
    CHECK(lab.b.d->show_sa(false, lab.now).find(", closing") != std::string::npos);
    lab.advance(35s, 500ms);
    for (Box* x : {&lab.a, &lab.b}) {
        const std::string show = x->d->show_sa(false, lab.now);
        INFO(show);
        CHECK(ike_spis(show).size() == 1);
        CHECK(show.find("closing") == std::string::npos);
        CHECK(x->d->counters().failed == 0);
        CHECK(x->d->counters().ike_rekeys == 1);
    }
    CHECK(sa_keys(lab.a) == keys);  // the Child SA never noticed
    CHECK(ike_spis(lab.a.d->show_sa(false, lab.now)) == ike_spis(lab.b.d->show_sa(false, lab.now)));
    CHECK(lab.a.d->state("to-b") == "established");
    CHECK(lab.b.d->state("to-a") == "established");
}

TEST_CASE("IKE daemon: under load the responder asks for a COOKIE and keeps no state until it comes back", "[ike][daemon]") {
    Lab lab(0);  // b: every IKE_SA_INIT counts as under load
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.b.d->counters().cookies_sent == 1);
    CHECK(lab.b.d->counters().cookies_accepted == 1);
    CHECK(lab.a.d->state("to-b") == "established");
    CHECK(lab.b.d->state("to-a") == "established");
    CHECK(lab.b.installed.entries.sas.size() == 2);
    // A request with a forged cookie gets a fresh COOKIE answer and creates nothing.
    Bytes forged(40, 0x11);
    forged[17] = 0x20;
    forged[18] = 34;
    forged[19] = 0x08;
    lab.b.d->receive(Datagram{{*IpAddr::parse("192.0.2.2"), 500}, {*IpAddr::parse("192.0.2.1"), 500}, forged}, lab.now);
    CHECK(lab.b.d->show_sa(false, lab.now).find("to-a #2") == std::string::npos);
}

// ---------------------------------------------------------------- certificates

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>

namespace {

struct Pki {
    std::string dir;
    int serial = 1;
    Pki() {
        char tmpl[] = "/tmp/rampart-ike-pki.XXXXXX";
        dir = mkdtemp(tmpl);
    }
    ~Pki() { std::filesystem::remove_all(dir); }

    // A key (EC P-256, or RSA 2048) and a certificate for it, written as PEM files NAME.pem / NAME.key.
    // Signed by (ca_key, ca) or self-signed as a CA.
    std::pair<EVP_PKEY*, X509*> issue(const std::string& name, const char* san_ip, EVP_PKEY* ca_key, X509* ca,
                                      bool rsa = false) {
        EVP_PKEY* key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, key);
        X509_NAME* subject = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()),
                                   -1, -1, 0);
        X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : subject);
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, ca ? ca : x, x, nullptr, nullptr, 0);
        auto add = [&](int nid, const char* value) {
            X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
            X509_add_ext(x, e, -1);
            X509_EXTENSION_free(e);
        };
        if (!ca) {
            add(NID_basic_constraints, "critical,CA:TRUE");
            add(NID_key_usage, "critical,keyCertSign,cRLSign");
        } else {
            add(NID_subject_alt_name, (std::string("IP:") + san_ip).c_str());
        }
        X509_sign(x, ca_key ? ca_key : key, EVP_sha256());
        FILE* f = fopen((dir + "/" + name + ".pem").c_str(), "w");
        PEM_write_X509(f, x);
        fclose(f);
        f = fopen((dir + "/" + name + ".key").c_str(), "w");
        PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
        fclose(f);
        return {key, x};
    }
    // A CRL of (ca_key, ca) revoking `revoked` (serial numbers), written as NAME.crl (PEM).
    std::string crl(const std::string& name, EVP_PKEY* ca_key, X509* ca, std::vector<long> revoked) {
        X509_CRL* crl = X509_CRL_new();
        X509_CRL_set_version(crl, 1);
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
        ASN1_TIME* now = ASN1_TIME_adj(nullptr, time(nullptr), 0, -3600);
        ASN1_TIME* next = ASN1_TIME_adj(nullptr, time(nullptr), 1, 0);
        X509_CRL_set1_lastUpdate(crl, now);
        X509_CRL_set1_nextUpdate(crl, next);
        for (long serial : revoked) {
            X509_REVOKED* r = X509_REVOKED_new();
            ASN1_INTEGER* sn = ASN1_INTEGER_new();
            ASN1_INTEGER_set(sn, serial);
            X509_REVOKED_set_serialNumber(r, sn);
            X509_REVOKED_set_revocationDate(r, now);
            X509_CRL_add0_revoked(crl, r);
            ASN1_INTEGER_free(sn);
        }
        X509_CRL_sort(crl);
        X509_CRL_sign(crl, ca_key, EVP_sha256());
        const std::string path = dir + "/" + name + ".crl";
        FILE* f = fopen(path.c_str(), "w");
        PEM_write_X509_CRL(f, crl);
        fclose(f);
        ASN1_TIME_free(now);
        ASN1_TIME_free(next);
        X509_CRL_free(crl);
        return path;
    }
    std::string pem(const std::string& name) const { return dir + "/" + name + ".pem"; }
    std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
};

void use_cert(IkeConnectionConfig& c, const Pki& pki, const std::string& name, const std::string& ca) {
    c.psk.clear();
    c.cert_file = pki.pem(name);
    c.key_file = pki.key(name);
    c.ca_file = pki.pem(ca);
}

}  // namespace

TEST_CASE("IKE daemon: certificate authentication (RFC 7427 signatures, CA chain, ID in subjectAltName)",
          "[ike][daemon][cert]") {
    Pki pki;
    auto [ca_key, ca] = pki.issue("ca", nullptr, nullptr, nullptr);
    auto [other_key, other] = pki.issue("other-ca", nullptr, nullptr, nullptr);
    auto [a_key, a_cert] = pki.issue("a", "192.0.2.1", ca_key, ca);
    auto [b_key, b_cert] = pki.issue("b", "192.0.2.2", ca_key, ca, true);  // RSA on one side
    auto [x_key, x_cert] = pki.issue("a-elsewhere", "192.0.2.99", ca_key, ca);
    auto [y_key, y_cert] = pki.issue("a-other-ca", "192.0.2.1", other_key, other);
    for (EVP_PKEY* k : {ca_key, other_key, a_key, b_key, x_key, y_key}) EVP_PKEY_free(k);
    for (X509* x : {ca, other, a_cert, b_cert, x_cert, y_cert}) X509_free(x);

    auto ca_conn = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "unused");
    auto cb_conn = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "unused");
    use_cert(cb_conn, pki, "b", "ca");
    struct Case {
        const char* what;
        const char* a_cert;
        bool ok;
        const char* reason;  // in the responder's last error
    };
    for (const Case& k : {Case{"same CA, SAN holds the address", "a", true, ""},
                          Case{"SAN holds another address", "a-elsewhere", false, "identity is not in its certificate"},
                          Case{"issued by an unknown CA", "a-other-ca", false, "does not verify"}}) {
        INFO(k.what);
        Lab lab;
        auto ca_c = ca_conn;
        use_cert(ca_c, pki, k.a_cert, "ca");
        lab.b.d->configure(one("to-a", cb_conn), lab.now);
        lab.a.d->configure(one("to-b", ca_c), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK((lab.a.d->state("to-b") == "established") == k.ok);
        CHECK(lab.a.installed.entries.sas.size() == (k.ok ? 2u : 0u));
        CHECK(lab.b.installed.entries.sas.size() == (k.ok ? 2u : 0u));
        if (!k.ok) {
            CHECK(lab.b.d->counters().auth_failed == 1);
            CHECK(lab.a.d->counters().auth_failed == 1);
            CHECK(lab.b.d->show_peers().find(k.reason) != std::string::npos);
        }
    }
    // A missing file: the connection cannot start, and says why.
    Lab lab;
    auto broken = ca_conn;
    use_cert(broken, pki, "a", "ca");
    broken.key_file = pki.dir + "/missing.key";
    lab.a.d->configure(one("to-b", broken), lab.now);
    auto err = lab.a.d->initiate("to-b", lab.now);
    REQUIRE(err);
    CHECK(err->find("cannot read private key") != std::string::npos);
}

TEST_CASE("IKE daemon: CRL checking refuses a revoked certificate; CERTREQ names our CA", "[ike][daemon][cert]") {
    Pki pki;
    auto [ca_key, ca] = pki.issue("ca", nullptr, nullptr, nullptr);             // serial 1
    auto [other_key, other] = pki.issue("other-ca", nullptr, nullptr, nullptr);  // 2
    auto [a_key, a_cert] = pki.issue("a", "192.0.2.1", ca_key, ca);               // 3
    auto [b_key, b_cert] = pki.issue("b", "192.0.2.2", ca_key, ca);               // 4
    const std::string revoking_a = pki.crl("revoking-a", ca_key, ca, {3});
    const std::string revoking_none = pki.crl("revoking-none", ca_key, ca, {});
    const std::string of_other_ca = pki.crl("of-other-ca", other_key, other, {});
    for (EVP_PKEY* k : {ca_key, other_key, a_key, b_key}) EVP_PKEY_free(k);
    for (X509* x : {other, a_cert, b_cert}) X509_free(x);

    auto ca_conn = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "unused");
    auto cb_conn = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "unused");
    use_cert(ca_conn, pki, "a", "ca");
    use_cert(cb_conn, pki, "b", "ca");
    struct Case {
        const std::string* crl;
        bool ok;
        const char* reason;
    };
    for (const Case& k : {Case{&revoking_none, true, ""}, Case{&revoking_a, false, "certificate revoked"},
                          Case{&of_other_ca, false, "unable to get certificate CRL"}}) {
        INFO(*k.crl);
        Lab lab;
        auto cb = cb_conn;
        cb.crl_file = *k.crl;
        bool certreq_in_init = false;
        lab.lose = [&](const Datagram& d) {
            const DecodedMessage m = decode(d.data);
            if (m.ok() && m.message.header.exchange == ExchangeType::ike_sa_init && m.message.header.is_response())
                for (const Payload& p : m.message.payloads)
                    if (auto* c = std::get_if<CertPayload>(&p.body); c && p.type == PayloadType::certreq)
                        certreq_in_init = c->data.size() == 20;  // one CA: one SHA-1 hash
            return false;
        };
        lab.b.d->configure(one("to-a", cb), lab.now);
        lab.a.d->configure(one("to-b", ca_conn), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK(certreq_in_init);
        CHECK((lab.b.d->state("to-a") == "established") == k.ok);
        CHECK(lab.b.installed.entries.sas.size() == (k.ok ? 2u : 0u));
        if (!k.ok) {
            CHECK(lab.b.d->counters().auth_failed == 1);
            CHECK(lab.b.d->show_peers().find(std::string("initiator's certificate does not verify: ") + k.reason) !=
                  std::string::npos);
        }
    }
    CHECK(ca_key_hashes({}).empty());
    X509_free(ca);
    // A CRL file that is not one: the connection says why.
    Lab lab;
    auto cb = cb_conn;
    cb.crl_file = pki.pem("a");
    lab.b.d->configure(one("to-a", cb), lab.now);
    CHECK(lab.b.d->show_peers().find("no PEM or DER CRL") != std::string::npos);
}

TEST_CASE("IKE daemon: DN identities with certificates: the configured DN must be the certificate's subject",
          "[ike][daemon][cert]") {
    Pki pki;
    auto [ca_key, ca] = pki.issue("ca", nullptr, nullptr, nullptr);
    auto [a_key, a_cert] = pki.issue("a", "192.0.2.1", ca_key, ca);
    auto [b_key, b_cert] = pki.issue("b", "192.0.2.2", ca_key, ca);
    for (EVP_PKEY* k : {ca_key, a_key, b_key}) EVP_PKEY_free(k);
    for (X509* x : {ca, a_cert, b_cert}) X509_free(x);
    for (const char* expected : {"CN=a", "CN=b"}) {
        INFO(expected);
        Lab lab;
        auto ca_conn = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "unused");
        auto cb_conn = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "unused");
        use_cert(ca_conn, pki, "a", "ca");
        use_cert(cb_conn, pki, "b", "ca");
        ca_conn.local_id = IkeIdentity{IkeIdentity::Type::dn, "CN=a"};
        cb_conn.remote_id = IkeIdentity{IkeIdentity::Type::dn, expected};
        lab.b.d->configure(one("to-a", cb_conn), lab.now);
        lab.a.d->configure(one("to-b", ca_conn), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        const bool ok = std::string(expected) == "CN=a";
        CHECK((lab.b.d->state("to-a") == "established") == ok);
        if (!ok) CHECK(lab.b.d->show_peers().find("initiator's identity is not the configured one") != std::string::npos);
    }
}

TEST_CASE("IKE daemon: a transport-mode Child SA (box to box) installs as transport SAs", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "192.0.2.1/32", "192.0.2.2/32", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "192.0.2.2/32", "192.0.2.1/32", "psk");
    ca.child->transport = cb.child->transport = true;
    ca.child->esp_proposal = cb.child->esp_proposal = "aes-cbc-256-sha512";
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.a.apply_errors.empty());
    CHECK(lab.b.apply_errors.empty());
    REQUIRE(lab.a.installed.entries.sas.size() == 2);
    for (auto& [n, sa] : lab.a.installed.entries.sas) {
        CHECK(sa.transport);
        CHECK(sa.cipher == "aes-cbc-256");
        CHECK(sa.integrity == "hmac-sha-512");
        CHECK(sa.integrity_key.size() == 64);
    }
    CHECK(lab.a.d->show_sa(false, lab.now).find("child: transport 192.0.2.1/32 <-> 192.0.2.2/32") != std::string::npos);
}

namespace {
std::vector<Prefix> prefixes(std::initializer_list<const char*> texts) {
    std::vector<Prefix> out;
    for (const char* t : texts) out.push_back(*Prefix::parse(t));
    return out;
}
size_t protect_policies(const Box& box) {
    auto v = box.installed.entries.policies.find("");
    if (v == box.installed.entries.policies.end()) return 0;
    return size_t(std::count_if(v->second.begin(), v->second.end(),
                                [](auto& e) { return !e.second.outbound_sa.empty(); }));
}
}  // namespace

TEST_CASE("IKE daemon: a TS-list of several prefixes installs one protect policy per pair", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    ca.child->local_ts = prefixes({"10.1.0.0/16", "10.3.0.0/16"});
    ca.child->remote_ts = prefixes({"10.2.0.0/16", "10.4.0.0/16"});
    cb.child->local_ts = prefixes({"10.2.0.0/16", "10.4.0.0/16"});
    cb.child->remote_ts = prefixes({"10.1.0.0/16", "10.3.0.0/16"});
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    REQUIRE(lab.a.d->state("to-b") == "established");
    CHECK(protect_policies(lab.a) == 4);
    CHECK(protect_policies(lab.b) == 4);
    std::set<std::pair<std::string, std::string>> pairs;
    for (uint32_t seq = 1000; seq < 1004; ++seq) {
        const IpsecPolicyConfig* p = lab.a.policy(seq);
        REQUIRE(p);
        pairs.insert({p->local.str(), p->remote.str()});
        CHECK(p->outbound_sa == lab.a.policy(1000)->outbound_sa);
        CHECK(p->inbound_sa == lab.a.policy(1000)->inbound_sa);
    }
    CHECK(pairs == std::set<std::pair<std::string, std::string>>{{"10.1.0.0/16", "10.2.0.0/16"},
                                                                 {"10.1.0.0/16", "10.4.0.0/16"},
                                                                 {"10.3.0.0/16", "10.2.0.0/16"},
                                                                 {"10.3.0.0/16", "10.4.0.0/16"}});
    CHECK(lab.b.policy(1003));
    CHECK(lab.a.d->show_sa(false, lab.now).find("child: tunnel 10.1.0.0/16,10.3.0.0/16 <-> 10.2.0.0/16,10.4.0.0/16") !=
          std::string::npos);

    SECTION("the responder narrows to its own list, and the initiator installs only what was agreed") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        CHECK(protect_policies(lab.a) == 0);
        CHECK(lab.a.installed.entries.policies.empty());
        cb.child->remote_ts = prefixes({"10.3.0.0/16"});
        lab.b.d->configure(one("to-a", cb), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        REQUIRE(lab.a.d->state("to-b") == "established");
        CHECK(protect_policies(lab.a) == 2);  // 10.3/16 <-> 10.2/16 and 10.4/16
        CHECK(lab.a.policy(1000)->local == *Prefix::parse("10.3.0.0/16"));
        CHECK(lab.a.policy(1002) == nullptr);
        CHECK(protect_policies(lab.b) == 2);
    }
    SECTION("selectors that do not intersect are refused with TS_UNACCEPTABLE, counted on both sides") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        cb.child->remote_ts = prefixes({"10.99.0.0/16"});
        lab.b.d->configure(one("to-a", cb), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK(lab.b.d->counters().ts_unacceptable == 1);
        CHECK(lab.a.d->counters().ts_unacceptable == 1);
        CHECK(lab.a.installed.entries.sas.empty());
        CHECK(lab.b.d->show_peers().find("TS_UNACCEPTABLE: the peer's TSi do not intersect ours") != std::string::npos);
    }
}

TEST_CASE("IKE daemon: more than 32 traffic selectors on a side get TS_UNACCEPTABLE", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.0.0.0/8", "psk");
    ca.child->local_ts.clear();
    for (int i = 0; i < 33; ++i) ca.child->local_ts.push_back(*Prefix::parse(fmt::format("10.1.{}.0/24", i)));
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.b.d->counters().ts_unacceptable == 1);
    CHECK(lab.b.installed.entries.sas.empty());
    CHECK(lab.b.d->show_peers().find("proposed 33 TSi and 1 TSr selectors (at most 32 each side)") != std::string::npos);
    // 32 are fine: the responder narrows to them, one policy each (its block is 1 x 1: too small).
    ca.child->local_ts.pop_back();
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.b.d->counters().ts_unacceptable == 2);
    CHECK(lab.b.d->show_peers().find("32 x 1 selector pairs, more than the 1 policies configured") != std::string::npos);
    cb.child->remote_ts = {};
    for (int i = 0; i < 32; ++i) cb.child->remote_ts.push_back(*Prefix::parse(fmt::format("10.1.{}.0/24", i)));
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.run();  // b's old IKE SA (no Child SA) is deleted
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(protect_policies(lab.a) == 32);
    CHECK(protect_policies(lab.b) == 32);
}

TEST_CASE("IKE daemon: configured identities must match the presented ones", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    ca.local_id = IkeIdentity{IkeIdentity::Type::fqdn, "a.example.com"};
    ca.remote_id = IkeIdentity{IkeIdentity::Type::email, "b@example.com"};
    cb.local_id = IkeIdentity{IkeIdentity::Type::email, "b@example.com"};
    cb.remote_id = IkeIdentity{IkeIdentity::Type::fqdn, "a.example.com"};
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.a.d->state("to-b") == "established");
    CHECK(lab.b.d->state("to-a") == "established");

    SECTION("an initiator presenting another identity fails authentication") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        ca.local_id = IkeIdentity{IkeIdentity::Type::fqdn, "mallory.example.com"};
        lab.a.d->configure(one("to-b", ca), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK(lab.b.d->counters().auth_failed == 1);
        CHECK(lab.a.d->counters().auth_failed == 1);
        CHECK(lab.b.installed.entries.sas.empty());
        CHECK(lab.b.d->show_peers().find("initiator's identity is not the configured one") != std::string::npos);
    }
    SECTION("a responder presenting another identity is refused by the initiator") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        ca.remote_id = IkeIdentity{IkeIdentity::Type::dn, "C=CH, O=Example, CN=b"};
        lab.a.d->configure(one("to-b", ca), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK(lab.a.d->counters().auth_failed == 1);
        CHECK(lab.a.installed.entries.sas.empty());
        CHECK(lab.a.d->show_peers().find("responder's identity is not the configured one") != std::string::npos);
    }
    SECTION("a DN that does not encode keeps the connection down") {
        ca.local_id = IkeIdentity{IkeIdentity::Type::dn, "NOSUCHATTRIBUTE=x"};
        lab.a.d->configure(one("to-b", ca), lab.now);
        auto err = lab.a.d->initiate("to-b", lab.now);
        REQUIRE(err);
        CHECK(err->find("is unusable: dn identity") != std::string::npos);
        CHECK(lab.a.d->show_peers().find("dn identity: unknown attribute or bad value in 'NOSUCHATTRIBUTE=x'") !=
              std::string::npos);
    }
}

TEST_CASE("IKE daemon: the PAD narrows the peer's selectors to what its identity may have", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    ca.local_id = IkeIdentity{IkeIdentity::Type::fqdn, "a.example.com"};
    cb.remote_id = ca.local_id;
    IkeSettings pad;
    pad.pad[*ca.local_id] = prefixes({"10.1.7.0/24"});
    pad.pad[{IkeIdentity::Type::fqdn, "other.example.com"}] = prefixes({"10.1.0.0/16"});
    lab.b.d->configure_settings(pad);
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    REQUIRE(lab.a.d->state("to-b") == "established");
    REQUIRE(lab.a.policy(1000));
    CHECK(lab.a.policy(1000)->local == *Prefix::parse("10.1.7.0/24"));  // a's TSi narrowed by b's PAD
    CHECK(lab.b.policy(1000)->remote == *Prefix::parse("10.1.7.0/24"));
    CHECK(lab.b.d->show_pad().find("fqdn a.example.com") != std::string::npos);

    SECTION("an identity without an entry gets no Child SA") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        pad.pad.erase(*ca.local_id);
        lab.b.d->configure_settings(pad);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK(lab.b.d->counters().ts_unacceptable == 1);
        CHECK(lab.b.d->counters().not_authorized == 1);
        CHECK(lab.b.installed.entries.sas.empty());
        // As initiator, b does not even try.
        auto err = lab.b.d->initiate("to-a", lab.now);
        REQUIRE(err);
        CHECK(*err == "ike connection to-a: the PAD authorizes fqdn a.example.com for none of its remote selectors");
        CHECK(lab.b.d->counters().not_authorized == 2);
    }
}

TEST_CASE("IKE daemon: lockout follows the configured failures, window and duration, and can be cleared",
          "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "wrong secret");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "right secret");
    IkeSettings s;
    s.lockout_failures = 2;
    s.lockout_window = 30;
    s.lockout_duration = 600;
    lab.b.d->configure_settings(s);
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    // One failure, then the window passes: it no longer counts.
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.b.d->show_lockout(lab.now).find("to-a") != std::string::npos);
    lab.advance(31s, 1s);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.b.d->counters().lockouts == 0);
    lab.advance(1s);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.b.d->counters().auth_failed == 3);
    CHECK(lab.b.d->counters().lockouts == 1);
    const std::string shown = lab.b.d->show_lockout(lab.now);
    INFO(shown);
    CHECK(shown.find("lockout after 2 failures within 30 s, for 600 s; 1 lockouts") != std::string::npos);
    CHECK(shown.find("192.0.2.1") != std::string::npos);
    CHECK(shown.find("600s") != std::string::npos);
    // The right key now, but b still refuses a while: its IKE_SA_INIT requests go unanswered.
    ca.psk = cb.psk;
    lab.a.d->configure(one("to-b", ca), lab.now);
    lab.advance(60s, 1s);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.advance(40s, 1s);
    CHECK(lab.a.d->state("to-b") == "down");
    CHECK(lab.b.d->counters().locked_out >= 1);
    // A changed connection keeps the lockout: it belongs to the peer's address.
    cb.dpd_seconds = 30;
    lab.b.d->configure(one("to-a", cb), lab.now);
    CHECK(lab.b.d->show_lockout(lab.now).find("192.0.2.1") != std::string::npos);
    CHECK(lab.b.d->show_peers().find("locked-out") != std::string::npos);
    CHECK(lab.b.d->clear_lockout(*IpAddr::parse("192.0.2.9")) == 0);
    CHECK(lab.b.d->clear_lockout(*IpAddr::parse("192.0.2.1")) == 1);
    CHECK(lab.b.d->counters().lockouts_cleared == 1);
    CHECK(lab.b.d->show_lockout(lab.now).find("192.0.2.1") == std::string::npos);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    CHECK(lab.a.d->state("to-b") == "established");
}

TEST_CASE("IKE daemon: reverse routes follow the Child SA's remote selectors, owned by ike", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    ca.child->local_ts = prefixes({"10.1.0.0/16", "10.3.0.0/16"});
    cb.child->remote_ts = prefixes({"10.1.0.0/16", "10.3.0.0/16"});
    cb.reverse_route = true;
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    REQUIRE(lab.b.d->state("to-a") == "established");
    CHECK(lab.b.d->reverse_routes("to-a") == prefixes({"10.1.0.0/16", "10.3.0.0/16"}));
    REQUIRE(lab.b.config.routes.count(*Prefix::parse("10.3.0.0/16")));
    const RouteNextHop& hop = lab.b.config.routes.at(*Prefix::parse("10.3.0.0/16")).front();
    CHECK(hop.gateway == *IpAddr::parse("192.0.2.1"));
    CHECK(hop.owner == "ike");
    CHECK(render_running_config(lab.b.config).find("10.3.0.0/16") == std::string::npos);  // not configuration
    CHECK(lab.a.config.routes.empty());  // a did not ask for them
    CHECK(lab.b.d->counters().reverse_routes == 2);
    // A route line cannot take them over.
    CHECK(apply_command(lab.b.config, std::get<cmd::Parsed>(cmd::parse("route 10.3.0.0/16 blackhole")), false) ==
          "route 10.3.0.0/16 is installed by ike; it goes when ike removes it");

    SECTION("they go with the Child SA") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        CHECK(lab.b.config.routes.empty());
        CHECK(lab.b.d->reverse_routes("to-a").empty());
    }
    SECTION("a configured route for a remote prefix refuses them all, counted; the Child SA stays") {
        CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
        lab.run();
        REQUIRE(!apply_command(lab.b.config, std::get<cmd::Parsed>(cmd::parse("route 10.1.0.0/16 blackhole")), false));
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK(lab.b.d->state("to-a") == "established");
        CHECK(lab.b.d->counters().reverse_route_failed == 1);
        CHECK(lab.b.d->reverse_routes("to-a").empty());
        CHECK(lab.b.config.routes.size() == 1);
        CHECK(lab.b.d->show_peers().find("reverse routes: route 10.1.0.0/16 is configured") != std::string::npos);
    }
}

TEST_CASE("IKE daemon: as responder, the initiator's IDi picks among connections to the same address",
          "[ike][daemon]") {
    auto b_for = [](const char* id, const char* psk, const char* remote_ts) {
        auto c = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", remote_ts, psk);
        c.remote_id = IkeIdentity{IkeIdentity::Type::fqdn, id};
        return c;
    };
    std::map<std::string, IkeConnectionConfig> b_conns = {{"to-x", b_for("x.example.com", "psk x", "10.1.0.0/16")},
                                                          {"to-y", b_for("y.example.com", "psk y", "10.3.0.0/16")}};
    b_conns["to-y"].child->seq = 1001;
    struct Case {
        const char* id;
        const char* psk;
        const char* lts;
        const char* up;  // b's connection that comes up, or nullptr
    };
    for (const Case& k : {Case{"x.example.com", "psk x", "10.1.0.0/16", "to-x"},
                          Case{"y.example.com", "psk y", "10.3.0.0/16", "to-y"},
                          Case{"y.example.com", "psk x", "10.3.0.0/16", nullptr},
                          Case{"z.example.com", "psk y", "10.3.0.0/16", nullptr}}) {
        INFO(k.id << " " << k.psk);
        Lab lab;
        auto ca = conn("192.0.2.1", "192.0.2.2", k.lts, "10.2.0.0/16", k.psk);
        ca.local_id = IkeIdentity{IkeIdentity::Type::fqdn, k.id};
        lab.b.d->configure(b_conns, lab.now);
        lab.a.d->configure(one("to-b", ca), lab.now);
        CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
        lab.run();
        CHECK((lab.a.d->state("to-b") == "established") == (k.up != nullptr));
        CHECK(lab.b.d->state("to-x") == (k.up && std::string(k.up) == "to-x" ? "established" : "down"));
        CHECK(lab.b.d->state("to-y") == (k.up && std::string(k.up) == "to-y" ? "established" : "down"));
        if (k.up) {
            const uint32_t seq = std::string(k.up) == "to-x" ? 1000 : 1001;
            REQUIRE(lab.b.policy(seq));
            CHECK(lab.b.policy(seq)->remote == *Prefix::parse(k.lts));
            CHECK(lab.b.installed_sas_of(k.up) == 2);
            // The session lives on with its connection: DPD, delete.
            CHECK_FALSE(lab.a.d->terminate("to-b", lab.now));
            lab.run();
            CHECK(lab.b.installed.entries.sas.empty());
        } else {
            CHECK(lab.b.d->counters().auth_failed == 1);
        }
    }
}

TEST_CASE("IKE daemon: a selector range becomes the fewest prefixes covering exactly it", "[ike][daemon]") {
    auto range = [](const char* a, const char* b) {
        TrafficSelector ts = TrafficSelector::from_prefix(*Prefix::parse("0.0.0.0/0"));
        ts.start = *IpAddr::parse(a);
        ts.end = *IpAddr::parse(b);
        return ts;
    };
    CHECK(range_prefixes(range("10.1.0.0", "10.1.255.255")) == prefixes({"10.1.0.0/16"}));
    CHECK(range_prefixes(range("10.0.0.1", "10.0.0.6")) ==
          prefixes({"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}));
    CHECK(range_prefixes(range("0.0.0.0", "255.255.255.255")) == prefixes({"0.0.0.0/0"}));
    CHECK(range_prefixes(range("10.0.0.9", "10.0.0.8")).empty());  // reversed
    CHECK(range_prefixes(range("0.0.0.1", "255.255.255.254")).size() == 62);
    CHECK(range_prefixes(range("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")).empty());  // 254: too many
    // Random ranges inside 10.0.0.0/20 against address-by-address enumeration.
    std::mt19937 rng(11);
    for (int i = 0; i < 300; ++i) {
        uint32_t a = 0x0a000000 + rng() % 4096, b = 0x0a000000 + rng() % 4096;
        if (a > b) std::swap(a, b);
        TrafficSelector ts = range(IpAddr::v4(a).str().c_str(), IpAddr::v4(b).str().c_str());
        const std::vector<Prefix> got = range_prefixes(ts);
        REQUIRE_FALSE(got.empty());
        uint64_t covered = 0;
        uint32_t next = a;
        for (const Prefix& p : got) {
            CHECK(p.network() == p);
            CHECK(p.addr.v4_host() == next);  // contiguous, in order, no overlap
            const uint64_t size = uint64_t(1) << (32 - p.len);
            covered += size;
            next = uint32_t(p.addr.v4_host() + size);
        }
        CHECK(covered == uint64_t(b) - a + 1);
        CHECK(got.size() <= 2 * 12);  // at most two per bit of the span
    }
}

TEST_CASE("IKE daemon: behind a NAT: float to 4500, UDP-encapsulated SAs to the mapped port, NAT-keepalives",
          "[ike][daemon]") {
    Lab lab;
    lab.nat_a = true;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    up(lab, ca, cb);
    // Every SA on both sides is UDP-encapsulated; b sends to the NAT's mapping of a's 4500.
    REQUIRE(lab.a.installed.entries.sas.size() == 2);
    REQUIRE(lab.b.installed.entries.sas.size() == 2);
    for (auto& [name, sa] : lab.a.installed.entries.sas) CHECK(sa.nat_traversal.value_or(0) == 4500);
    for (auto& [name, sa] : lab.b.installed.entries.sas) CHECK(sa.nat_traversal.value_or(0) == 44500);
    CHECK(lab.a.d->show_sa(true, lab.now).find("NAT detected") != std::string::npos);
    // Only the side behind the NAT keeps its mapping alive, every 20 s.
    CHECK(lab.a.keepalives == 0);
    lab.advance(21s, 500ms);
    CHECK(lab.a.keepalives == 1);
    lab.advance(20s, 500ms);
    CHECK(lab.a.keepalives == 2);
    CHECK(lab.b.keepalives == 0);
    CHECK(lab.a.d->counters().keepalives_sent == 2);
    // IKE still works through the mapping (a DPD-style liveness exchange: the Child SA rekey).
    CHECK_FALSE(lab.a.d->rekey("to-b", true, lab.now));
    lab.advance(2s);
    CHECK(lab.a.d->counters().rekeys + lab.b.d->counters().rekeys >= 1);
    CHECK(lab.b.installed.entries.sas.size() == 2);
    for (auto& [name, sa] : lab.b.installed.entries.sas) CHECK(sa.nat_traversal.value_or(0) == 44500);
}
