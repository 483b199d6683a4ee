// The IKE SA state machine (RFC 7296): IKE_SA_INIT + IKE_AUTH with a
// pre-shared key or certificates (§1.2, §2.15, RFC 7427), as initiator or
// responder, the first Child SA (§1.3 piggy-backed in IKE_AUTH, §2.9 traffic
// selector narrowing, §2.17 keys), CREATE_CHILD_SA and INFORMATIONAL.
//
// Pure: no sockets, no clock, no timers. The transport feeds it received
// datagrams (the UDP payload, non-ESP marker removed) and the current time,
// asks next_timeout() when to call timeout(), and sends what comes back in
// Output::send to the peer's address. Events report what the control plane
// must act on (install the Child SA's keys and SPIs in the SAD, give up).
//
// Message IDs (§2.3): window size 1 both ways. Our request stays outstanding
// until its response arrives; it is retransmitted after `retransmit_base`,
// doubling each time, and the SA fails after `retransmit_tries` sends. A
// request from the peer with the ID we last answered is answered again from
// the cache (byte-identical) when it is byte-identical; other IDs are dropped.
// Responses that do not match the outstanding request, and messages whose
// integrity check fails, are dropped silently (§2.21) and counted.
//
// CREATE_CHILD_SA (§1.3) in both roles: Child SA rekeying (§1.3.3) with
// optional PFS (a KE payload, KEYMAT with the new g^ir, INVALID_KE_PAYLOAD
// retry), additional Child SAs as responder, and IKE SA rekeying (§1.3.2,
// §2.18): the new IKE SA is a new IkeSa object (take_successor()) with the
// rekey's SPIs and keys (SKEYSEED = prf(SK_d old, g^ir | Ni | Nr)), message
// IDs from 0, its initiator the side that started the rekey, and the Child
// SAs moved to it; the old one, state `rekeyed`, is deleted by the rekey's
// initiator with INFORMATIONAL Delete(IKE). Collisions (§2.8.1, §2.8.2,
// §2.25): when both sides rekey the same SA, both exchanges complete and the
// one with the lowest of the four nonces is redundant; its initiator deletes
// what it created (a Child SA reported as `redundant` or by
// ChildSaRedundant; a redundant IKE SA from take_redundant() that sends its
// own Delete). A rekey of an SA we are deleting gets TEMPORARY_FAILURE, of a
// Child SA we do not have CHILD_SA_NOT_FOUND; an IKE SA rekey while one of
// our Child SA exchanges is outstanding gets TEMPORARY_FAILURE.
// INFORMATIONAL Delete(ESP) removes Child SAs both ways. IKE fragmentation
// (RFC 7383) is used for IKE_AUTH and later when configured.
#pragma once

#include "slowpath/ike/cert.hpp"
#include "slowpath/ike/crypto.hpp"
#include "slowpath/ike/message.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rampart::ike {

using Millis = std::chrono::milliseconds;

// An address and UDP port as the transport sees them.
struct Endpoint {
    IpAddr addr;
    uint16_t port = 500;
};

