// An independent ESP implementation for tests, on OpenSSL 3 EVP (not the
// IPsec-MB engine under test): builds tunnel-mode ESP payloads (RFC 4303,
// 4106, 7634, 3602 + 4868) and opens the ones rampartd sends.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rampart::test {

struct EspOracleSa {
    std::string cipher;     // aes-gcm-128/256, chacha20-poly1305, aes-cbc-128/256, null
    std::string integrity;  // "" or hmac-sha-256/384/512
    std::vector<uint8_t> cipher_key, integrity_key;
    uint32_t spi = 0;
    bool esn = false;

    bool aead() const { return cipher.rfind("aes-gcm", 0) == 0 || cipher == "chacha20-poly1305"; }
    size_t iv_len() const { return aead() ? 8 : cipher == "null" ? 0 : 16; }
    size_t icv_len() const {
        if (aead() || integrity == "hmac-sha-256") return 16;
        return integrity == "hmac-sha-384" ? 24 : 32;
    }
    size_t align() const { return cipher.rfind("aes-cbc", 0) == 0 ? 16 : 4; }
    const EVP_CIPHER* evp() const {
        if (cipher == "aes-gcm-128") return EVP_aes_128_gcm();
        if (cipher == "aes-gcm-256") return EVP_aes_256_gcm();
        if (cipher == "chacha20-poly1305") return EVP_chacha20_poly1305();
        if (cipher == "aes-cbc-128") return EVP_aes_128_cbc();
        if (cipher == "aes-cbc-256") return EVP_aes_256_cbc();
        return nullptr;
    }
    const EVP_MD* md() const {
        if (integrity == "hmac-sha-256") return EVP_sha256();
        if (integrity == "hmac-sha-384") return EVP_sha384();
        return EVP_sha512();
    }
};

namespace oracle_detail {
inline void put_be32(std::vector<uint8_t>& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}
inline std::vector<uint8_t> aad(const EspOracleSa& sa, const uint8_t* esp, uint32_t seq_high) {
    std::vector<uint8_t> a(esp, esp + 4);
    if (sa.esn) put_be32(a, seq_high);
    a.insert(a.end(), esp + 4, esp + 8);
    return a;
}
// AEAD seal/open: nonce = salt (last 4 key bytes) || IV.
inline bool aead(const EspOracleSa& sa, bool enc, const uint8_t* iv, const std::vector<uint8_t>& a, uint8_t* data,
                 size_t len, uint8_t* tag) {
    const size_t key_len = sa.cipher_key.size() - 4;
    uint8_t nonce[12];
    std::memcpy(nonce, sa.cipher_key.data() + key_len, 4);
    std::memcpy(nonce + 4, iv, 8);
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = EVP_CipherInit_ex(c, sa.evp(), nullptr, nullptr, nullptr, enc) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
              EVP_CipherInit_ex(c, nullptr, nullptr, sa.cipher_key.data(), nonce, enc) == 1 &&
              EVP_CipherUpdate(c, nullptr, &n, a.data(), int(a.size())) == 1 &&
              (len == 0 || EVP_CipherUpdate(c, data, &n, data, int(len)) == 1);
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, data + len, &n) == 1;
    if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}
inline std::vector<uint8_t> hmac(const EspOracleSa& sa, const uint8_t* p, size_t len, bool esn, uint32_t seq_high) {
    std::vector<uint8_t> msg(p, p + len);
    if (esn) put_be32(msg, seq_high);
    uint8_t out[64];
    unsigned out_len = 0;
    HMAC(sa.md(), sa.integrity_key.data(), int(sa.integrity_key.size()), msg.data(), msg.size(), out, &out_len);
    return std::vector<uint8_t>(out, out + sa.icv_len());
}
inline bool cbc(const EspOracleSa& sa, bool enc, const uint8_t* iv, uint8_t* data, size_t len) {
    if (sa.cipher == "null") return true;
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = EVP_CipherInit_ex(c, sa.evp(), nullptr, sa.cipher_key.data(), iv, enc) == 1 &&
              EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_CipherUpdate(c, data, &n, data, int(len)) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}
}  // namespace oracle_detail

