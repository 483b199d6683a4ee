// ESP crypto engine over Intel IPsec-MB 1.3. See esp_crypto.hpp for the API.
//
// IPsec-MB job API in brief: IMB_GET_NEXT_JOB hands out a slot of the
// manager's job ring; the caller fills it and IMB_SUBMIT_JOB queues it and may
// return an earlier job that has completed (always in submission order);
// IMB_GET_COMPLETED_JOB returns further completed ones; IMB_FLUSH_JOB forces
// the oldest outstanding job to completion. Multi-buffer algorithms (CBC
// encrypt, HMAC) only start once enough lanes are filled, so a job's buffers
// must stay put until it is returned. Every returned job carries a status;
// anything but IMB_STATUS_COMPLETED is a failure (IMB_STATUS_INVALID_ARGS when
// submit's validation refused it, imb_get_errno saying why).
#include "crypto/esp_crypto.hpp"

#include <intel-ipsec-mb.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string.h>  // explicit_bzero
#include <sys/random.h>

#include <cerrno>

namespace rampart::crypto {

// ---------------------------------------------------------------------------
// Names and transforms

namespace {

constexpr std::array kCipherNames = {
    std::pair{Cipher::null, std::string_view{"null"}},
    std::pair{Cipher::aes_cbc_128, std::string_view{"aes-cbc-128"}},
    std::pair{Cipher::aes_cbc_256, std::string_view{"aes-cbc-256"}},
    std::pair{Cipher::aes_gcm_128, std::string_view{"aes-gcm-128"}},
    std::pair{Cipher::aes_gcm_256, std::string_view{"aes-gcm-256"}},
    std::pair{Cipher::chacha20_poly1305, std::string_view{"chacha20-poly1305"}},
};

struct IntegrityName {
    Integrity value;
    std::string_view name;       // canonical
    std::string_view rfc4868;    // with the truncation, also accepted
};
constexpr std::array kIntegrityNames = {
    IntegrityName{Integrity::none, "none", "none"},
    IntegrityName{Integrity::hmac_sha_256_128, "hmac-sha-256", "hmac-sha-256-128"},
    IntegrityName{Integrity::hmac_sha_384_192, "hmac-sha-384", "hmac-sha-384-192"},
    IntegrityName{Integrity::hmac_sha_512_256, "hmac-sha-512", "hmac-sha-512-256"},
};

// Why a cipher/integrity pair is refused, or empty.
std::string pair_error(EspTransform t) {
    if (t.aead()) {
        if (t.integrity != Integrity::none)
            return std::string(name(t.cipher)) +
                   " is a combined-mode (AEAD) cipher: integrity must be 'none', got '" +
                   std::string(name(t.integrity)) + "'";
        return {};
    }
    if (t.integrity == Integrity::none) {
        if (t.cipher == Cipher::null)
            return "cipher 'null' needs an integrity algorithm: ESP must not be both "
                   "unencrypted and unauthenticated (RFC 4303 §3.2)";
        return std::string(name(t.cipher)) +
               " needs an integrity algorithm: encryption without integrity is refused "
               "(RFC 8221 §5)";
    }
    return {};
}

template <size_t N>
std::string expected_list(const std::array<std::string_view, N>& names) {
    std::string s;
    for (auto n : names) {
        if (!s.empty()) s += ", ";
        s += n;
    }
    return s;
}

}  // namespace

std::string_view name(Cipher c) noexcept {
    for (auto& [v, n] : kCipherNames)
        if (v == c) return n;
    return "?";
}

std::string_view name(Integrity i) noexcept {
    for (auto& e : kIntegrityNames)
        if (e.value == i) return e.name;
    return "?";
}

std::string_view name(EspStatus s) noexcept {
    switch (s) {
    case EspStatus::ok: return "ok";
    case EspStatus::auth_failed: return "auth_failed";
    case EspStatus::invalid: return "invalid";
    case EspStatus::engine_error: return "engine_error";
    }
    return "?";
}


size_t EspTransform::cipher_key_len() const noexcept {
    switch (cipher) {
    case Cipher::null: return 0;
    case Cipher::aes_cbc_128: return 16;
    case Cipher::aes_cbc_256: return 32;
    case Cipher::aes_gcm_128: return 16 + 4;
    case Cipher::aes_gcm_256: return 32 + 4;
    case Cipher::chacha20_poly1305: return 32 + 4;
    }
    return 0;
}

size_t EspTransform::integrity_key_len() const noexcept {
    switch (integrity) {
    case Integrity::none: return 0;
    case Integrity::hmac_sha_256_128: return 32;
    case Integrity::hmac_sha_384_192: return 48;
    case Integrity::hmac_sha_512_256: return 64;
    }
    return 0;
}




std::string EspTransform::to_string() const {
    std::string s(name(cipher));
    if (!aead()) {
        s += ' ';
        s += name(integrity);
    }
    return s;
}

std::variant<EspTransform, std::string> make_transform(std::string_view cipher,
                                                       std::string_view integrity) {
    EspTransform t;
    bool found = false;
    for (auto& [v, n] : kCipherNames)
        if (n == cipher) {
            t.cipher = v;
            found = true;
        }
    if (!found) {
        std::array<std::string_view, kCipherNames.size()> names;
        for (size_t i = 0; i < names.size(); ++i) names[i] = kCipherNames[i].second;
        return "unknown cipher '" + std::string(cipher) +
               "': expected one of: " + expected_list(names);
    }
    found = false;
    if (integrity.empty() && t.aead()) {
        t.integrity = Integrity::none;
        found = true;
    }
    for (auto& e : kIntegrityNames)
        if (e.name == integrity || e.rfc4868 == integrity) {
            t.integrity = e.value;
            found = true;
        }
    if (!found) {
        std::array<std::string_view, kIntegrityNames.size()> names;
        for (size_t i = 0; i < names.size(); ++i) names[i] = kIntegrityNames[i].name;
        return "unknown integrity algorithm '" + std::string(integrity) +
               "': expected one of: " + expected_list(names);
    }
    if (auto err = pair_error(t); !err.empty()) return err;
    return t;
}

// ---------------------------------------------------------------------------
// Managers

std::string_view name(Arch a) noexcept {
    switch (a) {
    case Arch::best: return "best";
    case Arch::sse: return "sse";
    case Arch::avx: return "avx";
    case Arch::avx2: return "avx2";
    case Arch::avx512: return "avx512";
    }
    return "?";
}

namespace {

struct MgrDeleter {
    void operator()(IMB_MGR* m) const noexcept { free_mb_mgr(m); }
};
using MgrPtr = std::unique_ptr<IMB_MGR, MgrDeleter>;

Arch from_imb(IMB_ARCH a) {
    switch (a) {
    case IMB_ARCH_SSE: return Arch::sse;
    case IMB_ARCH_AVX: return Arch::avx;
    case IMB_ARCH_AVX2: return Arch::avx2;
    case IMB_ARCH_AVX512: return Arch::avx512;
    default:
        // IMB_ARCH_NOAESNI (software AES emulation) is far too slow for a
        // data plane and is refused.
        throw std::runtime_error(
            "intel-ipsec-mb: this CPU lacks AES-NI/PCLMULQDQ; refusing the "
            "software (no-aesni) code path");
    }
}

// A manager for `arch`, initialised; `resolved` receives the concrete arch.
MgrPtr make_mgr(Arch arch, Arch* resolved) {
    MgrPtr m(alloc_mb_mgr(0));
    if (!m) throw std::runtime_error("intel-ipsec-mb: alloc_mb_mgr failed (out of memory)");
    Arch got = arch;
    switch (arch) {
    case Arch::best: {
        IMB_ARCH a = IMB_ARCH_NONE;
        init_mb_mgr_auto(m.get(), &a);
        if (imb_get_errno(m.get()) != 0)
            throw std::runtime_error(std::string("intel-ipsec-mb: init_mb_mgr_auto: ") +
                                     imb_get_strerror(imb_get_errno(m.get())));
        got = from_imb(a);
        break;
    }
    case Arch::sse: init_mb_mgr_sse(m.get()); break;
    case Arch::avx: init_mb_mgr_avx(m.get()); break;
    case Arch::avx2: init_mb_mgr_avx2(m.get()); break;
    case Arch::avx512: init_mb_mgr_avx512(m.get()); break;
    }
    if (int e = imb_get_errno(m.get()); e != 0)
        throw std::runtime_error("intel-ipsec-mb: cannot use the " + std::string(name(arch)) +
                                 " code path on this CPU: " + imb_get_strerror(e));
    if (resolved) *resolved = got;
    return m;
}

// Key expansion needs a manager (its function table), and the GCM hash-key
// table layout depends on the arch, so the control core keeps one manager per
// arch, made on first use.
IMB_MGR& keyexp_mgr(Arch& arch) {
    thread_local std::array<MgrPtr, 5> mgrs;
    thread_local Arch best = Arch::best;
    if (arch == Arch::best) {
        if (best == Arch::best) {
            Arch got;
            MgrPtr m = make_mgr(Arch::best, &got);
            best = got;
            if (!mgrs[size_t(got)]) mgrs[size_t(got)] = std::move(m);
        }
        arch = best;
    }
    auto& slot = mgrs[size_t(arch)];
    if (!slot) slot = make_mgr(arch, nullptr);
    return *slot;
}

}  // namespace

Arch best_arch() {
    Arch a = Arch::best;
    keyexp_mgr(a);
    return a;
}

// ---------------------------------------------------------------------------
// SaCrypto

struct SaCrypto::Keys {
    gcm_key_data gcm;                        // 64-byte aligned by its declaration
    alignas(16) uint8_t enc_keys[16 * 15];   // AES round keys, up to AES-256
    alignas(16) uint8_t dec_keys[16 * 15];
    // HMAC: digest states after one block of key^ipad / key^opad, in the
    // layout IMB_SHA*_ONE_BLOCK writes (the whole internal state: up to 64
    // bytes for SHA-384/512).
    alignas(16) uint8_t ipad[64];
    alignas(16) uint8_t opad[64];
    alignas(16) uint8_t chacha_key[32];
    // CBC IVs: AES-128 under this random key of the SA's sequence number
    // (unique per SA) — a PRF of a nonce, so unpredictable to anyone without
    // the key (RFC 3602 §3; NIST SP 800-38A appendix C).
    alignas(16) uint8_t iv_enc_keys[16 * 11];
    alignas(16) uint8_t iv_dec_keys[16 * 11];
    uint8_t iv_nonce_prefix[8];
    uint8_t salt[4];
    uint64_t cipher_key_bytes;  // job->key_len_in_bytes
};

namespace {

std::string key_error(std::string_view what, size_t want, std::string_view detail, size_t got) {
    return std::string(what) + " needs a " + std::to_string(want) + "-byte key" +
           std::string(detail) + ", got " + std::to_string(got);
}

// The SA's IV key and nonce prefix, from the kernel's CSPRNG (control core only).
void cbc_iv_key(IMB_MGR& m, SaCrypto::Keys& k) {
    uint8_t seed[24];
    for (size_t got = 0; got < sizeof seed;) {
        const ssize_t n = getrandom(seed + got, sizeof seed - got, 0);
        if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("getrandom: ") + strerror(errno));
        if (n > 0) got += size_t(n);
    }
    IMB_AES_KEYEXP_128(&m, seed, k.iv_enc_keys, k.iv_dec_keys);
    std::memcpy(k.iv_nonce_prefix, seed + 16, 8);
    explicit_bzero(seed, sizeof seed);
}

// HMAC inner and outer states (RFC 2104): SHA-x over one block of
// (key padded with zeros) XOR ipad/opad. RFC 4868 keys are never longer than
// the block (32/48/64 vs 64/128/128 bytes), so no pre-hashing is needed.
void hmac_precompute(IMB_MGR& m, Integrity i, std::span<const uint8_t> key, uint8_t* ipad,
                     uint8_t* opad) {
    alignas(16) uint8_t block[128];
    const size_t bs = i == Integrity::hmac_sha_256_128 ? 64 : 128;
    for (int pass = 0; pass < 2; ++pass) {
        std::memset(block, pass == 0 ? 0x36 : 0x5c, bs);
        for (size_t k = 0; k < key.size(); ++k) block[k] ^= key[k];
        uint8_t* out = pass == 0 ? ipad : opad;
        switch (i) {
        case Integrity::hmac_sha_256_128: IMB_SHA256_ONE_BLOCK(&m, block, out); break;
        case Integrity::hmac_sha_384_192: IMB_SHA384_ONE_BLOCK(&m, block, out); break;
        case Integrity::hmac_sha_512_256: IMB_SHA512_ONE_BLOCK(&m, block, out); break;
        case Integrity::none: break;
        }
    }
    explicit_bzero(block, sizeof block);
}

}  // namespace

