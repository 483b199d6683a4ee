// One RTR cache connection as a pure state machine (RFC 8210 §8, RFC 6810):
// events in (connected, bytes received, disconnected, time passing) with the
// time; PDUs to send and what to do with the connection out. No sockets: the
// transport (rtr_transport.hpp) owns those, the tests drive it directly.
//
//   connected      -> Reset Query (no data yet) or Serial Query (session, serial)
//   Cache Response -> receiving: announcements and withdrawals are collected
//   End of Data    -> all of them applied at once (readers never see half an
//                     update), serial and timers (refresh/retry/expire) taken
//   Serial Notify or the refresh timer -> Serial Query
//   Cache Reset    -> Reset Query (the data stays until the new set is whole)
//   expire timer   -> no successful query for that long: the data is dropped
//
// Version negotiation: the first query goes out in the highest version we
// speak (2: ASPA). A cache that answers in a lower version is followed; one
// that answers "Unsupported Protocol Version" makes the session reconnect
// one version lower (down to 0). Errors in what the cache sends are answered
// with an Error Report carrying RFC 8210's code and the session is closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "slowpath/rpki/rtr_codec.hpp"

namespace rampart::rpki::rtr {

using Millis = std::chrono::milliseconds;

struct Vrp {
    Prefix prefix;
    uint8_t max_length = 0;
    Asn asn = 0;
    friend auto operator<=>(const Vrp&, const Vrp&) = default;
};

// An ASPA as a cache holds it: per customer and (revision 10) AFI.
struct AspaKey {
    Asn customer = 0;
    uint8_t afi = 0;
    friend auto operator<=>(const AspaKey&, const AspaKey&) = default;
};

using RouterKeyId = std::tuple<std::array<uint8_t, 20>, Asn, std::vector<uint8_t>>;

struct CacheData {
    std::set<Vrp> vrps;
    std::map<AspaKey, std::vector<Asn>> aspas;  // providers sorted, unique
    std::set<RouterKeyId> router_keys;          // BGPsec keys: kept to check the protocol, counted
};

struct SessionSettings {
    uint8_t max_version = kMaxVersion;
    // Operator overrides of the cache's intervals (seconds).
    std::optional<uint32_t> refresh, retry, expire;
};

class Session {
public:
    enum class State { disconnected, awaiting_response, receiving, synchronized };

    struct Output {
        std::vector<std::vector<uint8_t>> send;
        bool close = false;          // drop the connection (after sending)
        bool reconnect_now = false;  // ... and reconnect at once (version downgrade)
        bool data_changed = false;   // data() changed
        std::vector<std::string> log;
    };

    explicit Session(SessionSettings settings = {});

    Output connected(Millis now);
    Output received(std::span<const uint8_t> bytes, Millis now);
    void disconnected();
    Output tick(Millis now);

    // The data of the last complete update (empty before the first and after expiry).
    const CacheData& data() const { return data_; }
    bool has_data() const { return valid_; }
    State state() const { return state_; }
    uint8_t version() const { return version_; }
    std::optional<uint16_t> session_id() const { return session_id_; }
    uint32_t serial() const { return serial_; }
    Intervals intervals() const { return intervals_; }
    // When to try again after a failed connection or query (RFC 8210 §6: retry).
    Millis retry_interval() const { return std::chrono::seconds(intervals_.retry); }
    std::optional<Millis> last_update() const { return last_update_; }
    std::optional<Millis> expires_at() const { return valid_ ? std::optional<Millis>(expire_at_) : std::nullopt; }
    const std::string& last_error() const { return last_error_; }
    uint64_t pdus_received() const { return pdus_received_; }
    uint64_t errors_sent() const { return errors_sent_; }
    uint64_t errors_received() const { return errors_received_; }
    uint64_t updates() const { return updates_; }

private:
    struct Pending {
        std::map<Vrp, bool> vrps;                                 // true: announced
        std::map<AspaKey, std::optional<std::vector<Asn>>> aspas;  // nullopt: withdrawn
        std::map<RouterKeyId, bool> router_keys;
    };
    void send_query(Output& out);
    void handle(const Pdu& pdu, std::span<const uint8_t> raw, Millis now, Output& out);
    void fail(Output& out, ErrorCode code, std::span<const uint8_t> pdu, const std::string& why, bool reset);
    void apply_end_of_data(const EndOfData& e, Millis now, Output& out);
    void drop_data(Output& out, const std::string& why);
    Intervals effective(Intervals from_cache) const;

    SessionSettings settings_;
    State state_ = State::disconnected;
    uint8_t version_;
    bool version_fixed_ = false;  // the cache answered in version_ on this connection
    std::vector<uint8_t> inbuf_;
    std::optional<uint16_t> session_id_;  // none: the next query is a Reset Query
    uint32_t serial_ = 0;
    bool resetting_ = false;  // the current response replaces everything
    Pending pending_;
    CacheData data_;
    bool valid_ = false;
    Intervals intervals_;
    std::optional<Millis> last_update_;
    Millis refresh_at_{0}, expire_at_{0};
    std::string last_error_;
    uint64_t pdus_received_ = 0, errors_sent_ = 0, errors_received_ = 0, updates_ = 0;
};

const char* state_name(Session::State s);

}  // namespace rampart::rpki::rtr
