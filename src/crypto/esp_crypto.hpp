// ESP crypto engine over Intel IPsec-MB (1.3): the transforms an SA can use,
// the per-SA key schedule, and a per-worker engine that runs a burst of ESP
// encrypt/decrypt operations as IPsec-MB jobs.
//
// Threading: an SaCrypto is built once per SA on the control core and is
// immutable afterwards, so any number of workers may read it. A CryptoEngine
// belongs to exactly one lcore (it owns an IMB_MGR, which is not thread-safe).
//
// Algorithms (RFC 8221 "MUST"/"SHOULD" set):
//   aes-gcm-128 / aes-gcm-256      RFC 4106, 16-byte ICV, 8-byte IV, 4-byte salt
//   chacha20-poly1305              RFC 7634, 16-byte ICV, 8-byte IV, 4-byte salt
//   aes-cbc-128 / aes-cbc-256      RFC 3602, 16-byte IV, with one of
//   hmac-sha-256 / -384 / -512     RFC 4868: ICVs truncated to 128/192/256 bits
//   null                           RFC 2410, integrity only (with an HMAC)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

struct IMB_MGR;  // <intel-ipsec-mb.h> stays out of this header

namespace rampart::crypto {

enum class Cipher : uint8_t {
    null,
    aes_cbc_128,
    aes_cbc_256,
    aes_gcm_128,
    aes_gcm_256,
    chacha20_poly1305,
};

enum class Integrity : uint8_t {
    none,              // only with an AEAD cipher
    hmac_sha_256_128,  // RFC 4868 AUTH_HMAC_SHA2_256_128
    hmac_sha_384_192,  // RFC 4868 AUTH_HMAC_SHA2_384_192
    hmac_sha_512_256,  // RFC 4868 AUTH_HMAC_SHA2_512_256
};

// Canonical names, as written in the configuration and shown by the CLI:
// "null", "aes-cbc-128", "aes-cbc-256", "aes-gcm-128", "aes-gcm-256",
// "chacha20-poly1305"; "none", "hmac-sha-256", "hmac-sha-384", "hmac-sha-512".
std::string_view name(Cipher c) noexcept;
std::string_view name(Integrity i) noexcept;

// A cipher/integrity pair that ESP may use. Only valid pairs can be built
// (through make_transform); the size accessors follow the RFCs above.
struct EspTransform {
    Cipher cipher = Cipher::aes_gcm_128;
    Integrity integrity = Integrity::none;

    bool aead() const noexcept;
    // Raw key bytes the SA carries for the cipher: GCM and ChaCha20 keys
    // include their 4-byte salt at the end (RFC 4106 §8.1, RFC 7634 §4):
    // 20 / 36 / 36; CBC 16 / 32; null 0.
    size_t cipher_key_len() const noexcept;
    // HMAC keys are as long as the full digest (RFC 4868 §2.1.1): 32 / 48 / 64.
    size_t integrity_key_len() const noexcept;
    // Bytes of IV carried in each packet: 8 for GCM and ChaCha20, 16 for CBC, 0 for null.
    size_t iv_len() const noexcept;
    // ICV bytes at the end of each packet: 16 (AEAD, HMAC-SHA-256-128), 24, 32.
    size_t icv_len() const noexcept;
    // What payload + padding + trailer must be a multiple of (RFC 4303 §2.4):
    // the cipher block (16) for CBC, 4 otherwise.
    size_t block_align() const noexcept;