struct PeerConfig {
    bool initiator = true;
    /// IKE SA proposals: transforms of types ENCR (with Key Length), PRF,
    /// INTEG (not with AES-GCM) and D-H. Numbers are assigned when sent.
    std::vector<Proposal> ike_proposals;
    /// Child SA (ESP) proposals: ENCR, INTEG unless AEAD, ESN. SPIs are ours.
    std::vector<Proposal> esp_proposals;
    /// PFS in CREATE_CHILD_SA (§1.3.1, §1.3.3): these D-H groups are added to
    /// the ESP proposals there (the first is our KE guess) and a KE payload is
    /// sent and required. Empty: no PFS; a peer's KE is refused
    /// (NO_PROPOSAL_CHOSEN), as is a missing one when we want PFS.
    std::vector<uint16_t> pfs_groups;
    uint16_t ke_group = dh_id::ecp256;  // the initiator's first KE guess
    IdPayload local_id;
    std::optional<IdPayload> remote_id;  // the peer must present exactly this
    Secret psk;
    /// Set: authenticate with our certificate (CERT + RFC 7427 signature AUTH,
    /// SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT) and require the peer to do
    /// the same with a certificate chaining to the trust anchors and carrying
    /// its ID; the PSK is not used.
    std::optional<Credentials> cert;
    std::vector<TrafficSelector> ts_local, ts_remote;
    /// TS-list limits (as a carrier gateway's): a request with more selectors
    /// on a side, or narrowing to more, gets TS_UNACCEPTABLE; so do more
    /// than `max_selector_pairs` narrowed (TSi x TSr) pairs, one SPD entry
    /// each (0: no limit).
    size_t max_selectors = 32;
    size_t max_selector_pairs = 0;
    bool transport_mode = false;  // ask for / accept USE_TRANSPORT_MODE
    /// Our address and the peer's as seen on this side. With both set,
    /// IKE_SA_INIT carries NAT_DETECTION_* notifies and the peer's are
    /// checked (§2.23); the result is in IkeSaUp and ChildSa.
    std::optional<Endpoint> local_endpoint, remote_endpoint;
    /// Largest IKE message (without IP/UDP headers) to send once both sides
    /// announced IKEV2_FRAGMENTATION_SUPPORTED; bigger encrypted messages go
    /// as SKF fragments (RFC 7383). 0: never fragment.
    size_t fragment_mtu = 0;
    Millis retransmit_base{500};
    unsigned retransmit_tries = 5;
    size_t nonce_len = 32;
    /// Responder: the configurations of other connections with the same
    /// peer address. When the initiator's IDi is not our remote_id but one
    /// of theirs, that one takes over authentication and the Child SA (its
    /// identities, PSK or certificate, selectors, ESP proposals); IkeSaUp
    /// says which (RFC 7296 §2.15: the responder picks its policy by IDi).
    std::vector<PeerConfig> alternatives;
};

struct ChildSa {
    uint32_t spi_in = 0;   // ours: the peer sends ESP to us with it
    uint32_t spi_out = 0;  // the peer's: we send with it
    CipherSuite suite;
    bool esn = false;
    bool transport_mode = false;
    bool udp_encapsulation = false;  // a NAT was detected: ESP in UDP 4500 (RFC 3948)
    Secret encr_in, integ_in, encr_out, integ_out;
    std::vector<TrafficSelector> ts_local, ts_remote;
    /// CREATE_CHILD_SA rekey (§1.3.3): the spi_in of the Child SA this one
    /// replaces (0: a new Child SA). The old one stays until it is deleted.
    uint32_t replaces_spi_in = 0;
    bool pfs = false;  // its KEYMAT includes a fresh g^ir (§2.17)
    /// §2.8.1: both sides rekeyed the same Child SA and this one lost (its
    /// exchange had the lowest nonce): install it, since the peer may already
    /// send on it, but do not send on it. `delete_redundant`: we created it,
    /// so we delete it; otherwise the peer does.
    bool redundant = false;
    bool delete_redundant = false;
};

struct IkeSaUp {
    uint64_t spi_i = 0, spi_r = 0;
    CipherSuite suite;
    PrfAlg prf = PrfAlg::hmac_sha2_256;
    uint16_t dh_group = 0;
    IdPayload peer_id;
    bool local_behind_nat = false;  // our address was rewritten on the way (§2.23)
    bool peer_behind_nat = false;   // the peer's was
    size_t alternative = 0;         // responder: 0 our configuration, k PeerConfig::alternatives[k - 1]
};
struct ChildSaUp {
    ChildSa sa;
};
struct ChildSaRefused {
    uint16_t notify = 0;
    std::string reason;
    bool answered = false;  // we refused the peer's request (else the peer refused ours, or answered it badly)
};
struct IkeSaFailed {
    uint16_t notify = 0;  // what was sent or received, 0 for a timeout
    std::string reason;
};
struct IkeSaDeleted {
    bool by_peer = false;
};
struct PeerAlive {};  // the answer to a liveness check arrived
struct ChildSaDeleted {  // an INFORMATIONAL Delete(ESP) exchange removed a Child SA (§1.4.1)
    uint32_t spi_in = 0;
    bool by_peer = false;
};
/// §2.8.1: a Child SA we created by a rekey that completed first lost the
/// collision found afterwards: stop sending on it (the winner, reported by
/// ChildSaUp just before, takes over) and delete it.
struct ChildSaRedundant {
    uint32_t spi_in = 0;
};
/// The IKE SA was rekeyed (§1.3.2): take_successor() is the new IKE SA with
/// the Child SAs; this one is `rekeyed` and only its Delete remains. `up`
/// has the new SPIs and algorithms (peer_id and NAT flags are the old ones').
/// `collision`: both sides rekeyed (§2.8.2); take_redundant() is the losing
/// new IKE SA, to be kept until its Delete exchange ends.
struct IkeSaRekeyed {
    uint64_t old_spi_i = 0, old_spi_r = 0;
    IkeSaUp up;
    bool we_initiated = false;  // we started the surviving rekey: its initiator
    bool collision = false;
};
/// Our IKE SA rekey was refused; TEMPORARY_FAILURE means try again later (§2.25).
struct IkeSaRekeyRefused {
    uint16_t notify = 0;
    std::string reason;
};
using Event = std::variant<IkeSaUp, ChildSaUp, ChildSaRefused, IkeSaFailed, IkeSaDeleted, PeerAlive, ChildSaDeleted,
                           ChildSaRedundant, IkeSaRekeyed, IkeSaRekeyRefused>;

