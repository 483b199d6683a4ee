// IKEv2 cryptography through OpenSSL 3 EVP; see crypto.hpp.
#include "slowpath/ike/crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace rampart::ike {

namespace {

using Span = std::span<const uint8_t>;

// Owners for the OpenSSL objects used in one call.
struct Free {
    void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
    void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
    void operator()(BIGNUM* p) const { BN_clear_free(p); }
    void operator()(BN_CTX* p) const { BN_CTX_free(p); }
    void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
    void operator()(EC_POINT* p) const { EC_POINT_free(p); }
    void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
template <class T> using Own = std::unique_ptr<T, Free>;

EVP_MAC* hmac() {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return mac;
}

const char* digest_name(PrfAlg a) {
    switch (a) {
    case PrfAlg::hmac_sha2_256: return "SHA256";
    case PrfAlg::hmac_sha2_384: return "SHA384";
    case PrfAlg::hmac_sha2_512: return "SHA512";
    }
    return "SHA256";
}

// HMAC with the digest of `a` over the parts; out gets prf_len(a) bytes.
void hmac_into(PrfAlg a, Span key, std::initializer_list<Span> parts, uint8_t* out) {
    Own<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(hmac()));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name(a)), 0),
        OSSL_PARAM_construct_end(),
    };
    static const uint8_t kEmpty = 0;
    size_t outl = 0;
    if (!ctx || !EVP_MAC_init(ctx.get(), key.empty() ? &kEmpty : key.data(), key.size(), params)) std::abort();
    for (Span p : parts)
        if (!p.empty() && !EVP_MAC_update(ctx.get(), p.data(), p.size())) std::abort();
    if (!EVP_MAC_final(ctx.get(), out, &outl, prf_len(a)) || outl != prf_len(a)) std::abort();
}

std::optional<PrfAlg> integ_hash(uint16_t integ) {
    switch (integ) {
    case integ_id::hmac_sha2_256_128: return PrfAlg::hmac_sha2_256;
    case integ_id::hmac_sha2_384_192: return PrfAlg::hmac_sha2_384;
    case integ_id::hmac_sha2_512_256: return PrfAlg::hmac_sha2_512;
    default: return std::nullopt;
    }
}

const EVP_CIPHER* evp_cipher(const CipherSuite& cs) {
    if (cs.encr == encr_id::aes_gcm_16) return cs.key_bits == 128 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    return cs.key_bits == 128 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
}

void be64(uint64_t v, uint8_t* p) {
    for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (56 - 8 * i));
}

Secret take(const Secret& all, size_t& off, size_t n) {
    Secret s(all.begin() + off, all.begin() + off + n);
    off += n;
    return s;
}

// ---------------------------------------------------------------- SK payload core

// AES-GCM (RFC 5282): nonce = salt (last 4 bytes of the keymat) | IV.
bool gcm(bool enc, const SkKeys& k, Span iv, Span aad, Span in, uint8_t* out, uint8_t* tag) {
    const size_t klen = k.encr.size() - 4;
    uint8_t nonce[12];
    std::memcpy(nonce, k.encr.data() + klen, 4);
    std::memcpy(nonce + 4, iv.data(), 8);
    Own<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
    int outl = 0;
    if (!ctx || !EVP_CipherInit_ex(ctx.get(), evp_cipher(k.suite), nullptr, nullptr, nullptr, enc) ||
        !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) ||
        !EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, k.encr.data(), nonce, enc) ||
        !EVP_CipherUpdate(ctx.get(), nullptr, &outl, aad.data(), int(aad.size())) ||
        !EVP_CipherUpdate(ctx.get(), out, &outl, in.data(), int(in.size())))
        return false;
    if (!enc && !EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag)) return false;
    if (EVP_CipherFinal_ex(ctx.get(), out + outl, &outl) <= 0) return false;
    return !enc || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag);
}

bool cbc(bool enc, const SkKeys& k, Span iv, Span in, uint8_t* out) {
    Own<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
    int outl = 0, fin = 0;
    return ctx && EVP_CipherInit_ex(ctx.get(), evp_cipher(k.suite), nullptr, k.encr.data(), iv.data(), enc) &&
           EVP_CIPHER_CTX_set_padding(ctx.get(), 0) &&
           EVP_CipherUpdate(ctx.get(), out, &outl, in.data(), int(in.size())) &&
           EVP_CipherFinal_ex(ctx.get(), out + outl, &fin) > 0;
}

