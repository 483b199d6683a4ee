// The IKE daemon's show commands and queries: read-only views of its
// connections and IKE SAs. Never key material.
#include <algorithm>

#include <fmt/format.h>

#include "common/log.hpp"

#include "slowpath/ike/daemon_internal.hpp"

namespace rampart::ike {

using namespace detail;

std::string IkeDaemon::state(const std::string& name) const {
    auto it = conns_.find(name);
    if (it == conns_.end()) return "unknown";
    const Session* newest = nullptr;
    for (auto& s : it->second->sessions)
        if (!s->done) newest = s.get();
    return newest ? std::string(rampart::ike::name(newest->sa->state())) : "down";
}

std::vector<Prefix> IkeDaemon::reverse_routes(const std::string& name) const {
    auto it = conns_.find(name);
    return it == conns_.end() ? std::vector<Prefix>{} : it->second->routes_installed;
}

std::vector<std::string> IkeDaemon::installed_sas(const std::string& name) const {
    std::vector<std::string> out;
    auto it = conns_.find(name);
    if (it == conns_.end()) return out;
    for (auto& s : it->second->sessions)
        for (auto& ch : s->children) {
            out.push_back(ch.in_name);
            if (ch.outbound_active) out.push_back(ch.out_name);
        }
    return out;
}

std::string IkeDaemon::show_sa(bool detail, Millis now) const {
    std::string out;
    for (auto& [name, c] : conns_) {
        for (auto& s : c->sessions) {
            if (s->done) continue;
            out += fmt::format("{} #{}: {} {}, {}[{}] <-> {}[{}]", name, s->serial, rampart::ike::name(s->sa->state()),
                               s->initiator ? "initiator" : "responder", s->local.addr.str(), s->local.port,
                               s->remote.addr.str(), s->remote.port);
            if (s->up) out += fmt::format(", up {}", ago(now, s->established));
            if (s->closing) out += ", closing";
            out += "\n";
            out += fmt::format("  spi i {:016x} r {:016x}", s->sa->spi_i(), s->sa->spi_r());
            if (s->up)
                out += fmt::format(", {}/prf-hmac-sha2/dh {}{}", suite_text(s->up->suite), s->up->dh_group,
                                   s->up->local_behind_nat || s->up->peer_behind_nat ? ", NAT detected" : "");
            out += "\n";
            for (auto& ch : s->children) {
                out += fmt::format("  child: {} {} <-> {} esp {} spi in {:08x} out {:08x}{}{}\n",
                                   ch.transport ? "transport" : "tunnel", prefixes_text(ch.local),
                                   prefixes_text(ch.remote),
                                   suite_text(ch.suite), ch.spi_in, ch.spi_out, ch.udp ? " udp-encap" : "",
                                   ch.outbound_active ? "" : " (replaced, inbound only)");
                if (detail)
                    out += fmt::format("    sa {} / {}, age {}, rekey at {}s\n", ch.in_name, ch.out_name,
                                       ago(now, ch.at), c->cfg.child_lifetime);
            }
            if (detail) {
                out += fmt::format("  dropped {} (last: {}), last message {} ago", s->sa->dropped(),
                                   s->sa->last_drop().empty() ? "-" : s->sa->last_drop(), ago(now, s->last_rx));
                if (c->cfg.dpd_seconds) out += fmt::format(", dpd every {}s", c->cfg.dpd_seconds);
                if (s->rekey_started) out += ", rekeying";
                out += "\n";
            }
        }
    }
    if (out.empty()) out = "no IKE SAs\n";
    if (detail) {
        const Counters& k = counters_;
        out += fmt::format(
            "counters: received {}, malformed {}, unknown SPI {}, no connection {}, dropped by SAs {}\n"
            "          established {}, failed {}, authentication failed {}, child refused {}, install failed {}\n"
            "          dpd sent {}, dpd failed {}, NAT-keepalives sent {}, rekeys {}, IKE SA rekeys {}, IKE SAs re-established {}, deleted by peer {}\n"
            "          lockouts {}, refused while locked out {}, lockouts cleared {}, cookies sent {}, cookies accepted {}\n"
            "          TS unacceptable {}, not authorized by the PAD {}, reverse routes {}, reverse routes failed {}\n",
            k.received, k.malformed, k.no_sa, k.no_connection, k.dropped_by_sa, k.established, k.failed,
            k.auth_failed, k.child_refused, k.install_failed, k.dpd_sent, k.dpd_failed, k.keepalives_sent, k.rekeys, k.ike_rekeys,
            k.ike_reestablished, k.deleted_by_peer, k.lockouts, k.locked_out, k.lockouts_cleared, k.cookies_sent,
            k.cookies_accepted, k.ts_unacceptable, k.not_authorized, k.reverse_routes, k.reverse_route_failed);
    }
    return out;
}

std::string IkeDaemon::show_lockout(Millis now) const {
    std::string out = fmt::format("lockout after {} failures within {} s, for {} s; {} lockouts, {} requests refused, {} cleared\n",
                                  settings_.lockout_failures, settings_.lockout_window, settings_.lockout_duration,
                                  counters_.lockouts, counters_.locked_out, counters_.lockouts_cleared);
    out += fmt::format("{:<40} {:>8} {:>10}  {}\n", "peer", "failures", "locked-for", "connections");
    const Millis window{uint64_t(settings_.lockout_window) * 1000};
    for (auto& [peer, l] : lockouts_) {
        const size_t failures =
            std::count_if(l.failures.begin(), l.failures.end(), [&](Millis t) { return now - t < window; });
        const auto until = locked_until(peer, now);
        if (!failures && !until) continue;
        std::string names;
        for (auto& [name, c] : conns_)
            if (c->cfg.remote == peer) names += (names.empty() ? "" : ",") + name;
        out += fmt::format("{:<40} {:>8} {:>10}  {}\n", peer.str(), failures,
                           until ? fmt::format("{}s", ((*until - now).count() + 999) / 1000) : "-",
                           names.empty() ? "-" : names);
    }
    return out;
}

size_t IkeDaemon::clear_lockout(const std::optional<IpAddr>& peer) {
    size_t cleared = 0;
    for (auto it = lockouts_.begin(); it != lockouts_.end();) {
        if (peer && it->first != *peer) {
            ++it;
            continue;
        }
        if (it->second.until) ++counters_.lockouts_cleared;
        log::info("ike: lockout and failures of {} cleared", it->first.str());
        ++cleared;
        it = lockouts_.erase(it);
    }
    return cleared;
}

std::string show_ike_pad(const IkeSettings& settings) {
    if (settings.pad.empty()) return "no PAD entries: every peer may have the Child SAs its connection offers\n";
    std::string out = fmt::format("{:<48} {}\n", "identity", "remote-ts");
    for (auto& [who, prefixes] : settings.pad)
        out += fmt::format("{:<48} {}\n", ike_identity_text(who), prefixes_text(prefixes));
    return out;
}

std::string IkeDaemon::show_summary() const {
    std::map<std::string, size_t> by_state;
    size_t sas = 0, children = 0, up_conns = 0;
    for (auto& [name, c] : conns_) {
        bool up = false;
        for (auto& s : c->sessions) {
            if (s->done) continue;
            ++sas;
            ++by_state[std::string(rampart::ike::name(s->sa->state()))];
            children += s->children.size();
            up |= s->up && !s->children.empty();
        }
        up_conns += up;
    }
    std::string states;
    for (auto& [state, n] : by_state) states += fmt::format(", {} {}", state, n);
    const Counters& k = counters_;
    return fmt::format(
        "connections {}, with a Child SA up {}\n"
        "ike sas {}{}\n"
        "child sas {}\n"
        "counters: received {}, malformed {}, unknown SPI {}, no connection {}, dropped by SAs {}\n"
        "          established {}, failed {}, authentication failed {}, child refused {}, install failed {}\n"
        "          dpd sent {}, dpd failed {}, rekeys {}, IKE SAs re-established {}, deleted by peer {}\n"
        "          lockouts {}, refused while locked out {}, cookies sent {}, cookies accepted {}\n",
        conns_.size(), up_conns, sas, states, children, k.received, k.malformed, k.no_sa, k.no_connection,
        k.dropped_by_sa, k.established, k.failed, k.auth_failed, k.child_refused, k.install_failed, k.dpd_sent,
        k.dpd_failed, k.rekeys, k.ike_reestablished, k.deleted_by_peer, k.lockouts, k.locked_out, k.cookies_sent,
        k.cookies_accepted);
}

std::string IkeDaemon::show_peers() const {
    std::string out = fmt::format("{:<16} {:<24} {:<24} {:<6} {:<12} {:>5} {:>6} {:>9}\n", "connection", "local",
                                  "remote", "start", "state", "up", "failed", "auth-fail");
    for (auto& [name, c] : conns_) {
        static constexpr const char* kStart[] = {"none", "trap", "start"};
        out += fmt::format("{:<16} {:<24} {:<24} {:<6} {:<12} {:>5} {:>6} {:>9}\n", name, c->cfg.local.str(),
                           c->cfg.remote.str(), kStart[int(c->cfg.start_action)],
                           lockouts_.count(c->cfg.remote) && lockouts_.at(c->cfg.remote).until ? "locked-out" : state(name),
                           c->established, c->failed, c->auth_failed);
        if (!c->last_error.empty()) out += "  last error: " + c->last_error + "\n";
    }
    return out;
}

}  // namespace rampart::ike
