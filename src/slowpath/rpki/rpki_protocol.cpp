// RPKI as a protocol of the control core (slowpath/protocol.hpp): one RTR
// session (rtr_session.hpp) per configured cache over nonblocking TCP
// (rtr_transport.hpp), all behind one epoll descriptor in the control loop.
// Every cache is kept connected; the view uses the most preferred cache that
// has data (RFC 8210 §10: lower preference first, then configuration order),
// so losing it falls back to the next at once, and a cache that goes away
// keeps its data until its expire interval. When the view changes it goes to
// the control core's RPKI table (BGP policy reads it) and to the SAV compiler
// (Control::rpki_rtr_update). It also answers the `show rpki ...` commands.
#include <chrono>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "common/log.hpp"
#include "slowpath/config/rpki.hpp"
#include "slowpath/control.hpp"
#include "slowpath/protocol.hpp"
#include "slowpath/rpki/rtr_session.hpp"
#include "slowpath/rpki/rtr_transport.hpp"

namespace rampart::rpki {
namespace {

using rtr::Millis;

Millis rtr_now() {
    return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now().time_since_epoch());
}

// A failed connection is retried at most this late, whatever the cache's
// retry interval (600 s by default): the view falls back to another cache
// meanwhile, but a single cache should come back soon.
constexpr Millis kMaxBackoff{30000};

struct Cache {
    RpkiCacheConfig config;
    rtr::Session session;
    rtr::TcpConnection conn;
    rtr::Backoff backoff;
    Millis next_attempt{0};
    std::string event;  // the last connection event, for show
    uint64_t connects = 0;

    Cache(const RpkiCacheConfig& c, const rtr::SessionSettings& s) : config(c), session(s) {}
    std::string name() const {
        return config.address.is_v4() ? fmt::format("{}:{}", config.address.str(), config.port)
                                       : fmt::format("[{}]:{}", config.address.str(), config.port);
    }
};

std::string age(Millis now, Millis then) {
    return fmt::format("{} s", std::chrono::duration_cast<std::chrono::seconds>(now - then).count());
}

const char* origin_name(OriginValidity v) {
    switch (v) {
        case OriginValidity::valid: return "valid";
        case OriginValidity::invalid: return "invalid";
        case OriginValidity::not_found: return "not-found";
    }
    return "?";
}

class RpkiProtocol final : public Protocol {
public:
    explicit RpkiProtocol(Control& control) : control_(control) {}

    void reconfigure(const RunningConfig& config) override {
        const RpkiConfig& r = config.rpki;
        rtr::SessionSettings settings;
        settings.refresh = r.refresh;
        settings.retry = r.retry;
        settings.expire = r.expire;
        const bool settings_changed =
            settings.refresh != settings_.refresh || settings.retry != settings_.retry || settings.expire != settings_.expire;
        settings_ = settings;
        std::vector<std::unique_ptr<Cache>> next;
        for (const RpkiCacheConfig& c : r.caches) {
            auto it = std::find_if(caches_.begin(), caches_.end(), [&](const std::unique_ptr<Cache>& x) {
                return x && x->config.address == c.address && x->config.port == c.port;
            });
            if (it != caches_.end() && !settings_changed) {
                (*it)->config = c;  // a new preference only
                next.push_back(std::move(*it));
            } else {
                next.push_back(std::make_unique<Cache>(c, settings_));  // new, or new timers: start over
                published_ = false;
            }
        }
        for (auto& c : caches_)
            if (c) {
                close(*c, "removed from the configuration");
                published_ = false;
            }
        caches_ = std::move(next);
        if (!caches_.empty() && !poller_) poller_ = std::make_unique<rtr::Poller>();
        publish_view();
    }

    void stop() override {
        for (auto& c : caches_) close(*c, "stopped");
    }

    std::vector<int> fds() const override { return poller_ ? std::vector<int>{poller_->fd()} : std::vector<int>{}; }

    void on_readable(int) override {
        if (!poller_) return;
        const Millis now = rtr_now();
        for (const auto& ready : poller_->ready()) {
            Cache* c = by_fd(ready.fd);
            if (!c) {
                poller_->unwatch(ready.fd);
                continue;
            }
            if (c->conn.status() == rtr::TcpConnection::Status::connecting) {
                if (!ready.writable && !ready.error) continue;
                if (auto err = c->conn.finish_connect()) {
                    failed(*c, *err, now);
                    continue;
                }
                ++c->connects;
                c->event = "connected";
                log::info("rpki: cache {} connected", c->name());
                apply(*c, c->session.connected(now), now);
                continue;
            }
            if (ready.readable || ready.error) {
                std::vector<uint8_t> bytes;
                std::string err;
                const bool open = c->conn.read(bytes, err);
                if (!bytes.empty()) apply(*c, c->session.received(bytes, now), now);
                if (!open && c->conn.status() == rtr::TcpConnection::Status::connected) failed(*c, err, now);
            }
            if (ready.writable && c->conn.status() == rtr::TcpConnection::Status::connected) {
                std::string err;
                if (!c->conn.flush(err)) failed(*c, err, now);
                else watch(*c);
            }
        }
    }

