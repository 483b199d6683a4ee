// IKEv2 crypto: published known answers (RFC 4231 / RFC 4868 HMAC and
// truncations, RFC 5903 ECP groups, RFC 7748 X25519), prf+ and the whole key
// schedule (SKEYSEED, SK_*, Child SA KEYMAT) against a second, straightforward
// implementation written here over OpenSSL's one-shot HMAC(), the SK and SKF
// layouts re-derived byte by byte with raw EVP calls, tamper detection, PSK
// and RFC 7427 signature AUTH.
#include "slowpath/ike/crypto.hpp"

#include <catch2/catch.hpp>
#include "tests/support/hex.hpp"
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>

using namespace rampart;
using namespace rampart::ike;

using rampart::testing::ascii;
using rampart::testing::cat;
using rampart::testing::hex;

namespace {

Bytes bytes(const Secret& s) { return Bytes(s.begin(), s.end()); }
Bytes cat(Bytes a, std::span<const uint8_t> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
Bytes filled(size_t n, uint8_t seed) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 13);
    return b;
}

// ---- the reference: RFC 7296 §2.13/§2.14/§2.17 written out over HMAC()

const EVP_MD* md_of(PrfAlg a) {
    return a == PrfAlg::hmac_sha2_256 ? EVP_sha256() : a == PrfAlg::hmac_sha2_384 ? EVP_sha384() : EVP_sha512();
}

Bytes ref_hmac(PrfAlg a, const Bytes& key, const Bytes& data) {
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(md_of(a), key.data(), int(key.size()), data.data(), data.size(), out, &len);
    return Bytes(out, out + len);
}

Bytes ref_prf_plus(PrfAlg a, const Bytes& key, const Bytes& seed, size_t len) {
    Bytes out, t;
    for (int i = 1; out.size() < len; ++i) {
        Bytes in = cat(t, seed);
        in.push_back(uint8_t(i));
        t = ref_hmac(a, key, in);
        out = cat(out, t);
    }
    out.resize(len);
    return out;
}

Bytes spi_bytes(uint64_t v) {
    Bytes b(8);
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (56 - 8 * i));
    return b;
}

const CipherSuite kSuites[] = {
    {encr_id::aes_gcm_16, 128, integ_id::none},
    {encr_id::aes_gcm_16, 256, integ_id::none},
    {encr_id::aes_cbc, 128, integ_id::hmac_sha2_256_128},
    {encr_id::aes_cbc, 256, integ_id::hmac_sha2_384_192},
    {encr_id::aes_cbc, 256, integ_id::hmac_sha2_512_256},
};

std::string suite_name(const CipherSuite& cs) {
    return std::string(cs.aead() ? "aes-gcm-16-" : "aes-cbc-") + std::to_string(cs.key_bits) +
           (cs.aead() ? "" : "+hmac-sha2-" + std::to_string(cs.integ_key_len() * 8));
}

std::vector<Payload> inner_payloads(size_t cert_len = 200) {
    std::vector<Payload> ps;
    ps.push_back(make_payload(PayloadType::idi, IdPayload::text(IdType::fqdn, "spoke1.example.net")));
    ps.push_back(make_payload(PayloadType::cert, CertPayload{CertEncoding::x509_signature, filled(cert_len, 1)}));
    ps.push_back(make_payload(AuthPayload{AuthMethod::shared_key_mic, filled(32, 2)}));
    ps.push_back(make_payload(NotifyPayload::make(notify::initial_contact)));
    return ps;
}

Header auth_header() {
    Header h;
    h.spi_i = 0x1122334455667788ULL;
    h.spi_r = 0x99aabbccddeeff00ULL;
    h.exchange = ExchangeType::ike_auth;
    h.flags = kFlagInitiator;
    h.message_id = 1;
    return h;
}

SkKeys keys_for(const CipherSuite& cs, uint8_t seed) {
    return SkKeys{cs, to_secret(filled(cs.encr_keymat_len(), seed)), to_secret(filled(cs.integ_key_len(), seed + 1))};
}

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

}  // namespace

