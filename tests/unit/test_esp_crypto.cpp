// The ESP crypto engine, always through the real IPsec-MB engine: published
// known-answer vectors for every algorithm, then randomized packets checked
// against OpenSSL (both directions, mixed bursts, every IPsec-MB code path
// this CPU has), tampering, and the parsing / key-length errors.
#include "crypto/esp_crypto.hpp"

#include <catch2/catch.hpp>
#include "tests/support/hex.hpp"

#include <array>
#include <cmath>
#include <set>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace rampart::crypto;
using Bytes = std::vector<uint8_t>;

using rampart::testing::ascii;
using rampart::testing::cat;
using rampart::testing::hex;

namespace {

Bytes repeat(uint8_t b, size_t n) { return Bytes(n, b); }

EspTransform tf(std::string_view c, std::string_view i = "") {
    auto r = make_transform(c, i);
    REQUIRE(std::holds_alternative<EspTransform>(r));
    return std::get<EspTransform>(r);
}

// The IPsec-MB code paths this CPU can run.
std::vector<Arch> archs() {
    std::vector<Arch> out;
    for (Arch a : {Arch::sse, Arch::avx, Arch::avx2, Arch::avx512}) {
        try {
            CryptoEngine e(a);
            out.push_back(a);
        } catch (const std::runtime_error&) {
        }
    }
    return out;
}

// One engine per arch, kept for the whole run (as a worker would).
CryptoEngine& engine(Arch a) {
    static std::unique_ptr<CryptoEngine> engines[5];
    auto& e = engines[size_t(a)];
    if (!e) e = std::make_unique<CryptoEngine>(a);
    return *e;
}

// --- AEAD known answers ----------------------------------------------------

struct AeadVector {
    const char* source;
    std::string_view cipher;
    Bytes key_and_salt, iv, aad, plaintext, ciphertext, tag;
};

void check_aead(const AeadVector& v, Arch arch) {
    INFO(v.source << " on " << name(arch));
    SaCrypto sa(tf(v.cipher), v.key_and_salt, {}, arch);
    CryptoEngine& e = engine(arch);

    Bytes buf = v.plaintext;
    Bytes icv(16);
    EspOp op;
    op.sa = &sa;
    op.dir = EspDir::encrypt;
    op.iv = v.iv.data();
    op.aad = v.aad.data();
    op.aad_len = uint32_t(v.aad.size());
    op.cipher_start = buf.data();
    op.cipher_len = uint32_t(buf.size());
    op.icv = icv.data();
    REQUIRE(e.run(&op, 1) == 1);
    CHECK(op.status == EspStatus::ok);
    CHECK(buf == v.ciphertext);
    CHECK(icv == v.tag);

    op.dir = EspDir::decrypt;
    REQUIRE(e.run(&op, 1) == 1);
    CHECK(buf == v.plaintext);

    // A flipped ICV bit, ciphertext bit or AAD bit: refused, nothing left.
    for (int what = 0; what < 3; ++what) {
        buf = v.ciphertext;
        icv = v.tag;
        Bytes aad = v.aad;
        op.aad = aad.data();
        if (what == 0) icv[5] ^= 0x10;
        if (what == 1) buf[buf.size() / 2] ^= 0x01;
        if (what == 2) aad[aad.size() - 1] ^= 0x80;
        CHECK(e.run(&op, 1) == 0);
        CHECK(op.status == EspStatus::auth_failed);
        CHECK(buf == Bytes(buf.size(), 0));
    }
}

std::vector<AeadVector> aead_vectors() {
    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)" (2005),
    // Test Case 4 (AES-128) and Test Case 16 (AES-256): 60-byte plaintext,
    // 20-byte AAD, 96-bit IV; also NIST's gcmEncryptExtIV vectors. For RFC
    // 4106 the IV cafebabefacedbaddecaf888 is salt cafebabe || IV facedbaddecaf888.
    const Bytes gcm_pt = hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    const Bytes gcm_aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const Bytes salt = hex("cafebabe");
    const Bytes iv = hex("facedbaddecaf888");
    // RFC 7539 §2.8.2 (AEAD_CHACHA20_POLY1305 test vector): nonce
    // 07000000 || 4041424344454647, i.e. RFC 7634's salt || IV.
    const Bytes chacha_pt = ascii(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
        "the future, sunscreen would be it.");
    return {
        {"GCM spec Test Case 4 (AES-128)", "aes-gcm-128",
         cat(hex("feffe9928665731c6d6a8f9467308308"), salt), iv, gcm_aad, gcm_pt,
         hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
             "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"),
         hex("5bc94fbc3221a5db94fae95ae7121a47")},
        {"GCM spec Test Case 16 (AES-256)", "aes-gcm-256",
         cat(hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"), salt),
         iv, gcm_aad, gcm_pt,
         hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
             "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"),
         hex("76fc6ece0f4e1768cddf8853bb2d551b")},
        {"RFC 7539 §2.8.2 via RFC 7634 salt || IV", "chacha20-poly1305",
         cat(hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
             hex("07000000")),
         hex("4041424344454647"), hex("50515253c0c1c2c3c4c5c6c7"), chacha_pt,
         hex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
             "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
             "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
             "3ff4def08e4b7a9de576d26586cec64b6116"),
         hex("1ae10b594f09e26a7e902ecbd0600691")},
    };
}

