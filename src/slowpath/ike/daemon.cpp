#include "slowpath/ike/daemon.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.hpp"
#include "slowpath/ike/daemon_internal.hpp"

namespace rampart::ike {

using namespace std::chrono_literals;
using namespace detail;

IkeDaemon::IkeDaemon(DaemonHooks hooks) : hooks_(std::move(hooks)), cookie_secret_(random_bytes(32)) {}

// Cookie = <version 0> | HMAC-SHA2-256(secret, Ni | IPi | SPIi) (§2.6).
Bytes IkeDaemon::cookie_for(const Datagram& d, std::span<const uint8_t> ni) const {
    Bytes data(ni.begin(), ni.end());
    data.insert(data.end(), d.remote.addr.bytes.begin(), d.remote.addr.bytes.begin() + (d.remote.addr.is_v4() ? 4 : 16));
    data.insert(data.end(), d.data.begin(), d.data.begin() + 8);  // SPIi
    const Secret mac = prf(PrfAlg::hmac_sha2_256, cookie_secret_, data);
    Bytes out{0};
    out.insert(out.end(), mac.begin(), mac.end());
    return out;
}

bool IkeDaemon::cookie_ok(const Datagram& d, Millis now) {
    if (!half_open_at_ || now - *half_open_at_ >= 100ms || now < *half_open_at_) {
        half_open_ = 0;
        for (Conn* c : conn_list_)
            for (auto& s : c->sessions)
                if (!s->done && !s->initiator && !s->up) ++half_open_;
        half_open_at_ = now;
    }
    if (half_open_ < settings_.cookie_threshold) return true;
    const DecodedMessage m = decode(d.data);
    if (!m.ok()) return true;  // the state machine answers the syntax error, statelessly
    const NoncePayload* ni = nullptr;
    for (const Payload& p : m.message.payloads)
        if (auto* n = std::get_if<NoncePayload>(&p.body)) ni = n;
    if (!ni) return true;
    const Bytes want = cookie_for(d, ni->data);
    if (!m.message.payloads.empty())
        if (auto* n = std::get_if<NotifyPayload>(&m.message.payloads.front().body))
            if (n->type == notify::cookie && n->data == want) {
                ++counters_.cookies_accepted;
                return true;
            }
    Message r;
    r.header = m.message.header;
    r.header.spi_r = 0;
    r.header.flags = kFlagResponse;
    r.payloads.push_back(make_payload(NotifyPayload::make(notify::cookie, want)));
    ++counters_.cookies_sent;
    if (hooks_.send) hooks_.send(d.local, d.remote, encode(r));
    return false;
}
IkeDaemon::~IkeDaemon() = default;

IkeDaemon::Conn* IkeDaemon::find_conn(const std::string& name) {
    auto it = conns_.find(name);
    return it == conns_.end() ? nullptr : it->second.get();
}

std::optional<std::string> IkeDaemon::apply(IpsecChange& change) {
    auto err = hooks_.apply ? hooks_.apply(change) : std::nullopt;
    for (auto& [name, sa] : change.add_sas) {
        wipe(sa.cipher_key);
        wipe(sa.integrity_key);
    }
    return err;
}

void IkeDaemon::set_policies(Conn& c, IpsecChange& ch, std::vector<IpsecPolicyConfig> entries) const {
    if (!c.cfg.child) return;
    const uint32_t seq = c.cfg.child->seq;
    for (size_t i = entries.size(); i < c.policies_installed; ++i) ch.remove_policies.push_back({"", uint32_t(seq + i)});
    for (size_t i = 0; i < entries.size(); ++i) ch.add_policies.push_back({"", uint32_t(seq + i), std::move(entries[i])});
}

void IkeDaemon::install_trap(Conn& c) {
    if (!c.cfg.child) return;
    IpsecChange ch;
    set_policies(c, ch, configured_matches(*c.cfg.child));
    if (auto err = apply(ch)) {
        c.last_error = "trap policy: " + *err;
        log::warn("ike {}: trap policy not installed: {}", c.name, *err);
        return;
    }
    c.policies_installed = c.cfg.child->policy_count();
}

void IkeDaemon::sync_reverse_routes(Conn& c) {
    std::vector<Prefix> want;
    if (c.cfg.reverse_route)
        for (auto& s : c.sessions)
            if (!s->done)
                for (auto& ch : s->children)
                    if (ch.outbound_active && !ch.transport)
                        for (const Prefix& p : ch.remote)
                            if (std::find(want.begin(), want.end(), p) == want.end()) want.push_back(p);
    OwnedRouteChange change;
    for (const Prefix& p : c.routes_installed)
        if (std::find(want.begin(), want.end(), p) == want.end()) change.remove.push_back(p);
    for (const Prefix& p : want)
        if (std::find(c.routes_installed.begin(), c.routes_installed.end(), p) == c.routes_installed.end())
            change.add.emplace_back(p, c.cfg.remote);
    if (change.add.empty() && change.remove.empty()) return;
    if (auto err = hooks_.routes ? hooks_.routes(change) : std::nullopt) {
        ++counters_.reverse_route_failed;
        c.last_error = "reverse routes: " + *err;
        log::warn("ike {}: reverse routes not changed: {}", c.name, *err);
        return;
    }
    counters_.reverse_routes += change.add.size();
    for (auto& [p, via] : change.add) log::info("ike {}: reverse route {} via {}", c.name, p.str(), via.str());
    for (const Prefix& p : change.remove) log::info("ike {}: reverse route {} removed", c.name, p.str());
    c.routes_installed = std::move(want);
}

void IkeDaemon::configure_settings(const IkeSettings& settings) { settings_ = settings; }

void IkeDaemon::configure(const std::map<std::string, IkeConnectionConfig>& conns, Millis now) {
    for (auto it = conns_.begin(); it != conns_.end();) {
        auto want = conns.find(it->first);
        if (want != conns.end() && want->second == it->second->cfg) {
            ++it;
            continue;
        }
        teardown(*it->second, now, true);
        log::info("ike {}: connection {}", it->first, want == conns.end() ? "removed" : "changed");
        it = conns_.erase(it);
    }
    for (auto& [name, cfg] : conns) {
        if (conns_.count(name)) continue;
        auto c = std::make_unique<Conn>();
        c->name = name;
        c->cfg = cfg;
        Conn& conn = *conns_.emplace(name, std::move(c)).first->second;
        if (!cfg.cert_file.empty()) {
            std::string why;
            conn.creds = load_credentials(cfg.cert_file, cfg.key_file, cfg.ca_file, why);
            if (conn.creds && !cfg.crl_file.empty() && !load_crls(*conn.creds, cfg.crl_file, why)) conn.creds.reset();
            if (!conn.creds) {
                conn.last_error = why;
                log::warn("ike {}: certificate authentication unusable: {}", name, why);
            }
        }
        if (std::string why; !peer_config(cfg, true, hooks_.ike_port, conn.creds, settings_, why)) {
            conn.config_error = conn.last_error = why;
            log::warn("ike {}: unusable: {}", name, why);
        }
        if (cfg.start_action == IkeConnectionConfig::StartAction::trap) install_trap(conn);
        if (cfg.start_action == IkeConnectionConfig::StartAction::start) {
            if (auto err = initiate(name, now)) log::warn("ike {}: not started: {}", name, *err);
        }
    }
    by_remote_.clear();
    conn_list_.clear();
    for (auto& [name, c] : conns_) {
        by_remote_.emplace(c->cfg.remote, c.get());
        conn_list_.push_back(c.get());
    }
}

void IkeDaemon::start_session(Conn& c, bool initiator, Millis now, const std::vector<Conn*>& alternatives) {
    std::string why;
    std::optional<PeerConfig> pc = peer_config(c.cfg, initiator, hooks_.ike_port, c.creds, settings_, why);
    if (!pc) return;  // configure() found it unusable (can_authenticate is false)
    auto s = std::make_unique<Session>();
    for (Conn* alt : alternatives)
        if (auto apc = peer_config(alt->cfg, false, hooks_.ike_port, alt->creds, settings_, why)) {
            pc->alternatives.push_back(std::move(*apc));
            s->alternatives.push_back(alt->name);
        }
    s->serial = next_serial_++;
    s->pad_denied = c.cfg.child && pc->ts_remote.empty();
    s->sa = std::make_unique<IkeSa>(std::move(*pc));
    s->initiator = initiator;
    s->local = {c.cfg.local, hooks_.ike_port};
    s->remote = {c.cfg.remote, hooks_.ike_port};
    s->created = s->last_rx = now;
    Session& ref = *s;
    c.sessions.push_back(std::move(s));
    if (initiator) {
        log::info("ike {}: initiating to {}", c.name, c.cfg.remote.str());
        handle(c, ref, ref.sa->start(now), now);
    }
}

std::optional<std::string> IkeDaemon::initiate(const std::string& name, Millis now) {
    Conn* c = find_conn(name);
    if (!c) return fmt::format("unknown ike connection {}", name);
    if (!c->config_error.empty()) return fmt::format("ike connection {} is unusable: {}", name, c->config_error);
    if (!c->can_authenticate())
        return fmt::format("ike connection {} has no {}", name,
                           c->cfg.cert_file.empty() ? "psk" : "usable certificate: " + c->last_error);
    if (!c->cfg.child) return fmt::format("ike connection {} has no child", name);
    if (std::string why; !settings_.pad.empty() && peer_config(c->cfg, true, hooks_.ike_port, c->creds, settings_, why)
                                                       ->ts_remote.empty()) {
        ++counters_.not_authorized;
        return fmt::format("ike connection {}: the PAD authorizes {} for none of its remote selectors", name,
                           ike_identity_text(remote_identity(c->cfg)));
    }
    for (auto& s : c->sessions)
        if (!s->done) return fmt::format("ike connection {} is already {}", name, s->up ? "established" : "negotiating");
    if (auto until = locked_until(c->cfg.remote, now))
        return fmt::format("ike connection {} is locked out for {} s after authentication failures", name,
                           (*until - now).count() / 1000 + 1);
    c->restart_at.reset();
    start_session(*c, true, now);
    return std::nullopt;
}

std::optional<std::string> IkeDaemon::terminate(const std::string& name, Millis now) {
    Conn* c = find_conn(name);
    if (!c) return fmt::format("unknown ike connection {}", name);
    bool any = std::any_of(c->sessions.begin(), c->sessions.end(), [](auto& s) { return !s->done; });
    teardown(*c, now, true);
    if (c->cfg.start_action == IkeConnectionConfig::StartAction::trap) install_trap(*c);
    if (!any) return fmt::format("ike connection {} has no IKE SA", name);
    return std::nullopt;
}

void IkeDaemon::teardown(Conn& c, Millis now, bool tell_peer) {
    c.terminating = true;
    for (size_t i = 0; i < c.sessions.size(); ++i) {
        Session& s = *c.sessions[i];
        if (s.done) continue;
        if (tell_peer && s.sa->state() == SaState::established) {
            Output o = s.sa->delete_sa(now);
            for (auto& b : o.send)
                if (hooks_.send) hooks_.send(s.local, s.remote, b);
        }
        session_ended(c, s, now);
    }
    if (c.policies_installed && c.cfg.child) {
        IpsecChange ch;
        set_policies(c, ch, {});
        if (auto err = apply(ch)) log::warn("ike {}: policy not removed: {}", c.name, *err);
        c.policies_installed = 0;
    }
    reap(c);
    c.restart_at.reset();
    c.terminating = false;
}

void IkeDaemon::handle(Conn& c, Session& s, Output out, Millis now) {
    index_session(c, s);
    // §2.23: with a NAT detected, the initiator sends IKE_AUTH and everything
    // after it from and to port 4500 (with the non-ESP marker).
    if (s.initiator && !s.up && s.local.port == hooks_.ike_port && s.sa->state() == SaState::auth_sent &&
        s.sa->nat_detected()) {
        s.local.port = hooks_.natt_port;
        if (s.remote.port == hooks_.ike_port) s.remote.port = hooks_.natt_port;
    }
    for (auto& b : out.send)
        if (hooks_.send) hooks_.send(s.local, s.remote, b);
    for (auto& ev : out.events) {
        if (s.done) break;
        if (auto* up = std::get_if<IkeSaUp>(&ev)) {
            s.up = *up;
            s.established = now;
            if (auto it = lockouts_.find(c.cfg.remote); it != lockouts_.end()) it->second.failures.clear();
            ++c.established;
            ++counters_.established;
            log::info("ike {}: IKE SA established with {} ({} {:016x}/{:016x}, {})", c.name, c.cfg.remote.str(),
                      s.initiator ? "initiator" : "responder", up->spi_i, up->spi_r, suite_text(up->suite));
            if (up->local_behind_nat || up->peer_behind_nat) {  // §2.23: the rest goes over 4500
                s.local.port = hooks_.natt_port;
                if (s.remote.port == hooks_.ike_port) s.remote.port = hooks_.natt_port;
            }
        } else if (auto* cu = std::get_if<ChildSaUp>(&ev)) {
            child_up(c, s, std::move(cu->sa), now);
        } else if (auto* cr = std::get_if<ChildSaRefused>(&ev)) {
            ++counters_.child_refused;
            if (cr->notify == notify::ts_unacceptable) ++counters_.ts_unacceptable;
            if (cr->notify == notify::ts_unacceptable && s.pad_denied) ++counters_.not_authorized;
            c.last_error = "child SA refused: " + cr->reason;
            log::warn("ike {}: child SA refused (notify {}): {}", c.name, cr->notify, cr->reason);
            if (s.rekeying && !cr->answered) {  // our CREATE_CHILD_SA was refused
                const uint32_t spi = *s.rekeying;
                s.rekeying.reset();
                Session::Child* a = s.active();
                if (!a || a->spi_in != spi) {
                    // The peer's rekey of the same Child SA replaced it meanwhile (§2.8.1, §2.25).
                } else if (cr->notify == notify::temporary_failure) {
                    s.child_rekey_retry_at = now + kRekeyRetry;
                } else if (!s.rekey_started && c.cfg.child) {  // fall back to a new IKE SA (make-before-break)
                    log::info("ike {}: rekey refused, re-establishing instead", c.name);
                    reestablish(c, s, now);
                }
            }
        } else if (auto* red = std::get_if<ChildSaRedundant>(&ev)) {
            for (auto& ch : s.children)
                if (ch.spi_in == red->spi_in && !ch.delete_queued) {
                    log::info("ike {}: child SA spi in {:08x} lost a rekey collision: deleting it", c.name, ch.spi_in);
                    ch.delete_queued = true;
                    s.delete_children.push_back(ch.spi_in);
                }
        } else if (auto* rk = std::get_if<IkeSaRekeyed>(&ev)) {
            ike_rekeyed(c, s, *rk, now);
        } else if (auto* rr = std::get_if<IkeSaRekeyRefused>(&ev)) {
            s.ike_rekeying = false;
            log::warn("ike {}: IKE SA rekey refused (notify {}): {}", c.name, rr->notify, rr->reason);
            if (rr->notify == notify::temporary_failure) s.ike_rekey_retry_at = now + kRekeyRetry;
            else if (!s.rekey_started && c.cfg.child && c.can_authenticate()) reestablish(c, s, now);
        } else if (auto* cd = std::get_if<ChildSaDeleted>(&ev)) {
            log::info("ike {}: child SA spi in {:08x} deleted{}", c.name, cd->spi_in, cd->by_peer ? " by the peer" : "");
            remove_children(c, s, {cd->spi_in}, now);
        } else if (s.closing && (std::holds_alternative<IkeSaFailed>(ev) || std::holds_alternative<IkeSaDeleted>(ev))) {
            log::info("ike {}: replaced IKE SA {:016x}/{:016x} closed", c.name, s.sa->spi_i(), s.sa->spi_r());
            session_ended(c, s, now);
        } else if (auto* f = std::get_if<IkeSaFailed>(&ev)) {
            ++c.failed;
            ++counters_.failed;
            if (f->notify == notify::authentication_failed) {
                ++c.auth_failed;
                ++counters_.auth_failed;
                count_auth_failure(c, now);
            }
            if (s.dpd_pending) ++counters_.dpd_failed;
            c.last_error = f->reason;
            log::warn("ike {}: IKE SA failed (notify {}): {}", c.name, f->notify, f->reason);
            session_ended(c, s, now);
        } else if (auto* d = std::get_if<IkeSaDeleted>(&ev)) {
            if (d->by_peer) ++counters_.deleted_by_peer;
            log::info("ike {}: IKE SA {:016x} deleted{}", c.name, s.sa->spi_i(), d->by_peer ? " by the peer" : "");
            session_ended(c, s, now);
        } else if (std::holds_alternative<PeerAlive>(ev)) {
            s.dpd_pending = false;
        }
    }
}

std::optional<Millis> IkeDaemon::locked_until(const IpAddr& peer, Millis now) const {
    auto it = lockouts_.find(peer);
    if (it == lockouts_.end() || !it->second.until || now >= *it->second.until) return std::nullopt;
    return it->second.until;
}

void IkeDaemon::count_auth_failure(Conn& c, Millis now) {
    PeerLockout& l = lockouts_[c.cfg.remote];
    const Millis window{uint64_t(settings_.lockout_window) * 1000};
    std::erase_if(l.failures, [&](Millis t) { return now - t >= window; });
    l.failures.push_back(now);
    if (l.failures.size() < settings_.lockout_failures) return;
    l.failures.clear();
    l.until = now + Millis{uint64_t(settings_.lockout_duration) * 1000};
    ++counters_.lockouts;
    log::warn("ike {}: {} authentication failures from {} within {} s: locked out for {} s", c.name,
              settings_.lockout_failures, c.cfg.remote.str(), settings_.lockout_window, settings_.lockout_duration);
}

void IkeDaemon::child_up(Conn& c, Session& s, ChildSa child, Millis now) {
    auto wipe_child = [&] {
        for (auto* k : {&child.encr_in, &child.integ_in, &child.encr_out, &child.integ_out}) k->clear();  // Secret wipes
    };
    auto names = esp_names(child.suite);
    if (!names || !c.cfg.child) {
        ++counters_.install_failed;
        c.last_error = "child SA: no fast-path transform for " + suite_text(child.suite);
        wipe_child();
        return;
    }
    const std::string tag = fmt::format("ike-{}-{:08x}", sa_tag(c.name), child.spi_in);
    Session::Child info;
    info.in_name = tag + "-in";
    info.out_name = tag + "-out";
    info.spi_in = child.spi_in;
    info.spi_out = child.spi_out;
    info.suite = child.suite;
    info.transport = child.transport_mode;
    info.udp = child.udp_encapsulation;
    // One SPD entry per pair of the narrowed selectors (§2.9), in the connection's block.
    auto matches = policy_matches(child.ts_local, child.ts_remote);
    if (!matches || matches->empty() || matches->size() > c.cfg.child->policy_count()) {
        ++counters_.install_failed;
        c.last_error = matches && !matches->empty()
                           ? fmt::format("child SA: {} policies needed, the TS-list has room for {}", matches->size(),
                                         c.cfg.child->policy_count())
                           : "child SA: its traffic selectors are not installable";
        log::warn("ike {}: {}", c.name, c.last_error);
        wipe_child();
        return;
    }
    for (const IpsecPolicyConfig& m : *matches) {
        if (std::find(info.local.begin(), info.local.end(), m.local) == info.local.end()) info.local.push_back(m.local);
        if (std::find(info.remote.begin(), info.remote.end(), m.remote) == info.remote.end())
            info.remote.push_back(m.remote);
    }
    info.matches = std::move(*matches);
    info.at = now;

    auto make_sa = [&](bool inbound) {
        IpsecSaConfig sa;
        sa.direction = inbound ? IpsecSaConfig::Direction::inbound : IpsecSaConfig::Direction::outbound;
        sa.spi = inbound ? child.spi_in : child.spi_out;
        sa.transport = child.transport_mode;
        sa.local = c.cfg.local;
        sa.remote = c.cfg.remote;
        sa.cipher = names->first;
        const Secret& ek = inbound ? child.encr_in : child.encr_out;
        const Secret& ik = inbound ? child.integ_in : child.integ_out;
        sa.cipher_key.assign(ek.begin(), ek.end());
        sa.integrity = names->second;
        if (!sa.integrity.empty()) sa.integrity_key.assign(ik.begin(), ik.end());
        sa.esn = child.esn;
        if (child.udp_encapsulation) sa.nat_traversal = s.remote.port == hooks_.ike_port ? hooks_.natt_port : s.remote.port;
        sa.life_seconds = {c.cfg.child_lifetime, c.cfg.child_lifetime + c.cfg.child_lifetime / 10};
        return sa;
    };
    // The Child SA's protect entries (one per narrowed selector pair) sending
    // through it and accepting `older` inbound SAs as well.
    auto protect_entries = [](const Session::Child& sending, const std::vector<std::string>& older) {
        std::vector<IpsecPolicyConfig> entries = sending.matches;
        for (IpsecPolicyConfig& e : entries) {
            e.outbound_sa = sending.out_name;
            e.inbound_sa = sending.in_name;
            e.older_inbound_sas = older;
        }
        return entries;
    };
    IpsecChange ch;
    ch.add_sas.emplace_back(info.in_name, make_sa(true));
    if (child.redundant) {
        // §2.8.1: the losing SA of a rekey collision; the peer may send on it
        // until it is deleted, so only its inbound SA goes in, accepted by the
        // policy next to the active Child SA's.
        wipe_child();
        info.outbound_active = false;
        info.inactive_since = now;
        std::vector<std::string> inbound_only{info.in_name};
        const Session::Child* active = nullptr;
        for (auto& o : c.sessions)
            if (!o->done)
                for (auto& oc : o->children) {
                    if (oc.outbound_active) active = &oc;
                    else inbound_only.push_back(oc.in_name);
                }
        if (active) set_policies(c, ch, protect_entries(*active, inbound_only));
        if (auto err = apply(ch)) {
            ++counters_.install_failed;
            c.last_error = "child SA not installed: " + *err;
            log::warn("ike {}: redundant child SA not installed: {}", c.name, *err);
            return;
        }
        log::info("ike {}: child SA spi in {:08x} out {:08x} is the redundant one of a rekey collision{}", c.name,
                  info.spi_in, info.spi_out, child.delete_redundant ? ": deleting it" : "");
        if (s.rekeying && *s.rekeying == child.replaces_spi_in) s.rekeying.reset();
        if (child.delete_redundant) {
            info.delete_queued = true;
            s.delete_children.push_back(info.spi_in);
        }
        s.children.push_back(std::move(info));
        return;
    }
    ch.add_sas.emplace_back(info.out_name, make_sa(false));
    wipe_child();
    // Every other Child SA of the connection stays accepted inbound until deleted (hitless, §2.8).
    std::vector<std::string> older;
    for (auto& o : c.sessions) {
        if (o->done) continue;
        for (auto& oc : o->children) {
            older.push_back(oc.in_name);
            if (oc.outbound_active) ch.remove_sas.push_back(oc.out_name);
        }
    }
    set_policies(c, ch, protect_entries(info, older));
    if (auto err = apply(ch)) {
        ++counters_.install_failed;
        c.last_error = "child SA not installed: " + *err;
        log::warn("ike {}: child SA not installed: {}", c.name, *err);
        return;
    }
    c.policies_installed = info.matches.size();
    for (auto& o : c.sessions)
        for (auto& oc : o->children)
            if (oc.outbound_active) {
                oc.outbound_active = false;
                oc.inactive_since = now;
            }
    log::info("ike {}: child SA up: {} {} <-> {} ESP {}{} spi in {:08x} out {:08x}{}{}", c.name,
              info.transport ? "transport" : "tunnel", prefixes_text(info.local), prefixes_text(info.remote),
              suite_text(info.suite), child.pfs ? " (PFS)" : "", info.spi_in, info.spi_out,
              info.udp ? " (UDP-encapsulated)" : "",
              child.replaces_spi_in ? fmt::format(", rekeyed {:08x}", child.replaces_spi_in) : std::string());
    s.children.push_back(std::move(info));
    sync_reverse_routes(c);
    c.restart_at.reset();
    if (child.replaces_spi_in) {
        // CREATE_CHILD_SA: whoever asked deletes the old Child SA (§2.8).
        if (s.rekeying && *s.rekeying == child.replaces_spi_in) {
            s.rekeying.reset();
            s.delete_children.push_back(child.replaces_spi_in);
            for (auto& oc : s.children)
                if (oc.spi_in == child.replaces_spi_in) oc.delete_queued = true;
        }
        return;
    }
    // A new IKE SA: the older IKE SAs go now that its Child SA carries the traffic.
    for (auto& o : c.sessions)
        if (o.get() != &s && !o->done && o->up) o->delete_wanted = true;
    for (auto& o : c.sessions)
        if (o.get() != &s && !o->done && !o->up) session_ended(c, *o, now);  // a half-open duplicate
}

void IkeDaemon::session_ended(Conn& c, Session& s, Millis now) {
    if (s.done) return;
    s.done = true;
    counters_.dropped_by_sa += s.sa->dropped() - s.dropped_seen;
    s.dropped_seen = s.sa->dropped();
    const bool others = std::any_of(c.sessions.begin(), c.sessions.end(), [](auto& o) { return !o->done; });
    if (!others && !c.terminating && c.cfg.start_action == IkeConnectionConfig::StartAction::start)
        c.restart_at = now + kRestartDelay;  // keep trying (a failure, a lost peer, an expiry)
    std::vector<uint32_t> all;
    for (auto& ch : s.children) all.push_back(ch.spi_in);
    remove_children(c, s, all, now);
}

// Takes Child SAs of `s` out of the fast path. When the one the policy sends
// through goes, the policy goes back to a trap (start-action trap) or away;
// otherwise the policy stays with the active Child SA and stops accepting
// the removed inbound SAs.
void IkeDaemon::remove_children(Conn& c, Session& s, const std::vector<uint32_t>& spis, Millis) {
    IpsecChange ch;
    bool policy_lost = false;
    std::vector<Session::Child> removed;
    for (auto it = s.children.begin(); it != s.children.end();) {
        if (std::find(spis.begin(), spis.end(), it->spi_in) == spis.end()) {
            ++it;
            continue;
        }
        ch.remove_sas.push_back(it->in_name);
        if (it->outbound_active) {
            ch.remove_sas.push_back(it->out_name);
            policy_lost = true;
        }
        removed.push_back(std::move(*it));
        it = s.children.erase(it);
    }
    if (removed.empty() || !c.cfg.child) return;
    const bool rearm = !c.terminating && c.cfg.start_action == IkeConnectionConfig::StartAction::trap;
    size_t now_installed = c.policies_installed;
    if (policy_lost) {
        std::vector<IpsecPolicyConfig> traps = rearm ? configured_matches(*c.cfg.child) : std::vector<IpsecPolicyConfig>{};
        now_installed = traps.size();
        set_policies(c, ch, std::move(traps));
    } else {
        for (auto& o : c.sessions)
            for (auto& oc : o->children)
                if (oc.outbound_active) {
                    std::vector<std::string> older;
                    for (auto& p : c.sessions)
                        if (!p->done || p.get() == &s)
                            for (auto& pc : p->children)
                                if (!pc.outbound_active) older.push_back(pc.in_name);
                    std::vector<IpsecPolicyConfig> entries = oc.matches;
                    for (IpsecPolicyConfig& e : entries) {
                        e.outbound_sa = oc.out_name;
                        e.inbound_sa = oc.in_name;
                        e.older_inbound_sas = older;
                    }
                    now_installed = entries.size();
                    set_policies(c, ch, std::move(entries));
                }
    }
    if (auto err = apply(ch)) log::warn("ike {}: child SA not removed: {}", c.name, *err);
    else c.policies_installed = now_installed;
    sync_reverse_routes(c);
    for (auto& r : removed) log::info("ike {}: child SA spi in {:08x} out {:08x} removed", c.name, r.spi_in, r.spi_out);
}

void IkeDaemon::index_session(Conn& c, Session& s) {
    const uint64_t spi = s.done ? 0 : s.sa->spi_i();
    if (spi == s.indexed_spi_i && &c == s.indexed_conn) return;
    if (s.indexed_spi_i) {
        auto [lo, hi] = by_spi_i_.equal_range(s.indexed_spi_i);
        for (auto it = lo; it != hi; ++it)
            if (it->second.second == &s) {
                by_spi_i_.erase(it);
                break;
            }
    }
    if (spi) by_spi_i_.emplace(spi, std::pair{&c, &s});
    s.indexed_spi_i = spi;
    s.indexed_conn = &c;
}

void IkeDaemon::reap(Conn& c) {
    for (auto& s : c.sessions)
        if (s->done) index_session(c, *s);
    std::erase_if(c.sessions, [](const std::unique_ptr<Session>& s) { return s->done; });
}

void IkeDaemon::receive(const Datagram& d, Millis now) {
    ++counters_.received;
    if (d.data.size() < kHeaderLen) {
        ++counters_.malformed;
        return;
    }
    const uint64_t spi_i = be64(d.data.data()), spi_r = be64(d.data.data() + 8);
    const uint8_t exchange = d.data[18], flags = d.data[19];
    auto [peer_conns, peer_conns_end] = by_remote_.equal_range(d.remote.addr);
    auto matches = [&](Conn& c, Session& s) {
        return !s.done && c.cfg.remote == d.remote.addr && s.sa->spi_i() == spi_i &&
               !(spi_r != 0 && s.sa->spi_r() != 0 && s.sa->spi_r() != spi_r);
    };
    Conn* found_conn = nullptr;
    Session* found = nullptr;
    auto [by_spi, by_spi_end] = by_spi_i_.equal_range(spi_i);
    for (auto it = by_spi; it != by_spi_end && !found; ++it)
        if (matches(*it->second.first, *it->second.second)) found_conn = it->second.first, found = it->second.second;
    for (auto pc = peer_conns; pc != peer_conns_end && !found; ++pc)
        for (auto& s : pc->second->sessions)
            if (!found && matches(*pc->second, *s)) found_conn = pc->second, found = s.get();
    const bool init_request = exchange == uint8_t(ExchangeType::ike_sa_init) && spi_r == 0 &&
                              (flags & kFlagInitiator) && !(flags & kFlagResponse);
    auto request_hash = [&] {
        return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(d.data.data()), d.data.size()));
    };
    // A request opening with N(COOKIE) (§2.6: the notify comes first).
    const bool with_cookie = init_request && d.data.size() >= kHeaderLen + 8 && d.data[16] == 41 &&
                             (d.data[kHeaderLen + 6] << 8 | d.data[kHeaderLen + 7]) == notify::cookie;
    if (found && with_cookie && !found->initiator && !found->up && found->init_request_hash != request_hash()) {
        // Not a retransmission: the peer's retry with a COOKIE, after a
        // retransmission of its first request got a half-open IKE SA made
        // (the count fell below the threshold in between). AUTH signs the
        // request that got the answer, so this one is answered.
        log::debug("ike {}: a new IKE_SA_INIT replaces the half-open IKE SA {:016x}", found_conn->name, spi_i);
        found->done = true;
        reap(*found_conn);
        found = nullptr;
    }
    if (found) {
        Conn* c = found_conn;
        const std::string& name = c->name;
        {
            Session& s = *found;
            const unsigned before = s.sa->dropped();
            if (exchange == uint8_t(ExchangeType::ike_sa_init)) s.sa->observed_endpoints(d.local, d.remote);
            Output out = s.sa->receive(d.data, now);
            if (s.sa->dropped() != before) {
                counters_.dropped_by_sa += s.sa->dropped() - before;
                s.dropped_seen = s.sa->dropped();
                log::debug("ike {}: dropped a message: {}", name, s.sa->last_drop());
            } else {
                s.last_rx = now;
                if (!s.up || d.local.port == hooks_.natt_port) {  // the peer's port (a NAT may move it)
                    s.remote.port = d.remote.port;
                    s.local.port = d.local.port;
                }
            }
            // IKE_AUTH as responder: the initiator's IDi may have picked
            // another connection to this peer; the session moves to it.
            Conn* owner = c;
            for (const Event& ev : out.events)
                if (auto* up = std::get_if<IkeSaUp>(&ev); up && up->alternative && up->alternative <= s.alternatives.size())
                    if (Conn* target = find_conn(s.alternatives[up->alternative - 1])) {
                        auto it = std::find_if(c->sessions.begin(), c->sessions.end(),
                                               [&](auto& p) { return p.get() == &s; });
                        target->sessions.push_back(std::move(*it));
                        c->sessions.erase(it);
                        owner = target;
                        std::string why;
                        auto tpc = peer_config(target->cfg, false, hooks_.ike_port, target->creds, settings_, why);
                        s.pad_denied = target->cfg.child && tpc && tpc->ts_remote.empty();
                        log::info("ike {}: IDi picked connection {}", name, target->name);
                    }
            handle(*owner, s, std::move(out), now);
            reap(*c);
            if (owner != c) reap(*owner);
            return;
        }
    }
    if (!init_request) {
        ++counters_.no_sa;
        return;
    }
    // The connections to this peer (and local address): the first answers,
    // the initiator's IDi may pick another one in IKE_AUTH.
    std::vector<Conn*> candidates;
    for (auto pc = peer_conns; pc != peer_conns_end; ++pc) {
        Conn* c = pc->second;
        if (d.local.addr != IpAddr{} && d.local.addr != c->cfg.local && d.local.addr.family == c->cfg.local.family) continue;
        if (c->can_authenticate() && c->cfg.child) candidates.push_back(c);
    }
    if (candidates.empty()) {
        ++counters_.no_connection;
        return;
    }
    Conn& c = *candidates.front();
    if (locked_until(c.cfg.remote, now)) {
        ++counters_.locked_out;
        return;
    }
    if (!cookie_ok(d, now)) return;
    size_t live = std::count_if(c.sessions.begin(), c.sessions.end(), [](auto& s) { return !s->done; });
    if (live >= kMaxSessionsPerConn) {
        ++counters_.no_connection;
        return;
    }
    start_session(c, false, now, {candidates.begin() + 1, candidates.end()});
    ++half_open_;
    Session& s = *c.sessions.back();
    s.init_request_hash = request_hash();
    s.remote = d.remote;
    s.local.port = d.local.port;
    const unsigned before = s.sa->dropped();
    s.sa->observed_endpoints(d.local, d.remote);
    Output out = s.sa->receive(d.data, now);
    if (s.sa->dropped() != before) {
        ++counters_.malformed;
        s.done = true;
    } else {
        log::info("ike {}: IKE_SA_INIT from {} port {}", c.name, d.remote.addr.str(), d.remote.port);
    }
    handle(c, s, std::move(out), now);
    reap(c);
}