SaCrypto::SaCrypto(EspTransform t, std::span<const uint8_t> cipher_key,
                   std::span<const uint8_t> integrity_key, Arch arch)
    : transform_(t), arch_(arch) {
    if (auto err = pair_error(t); !err.empty()) throw std::invalid_argument(err);
    const auto cname = name(t.cipher);
    if (cipher_key.size() != t.cipher_key_len()) {
        switch (t.cipher) {
        case Cipher::null:
            throw std::invalid_argument("cipher 'null' takes no key, got " +
                                        std::to_string(cipher_key.size()) + " bytes");
        case Cipher::aes_gcm_128:
        case Cipher::aes_gcm_256:
        case Cipher::chacha20_poly1305:
            throw std::invalid_argument(key_error(
                cname, t.cipher_key_len(),
                " (" + std::to_string(t.cipher_key_len() - 4) + "-byte key + 4-byte salt)",
                cipher_key.size()));
        default:
            throw std::invalid_argument(
                key_error(cname, t.cipher_key_len(), "", cipher_key.size()));
        }
    }
    if (integrity_key.size() != t.integrity_key_len()) {
        if (t.integrity == Integrity::none)
            throw std::invalid_argument(std::string(cname) +
                                        " takes no integrity key, got " +
                                        std::to_string(integrity_key.size()) + " bytes");
        throw std::invalid_argument(key_error(name(t.integrity), t.integrity_key_len(),
                                              " (RFC 4868 §2.1.1)", integrity_key.size()));
    }

    IMB_MGR& m = keyexp_mgr(arch_);
    keys_.reset(new Keys);
    explicit_bzero(keys_.get(), sizeof(Keys));
    Keys& k = *keys_;
    const uint8_t* ck = cipher_key.data();
    switch (t.cipher) {
    case Cipher::null: break;
    case Cipher::aes_cbc_128:
        IMB_AES_KEYEXP_128(&m, ck, k.enc_keys, k.dec_keys);
        k.cipher_key_bytes = 16;
        cbc_iv_key(m, k);
        break;
    case Cipher::aes_cbc_256:
        IMB_AES_KEYEXP_256(&m, ck, k.enc_keys, k.dec_keys);
        k.cipher_key_bytes = 32;
        cbc_iv_key(m, k);
        break;
    case Cipher::aes_gcm_128:
        IMB_AES128_GCM_PRE(&m, ck, &k.gcm);
        std::memcpy(k.salt, ck + 16, 4);
        k.cipher_key_bytes = 16;
        break;
    case Cipher::aes_gcm_256:
        IMB_AES256_GCM_PRE(&m, ck, &k.gcm);
        std::memcpy(k.salt, ck + 32, 4);
        k.cipher_key_bytes = 32;
        break;
    case Cipher::chacha20_poly1305:
        // IPsec-MB takes the raw 256-bit key; there is no schedule to expand.
        std::memcpy(k.chacha_key, ck, 32);
        std::memcpy(k.salt, ck + 32, 4);
        k.cipher_key_bytes = 32;
        break;
    }
    if (t.integrity != Integrity::none)
        hmac_precompute(m, t.integrity, integrity_key, k.ipad, k.opad);
}