struct Output {
    std::vector<Bytes> send;
    std::vector<Event> events;
};

enum class SaState : uint8_t {
    idle,         // responder before IKE_SA_INIT; initiator before start()
    init_sent,    // initiator: IKE_SA_INIT request outstanding
    init_done,    // responder: IKE_SA_INIT answered, waiting for IKE_AUTH
    auth_sent,    // initiator: IKE_AUTH request outstanding
    established,  // IKE SA up
    rekeyed,      // replaced by a new IKE SA (§2.18); only the Delete of this one remains
    failed,       // gave up; nothing more is sent
    deleted,      // closed by an INFORMATIONAL Delete (§1.4.1)
};
std::string_view name(SaState s);

class IkeSa {
public:
    explicit IkeSa(PeerConfig cfg);
    ~IkeSa();
    IkeSa(const IkeSa&) = delete;
    IkeSa& operator=(const IkeSa&) = delete;

    /// Initiator: sends the IKE_SA_INIT request.
    Output start(Millis now);
    /// One received datagram.
    Output receive(std::span<const uint8_t> datagram, Millis now);
    /// Where an IKE_SA_INIT message actually came from and arrived at: NAT
    /// detection (§2.23) hashes what the packet carried, which a NAT changes,
    /// not the configured addresses. Call before receive(); ignored once
    /// IKE_SA_INIT is done or without NAT detection configured.
    void observed_endpoints(const Endpoint& local, const Endpoint& remote);
    /// Established, nothing outstanding: an empty INFORMATIONAL request
    /// (liveness check, §1.4); PeerAlive when answered. Otherwise nothing.
    Output liveness_check(Millis now);
    /// Established, nothing outstanding: INFORMATIONAL with Delete(IKE)
    /// (§1.4.1); IkeSaDeleted when answered.
    Output delete_sa(Millis now);
    /// Established, nothing outstanding: CREATE_CHILD_SA rekeying the Child SA
    /// whose inbound SPI is `spi_in` (§1.3.3; with a KE when pfs_groups is
    /// set). ChildSaUp with replaces_spi_in when answered, ChildSaRefused when
    /// refused.
    Output rekey_child(uint32_t spi_in, Millis now);
    /// Established, nothing outstanding: CREATE_CHILD_SA rekeying this IKE SA
    /// (§1.3.2). IkeSaRekeyed when done (and the Delete of this one is sent),
    /// IkeSaRekeyRefused when refused.
    Output rekey_ike(Millis now);
    /// After IkeSaRekeyed: the new IKE SA (once), and from a collision the
    /// redundant one (§2.8.2), which deletes itself or waits for the peer's Delete.
    std::unique_ptr<IkeSa> take_successor() { return std::move(successor_); }
    std::unique_ptr<IkeSa> take_redundant() { return std::move(redundant_); }
    /// Established, nothing outstanding: INFORMATIONAL Delete(ESP) of the
    /// Child SA with inbound SPI `spi_in`; ChildSaDeleted when answered.
    Output delete_child(uint32_t spi_in, Millis now);
    /// A request of ours is outstanding (window 1: nothing else can be sent).
    bool busy() const { return !request_.empty(); }
    /// Retransmits or gives up when the outstanding request's time has come.
    Output timeout(Millis now);
    /// When timeout() wants to be called, if at all.
    std::optional<Millis> next_timeout() const { return deadline_; }