void IkeDaemon::tick(Millis now) {
    const Millis window{uint64_t(settings_.lockout_window) * 1000};
    std::erase_if(lockouts_, [&](const auto& kv) {
        const PeerLockout& l = kv.second;
        return (!l.until || now >= *l.until) && (l.failures.empty() || now - l.failures.back() >= window);
    });
    for (Conn* cp : conn_list_) {
        Conn& c = *cp;
        if (auto until = locked_until(c.cfg.remote, now); c.restart_at && until) c.restart_at = std::max(*c.restart_at, *until);
        if (c.restart_at && now >= *c.restart_at) {
            c.restart_at.reset();
            bool live = std::any_of(c.sessions.begin(), c.sessions.end(), [](auto& s) { return !s->done; });
            if (!live && c.can_authenticate() && c.cfg.child) start_session(c, true, now);
        }
        for (size_t i = 0; i < c.sessions.size(); ++i) {
            Session& s = *c.sessions[i];
            if (s.done) continue;
            if (auto t = s.sa->next_timeout(); t && now >= *t) handle(c, s, s.sa->timeout(now), now);
            if (s.done) continue;
            if (s.closing) {
                if (now - s.closing_since >= kClosingLimit) session_ended(c, s, now);
                continue;
            }
            if (!s.up && now - s.created >= kHalfOpenLimit) {
                ++c.failed;
                ++counters_.failed;
                c.last_error = "negotiation did not complete in time";
                session_ended(c, s, now);
                continue;
            }
            if (!s.up || s.sa->state() != SaState::established) continue;
            if (s.delete_wanted && !s.sa->next_timeout()) {
                s.delete_wanted = false;
                handle(c, s, s.sa->delete_sa(now), now);
                continue;
            }
            // Behind a NAT: keep its mapping for the peer's ESP and IKE alive (RFC 3948 §2.3).
            if (s.up && s.up->local_behind_nat && now - std::max(s.last_keepalive, s.established) >= kNatKeepalive &&
                hooks_.keepalive) {
                s.last_keepalive = now;
                hooks_.keepalive(s.local, s.remote);
                ++counters_.keepalives_sent;
            }
            const Millis dpd{uint64_t(c.cfg.dpd_seconds) * 1000};
            if (c.cfg.dpd_seconds && now - std::max(s.last_rx, s.last_dpd) >= dpd && !s.sa->next_timeout()) {
                s.last_dpd = now;
                Output o = s.sa->liveness_check(now);
                if (!o.send.empty()) {
                    ++counters_.dpd_sent;
                    s.dpd_pending = true;
                }
                handle(c, s, std::move(o), now);
                if (s.done) continue;
            }
            // The IKE SA's lifetime: rekeyed in place (§1.3.2). The original
            // responder waits 10% longer, so the two sides seldom collide.
            const Millis ike_life{uint64_t(c.cfg.ike_lifetime) * (s.initiator ? 1000 : 1100)};
            if (!s.ike_rekey_started && !s.rekey_started && !s.delete_wanted && now - s.established >= ike_life) {
                s.ike_rekey_started = s.ike_rekey_wanted = true;
                log::info("ike {}: IKE SA reached its lifetime ({} s): rekeying", c.name, c.cfg.ike_lifetime);
            }
            if (s.ike_rekey_retry_at && now >= *s.ike_rekey_retry_at) {
                s.ike_rekey_retry_at.reset();
                s.ike_rekey_wanted = true;
            }
            if (s.ike_rekey_wanted && !s.sa->busy()) start_ike_rekey(c, s, now);
            if (s.done || s.closing) continue;
            if (s.child_rekey_retry_at && now >= *s.child_rekey_retry_at) {
                s.child_rekey_retry_at.reset();
                s.rekey_wanted = true;
            }
            // Rekey the active Child SA at its lifetime (CREATE_CHILD_SA).
            const Millis life{uint64_t(c.cfg.child_lifetime) * 1000};
            if (Session::Child* a = s.active(); a && !a->rekey_started && now - a->at >= life) {
                a->rekey_started = true;
                ++counters_.rekeys;
                log::info("ike {}: child SA spi in {:08x} reached its lifetime: rekeying", c.name, a->spi_in);
                s.rekey_wanted = true;
            }
            if (s.rekey_wanted && !s.sa->busy()) start_rekey(c, s, now);
            if (s.done) continue;
            // Deletes of replaced Child SAs; one the peer replaced and never deleted goes after 30 s.
            for (auto& ch : s.children)
                if (!ch.outbound_active && !ch.delete_queued && now - ch.inactive_since >= 30s) {
                    ch.delete_queued = true;
                    s.delete_children.push_back(ch.spi_in);
                }
            if (!s.delete_children.empty() && !s.sa->busy() && s.sa->state() == SaState::established) {
                const uint32_t spi = s.delete_children.front();
                s.delete_children.erase(s.delete_children.begin());
                Output o = s.sa->delete_child(spi, now);
                if (o.send.empty()) remove_children(c, s, {spi}, now);  // the SA no longer knows it
                else handle(c, s, std::move(o), now);
            }
        }
        reap(c);
    }
}