// Builds header | encrypted payload generic header | [SKF numbers] | IV |
// ciphertext | ICV around `plain`.
Bytes seal(const SkKeys& k, const Header& h0, PayloadType type, PayloadType inner_first, uint16_t number,
           uint16_t total, Span plain, Span iv_in) {
    const CipherSuite& cs = k.suite;
    if (!cs.supported() || k.encr.size() != cs.encr_keymat_len() || k.integ.size() != cs.integ_key_len()) return {};
    const size_t fixed = kPayloadHeaderLen + (type == PayloadType::skf ? 4 : 0);
    const size_t block = cs.block_len();
    const size_t pad = (block - (plain.size() + 1) % block) % block;
    const size_t ct_len = plain.size() + pad + 1;
    const size_t iv_len = cs.iv_len(), icv_len = cs.icv_len();
    const size_t payload_len = fixed + iv_len + ct_len + icv_len;
    Bytes b(kHeaderLen + payload_len);
    Header h = h0;
    h.next_payload = type;
    h.length = uint32_t(b.size());
    encode_header(h, b.data());
    uint8_t* p = b.data() + kHeaderLen;
    p[0] = uint8_t(inner_first);
    p[1] = 0;
    p[2] = uint8_t(payload_len >> 8);
    p[3] = uint8_t(payload_len);
    if (type == PayloadType::skf) {
        p[4] = uint8_t(number >> 8);
        p[5] = uint8_t(number);
        p[6] = uint8_t(total >> 8);
        p[7] = uint8_t(total);
    }
    uint8_t* iv = p + fixed;
    if (iv_in.size() == iv_len) std::memcpy(iv, iv_in.data(), iv_len);
    else if (RAND_bytes(iv, int(iv_len)) != 1) return {};
    // Plaintext | zero padding | pad length, encrypted in place.
    Secret pt(ct_len, 0);
    std::copy(plain.begin(), plain.end(), pt.begin());
    pt.back() = uint8_t(pad);
    uint8_t* ct = iv + iv_len;
    uint8_t* icv = ct + ct_len;
    const Span aad(b.data(), kHeaderLen + fixed);
    if (cs.aead()) {
        if (!gcm(true, k, Span(iv, iv_len), aad, pt, ct, icv)) return {};
    } else {
        if (!cbc(true, k, Span(iv, iv_len), pt, ct)) return {};
        // RFC 7296 §3.14: the ICV covers the message from the IKE header to the end of the ciphertext.
        uint8_t mac[64];
        hmac_into(*integ_hash(cs.integ), k.integ, {Span(b.data(), size_t(icv - b.data()))}, mac);
        std::memcpy(icv, mac, icv_len);
        secure_wipe(mac, sizeof mac);
    }
    return b;
}

// ---------------------------------------------------------------- DER for RFC 7427