    SaState state() const { return state_; }
    bool initiator() const { return cfg_.initiator; }  // the I flag: we are this IKE SA's original initiator
    /// The negotiated algorithms and SK_* keys (tests check the derivation;
    /// never shown or logged).
    const IkeKeys& keys() const { return keys_; }
    const CipherSuite& suite() const { return suite_; }
    PrfAlg prf() const { return prf_; }
    uint64_t spi_i() const { return spi_i_; }
    uint64_t spi_r() const { return spi_r_; }
    /// Received datagrams dropped, and why the last one was.
    unsigned dropped() const { return dropped_; }
    /// After IKE_SA_INIT: whether NAT detection (§2.23) found a NAT on either
    /// side, so the transport moves to port 4500 before IKE_AUTH.
    bool nat_detected() const { return local_nat_ || peer_nat_; }
    const std::string& last_drop() const { return last_drop_; }

private:
    Output drop(std::string why);
    void fail(Output& out, uint16_t notify, std::string why);
    void send_request(Output& out, std::vector<Bytes> msg, Millis now);
    std::vector<Bytes> seal(const Header& h, const std::vector<Payload>& inner) const;
    std::optional<std::vector<Payload>> open(const Message& m, std::span<const uint8_t> wire, std::string_view what);
    Header header(ExchangeType x, bool response, uint32_t id) const;

    void send_init(Output& out, Millis now);
    void send_auth(Output& out, Millis now);
    Output init_response(const Message& m, std::span<const uint8_t> wire, Millis now);
    Output auth_response(const Message& m, std::span<const uint8_t> wire);
    Output init_request(std::span<const uint8_t> wire, Millis now);
    Output auth_request(const Message& m, std::span<const uint8_t> wire);
    Output informational_request(const Message& m, std::span<const uint8_t> wire, Millis now);
    Output informational_response(const Message& m, std::span<const uint8_t> wire);
    Output send_informational(std::vector<Payload> ps, Millis now);
    bool deleting_ = false;
    // Child SAs (the IKE_AUTH one and rekeyed ones) until deleted.
    struct ChildRef {
        uint32_t spi_in = 0, spi_out = 0;
        bool transport = false;
        std::vector<TrafficSelector> ts_local, ts_remote;
    };
    std::vector<ChildRef> children_;
    void remember(const ChildSa& c) { children_.push_back({c.spi_in, c.spi_out, c.transport_mode, c.ts_local, c.ts_remote}); }
    // Our outstanding CREATE_CHILD_SA or Delete(ESP) request.
    enum class Pending : uint8_t { none, rekey, delete_child, rekey_ike };
    Pending pending_ = Pending::none;
    uint32_t pending_old_spi_in_ = 0, pending_new_spi_ = 0;
    uint64_t pending_ike_spi_ = 0;
    Bytes pending_ni_;
    std::unique_ptr<DhKey> pending_dh_;  // PFS or IKE SA rekey: our KE
    // §2.8.1: Child SA rekeys that completed while their old Child SA lives,
    // with the lower nonce of their exchange, to find which of two is redundant.
    struct ChildRekey {
        uint32_t old_spi_in = 0, new_spi_in = 0;
        Bytes low_nonce;
        bool ours = false;
    };
    std::vector<ChildRekey> child_rekeys_;
    void forget_child(uint32_t spi_in);
    // §2.8.2: the peer's IKE SA rekey we answered while ours was outstanding.
    std::unique_ptr<IkeSa> peer_ike_rekey_;
    Bytes peer_ike_rekey_low_;
    std::unique_ptr<IkeSa> successor_, redundant_;
    std::unique_ptr<IkeSa> new_ike_sa(bool we_initiate, uint64_t spi_i, uint64_t spi_r, const CipherSuite& suite,
                                      PrfAlg prf, uint16_t group, std::span<const uint8_t> g_ir, const Bytes& ni,
                                      const Bytes& nr) const;
    void finish_ike_rekey(Output& out, std::unique_ptr<IkeSa> winner, std::unique_ptr<IkeSa> loser, Millis now);
    void send_ike_rekey(Output& out, Millis now);
    std::vector<Proposal> child_proposals(const Bytes& spi) const;
    Output create_child_request(const Message& m, std::span<const uint8_t> wire, Millis now);
    Output create_child_response(const Message& m, std::span<const uint8_t> wire, Millis now);
    void send_child_rekey(Output& out, const ChildRef& old, Millis now);
    Output ike_rekey_request(const std::vector<Payload>& ps, const Header& rh, std::span<const uint8_t> wire,
                             Millis now);
    Output ike_rekey_response(const std::vector<Payload>& ps, Millis now);
    void respond(Output& out, std::span<const uint8_t> request, std::vector<Bytes> response);
    bool derive(std::span<const uint8_t> peer_ke);
    void add_nat_detection(std::vector<Payload>& ps) const;
    // AUTH (§2.15): ours over `octets` (PSK or signature, with our CERT
    // before it), and the check of the peer's (empty when good, else why).
    void add_auth(std::vector<Payload>& ps, std::span<const uint8_t> octets) const;
    std::string check_auth(const std::vector<Payload>& ps, const IdPayload& id, const AuthPayload& auth,
                           std::span<const uint8_t> octets) const;
    void check_nat_detection(const std::vector<Payload>& ps, uint64_t spi_r);
    bool local_nat_ = false, peer_nat_ = false;