// --- OpenSSL oracle --------------------------------------------------------

const EVP_CIPHER* evp_cipher(Cipher c) {
    switch (c) {
    case Cipher::aes_cbc_128: return EVP_aes_128_cbc();
    case Cipher::aes_cbc_256: return EVP_aes_256_cbc();
    case Cipher::aes_gcm_128: return EVP_aes_128_gcm();
    case Cipher::aes_gcm_256: return EVP_aes_256_gcm();
    case Cipher::chacha20_poly1305: return EVP_chacha20_poly1305();
    case Cipher::null: break;
    }
    return nullptr;
}

const EVP_MD* evp_md(Integrity i) {
    switch (i) {
    case Integrity::hmac_sha_256_128: return EVP_sha256();
    case Integrity::hmac_sha_384_192: return EVP_sha384();
    case Integrity::hmac_sha_512_256: return EVP_sha512();
    case Integrity::none: break;
    }
    return nullptr;
}

struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// AEAD encryption: ciphertext in place, returns the 16-byte tag.
Bytes ossl_aead_encrypt(Cipher c, const Bytes& key, const Bytes& nonce, const Bytes& aad,
                        Bytes& data) {
    std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    REQUIRE(EVP_EncryptInit_ex(ctx.get(), evp_cipher(c), nullptr, nullptr, nullptr) == 1);
    REQUIRE(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, int(nonce.size()),
                                nullptr) == 1);
    REQUIRE(EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) == 1);
    if (!aad.empty())
        REQUIRE(EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), int(aad.size())) == 1);
    if (!data.empty())
        REQUIRE(EVP_EncryptUpdate(ctx.get(), data.data(), &len, data.data(), int(data.size())) ==
                1);
    REQUIRE(EVP_EncryptFinal_ex(ctx.get(), nullptr, &len) == 1);
    Bytes tag(16);
    REQUIRE(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, tag.data()) == 1);
    return tag;
}

void ossl_cbc_encrypt(Cipher c, const Bytes& key, const uint8_t* iv, uint8_t* data, size_t n) {
    std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    REQUIRE(EVP_EncryptInit_ex(ctx.get(), evp_cipher(c), nullptr, key.data(), iv) == 1);
    EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    if (n) REQUIRE(EVP_EncryptUpdate(ctx.get(), data, &len, data, int(n)) == 1);
    REQUIRE(EVP_EncryptFinal_ex(ctx.get(), nullptr, &len) == 1);
}

Bytes ossl_hmac(Integrity i, const Bytes& key, const Bytes& data) {
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned len = 0;
    REQUIRE(HMAC(evp_md(i), key.data(), int(key.size()), data.data(), data.size(), out.data(),
                 &len) != nullptr);
    out.resize(len);
    return out;
}

// --- ESP-shaped random packets --------------------------------------------

// Layout (RFC 4303 §2): SPI | seq (8) | IV | payload+padding+trailer | ICV.
// The AAD of the AEADs (SPI | [seq-hi |] seq) lives in its own buffer.
struct Packet {
    const SaCrypto* sa = nullptr;
    size_t sa_index = 0;
    Bytes wire;        // what is sent
    Bytes plaintext;   // the cipher region before encryption
    Bytes aad;
    bool esn = false;
    uint32_t esn_high = 0;
    size_t iv_off = 8, ct_off = 0, icv_off = 0;

    EspOp op(EspDir dir) {
        const EspTransform& t = sa->transform();
        EspOp o;
        o.sa = sa;
        o.dir = dir;
        o.iv = t.iv_len() ? wire.data() + iv_off : nullptr;
        o.cipher_start = wire.data() + ct_off;
        o.cipher_len = uint32_t(icv_off - ct_off);
        o.icv = wire.data() + icv_off;
        if (t.aead()) {
            o.aad = aad.data();
            o.aad_len = uint32_t(aad.size());
        } else {
            o.auth_start = wire.data();
            o.auth_len = uint32_t(icv_off);
            o.esn = esn;
            o.esn_high = esn_high;
        }
        return o;
    }
};