TEST_CASE("ike crypto: PRF = HMAC-SHA2, RFC 4231 / RFC 4868 §2.7.1 vectors", "[ike][crypto]") {
    struct V {
        PrfAlg a;
        Bytes key, data, out;
    };
    const Bytes hi = ascii("Hi There"), what = ascii("what do ya want for nothing?");
    const Bytes big_key(131, 0xaa);
    const Bytes big_data = ascii("Test Using Larger Than Block-Size Key - Hash Key First");
    const std::vector<V> vs = {
        {PrfAlg::hmac_sha2_256, Bytes(20, 0x0b), hi,
         hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")},
        {PrfAlg::hmac_sha2_256, ascii("Jefe"), what,
         hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")},
        {PrfAlg::hmac_sha2_256, big_key, big_data,
         hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")},
        {PrfAlg::hmac_sha2_384, Bytes(20, 0x0b), hi,
         hex("afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
             "faea9ea9076ede7f4af152e8b2fa9cb6")},
        {PrfAlg::hmac_sha2_384, ascii("Jefe"), what,
         hex("af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
             "8e2240ca5e69e2c78b3239ecfab21649")},
        {PrfAlg::hmac_sha2_512, Bytes(20, 0x0b), hi,
         hex("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
             "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")},
        {PrfAlg::hmac_sha2_512, ascii("Jefe"), what,
         hex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
             "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")},
        {PrfAlg::hmac_sha2_512, big_key, big_data,
         hex("80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
             "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598")},
    };
    for (const V& v : vs) {
        CHECK(bytes(prf(v.a, v.key, v.data)) == v.out);
        // Split input gives the same MAC.
        const std::span<const uint8_t> d(v.data);
        CHECK(bytes(prf(v.a, v.key, {d.first(3), d.subspan(3)})) == v.out);
    }
    CHECK(prf_len(PrfAlg::hmac_sha2_384) == 48);
    CHECK(prf_from_id(prf_id::hmac_sha2_512) == PrfAlg::hmac_sha2_512);
    CHECK(!prf_from_id(2));  // HMAC-SHA1: not offered
}

TEST_CASE("ike crypto: INTEG truncations, RFC 4868 §2.7.2 vectors", "[ike][crypto]") {
    auto jefe = [](size_t n) {
        Bytes k;
        while (k.size() < n) k.push_back("Jefe"[k.size() % 4]);
        return k;
    };
    const Bytes hi = ascii("Hi There"), what = ascii("what do ya want for nothing?");
    CHECK(icv(integ_id::hmac_sha2_256_128, Bytes(32, 0x0b), hi) == hex("198a607eb44bfbc69903a0f1cf2bbdc5"));
    CHECK(icv(integ_id::hmac_sha2_256_128, jefe(32), what) == hex("167f928588c5cc2eef8e3093caa0e87c"));
    CHECK(icv(integ_id::hmac_sha2_384_192, Bytes(48, 0x0b), hi) ==
          hex("b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"));
    CHECK(icv(integ_id::hmac_sha2_384_192, jefe(48), what) == hex("2c7353974f1842fd66d53c452ca42122b28c0b594cfb184d"));
    CHECK(icv(integ_id::hmac_sha2_512_256, Bytes(64, 0x0b), hi) ==
          hex("637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"));
    CHECK(icv(integ_id::hmac_sha2_512_256, jefe(64), what) ==
          hex("cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454"));
    CHECK(icv(2, Bytes(20, 0), hi).empty());  // HMAC-SHA1-96: not ours
}

TEST_CASE("ike crypto: prf+ against the reference", "[ike][crypto]") {
    for (PrfAlg a : {PrfAlg::hmac_sha2_256, PrfAlg::hmac_sha2_384, PrfAlg::hmac_sha2_512}) {
        const Bytes key = filled(prf_len(a), 5), seed = filled(80, 9);
        for (size_t len : {size_t(1), prf_len(a) - 1, prf_len(a), prf_len(a) + 1, size_t(333), 255 * prf_len(a)}) {
            INFO("prf " << int(a) << " len " << len);
            CHECK(bytes(prf_plus(a, key, seed, len)) == ref_prf_plus(a, key, seed, len));
        }
        // §2.13: at most 255 iterations.
        CHECK(prf_plus(a, key, seed, 255 * prf_len(a) + 1).empty());
        // T1 is prf(K, S | 0x01).
        CHECK(bytes(prf_plus(a, key, seed, prf_len(a))) == ref_hmac(a, key, cat(seed, Bytes{1})));
    }
}

TEST_CASE("ike crypto: SKEYSEED, SK_* and Child SA KEYMAT against the reference", "[ike][crypto]") {
    const Bytes ni = filled(32, 0x21), nr = filled(48, 0x57), g_ir = filled(256, 0x99);
    const uint64_t spi_i = 0x0123456789abcdefULL, spi_r = 0xfedcba9876543210ULL;
    for (PrfAlg a : {PrfAlg::hmac_sha2_256, PrfAlg::hmac_sha2_384, PrfAlg::hmac_sha2_512})
        for (const CipherSuite& cs : kSuites) {
            INFO("prf " << int(a) << " " << suite_name(cs));
            const Secret seed = skeyseed(a, ni, nr, g_ir);
            const Bytes ref_seed = ref_hmac(a, cat(ni, nr), g_ir);
            CHECK(bytes(seed) == ref_seed);
            const IkeKeys k = derive_ike_keys(a, cs, seed, ni, nr, spi_i, spi_r);
            const size_t p = prf_len(a), i = cs.integ_key_len(), e = cs.encr_keymat_len();
            const Bytes all =
                ref_prf_plus(a, ref_seed, cat(cat(cat(ni, nr), spi_bytes(spi_i)), spi_bytes(spi_r)), 3 * p + 2 * i + 2 * e);
            size_t off = 0;
            auto next = [&](size_t n) {
                Bytes b(all.begin() + off, all.begin() + off + n);
                off += n;
                return b;
            };
            CHECK(bytes(k.sk_d) == next(p));
            CHECK(bytes(k.sk_ai) == next(i));
            CHECK(bytes(k.sk_ar) == next(i));
            CHECK(bytes(k.sk_ei) == next(e));
            CHECK(bytes(k.sk_er) == next(e));
            CHECK(bytes(k.sk_pi) == next(p));
            CHECK(bytes(k.sk_pr) == next(p));
            CHECK(k.sk_ei.size() == size_t(cs.key_bits / 8 + (cs.aead() ? 4 : 0)));  // RFC 5282 §7.1 salt

            // §2.17 without and with PFS.
            for (const Bytes& pfs : {Bytes{}, filled(64, 3)}) {
                const ChildKeys c = derive_child_keys(a, k.sk_d, cs, ni, nr, pfs);
                const Bytes km = ref_prf_plus(a, bytes(k.sk_d), cat(cat(pfs, ni), nr), 2 * (e + i));
                CHECK(bytes(c.encr_i) == Bytes(km.begin(), km.begin() + e));
                CHECK(bytes(c.integ_i) == Bytes(km.begin() + e, km.begin() + e + i));
                CHECK(bytes(c.encr_r) == Bytes(km.begin() + e + i, km.begin() + 2 * e + i));
                CHECK(bytes(c.integ_r) == Bytes(km.begin() + 2 * e + i, km.end()));
            }
            // §2.18 rekey.
            CHECK(bytes(skeyseed_rekey(a, k.sk_d, g_ir, ni, nr)) ==
                  ref_hmac(a, bytes(k.sk_d), cat(cat(g_ir, ni), nr)));
        }
}

TEST_CASE("ike crypto: NIST SP 800-135 IKEv2 KDF known answers (HMAC-SHA-256)", "[ike][crypto]") {
    // The CAVP IKEv2 KDF sample as carried in NSS's gtests (ike_sha256_vectors.h,
    // cases 6-9 and 7): 8-byte nonces, 32-byte g^ir, 132 bytes of DKM.
    const Bytes ni = hex("3f302be1abcb28e1"), nr = hex("8c332ee006064c9b");
    const Bytes g_ir = hex("0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29");
    const uint64_t spi_i = 0x40dac39e1e1a8640ULL, spi_r = 0x8619a1cf9a6e4c07ULL;
    const Bytes want_seed = hex("5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe");
    const Bytes dkm = hex(
        "0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ece98aca531188d16041b3bb936d2dbb3b"
        "4993a6e768a809160de45d0283f273a6cdf6854379e31be72b8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4"
        "e1c19bdcd4db14b29d98db1a74ad405c588662c14a04d0d36aa4ab55e90f8986d12d4aad");
    REQUIRE(dkm.size() == 132);
    const PrfAlg a = PrfAlg::hmac_sha2_256;
    const Secret seed = skeyseed(a, ni, nr, g_ir);
    CHECK(bytes(seed) == want_seed);
    const Bytes prf_seed = cat(cat(cat(ni, nr), spi_bytes(spi_i)), spi_bytes(spi_r));
    CHECK(bytes(prf_plus(a, seed, prf_seed, 132)) == dkm);
    CHECK(bytes(prf_plus(a, seed, prf_seed, 32)) == Bytes(dkm.begin(), dkm.begin() + 32));
    CHECK(bytes(prf_plus(a, seed, prf_seed, 15)) == Bytes(dkm.begin(), dkm.begin() + 15));
    // The SK_* split of the same stream (AES-GCM-128: no SK_a, 20-byte SK_e).
    const IkeKeys k = derive_ike_keys(a, kSuites[0], seed, ni, nr, spi_i, spi_r);
    auto at = [&](size_t off, size_t n) { return Bytes(dkm.begin() + off, dkm.begin() + off + n); };
    CHECK(bytes(k.sk_d) == at(0, 32));
    CHECK(k.sk_ai.empty());
    CHECK(bytes(k.sk_ei) == at(32, 20));
    CHECK(bytes(k.sk_er) == at(52, 20));
    CHECK(bytes(k.sk_pi) == at(72, 32));
    CHECK(Bytes(k.sk_pr.begin(), k.sk_pr.begin() + 28) == at(104, 28));
    // SKEYSEED for a rekey: prf(SK_d (old), g^ir (new) | Ni | Nr).
    CHECK(bytes(skeyseed_rekey(a, at(0, 32),
                               hex("25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c"), ni, nr)) ==
          hex("2d63f6debc92048b4fef3889c4c99ca67d6496e0fac14a2bca9a2d6566ff2398"));
}

TEST_CASE("ike crypto: ECP groups 19 and 20, RFC 5903 §8 vectors", "[ike][crypto]") {
    struct V {
        uint16_t group;
        const char *i, *gi, *r, *gr, *girx;
    };
    const V vs[] = {
        {dh_id::ecp256, "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
         "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
         "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
         "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
         "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
         "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
         "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"},
        {dh_id::ecp384,
         "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655E35B538041E649EE3FAEF896783AB194",
         "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6DE3AC808ACB4BDB4C88732AEE95F41AA"
         "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
         "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942E0308312916B8ED2960E4BD55A7448FC",
         "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D0D1AC43A0336DEF96FDA41D0774A3571"
         "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C",
         "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4D603135569B9E9D09CF5D4A270F59746"},
    };
    for (const V& v : vs) {
        INFO("group " << v.group);
        auto ki = DhKey::from_private(v.group, hex(v.i));
        auto kr = DhKey::from_private(v.group, hex(v.r));
        REQUIRE(ki);
        REQUIRE(kr);
        // RFC 5903 §7: the KE data is x | y, no point-format octet.
        CHECK(ki->public_value() == hex(v.gi));
        CHECK(kr->public_value() == hex(v.gr));
        auto si = ki->shared_secret(hex(v.gr));
        auto sr = kr->shared_secret(hex(v.gi));
        REQUIRE(si);
        REQUIRE(sr);
        // §7: the shared secret is the x coordinate only.
        CHECK(bytes(*si) == hex(v.girx));
        CHECK(bytes(*sr) == hex(v.girx));

        // A point off the curve, the wrong length, the SEC1 form with 04: refused.
        const Bytes gr = hex(v.gr);
        Bytes bad = gr;
        bad.back() ^= 1;
        CHECK(!ki->shared_secret(bad));
        CHECK(!ki->shared_secret(Bytes(gr.begin(), gr.end() - 1)));
        CHECK(!ki->shared_secret(cat(Bytes{4}, hex(v.gr))));
        CHECK(!ki->shared_secret(Bytes(hex(v.gr).size(), 0)));
    }
}

TEST_CASE("ike crypto: Curve25519 (group 31), RFC 7748 §5.2 and §6.1 vectors", "[ike][crypto]") {
    auto a = DhKey::from_private(dh_id::curve25519,
                                 hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    auto b = DhKey::from_private(dh_id::curve25519,
                                 hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->public_value() == hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
    CHECK(b->public_value() == hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
    const Bytes k = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    CHECK(bytes(*a->shared_secret(b->public_value())) == k);
    CHECK(bytes(*b->shared_secret(a->public_value())) == k);
    // §5.2, first X25519 vector.
    auto s = DhKey::from_private(dh_id::curve25519,
                                 hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"));
    REQUIRE(s);
    CHECK(bytes(*s->shared_secret(hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"))) ==
          hex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));
    // RFC 8031 §2.3: a low-order point gives zero, which is refused; 31 bytes too.
    CHECK(!a->shared_secret(Bytes(32, 0)));
    CHECK(!a->shared_secret(cat(Bytes{1}, Bytes(31, 0))));
    CHECK(!a->shared_secret(Bytes(31, 9)));
}

TEST_CASE("ike crypto: fresh key pairs agree in every group", "[ike][crypto]") {
    for (uint16_t g : {dh_id::modp2048, dh_id::ecp256, dh_id::ecp384, dh_id::curve25519}) {
        INFO("group " << g);
        auto x = DhKey::generate(g);
        auto y = DhKey::generate(g);
        REQUIRE(x);
        REQUIRE(y);
        CHECK(x->public_value().size() == DhKey::public_len(g));
        auto sx = x->shared_secret(y->public_value());
        auto sy = y->shared_secret(x->public_value());
        REQUIRE(sx);
        REQUIRE(sy);
        CHECK(*sx == *sy);
        CHECK(sx->size() == (g == dh_id::modp2048 ? 256u : g == dh_id::ecp384 ? 48u : 32u));
    }
    CHECK(!DhKey::generate(2));  // MODP-1024: not offered
    CHECK(!DhKey::supported(5));
    // MODP: 0, 1 and p-1 are not public keys (and neither is anything >= p).
    auto x = DhKey::generate(dh_id::modp2048);
    Bytes v(256, 0);
    CHECK(!x->shared_secret(v));
    v.back() = 1;
    CHECK(!x->shared_secret(v));
    CHECK(!x->shared_secret(Bytes(256, 0xff)));
    Bytes p_minus_1(256, 0xff);  // RFC 3526 §3: p = 2^2048 - 2^1984 - 1 + 2^64 * (...), ends in ...ffffffff
    p_minus_1.back() = 0xfe;
    CHECK(!x->shared_secret(p_minus_1));
    CHECK(!x->shared_secret(Bytes(255, 1)));
}

TEST_CASE("ike crypto: SK payload round trip and layout, every suite", "[ike][crypto]") {
    const std::vector<Payload> inner = inner_payloads();
    const Bytes plain = encode_payloads(inner);
    for (const CipherSuite& cs : kSuites) {
        INFO(suite_name(cs));
        REQUIRE(cs.supported());
        const SkKeys k = keys_for(cs, 0x30);
        const Bytes iv = filled(cs.iv_len(), 0x77);
        const Bytes wire = protect(k, auth_header(), inner, iv);
        REQUIRE(!wire.empty());
        DecodedMessage d = decode(wire);
        REQUIRE(d.ok());
        REQUIRE(d.message.payloads.size() == 1);
        const SkPayload& sk = std::get<SkPayload>(d.message.payloads[0].body);
        CHECK(sk.inner_first == PayloadType::idi);
        CHECK(d.message.header.next_payload == PayloadType::sk);

        Opened o = unprotect(k, wire, d.message);
        REQUIRE(o.ok());
        CHECK(o.payloads == inner);
        CHECK(o.plaintext == plain);

        // The layout, re-derived with raw EVP calls: IV, ciphertext, ICV.
        const size_t icv_len = cs.icv_len(), iv_off = kHeaderLen + 4;
        const size_t ct_len = wire.size() - iv_off - cs.iv_len() - icv_len;
        CHECK(Bytes(wire.begin() + iv_off, wire.begin() + iv_off + cs.iv_len()) == iv);
        const uint8_t* ct = wire.data() + iv_off + cs.iv_len();
        Bytes pt(ct_len + 16);
        int l1 = 0, l2 = 0;
        EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
        if (cs.aead()) {
            CHECK(ct_len == plain.size() + 1);  // no padding, pad length 0
            const Bytes nonce = cat(Bytes(k.encr.end() - 4, k.encr.end()), iv);
            REQUIRE(EVP_DecryptInit_ex(c, cs.key_bits == 128 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), nullptr,
                                       k.encr.data(), nonce.data()) == 1);
            // RFC 5282 §5.1: AAD = IKE header through the SK generic header.
            REQUIRE(EVP_DecryptUpdate(c, nullptr, &l1, wire.data(), int(iv_off)) == 1);
            REQUIRE(EVP_DecryptUpdate(c, pt.data(), &l1, ct, int(ct_len)) == 1);
            Bytes tag(wire.end() - 16, wire.end());
            REQUIRE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag.data()) == 1);
            CHECK(EVP_DecryptFinal_ex(c, pt.data() + l1, &l2) == 1);
        } else {
            CHECK(ct_len % 16 == 0);
            // §3.14: ICV over the whole message but the ICV.
            const Bytes mac = ref_hmac(*prf_from_id(uint16_t(cs.integ_key_len() == 32 ? 5 : cs.integ_key_len() == 48 ? 6 : 7)),
                                       bytes(k.integ), Bytes(wire.begin(), wire.end() - icv_len));
            CHECK(Bytes(wire.end() - icv_len, wire.end()) == Bytes(mac.begin(), mac.begin() + icv_len));
            REQUIRE(EVP_DecryptInit_ex(c, cs.key_bits == 128 ? EVP_aes_128_cbc() : EVP_aes_256_cbc(), nullptr,
                                       k.encr.data(), iv.data()) == 1);
            EVP_CIPHER_CTX_set_padding(c, 0);
            REQUIRE(EVP_DecryptUpdate(c, pt.data(), &l1, ct, int(ct_len)) == 1);
            REQUIRE(EVP_DecryptFinal_ex(c, pt.data() + l1, &l2) == 1);
        }
        EVP_CIPHER_CTX_free(c);
        pt.resize(ct_len);
        CHECK(Bytes(pt.begin(), pt.begin() + plain.size()) == plain);
        CHECK(pt.back() == ct_len - plain.size() - 1);

        // The other direction's keys do not open it.
        CHECK(unprotect(keys_for(cs, 0x31), wire, d.message).error == CryptoError::integrity_check_failed);
        // Random IVs differ.
        CHECK(protect(k, auth_header(), inner) != protect(k, auth_header(), inner));
    }
}

TEST_CASE("ike crypto: SK tampering anywhere is detected", "[ike][crypto]") {
    const std::vector<Payload> inner = inner_payloads(40);
    for (const CipherSuite& cs : kSuites) {
        INFO(suite_name(cs));
        const SkKeys k = keys_for(cs, 0x40);
        const Bytes wire = protect(k, auth_header(), inner);
        for (size_t i = 0; i < wire.size(); ++i) {
            INFO("byte " << i);
            Bytes t = wire;
            t[i] ^= 0x01;
            DecodedMessage d = decode(t);
            if (!d.ok()) continue;  // the codec already refuses it (length fields, version)
            Opened o = unprotect(k, t, d.message);
            CHECK(o.error == CryptoError::integrity_check_failed);
            CHECK(o.payloads.empty());
            CHECK(o.plaintext.empty());
        }
        // Too short to hold IV and ICV; not whole blocks (CBC).
        Message m;
        m.header = auth_header();
        m.payloads = {make_payload(SkPayload{PayloadType::idi, filled(cs.iv_len() + cs.icv_len(), 1)})};
        CHECK(unprotect(k, encode(m), m).error == CryptoError::bad_length);
        if (!cs.aead()) {
            m.payloads = {make_payload(SkPayload{PayloadType::idi, filled(cs.iv_len() + cs.icv_len() + 15, 1)})};
            CHECK(unprotect(k, encode(m), m).error == CryptoError::bad_length);
        }
        // Not an encrypted message.
        m.payloads = {make_payload(NoncePayload{filled(16, 1)})};
        CHECK(unprotect(k, encode(m), m).error == CryptoError::not_encrypted);
    }
}

TEST_CASE("ike crypto: bad padding, authenticated next payload, bad inner payloads", "[ike][crypto]") {
    const CipherSuite cs{encr_id::aes_gcm_16, 128, integ_id::none};
    const SkKeys k = keys_for(cs, 0x50);
    // A correctly sealed SK payload whose plaintext is a lone pad length of
    // 255, built with raw EVP calls: the ICV passes, the padding does not.
    {
        Bytes wire(kHeaderLen);
        Header h = auth_header();
        h.next_payload = PayloadType::sk;
        const size_t payload_len = 4 + 8 + 1 + 16;
        h.length = uint32_t(kHeaderLen + payload_len);
        encode_header(h, wire.data());
        wire = cat(wire, Bytes{uint8_t(PayloadType::vendor), 0, 0, uint8_t(payload_len)});
        const Bytes iv = filled(8, 3);
        wire = cat(wire, iv);
        const Bytes nonce = cat(Bytes(k.encr.end() - 4, k.encr.end()), iv);
        EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
        uint8_t pt = 0xff, ct = 0, tag[16];
        int l = 0;
        REQUIRE(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), nullptr, k.encr.data(), nonce.data()) == 1);
        REQUIRE(EVP_EncryptUpdate(c, nullptr, &l, wire.data(), int(kHeaderLen + 4)) == 1);
        REQUIRE(EVP_EncryptUpdate(c, &ct, &l, &pt, 1) == 1);
        REQUIRE(EVP_EncryptFinal_ex(c, tag, &l) == 1);
        REQUIRE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
        EVP_CIPHER_CTX_free(c);
        wire.push_back(ct);
        wire = cat(wire, Bytes(tag, tag + 16));
        DecodedMessage d = decode(wire);
        REQUIRE(d.ok());
        CHECK(unprotect(k, wire, d.message).error == CryptoError::bad_padding);
    }
    // The SK header's Next Payload is in the AAD: changing it breaks the ICV.
    const std::vector<Payload> v = {make_payload(VendorPayload{filled(3, 1)})};
    Bytes wire = protect(k, auth_header(), v);
    DecodedMessage d = decode(wire);
    REQUIRE(d.ok());
    Message m = d.message;
    std::get<SkPayload>(m.payloads[0].body).inner_first = PayloadType::ke;
    CHECK(unprotect(k, encode(m), m).error == CryptoError::integrity_check_failed);
    // Decrypted data that does not decode: a KE payload without key data.
    const std::vector<Payload> bad = {make_payload(KePayload{19, {}})};
    wire = protect(k, auth_header(), bad);
    d = decode(wire);
    REQUIRE(d.ok());
    Opened o = unprotect(k, wire, d.message);
    CHECK(o.error == CryptoError::bad_inner_payloads);
    CHECK(o.decode.error == DecodeError::bad_payload_length);
    CHECK(o.payloads.empty());
}

TEST_CASE("ike crypto: SKF fragments (RFC 7383) reassemble to the SK content", "[ike][crypto]") {
    const std::vector<Payload> inner = inner_payloads(1500);
    const Bytes plain = encode_payloads(inner);
    for (const CipherSuite& cs : kSuites) {
        for (size_t mtu : {size_t(200), size_t(576), size_t(1280)}) {
            INFO(suite_name(cs) << " max " << mtu);
            const SkKeys k = keys_for(cs, 0x60);
            const std::vector<Bytes> frags = protect_fragments(k, auth_header(), inner, mtu);
            REQUIRE(frags.size() > 1);
            Bytes joined;
            PayloadType first = PayloadType::none;
            for (size_t i = 0; i < frags.size(); ++i) {
                CHECK(frags[i].size() <= mtu);
                DecodedMessage d = decode(frags[i]);
                REQUIRE(d.ok());
                CHECK(d.message.header.next_payload == PayloadType::skf);
                Opened o = unprotect(k, frags[i], d.message);
                REQUIRE(o.ok());
                CHECK(o.fragment_number == i + 1);
                CHECK(o.fragment_total == frags.size());
                if (i == 0) first = o.inner_first;
                else CHECK(o.inner_first == PayloadType::none);
                joined = cat(joined, o.plaintext);
            }
            CHECK(joined == plain);
            DecodedPayloads dp = decode_payloads(first, joined);
            REQUIRE(dp.ok());
            CHECK(dp.payloads == inner);
            // The fragment numbers are authenticated (RFC 7383 §2.5.3).
            Bytes t = frags[1];
            t[kHeaderLen + 7] ^= 0x01;  // Total Fragments, still >= the fragment number
            DecodedMessage d = decode(t);
            REQUIRE(d.ok());
            CHECK(unprotect(k, t, d.message).error == CryptoError::integrity_check_failed);
        }
    }
    CHECK(protect_fragments(keys_for(kSuites[0], 1), auth_header(), inner, 60).empty());
}

TEST_CASE("ike crypto: shared-key AUTH (§2.15)", "[ike][crypto]") {
    const Bytes real_message = filled(300, 0x10), nr = filled(32, 0x20), sk_pi = filled(32, 0x30);
    const IdPayload id = IdPayload::text(IdType::fqdn, "spoke1.example.net");
    const Bytes psk = ascii("a long and random pre-shared key");
    for (PrfAlg a : {PrfAlg::hmac_sha2_256, PrfAlg::hmac_sha2_384, PrfAlg::hmac_sha2_512}) {
        const Bytes octets = signed_octets(a, real_message, nr, sk_pi, id);
        // RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)
        const Bytes rest = cat(Bytes{uint8_t(IdType::fqdn), 0, 0, 0}, id.data);
        CHECK(octets == cat(cat(real_message, nr), ref_hmac(a, sk_pi, rest)));
        const Secret auth = psk_auth(a, psk, octets);
        CHECK(bytes(auth) == ref_hmac(a, ref_hmac(a, psk, ascii("Key Pad for IKEv2")), octets));
        CHECK(verify_psk_auth(a, psk, octets, bytes(auth)));
        CHECK(!verify_psk_auth(a, ascii("another key"), octets, bytes(auth)));
        Bytes t = octets;
        t[5] ^= 1;
        CHECK(!verify_psk_auth(a, psk, t, bytes(auth)));
        CHECK(!verify_psk_auth(a, psk, octets, Bytes(auth.begin(), auth.end() - 1)));
    }
}

TEST_CASE("ike crypto: RFC 7427 signature AUTH, RSA PKCS#1 v1.5 / PSS and ECDSA", "[ike][crypto]") {
    // RFC 7427 Appendix A.1 / A.3: the AlgorithmIdentifier bytes.
    CHECK(algorithm_identifier(SigScheme::rsa_pkcs1_sha256) == hex("300d06092a864886f70d01010b0500"));
    CHECK(algorithm_identifier(SigScheme::rsa_pkcs1_sha512) == hex("300d06092a864886f70d01010d0500"));
    CHECK(algorithm_identifier(SigScheme::ecdsa_sha256) == hex("300a06082a8648ce3d040302"));
    CHECK(algorithm_identifier(SigScheme::ecdsa_sha384) == hex("300a06082a8648ce3d040303"));
    // id-RSASSA-PSS with RSASSA-PSS-params (RFC 4055 §3.1) in DER: SHA-256,
    // MGF1(SHA-256), salt 32, trailer field left at its default.
    CHECK(algorithm_identifier(SigScheme::rsa_pss_sha256) ==
          hex("3041 06092a864886f70d01010a 3034"
              "a00f 300d 0609608648016503040201 0500"
              "a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500"
              "a203 020120"));

    Pkey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t(2048)));
    Pkey p256(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    REQUIRE(rsa);
    REQUIRE(p256);
    REQUIRE(p384);
    const Bytes octets = filled(500, 0x44);
    struct C {
        SigScheme s;
        EVP_PKEY* key;
    };
    const C cs[] = {
        {SigScheme::rsa_pkcs1_sha256, rsa.get()}, {SigScheme::rsa_pkcs1_sha384, rsa.get()},
        {SigScheme::rsa_pkcs1_sha512, rsa.get()}, {SigScheme::rsa_pss_sha256, rsa.get()},
        {SigScheme::rsa_pss_sha384, rsa.get()},   {SigScheme::rsa_pss_sha512, rsa.get()},
        {SigScheme::ecdsa_sha256, p256.get()},    {SigScheme::ecdsa_sha384, p384.get()},
        {SigScheme::ecdsa_sha512, p384.get()},
    };
    for (const C& c : cs) {
        INFO("scheme " << int(c.s));
        const Bytes auth = sign_auth(c.key, c.s, octets);
        REQUIRE(!auth.empty());
        const Bytes alg = algorithm_identifier(c.s);
        CHECK(auth[0] == alg.size());
        CHECK(Bytes(auth.begin() + 1, auth.begin() + 1 + alg.size()) == alg);
        SigScheme got{};
        CHECK(verify_auth(c.key, auth, octets, &got));
        CHECK(got == c.s);
        Bytes t = octets;
        t[100] ^= 1;
        CHECK(!verify_auth(c.key, auth, t));
        Bytes bad = auth;
        bad.back() ^= 1;
        CHECK(!verify_auth(c.key, bad, octets));
        // Wrong key for the scheme.
        EVP_PKEY* other = c.key == rsa.get() ? p256.get() : rsa.get();
        CHECK(sign_auth(other, c.s, octets).empty());
        CHECK(!verify_auth(other, auth, octets));
    }
    // Unknown AlgorithmIdentifier; a length byte past the data.
    CHECK(!verify_auth(rsa.get(), hex("03 300100 0102"), octets));
    CHECK(!verify_auth(rsa.get(), hex("40 3000"), octets));
    CHECK(!verify_auth(rsa.get(), {}, octets));
}
