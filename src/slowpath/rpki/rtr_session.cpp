#include "slowpath/rpki/rtr_session.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace rampart::rpki::rtr {
namespace {

uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi) { return std::min(std::max(v, lo), hi); }

std::string describe(const Vrp& v) {
    return fmt::format("{} max {} AS{}", v.prefix.str(), v.max_length, v.asn);
}

}  // namespace

const char* state_name(Session::State s) {
    switch (s) {
        case Session::State::disconnected: return "disconnected";
        case Session::State::awaiting_response: return "waiting for the cache";
        case Session::State::receiving: return "receiving";
        case Session::State::synchronized: return "synchronized";
    }
    return "?";
}

Session::Session(SessionSettings settings)
    : settings_(settings), version_(std::min(settings.max_version, kMaxVersion)) {
    intervals_ = effective(Intervals{});
}

// RFC 8210 §6's ranges; the operator's overrides win (config/rpki.cpp
// bounds them to the same ranges).
Intervals Session::effective(Intervals c) const {
    Intervals i;
    i.refresh = settings_.refresh.value_or(clamp(c.refresh, 1, 86400));
    i.retry = settings_.retry.value_or(clamp(c.retry, 1, 7200));
    i.expire = settings_.expire.value_or(clamp(c.expire, 600, 172800));
    return i;
}

void Session::send_query(Output& out) {
    Pdu q{version_, ResetQuery{}};
    resetting_ = !session_id_;
    if (session_id_) q.body = SerialQuery{*session_id_, serial_};
    out.send.push_back(encode(q));
    pending_ = {};
    state_ = State::awaiting_response;
}

Session::Output Session::connected(Millis) {
    Output out;
    inbuf_.clear();
    version_fixed_ = false;
    send_query(out);
    return out;
}

void Session::disconnected() {
    state_ = State::disconnected;
    inbuf_.clear();
    pending_ = {};
}

void Session::drop_data(Output& out, const std::string& why) {
    if (valid_ || !data_.vrps.empty() || !data_.aspas.empty()) out.data_changed = true;
    data_ = {};
    valid_ = false;
    session_id_.reset();
    out.log.push_back(fmt::format("data dropped: {}", why));
}

void Session::fail(Output& out, ErrorCode code, std::span<const uint8_t> pdu, const std::string& why, bool reset) {
    last_error_ = fmt::format("sent {}: {}", error_code_name(code), why);
    out.log.push_back(last_error_);
    // The copy of the offending PDU as far as the report stays within the
    // largest PDU a cache accepts (a huge bad PDU is cut short).
    const size_t room = kMaxPduLength - 16 - std::min(why.size(), size_t(1024));
    ErrorReport r{code, {pdu.begin(), pdu.begin() + long(std::min(pdu.size(), room))}, why.substr(0, 1024)};
    out.send.push_back(encode(Pdu{version_, r}));
    ++errors_sent_;
    out.close = true;
    pending_ = {};
    inbuf_.clear();
    state_ = State::disconnected;
    // Out of step with the cache: the next connection starts from a Reset
    // Query; the data stays until that completes (or expires).
    if (reset) session_id_.reset();
}

Session::Output Session::received(std::span<const uint8_t> bytes, Millis now) {
    Output out;
    if (state_ == State::disconnected) return out;
    inbuf_.insert(inbuf_.end(), bytes.begin(), bytes.end());
    size_t at = 0;
    while (!out.close) {
        const auto rest = std::span<const uint8_t>(inbuf_).subspan(at);
        Decoded d = decode(rest);
        if (d.status == Decoded::Status::need_more) break;
        if (d.status == Decoded::Status::error) {
            // An Error Report is never answered with one (RFC 8210 §5.11).
            if (rest.size() >= 2 && rest[1] == uint8_t(PduType::error_report)) {
                last_error_ = "malformed Error Report from the cache: " + d.reason;
                out.log.push_back(last_error_);
                out.close = true;
                state_ = State::disconnected;
                break;
            }
            fail(out, d.error, d.erroneous, d.reason, false);
            break;
        }
        ++pdus_received_;
        handle(d.pdu, rest.first(d.consumed), now, out);
        at += d.consumed;
    }
    if (out.close) inbuf_.clear();
    else inbuf_.erase(inbuf_.begin(), inbuf_.begin() + long(at));
    return out;
}