struct RandomSa {
    EspTransform t;
    Bytes ckey, ikey;
    std::unique_ptr<SaCrypto> sa;
};

const std::vector<std::pair<std::string_view, std::string_view>> kAllTransforms = {
    {"aes-gcm-128", ""},
    {"aes-gcm-256", ""},
    {"chacha20-poly1305", ""},
    {"aes-cbc-128", "hmac-sha-256"},
    {"aes-cbc-128", "hmac-sha-384"},
    {"aes-cbc-128", "hmac-sha-512"},
    {"aes-cbc-256", "hmac-sha-256"},
    {"aes-cbc-256", "hmac-sha-384"},
    {"aes-cbc-256", "hmac-sha-512"},
    {"null", "hmac-sha-256"},
    {"null", "hmac-sha-384"},
    {"null", "hmac-sha-512"},
};

Bytes random_bytes(std::mt19937_64& rng, size_t n) {
    Bytes b(n);
    for (auto& x : b) x = uint8_t(rng());
    return b;
}

// Builds a random packet for `s` and its expected encryption (by OpenSSL).
Packet make_packet(std::mt19937_64& rng, const RandomSa& s, size_t sa_index, Bytes& expected) {
    const EspTransform& t = s.t;
    Packet p;
    p.sa = s.sa.get();
    p.sa_index = sa_index;
    const size_t align = t.block_align();
    size_t len;
    if (rng() % 8 == 0) len = t.aead() ? rng() % 64 : align * (rng() % 4);  // tiny
    else len = align * (1 + rng() % (1600 / align));
    if (t.aead() && rng() % 4 == 0) len = rng() % 300;  // AEADs take any length
    if (t.block_align() == 16) len = std::max(len, align);  // CBC: at least one block
    p.ct_off = 8 + t.iv_len();
    p.icv_off = p.ct_off + len;
    p.wire = random_bytes(rng, p.icv_off + t.icv_len());
    p.plaintext.assign(p.wire.begin() + p.ct_off, p.wire.begin() + p.icv_off);
    p.esn = rng() % 2;
    p.esn_high = uint32_t(rng());
    Bytes seq_hi = {uint8_t(p.esn_high >> 24), uint8_t(p.esn_high >> 16),
                    uint8_t(p.esn_high >> 8), uint8_t(p.esn_high)};

    expected = p.wire;
    if (t.aead()) {
        // RFC 4106 §5 / RFC 7634 §2.1: AAD = SPI | seq, or SPI | seq-hi | seq-lo.
        p.aad.assign(p.wire.begin(), p.wire.begin() + 4);
        if (p.esn) p.aad.insert(p.aad.end(), seq_hi.begin(), seq_hi.end());
        p.aad.insert(p.aad.end(), p.wire.begin() + 4, p.wire.begin() + 8);
        const size_t klen = s.ckey.size() - 4;
        Bytes key(s.ckey.begin(), s.ckey.begin() + klen);
        Bytes nonce(s.ckey.begin() + klen, s.ckey.end());
        nonce.insert(nonce.end(), p.wire.begin() + 8, p.wire.begin() + 16);
        Bytes data = p.plaintext;
        Bytes tag = ossl_aead_encrypt(t.cipher, key, nonce, p.aad, data);
        std::copy(data.begin(), data.end(), expected.begin() + p.ct_off);
        std::copy(tag.begin(), tag.end(), expected.begin() + p.icv_off);
        p.esn = false;  // carried in the AAD, not by the engine
    } else {
        if (t.cipher != Cipher::null)
            ossl_cbc_encrypt(t.cipher, s.ckey, expected.data() + p.iv_off,
                             expected.data() + p.ct_off, len);
        Bytes authed(expected.begin(), expected.begin() + p.icv_off);
        if (p.esn) authed.insert(authed.end(), seq_hi.begin(), seq_hi.end());
        Bytes mac = ossl_hmac(t.integrity, s.ikey, authed);
        std::copy(mac.begin(), mac.begin() + t.icv_len(), expected.begin() + p.icv_off);
    }
    return p;
}

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("crypto: engine picks an IPsec-MB code path", "[crypto]") {
    CryptoEngine e;
    INFO(e.name());
    CHECK(e.arch() != Arch::best);
    CHECK(e.arch() == best_arch());
    CHECK(e.name().starts_with("intel-ipsec-mb "));
    CHECK(e.name().find(name(e.arch())) != std::string::npos);
    CHECK(e.run(nullptr, 0) == 0);
    CHECK(e.last_error() == 0);
    REQUIRE(!archs().empty());
}