void SaCrypto::prefetch() const noexcept {
    const auto* k = reinterpret_cast<const uint8_t*>(keys_.get());
    switch (transform_.cipher) {
    case Cipher::aes_gcm_128:
    case Cipher::aes_gcm_256:
        // Round keys, then the GHASH key powers IPsec-MB reads for short and long messages.
        for (size_t off = 0; off < sizeof(gcm_key_data); off += 64) __builtin_prefetch(k + off);
        break;
    case Cipher::chacha20_poly1305: __builtin_prefetch(keys_->chacha_key); break;
    default:
        for (size_t off = 0; off < sizeof keys_->enc_keys; off += 64) {
            __builtin_prefetch(keys_->enc_keys + off);
            __builtin_prefetch(keys_->dec_keys + off);
        }
        __builtin_prefetch(keys_->ipad);
        __builtin_prefetch(keys_->opad);
        break;
    }
    __builtin_prefetch(keys_->salt);
}

SaCrypto::~SaCrypto() {
    if (keys_) explicit_bzero(keys_.get(), sizeof(Keys));
}

// ---------------------------------------------------------------------------
// CryptoEngine

struct CryptoEngine::Slot {
    alignas(16) uint8_t nonce[16];  // salt || IV for the AEADs (12 bytes used)
    alignas(16) uint8_t tag[64];    // the computed ICV on decrypt
    uint8_t saved_icv[32];          // the received ICV while seq-hi sits in its place (ESN)
};

