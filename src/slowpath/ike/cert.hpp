// X.509 for IKEv2 certificate authentication (RFC 7296 §2.15, §3.6): loading
// PEM files, checking a peer's end-entity certificate against configured
// trust anchors (OpenSSL's chain verification, intermediates from the peer's
// other CERT payloads) and against the identity it claims (an address must
// be in its subjectAltName, an FQDN must match it, a DN must be its subject).
// The signature itself is crypto.hpp's verify_auth (RFC 7427).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "slowpath/ike/message.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace rampart::ike {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const;
};
using PkeyPtr = std::shared_ptr<EVP_PKEY>;

/// Our certificate and key: DER of the certificate, the private key.
struct Credentials {
    Bytes certificate;
    std::vector<Bytes> intermediates;  // DER, from the certificate file after ours; sent after it
    PkeyPtr private_key;
    std::vector<Bytes> trust_anchors;  // CA certificates, DER
    /// CRLs of the CAs, DER; set: the peer's certificate must not be revoked
    /// and its issuer's CRL must be among them (X509_V_FLAG_CRL_CHECK).
    std::vector<Bytes> crls;
};

/// Loads a PEM certificate (optionally followed by intermediate CA
/// certificates in the same file), a PEM private key and a PEM file of one or more CA
/// certificates. nullopt with `why` (no key material in it) on failure.
std::optional<Credentials> load_credentials(const std::string& cert_file, const std::string& key_file,
                                            const std::string& ca_file, std::string& why);

/// Adds the CRLs of a file (one or more PEM CRLs, or one DER CRL) to
/// `c.crls`; false with `why` when there is none.
bool load_crls(Credentials& c, const std::string& crl_file, std::string& why);

/// The peer's public key when `end_entity` chains to one of `anchors` (with
/// `intermediates`), is not revoked by `crls` (when given) and carries `id`;
/// nullptr with `why` otherwise ("certificate does not verify: certificate
/// revoked", ...).
PkeyPtr verify_peer_certificate(const Bytes& end_entity, const std::vector<Bytes>& intermediates,
                                const std::vector<Bytes>& anchors, const IdPayload& id, std::string& why,
                                const std::vector<Bytes>& crls = {});

/// CERTREQ data (RFC 7296 §3.7): the SHA-1 hashes of the anchors'
/// SubjectPublicKeyInfo, concatenated.
Bytes ca_key_hashes(const std::vector<Bytes>& anchors);

/// The ID payload a certificate's subject DN gives (ID_DER_ASN1_DN).
std::optional<IdPayload> subject_id(const Bytes& certificate);

/// The DER of a distinguished name written "C=CH, O=Example, CN=gw" (in
/// that order, UTF8 strings as strongSwan encodes them); nullopt and `why`
/// for an unknown attribute or a bad value.
std::optional<Bytes> dn_der(const std::string& text, std::string& why);

}  // namespace rampart::ike