Bytes der(uint8_t tag, std::initializer_list<Span> parts) {
    size_t n = 0;
    for (Span p : parts) n += p.size();
    Bytes out;
    out.reserve(3 + n);
    out.push_back(tag);
    if (n >= 128) out.push_back(0x81);  // our structures stay below 256 bytes
    out.push_back(uint8_t(n));
    for (Span p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
Bytes oid(std::initializer_list<uint8_t> body) {
    const Bytes b(body);
    return der(0x06, {b});
}
const Bytes kNull{0x05, 0x00};

Bytes hash_oid(int bits) {
    const uint8_t last = bits == 256 ? 1 : bits == 384 ? 2 : 3;
    return oid({0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, last});  // id-sha256/384/512
}

struct SchemeInfo {
    SigScheme s;
    const char* md;
    int bits;
    enum Kind { pkcs1, pss, ecdsa } kind;
};
constexpr SchemeInfo kSchemes[] = {
    {SigScheme::rsa_pkcs1_sha256, "SHA256", 256, SchemeInfo::pkcs1},
    {SigScheme::rsa_pkcs1_sha384, "SHA384", 384, SchemeInfo::pkcs1},
    {SigScheme::rsa_pkcs1_sha512, "SHA512", 512, SchemeInfo::pkcs1},
    {SigScheme::rsa_pss_sha256, "SHA256", 256, SchemeInfo::pss},
    {SigScheme::rsa_pss_sha384, "SHA384", 384, SchemeInfo::pss},
    {SigScheme::rsa_pss_sha512, "SHA512", 512, SchemeInfo::pss},
    {SigScheme::ecdsa_sha256, "SHA256", 256, SchemeInfo::ecdsa},
    {SigScheme::ecdsa_sha384, "SHA384", 384, SchemeInfo::ecdsa},
    {SigScheme::ecdsa_sha512, "SHA512", 512, SchemeInfo::ecdsa},
};
const SchemeInfo& info(SigScheme s) { return kSchemes[size_t(s)]; }

// RSASSA-PSS-params with the trailer field spelled out ([3] INTEGER 1), the
// form some implementations send; DER proper omits it. Accepted on input.
Bytes pss_with_trailer(int bits) {
    const Bytes alg = der(0x30, {hash_oid(bits), kNull});
    const Bytes mgf = der(0x30, {oid({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08}), alg});
    const Bytes salt = der(0x02, {Bytes{uint8_t(bits / 8)}});
    const Bytes trailer = der(0xa3, {der(0x02, {Bytes{1}})});
    const Bytes params = der(0x30, {der(0xa0, {alg}), der(0xa1, {mgf}), der(0xa2, {salt}), trailer});
    return der(0x30, {oid({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a}), params});
}

bool key_fits(EVP_PKEY* key, const SchemeInfo& in) {
    return in.kind == SchemeInfo::ecdsa ? EVP_PKEY_is_a(key, "EC") : EVP_PKEY_is_a(key, "RSA");
}

// Sets up a DigestSign/DigestVerify context for the scheme.
bool sig_init(EVP_MD_CTX* md, EVP_PKEY* key, const SchemeInfo& in, bool sign) {
    EVP_PKEY_CTX* pctx = nullptr;
    const int ok = sign ? EVP_DigestSignInit_ex(md, &pctx, in.md, nullptr, nullptr, key, nullptr)
                        : EVP_DigestVerifyInit_ex(md, &pctx, in.md, nullptr, nullptr, key, nullptr);
    if (ok != 1) return false;
    if (in.kind == SchemeInfo::pss)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, in.md, nullptr) > 0;
    if (in.kind == SchemeInfo::pkcs1) return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    return true;
}

// ---------------------------------------------------------------- DH helpers

struct GroupInfo {
    uint16_t id;
    const char* name;  // OpenSSL group name
    size_t pub_len;
    size_t coord_len;  // ECP
};
constexpr GroupInfo kGroups[] = {
    {dh_id::modp2048, "modp_2048", 256, 0},
    {dh_id::ecp256, "P-256", 64, 32},
    {dh_id::ecp384, "P-384", 96, 48},
    {dh_id::curve25519, "X25519", 32, 0},
};
const GroupInfo* group_info(uint16_t g) {
    for (const auto& gi : kGroups)
        if (gi.id == g) return &gi;
    return nullptr;
}

EVP_PKEY* from_params(const char* type, int selection, OSSL_PARAM_BLD* bld) {
    Own<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
    Own<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) != 1)
        return nullptr;
    return key;
}

// The peer's KE data as an EVP_PKEY of our group, checked (range / on curve).
Own<EVP_PKEY> peer_key(const GroupInfo& g, Span data) {
    if (data.size() != g.pub_len) return nullptr;
    Own<EVP_PKEY> key;
    if (g.id == dh_id::curve25519) {
        key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, data.data(), data.size()));
        return key;  // every u coordinate is acceptable (RFC 7748 §5); the zero result is checked later
    }
    Own<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, g.name, 0)) return nullptr;
    Bytes point;
    Own<BIGNUM> y;
    if (g.id == dh_id::modp2048) {
        y.reset(BN_bin2bn(data.data(), int(data.size()), nullptr));
        if (!y || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, y.get())) return nullptr;
        key.reset(from_params("DH", EVP_PKEY_PUBLIC_KEY, bld.get()));
    } else {
        // RFC 5903 §7: x | y; OpenSSL wants the SEC1 uncompressed form.
        point.push_back(0x04);
        point.insert(point.end(), data.begin(), data.end());
        if (!OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
            return nullptr;
        key.reset(from_params("EC", EVP_PKEY_PUBLIC_KEY, bld.get()));
    }
    if (!key) return nullptr;
    Own<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return key;
}

}  // namespace