TEST_CASE("crypto: AES-GCM and ChaCha20-Poly1305 known answers", "[crypto]") {
    for (Arch a : archs())
        for (const auto& v : aead_vectors()) check_aead(v, a);
}

TEST_CASE("crypto: AEAD with an empty payload authenticates the AAD only", "[crypto]") {
    // Not an ESP packet (the trailer is always encrypted), but the engine
    // must not choke on it: GMAC / Poly1305 over the AAD, checked with OpenSSL.
    const Bytes aad = hex("0000432100000007");
    const Bytes iv = hex("0102030405060708");
    for (Arch a : archs())
        for (std::string_view c : {"aes-gcm-128", "aes-gcm-256", "chacha20-poly1305"}) {
            INFO(c << " on " << name(a));
            EspTransform t = tf(c);
            const Bytes key = repeat(0x42, t.cipher_key_len());
            SaCrypto sa(t, key, {}, a);
            Bytes icv(16), nothing(1);
            EspOp op;
            op.sa = &sa;
            op.iv = iv.data();
            op.aad = aad.data();
            op.aad_len = 8;
            op.cipher_start = nothing.data();
            op.cipher_len = 0;
            op.icv = icv.data();
            REQUIRE(engine(a).run(&op, 1) == 1);
            Bytes empty;
            const Bytes k(key.begin(), key.end() - 4);
            const Bytes nonce = cat(Bytes(key.end() - 4, key.end()), iv);
            CHECK(icv == ossl_aead_encrypt(t.cipher, k, nonce, aad, empty));
            op.dir = EspDir::decrypt;
            CHECK(engine(a).run(&op, 1) == 1);
            icv[0] ^= 1;
            CHECK(engine(a).run(&op, 1) == 0);
        }
}

TEST_CASE("crypto: AES-CBC known answers (RFC 3602 §4, SP 800-38A F.2.5)", "[crypto]") {
    struct V {
        const char* source;
        std::string_view cipher;
        Bytes key, iv, plaintext, ciphertext;
    };
    const std::vector<V> vectors = {
        {"RFC 3602 Case #1", "aes-cbc-128", hex("06a9214036b8a15b512e03d534120006"),
         hex("3dafba429d9eb430b422da802c9fac41"), ascii("Single block msg"),
         hex("e353779c1079aeb82708942dbe77181a")},
        {"RFC 3602 Case #2", "aes-cbc-128", hex("c286696d887c9aa0611bbb3e2025a45a"),
         hex("562e17996d093d28ddb3ba695a2e6f58"),
         hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
         hex("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1")},
        {"RFC 3602 Case #3", "aes-cbc-128", hex("6c3ea0477630ce21a2ce334aa746c2cd"),
         hex("c782dc4c098c66cbd9cd27d825682c81"),
         ascii("This is a 48-byte message (exactly 3 AES blocks)"),
         hex("d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5"
             "021c19216bad525c8579695d83ba2684")},
        {"RFC 3602 Case #4", "aes-cbc-128", hex("56e47a38c5598974bc46903dba290349"),
         hex("8ce82eefbea0da3c44699ed7db51b7d9"),
         hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
             "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"),
         hex("c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e"
             "35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55")},
        {"SP 800-38A F.2.5 CBC-AES256.Encrypt", "aes-cbc-256",
         hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
         hex("000102030405060708090a0b0c0d0e0f"),
         hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
             "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"),
         hex("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
             "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b")},
    };
    const Bytes ikey = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    for (Arch a : archs())
        for (const auto& v : vectors) {
            INFO(v.source << " on " << name(a));
            SaCrypto sa(tf(v.cipher, "hmac-sha-256"), v.key, ikey, a);
            // IV | data | ICV; HMAC over IV | ciphertext.
            Bytes pkt = cat(v.iv, v.plaintext);
            pkt.resize(pkt.size() + 16);
            EspOp op;
            op.sa = &sa;
            op.dir = EspDir::encrypt;
            op.iv = pkt.data();
            op.auth_start = pkt.data();
            op.auth_len = uint32_t(16 + v.plaintext.size());
            op.cipher_start = pkt.data() + 16;
            op.cipher_len = uint32_t(v.plaintext.size());
            op.icv = pkt.data() + op.auth_len;
            REQUIRE(engine(a).run(&op, 1) == 1);
            CHECK(Bytes(pkt.begin() + 16, pkt.end() - 16) == v.ciphertext);
            const Bytes mac = ossl_hmac(Integrity::hmac_sha_256_128, ikey, cat(v.iv, v.ciphertext));
            CHECK(Bytes(pkt.end() - 16, pkt.end()) == Bytes(mac.begin(), mac.begin() + 16));
            op.dir = EspDir::decrypt;
            REQUIRE(engine(a).run(&op, 1) == 1);
            CHECK(Bytes(pkt.begin() + 16, pkt.end() - 16) == v.plaintext);
        }
}