void IkeDaemon::on_acquire(const IpsecAcquire& a, Millis now) {
    for (auto& [name, c] : conns_) {
        if (!c->cfg.child || a.seq < c->cfg.child->seq || a.seq >= c->cfg.child->seq + c->policies_installed ||
            !a.vrf.empty())
            continue;
        bool live = std::any_of(c->sessions.begin(), c->sessions.end(), [](auto& s) { return !s->done; });
        if (live || !c->can_authenticate()) return;
        if (locked_until(c->cfg.remote, now)) {
            ++counters_.locked_out;
            return;
        }
        log::info("ike {}: acquire for {} -> {}: initiating", name, a.src.str(), a.dst.str());
        start_session(*c, true, now);
        return;
    }
}

void IkeDaemon::start_rekey(Conn& c, Session& s, Millis now) {
    s.rekey_wanted = false;
    Session::Child* a = s.active();
    if (!a || s.sa->state() != SaState::established) return;
    if (s.sa->busy()) {
        s.rekey_wanted = true;  // at the next tick
        return;
    }
    Output o = s.sa->rekey_child(a->spi_in, now);
    if (o.send.empty()) {  // cannot rekey this one in place: a new IKE SA replaces it
        if (!s.rekey_started) reestablish(c, s, now);
        return;
    }
    s.rekeying = a->spi_in;
    handle(c, s, std::move(o), now);
}

