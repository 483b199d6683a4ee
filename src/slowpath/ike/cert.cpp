#include "slowpath/ike/cert.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstdio>

#include <fmt/format.h>

namespace rampart::ike {

void PkeyFree::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }

namespace {

struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr from_der(const Bytes& der) {
    const unsigned char* p = der.data();
    X509* x = d2i_X509(nullptr, &p, long(der.size()));
    if (x && p != der.data() + der.size()) {  // trailing bytes
        X509_free(x);
        return nullptr;
    }
    return X509Ptr(x);
}

Bytes to_der(X509* x) {
    int n = i2d_X509(x, nullptr);
    if (n <= 0) return {};
    Bytes out(static_cast<size_t>(n));
    unsigned char* p = out.data();
    i2d_X509(x, &p);
    return out;
}

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

}  // namespace

std::optional<Credentials> load_credentials(const std::string& cert_file, const std::string& key_file,
                                            const std::string& ca_file, std::string& why) {
    Credentials c;
    FILE* f = fopen(cert_file.c_str(), "r");
    if (!f) {
        why = fmt::format("cannot read certificate {}", cert_file);
        return std::nullopt;
    }
    X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
    if (!cert) {
        fclose(f);
        why = fmt::format("{}: not a PEM certificate: {}", cert_file, openssl_error());
        return std::nullopt;
    }
    c.certificate = to_der(cert.get());
    // The rest of the file: intermediate CA certificates, sent after ours so
    // the peer can build the chain to its trust anchor.
    while (X509Ptr more{PEM_read_X509(f, nullptr, nullptr, nullptr)}) c.intermediates.push_back(to_der(more.get()));
    ERR_clear_error();  // the end of the file reads as an error
    fclose(f);
    f = fopen(key_file.c_str(), "r");
    if (!f) {
        why = fmt::format("cannot read private key {}", key_file);
        return std::nullopt;
    }
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    fclose(f);
    ERR_clear_error();  // never quote the key file's contents
    if (!key) {
        why = fmt::format("{}: not a PEM private key (unencrypted RSA or EC)", key_file);
        return std::nullopt;
    }
    c.private_key = PkeyPtr(key, PkeyFree{});
    if (X509_check_private_key(cert.get(), key) != 1) {
        ERR_clear_error();
        why = fmt::format("{} is not the private key of {}", key_file, cert_file);
        return std::nullopt;
    }
    f = fopen(ca_file.c_str(), "r");
    if (!f) {
        why = fmt::format("cannot read CA certificates {}", ca_file);
        return std::nullopt;
    }
    while (X509* ca = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
        c.trust_anchors.push_back(to_der(ca));
        X509_free(ca);
    }
    fclose(f);
    ERR_clear_error();
    if (c.trust_anchors.empty()) {
        why = fmt::format("{}: no PEM CA certificate", ca_file);
        return std::nullopt;
    }
    return c;
}

std::optional<IdPayload> subject_id(const Bytes& certificate) {
    X509Ptr x = from_der(certificate);
    if (!x) return std::nullopt;
    X509_NAME* name = X509_get_subject_name(x.get());
    unsigned char* der = nullptr;
    int n = i2d_X509_NAME(name, &der);
    if (n <= 0) return std::nullopt;
    IdPayload id;
    id.type = IdType::der_asn1_dn;
    id.data.assign(der, der + n);
    OPENSSL_free(der);
    return id;
}

std::optional<Bytes> dn_der(const std::string& text, std::string& why) {
    std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> name(X509_NAME_new(), X509_NAME_free);
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        std::string rdn = text.substr(start, comma - start);
        start = comma + 1;
        rdn.erase(0, rdn.find_first_not_of(' '));
        rdn.erase(rdn.find_last_not_of(' ') + 1);
        const size_t eq = rdn.find('=');
        if (eq == std::string::npos) {
            why = fmt::format("'{}' is not ATTRIBUTE=VALUE", rdn);
            return std::nullopt;
        }
        const std::string attr = rdn.substr(0, eq), value = rdn.substr(eq + 1);
        if (!X509_NAME_add_entry_by_txt(name.get(), attr.c_str(), MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(value.data()), int(value.size()), -1,
                                        0)) {
            ERR_clear_error();
            why = fmt::format("unknown attribute or bad value in '{}'", rdn);
            return std::nullopt;
        }
    }
    unsigned char* der = nullptr;
    const int n = i2d_X509_NAME(name.get(), &der);
    if (n <= 0) {
        why = "the name does not encode";
        return std::nullopt;
    }
    Bytes out(der, der + n);
    OPENSSL_free(der);
    return out;
}

