// libFuzzer target for the IKEv2 codec and the SK/SKF opening: arbitrary bytes
// (each input in an exact-size heap buffer, so ASan sees any overread) are
// decoded as a message and, after the first byte, as an inner payload chain
// named by that byte. Contracts checked:
//  - a rejected input yields no payloads and the notify the RFC prescribes;
//  - what decodes re-encodes to something that decodes to the same message
//    (encode(decode(x)) is canonical: reserved bits and skipped unknown
//    payloads are the only things allowed to go);
//  - a decoded message whose last payload is SK/SKF is opened under every
//    cipher suite without reading out of bounds (and, the keys being wrong,
//    never accepted);
//  - a decoded inner chain survives protect -> unprotect under every suite;
//  - the state machine takes the input as an IKE_SA_INIT request (responder)
//    and, with the SPI and flags patched to fit, as the response to its own
//    request (initiator) without crashing, and never reaches "established"
//    from one unauthenticated message.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "slowpath/ike/crypto.hpp"
#include "slowpath/ike/sa_state.hpp"

using namespace rampart::ike;

namespace {

const CipherSuite kSuites[] = {
    {encr_id::aes_gcm_16, 128, integ_id::none},
    {encr_id::aes_cbc, 256, integ_id::hmac_sha2_256_128},
    {encr_id::aes_cbc, 128, integ_id::hmac_sha2_512_256},
};

SkKeys keys(const CipherSuite& cs) {
    return SkKeys{cs, Secret(cs.encr_keymat_len(), 0x5a), Secret(cs.integ_key_len(), 0xa5)};
}

void check_status(const DecodeStatus& s, bool empty) {
    if (s.ok()) return;
    if (!empty || s.detail.empty()) std::abort();
    const ErrorNotify n = s.notify();
    if (s.error == DecodeError::unsupported_critical_payload &&
        (n.type != notify::unsupported_critical_payload || n.data.size() != 1 || n.data[0] != s.payload_type))
        std::abort();
    if (!notify::is_error(n.type)) std::abort();
}

PeerConfig peer(bool initiator) {
    PeerConfig c;
    c.initiator = initiator;
    Proposal p;
    p.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, 128),
                    Transform::make(TransformType::prf, prf_id::hmac_sha2_256),
                    Transform::make(TransformType::dh, dh_id::curve25519)};
    Proposal q;
    q.transforms = {Transform::make(TransformType::encr, encr_id::aes_cbc, 256),
                    Transform::make(TransformType::integ, integ_id::hmac_sha2_256_128),
                    Transform::make(TransformType::prf, prf_id::hmac_sha2_256),
                    Transform::make(TransformType::dh, dh_id::ecp256)};
    c.ike_proposals = {p, q};
    c.ke_group = dh_id::curve25519;
    Proposal e;
    e.protocol = ProtocolId::esp;
    e.transforms = {Transform::make(TransformType::encr, encr_id::aes_gcm_16, 128),
                    Transform::make(TransformType::esn, esn_id::no)};
    c.esp_proposals = {e};
    c.local_id = IdPayload::text(IdType::fqdn, initiator ? "i.example" : "r.example");
    c.psk = Secret(32, 0x33);
    c.ts_local = c.ts_remote = {TrafficSelector::from_prefix(*rampart::Prefix::parse("0.0.0.0/0"))};
    return c;
}

void check_machine(const Output& o, const IkeSa& sa) {
    for (const Event& e : o.events)
        if (std::holds_alternative<IkeSaUp>(e) || std::holds_alternative<ChildSaUp>(e)) std::abort();
    if (sa.state() == SaState::established) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::unique_ptr<uint8_t[]> exact(new uint8_t[size]);
    if (size) std::memcpy(exact.get(), data, size);
    const std::span<const uint8_t> in(exact.get(), size);

    DecodedMessage d = decode(in);
    check_status(d.status, d.message.payloads.empty());
    if (d.ok()) {
        const Bytes re = encode(d.message);
        if (re.size() > in.size()) std::abort();  // only skipped payloads may go
        DecodedMessage d2 = decode(re);
        if (!d2.ok() || d2.message.payloads != d.message.payloads || encode(d2.message) != re) std::abort();
        const Payload* last = d.message.payloads.empty() ? nullptr : &d.message.payloads.back();
        if (last && (last->type == PayloadType::sk || last->type == PayloadType::skf) && re == Bytes(in.begin(), in.end()))
            for (const CipherSuite& cs : kSuites) {
                const Opened o = unprotect(keys(cs), in, d.message);
                if (o.ok()) std::abort();  // a forgery under a fixed key
                if (!o.payloads.empty() || !o.plaintext.empty()) std::abort();
            }
    }

    if (size > 4096) return 0;
    {
        IkeSa r(peer(false));
        const Output o = r.receive(in, Millis(0));
        check_machine(o, r);
        if (o.send.size() > 1) std::abort();
    }
    if (size >= kHeaderLen) {
        IkeSa i(peer(true));
        const Output start = i.start(Millis(0));
        if (start.send.size() != 1) std::abort();
        Bytes resp(in.begin(), in.end());
        const uint64_t spi = i.spi_i();
        for (int b = 0; b < 8; ++b) resp[b] = uint8_t(spi >> (56 - 8 * b));
        resp[19] = kFlagResponse;
        std::memset(&resp[20], 0, 4);
        const Output o = i.receive(resp, Millis(1));
        check_machine(o, i);
    }
    if (size < 1) return 0;
    DecodedPayloads p = decode_payloads(PayloadType(in[0]), in.subspan(1));
    check_status(p.status, p.payloads.empty());
    if (!p.ok()) return 0;
    const Bytes re = encode_payloads(p.payloads);
    DecodedPayloads p2 = decode_payloads(p.payloads.empty() ? PayloadType::none : p.payloads.front().type, re);
    if (!p2.ok() || p2.payloads != p.payloads) std::abort();
    Header h;
    h.exchange = ExchangeType::informational;
    h.message_id = 7;
    for (const CipherSuite& cs : kSuites) {
        const SkKeys k = keys(cs);
        const Bytes wire = protect(k, h, p.payloads);
        DecodedMessage dm = decode(wire);
        if (!dm.ok()) std::abort();
        const Opened o = unprotect(k, wire, dm.message);
        if (!o.ok() || o.payloads != p.payloads) std::abort();
    }
    return 0;
}
