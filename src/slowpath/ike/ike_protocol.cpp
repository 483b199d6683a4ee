// IKEv2 as a protocol of the control core (slowpath/protocol.hpp): its UDP
// sockets open with the first connection (none: no port 500 in use), its
// timers run at the loop's 20 ms tick, it answers the `show ike` / `ike ...`
// exec commands of the IKE config section, and it reaches the fast path
// through the control core's IPsec and route APIs.
//
// IKE work runs inside an IPsec API batch (Control::ipsec_batch_begin): the
// Child SAs it negotiates are published together, and the messages it sends
// wait until they have landed (a peer told of a Child SA may send through it
// at once). A batch without changes commits at once; one with changes at most
// every max(10 ms, twice the last publication): publication costs time in
// proportion to the SPD (thousands of tunnels), so under load more changes
// share one.
#include <rte_cycles.h>

#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "common/log.hpp"
#include "slowpath/config/ike.hpp"
#include "slowpath/control.hpp"
#include "slowpath/ike/daemon.hpp"
#include "slowpath/ike/transport.hpp"
#include "slowpath/protocol.hpp"

namespace rampart::ike {
namespace {

Millis ike_now() {
    return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now().time_since_epoch());
}

class IkeProtocol final : public Protocol {
public:
    explicit IkeProtocol(Control& control) : control_(control) {
        control_.on_ipsec_acquire([this](const IpsecAcquire& a) {
            if (ike_) ike_->on_acquire(a, ike_now());
        });
        control_.on_ipsec_lifetime([this](const IpsecLifetimeEvent& e) {
            if (ike_) ike_->on_lifetime(e, ike_now());
        });
    }

    ~IkeProtocol() override {
        control_.on_ipsec_acquire({});
        control_.on_ipsec_lifetime({});
    }

    void reconfigure(const RunningConfig& config) override {
        const auto& conns = config.ike;
        if (!ike_ && conns.empty()) return;
        if (!transport_ && !open()) return;
        ike_->configure_settings(config.ike_settings);
        batch([&] { ike_->configure(conns, ike_now()); });
        commit(true);  // a configuration change lands before the CLI answers
    }

    void stop() override {
        if (!ike_) return;
        batch([&] { ike_->configure({}, ike_now()); });  // tell the peers, take the SAs out
        commit(true);
    }

    std::vector<int> fds() const override { return transport_ ? transport_->fds() : std::vector<int>{}; }

    void on_readable(int fd) override {
        if (!ike_) return;
        batch([&] {
            for (auto& d : transport_->receive(fd)) ike_->receive(d, ike_now());
        });
    }

    void tick(uint64_t now) override {
        if (!ike_) return;
        // The IKE timers at the 20 ms tick, not after every wakeup (a burst of
        // datagrams wakes the loop far more often).
        if (now - last_tick_tsc_ >= rte_get_tsc_hz() / 50) {
            last_tick_tsc_ = now;
            batch([&] { ike_->tick(ike_now()); });
        }
        commit(false);  // a batch held back by the pacing
    }