    void tick(uint64_t) override {
        if (caches_.empty()) return;
        const Millis now = rtr_now();
        for (auto& cp : caches_) {
            Cache& c = *cp;
            if (c.conn.status() == rtr::TcpConnection::Status::closed && now >= c.next_attempt) {
                if (auto err = c.conn.connect(c.config.address, c.config.port)) failed(c, *err, now);
                else watch(c);
            }
            apply(c, c.session.tick(now), now);
        }
    }

    CommandResult exec(const cmd::Parsed& c) override {
        using config::RpkiExec;
        switch (RpkiExec(c.tag())) {
            case RpkiExec::ShowCache: return {true, show_caches()};
            case RpkiExec::ShowRoa: return {true, show_roas(c.has_arg("prefix") ? std::optional(c.prefix("prefix"))
                                                                                 : std::nullopt)};
            case RpkiExec::ShowAspa: return {true, show_aspas()};
            case RpkiExec::ShowValidity: return {true, show_validity(c.prefix("prefix"), c.number("asn"))};
        }
        return {false, "% not an rpki command\n"};
    }

private:
    Cache* by_fd(int fd) {
        for (auto& c : caches_)
            if (c->conn.fd() == fd) return c.get();
        return nullptr;
    }

    void watch(Cache& c) {
        if (c.conn.fd() >= 0) poller_->watch(c.conn.fd(), c.conn.wants_write());
    }

    void close(Cache& c, const std::string& why) {
        if (c.conn.status() != rtr::TcpConnection::Status::closed) {
            log::info("rpki: cache {}: {}", c.name(), why);
            c.conn.close();  // leaves the epoll set with the descriptor
        }
        c.session.disconnected();
    }

    void failed(Cache& c, const std::string& why, Millis now) {
        const bool was_up = c.conn.status() == rtr::TcpConnection::Status::connected;
        close(c, why);
        const Millis delay = c.backoff.next(std::min(c.session.retry_interval(), kMaxBackoff));
        c.next_attempt = now + delay;
        c.event = fmt::format("{} ({}), retry in {} s", why, was_up ? "was connected" : "connecting",
                              std::chrono::duration_cast<std::chrono::seconds>(delay).count());
        if (!was_up) log::info("rpki: cache {}: {}", c.name(), c.event);
    }

    void apply(Cache& c, rtr::Session::Output out, Millis now) {
        for (auto& line : out.log) log::info("rpki: cache {}: {}", c.name(), line);
        std::string err;
        bool ok = true;
        for (auto& pdu : out.send)
            if (ok && c.conn.status() == rtr::TcpConnection::Status::connected) ok = c.conn.send(pdu, err);
        if (out.close || !ok) {
            const std::string why = !ok ? err : out.reconnect_now ? "protocol version downgrade" : "session closed";
            close(c, why);
            if (out.reconnect_now) {
                c.next_attempt = now;
                c.event = why;
            } else {
                failed(c, why, now);
            }
        } else if (c.conn.status() == rtr::TcpConnection::Status::connected) {
            if (c.session.state() == rtr::Session::State::synchronized) c.backoff.reset();
            watch(c);
        }
        if (out.data_changed) publish_view();
    }

    // The most preferred cache with data; its data becomes the RTR part of
    // the view when that is not already what the view holds.
    void publish_view() {
        const Cache* best = nullptr;
        for (auto& c : caches_)
            if (c->session.has_data() && (!best || c->config.preference < best->config.preference)) best = c.get();
        // Nothing new: the same cache at the same update (a reconfiguration
        // must not copy half a million VRPs for nothing).
        const uint64_t updates = best ? best->session.updates() : 0;
        if (published_ && best == in_use_ && updates == in_use_updates_) return;
        published_ = true;
        in_use_updates_ = updates;
        std::vector<Vrp> vrps;
        AspaMap aspas;
        if (best) {
            const rtr::CacheData& d = best->session.data();
            vrps.assign(d.vrps.begin(), d.vrps.end());
            for (auto& [key, providers] : d.aspas) {  // both families' ASPAs of a customer, united
                auto& p = aspas[key.customer];
                p.insert(p.end(), providers.begin(), providers.end());
            }
        }
        in_use_ = best;
        const std::string warnings = control_.rpki_rtr_update(std::move(vrps), std::move(aspas));
        (void)warnings;  // logged by the control core
    }

