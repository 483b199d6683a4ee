// The IKE daemon with two instances wired back to back in-process: datagrams
// are handed over by the test, and each side's IPsec API hook is the real
// validator (apply_ipsec_change) over its own installed set.
#include "slowpath/ike/daemon.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <random>

using namespace rampart;
using namespace rampart::ike;
using namespace std::chrono_literals;

namespace {

IkeConnectionConfig conn(const char* local, const char* remote, const char* lts, const char* rts, std::string psk) {
    IkeConnectionConfig c;
    c.local = *IpAddr::parse(local);
    c.remote = *IpAddr::parse(remote);
    c.psk.assign(psk.begin(), psk.end());
    c.child = IkeConnectionConfig::Child{*Prefix::parse(lts), *Prefix::parse(rts)};
    return c;
}

struct Box {
    RunningConfig config;
    IpsecInstalled installed;
    std::vector<std::string> apply_errors;
    std::unique_ptr<IkeDaemon> d;
    std::deque<Datagram>* to_peer = nullptr;

    explicit Box(size_t cookie_threshold = 8) {
        DaemonHooks h;
        h.cookie_threshold = cookie_threshold;
        h.apply = [this](const IpsecChange& ch) -> std::optional<std::string> {
            auto err = apply_ipsec_change(config, installed, "ike", ch);
            if (err) apply_errors.push_back(*err);
            return err;
        };
        h.send = [this](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> b) {
            to_peer->push_back(Datagram{r, l, Bytes(b.begin(), b.end())});
        };
        d = std::make_unique<IkeDaemon>(h);
    }
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
    explicit Lab(size_t b_cookie_threshold = 8) : b(b_cookie_threshold) {
        a.to_peer = &to_b;
        b.to_peer = &to_a;
    }
    void run() {
        for (int guard = 0; guard < 1000 && (!to_a.empty() || !to_b.empty()); ++guard) {
            while (!to_b.empty()) {
                Datagram d = std::move(to_b.front());
                to_b.pop_front();
                if (!lose(d)) b.d->receive(d, now);
            }
            while (!to_a.empty()) {
                Datagram d = std::move(to_a.front());
                to_a.pop_front();
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
    const IpsecSaConfig *a_out = nullptr, *a_in = nullptr, *b_out = nullptr, *b_in = nullptr;
    for (auto& [n, sa] : lab.a.installed.entries.sas)
        (sa.direction == IpsecSaConfig::Direction::outbound ? a_out : a_in) = &sa;
    for (auto& [n, sa] : lab.b.installed.entries.sas)
        (sa.direction == IpsecSaConfig::Direction::outbound ? b_out : b_in) = &sa;
    REQUIRE((a_out && a_in && b_out && b_in));
    CHECK(a_out->spi == b_in->spi);
    CHECK(b_out->spi == a_in->spi);
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

TEST_CASE("IKE daemon: at the IKE SA lifetime a new IKE SA replaces the old one", "[ike][daemon]") {
    Lab lab;
    auto ca = conn("192.0.2.1", "192.0.2.2", "10.1.0.0/16", "10.2.0.0/16", "psk");
    auto cb = conn("192.0.2.2", "192.0.2.1", "10.2.0.0/16", "10.1.0.0/16", "psk");
    ca.ike_lifetime = cb.ike_lifetime = 60;
    lab.b.d->configure(one("to-a", cb), lab.now);
    lab.a.d->configure(one("to-b", ca), lab.now);
    CHECK_FALSE(lab.a.d->initiate("to-b", lab.now));
    lab.run();
    auto before = lab.a.installed.entries.sas;
    lab.advance(61s, 500ms);
    CHECK(lab.a.d->counters().ike_reestablished == 1);
    CHECK(lab.b.d->counters().ike_reestablished == 0);  // the original responder waits longer
    CHECK(lab.a.d->state("to-b") == "established");
    CHECK(lab.a.d->show_sa(false, lab.now).find("to-b #2: established") != std::string::npos);
    CHECK(lab.a.d->show_sa(false, lab.now).find("to-b #1:") == std::string::npos);
    CHECK(lab.a.installed.entries.sas.size() == 2);
    CHECK(lab.b.installed.entries.sas.size() == 2);
    for (auto& [n, sa] : lab.a.installed.entries.sas) CHECK(before.count(n) == 0);
    CHECK(lab.a.apply_errors.empty());
    CHECK(lab.b.apply_errors.empty());
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
