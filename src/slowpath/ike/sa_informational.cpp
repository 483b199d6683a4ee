// The IKE SA state machine (sa_state.hpp): INFORMATIONAL exchanges (RFC 7296
// §1.4) in both roles: liveness checks, Delete of Child SAs and of the IKE SA.
#include "slowpath/ike/sa_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "slowpath/ike/sa_detail.hpp"

namespace rampart::ike {

using namespace sa_detail;

// INFORMATIONAL request (§1.4): answered with an empty SK payload (liveness
// check); a Delete of the IKE SA ends it.
Output IkeSa::informational_request(const Message& m, std::span<const uint8_t> wire, Millis now) {
    Output out;
    const std::optional<std::vector<Payload>> ps = open(m, wire, "INFORMATIONAL request");
    if (!ps) return out;
    // Delete(ESP) names the peer's inbound SPIs (our outbound ones); the
    // response names ours for the same Child SAs (§1.4.1).
    std::vector<Payload> answer;
    DeletePayload ours{ProtocolId::esp, 4, {}};
    bool delete_ike = false;
    for (const Payload& p : *ps) {
        const auto* del = std::get_if<DeletePayload>(&p.body);
        if (!del) continue;
        if (del->protocol == ProtocolId::ike) delete_ike = true;
        if (del->protocol != ProtocolId::esp) continue;
        for (const Bytes& spi : del->spis) {
            if (spi.size() != 4) continue;
            auto it = std::find_if(children_.begin(), children_.end(),
                                   [&](const ChildRef& c) { return c.spi_out == spi_value(spi); });
            if (it == children_.end()) continue;
            ours.spis.push_back(spi_bytes(it->spi_in));
            out.events.push_back(ChildSaDeleted{it->spi_in, true});
            const uint32_t gone = it->spi_in;
            children_.erase(it);
            forget_child(gone);
        }
    }
    if (!ours.spis.empty() && !delete_ike) answer.push_back(make_payload(ours));
    respond(out, wire, seal(header(ExchangeType::informational, true, m.header.message_id), answer));
    // §2.25.2: the peer deletes the IKE SA we both rekeyed: its rekey, which we answered, stands.
    if (delete_ike && peer_ike_rekey_) finish_ike_rekey(out, std::move(peer_ike_rekey_), nullptr, now);
    if (delete_ike) {
        state_ = SaState::deleted;
        deadline_.reset();
        request_.clear();
        out.events.push_back(IkeSaDeleted{true});
    }
    return out;
}


Output IkeSa::delete_child(uint32_t spi_in, Millis now) {
    Output out;
    auto it = std::find_if(children_.begin(), children_.end(), [&](const ChildRef& c) { return c.spi_in == spi_in; });
    if (it == children_.end() || deleting_) return out;
    out = send_informational({make_payload(DeletePayload{ProtocolId::esp, 4, {spi_bytes(spi_in)}})}, now);
    if (!out.send.empty()) {
        pending_ = Pending::delete_child;
        pending_old_spi_in_ = spi_in;
    }
    return out;
}

// ---------------------------------------------------------------- INFORMATIONAL as requester

Output IkeSa::send_informational(std::vector<Payload> ps, Millis now) {
    Output out;
    if (state_ != SaState::established || !request_.empty()) return out;
    send_request(out, seal(header(ExchangeType::informational, false, next_id_), ps), now);
    return out;
}

Output IkeSa::liveness_check(Millis now) { return send_informational({}, now); }

Output IkeSa::delete_sa(Millis now) {
    Output out = send_informational({make_payload(DeletePayload{ProtocolId::ike, 0, {}})}, now);
    if (!out.send.empty()) deleting_ = true;
    return out;
}

Output IkeSa::informational_response(const Message& m, std::span<const uint8_t> wire) {
    Output out;
    if (pending_ == Pending::rekey || pending_ == Pending::rekey_ike)
        return drop("INFORMATIONAL response to a CREATE_CHILD_SA request");
    if (!open(m, wire, "INFORMATIONAL response")) return out;
    request_.clear();
    deadline_.reset();
    ++next_id_;
    if (pending_ == Pending::delete_child) {
        pending_ = Pending::none;
        auto it = std::find_if(children_.begin(), children_.end(),
                               [&](const ChildRef& c) { return c.spi_in == pending_old_spi_in_; });
        if (it != children_.end()) children_.erase(it);
        forget_child(pending_old_spi_in_);
        out.events.push_back(ChildSaDeleted{pending_old_spi_in_, false});
    } else if (deleting_) {
        state_ = SaState::deleted;
        out.events.push_back(IkeSaDeleted{false});
    } else {
        out.events.push_back(PeerAlive{});
    }
    return out;
}

}  // namespace rampart::ike