    std::string show_caches() const {
        if (caches_.empty()) return "no rpki caches configured\n";
        const Millis now = rtr_now();
        std::string out;
        for (auto& cp : caches_) {
            const Cache& c = *cp;
            const rtr::Session& s = c.session;
            const char* conn = c.conn.status() == rtr::TcpConnection::Status::connected    ? "connected"
                               : c.conn.status() == rtr::TcpConnection::Status::connecting ? "connecting"
                                                                                            : "not connected";
            out += fmt::format("cache {} preference {}{}\n", c.name(), c.config.preference,
                               &c == in_use_ ? " (in use)" : "");
            out += fmt::format("  {}, {}, protocol version {}, {} connection{}\n", conn, rtr::state_name(s.state()),
                               s.version(), c.connects, c.connects == 1 ? "" : "s");
            if (s.session_id()) out += fmt::format("  session {}, serial {}\n", *s.session_id(), s.serial());
            out += fmt::format("  {} VRPs, {} ASPAs, {} router keys{}\n", s.data().vrps.size(), s.data().aspas.size(),
                               s.data().router_keys.size(), s.has_data() ? "" : " (no data)");
            const rtr::Intervals i = s.intervals();
            out += fmt::format("  refresh {} s, retry {} s, expire {} s\n", i.refresh, i.retry, i.expire);
            if (s.last_update()) out += fmt::format("  last update {} ago ({} updates)\n", age(now, *s.last_update()), s.updates());
            if (auto e = s.expires_at()) out += fmt::format("  data expires in {}\n", age(*e, now));
            out += fmt::format("  {} PDUs received, {} errors sent, {} errors received\n", s.pdus_received(),
                               s.errors_sent(), s.errors_received());
            if (!c.event.empty()) out += fmt::format("  last event: {}\n", c.event);
            if (!s.last_error().empty()) out += fmt::format("  last error: {}\n", s.last_error());
        }
        return out;
    }

    std::string show_roas(const std::optional<Prefix>& prefix) const {
        const RpkiTable& t = control_.rpki();
        const std::vector<Vrp> vrps = prefix ? t.covering(*prefix) : t.vrps();
        std::string out = fmt::format("{} VRPs ({} from RTR, {} from JSON){}\n", t.vrp_count(),
                                      t.vrp_count(Source::rtr), t.vrp_count(Source::json),
                                      prefix ? fmt::format(", {} covering {}", vrps.size(), prefix->network().str()) : "");
        out += fmt::format("{:<44} {:>6} {:>12}\n", "Prefix", "MaxLen", "Origin AS");
        for (const Vrp& v : vrps) out += fmt::format("{:<44} {:>6} {:>12}\n", v.prefix.str(), v.max_length, v.asn);
        return out;
    }

    std::string show_aspas() const {
        const RpkiTable& t = control_.rpki();
        std::string out = fmt::format("{} ASPAs ({} from RTR, {} from JSON)\n", t.aspas().size(),
                                      t.aspa_count(Source::rtr), t.aspa_count(Source::json));
        for (auto& [customer, providers] : t.aspas()) {
            out += fmt::format("AS{} providers", customer);
            for (Asn p : providers) out += fmt::format(" AS{}", p);
            out += "\n";
        }
        return out;
    }

    std::string show_validity(const Prefix& prefix, Asn origin) const {
        const RpkiTable& t = control_.rpki();
        const Prefix p = prefix.network();
        std::string out = fmt::format("{} origin AS{}: {}\n", p.str(), origin,
                                      origin_name(t.origin_validity(p, origin)));
        for (const Vrp& v : t.covering(p)) {
            const bool matches = v.asn != 0 && v.asn == origin && p.len <= v.max_length;
            out += fmt::format("  VRP {} max {} AS{}{}\n", v.prefix.str(), v.max_length, v.asn,
                               matches ? " (matches)" : "");
        }
        return out;
    }

    Control& control_;
    rtr::SessionSettings settings_;
    std::vector<std::unique_ptr<Cache>> caches_;
    std::unique_ptr<rtr::Poller> poller_;
    const Cache* in_use_ = nullptr;
    uint64_t in_use_updates_ = 0;
    bool published_ = false;
};

std::string summary(const RunningConfig& config) {
    if (config.rpki.caches.empty()) return {};
    return fmt::format("rpki: {} RTR cache{}", config.rpki.caches.size(), config.rpki.caches.size() == 1 ? "" : "s");
}

const ProtocolInfo kInfo{"rpki", "rpki", [](Control& control) -> std::unique_ptr<Protocol> {
                             return std::make_unique<RpkiProtocol>(control);
                         },
                         summary};
const ProtocolRegistration kRegistered{kInfo};

}  // namespace
}  // namespace rampart::rpki