TEST_CASE("crypto: HMAC-SHA-256/384/512 truncated ICVs (RFC 4868 §2.7.2)", "[crypto]") {
    // RFC 4868 §2.7.2.1-3: the RFC 4231 cases 1 and 2 with keys as long as
    // the digest; the ICV is the leftmost 128/192/256 bits.
    struct V {
        const char* source;
        std::string_view integrity;
        Bytes key, data, icv;
    };
    const Bytes hi = ascii("Hi There");
    const Bytes what = ascii("what do ya want for nothing?");
    auto jefe = [](size_t n) {
        Bytes k;
        while (k.size() < n) k.push_back("Jefe"[k.size() % 4]);
        return k;
    };
    const std::vector<V> vectors = {
        {"AUTH256-1", "hmac-sha-256", repeat(0x0b, 32), hi,
         hex("198a607eb44bfbc69903a0f1cf2bbdc5")},
        {"AUTH256-2", "hmac-sha-256", jefe(32), what, hex("167f928588c5cc2eef8e3093caa0e87c")},
        {"AUTH384-1", "hmac-sha-384", repeat(0x0b, 48), hi,
         hex("b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973")},
        {"AUTH384-2", "hmac-sha-384", jefe(48), what,
         hex("2c7353974f1842fd66d53c452ca42122b28c0b594cfb184d")},
        {"AUTH512-1", "hmac-sha-512", repeat(0x0b, 64), hi,
         hex("637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8")},
        {"AUTH512-2", "hmac-sha-512", jefe(64), what,
         hex("cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454")},
    };
    for (Arch a : archs())
        for (const auto& v : vectors) {
            INFO(v.source << " on " << name(a));
            // ESP-NULL: the whole "packet" is authenticated, nothing encrypted.
            SaCrypto sa(tf("null", v.integrity), {}, v.key, a);
            Bytes pkt = v.data;
            pkt.resize(pkt.size() + v.icv.size());
            EspOp op;
            op.sa = &sa;
            op.dir = EspDir::encrypt;
            op.auth_start = pkt.data();
            op.auth_len = uint32_t(v.data.size());
            op.icv = pkt.data() + v.data.size();
            REQUIRE(engine(a).run(&op, 1) == 1);
            CHECK(Bytes(pkt.begin() + v.data.size(), pkt.end()) == v.icv);
            CHECK(Bytes(pkt.begin(), pkt.begin() + v.data.size()) == v.data);
            op.dir = EspDir::decrypt;
            CHECK(engine(a).run(&op, 1) == 1);
            pkt.back() ^= 1;
            CHECK(engine(a).run(&op, 1) == 0);
            CHECK(op.status == EspStatus::auth_failed);
            CHECK(Bytes(pkt.begin(), pkt.begin() + v.data.size()) == v.data);  // ESP-NULL: untouched
        }
}

