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