// ---------------------------------------------------------------- secrets, PRF

void secure_wipe(void* p, size_t n) { OPENSSL_cleanse(p, n); }

size_t prf_len(PrfAlg a) {
    switch (a) {
    case PrfAlg::hmac_sha2_256: return 32;
    case PrfAlg::hmac_sha2_384: return 48;
    case PrfAlg::hmac_sha2_512: return 64;
    }
    return 0;
}

std::optional<PrfAlg> prf_from_id(uint16_t id) {
    if (id >= prf_id::hmac_sha2_256 && id <= prf_id::hmac_sha2_512) return PrfAlg(id);
    return std::nullopt;
}

Secret prf(PrfAlg a, Span key, Span data) { return prf(a, key, {data}); }

Secret prf(PrfAlg a, Span key, std::initializer_list<Span> data) {
    Secret out(prf_len(a));
    hmac_into(a, key, data, out.data());
    return out;
}

Secret prf_plus(PrfAlg a, Span key, Span seed, size_t len) {
    const size_t n = prf_len(a);
    if (len > 255 * n) return {};
    Secret out;
    out.reserve(len + n);
    Secret t;  // T(i-1)
    for (uint8_t i = 1; out.size() < len; ++i) {
        const uint8_t counter = i;
        t = prf(a, key, {Span(t), seed, Span(&counter, 1)});
        out.insert(out.end(), t.begin(), t.end());
    }
    out.resize(len);
    return out;
}

// ---------------------------------------------------------------- cipher suite

size_t CipherSuite::encr_keymat_len() const { return key_bits / 8 + (aead() ? 4 : 0); }
size_t CipherSuite::integ_key_len() const {
    auto h = integ_hash(integ);
    return h ? prf_len(*h) : 0;
}
size_t CipherSuite::iv_len() const { return aead() ? 8 : 16; }
size_t CipherSuite::icv_len() const { return aead() ? 16 : integ_key_len() / 2; }
size_t CipherSuite::block_len() const { return aead() ? 1 : 16; }
bool CipherSuite::supported() const {
    if (key_bits != 128 && key_bits != 256) return false;
    if (encr == encr_id::aes_gcm_16) return integ == integ_id::none;
    return encr == encr_id::aes_cbc && integ_hash(integ).has_value();
}

Bytes icv(uint16_t integ, Span key, Span data) {
    const auto h = integ_hash(integ);
    if (!h) return {};
    Bytes out(prf_len(*h));
    hmac_into(*h, key, {data}, out.data());
    out.resize(out.size() / 2);
    return out;
}

// ---------------------------------------------------------------- key derivation

Secret skeyseed(PrfAlg a, Span ni, Span nr, Span g_ir) {
    Secret key(ni.begin(), ni.end());
    key.insert(key.end(), nr.begin(), nr.end());
    return prf(a, key, g_ir);
}

Secret skeyseed_rekey(PrfAlg a, Span old_sk_d, Span g_ir, Span ni, Span nr) {
    return prf(a, old_sk_d, {g_ir, ni, nr});
}

IkeKeys derive_ike_keys(PrfAlg a, const CipherSuite& cs, Span seed_key, Span ni, Span nr, uint64_t spi_i,
                        uint64_t spi_r) {
    Bytes seed(ni.begin(), ni.end());
    seed.insert(seed.end(), nr.begin(), nr.end());
    seed.resize(seed.size() + 16);
    be64(spi_i, &seed[seed.size() - 16]);
    be64(spi_r, &seed[seed.size() - 8]);
    const size_t p = prf_len(a), i = cs.integ_key_len(), e = cs.encr_keymat_len();
    const Secret all = prf_plus(a, seed_key, seed, 3 * p + 2 * i + 2 * e);
    IkeKeys k;
    size_t off = 0;
    k.sk_d = take(all, off, p);
    k.sk_ai = take(all, off, i);
    k.sk_ar = take(all, off, i);
    k.sk_ei = take(all, off, e);
    k.sk_er = take(all, off, e);
    k.sk_pi = take(all, off, p);
    k.sk_pr = take(all, off, p);
    return k;
}

