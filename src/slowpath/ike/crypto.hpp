// IKEv2 cryptography through OpenSSL 3 EVP: the PRFs and prf+ (RFC 7296
// §2.13), the IKE SA and Child SA key derivation (§2.14, §2.17), the
// Diffie-Hellman groups we offer (14 MODP-2048, 19/20 ECP-256/384 per RFC 5903,
// 31 Curve25519 per RFC 8031), SK / SKF payload protection (§3.14, RFC 5282
// AES-GCM, RFC 4868 HMAC-SHA2 truncations, RFC 7383 fragments) and AUTH
// (shared key §2.15, digital signatures RFC 7427).
//
// Secrets (keys, DH shared values, PSKs, SKEYSEED) live in `Secret` buffers
// that are wiped (OPENSSL_cleanse) when freed, including on reallocation.
// Nothing here logs; error details never contain key material.
#pragma once

#include "slowpath/ike/message.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace rampart::ike {

// ---------------------------------------------------------------- secrets

void secure_wipe(void* p, size_t n);

template <class T> struct WipingAllocator {
    using value_type = T;
    WipingAllocator() = default;
    template <class U> WipingAllocator(const WipingAllocator<U>&) {}
    T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, size_t n) {
        secure_wipe(p, n * sizeof(T));
        std::allocator<T>().deallocate(p, n);
    }
    template <class U> bool operator==(const WipingAllocator<U>&) const { return true; }
};

using Secret = std::vector<uint8_t, WipingAllocator<uint8_t>>;

inline Secret to_secret(std::span<const uint8_t> s) { return Secret(s.begin(), s.end()); }

// ---------------------------------------------------------------- PRF

enum class PrfAlg : uint16_t {
    hmac_sha2_256 = prf_id::hmac_sha2_256,
    hmac_sha2_384 = prf_id::hmac_sha2_384,
    hmac_sha2_512 = prf_id::hmac_sha2_512,
};

/// Output (and preferred key) length in bytes: 32, 48, 64.
size_t prf_len(PrfAlg a);
std::optional<PrfAlg> prf_from_id(uint16_t transform_id);

/// HMAC over the concatenation of the data parts.
Secret prf(PrfAlg a, std::span<const uint8_t> key, std::span<const uint8_t> data);
Secret prf(PrfAlg a, std::span<const uint8_t> key, std::initializer_list<std::span<const uint8_t>> data);

/// prf+ (§2.13): T1 | T2 | ... truncated to len; len must not exceed 255
/// PRF outputs (returns an empty Secret then).
Secret prf_plus(PrfAlg a, std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t len);

// ---------------------------------------------------------------- transforms

// The protection of SK payloads and of Child SAs: an encryption transform
// with its key length, and an integrity transform unless the cipher is AEAD.
struct CipherSuite {
    uint16_t encr = encr_id::aes_gcm_16;
    uint16_t key_bits = 256;
    uint16_t integ = integ_id::none;

    bool aead() const { return encr == encr_id::aes_gcm_16; }
    /// Bytes of keying material for the cipher (AES-GCM: key + 4-byte salt, RFC 5282 §7.1).
    size_t encr_keymat_len() const;
    size_t integ_key_len() const;  // 0 for AEAD
    size_t iv_len() const;         // 8 for GCM, 16 for CBC
    size_t icv_len() const;        // 16 for GCM, the truncated HMAC otherwise
    size_t block_len() const;      // padding alignment: 1 for GCM, 16 for CBC
    /// Whether we implement this combination (AES-GCM-16 or AES-CBC with
    /// 128/256-bit keys; CBC needs HMAC-SHA2-256-128/384-192/512-256).
    bool supported() const;
};

/// The integrity check value of an INTEG transform (RFC 4868 §2.3: HMAC-SHA2
/// truncated to half its length). Empty for an unknown transform.
Bytes icv(uint16_t integ_transform, std::span<const uint8_t> key, std::span<const uint8_t> data);

// ---------------------------------------------------------------- key derivation

struct IkeKeys {
    Secret sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr;
};