    PeerConfig cfg_;
    SaState state_ = SaState::idle;
    uint64_t spi_i_ = 0, spi_r_ = 0;
    std::unique_ptr<DhKey> dh_;
    Bytes ni_, nr_, cookie_;
    Bytes msg1_, msg2_;  // RealMessage1 / RealMessage2 (§2.15)
    CipherSuite suite_;
    PrfAlg prf_ = PrfAlg::hmac_sha2_256;
    uint16_t group_ = 0;
    IkeKeys keys_;
    uint32_t child_spi_ = 0;  // ours, offered in IKE_AUTH

    // Our outstanding request (window 1), one datagram or its fragments.
    uint32_t next_id_ = 0;
    std::vector<Bytes> request_;
    std::optional<Millis> deadline_;
    Millis rto_{0};
    unsigned tries_ = 0;
    // The peer's requests.
    uint32_t peer_next_id_ = 0;
    Bytes peer_request_;
    std::vector<Bytes> response_;
    // RFC 7383 reassembly of the one message in flight each way.
    struct Reassembly {
        bool active = false;
        bool response = false;
        uint32_t message_id = 0;
        PayloadType first = PayloadType::none;
        std::vector<Bytes> parts;  // by fragment number - 1
        std::vector<bool> have;
    } frag_;
    bool peer_fragmentation_ = false;

    unsigned dropped_ = 0;
    std::string last_drop_;
};

// ---------------------------------------------------------------- pure helpers (tested alone)

/// §2.7 as responder: the first of `theirs` (in their order) that one of
/// `ours` accepts, cut to one transform per type (their first acceptable
/// one). Transform types must be the same set on both sides.
std::optional<Proposal> choose_proposal(const std::vector<Proposal>& theirs, const std::vector<Proposal>& ours);
/// As initiator: whether the responder's choice is one transform per type
/// taken from our proposal with the same number and protocol.
bool chosen_from_offer(const Proposal& chosen, const std::vector<Proposal>& offered);

/// The intersection of two traffic selectors (same type, protocol 0 = any),
/// or nullopt if they do not overlap.
std::optional<TrafficSelector> intersect(const TrafficSelector& a, const TrafficSelector& b);
/// §2.9 narrowing: every non-empty pairwise intersection, in their order.
std::vector<TrafficSelector> narrow(const std::vector<TrafficSelector>& theirs,
                                    const std::vector<TrafficSelector>& ours);
/// A request's TSi and TSr narrowed against `cfg` as the exchange's
/// responder (TSi against ts_remote), within its TS-list limits; `refusal` says why not when
/// TS_UNACCEPTABLE is the answer (the lists are then empty).
struct NarrowedSelectors {
    std::vector<TrafficSelector> tsi, tsr;
    std::string refusal;
};
NarrowedSelectors narrow_request(const std::vector<TrafficSelector>& tsi, const std::vector<TrafficSelector>& tsr,
                                 const PeerConfig& cfg);
/// As initiator: why the responder's narrowed TSi/TSr (within what we
/// offered) break our TS-list limits, or "".
std::string selector_limit_problem(const std::vector<TrafficSelector>& tsi, const std::vector<TrafficSelector>& tsr,
                                   const PeerConfig& cfg);

}  // namespace rampart::ike