ChildKeys derive_child_keys(PrfAlg a, Span sk_d, const CipherSuite& cs, Span ni, Span nr, Span g_ir_pfs) {
    Secret seed(g_ir_pfs.begin(), g_ir_pfs.end());
    seed.insert(seed.end(), ni.begin(), ni.end());
    seed.insert(seed.end(), nr.begin(), nr.end());
    const size_t e = cs.encr_keymat_len(), i = cs.integ_key_len();
    const Secret all = prf_plus(a, sk_d, seed, 2 * (e + i));
    ChildKeys k;
    size_t off = 0;
    k.encr_i = take(all, off, e);
    k.integ_i = take(all, off, i);
    k.encr_r = take(all, off, e);
    k.integ_r = take(all, off, i);
    return k;
}

// ---------------------------------------------------------------- DH

bool DhKey::supported(uint16_t group) { return group_info(group) != nullptr; }
size_t DhKey::public_len(uint16_t group) {
    const GroupInfo* g = group_info(group);
    return g ? g->pub_len : 0;
}

DhKey::~DhKey() { EVP_PKEY_free(key_); }

std::unique_ptr<DhKey> DhKey::generate(uint16_t group) {
    const GroupInfo* g = group_info(group);
    if (!g) return nullptr;
    EVP_PKEY* key = nullptr;
    if (group == dh_id::curve25519) {
        key = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
    } else if (group == dh_id::modp2048) {
        Own<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(g->name), 0),
            OSSL_PARAM_construct_end(),
        };
        if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_params(ctx.get(), params) != 1 ||
            EVP_PKEY_generate(ctx.get(), &key) != 1)
            return nullptr;
    } else {
        key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", g->name);
    }
    if (!key) return nullptr;
    return std::unique_ptr<DhKey>(new DhKey(group, key));
}

std::unique_ptr<DhKey> DhKey::from_private(uint16_t group, Span priv) {
    const GroupInfo* g = group_info(group);
    if (!g || group == dh_id::modp2048) return nullptr;
    EVP_PKEY* key = nullptr;
    if (group == dh_id::curve25519) {
        if (priv.size() != 32) return nullptr;
        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size());
    } else {
        if (priv.size() != g->coord_len) return nullptr;
        Own<EC_GROUP> ecg(EC_GROUP_new_by_curve_name(group == dh_id::ecp256 ? NID_X9_62_prime256v1 : NID_secp384r1));
        Own<BIGNUM> d(BN_bin2bn(priv.data(), int(priv.size()), nullptr));
        Own<BN_CTX> bctx(BN_CTX_new());
        if (!ecg || !d || !bctx) return nullptr;
        Own<EC_POINT> q(EC_POINT_new(ecg.get()));
        uint8_t pub[1 + 2 * 48];
        size_t pub_len = 0;
        if (!q || !EC_POINT_mul(ecg.get(), q.get(), d.get(), nullptr, nullptr, bctx.get()) ||
            (pub_len = EC_POINT_point2oct(ecg.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub,
                                          bctx.get())) == 0)
            return nullptr;
        Own<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, g->name, 0) ||
            !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) ||
            !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len))
            return nullptr;
        key = from_params("EC", EVP_PKEY_KEYPAIR, bld.get());
    }
    if (!key) return nullptr;
    return std::unique_ptr<DhKey>(new DhKey(group, key));
}

Bytes DhKey::public_value() const {
    const GroupInfo& g = *group_info(group_);
    Bytes out(g.pub_len);
    if (group_ == dh_id::curve25519) {
        size_t len = out.size();
        if (EVP_PKEY_get_raw_public_key(key_, out.data(), &len) != 1 || len != out.size()) return {};
        return out;
    }
    if (group_ == dh_id::modp2048) {
        BIGNUM* y = nullptr;
        if (EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_PUB_KEY, &y) != 1) return {};
        Own<BIGNUM> own(y);
        // §3.4: padded with zeros to the length of the modulus.
        if (BN_bn2binpad(y, out.data(), int(out.size())) != int(out.size())) return {};
        return out;
    }
    BIGNUM *x = nullptr, *y = nullptr;
    const bool ok = EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
                    EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
    Own<BIGNUM> ox(x), oy(y);
    if (!ok || BN_bn2binpad(x, out.data(), int(g.coord_len)) != int(g.coord_len) ||
        BN_bn2binpad(y, out.data() + g.coord_len, int(g.coord_len)) != int(g.coord_len))
        return {};
    return out;
}