bool load_crls(Credentials& c, const std::string& crl_file, std::string& why) {
    FILE* f = fopen(crl_file.c_str(), "r");
    if (!f) {
        why = fmt::format("cannot read CRL {}", crl_file);
        return false;
    }
    auto add = [&](X509_CRL* crl) {
        unsigned char* der = nullptr;
        const int n = i2d_X509_CRL(crl, &der);
        if (n > 0) c.crls.emplace_back(der, der + n);
        OPENSSL_free(der);
        X509_CRL_free(crl);
    };
    size_t before = c.crls.size();
    while (X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr)) add(crl);
    if (c.crls.size() == before) {  // not PEM: one DER CRL
        rewind(f);
        if (X509_CRL* crl = d2i_X509_CRL_fp(f, nullptr)) add(crl);
    }
    fclose(f);
    ERR_clear_error();
    if (c.crls.size() == before) {
        why = fmt::format("{}: no PEM or DER CRL", crl_file);
        return false;
    }
    return true;
}

Bytes ca_key_hashes(const std::vector<Bytes>& anchors) {
    Bytes out;
    for (const Bytes& a : anchors) {
        X509Ptr x = from_der(a);
        if (!x) continue;
        unsigned char* der = nullptr;
        const int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x.get()), &der);
        if (n <= 0) continue;
        unsigned char md[20];
        unsigned int len = 0;
        EVP_Digest(der, size_t(n), md, &len, EVP_sha1(), nullptr);
        OPENSSL_free(der);
        out.insert(out.end(), md, md + len);
    }
    return out;
}

PkeyPtr verify_peer_certificate(const Bytes& end_entity, const std::vector<Bytes>& intermediates,
                                const std::vector<Bytes>& anchors, const IdPayload& id, std::string& why,
                                const std::vector<Bytes>& crls) {
    X509Ptr cert = from_der(end_entity);
    if (!cert) {
        why = "certificate does not parse";
        return nullptr;
    }
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
    for (const Bytes& a : anchors)
        if (X509Ptr x = from_der(a)) X509_STORE_add_cert(store.get(), x.get());
    for (const Bytes& der : crls) {
        const unsigned char* p = der.data();
        if (X509_CRL* crl = d2i_X509_CRL(nullptr, &p, long(der.size()))) {
            X509_STORE_add_crl(store.get(), crl);
            X509_CRL_free(crl);
        }
    }
    if (!crls.empty()) X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
    std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain(
        sk_X509_new_null(), [](STACK_OF(X509)* s) { sk_X509_pop_free(s, X509_free); });
    for (const Bytes& i : intermediates)
        if (X509* x = from_der(i).release()) sk_X509_push(chain.get(), x);
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
    if (!X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), chain.get())) {
        why = "certificate check could not start: " + openssl_error();
        return nullptr;
    }
    if (X509_verify_cert(ctx.get()) != 1) {
        why = fmt::format("certificate does not verify: {}",
                          X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
        ERR_clear_error();
        return nullptr;
    }
    bool id_ok = false;
    switch (id.type) {
        case IdType::ipv4_addr:
        case IdType::ipv6_addr:
            id_ok = X509_check_ip(cert.get(), id.data.data(), id.data.size(), 0) == 1;
            break;
        case IdType::fqdn:
            id_ok = X509_check_host(cert.get(), reinterpret_cast<const char*>(id.data.data()), id.data.size(), 0,
                                    nullptr) == 1;
            break;
        case IdType::rfc822_addr:
            id_ok = X509_check_email(cert.get(), reinterpret_cast<const char*>(id.data.data()), id.data.size(), 0) == 1;
            break;
        case IdType::der_asn1_dn: {
            auto subject = subject_id(end_entity);
            id_ok = subject && subject->data == id.data;
            break;
        }
        default: break;
    }
    ERR_clear_error();
    if (!id_ok) {
        why = "identity is not in its certificate";
        return nullptr;
    }
    EVP_PKEY* pub = X509_get_pubkey(cert.get());
    if (!pub) {
        why = "certificate has no usable public key";
        return nullptr;
    }
    return PkeyPtr(pub, PkeyFree{});
}

}  // namespace rampart::ike