/// SKEYSEED = prf(Ni | Nr, g^ir) (§2.14).
Secret skeyseed(PrfAlg a, std::span<const uint8_t> ni, std::span<const uint8_t> nr, std::span<const uint8_t> g_ir);

/// SKEYSEED for an IKE SA rekey: prf(SK_d(old), g^ir(new) | Ni | Nr) (§2.18).
Secret skeyseed_rekey(PrfAlg old_prf, std::span<const uint8_t> old_sk_d, std::span<const uint8_t> g_ir,
                      std::span<const uint8_t> ni, std::span<const uint8_t> nr);

/// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
///   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), SPIs big-endian.
IkeKeys derive_ike_keys(PrfAlg a, const CipherSuite& cs, std::span<const uint8_t> skeyseed,
                        std::span<const uint8_t> ni, std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r);

struct ChildKeys {
    Secret encr_i, integ_i;  // initiator -> responder
    Secret encr_r, integ_r;  // responder -> initiator
};

/// KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), taken in the order
/// encr i->r, integ i->r, encr r->i, integ r->i (§2.17).
ChildKeys derive_child_keys(PrfAlg a, std::span<const uint8_t> sk_d, const CipherSuite& cs,
                            std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                            std::span<const uint8_t> g_ir_pfs = {});

// ---------------------------------------------------------------- Diffie-Hellman

/// Our half of one key exchange.
class DhKey {
public:
    /// A fresh key pair; nullptr for a group we do not implement.
    static std::unique_ptr<DhKey> generate(uint16_t group);
    /// A key from a known private value (test vectors): the big-endian scalar
    /// for ECP groups, the 32-byte scalar for Curve25519. MODP: nullptr.
    static std::unique_ptr<DhKey> from_private(uint16_t group, std::span<const uint8_t> priv);
    ~DhKey();
    DhKey(const DhKey&) = delete;
    DhKey& operator=(const DhKey&) = delete;

    uint16_t group() const { return group_; }
    /// The KE payload's data: g^x padded to the modulus (MODP), x | y (ECP,
    /// RFC 5903 §7), the u coordinate (Curve25519, RFC 8031 §2).
    Bytes public_value() const;
    /// g^ir from the peer's KE data. Errors (nullopt): wrong length, a value
    /// that is not a valid public key of the group (out of range, off the
    /// curve), an all-zero Curve25519 result (RFC 8031 §2.3).
    std::optional<Secret> shared_secret(std::span<const uint8_t> peer) const;

    static bool supported(uint16_t group);
    static size_t public_len(uint16_t group);  // 0 if unsupported

private:
    DhKey(uint16_t g, EVP_PKEY* k) : group_(g), key_(k) {}
    uint16_t group_;
    EVP_PKEY* key_;
};

// ---------------------------------------------------------------- SK payloads

#define RAMPART_IKE_CRYPTO_ERRORS(_)                                                    \
    _(none, "no error")                                                                 \
    _(not_encrypted, "the message's last payload is not SK or SKF")                    \
    _(bad_length, "encrypted payload too short or not a whole number of blocks")       \
    _(integrity_check_failed, "integrity check value mismatch")                        \
    _(bad_padding, "pad length beyond the decrypted data")                             \
    _(bad_inner_payloads, "decrypted payloads do not decode")                          \
    _(unsupported_transform, "cipher suite not implemented")                           \
    _(internal, "OpenSSL failure")

enum class CryptoError : uint8_t {
#define RAMPART_IKE_X(name, text) name,
    RAMPART_IKE_CRYPTO_ERRORS(RAMPART_IKE_X)
#undef RAMPART_IKE_X
};
std::string_view describe(CryptoError e);

/// Keys protecting one direction of an IKE SA (SK_ei/SK_ai or SK_er/SK_ar).
struct SkKeys {
    CipherSuite suite;
    Secret encr;   // with the 4-byte salt at the end for GCM
    Secret integ;  // empty for GCM
};

/// Our outbound / the peer's inbound keys, by role.
SkKeys outbound_keys(const IkeKeys& k, const CipherSuite& cs, bool initiator);
SkKeys inbound_keys(const IkeKeys& k, const CipherSuite& cs, bool initiator);