CryptoEngine::CryptoEngine(Arch arch) : arch_(arch) {
    MgrPtr m = make_mgr(arch, &arch_);
    std::string feats;
    const struct {
        uint64_t bit;
        const char* name;
    } kFeatures[] = {
        {IMB_FEATURE_VAES, "vaes"},           {IMB_FEATURE_VPCLMULQDQ, "vpclmulqdq"},
        {IMB_FEATURE_SHANI, "sha-ni"},        {IMB_FEATURE_GFNI, "gfni"},
        {IMB_FEATURE_AVX512_IFMA, "avx512-ifma"},
    };
    for (auto& f : kFeatures)
        if (m->features & f.bit) {
            if (!feats.empty()) feats += ' ';
            feats += f.name;
        }
    name_ = std::string("intel-ipsec-mb ") + imb_get_version_str() + " " +
            std::string(crypto::name(arch_));
    // What the CPU offers (the newer paths use them: VAES GCM, SHA-NI HMAC).
    if (!feats.empty()) name_ += ", cpu: " + feats;
    slots_.reset(new Slot[kChunk]);
    mgr_ = m.release();
}

CryptoEngine::~CryptoEngine() {
    if (mgr_) {
        // Nothing may be left in flight (run() always flushes), but drain anyway.
        while (IMB_FLUSH_JOB(mgr_) != nullptr) {
        }
        free_mb_mgr(mgr_);
    }
    if (slots_) explicit_bzero(slots_.get(), sizeof(Slot) * kChunk);
}