    // "aes-gcm-128" for an AEAD, "aes-cbc-128 hmac-sha-256" otherwise.
    std::string to_string() const;
    friend bool operator==(const EspTransform&, const EspTransform&) = default;
};

// Per packet on the worker: inline.
inline bool EspTransform::aead() const noexcept {
    return cipher == Cipher::aes_gcm_128 || cipher == Cipher::aes_gcm_256 ||
           cipher == Cipher::chacha20_poly1305;
}

inline size_t EspTransform::iv_len() const noexcept {
    switch (cipher) {
    case Cipher::null: return 0;
    case Cipher::aes_cbc_128:
    case Cipher::aes_cbc_256: return 16;
    default: return 8;
    }
}

inline size_t EspTransform::icv_len() const noexcept {
    if (aead()) return 16;
    switch (integrity) {
    case Integrity::none: return 0;
    case Integrity::hmac_sha_256_128: return 16;
    case Integrity::hmac_sha_384_192: return 24;
    case Integrity::hmac_sha_512_256: return 32;
    }
    return 0;
}

inline size_t EspTransform::block_align() const noexcept {
    return cipher == Cipher::aes_cbc_128 || cipher == Cipher::aes_cbc_256 ? 16 : 4;
}


// Builds a transform from names. The error names the token and lists what was
// expected ("unknown cipher 'aes-gcm-129': expected one of: null, ..."), or
// says why the pair is refused. Integrity names also accept the RFC 4868
// spelling with the truncation ("hmac-sha-256-128"); an AEAD takes "none" or
// an empty integrity name.
std::variant<EspTransform, std::string> make_transform(std::string_view cipher,
                                                       std::string_view integrity);

// The IPsec-MB code path. `best` picks the newest the CPU supports (what
// init_mb_mgr_auto chooses); the others exist so tests can run each path.
enum class Arch : uint8_t { best, sse, avx, avx2, avx512 };
std::string_view name(Arch a) noexcept;
// The arch `best` resolves to on this CPU (never Arch::best).
Arch best_arch();

// The key schedule of one SA, built once from the raw key bytes on the control
// core: expanded AES keys (CBC), GCM key data (round keys and hash-key
// powers), HMAC inner/outer pad digests, the ChaCha20 key, the salt. It
// wipes all of it (explicit_bzero) on destruction, and never prints it.
// Neither copyable nor movable: operations point at it.
class SaCrypto {
public:
    // Throws std::invalid_argument with a precise message when a key has the
    // wrong length ("aes-gcm-128 needs a 20-byte key (16-byte key + 4-byte
    // salt), got 16"), std::runtime_error when the CPU lacks the arch.
    // The GCM hash-key table layout depends on the arch, so an SaCrypto can
    // only be used by engines of the same arch (run() refuses others).
    SaCrypto(EspTransform t, std::span<const uint8_t> cipher_key,
             std::span<const uint8_t> integrity_key, Arch arch = Arch::best);
    ~SaCrypto();
    SaCrypto(const SaCrypto&) = delete;
    SaCrypto& operator=(const SaCrypto&) = delete;

    const EspTransform& transform() const noexcept { return transform_; }
    Arch arch() const noexcept { return arch_; }
    size_t iv_len() const noexcept { return transform_.iv_len(); }
    size_t icv_len() const noexcept { return transform_.icv_len(); }
    size_t block_align() const noexcept { return transform_.block_align(); }
    // Starts loading the key material run() will read: with many SAs each
    // packet's keys are cold, and the batch runs only after the burst is prepared.
    void prefetch() const noexcept;