void Session::handle(const Pdu& pdu, std::span<const uint8_t> raw, Millis now, Output& out) {
    if (const auto* err = std::get_if<ErrorReport>(&pdu.body)) {
        ++errors_received_;
        last_error_ = fmt::format("received {}{}{}", error_code_name(err->code), err->text.empty() ? "" : ": ",
                                  printable(err->text));
        out.log.push_back(last_error_);
        out.close = true;
        state_ = State::disconnected;
        pending_ = {};
        // The cache refused our query (stayrtr answers a Serial Query for a
        // session it no longer has with Corrupt Data): the next connection
        // starts from a Reset Query; the data stays until that completes.
        // No Data Available only says the cache is not ready yet.
        if (err->code != ErrorCode::no_data_available) session_id_.reset();
        if (err->code == ErrorCode::unsupported_protocol_version && !version_fixed_ && version_ > 0) {
            const uint8_t lower = std::min<uint8_t>(pdu.version, version_ - 1);
            out.log.push_back(fmt::format("protocol version {} refused: trying version {}", version_, lower));
            version_ = lower;
            out.reconnect_now = true;
        }
        return;
    }
    // The version: the cache's first answer on a connection fixes it (a lower
    // one is followed, RFC 8210 §7); after that every PDU must carry it.
    if (!version_fixed_) {
        // A Serial Notify is unsolicited, not an answer: it fixes nothing (and
        // one in another version is of no use before the version is agreed).
        // Before the first answer the session waits for it and ignores notifies anyway.
        if (std::holds_alternative<SerialNotify>(pdu.body)) return;
        if (pdu.version > version_)
            return fail(out, ErrorCode::unexpected_protocol_version, raw,
                        fmt::format("version {} PDU after a version {} query", pdu.version, version_), false);
        if (pdu.version < version_) {
            out.log.push_back(fmt::format("the cache answers in version {}: using it", pdu.version));
            version_ = pdu.version;
        }
        version_fixed_ = true;
    } else if (pdu.version != version_) {
        return fail(out, ErrorCode::unexpected_protocol_version, raw,
                    fmt::format("version {} PDU in a version {} session", pdu.version, version_), false);
    }

    struct Visitor {
        Session& s;
        const Pdu& pdu;
        std::span<const uint8_t> raw;
        Millis now;
        Output& out;

        bool in_response(const char* what) {
            if (s.state_ == State::receiving) return true;
            s.fail(out, ErrorCode::corrupt_data, raw, fmt::format("{} PDU outside a Cache Response", what), false);
            return false;
        }
        void operator()(const SerialNotify& n) {
            // Only acted on when idle: a query in flight brings the news anyway.
            if (s.state_ != State::synchronized) return;
            if (s.session_id_ && n.session_id != *s.session_id_) s.session_id_.reset();
            else if (n.serial == s.serial_) return;
            s.send_query(out);
        }
        void operator()(const CacheResponse& r) {
            if (s.state_ != State::awaiting_response)
                return s.fail(out, ErrorCode::corrupt_data, raw, "Cache Response PDU without a query", false);
            if (s.session_id_ && r.session_id != *s.session_id_) {
                // RFC 8210 §5.1: a different session: flush what it gave.
                const std::string why = fmt::format("session ID {} instead of {}", r.session_id, *s.session_id_);
                s.drop_data(out, why);
                return s.fail(out, ErrorCode::corrupt_data, raw, why, true);
            }
            s.session_id_ = r.session_id;
            s.state_ = State::receiving;
        }
        void operator()(const PrefixPdu& p) {
            if (!in_response("Prefix")) return;
            const Vrp v{p.prefix, p.max_length, p.asn};
            auto it = s.pending_.vrps.find(v);
            const bool in_base = !s.resetting_ && s.data_.vrps.count(v);
            const bool present = it != s.pending_.vrps.end() ? it->second : in_base;
            if (p.announce == present)
                return s.fail(out, p.announce ? ErrorCode::duplicate_announcement
                                              : ErrorCode::withdrawal_of_unknown_record,
                              raw, (p.announce ? "announcement of a known " : "withdrawal of an unknown ") + describe(v),
                              true);
            if (it != s.pending_.vrps.end() && p.announce == in_base) s.pending_.vrps.erase(it);
            else s.pending_.vrps[v] = p.announce;
        }
        void operator()(const AspaPdu& a) {
            if (!in_response("ASPA")) return;
            const AspaKey key{a.customer, a.afi};
            auto it = s.pending_.aspas.find(key);
            const bool present =
                it != s.pending_.aspas.end() ? it->second.has_value() : (!s.resetting_ && s.data_.aspas.count(key));
            if (!a.announce) {
                if (!present)
                    return s.fail(out, ErrorCode::withdrawal_of_unknown_record, raw,
                                  fmt::format("withdrawal of an unknown ASPA of AS{}", a.customer), true);
                s.pending_.aspas[key] = std::nullopt;
                return;
            }
            // 8210bis: an announcement for a known customer replaces its providers.
            std::vector<Asn> providers = a.providers;
            std::sort(providers.begin(), providers.end());
            providers.erase(std::unique(providers.begin(), providers.end()), providers.end());
            s.pending_.aspas[key] = std::move(providers);
        }
        void operator()(const RouterKey& k) {
            if (!in_response("Router Key")) return;
            RouterKeyId id{k.ski, k.asn, k.spki};
            auto it = s.pending_.router_keys.find(id);
            const bool in_base = !s.resetting_ && s.data_.router_keys.count(id);
            const bool present = it != s.pending_.router_keys.end() ? it->second : in_base;
            if (k.announce == present)
                return s.fail(out, k.announce ? ErrorCode::duplicate_announcement
                                              : ErrorCode::withdrawal_of_unknown_record,
                              raw, fmt::format("{} Router Key of AS{}", k.announce ? "duplicate" : "unknown", k.asn),
                              true);
            if (it != s.pending_.router_keys.end() && k.announce == in_base) s.pending_.router_keys.erase(it);
            else s.pending_.router_keys[id] = k.announce;
        }
        void operator()(const EndOfData& e) {
            if (!in_response("End of Data")) return;
            if (e.session_id != *s.session_id_) {
                const std::string why = fmt::format("End of Data for session {} in session {}", e.session_id,
                                                    *s.session_id_);
                s.drop_data(out, why);
                return s.fail(out, ErrorCode::corrupt_data, raw, why, true);
            }
            s.apply_end_of_data(e, now, out);
        }
        void operator()(const CacheReset&) {
            if (s.state_ != State::awaiting_response)
                return s.fail(out, ErrorCode::corrupt_data, raw, "Cache Reset PDU without a query", false);
            // The cache cannot answer our serial: start over (the data stays).
            s.session_id_.reset();
            s.send_query(out);
        }
        // Queries are the router's to send.
        void operator()(const SerialQuery&) {
            s.fail(out, ErrorCode::invalid_request, raw, "Serial Query PDU from the cache", false);
        }
        void operator()(const ResetQuery&) {
            s.fail(out, ErrorCode::invalid_request, raw, "Reset Query PDU from the cache", false);
        }
        void operator()(const ErrorReport&) {}  // handled above
    };
    Visitor v{*this, pdu, raw, now, out};
    std::visit(v, pdu.body);
}