std::string_view CryptoEngine::last_error_string() const noexcept {
    return last_error_ == 0 ? std::string_view{} : imb_get_strerror(last_error_);
}

namespace {

// Constant-time ICV comparison: the time taken does not depend on where the
// first mismatch is (CRYPTO_memcmp style).
bool ct_equal(const uint8_t* a, const uint8_t* b, size_t n) noexcept {
    uint8_t diff = 0;
    for (size_t i = 0; i < n; ++i) diff |= a[i] ^ b[i];
    // Keep the compiler from turning the loop into an early-exit memcmp.
    asm volatile("" : "+r"(diff));
    return diff == 0;
}

IMB_HASH_ALG hmac_alg(Integrity i) noexcept {
    switch (i) {
    case Integrity::hmac_sha_384_192: return IMB_AUTH_HMAC_SHA_384;
    case Integrity::hmac_sha_512_256: return IMB_AUTH_HMAC_SHA_512;
    default: return IMB_AUTH_HMAC_SHA_256;
    }
}

void put_be32(uint8_t* p, uint32_t v) noexcept {
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}

const uint8_t kNoAad[16] = {};

}  // namespace

// Checks the descriptor against its SA, fills one job and submits it.
// Returns false (op.status = invalid) when the descriptor is refused.
bool CryptoEngine::submit(EspOp& op, Slot& slot) noexcept {
    const SaCrypto* sa = op.sa;
    if (sa == nullptr || sa->arch_ != arch_ || op.icv == nullptr) return false;
    const EspTransform& t = sa->transform_;
    const SaCrypto::Keys& k = *sa->keys_;
    const bool enc = op.dir == EspDir::encrypt;
    const size_t icv_len = t.icv_len();

    if (t.aead()) {
        if (op.iv == nullptr || op.cipher_start == nullptr || op.esn ||
            (op.aad == nullptr && op.aad_len != 0))
            return false;
    } else {
        if (op.auth_start == nullptr) return false;
        if (t.cipher != Cipher::null) {
            // The ciphertext must lie inside the authenticated bytes
            // (encrypt-then-MAC) and be whole AES blocks, at least one
            // (ESP never has less than one block: the trailer is encrypted
            // too, and IPsec-MB refuses empty CBC messages.)
            if (op.iv == nullptr || op.cipher_start == nullptr || op.cipher_len == 0 ||
                op.cipher_len % 16 != 0 ||
                op.cipher_start < op.auth_start ||
                op.cipher_start + op.cipher_len > op.auth_start + op.auth_len)
                return false;
        }
        if (op.esn && op.icv != op.auth_start + op.auth_len) return false;
    }

    IMB_JOB* job = IMB_GET_NEXT_JOB(mgr_);
    job->cipher_direction = enc ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
    // Encrypt-then-MAC on the way out, verify-then-decrypt on the way in (for
    // the AEADs IPsec-MB wants the same orders).
    job->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    // Encrypt writes the ICV in place; decrypt computes it into the slot and
    // complete() compares.
    job->auth_tag_output = enc ? op.icv : slot.tag;
    job->auth_tag_output_len_in_bytes = icv_len;
    job->user_data = &op;
    job->user_data2 = &slot;

    if (t.aead()) {
        // RFC 4106 §4 / RFC 7634 §2: nonce = salt (4) || IV (8).
        std::memcpy(slot.nonce, k.salt, 4);
        std::memcpy(slot.nonce + 4, op.iv, 8);
        const void* aad = op.aad != nullptr ? op.aad : kNoAad;
        job->src = op.cipher_start;
        job->dst = op.cipher_start;
        job->cipher_start_src_offset_in_bytes = 0;
        job->msg_len_to_cipher_in_bytes = op.cipher_len;
        job->hash_start_src_offset_in_bytes = 0;
        job->msg_len_to_hash_in_bytes = op.cipher_len;
        job->iv = slot.nonce;
        job->iv_len_in_bytes = 12;
        job->key_len_in_bytes = k.cipher_key_bytes;
        if (t.cipher == Cipher::chacha20_poly1305) {
            job->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
            job->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
            job->enc_keys = k.chacha_key;
            job->dec_keys = k.chacha_key;
            job->u.CHACHA20_POLY1305.aad = aad;
            job->u.CHACHA20_POLY1305.aad_len_in_bytes = op.aad_len;
            job->u.CHACHA20_POLY1305.ctx = nullptr;
        } else {
            job->cipher_mode = IMB_CIPHER_GCM;
            job->hash_alg = IMB_AUTH_AES_GMAC;
            job->enc_keys = &k.gcm;
            job->dec_keys = &k.gcm;
            job->u.GCM.aad = aad;
            job->u.GCM.aad_len_in_bytes = op.aad_len;
            job->u.GCM.ctx = nullptr;
        }
    } else {
        // One source pointer for both regions: src = auth_start, the cipher
        // region at an offset from it; dst is where the cipher output goes
        // (IPsec-MB does not add the offset to dst), i.e. in place.
        job->src = op.auth_start;
        job->hash_start_src_offset_in_bytes = 0;
        job->msg_len_to_hash_in_bytes = op.auth_len + (op.esn ? 4 : 0);
        job->hash_alg = hmac_alg(t.integrity);
        job->u.HMAC._hashed_auth_key_xor_ipad = k.ipad;
        job->u.HMAC._hashed_auth_key_xor_opad = k.opad;
        if (t.cipher == Cipher::null) {
            job->cipher_mode = IMB_CIPHER_NULL;
            job->dst = const_cast<uint8_t*>(op.auth_start);  // never written
            job->cipher_start_src_offset_in_bytes = 0;
            job->msg_len_to_cipher_in_bytes = 0;
            job->iv = slot.nonce;
            job->iv_len_in_bytes = 0;
            job->key_len_in_bytes = 0;
            job->enc_keys = nullptr;
            job->dec_keys = nullptr;
        } else {
            job->cipher_mode = IMB_CIPHER_CBC;
            job->dst = op.cipher_start;
            job->cipher_start_src_offset_in_bytes = size_t(op.cipher_start - op.auth_start);
            job->msg_len_to_cipher_in_bytes = op.cipher_len;
            job->iv = op.iv;
            job->iv_len_in_bytes = 16;
            job->key_len_in_bytes = k.cipher_key_bytes;
            job->enc_keys = k.enc_keys;
            job->dec_keys = k.dec_keys;
        }
        if (op.esn) {
            // RFC 4303 §2.2.1: seq-hi is hashed right after the packet's
            // bytes. It borrows the ICV field (see EspOp).
            if (!enc) std::memcpy(slot.saved_icv, op.icv, icv_len);
            put_be32(op.icv, op.esn_high);
        }
    }

    IMB_JOB* done = IMB_SUBMIT_JOB(mgr_);
    if (int e = imb_get_errno(mgr_); e != 0) last_error_ = e;
    while (done != nullptr) {
        complete(done);
        done = IMB_GET_COMPLETED_JOB(mgr_);
    }
    return true;
}