std::optional<Secret> DhKey::shared_secret(Span peer) const {
    const GroupInfo& g = *group_info(group_);
    Own<EVP_PKEY> pk = peer_key(g, peer);
    if (!pk) return std::nullopt;
    Own<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_, nullptr));
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) return std::nullopt;
    // §2.14: g^ir padded to the modulus length.
    if (group_ == dh_id::modp2048 && EVP_PKEY_CTX_set_dh_pad(ctx.get(), 1) != 1) return std::nullopt;
    size_t len = 0;
    if (EVP_PKEY_derive_set_peer(ctx.get(), pk.get()) != 1 || EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1)
        return std::nullopt;
    Secret out(len);
    if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1) return std::nullopt;
    out.resize(len);
    // RFC 8031 §2.3: an all-zero X25519 result means a low-order peer value.
    if (group_ == dh_id::curve25519 &&
        std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 0; }))
        return std::nullopt;
    const size_t want = group_ == dh_id::modp2048 ? g.pub_len : g.coord_len ? g.coord_len : 32;
    if (out.size() != want) return std::nullopt;
    return out;
}

// ---------------------------------------------------------------- SK payloads

std::string_view describe(CryptoError e) {
    static constexpr std::string_view kText[] = {
#define RAMPART_IKE_X(name, text) text,
        RAMPART_IKE_CRYPTO_ERRORS(RAMPART_IKE_X)
#undef RAMPART_IKE_X
    };
    return kText[size_t(e)];
}

SkKeys outbound_keys(const IkeKeys& k, const CipherSuite& cs, bool initiator) {
    return SkKeys{cs, initiator ? k.sk_ei : k.sk_er, initiator ? k.sk_ai : k.sk_ar};
}

SkKeys inbound_keys(const IkeKeys& k, const CipherSuite& cs, bool initiator) {
    return outbound_keys(k, cs, !initiator);
}

Bytes protect(const SkKeys& k, const Header& h, std::span<const Payload> inner, Span iv) {
    const Bytes plain = encode_payloads(inner);
    const PayloadType first = inner.empty() ? PayloadType::none : inner.front().type;
    return seal(k, h, PayloadType::sk, first, 0, 0, plain, iv);
}

Bytes protect_fragment(const SkKeys& k, const Header& h, PayloadType inner_first, uint16_t number, uint16_t total,
                       Span plaintext, Span iv) {
    return seal(k, h, PayloadType::skf, number == 1 ? inner_first : PayloadType::none, number, total, plaintext, iv);
}

std::vector<Bytes> protect_fragments(const SkKeys& k, const Header& h, std::span<const Payload> inner,
                                     size_t max_message) {
    const CipherSuite& cs = k.suite;
    const size_t overhead = kHeaderLen + kPayloadHeaderLen + 4 + cs.iv_len() + cs.icv_len() + cs.block_len();
    if (max_message <= overhead) return {};
    // Whole blocks of data per fragment, so the padding stays within the budget.
    size_t chunk = max_message - overhead;
    if (cs.block_len() > 1) chunk = chunk / cs.block_len() * cs.block_len() + cs.block_len() - 1;
    const Bytes plain = encode_payloads(inner);
    const size_t total = std::max<size_t>(1, (plain.size() + chunk - 1) / chunk);
    if (total > 0xffff) return {};
    const PayloadType first = inner.empty() ? PayloadType::none : inner.front().type;
    std::vector<Bytes> out;
    for (size_t i = 0; i < total; ++i) {
        const size_t off = i * chunk;
        const Span part(plain.data() + off, std::min(chunk, plain.size() - off));
        out.push_back(protect_fragment(k, h, first, uint16_t(i + 1), uint16_t(total), part));
        if (out.back().empty()) return {};
    }
    return out;
}

