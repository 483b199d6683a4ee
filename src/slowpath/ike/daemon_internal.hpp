// Inside the IKE daemon: the state of a connection and of each of its IKE
// SAs, and helpers shared by daemon.cpp (the dispatch and the state
// machines' outputs), daemon_config.cpp (connections into PeerConfigs) and
// daemon_show.cpp (the show commands). Not for use outside ike/.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "slowpath/ike/daemon.hpp"

namespace rampart::ike {

namespace detail {

using namespace std::chrono_literals;

inline constexpr Millis kHalfOpenLimit = 30s;     // a session not up by then is given up
inline constexpr Millis kRestartDelay = 5s;       // start-action start: after a failure or a lost peer
inline constexpr Millis kClosingLimit = 30s;      // a rekeyed or redundant IKE SA whose Delete never came
inline constexpr Millis kRekeyRetry = 2s;         // after TEMPORARY_FAILURE (§2.25)
inline constexpr Millis kNatKeepalive = 20s;      // RFC 3948 §2.3's suggested interval
inline constexpr size_t kMaxSessionsPerConn = 4;  // responder flood limit (cookies come with load)
inline constexpr size_t kMaxConnNameInSa = 40;
inline constexpr size_t kMaxPrefixesPerSelector = 64;  // a selector range that needs more is not installed

uint64_t be64(const uint8_t* p);
Proposal ike_proposal(const std::string& name, uint16_t dh);
Proposal esp_proposal(const std::string& name);
std::string suite_text(const CipherSuite& s);
bool full_ports(const TrafficSelector& ts);
// The SPD matches of a Child SA: every (local, remote) pair of its selectors'
// prefixes, with the selectors' protocol and ports. nullopt when a selector
// is not installable (a range of too many prefixes, protocols that differ).
std::optional<std::vector<IpsecPolicyConfig>> policy_matches(const std::vector<TrafficSelector>& local,
                                                             const std::vector<TrafficSelector>& remote);
// The configured TS-list's pairs: what a trap policy catches.
std::vector<IpsecPolicyConfig> configured_matches(const IkeConnectionConfig::Child& child);
std::vector<TrafficSelector> selectors(const std::vector<Prefix>& prefixes);
std::string prefixes_text(const std::vector<Prefix>& ps);
IkeIdentity remote_identity(const IkeConnectionConfig& c);
std::string sa_tag(const std::string& conn);
void wipe(std::vector<uint8_t>& v);
std::string ago(Millis now, Millis then);

}  // namespace detail

struct IkeDaemon::Session {
    bool pad_denied = false;  // the PAD authorizes the peer's identity for nothing
    std::vector<std::string> alternatives;  // responder: the connections PeerConfig::alternatives came from
    uint64_t serial = 0;
    std::unique_ptr<IkeSa> sa;
    bool initiator = false;
    Endpoint local, remote;
    Millis created{0}, last_rx{0}, last_dpd{0}, last_keepalive{0};
    std::optional<IkeSaUp> up;
    Millis established{0};
    struct Child {
        std::string in_name, out_name;
        uint32_t spi_in = 0, spi_out = 0;
        CipherSuite suite;
        bool transport = false, udp = false;
        std::vector<Prefix> local, remote;         // narrowed, as prefixes (shown)
        std::vector<IpsecPolicyConfig> matches;    // one SPD entry each (without SA names)
        Millis at{0};
        bool outbound_active = true;  // the policy sends through its outbound SA
        Millis inactive_since{0};
        bool rekey_started = false;   // its replacement is being negotiated
        bool delete_queued = false;
    };
    std::vector<Child> children;   // the active one and, after a rekey, older inbound-only ones
    std::vector<uint32_t> delete_children;  // Delete(ESP) to send once nothing is outstanding
    std::optional<uint32_t> rekeying;       // our CREATE_CHILD_SA for this spi_in is outstanding
    bool rekey_wanted = false;
    bool ike_rekeying = false;  // our CREATE_CHILD_SA for the IKE SA is outstanding
    bool dpd_pending = false;
    bool rekey_started = false;  // a replacement IKE SA is being negotiated (fallback)
    bool delete_wanted = false;  // send a Delete once nothing is outstanding
    bool ike_rekey_started = false;           // at its lifetime or by `ike rekey`: not again
    bool ike_rekey_wanted = false;            // start the IKE SA rekey once nothing is outstanding
    std::optional<Millis> ike_rekey_retry_at, child_rekey_retry_at;  // after TEMPORARY_FAILURE
    // Replaced by an IKE SA rekey, or the redundant IKE SA of a collision: no
    // Child SAs, no timers; it ends with its Delete exchange or after kClosingLimit.
    bool closing = false;
    Millis closing_since{0};
    bool done = false;
    unsigned dropped_seen = 0;
    uint64_t indexed_spi_i = 0;  // its key in by_spi_i_ (0: not indexed)
    const void* indexed_conn = nullptr;  // the connection it was indexed under (IDi may move it to another)
    size_t init_request_hash = 0;  // responder: the IKE_SA_INIT request it answered

    Child* active() {
        for (auto& c : children)
            if (c.outbound_active) return &c;
        return nullptr;
    }
};

struct IkeDaemon::Conn {
    std::string name;
    IkeConnectionConfig cfg;
    std::vector<std::unique_ptr<Session>> sessions;  // oldest first
    std::vector<Prefix> routes_installed;            // reverse routes (owner "ike")
    size_t policies_installed = 0;                   // our SPD entries (trap or protect) from cfg.child->seq on
    bool terminating = false;
    std::optional<Millis> restart_at;
    std::string last_error;
    uint64_t established = 0, failed = 0, auth_failed = 0;
    std::optional<Credentials> creds;   // loaded from cfg's certificate files
    std::string config_error;           // an identity that cannot be encoded: the connection stays down
    bool can_authenticate() const {
        return config_error.empty() && (creds ? true : cfg.cert_file.empty() && !cfg.psk.empty());
    }
};

}  // namespace rampart::ike