void CryptoEngine::complete(void* j) noexcept {
    auto* job = static_cast<IMB_JOB*>(j);
    auto& op = *static_cast<EspOp*>(job->user_data);
    auto& slot = *static_cast<Slot*>(job->user_data2);
    const EspTransform& t = op.sa->transform_;
    const size_t icv_len = t.icv_len();
    const bool dec = op.dir == EspDir::decrypt;

    bool ok = job->status == IMB_STATUS_COMPLETED;
    if (!ok && last_error_ == 0) last_error_ = IMB_ERR_MAX;  // failed without an errno
    bool auth_ok = true;
    if (dec) {
        const uint8_t* received = op.esn ? slot.saved_icv : op.icv;
        auth_ok = ct_equal(slot.tag, received, icv_len);
        if (op.esn) std::memcpy(op.icv, slot.saved_icv, icv_len);  // put the ICV back
        // Never leave unauthenticated plaintext behind: IPsec-MB decrypts
        // whatever the tag says, so wipe it here.
        if ((!ok || !auth_ok) && t.cipher != Cipher::null && op.cipher_start != nullptr)
            std::memset(op.cipher_start, 0, op.cipher_len);
    }
    op.status = !ok ? EspStatus::engine_error : !auth_ok ? EspStatus::auth_failed : EspStatus::ok;
}