TEST_CASE("crypto: random packets against OpenSSL, mixed bursts, both directions",
          "[crypto]") {
    std::mt19937_64 rng(0x5eed'e5b0'c0de'0001ULL);
    for (Arch a : archs()) {
        INFO("arch " << name(a));
        CryptoEngine& e = engine(a);
        // Three SAs per transform with random keys.
        std::vector<RandomSa> sas;
        for (auto [c, i] : kAllTransforms)
            for (int n = 0; n < 3; ++n) {
                RandomSa s;
                s.t = tf(c, i);
                s.ckey = random_bytes(rng, s.t.cipher_key_len());
                s.ikey = random_bytes(rng, s.t.integrity_key_len());
                s.sa = std::make_unique<SaCrypto>(s.t, s.ckey, s.ikey, a);
                sas.push_back(std::move(s));
            }
        // 300 packets per transform, in bursts of 1..150 (so some cross the
        // engine's 64-op chunks) mixing every SA.
        const size_t total = 300 * kAllTransforms.size();
        std::vector<Packet> pkts;
        std::vector<Bytes> expected(total);
        for (size_t k = 0; k < total; ++k) {
            size_t si = rng() % sas.size();
            pkts.push_back(make_packet(rng, sas[si], si, expected[k]));
        }
        std::vector<EspOp> ops;
        size_t next = 0;
        while (next < total) {
            size_t n = std::min<size_t>(1 + rng() % 150, total - next);
            ops.clear();
            for (size_t k = next; k < next + n; ++k) ops.push_back(pkts[k].op(EspDir::encrypt));
            e.run(ops.data(), unsigned(n));
            for (size_t k = next; k < next + n; ++k) {
                INFO("packet " << k << " status " << name(ops[k - next].status) << " error "
                               << e.last_error_string() << " cipher_len " << ops[k - next].cipher_len
                               << " auth_len " << ops[k - next].auth_len)
                REQUIRE(ops[k - next].status == EspStatus::ok);
                INFO("packet " << k << " " << sas[pkts[k].sa_index].t.to_string() << " len "
                               << pkts[k].wire.size() << " esn " << pkts[k].esn);
                REQUIRE(pkts[k].wire == expected[k]);
            }
            // Decrypt the same burst, with every fourth packet tampered.
            ops.clear();
            std::vector<int> tamper(n, -1);
            for (size_t k = next; k < next + n; ++k) {
                Packet& p = pkts[k];
                if ((k - next) % 4 == 3) {
                    // What to break: ICV, ciphertext, header (or AAD), seq-hi.
                    int what = int(rng() % 4);
                    if (what == 1 && p.icv_off == p.ct_off) what = 0;  // nothing to break
                    if (what == 3 && !p.esn) what = 2;
                    tamper[k - next] = what;
                    if (what == 0) p.wire[p.icv_off + rng() % p.sa->icv_len()] ^= 0x04;
                    if (what == 1) p.wire[p.ct_off + rng() % (p.icv_off - p.ct_off)] ^= 0x80;
                    if (what == 2) {
                        if (!p.aad.empty()) p.aad[rng() % p.aad.size()] ^= 0x01;
                        else p.wire[rng() % 8] ^= 0x01;
                    }
                    if (what == 3) p.esn_high ^= 0x100;
                }
                ops.push_back(p.op(EspDir::decrypt));
            }
            e.run(ops.data(), unsigned(n));
            for (size_t k = next; k < next + n; ++k) {
                Packet& p = pkts[k];
                const EspOp& op = ops[k - next];
                INFO("packet " << k << " " << p.sa->transform().to_string() << " tamper "
                               << tamper[k - next]);
                const Bytes region(p.wire.begin() + p.ct_off, p.wire.begin() + p.icv_off);
                if (tamper[k - next] < 0) {
                    REQUIRE(op.status == EspStatus::ok);
                    REQUIRE(region == p.plaintext);
                    // The ICV field is intact after an ESN check.
                    REQUIRE(Bytes(p.wire.begin() + p.icv_off, p.wire.end()) ==
                            Bytes(expected[k].begin() + p.icv_off, expected[k].end()));
                } else {
                    REQUIRE(op.status == EspStatus::auth_failed);
                    if (p.sa->transform().cipher != Cipher::null)
                        REQUIRE(region == Bytes(region.size(), 0));
                }
            }
            next += n;
        }
        CHECK(e.last_error() == 0);
    }
}

TEST_CASE("crypto: descriptors the engine refuses", "[crypto]") {
    CryptoEngine& e = engine(best_arch());
    const Bytes ck = repeat(0x11, 16), ik = repeat(0x22, 32);
    SaCrypto sa(tf("aes-cbc-128", "hmac-sha-256"), ck, ik);
    Bytes pkt(8 + 16 + 32 + 16 + 4);
    auto base = [&] {
        EspOp op;
        op.sa = &sa;
        op.iv = pkt.data() + 8;
        op.auth_start = pkt.data();
        op.auth_len = 8 + 16 + 32;
        op.cipher_start = pkt.data() + 24;
        op.cipher_len = 32;
        op.icv = pkt.data() + 56;
        return op;
    };
    std::vector<EspOp> ops(7, base());
    ops[1].cipher_len = 31;                  // not whole AES blocks
    ops[2].sa = nullptr;
    ops[3].auth_len = 8 + 16;                // ciphertext not authenticated
    ops[4].esn = true;                       // fine: ICV follows the authenticated bytes
    ops[5].esn = true;
    ops[5].icv = pkt.data() + 60;            // ESN needs icv == auth_start + auth_len
    ops[6].icv = nullptr;
    for (auto& op : ops) op.dir = EspDir::encrypt;
    CHECK(e.run(ops.data(), unsigned(ops.size())) == 2);
    CHECK(ops[0].status == EspStatus::ok);
    CHECK(ops[1].status == EspStatus::invalid);
    CHECK(ops[2].status == EspStatus::invalid);
    CHECK(ops[3].status == EspStatus::invalid);
    CHECK(ops[4].status == EspStatus::ok);
    CHECK(ops[5].status == EspStatus::invalid);
    CHECK(ops[6].status == EspStatus::invalid);

    // An AEAD takes its ESN in the AAD.
    SaCrypto gcm(tf("aes-gcm-128"), repeat(0x33, 20), {});
    EspOp g = base();
    g.sa = &gcm;
    g.aad = pkt.data();
    g.aad_len = 8;
    g.esn = true;
    CHECK(e.run(&g, 1) == 0);
    CHECK(g.status == EspStatus::invalid);

    // An SA keyed for another code path (GCM hash-key tables differ).
    auto all = archs();
    for (Arch a : all)
        if (a != e.arch()) {
            SaCrypto other(tf("aes-gcm-128"), repeat(0x33, 20), {}, a);
            g.sa = &other;
            g.esn = false;
            CHECK(e.run(&g, 1) == 0);
            CHECK(g.status == EspStatus::invalid);
        }
}

TEST_CASE("crypto: transform names", "[crypto]") {
    auto ok = [](std::string_view c, std::string_view i) {
        auto r = make_transform(c, i);
        INFO(c << " / " << i);
        REQUIRE(std::holds_alternative<EspTransform>(r));
        return std::get<EspTransform>(r);
    };
    auto err = [](std::string_view c, std::string_view i) {
        auto r = make_transform(c, i);
        INFO(c << " / " << i);
        REQUIRE(std::holds_alternative<std::string>(r));
        return std::get<std::string>(r);
    };
    for (auto [c, i] : kAllTransforms) {
        EspTransform t = ok(c, i);
        CHECK(name(t.cipher) == c);
        if (!t.aead()) CHECK(name(t.integrity) == i);
        CHECK(t.to_string() == (t.aead() ? std::string(c) : std::string(c) + " " + std::string(i)));
    }
    CHECK(ok("aes-gcm-256", "none").integrity == Integrity::none);
    CHECK(ok("aes-cbc-256", "hmac-sha-384-192").integrity == Integrity::hmac_sha_384_192);
    CHECK(ok("null", "hmac-sha-512-256").integrity == Integrity::hmac_sha_512_256);

    CHECK(err("aes-gcm-129", "") ==
          "unknown cipher 'aes-gcm-129': expected one of: null, aes-cbc-128, aes-cbc-256, "
          "aes-gcm-128, aes-gcm-256, chacha20-poly1305");
    CHECK(err("AES-GCM-128", "") .starts_with("unknown cipher 'AES-GCM-128'"));
    CHECK(err("aes-cbc-128", "hmac-sha-1") ==
          "unknown integrity algorithm 'hmac-sha-1': expected one of: none, hmac-sha-256, "
          "hmac-sha-384, hmac-sha-512");
    CHECK(err("aes-cbc-128", "hmac-sha-256-96").starts_with("unknown integrity algorithm"));
    CHECK(err("aes-gcm-128", "hmac-sha-256") ==
          "aes-gcm-128 is a combined-mode (AEAD) cipher: integrity must be 'none', got "
          "'hmac-sha-256'");
    CHECK(err("null", "none").starts_with("cipher 'null' needs an integrity algorithm"));
    CHECK(err("null", "").starts_with("unknown integrity algorithm ''"));
    CHECK(err("aes-cbc-256", "none").starts_with("aes-cbc-256 needs an integrity algorithm"));

    // Sizes per RFC.
    struct S {
        std::string_view c, i;
        size_t ckey, ikey, iv, icv, align;
    };
    for (auto s : {S{"aes-gcm-128", "", 20, 0, 8, 16, 4}, S{"aes-gcm-256", "", 36, 0, 8, 16, 4},
                   S{"chacha20-poly1305", "", 36, 0, 8, 16, 4},
                   S{"aes-cbc-128", "hmac-sha-256", 16, 32, 16, 16, 16},
                   S{"aes-cbc-256", "hmac-sha-384", 32, 48, 16, 24, 16},
                   S{"aes-cbc-256", "hmac-sha-512", 32, 64, 16, 32, 16},
                   S{"null", "hmac-sha-256", 0, 32, 0, 16, 4}}) {
        EspTransform t = ok(s.c, s.i);
        INFO(t.to_string());
        CHECK(t.cipher_key_len() == s.ckey);
        CHECK(t.integrity_key_len() == s.ikey);
        CHECK(t.iv_len() == s.iv);
        CHECK(t.icv_len() == s.icv);
        CHECK(t.block_align() == s.align);
    }
}

TEST_CASE("crypto: key lengths", "[crypto]") {
    auto msg = [](EspTransform t, size_t ck, size_t ik) -> std::string {
        try {
            SaCrypto sa(t, Bytes(ck, 1), Bytes(ik, 2));
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "accepted";
    };
    CHECK(msg(tf("aes-gcm-128"), 20, 0) == "accepted");
    CHECK(msg(tf("aes-gcm-128"), 16, 0) ==
          "aes-gcm-128 needs a 20-byte key (16-byte key + 4-byte salt), got 16");
    CHECK(msg(tf("aes-gcm-256"), 32, 0) ==
          "aes-gcm-256 needs a 36-byte key (32-byte key + 4-byte salt), got 32");
    CHECK(msg(tf("chacha20-poly1305"), 32, 0) ==
          "chacha20-poly1305 needs a 36-byte key (32-byte key + 4-byte salt), got 32");
    CHECK(msg(tf("aes-gcm-128"), 20, 32) == "aes-gcm-128 takes no integrity key, got 32 bytes");
    CHECK(msg(tf("aes-cbc-128", "hmac-sha-256"), 32, 32) ==
          "aes-cbc-128 needs a 16-byte key, got 32");
    CHECK(msg(tf("aes-cbc-256", "hmac-sha-256"), 16, 32) ==
          "aes-cbc-256 needs a 32-byte key, got 16");
    CHECK(msg(tf("aes-cbc-256", "hmac-sha-384"), 32, 32) ==
          "hmac-sha-384 needs a 48-byte key (RFC 4868 §2.1.1), got 32");
    CHECK(msg(tf("aes-cbc-256", "hmac-sha-512"), 32, 64) == "accepted");
    CHECK(msg(tf("null", "hmac-sha-256"), 16, 32) == "cipher 'null' takes no key, got 16 bytes");
    CHECK(msg(tf("null", "hmac-sha-256"), 0, 20) ==
          "hmac-sha-256 needs a 32-byte key (RFC 4868 §2.1.1), got 20");
    // A hand-built pair that make_transform would refuse.
    CHECK(msg(EspTransform{Cipher::aes_gcm_128, Integrity::hmac_sha_256_128}, 20, 32)
              .starts_with("aes-gcm-128 is a combined-mode (AEAD) cipher"));
    CHECK(msg(EspTransform{Cipher::null, Integrity::none}, 0, 0)
              .starts_with("cipher 'null' needs an integrity algorithm"));
}

TEST_CASE("crypto: CBC IVs are unpredictable PRF outputs, never repeated within an SA", "[crypto][iv]") {
    CryptoEngine e;
    const std::vector<uint8_t> key(16, 0x42), hkey(32, 0x24);
    const EspTransform t = std::get<EspTransform>(make_transform("aes-cbc-128", "hmac-sha-256"));
    SaCrypto a(t, key, hkey), b(t, key, hkey);  // same keys, separate SAs
    std::set<std::array<uint8_t, 16>> seen;
    std::array<uint8_t, 16> iv{}, other{};
    unsigned ones = 0;
    for (uint64_t seq = 1; seq <= 100000; ++seq) {
        e.cbc_iv(a, seq, iv.data());
        CHECK(seen.insert(iv).second);
        for (uint8_t x : iv) ones += unsigned(__builtin_popcount(x));
    }
    // Balanced bits (a counter or a constant would not be): 100000 × 128 bits, mean 64 per IV.
    CHECK(std::abs(double(ones) / 100000 - 64.0) < 0.2);
    e.cbc_iv(a, 7, iv.data());
    e.cbc_iv(a, 7, other.data());
    CHECK(iv == other);  // a function of (SA, sequence number)
    e.cbc_iv(b, 7, other.data());
    CHECK(iv != other);  // each SA draws its own IV key
    const EspTransform t256 = std::get<EspTransform>(make_transform("aes-cbc-256", "hmac-sha-512"));
    SaCrypto c(t256, std::vector<uint8_t>(32, 1), std::vector<uint8_t>(64, 2));
    e.cbc_iv(c, 7, other.data());
    CHECK(iv != other);
}