// Make-before-break: a new IKE SA and Child SA; once its Child SA is up the old IKE SA is deleted.
void IkeDaemon::reestablish(Conn& c, Session& s, Millis now) {
    s.rekey_started = true;
    ++counters_.ike_reestablished;
    start_session(c, true, now);
}

void IkeDaemon::start_ike_rekey(Conn& c, Session& s, Millis now) {
    if (s.sa->state() != SaState::established || s.sa->busy()) return;  // at a later tick
    s.ike_rekey_wanted = false;
    Output o = s.sa->rekey_ike(now);
    if (o.send.empty()) return;
    s.ike_rekeying = true;
    log::info("ike {}: rekeying IKE SA {:016x}/{:016x}", c.name, s.sa->spi_i(), s.sa->spi_r());
    handle(c, s, std::move(o), now);
}

// The IKE SA of `s` was rekeyed: its successor (and a collision's redundant
// IKE SA) become sessions; the Child SAs, untouched in the fast path, move to
// the successor; `s` only waits for its Delete exchange.
void IkeDaemon::ike_rekeyed(Conn& c, Session& s, const IkeSaRekeyed& ev, Millis now) {
    ++counters_.ike_rekeys;
    auto session_for = [&](std::unique_ptr<IkeSa> sa) {
        auto n = std::make_unique<Session>();
        n->serial = next_serial_++;
        n->initiator = sa->initiator();
        n->sa = std::move(sa);
        n->local = s.local;
        n->remote = s.remote;
        n->created = n->last_rx = n->last_dpd = n->established = now;
        n->up = ev.up;
        if (s.up) n->up->peer_id = s.up->peer_id;
        n->up->spi_i = n->sa->spi_i();
        n->up->spi_r = n->sa->spi_r();
        return n;
    };
    if (std::unique_ptr<IkeSa> red = s.sa->take_redundant()) {
        auto r = session_for(std::move(red));
        r->closing = true;
        r->closing_since = now;
        log::info("ike {}: IKE SA rekey collision: {:016x}/{:016x} is redundant{}", c.name, r->sa->spi_i(),
                  r->sa->spi_r(), r->initiator ? ", deleting it" : "");
        c.sessions.push_back(std::move(r));
    }
    std::unique_ptr<IkeSa> succ = s.sa->take_successor();
    if (!succ) return;
    auto n = session_for(std::move(succ));
    n->children = std::move(s.children);
    n->delete_children = std::move(s.delete_children);
    n->rekeying = s.rekeying;
    n->rekey_wanted = s.rekey_wanted;
    n->child_rekey_retry_at = s.child_rekey_retry_at;
    s.children.clear();
    s.delete_children.clear();
    s.rekeying.reset();
    s.rekey_wanted = s.ike_rekeying = s.ike_rekey_wanted = false;
    s.child_rekey_retry_at.reset();
    s.ike_rekey_retry_at.reset();
    s.closing = true;
    s.closing_since = now;
    log::info("ike {}: IKE SA {:016x}/{:016x} rekeyed{}: now #{} {:016x}/{:016x}, {}, dh {}", c.name, ev.old_spi_i,
              ev.old_spi_r, ev.we_initiated ? " by us" : " by the peer", n->serial, n->sa->spi_i(), n->sa->spi_r(),
              suite_text(ev.up.suite), ev.up.dh_group);
    c.sessions.push_back(std::move(n));
}