Opened unprotect(const SkKeys& k, Span wire, const Message& msg) {
    Opened o;
    auto fail = [&](CryptoError e, std::string d) {
        o.error = e;
        o.detail = std::move(d);
        o.plaintext.clear();
        o.payloads.clear();
        return std::move(o);
    };
    const CipherSuite& cs = k.suite;
    if (!cs.supported() || k.encr.size() != cs.encr_keymat_len() || k.integ.size() != cs.integ_key_len())
        return fail(CryptoError::unsupported_transform, "keys do not fit the cipher suite");
    if (msg.payloads.empty()) return fail(CryptoError::not_encrypted, "no payloads");
    const Payload& last = msg.payloads.back();
    const Bytes* body = nullptr;
    if (auto* sk = std::get_if<SkPayload>(&last.body)) {
        body = &sk->body;
        o.inner_first = sk->inner_first;
    } else if (auto* f = std::get_if<SkfPayload>(&last.body)) {
        body = &f->body;
        o.inner_first = f->inner_first;
        o.fragment_number = f->number;
        o.fragment_total = f->total;
    } else {
        return fail(CryptoError::not_encrypted, std::string(name(last.type)) + " is the last payload");
    }
    // The encrypted payload is last, so its body ends the datagram.
    if (body->size() > wire.size()) return fail(CryptoError::bad_length, "message does not match its decoding");
    const size_t body_off = wire.size() - body->size();
    const size_t iv_len = cs.iv_len(), icv_len = cs.icv_len();
    if (body->size() < iv_len + icv_len + 1)
        return fail(CryptoError::bad_length, std::to_string(body->size()) + "-byte encrypted payload");
    const size_t ct_len = body->size() - iv_len - icv_len;
    if (ct_len % cs.block_len())
        return fail(CryptoError::bad_length, std::to_string(ct_len) + " bytes of ciphertext, not whole blocks");
    const uint8_t* iv = wire.data() + body_off;
    const uint8_t* ct = iv + iv_len;
    const uint8_t* icv = ct + ct_len;
    Secret pt(ct_len);
    if (cs.aead()) {
        uint8_t tag[16];
        std::memcpy(tag, icv, 16);
        if (!gcm(false, k, Span(iv, iv_len), wire.first(body_off), Span(ct, ct_len), pt.data(), tag))
            return fail(CryptoError::integrity_check_failed, "AES-GCM tag mismatch");
    } else {
        uint8_t mac[64];
        hmac_into(*integ_hash(cs.integ), k.integ, {wire.first(size_t(icv - wire.data()))}, mac);
        const bool good = CRYPTO_memcmp(mac, icv, icv_len) == 0;
        secure_wipe(mac, sizeof mac);
        if (!good) return fail(CryptoError::integrity_check_failed, "HMAC mismatch");
        if (!cbc(false, k, Span(iv, iv_len), Span(ct, ct_len), pt.data()))
            return fail(CryptoError::internal, "AES-CBC decryption");
    }
    const size_t pad = pt.back();
    if (pad + 1 > pt.size())
        return fail(CryptoError::bad_padding, "pad length " + std::to_string(pad) + " in " +
                                                  std::to_string(pt.size()) + " bytes");
    o.plaintext.assign(pt.begin(), pt.end() - pad - 1);
    if (std::holds_alternative<SkPayload>(last.body)) {
        DecodedPayloads d = decode_payloads(o.inner_first, o.plaintext);
        if (!d.ok()) {
            o.decode = d.status;
            return fail(CryptoError::bad_inner_payloads, d.status.detail);
        }
        o.payloads = std::move(d.payloads);
    }
    return o;
}

// ---------------------------------------------------------------- AUTH

Bytes signed_octets(PrfAlg a, Span real_message, Span peer_nonce, Span sk_p, const IdPayload& id) {
    Bytes rest{uint8_t(id.type), 0, 0, 0};
    rest.insert(rest.end(), id.data.begin(), id.data.end());
    const Secret mac = prf(a, sk_p, rest);
    Bytes out(real_message.begin(), real_message.end());
    out.insert(out.end(), peer_nonce.begin(), peer_nonce.end());
    out.insert(out.end(), mac.begin(), mac.end());
    return out;
}

Secret psk_auth(PrfAlg a, Span psk, Span octets) {
    static constexpr std::string_view kPad = "Key Pad for IKEv2";
    const Secret k = prf(a, psk, Span(reinterpret_cast<const uint8_t*>(kPad.data()), kPad.size()));
    return prf(a, k, octets);
}

bool verify_psk_auth(PrfAlg a, Span psk, Span octets, Span received) {
    const Secret want = psk_auth(a, psk, octets);
    return received.size() == want.size() && CRYPTO_memcmp(want.data(), received.data(), want.size()) == 0;
}