void Session::apply_end_of_data(const EndOfData& e, Millis now, Output& out) {
    bool changed = false;
    if (resetting_) {
        CacheData fresh;
        for (auto& [v, announced] : pending_.vrps)
            if (announced) fresh.vrps.insert(fresh.vrps.end(), v);
        for (auto& [k, providers] : pending_.aspas)
            if (providers) fresh.aspas.emplace_hint(fresh.aspas.end(), k, *providers);
        for (auto& [k, announced] : pending_.router_keys)
            if (announced) fresh.router_keys.insert(fresh.router_keys.end(), k);
        changed = !valid_ || fresh.vrps != data_.vrps || fresh.aspas != data_.aspas;
        data_ = std::move(fresh);
    } else {
        for (auto& [v, announced] : pending_.vrps) {
            if (announced) data_.vrps.insert(v);
            else data_.vrps.erase(v);
            changed = true;
        }
        for (auto& [k, providers] : pending_.aspas) {
            auto it = data_.aspas.find(k);
            if (!providers) {
                data_.aspas.erase(k);
                changed = true;
            } else if (it == data_.aspas.end() || it->second != *providers) {
                data_.aspas[k] = *providers;
                changed = true;
            }
        }
        for (auto& [k, announced] : pending_.router_keys) {
            if (announced) data_.router_keys.insert(k);
            else data_.router_keys.erase(k);
        }
    }
    pending_ = {};
    resetting_ = false;
    valid_ = true;
    serial_ = e.serial;
    intervals_ = effective(e.intervals.value_or(intervals_));
    last_update_ = now;
    refresh_at_ = now + std::chrono::seconds(intervals_.refresh);
    expire_at_ = now + std::chrono::seconds(intervals_.expire);
    state_ = State::synchronized;
    ++updates_;
    if (changed) out.data_changed = true;
    // Caches bump the serial on every refresh of their source: only news is logged.
    if (changed || updates_ == 1)
        out.log.push_back(fmt::format("serial {}: {} VRPs, {} ASPAs, {} router keys", serial_, data_.vrps.size(),
                                  data_.aspas.size(), data_.router_keys.size()));
}

Session::Output Session::tick(Millis now) {
    Output out;
    if (valid_ && now >= expire_at_) drop_data(out, fmt::format("no update for {} s (expire interval)", intervals_.expire));
    if (state_ == State::synchronized && now >= refresh_at_) {
        refresh_at_ = now + std::chrono::seconds(intervals_.refresh);
        send_query(out);
    }
    return out;
}

}  // namespace rampart::rpki::rtr