    CommandResult exec(const cmd::Parsed& c) override {
        using config::IkeExec;
        const Millis now = ike_now();
        switch (IkeExec(c.tag())) {
            case IkeExec::ShowSa: return {true, ike_ ? ike_->show_sa(c.has("detail"), now) : "no IKE SAs\n"};
            case IkeExec::ShowPeers: return {true, ike_ ? ike_->show_peers() : "no ike connections\n"};
            case IkeExec::ShowLockout: return {true, ike_ ? ike_->show_lockout(now) : "no ike connections\n"};
            case IkeExec::ShowPad: return {true, show_ike_pad(control_.config().ike_settings)};
            case IkeExec::ClearLockout: {
                std::optional<IpAddr> peer;
                if (c.has_arg("address")) peer = c.ip("address");
                const size_t n = ike_ ? ike_->clear_lockout(peer) : 0;
                if (peer && n == 0) return {false, fmt::format("% no lockout or failures for {}\n", peer->str())};
                return {true, fmt::format("cleared {} peer{}\n", n, n == 1 ? "" : "s")};
            }
            case IkeExec::ShowSummary: return {true, ike_ ? ike_->show_summary() : "no ike connections\n"};
            case IkeExec::Initiate:
            case IkeExec::Terminate:
            case IkeExec::ClearSa: {
                if (!ike_) return {false, fmt::format("% unknown ike connection {}\n", c.word("name"))};
                auto err = IkeExec(c.tag()) == IkeExec::Initiate ? ike_->initiate(c.word("name"), now)
                                                                 : ike_->terminate(c.word("name"), now);
                if (err) return {false, "% " + *err + "\n"};
                return {true, ""};
            }
            case IkeExec::Rekey: {
                if (!ike_) return {false, fmt::format("% unknown ike connection {}\n", c.word("name"))};
                if (auto err = ike_->rekey(c.word("name"), c.has("child"), now)) return {false, "% " + *err + "\n"};
                return {true, ""};
            }
        }
        return {false, "% not an ike command\n"};
    }

private:
    bool open() {
        try {
            transport_ = std::make_unique<UdpTransport>();
        } catch (const std::exception& e) {
            log::error("{}", e.what());
            return false;
        }
        if (!transport_->open_problems().empty()) log::warn("ike: {}", transport_->open_problems());
        DaemonHooks hooks;
        hooks.apply = [this](const IpsecChange& ch) { return control_.ipsec_apply("ike", ch); };
        hooks.routes = [this](const OwnedRouteChange& ch) { return control_.route_apply("ike", ch); };
        hooks.keepalive = [this](const Endpoint& l, const Endpoint& r) { transport_->send_keepalive(l, r); };
        hooks.send = [this](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> b) {
            if (held_) held_->push_back({l, r, {b.begin(), b.end()}});
            else transport_->send(l, r, b);
        };
        ike_ = std::make_unique<IkeDaemon>(hooks);
        log::info("ike: listening on UDP 500 and 4500");
        return true;
    }

    template <typename Work>
    void batch(Work&& work) {
        if (!held_) {
            control_.ipsec_batch_begin();
            held_.emplace();
        }
        work();
        commit(false);
    }

    void commit(bool force) {
        if (!held_) return;
        const uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
        if (!force && control_.ipsec_batch_pending() && now < next_commit_tsc_) return;
        const auto failed = control_.ipsec_batch_commit();
        std::vector<HeldDatagram> held = std::move(*held_);
        held_.reset();
        const uint64_t took = rte_rdtsc() - now;
        next_commit_tsc_ = rte_rdtsc() + std::max(hz / 100, 2 * took);
        for (auto& d : held) transport_->send(d.local, d.remote, d.bytes);
        // A change the fast path could not take after all: its Child SA ended
        // (the daemon takes it out and tells the peer).
        for (auto& f : failed) {
            log::warn("ike: a Child SA did not land in the fast path: {}", f.problem);
            for (auto& sa : f.sas) ike_->on_lifetime(IpsecLifetimeEvent{sa, true, false}, ike_now());
        }
    }

    Control& control_;
    std::unique_ptr<UdpTransport> transport_;
    std::unique_ptr<IkeDaemon> ike_;
    struct HeldDatagram {
        Endpoint local, remote;
        std::vector<uint8_t> bytes;
    };
    std::optional<std::vector<HeldDatagram>> held_;
    uint64_t next_commit_tsc_ = 0;
    uint64_t last_tick_tsc_ = 0;
};

std::string summary(const RunningConfig& config) {
    size_t children = 0, pad = 0;
    for (auto& [name, c] : config.ike) children += c.child ? 1 : 0;
    for (auto& [who, prefixes] : config.ike_settings.pad) pad += prefixes.size();
    if (config.ike.empty() && pad == 0) return {};
    return fmt::format("ike: {} connections ({} with a Child SA), {} PAD entries", config.ike.size(), children, pad);
}

const ProtocolInfo kInfo{"ike", "ike", [](Control& control) -> std::unique_ptr<Protocol> {
                             return std::make_unique<IkeProtocol>(control);
                         },
                         summary};
const ProtocolRegistration kRegistered{kInfo};

}  // namespace
}  // namespace rampart::ike