// ESP (from the SPI to the ICV) carrying `inner` in tunnel mode.
inline std::vector<uint8_t> esp_seal(const EspOracleSa& sa, uint64_t seq, const std::vector<uint8_t>& iv,
                                     const std::vector<uint8_t>& inner, uint8_t next_header) {
    using namespace oracle_detail;
    std::vector<uint8_t> p;
    put_be32(p, sa.spi);
    put_be32(p, uint32_t(seq));
    p.insert(p.end(), iv.begin(), iv.end());
    const size_t payload_at = p.size();
    p.insert(p.end(), inner.begin(), inner.end());
    size_t pad = (sa.align() - (inner.size() + 2) % sa.align()) % sa.align();
    for (size_t i = 1; i <= pad; ++i) p.push_back(uint8_t(i));
    p.push_back(uint8_t(pad));
    p.push_back(next_header);
    const size_t enc_len = p.size() - payload_at;
    if (sa.aead()) {
        p.resize(p.size() + 16);
        if (!aead(sa, true, iv.data(), aad(sa, p.data(), uint32_t(seq >> 32)), p.data() + payload_at, enc_len,
                  p.data() + payload_at + enc_len))
            throw std::runtime_error("oracle: AEAD seal failed");
        return p;
    }
    if (!cbc(sa, true, iv.data(), p.data() + payload_at, enc_len)) throw std::runtime_error("oracle: CBC failed");
    auto icv = hmac(sa, p.data(), p.size(), sa.esn, uint32_t(seq >> 32));
    p.insert(p.end(), icv.begin(), icv.end());
    return p;
}

struct EspOpened {
    uint32_t spi, seq;
    std::vector<uint8_t> inner;
    uint8_t next_header;
};

// Verifies and decrypts ESP (SPI..ICV); nullopt when the ICV or padding is wrong.
inline std::optional<EspOpened> esp_open(const EspOracleSa& sa, std::vector<uint8_t> p, uint32_t seq_high = 0) {
    using namespace oracle_detail;
    const size_t iv_len = sa.iv_len(), icv_len = sa.icv_len();
    if (p.size() < 8 + iv_len + 2 + icv_len) return std::nullopt;
    EspOpened o;
    o.spi = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
    o.seq = uint32_t(p[4]) << 24 | uint32_t(p[5]) << 16 | uint32_t(p[6]) << 8 | p[7];
    const size_t payload_at = 8 + iv_len, enc_len = p.size() - payload_at - icv_len;
    std::vector<uint8_t> iv(p.begin() + 8, p.begin() + long(payload_at));
    if (sa.aead()) {
        if (!aead(sa, false, iv.data(), aad(sa, p.data(), seq_high), p.data() + payload_at, enc_len,
                  p.data() + payload_at + enc_len))
            return std::nullopt;
    } else {
        auto icv = hmac(sa, p.data(), p.size() - icv_len, sa.esn, seq_high);
        if (!std::equal(icv.begin(), icv.end(), p.end() - long(icv_len))) return std::nullopt;
        if (!cbc(sa, false, iv.data(), p.data() + payload_at, enc_len)) return std::nullopt;
    }
    const uint8_t pad = p[payload_at + enc_len - 2];
    if (pad + 2u > enc_len) return std::nullopt;
    for (unsigned i = 0; i < pad; ++i)
        if (p[payload_at + enc_len - 2 - pad + i] != i + 1) return std::nullopt;
    o.next_header = p[payload_at + enc_len - 1];
    o.inner.assign(p.begin() + long(payload_at), p.begin() + long(payload_at + enc_len - 2 - pad));
    return o;
}

}  // namespace rampart::test