Bytes algorithm_identifier(SigScheme s) {
    const SchemeInfo& in = info(s);
    switch (in.kind) {
    case SchemeInfo::pkcs1: {  // sha{256,384,512}WithRSAEncryption, NULL parameters
        const uint8_t last = in.bits == 256 ? 0x0b : in.bits == 384 ? 0x0c : 0x0d;
        return der(0x30, {oid({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, last}), kNull});
    }
    case SchemeInfo::ecdsa: {  // ecdsa-with-SHA{256,384,512}, absent parameters
        const uint8_t last = in.bits == 256 ? 0x02 : in.bits == 384 ? 0x03 : 0x04;
        return der(0x30, {oid({0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, last})});
    }
    case SchemeInfo::pss: {  // id-RSASSA-PSS with hash, MGF1(hash), salt = hash length
        const Bytes alg = der(0x30, {hash_oid(in.bits), kNull});
        const Bytes mgf = der(0x30, {oid({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08}), alg});
        const Bytes salt = der(0x02, {Bytes{uint8_t(in.bits / 8)}});
        const Bytes params = der(0x30, {der(0xa0, {alg}), der(0xa1, {mgf}), der(0xa2, {salt})});
        return der(0x30, {oid({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a}), params});
    }
    }
    return {};
}

Bytes sign_auth(EVP_PKEY* key, SigScheme s, Span octets) {
    const SchemeInfo& in = info(s);
    if (!key || !key_fits(key, in)) return {};
    Own<EVP_MD_CTX> md(EVP_MD_CTX_new());
    size_t len = 0;
    if (!md || !sig_init(md.get(), key, in, true) ||
        EVP_DigestSign(md.get(), nullptr, &len, octets.data(), octets.size()) != 1)
        return {};
    const Bytes alg = algorithm_identifier(s);
    Bytes out{uint8_t(alg.size())};
    out.insert(out.end(), alg.begin(), alg.end());
    const size_t at = out.size();
    out.resize(at + len);
    if (EVP_DigestSign(md.get(), out.data() + at, &len, octets.data(), octets.size()) != 1) return {};
    out.resize(at + len);
    return out;
}

bool verify_auth(EVP_PKEY* key, Span auth, Span octets, SigScheme* scheme) {
    if (!key || auth.empty()) return false;
    const size_t alg_len = auth[0];
    if (alg_len == 0 || auth.size() < 1 + alg_len + 1) return false;
    const Span alg = auth.subspan(1, alg_len);
    const Span sig = auth.subspan(1 + alg_len);
    for (const SchemeInfo& in : kSchemes) {
        const Bytes want = algorithm_identifier(in.s);
        const bool match = std::ranges::equal(alg, want) ||
                           (in.kind == SchemeInfo::pss && std::ranges::equal(alg, pss_with_trailer(in.bits)));
        if (!match) continue;
        if (!key_fits(key, in)) return false;
        Own<EVP_MD_CTX> md(EVP_MD_CTX_new());
        if (!md || !sig_init(md.get(), key, in, false)) return false;
        if (EVP_DigestVerify(md.get(), sig.data(), sig.size(), octets.data(), octets.size()) != 1) return false;
        if (scheme) *scheme = in.s;
        return true;
    }
    return false;
}

Bytes nat_detection_hash(uint64_t spi_i, uint64_t spi_r, const IpAddr& ip, uint16_t port) {
    uint8_t in[8 + 8 + 16 + 2];
    be64(spi_i, in);
    be64(spi_r, in + 8);
    const size_t alen = ip.is_v4() ? 4 : 16;
    std::memcpy(in + 16, ip.bytes.data(), alen);
    in[16 + alen] = uint8_t(port >> 8);
    in[17 + alen] = uint8_t(port);
    Bytes out(20);
    unsigned len = 0;
    if (EVP_Digest(in, 18 + alen, out.data(), &len, EVP_sha1(), nullptr) != 1 || len != 20) std::abort();
    return out;
}

Bytes random_bytes(size_t n) {
    Bytes b(n);
    if (n && RAND_bytes(b.data(), int(n)) != 1) std::abort();  // no entropy: nothing safe to do
    return b;
}

}  // namespace rampart::ike
