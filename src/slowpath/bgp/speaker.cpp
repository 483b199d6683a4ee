#include "slowpath/bgp/speaker.hpp"

#include <unistd.h>

#include <algorithm>
#include <deque>

#include <fmt/format.h>

#include "common/log.hpp"

namespace rampart::bgp {

Millis steady_now() {
    return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now().time_since_epoch());
}

namespace {

std::string uptime_text(Millis d) {
    const auto s = d.count() / 1000;
    if (s >= 86400) return fmt::format("{}d{:02}h{:02}m", s / 86400, (s / 3600) % 24, (s / 60) % 60);
    return fmt::format("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

std::string family_name(AddressFamily f) {
    if (f == kIpv4Unicast) return "IPv4 Unicast";
    if (f == kIpv6Unicast) return "IPv6 Unicast";
    return fmt::format("AFI {} SAFI {}", unsigned(f.afi), unsigned(f.safi));
}


std::string as_path_text(const std::vector<AsPathSegment>& path) {
    std::string out;
    for (const auto& seg : path) {
        const bool set = seg.kind == AsPathSegment::Kind::set || seg.kind == AsPathSegment::Kind::confed_set;
        const bool confed = seg.kind == AsPathSegment::Kind::confed_sequence || seg.kind == AsPathSegment::Kind::confed_set;
        std::string asns;
        for (Asn a : seg.asns) asns += (asns.empty() ? "" : set ? "," : " ") + std::to_string(a);
        if (!out.empty()) out += ' ';
        out += confed ? (set ? "[" + asns + "]" : "(" + asns + ")") : set ? "{" + asns + "}" : asns;
    }
    return out;
}

char origin_code(const PathAttributes& a) {
    if (!a.origin) return '?';
    switch (*a.origin) {
        case Origin::igp: return 'i';
        case Origin::egp: return 'e';
        case Origin::incomplete: return '?';
    }
    return '?';
}

std::string community_text(uint32_t c) { return fmt::format("{}:{}", c >> 16, c & 0xffff); }

// One line of a route table: status, prefix, next hop, MED, local-pref, path.
std::string table_line(const std::string& status, const Prefix& prefix, const PathAttributes& a) {
    return fmt::format("{:<3}{:<24} {:<26} {:>6} {:>6} {}{}{}\n", status, prefix.str(),
                       a.next_hop ? a.next_hop->str() : "0.0.0.0", a.med ? std::to_string(*a.med) : "",
                       a.local_pref ? std::to_string(*a.local_pref) : "", as_path_text(a.as_path),
                       a.as_path.empty() ? "" : " ", origin_code(a));
}

constexpr std::string_view kTableHead =
    "Status codes: * valid, > best, = multipath, S stale; Origin codes: i IGP, e EGP, ? incomplete\n"
    "   Network                  Next Hop                   Metric LocPrf Path\n";

}  // namespace

struct Speaker::Conn {
    std::unique_ptr<Connection> tcp;
    bool write_watched = false;
};

struct Speaker::Peer {
    PeerId id;
    IpAddr address;
    BgpNeighborConfig config;
    PeerFsm fsm;
    std::map<ConnId, Conn> conns;
    std::optional<ConnId> session;
    IpAddr session_local;
    CodecOptions codec;  // of the established session
    bool end_of_rib_pending = false;  // after the first UPDATEs of a new session
    Millis last_change{0};
    Peer(PeerId i, const IpAddr& a, const BgpNeighborConfig& c, SessionSettings s)
        : id(i), address(a), config(c), fsm(std::move(s)) {}
};

Speaker::Speaker(uint16_t listen_port, uint16_t connect_port, Hooks hooks)
    : listen_port_(listen_port), connect_port_(connect_port), hooks_(std::move(hooks)) {}

Speaker::~Speaker() = default;

int Speaker::fd() const { return poller_ ? poller_->fd() : -1; }

Speaker::Peer* Speaker::find(const IpAddr& a) {
    auto it = peers_.find(a);
    return it == peers_.end() ? nullptr : it->second.get();
}

std::optional<State> Speaker::state(const IpAddr& neighbor) const {
    auto it = peers_.find(neighbor);
    if (it == peers_.end()) return std::nullopt;
    return it->second->fsm.state();
}

size_t Speaker::prefixes_received(const IpAddr& neighbor) const {
    auto it = peers_.find(neighbor);
    if (it == peers_.end() || !rib_) return 0;
    return rib_->adj_rib_in_size(it->second->id, kIpv4Unicast, false) +
           rib_->adj_rib_in_size(it->second->id, kIpv6Unicast, false);
}

size_t Speaker::prefixes_accepted(const IpAddr& neighbor) const {
    auto it = peers_.find(neighbor);
    if (it == peers_.end() || !rib_) return 0;
    return rib_->adj_rib_in_size(it->second->id, kIpv4Unicast, true) +
           rib_->adj_rib_in_size(it->second->id, kIpv6Unicast, true);
}

const PeerFsm* Speaker::fsm(const IpAddr& neighbor) const {
    auto it = peers_.find(neighbor);
    return it == peers_.end() ? nullptr : &it->second->fsm;
}

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

SessionSettings Speaker::settings_for(const IpAddr& addr, const BgpNeighborConfig& n) const {
    SessionSettings s;
    s.local_as = config_.asn;
    s.router_id = router_id_;
    s.peer_as = n.remote_as;
    s.passive = n.passive;
    if (n.hold_time) s.hold_time = *n.hold_time;
    s.families.clear();
    if (n.families.empty()) s.families.push_back(addr.is_v4() ? kIpv4Unicast : kIpv6Unicast);
    else s.families.assign(n.families.begin(), n.families.end());
    if (n.add_path_receive || n.add_path_send)
        for (auto f : s.families) s.add_path.push_back({f, n.add_path_receive, n.add_path_send});
    s.graceful_restart = n.graceful_restart;
    s.role = n.role;
    s.strict_role = n.role_strict;
    return s;
}

SocketOptions Speaker::socket_options(const BgpNeighborConfig& n) const {
    SocketOptions o;
    o.md5_key = n.password;
    const bool ebgp = n.remote_as != config_.asn;
    if (n.ttl_security_hops) {
        o.ttl = 255;  // RFC 5082 §3: sent with 255, so that 255 - hops is the lowest a genuine peer's can arrive with
        o.min_ttl = 256 - int(*n.ttl_security_hops);
    } else if (ebgp) {
        o.ttl = n.ebgp_multihop.value_or(1);  // RFC 4271 §5.1.3: directly connected unless configured
    } else {
        o.ttl = 255;
    }
    return o;
}

void Speaker::start_rib() {
    rib_ = std::make_unique<Rib>(config_.asn, router_id_);
    if (hooks_.resolver) rib_->set_resolver(hooks_.resolver);
    rib_->set_policies(policies_.get());
    for (const Prefix& p : config_.networks) rib_->originate(p, PathAttributes{});
}

void Speaker::next_hops_changed() {
    if (!rib_) return;
    rib_->next_hops_changed();
    drain(steady_now());
}

std::string Speaker::configure(const BgpConfig& config, const BgpPolicyConfig& policies, uint32_t fallback_router_id,
                               Millis now) {
    std::string problems;
    if (config.asn == 0 || (!config.router_id && fallback_router_id == 0)) {
        if (config.asn != 0) problems = "bgp: no router-id (configure 'bgp router-id' or an IPv4 interface address)";
        stop(now);
        config_ = config;
        return problems;
    }
    const bool restart_all = config.asn != config_.asn || config.router_id.value_or(fallback_router_id) != router_id_;
    if (restart_all && !peers_.empty()) stop(now);
    const BgpConfig old = config_;
    config_ = config;
    router_id_ = config.router_id.value_or(fallback_router_id);
    // Policies first: the RIB holds a pointer to them (RFC 8212: a name
    // without a policy refuses everything).
    if (!policies_ || policies != policy_config_) {
        auto fresh = std::make_unique<Policies>(policies, validator_);
        if (rib_) rib_->set_policies(fresh.get());
        policies_ = std::move(fresh);
        policy_config_ = policies;
    }
    if (!rib_ || restart_all) {
        start_rib();
    } else {
        for (const Prefix& p : old.networks)
            if (!config.networks.count(p)) rib_->withdraw_originated(p);
        for (const Prefix& p : config.networks)
            if (!old.networks.count(p)) rib_->originate(p, PathAttributes{});
    }
    if (!poller_) {
        try {
            poller_ = std::make_unique<Poller>();
            listener_ = std::make_unique<Listener>(listen_port_);
            for (int fd : listener_->fds()) poller_->watch(fd, false);
            if (!listener_->open_problems().empty()) problems += "bgp: " + listener_->open_problems();
            log::info("bgp: AS {} router-id {}, listening on TCP {}", config_.asn, IpAddr::v4(router_id_).str(),
                      listen_port_);
        } catch (const std::exception& e) {
            listener_.reset();
            poller_.reset();
            return e.what();
        }
    }
    // Neighbours that are gone.
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (config.neighbors.count(it->first)) {
            ++it;
            continue;
        }
        Peer& p = *it->second;
        run(p, p.fsm.stop(now, Notification{error::kCease, error::kPeerDeconfigured, {}, "neighbor deconfigured"}), now);
        for (auto& [id, c] : p.conns) {
            c.tcp->flush();
            by_fd_.erase(c.tcp->fd());
            poller_->forget(c.tcp->fd());
        }
        std::string why;
        if (!p.config.password.empty()) listener_->set_md5(p.address, "", why);
        rib_->peer_down(p.id, false);
        log::info("bgp: neighbor {} removed", p.address.str());
        it = peers_.erase(it);
    }
    // New and changed neighbours.
    for (auto& [addr, n] : config.neighbors) {
        std::string why;
        Peer* p = find(addr);
        if (!p) {
            if (!n.password.empty() && !listener_->set_md5(addr, n.password, why)) problems += "bgp: " + why + "\n";
            auto peer = std::make_unique<Peer>(next_peer_id_++, addr, n, settings_for(addr, n));
            p = peer.get();
            peers_.emplace(addr, std::move(peer));
            log::info("bgp: neighbor {} AS {} added", addr.str(), n.remote_as);
            run(*p, p->fsm.start(now), now);
            continue;
        }
        if (p->config == n) continue;
        const SessionSettings s = settings_for(addr, n);
        const bool sockets_changed = p->config.password != n.password || p->config.local_address != n.local_address ||
                                     p->config.ttl_security_hops != n.ttl_security_hops ||
                                     p->config.ebgp_multihop != n.ebgp_multihop;
        if (p->config.password != n.password && !listener_->set_md5(addr, n.password, why))
            problems += "bgp: " + why + "\n";
        const bool max_prefix_lifted = p->fsm.held_down() && p->config.max_prefix != n.max_prefix;
        const bool rib_changed = p->config.import_policy != n.import_policy ||
                                 p->config.export_policy != n.export_policy ||
                                 p->config.max_prefix != n.max_prefix ||
                                 p->config.route_reflector_client != n.route_reflector_client;
        p->config = n;
        if (s != p->fsm.settings() || sockets_changed) {
            p->fsm.set_settings(s);
            // The OPEN or the sockets change: a new session (RFC 4486 Other Configuration Change).
            run(*p, p->fsm.reset(now, Notification{error::kCease, error::kOtherConfigChange, {}, "configuration changed"}),
                now);
        }
        else if (rib_changed && p->session) rib_->peer_changed(peer_info(*p));  // soft reconfiguration, no reset
        if (max_prefix_lifted) run(*p, p->fsm.start(now), now);
    }
    drain(now);
    return problems;
}

void Speaker::stop(Millis now) {
    for (auto& [addr, p] : peers_) {
        run(*p, p->fsm.stop(now, Notification{error::kCease, error::kAdminShutdown, {}, "shutting down"}), now);
        for (auto& [id, c] : p->conns) c.tcp->flush();
    }
    peers_.clear();
    by_fd_.clear();
    listener_.reset();
    poller_.reset();
    // Everything BGP put into the FIB goes with it.
    if (rib_) {
        drain(now);
        rib_.reset();
    }
}

// ---------------------------------------------------------------------------
// actions
// ---------------------------------------------------------------------------

void Speaker::update_watch(Conn& c) {
    const bool want = c.tcp->wants_write();
    if (want == c.write_watched) return;
    poller_->watch(c.tcp->fd(), want);
    c.write_watched = want;
}

void Speaker::drop(Peer& peer, ConnId id) {
    auto it = peer.conns.find(id);
    if (it == peer.conns.end()) return;
    it->second.tcp->flush();  // a NOTIFICATION queued before the close leaves first
    by_fd_.erase(it->second.tcp->fd());
    poller_->forget(it->second.tcp->fd());
    peer.conns.erase(it);
}

void Speaker::do_connect(Peer& peer, ConnId id, Actions& follow, Millis now) {
    std::string why;
    auto tcp = Connection::connect(peer.address, peer.config.local_address, connect_port_, socket_options(peer.config), why);
    if (!tcp) {
        log::warn("bgp: neighbor {}: cannot connect: {}", peer.address.str(), why);
        auto more = peer.fsm.connect_failed(id, now, why);
        follow.insert(follow.end(), more.begin(), more.end());
        return;
    }
    const int fd = tcp->fd();
    const bool connecting = tcp->connecting();
    by_fd_[fd] = {peer.address, id};
    Conn& c = peer.conns[id];
    c.tcp = std::move(tcp);
    c.write_watched = true;
    poller_->watch(fd, true);
    if (!connecting) {
        auto more = peer.fsm.connected(id, now);
        follow.insert(follow.end(), more.begin(), more.end());
    }
}

void Speaker::send_bytes(Peer& peer, ConnId id, std::span<const uint8_t> bytes, Actions& follow, Millis now) {
    auto it = peer.conns.find(id);
    if (it == peer.conns.end()) return;
    if (!it->second.tcp->send(bytes)) {
        auto more = peer.fsm.closed(id, now, "send: " + it->second.tcp->error());
        follow.insert(follow.end(), more.begin(), more.end());
        return;
    }
    update_watch(it->second);
}

void Speaker::send(Peer& peer, ConnId id, const Message& m, Actions& follow, Millis now) {
    std::vector<uint8_t> bytes;
    if (auto* o = std::get_if<Open>(&m)) bytes = encode(*o);
    else if (auto* n = std::get_if<Notification>(&m)) {
        bytes = encode(*n);
        log::warn("bgp: neighbor {}: sending {}", peer.address.str(), describe(*n));
    } else if (std::holds_alternative<Keepalive>(m)) bytes = encode_keepalive();
    else if (auto* r = std::get_if<RouteRefresh>(&m)) bytes = encode(*r);
    else if (auto* u = std::get_if<Update>(&m)) {
        for (auto& msg : encode(*u, peer.codec)) {
            ++peer.fsm.counters().updates_out;
            send_bytes(peer, id, msg, follow, now);
        }
        return;
    }
    send_bytes(peer, id, bytes, follow, now);
}

void Speaker::run(Peer& peer, Actions actions, Millis now) {
    std::deque<Action> work(std::make_move_iterator(actions.begin()), std::make_move_iterator(actions.end()));
    while (!work.empty()) {
        Action a = std::move(work.front());
        work.pop_front();
        Actions follow;
        if (auto* c = std::get_if<Connect>(&a)) {
            do_connect(peer, c->conn, follow, now);
        } else if (auto* s = std::get_if<Send>(&a)) {
            send(peer, s->conn, s->message, follow, now);
        } else if (auto* c = std::get_if<Close>(&a)) {
            drop(peer, c->conn);
        } else if (auto* up = std::get_if<SessionUp>(&a)) {
            on_session_up(peer, *up, follow, now);
        } else if (auto* down = std::get_if<SessionDown>(&a)) {
            log::warn("bgp: neighbor {} down: {}{}", peer.address.str(), down->reason,
                      down->keep_stale ? " (graceful restart: its routes kept as stale)" : "");
            peer.session.reset();
            peer.codec = CodecOptions{};
            peer.last_change = now;
            peer.end_of_rib_pending = false;
            rib_->peer_down(peer.id, down->keep_stale);
        } else if (std::holds_alternative<StaleExpired>(a)) {
            log::info("bgp: neighbor {}: stale routes of its restart dropped", peer.address.str());
            rib_->stale_timeout(peer.id);
        } else if (auto* u = std::get_if<UpdateReceived>(&a)) {
            on_update(peer, u->update, follow, now);
        } else if (auto* r = std::get_if<RefreshRequested>(&a)) {
            // RFC 2918 / RFC 7313: a request is answered with the whole
            // Adj-RIB-Out of that family; the peer's BoRR/EoRR markers need
            // nothing here (its stale handling is the RIB's apply).
            if (r->refresh.subtype == RouteRefresh::Subtype::request) rib_->resend(peer.id, r->refresh.family);
        }
        for (auto& f : follow) work.push_back(std::move(f));
    }
}

PeerInfo Speaker::peer_info(const Peer& peer) const {
    PeerInfo info;
    info.id = peer.id;
    info.address = peer.address;
    info.local_address = peer.session_local;
    info.peer_as = peer.config.remote_as;
    info.local_as = config_.asn;
    info.route_reflector_client = peer.config.route_reflector_client;
    info.local_role = peer.config.role;
    info.import_policy = peer.config.import_policy;
    info.export_policy = peer.config.export_policy;
    info.max_prefixes = peer.config.max_prefix;
    if (hooks_.sav_interface) info.sav_interface = hooks_.sav_interface(peer.address);
    if (const auto& n = peer.fsm.negotiated()) {
        info.peer_bgp_id = n->peer_id;
        info.families = n->families;
        info.codec = n->codec;
    }
    return info;
}

void Speaker::on_session_up(Peer& peer, const SessionUp& up, Actions&, Millis now) {
    peer.session = up.conn;
    peer.codec = up.negotiated.codec;
    peer.last_change = now;
    if (auto it = peer.conns.find(up.conn); it != peer.conns.end()) peer.session_local = it->second.tcp->local_address();
    std::string families;
    for (auto f : up.negotiated.families) families += (families.empty() ? "" : ", ") + family_name(f);
    log::info("bgp: neighbor {} AS {} established ({}; hold time {} s)", peer.address.str(), up.negotiated.peer_as,
              families, up.negotiated.hold_time);
    // The RIB queues our whole Adj-RIB-Out for it; drain() sends it, then End-of-RIB.
    rib_->peer_up(peer_info(peer));
    peer.end_of_rib_pending = true;
}

// After a batch of input: what the RIB has for the FIB, for SAV and for each
// peer. Many prefixes per UPDATE (the RIB packs them); End-of-RIB once a new
// session has had everything (RFC 4724 §2: a restarting peer waits for it).
void Speaker::drain(Millis now) {
    if (!rib_) return;
    if (hooks_.data_plane) {
        hooks_.data_plane(*rib_);
    } else {
        if (auto fib = rib_->take_fib_changes(); !fib.empty() && hooks_.fib) hooks_.fib(fib);
        if (auto sav = rib_->take_sav_changes(); !sav.empty() && hooks_.sav) hooks_.sav(sav);
    }
    for (auto& [addr, p] : peers_) {
        if (!p->session) continue;
        Actions follow;
        const std::vector<AddressFamily>& families = p->fsm.negotiated()->families;
        for (Update& u : rib_->take_updates(p->id)) {
            // RFC 4760 §7: only the families both sides announced.
            std::erase_if(u.families, [&](const Update::FamilyRoutes& fr) {
                return std::find(families.begin(), families.end(), fr.family) == families.end();
            });
            if (u.families.empty() && !u.end_of_rib) continue;
            send(*p, *p->session, u, follow, now);
        }
        if (p->end_of_rib_pending && p->session) {
            p->end_of_rib_pending = false;
            for (AddressFamily family : families) {
                Update eor;
                eor.end_of_rib = family;
                send(*p, *p->session, eor, follow, now);
            }
        }
        if (!follow.empty()) run(*p, std::move(follow), now);
    }
}

void Speaker::on_update(Peer& peer, const Update& update, Actions& follow, Millis now) {
    if (!update.error.empty())
        log::warn("bgp: neighbor {}: UPDATE handled per RFC 7606: {}", peer.address.str(), update.error);
    const ApplyResult result = rib_->apply(peer.id, update);
    if (result.reset) {
        // Max-prefix (RFC 4486): closed, and kept down until `clear bgp` or a new limit.
        log::warn("bgp: neighbor {} sent more than its max-prefix {}: session closed until 'clear bgp {}'",
                  peer.address.str(), peer.config.max_prefix.value_or(0), peer.address.str());
        auto more = peer.fsm.reset(now, *result.reset, true);
        follow.insert(follow.end(), more.begin(), more.end());
    }
}

// ---------------------------------------------------------------------------
// sockets
// ---------------------------------------------------------------------------

void Speaker::accept(int listen_fd, Millis now) {
    for (auto& in : listener_->accept(listen_fd)) {
        Peer* p = find(in.remote);
        if (!p) {
            ++counters_.refused_unknown;
            log::warn("bgp: connection from {} refused: not a neighbor", in.remote.str());
            close(in.fd);
            continue;
        }
        if (p->config.local_address && *p->config.local_address != in.local) {
            ++counters_.refused_local;
            close(in.fd);
            continue;
        }
        Actions actions;
        auto id = p->fsm.accepted(now, actions);
        if (!id) {
            ++counters_.refused_busy;
            close(in.fd);
            run(*p, std::move(actions), now);
            continue;
        }
        std::string why;
        auto tcp = Connection::adopt(in.fd, in.remote, socket_options(p->config), why);
        if (!tcp) {
            close(in.fd);
            log::warn("bgp: neighbor {}: {}", p->address.str(), why);
            actions.push_back(Close{*id});
            run(*p, std::move(actions), now);
            run(*p, p->fsm.closed(*id, now, why), now);
            continue;
        }
        by_fd_[tcp->fd()] = {p->address, *id};
        Conn& c = p->conns[*id];
        c.tcp = std::move(tcp);
        poller_->watch(c.tcp->fd(), false);
        run(*p, std::move(actions), now);
    }
}

void Speaker::service(Peer& peer, ConnId id, bool readable, bool writable, Millis now) {
    auto it = peer.conns.find(id);
    if (it == peer.conns.end()) return;
    Connection& tcp = *it->second.tcp;
    if (tcp.connecting()) {
        if (!writable) return;
        if (auto err = tcp.finish_connect()) {
            drop(peer, id);
            run(peer, peer.fsm.connect_failed(id, now, "connect: " + *err), now);
            return;
        }
        run(peer, peer.fsm.connected(id, now), now);
        if (auto again = peer.conns.find(id); again != peer.conns.end()) update_watch(again->second);
        return;
    }
    if (writable && !tcp.flush()) {
        run(peer, peer.fsm.closed(id, now, "send: " + tcp.error()), now);
        return;
    }
    if (!readable) {
        update_watch(it->second);
        return;
    }
    const bool open = tcp.read();
    const std::string error = tcp.error();
    // Every whole message that arrived, in order; the codec options follow the
    // session (the first UPDATE may come right behind the KEEPALIVE).
    for (;;) {
        auto cur = peer.conns.find(id);
        if (cur == peer.conns.end()) return;  // closed by what a message did
        const CodecOptions options = peer.session == id ? peer.codec : CodecOptions{};
        auto next = cur->second.tcp->next_message(options);
        if (std::holds_alternative<std::monostate>(next)) break;
        if (auto* n = std::get_if<Notification>(&next)) {
            run(peer, peer.fsm.decode_error(id, *n, now), now);
            return;
        }
        auto decoded = decode(std::get<std::span<const uint8_t>>(next), options);
        if (auto* n = std::get_if<Notification>(&decoded)) {
            run(peer, peer.fsm.decode_error(id, *n, now), now);
            return;
        }
        run(peer, peer.fsm.receive(id, std::move(std::get<Message>(decoded)), now), now);
    }
    if (!open) {
        run(peer, peer.fsm.closed(id, now, error), now);
        return;
    }
    if (auto cur = peer.conns.find(id); cur != peer.conns.end()) update_watch(cur->second);
}

void Speaker::on_readable(Millis now) {
    if (!poller_) return;
    for (auto& r : poller_->ready()) {
        if (listener_) {
            auto fds = listener_->fds();
            if (std::find(fds.begin(), fds.end(), r.fd) != fds.end()) {
                accept(r.fd, now);
                continue;
            }
        }
        auto owner = by_fd_.find(r.fd);
        if (owner == by_fd_.end()) continue;
        const auto [addr, id] = owner->second;
        if (Peer* p = find(addr)) service(*p, id, r.readable, r.writable, now);
    }
    drain(now);
}

void Speaker::set_validator(const rpki::Validator* validator) {
    validator_ = validator;
    validator_generation_ = validator ? validator->generation() : 0;
    if (policies_) {
        auto fresh = std::make_unique<Policies>(policy_config_, validator_);
        if (rib_) rib_->set_policies(fresh.get());
        policies_ = std::move(fresh);
    }
}

void Speaker::tick(Millis now) {
    if (validator_ && validator_->generation() != validator_generation_) {
        validator_generation_ = validator_->generation();
        if (rib_) rib_->revalidate();  // origin validity / ASPA changed: policies that match on them re-run
    }
    for (auto& [addr, p] : peers_) run(*p, p->fsm.tick(now), now);
    drain(now);
}

// ---------------------------------------------------------------------------
// exec
// ---------------------------------------------------------------------------

std::optional<std::string> Speaker::clear(const IpAddr& neighbor, Soft soft, Millis now) {
    Peer* p = find(neighbor);
    if (!p) return fmt::format("no bgp neighbor {}", neighbor.str());
    if (soft == Soft::none) {
        // Also lifts a max-prefix hold-down.
        run(*p, p->fsm.reset(now, Notification{error::kCease, error::kAdminReset, {}, "clear bgp"}), now);
        run(*p, p->fsm.start(now), now);
        drain(now);
        return std::nullopt;
    }
    if (!p->session) return fmt::format("bgp neighbor {} is not established", neighbor.str());
    const Negotiated& n = *p->fsm.negotiated();
    Actions follow;
    if (soft == Soft::out) {
        for (auto f : n.families) rib_->resend(p->id, f);
    } else {
        // The Adj-RIB-In is kept before policy: import runs again over it at
        // once; a ROUTE-REFRESH also asks the peer for a fresh copy.
        rib_->soft_in(p->id);
        if (n.route_refresh)
            for (auto f : n.families) {
                follow.push_back(Send{*p->session, RouteRefresh{f, RouteRefresh::Subtype::request}});
                ++p->fsm.counters().refreshes_out;
            }
    }
    run(*p, std::move(follow), now);
    drain(now);
    return std::nullopt;
}

std::string Speaker::show_table(AddressFamily family, const std::optional<Prefix>& prefix) const {
    if (!rib_) return "bgp is not running\n";
    std::string out;
    if (!prefix) {
        out = fmt::format("BGP table of {}: local router ID {}, local AS {}, {} prefixes\n", family_name(family),
                          IpAddr::v4(router_id_).str(), config_.asn, rib_->loc_rib_size(family));
        out += kTableHead;
        rib_->for_each_best(family, [&](const Prefix& p, const Rib::PathView& v) {
            out += table_line(std::string(v.stale ? "S" : "*") + ">", p, v.attributes);
        });
        return out;
    }
    const auto paths = rib_->paths(prefix->network());
    if (paths.empty()) return fmt::format("% {} is not in the BGP table\n", prefix->network().str());
    size_t best = 0;
    for (size_t i = 0; i < paths.size(); ++i)
        if (paths[i].best) best = i + 1;
    out = fmt::format("BGP routing table entry for {}\nPaths: ({} available{})\n", prefix->network().str(), paths.size(),
                      best ? fmt::format(", best #{}", best) : ", no best path");
    for (const auto& v : paths) {
        const PathAttributes& a = v.accepted ? v.attributes : v.received;
        out += fmt::format("  {}\n", a.as_path.empty() ? "Local" : as_path_text(a.as_path));
        std::string flags;
        if (v.accepted) flags += ", valid";
        else flags += ", refused by import policy or loop check";
        if (!v.reachable && !v.local) flags += ", next hop unreachable";
        if (v.stale) flags += ", stale (graceful restart)";
        if (v.multipath) flags += ", multipath";
        if (v.best) flags += ", best";
        const std::string from =
            v.local ? "originated here" : fmt::format("from {}{}", v.peer_address.str(),
                                                      v.path_id ? fmt::format(" path id {}", v.path_id) : "");
        out += fmt::format("    {} {}, origin {}{}{}{}\n", a.next_hop ? a.next_hop->str() : "0.0.0.0", from,
                           a.origin == Origin::igp ? "IGP" : a.origin == Origin::egp ? "EGP" : "incomplete",
                           a.med ? fmt::format(", metric {}", *a.med) : "",
                           a.local_pref ? fmt::format(", localpref {}", *a.local_pref) : "", flags);
        if (!a.communities.empty()) {
            std::string c;
            for (uint32_t x : a.communities) c += " " + community_text(x);
            out += "      Communities:" + c + "\n";
        }
        if (!a.large_communities.empty()) {
            std::string c;
            for (const auto& l : a.large_communities) c += fmt::format(" {}:{}:{}", l.global, l.local1, l.local2);
            out += "      Large communities:" + c + "\n";
        }
        if (a.otc) out += fmt::format("      Only to customer: AS {}\n", *a.otc);
        if (validator_ && !v.local)  // RFC 6811 origin validation of the path as received
            out += fmt::format("      RPKI origin validation: {}\n",
                               rpki::origin_validity_name(validator_->origin_validity(prefix->network(), v.received.origin_as())));
        if (!v.best && !v.why_not_best.empty()) out += fmt::format("      Not best: {}\n", v.why_not_best);
    }
    return out;
}

std::string Speaker::show_neighbor_routes(const IpAddr& neighbor, bool advertised) const {
    auto it = peers_.find(neighbor);
    if (it == peers_.end() || !rib_) return fmt::format("% no bgp neighbor {}\n", neighbor.str());
    const Peer& p = *it->second;
    std::string out;
    for (AddressFamily family : {kIpv4Unicast, kIpv6Unicast}) {
        std::string rows;
        size_t n = 0;
        if (advertised) {
            rib_->for_each_advertised(p.id, family, [&](const Prefix& prefix, const PathAttributes& a) {
                rows += table_line("*>", prefix, a);
                ++n;
            });
        } else {
            rib_->for_each_received(p.id, family, [&](const Prefix& prefix, const Rib::PathView& v) {
                rows += table_line(v.accepted ? (v.stale ? "S" : "*") : "x", prefix, v.received);
                ++n;
            });
        }
        if (!n) continue;
        out += fmt::format("{} {} {}: {} prefixes{}\n", family_name(family), advertised ? "sent to" : "received from",
                           neighbor.str(), n, advertised ? "" : " (x: refused by import policy)");
        out += std::string(kTableHead) + rows;
    }
    if (out.empty()) out = fmt::format("no routes {} {}\n", advertised ? "sent to" : "received from", neighbor.str());
    return out;
}

std::string Speaker::show_summary(Millis now) const {
    if (!running()) return "bgp is not running\n";
    size_t established = 0;
    for (auto& [a, p] : peers_) established += p->fsm.established();
    std::string out = fmt::format("BGP router identifier {}, local AS number {}\nNeighbors: {}, established: {}\n\n",
                                  IpAddr::v4(router_id_).str(), config_.asn, peers_.size(), established);
    // The best paths, what the FIB and our neighbours get (scripts/bgp-bench polls this line).
    if (rib_)
        out = out.substr(0, out.size() - 1) + fmt::format("Loc-RIB: {} IPv4 Unicast, {} IPv6 Unicast destinations\n\n",
                                                          rib_->loc_rib_size(kIpv4Unicast), rib_->loc_rib_size(kIpv6Unicast));
    out += fmt::format("{:<39} {:>1} {:>10} {:>9} {:>9} {:>10} {}\n", "Neighbor", "V", "AS", "MsgRcvd", "MsgSent",
                       "Up/Down", "State/PfxRcd");
    for (auto& [addr, p] : peers_) {
        const auto& k = p->fsm.counters();
        const uint64_t in = k.opens_in + k.updates_in + k.keepalives_in + k.notifications_in + k.refreshes_in;
        const uint64_t out_n = k.opens_out + k.updates_out + k.keepalives_out + k.notifications_out + k.refreshes_out;
        std::string state;
        if (p->fsm.established()) state = std::to_string(prefixes_accepted(addr));
        else if (p->fsm.held_down()) state = "Idle (PfxCt)";
        else state = std::string(state_name(p->fsm.state()));
        const std::string updown = p->last_change.count() ? uptime_text(now - p->last_change) : "never";
        out += fmt::format("{:<39} {:>1} {:>10} {:>9} {:>9} {:>10} {}\n", addr.str(), 4, p->config.remote_as, in, out_n,
                           updown, state);
    }
    return out;
}

std::string Speaker::show_neighbors(const std::optional<IpAddr>& only, Millis now) const {
    if (!running()) return "bgp is not running\n";
    std::string out;
    for (auto& [addr, p] : peers_) {
        if (only && *only != addr) continue;
        const PeerFsm& f = p->fsm;
        const bool ebgp = p->config.remote_as != config_.asn;
        out += fmt::format("BGP neighbor is {}, remote AS {}, local AS {}, {} link\n", addr.str(), p->config.remote_as,
                           config_.asn, ebgp ? "external" : "internal");
        out += fmt::format("  BGP state = {}", state_name(f.state()));
        if (f.established()) out += fmt::format(", up for {}", uptime_text(now - f.established_since()));
        if (f.held_down()) out += " (held down: max-prefix; 'clear bgp' restarts it)";
        out += "\n";
        if (const auto& n = f.negotiated()) {
            out += fmt::format("  Local address {}, remote router ID {}\n", p->session_local.str(),
                               IpAddr::v4(n->peer_id).str());
            out += fmt::format("  Hold time is {} s, keepalive interval is {} s (configured hold time {} s)\n",
                               n->hold_time, n->keepalive_time, f.settings().hold_time);
            out += "  Neighbor capabilities:\n";
            out += fmt::format("    4 Byte AS: {}\n", n->codec.four_octet_as ? "advertised and received" : "advertised");
            for (auto fam : n->families) out += fmt::format("    Address family {}: advertised and received\n", family_name(fam));
            for (auto fam : n->codec.add_path_receive) out += fmt::format("    ADD-PATH receive: {}\n", family_name(fam));
            for (auto fam : n->codec.add_path_send) out += fmt::format("    ADD-PATH send: {}\n", family_name(fam));
            out += fmt::format("    Route refresh: {}{}\n", n->route_refresh ? "received" : "not received",
                               n->enhanced_route_refresh ? " (enhanced)" : "");
            out += fmt::format("    Extended message: {}\n", n->codec.extended_message ? "negotiated" : "not negotiated");
            if (n->peer_graceful_restart)
                out += fmt::format("    Graceful restart: the peer's restart time {} s, {} families preserved\n",
                                   n->peer_graceful_restart->restart_time, n->peer_graceful_restart->families.size());
            if (f.settings().role || n->peer_role)
                out += fmt::format("    Role: ours {}, the peer's {}\n",
                                   f.settings().role ? role_name(*f.settings().role) : "none",
                                   n->peer_role ? role_name(*n->peer_role) : "none");
        } else {
            out += fmt::format("  Configured hold time {} s{}\n", f.settings().hold_time,
                               f.settings().passive ? ", passive" : "");
        }
        const SocketOptions so = socket_options(p->config);
        out += fmt::format("  TCP: MD5 {}, TTL {}{}\n", p->config.password.empty() ? "off" : "on", so.ttl,
                           so.min_ttl ? fmt::format(", GTSM minimum TTL {}", *so.min_ttl) : "");
        if (rib_)
            for (AddressFamily fam : {kIpv4Unicast, kIpv6Unicast}) {
                const size_t received = rib_->adj_rib_in_size(p->id, fam, false);
                if (received || (f.negotiated() && std::count(f.negotiated()->families.begin(),
                                                              f.negotiated()->families.end(), fam)))
                    out += fmt::format("  {}: {} prefixes received, {} accepted\n", family_name(fam), received,
                                       rib_->adj_rib_in_size(p->id, fam, true));
            }
        if (p->config.max_prefix) out += fmt::format("  Maximum prefixes allowed {}\n", *p->config.max_prefix);
        const auto& k = f.counters();
        out += "  Message statistics:\n                  Sent       Rcvd\n";
        out += fmt::format("    Opens:     {:>9}  {:>9}\n", k.opens_out, k.opens_in);
        out += fmt::format("    Notifications: {:>5}  {:>9}\n", k.notifications_out, k.notifications_in);
        out += fmt::format("    Updates:   {:>9}  {:>9}\n", k.updates_out, k.updates_in);
        out += fmt::format("    Keepalives:{:>9}  {:>9}\n", k.keepalives_out, k.keepalives_in);
        out += fmt::format("    Route Refresh:{:>6}  {:>9}\n", k.refreshes_out, k.refreshes_in);
        out += fmt::format("  Connections established {}; dropped {}\n", k.established_transitions,
                           k.established_transitions - (f.established() ? 1 : 0));
        if (!f.last_error().empty()) out += fmt::format("  Last reset: {}\n", f.last_error());
        if (const auto& n = f.last_notification_sent()) out += fmt::format("  Last notification sent: {}\n", describe(*n));
        if (const auto& n = f.last_notification_received())
            out += fmt::format("  Last notification received: {}\n", describe(*n));
        if (!f.established() && f.idle_hold().count() && !f.held_down())
            out += fmt::format("  Idle hold time {} s after {} flaps\n", f.idle_hold().count() / 1000, f.flaps());
        out += "\n";
    }
    if (only && out.empty()) return fmt::format("% no bgp neighbor {}\n", only->str());
    out += fmt::format("Connections refused: {} from unknown addresses, {} while busy or idle, {} to another local address\n",
                       counters_.refused_unknown, counters_.refused_busy, counters_.refused_local);
    return out;
}

}  // namespace rampart::bgp