std::optional<std::string> IkeDaemon::rekey(const std::string& name, bool child, Millis now) {
    Conn* c = find_conn(name);
    if (!c) return fmt::format("unknown ike connection {}", name);
    Session* s = nullptr;
    for (auto& x : c->sessions)
        if (!x->done && !x->closing && x->up && x->sa->state() == SaState::established) s = x.get();
    if (!s) return fmt::format("ike connection {} has no established IKE SA", name);
    if (child) {
        Session::Child* a = s->active();
        if (!a) return fmt::format("ike connection {} has no Child SA", name);
        if (s->rekeying) return fmt::format("ike connection {}: a Child SA rekey is already under way", name);
        a->rekey_started = true;
        ++counters_.rekeys;
        log::info("ike {}: child SA spi in {:08x}: rekeying (ike rekey)", c->name, a->spi_in);
        start_rekey(*c, *s, now);
    } else {
        if (s->ike_rekeying) return fmt::format("ike connection {}: an IKE SA rekey is already under way", name);
        s->ike_rekey_started = s->ike_rekey_wanted = true;
        start_ike_rekey(*c, *s, now);
    }
    reap(*c);
    return std::nullopt;
}

void IkeDaemon::on_lifetime(const IpsecLifetimeEvent& e, Millis now) {
    for (auto& [name, c] : conns_)
        for (size_t i = 0; i < c->sessions.size(); ++i) {
            Session& s = *c->sessions[i];
            if (s.done) continue;
            for (auto& ch : s.children) {
                if (ch.in_name != e.sa && ch.out_name != e.sa) continue;
                if (e.hard) {
                    log::info("ike {}: child SA {} reached its hard lifetime", name, e.sa);
                    const uint32_t spi = ch.spi_in;
                    remove_children(*c, s, {spi}, now);
                    s.delete_children.push_back(spi);  // tell the peer when nothing is outstanding
                } else if (ch.outbound_active && !ch.rekey_started) {
                    ch.rekey_started = true;
                    ++counters_.rekeys;
                    log::info("ike {}: child SA {} soft lifetime: rekeying", name, e.sa);
                    start_rekey(*c, s, now);
                }
                reap(*c);
                return;
            }
        }
}


}  // namespace rampart::ike