/// A whole protected message: header | SK { inner payloads }, or with
/// fragment = {n, total}, header | SKF { n, total, plaintext } where the
/// plaintext is this fragment's share of the encoded inner payloads (RFC 7383
/// §2.5). `iv` is used when given (tests), random otherwise. The header's
/// next_payload and length are set here.
Bytes protect(const SkKeys& k, const Header& h, std::span<const Payload> inner, std::span<const uint8_t> iv = {});
Bytes protect_fragment(const SkKeys& k, const Header& h, PayloadType inner_first, uint16_t number,
                       uint16_t total, std::span<const uint8_t> plaintext, std::span<const uint8_t> iv = {});

/// Splits `inner` into SKF messages no longer than `max_message` bytes
/// (RFC 7383 §2.5.1). Empty when max_message leaves no room for data.
std::vector<Bytes> protect_fragments(const SkKeys& k, const Header& h, std::span<const Payload> inner,
                                     size_t max_message);

struct Opened {
    CryptoError error = CryptoError::none;
    std::string detail;
    PayloadType inner_first = PayloadType::none;
    Bytes plaintext;                // the inner payload chain (padding removed)
    std::vector<Payload> payloads;  // decoded (SK only; SKF leaves this to reassembly)
    DecodeStatus decode;            // for bad_inner_payloads
    uint16_t fragment_number = 0, fragment_total = 0;  // SKF
    bool ok() const { return error == CryptoError::none; }
};

/// Checks and decrypts the SK (or SKF) payload of `msg`, which must be the
/// decoded form of `wire`. For SK the inner payloads are decoded too.
Opened unprotect(const SkKeys& k, std::span<const uint8_t> wire, const Message& msg);

// ---------------------------------------------------------------- AUTH

/// <SignedOctets> (§2.15): RealMessage | peer's Nonce data |
/// prf(SK_px, RestOfIDPayload), with RestOfIDPayload = ID type, 3 reserved
/// bytes, ID data.
Bytes signed_octets(PrfAlg a, std::span<const uint8_t> real_message, std::span<const uint8_t> peer_nonce,
                    std::span<const uint8_t> sk_p, const IdPayload& id);

/// AUTH data for a shared key: prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>).
Secret psk_auth(PrfAlg a, std::span<const uint8_t> psk, std::span<const uint8_t> signed_octets);
/// Constant-time comparison against a received AUTH payload's data.
bool verify_psk_auth(PrfAlg a, std::span<const uint8_t> psk, std::span<const uint8_t> signed_octets,
                     std::span<const uint8_t> received);

enum class SigScheme : uint8_t {
    rsa_pkcs1_sha256,
    rsa_pkcs1_sha384,
    rsa_pkcs1_sha512,
    rsa_pss_sha256,  // MGF1 with the same hash, salt = hash length
    rsa_pss_sha384,
    rsa_pss_sha512,
    ecdsa_sha256,
    ecdsa_sha384,
    ecdsa_sha512,
};

/// The DER AlgorithmIdentifier RFC 7427 §3 puts in front of the signature.
Bytes algorithm_identifier(SigScheme s);

/// AUTH data for method 14 (RFC 7427 §3): length of the AlgorithmIdentifier
/// (one byte) | AlgorithmIdentifier | signature. Empty on failure (wrong key
/// type for the scheme).
Bytes sign_auth(EVP_PKEY* private_key, SigScheme s, std::span<const uint8_t> signed_octets);

/// Verifies method-14 AUTH data; the scheme comes from the AlgorithmIdentifier
/// and must be one of ours and fit the key. Sets *scheme when given.
bool verify_auth(EVP_PKEY* public_key, std::span<const uint8_t> auth_data, std::span<const uint8_t> signed_octets,
                 SigScheme* scheme = nullptr);

/// NAT_DETECTION_SOURCE_IP / _DESTINATION_IP data (§2.23):
/// SHA-1(SPIi | SPIr | IP address | port), SPIr zero in the IKE_SA_INIT request.
Bytes nat_detection_hash(uint64_t spi_i, uint64_t spi_r, const IpAddr& ip, uint16_t port);

/// Random bytes (nonces, SPIs, IVs).
Bytes random_bytes(size_t n);

}  // namespace rampart::ike