    struct Keys;  // IPsec-MB structures, 64-byte aligned (opaque: esp_crypto.cpp)

private:
    friend class CryptoEngine;
    EspTransform transform_;
    Arch arch_;
    std::unique_ptr<Keys> keys_;
};

enum class EspDir : uint8_t { encrypt, decrypt };

enum class EspStatus : uint8_t {
    ok,
    auth_failed,   // decrypt: ICV mismatch; the decrypted bytes were wiped
    invalid,       // descriptor refused before submission (see EspOp)
    engine_error,  // IPsec-MB rejected or failed the job (CryptoEngine::last_error)
};
std::string_view name(EspStatus s) noexcept;

// One ESP operation; pointers go into packet memory and stay valid until
// run() returns. The transform's fields in use:
//
//   AEAD (GCM, ChaCha20-Poly1305), RFC 4106 §5 / RFC 7634 §2:
//     iv          the 8-byte IV from the packet (nonce = salt || iv)
//     aad/aad_len SPI || seq (8 bytes) or SPI || seq-hi || seq-lo with ESN
//                 (12 bytes); any length is accepted (known-answer tests)
//     cipher_*    payload + padding + pad length + next header; in place
//     icv         encrypt: written; decrypt: compared
//   CBC + HMAC, RFC 3602 / RFC 4868:
//     iv          the 16-byte IV from the packet
//     cipher_*    as above, a multiple of 16 bytes, in place
//     auth_*      ESP header through the end of the ciphertext; must start at
//                 or before cipher_start (IPsec-MB addresses both regions
//                 from one source pointer)
//     icv         encrypt: written after encryption (encrypt-then-MAC);
//                 decrypt: the received ICV, checked before it counts
//   null + HMAC: as CBC + HMAC, without iv; cipher_* is ignored.
//
// Extended sequence numbers with an HMAC (RFC 4303 §2.2.1): the high 32 bits
// of the sequence number are authenticated as if appended to the packet,
// but not sent. Set `esn` and `esn_high`, and have `icv` directly follow the
// authenticated bytes (icv == auth_start + auth_len, as on the wire). The
// engine then writes seq-hi (big-endian) over the first 4 bytes of the ICV
// field and hashes auth_len + 4 bytes: on encrypt the ICV then overwrites it,
// on decrypt the engine saves the received ICV first and puts it back. With
// an AEAD, ESN goes in the 12-byte AAD instead and `esn` must be false.
struct EspOp {
    const SaCrypto* sa = nullptr;
    const uint8_t* iv = nullptr;
    const uint8_t* aad = nullptr;
    uint8_t* cipher_start = nullptr;
    const uint8_t* auth_start = nullptr;
    uint8_t* icv = nullptr;
    uint32_t aad_len = 0;
    uint32_t cipher_len = 0;
    uint32_t auth_len = 0;
    uint32_t esn_high = 0;
    bool esn = false;
    EspDir dir = EspDir::encrypt;
    EspStatus status = EspStatus::ok;  // out
};

// One per worker lcore. Owns an IPsec-MB manager; run() is allocation-free
// and noexcept.
class CryptoEngine {
public:
    // Throws std::runtime_error when the library cannot allocate a manager
    // or the CPU lacks what `arch` needs (AES-NI at the least).
    explicit CryptoEngine(Arch arch = Arch::best);
    ~CryptoEngine();
    CryptoEngine(const CryptoEngine&) = delete;
    CryptoEngine& operator=(const CryptoEngine&) = delete;

    Arch arch() const noexcept { return arch_; }
    // "intel-ipsec-mb 1.3.0 avx512, cpu: vaes vpclmulqdq sha-ni gfni avx512-ifma"
    const std::string& name() const noexcept { return name_; }

    // Runs every op and sets each op's status. Ops are submitted as IPsec-MB
    // jobs in order and all are complete when run() returns (the manager is
    // flushed every kChunk ops: the engine keeps per-op nonces and computed
    // tags in a fixed scratch array of that size). Returns how many ops
    // ended with EspStatus::ok.
    unsigned run(EspOp* ops, unsigned n) noexcept;

    // A CBC SA's IV for sequence number `seq` (16 bytes to `iv`): unpredictable
    // without the SA's random IV key, never repeated within the SA.
    void cbc_iv(const SaCrypto& sa, uint64_t seq, uint8_t* iv) const noexcept;

    // The IPsec-MB error (imb_get_errno) of the last job that failed, 0 if none.
    int last_error() const noexcept { return last_error_; }
    std::string_view last_error_string() const noexcept;

    static constexpr unsigned kChunk = 64;

private:
    struct Slot;
    void run_chunk(EspOp* ops, unsigned n) noexcept;
    bool submit(EspOp& op, Slot& slot) noexcept;
    void complete(void* job) noexcept;

    IMB_MGR* mgr_ = nullptr;
    Arch arch_;
    std::string name_;
    std::unique_ptr<Slot[]> slots_;
    int last_error_ = 0;
};

}  // namespace rampart::crypto