void CryptoEngine::run_chunk(EspOp* ops, unsigned n) noexcept {
    for (unsigned i = 0; i < n; ++i) {
        // Until its job comes back, an op counts as failed: a job the library
        // lost can then never pass for a good one.
        ops[i].status = EspStatus::engine_error;
        if (!submit(ops[i], slots_[i])) ops[i].status = EspStatus::invalid;
    }
    while (IMB_JOB* job = IMB_FLUSH_JOB(mgr_)) {
        complete(job);
        while (IMB_JOB* more = IMB_GET_COMPLETED_JOB(mgr_)) complete(more);
    }
}

void CryptoEngine::cbc_iv(const SaCrypto& sa, uint64_t seq, uint8_t* iv) const noexcept {
    const SaCrypto::Keys& k = *sa.keys_;
    alignas(16) uint8_t nonce[16];
    alignas(16) static constexpr uint8_t kZero[16] = {};
    std::memcpy(nonce, k.iv_nonce_prefix, 8);
    std::memcpy(nonce + 8, &seq, 8);
    IMB_AES128_CFB_ONE(mgr_, iv, kZero, nonce, k.iv_enc_keys, 16);  // one block: 0 xor E(nonce)
}

unsigned CryptoEngine::run(EspOp* ops, unsigned n) noexcept {
    for (unsigned done = 0; done < n; done += kChunk)
        run_chunk(ops + done, std::min(kChunk, n - done));
    unsigned good = 0;
    for (unsigned i = 0; i < n; ++i) good += ops[i].status == EspStatus::ok;
    return good;
}

}  // namespace rampart::crypto
