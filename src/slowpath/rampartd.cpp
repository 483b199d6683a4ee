// rampartd: the appliance process. The main lcore is the control core (config,
// CLI, kernel mirror, neighbour resolution, table publisher); every other
// lcore runs a Worker.
//
//   rampartd [options] [-- EAL arguments]
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "common/log.hpp"
#include "fastpath/ports.hpp"
#include "fastpath/tables.hpp"
#include "fastpath/worker.hpp"
#include "slowpath/cli_server.hpp"
#include "slowpath/config_model.hpp"
#include "slowpath/control.hpp"
#include "slowpath/fib_publisher.hpp"
#include "slowpath/kernel_mirror.hpp"
#include "slowpath/netlink.hpp"
#include "slowpath/protocol.hpp"

namespace po = boost::program_options;
using namespace rampart;

namespace {

struct Options {
    std::string config_path;
    bool check_only = false;
    std::string socket_path = "/run/rampart/rampartd.sock";
    std::string log_level = "info";
    unsigned mbufs = 16383;
    double exit_when_idle = 0;
    TableSizes sizes;
    sav::SavTableSizes sav_sizes;
    std::vector<std::string> eal_args;
};

std::atomic<bool> workers_running{true};

int worker_main(void* arg) {
    static_cast<Worker*>(arg)->run(workers_running);
    return 0;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error(fmt::format("cannot read {}: {}", path, strerror(errno)));
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

constexpr uint64_t kMiB = 1 << 20;

// EAL memory the startup allocations take with the configured sizes,
// measured on DPDK 22.11 (the log line "EAL memory: ... in use" after the
// tables are made): each FIB exists twice (the standby copy for RCU
// updates); an IPv4 FIB (rte_fib DIR24_8, 4-byte next hops) is a 64 MiB /24
// table, 1 KiB per tbl8 group and about 420 bytes per route of capacity (its
// RIB); an IPv6 FIB (rte_lpm6) the same 64 MiB, 1 KiB per tbl8 group and 64
// bytes per route; a packet buffer takes 4 KiB; the rest about 16 MiB.
uint64_t startup_memory_bytes(const Options& o) {
    const TableSizes& s = o.sizes;
    const uint64_t first_level = (uint64_t(1) << 24) * 4;
    const uint64_t fib4 = first_level + (uint64_t(s.fib4_tbl8s) + 1) * 1024 + uint64_t(s.fib4_max_routes) * 420;
    const uint64_t fib6 = first_level + uint64_t(s.fib6_tbl8s) * 1040 + uint64_t(s.fib6_max_routes) * 64;
    const uint64_t mbufs = uint64_t(o.mbufs) * 4096;
    return 2 * (fib4 + fib6) + mbufs + 16 * kMiB;
}

// What to do when the EAL's memory cannot hold the configured tables.
std::string memory_advice(const Options& o) {
    rte_malloc_socket_stats stats{};
    rte_malloc_get_socket_stats(int(rte_socket_id()), &stats);
    return fmt::format("EAL memory: {} MiB free of {} MiB; the configured sizes need about {} MiB (the default "
                       "VRF's FIBs for --fib4-routes {} --fib4-tbl8s {} --fib6-routes {} --fib6-tbl8s {}, and {} "
                       "packet buffers): give the EAL more (-m, or hugepages) or lower those sizes",
                       stats.heap_freesz_bytes / kMiB, stats.heap_totalsz_bytes / kMiB,
                       (startup_memory_bytes(o) + kMiB - 1) / kMiB, o.sizes.fib4_max_routes, o.sizes.fib4_tbl8s,
                       o.sizes.fib6_max_routes, o.sizes.fib6_tbl8s, o.mbufs);
}

// Returns the exit code to use when the options say to stop here.
std::optional<int> parse_options(int argc, char** argv, Options& o) {
    int split = argc;
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]) == "--") {
            split = i;
            break;
        }
    po::options_description desc("rampartd [options] [-- EAL arguments]");
    desc.add_options()
        ("help,h", "show this help")
        ("config,c", po::value(&o.config_path), "startup configuration file")
        ("check-config", po::bool_switch(&o.check_only), "validate the configuration and exit (non-zero on error)")
        ("socket,s", po::value(&o.socket_path)->default_value(o.socket_path), "CLI socket path")
        ("log-level", po::value(&o.log_level)->default_value(o.log_level), "debug, info, warn or error")
        ("mbufs", po::value(&o.mbufs)->default_value(o.mbufs), "packet buffers in the pool")
        ("exit-when-idle", po::value(&o.exit_when_idle)->default_value(0),
         "exit after this many seconds without a received packet (0: never); for net_pcap runs")
        ("fib4-routes", po::value(&o.sizes.fib4_max_routes)->default_value(o.sizes.fib4_max_routes), "IPv4 FIB capacity")
        ("fib4-tbl8s", po::value(&o.sizes.fib4_tbl8s)->default_value(o.sizes.fib4_tbl8s), "IPv4 FIB groups for prefixes longer than /24")
        ("fib6-routes", po::value(&o.sizes.fib6_max_routes)->default_value(o.sizes.fib6_max_routes), "IPv6 FIB capacity")
        ("fib6-tbl8s", po::value(&o.sizes.fib6_tbl8s)->default_value(o.sizes.fib6_tbl8s), "IPv6 FIB subtables")
        ("sav4-rules", po::value(&o.sav_sizes.v4_max_routes)->default_value(o.sav_sizes.v4_max_routes),
         "IPv4 SAV table capacity (a full table of sources: 2000000)")
        ("sav4-tbl8s", po::value(&o.sav_sizes.v4_tbl8s)->default_value(o.sav_sizes.v4_tbl8s), "IPv4 SAV groups for rules longer than /24")
        ("sav6-rules", po::value(&o.sav_sizes.v6_max_routes)->default_value(o.sav_sizes.v6_max_routes), "IPv6 SAV table capacity")
        ("sav6-tbl8s", po::value(&o.sav_sizes.v6_tbl8s)->default_value(o.sav_sizes.v6_tbl8s), "IPv6 SAV subtables");
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(split, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "rampartd: " << e.what() << "\n" << desc;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << desc
                  << fmt::format("\nEAL arguments follow `--`, e.g. -- -l 0-1 --no-huge -m 1024\n"
                                 "The first lcore is the control core; every other lcore runs a worker.\n"
                                 "With these sizes the tables and buffers take about {} MiB of EAL memory (-m).\n",
                                 (startup_memory_bytes(o) + kMiB - 1) / kMiB);
        return 0;
    }
    log::Level level;
    if (!log::parse_level(o.log_level, level)) {
        std::cerr << "rampartd: unknown log level '" << o.log_level << "'\n";
        return 2;
    }
    log::set_level(level);
    o.eal_args.push_back(argv[0]);
    for (int i = split + 1; i < argc; ++i) o.eal_args.push_back(argv[i]);
    return std::nullopt;
}

// An af_packet port shares its interface with the kernel, which would answer
// ARP and accept IP for the box's addresses on it too (duplicate replies).
// The TAP twin is the kernel's only way in: keep the kernel stack off the port.
// The kernel interface under an af_packet port ("" for other drivers).
std::string af_packet_iface(const std::string& device) {
    if (device.rfind("net_af_packet", 0) != 0) return {};
    auto pos = device.find("iface=");
    if (pos == std::string::npos) return {};
    return device.substr(pos + 6, device.find(',', pos) - pos - 6);
}

// net_af_packet reports its link up from start to stop whatever the carrier
// does; the kernel knows better. Read from sysfs (ENOENT/EINVAL: down).
bool kernel_carrier_up(const std::string& ifname) {
    std::ifstream f("/sys/class/net/" + ifname + "/carrier");
    int carrier = 0;
    return f && (f >> carrier) && carrier == 1;
}

void detach_kernel_stack(const std::string& device) {
    std::string ifname = af_packet_iface(device);
    if (ifname.empty()) return;
    for (auto [fam, knob, value] : {std::tuple{Family::v4, "arp_ignore", "8"}, std::tuple{Family::v4, "rp_filter", "1"},
                                    std::tuple{Family::v6, "disable_ipv6", "1"}}) {
        auto st = netlink::set_interface_sysctl(fam, ifname, knob, value);
        if (!st.ok()) log::warn("interface {}: {}", ifname, st.error);
    }
}

class Daemon {
public:
    explicit Daemon(Options o) : opt_(std::move(o)) {}
    int run();

private:
    void event_loop(CliServer& cli, netlink::EventSocket& events);
    void housekeeping(uint64_t now_tsc);
    cli::Reply execute(const std::string& line);
    // The registered control protocols (slowpath/protocol.hpp), created once
    // the startup configuration is installed.
    struct RunningProtocol {
        const ProtocolInfo* info;
        std::unique_ptr<Protocol> protocol;
    };
    std::vector<RunningProtocol> protocols_;
    std::map<int, Protocol*> protocol_fds_;  // polled sockets -> their protocol
    void reconfigure_protocols();
    int epoll_fd_ = -1;

    Options opt_;
    RunningConfig startup_;
    std::unique_ptr<ForwardingTables> tables_;
    std::unique_ptr<FibPublisher> fib_;
    std::unique_ptr<netlink::Socket> nl_;
    std::unique_ptr<KernelMirror> mirror_;
    std::unique_ptr<Control> control_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<unsigned> worker_lcores_;
    std::vector<std::pair<std::string, OpenedPort>> ports_;
    std::vector<bool> link_up_;
    std::vector<std::string> carrier_iface_;  // per port: kernel interface whose carrier counts too
    uint64_t last_rx_ = 0, last_rx_change_tsc_ = 0, last_sample_tsc_ = 0;
    bool stop_ = false;
};

int Daemon::run() {
    if (!opt_.config_path.empty()) {
        if (auto err = load_config_text(startup_, read_file(opt_.config_path))) {
            std::cerr << "rampartd: " << opt_.config_path << ": " << *err << "\n";
            return 1;
        }
    }
    if (opt_.check_only) {
        size_t vrf_routes = 0;
        for (auto& [name, v] : startup_.vrfs) vrf_routes += v.routes.size();
        size_t spd_entries = 0;
        for (auto& [vrf, entries] : startup_.ipsec.policies) spd_entries += entries.size();
        std::cout << fmt::format(
            "{}: configuration OK ({} interfaces, {} routes, {} VRFs with {} routes, {} static labels, {} prefix SIDs, "
            "{} IPsec SAs, {} SPD entries)\n",
            opt_.config_path, startup_.interfaces.size(), startup_.routes.size(), startup_.vrfs.size(), vrf_routes,
            startup_.mpls.ilm.size(), startup_.sr.prefix_sids.size(), startup_.ipsec.sas.size(), spd_entries);
        for (const ProtocolInfo* p : protocols())
            if (std::string line = p->summary(startup_); !line.empty()) std::cout << "  " << line << "\n";
        return 0;
    }

    std::vector<char*> eal_argv;
    for (auto& a : opt_.eal_args) eal_argv.push_back(a.data());
    if (rte_eal_init(int(eal_argv.size()), eal_argv.data()) < 0)
        throw std::runtime_error(fmt::format("EAL initialisation failed: {}", rte_strerror(rte_errno)));

    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) worker_lcores_.push_back(lcore);
    if (worker_lcores_.empty()) throw std::runtime_error("no worker lcore: give at least two lcores, e.g. -- -l 0-1");
    if (worker_lcores_.size() > kMaxWorkers)
        throw std::runtime_error(fmt::format("at most {} workers are supported", kMaxWorkers));
    const uint16_t nworkers = uint16_t(worker_lcores_.size());

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, nullptr);

    rte_mempool* pool = nullptr;
    try {
        pool = create_packet_pool("rp_pool", opt_.mbufs, int(rte_socket_id()));
        tables_ = std::make_unique<ForwardingTables>(nworkers, opt_.sizes, int(rte_socket_id()));
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(fmt::format("{}\n{}", e.what(), memory_advice(opt_)));
    }
    {
        rte_malloc_socket_stats stats{};
        rte_malloc_get_socket_stats(int(rte_socket_id()), &stats);
        log::info("EAL memory: {} MiB in use, {} MiB free (tables and {} packet buffers)",
                  stats.heap_allocsz_bytes / kMiB, stats.heap_freesz_bytes / kMiB, opt_.mbufs);
    }
    fib_ = std::make_unique<FibPublisher>(*tables_);

    for (const InterfaceConfig* ic : ordered_interfaces(startup_)) {
        if (!ic->is_port()) continue;
        PortSpec spec{ic->name, ic->device, nworkers, true, "rp-" + ic->name, ic->mac};
        OpenedPort p = open_port(spec, pool);
        detach_kernel_stack(ic->device);
        PortRuntime rt{p.port_id, p.twin_port_id, p.mac, spec.twin_ifname, p.driver, port_link_up(p.port_id)};
        fib_->register_port(ic->name, rt);
        log::info("interface {}: {} is DPDK port {} ({}), MAC {}, TAP twin {}", ic->name, ic->device, p.port_id,
                  p.driver, p.mac.str(), spec.twin_ifname);
        ports_.emplace_back(ic->name, p);
        carrier_iface_.push_back(af_packet_iface(ic->device));
        link_up_.push_back(rt.link_up);
    }

    nl_ = std::make_unique<netlink::Socket>();
    mirror_ = std::make_unique<KernelMirror>(*nl_, *fib_);
    std::vector<Control::WorkerSlot> slots;
    for (uint16_t w = 0; w < nworkers; ++w) {
        WorkerConfig wc;
        wc.id = w;
        wc.tables = tables_.get();
        wc.pool = pool;
        for (auto& [name, p] : ports_) wc.ports[wc.nb_ports++] = WorkerPort{p.port_id, p.twin_port_id, w};
        workers_.push_back(std::make_unique<Worker>(wc));
        slots.push_back({workers_.back().get(), worker_lcores_[w]});
    }
    control_ = std::make_unique<Control>(*tables_, *fib_, mirror_.get(), nl_.get(), slots);
    control_->set_sav_sizes(opt_.sav_sizes);
    netlink::EventSocket events;
    control_->install(startup_);  // its warnings are logged
    control_->resync_neighbors();
    for (const ProtocolInfo* p : protocols()) protocols_.push_back({p, p->create(*control_)});

    for (uint16_t w = 0; w < nworkers; ++w) rte_eal_remote_launch(worker_main, workers_[w].get(), worker_lcores_[w]);
    log::info("rampartd running: {} worker(s), {} port(s), CLI on {}", nworkers, ports_.size(), opt_.socket_path);

    {
        std::string dir = opt_.socket_path.substr(0, opt_.socket_path.rfind('/'));
        if (!dir.empty()) mkdir(dir.c_str(), 0755);
        CliServer cli(opt_.socket_path, [this](const cli::Request& req) -> cli::Reply {
            switch (req.verb) {
                case cli::Verb::exec: return execute(req.line);
                case cli::Verb::complete: {
                    auto names = [this] { return control_->interface_names(); };
                    return {true, cli::encode_candidates(cmd::complete(req.line, names))};
                }
                case cli::Verb::help: return {true, cmd::help(req.line)};
            }
            return {false, "% unknown request\n"};
        });
        event_loop(cli, events);
    }

    log::info("stopping workers");
    workers_running.store(false);
    rte_eal_mp_wait_lcore();
    workers_.clear();  // flushes their tx buffers
    for (auto& [name, p] : ports_) close_port(p);
    protocols_.clear();  // before the control core they use
    control_.reset();
    tables_.reset();
    rte_mempool_free(pool);
    rte_eal_cleanup();
    log::info("rampartd stopped");
    return 0;
}

cli::Reply Daemon::execute(const std::string& line) {
    auto parsed = cmd::parse(line);
    if (auto* e = std::get_if<cmd::ParseError>(&parsed)) return {false, "% " + e->message + "\n"};
    const cmd::Parsed& c = std::get<cmd::Parsed>(parsed);
    if (c.scope() == cmd::Scope::exec_only)
        for (auto& p : protocols_)
            if (p.info->section == c.section()) {
                CommandResult r = p.protocol->exec(c);
                return {r.ok, r.text};
            }
    CommandResult r = control_->execute(c);
    if (r.ok && c.scope() != cmd::Scope::exec_only) reconfigure_protocols();
    return {r.ok, r.text};
}

void Daemon::reconfigure_protocols() {
    // A protocol opens its sockets when it starts and may close them when it
    // stops: the loop polls exactly what each one lists now.
    std::map<int, Protocol*> wanted;
    for (auto& p : protocols_) {
        p.protocol->reconfigure(control_->config());
        for (int fd : p.protocol->fds()) wanted[fd] = p.protocol.get();
    }
    if (epoll_fd_ < 0) return;
    for (auto& [fd, protocol] : protocol_fds_)
        if (!wanted.count(fd)) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // closed already: harmless
    for (auto& [fd, protocol] : wanted)
        if (!protocol_fds_.count(fd)) {
            epoll_event ev{EPOLLIN, {.fd = fd}};
            epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        }
    protocol_fds_ = std::move(wanted);
}

void Daemon::housekeeping(uint64_t now) {
    for (auto& p : protocols_) p.protocol->tick(now);
    std::vector<rte_ring*> rings;
    for (auto& w : workers_) rings.push_back(w->resolve_ring());
    control_->drain_resolve_requests(rings);
    const uint64_t hz = rte_get_tsc_hz();
    if (now - last_sample_tsc_ >= hz) {
        last_sample_tsc_ = now;
        control_->sample_rates(now, hz);
        control_->probe_unresolved_next_hops();
        control_->ipsec_housekeeping();  // acquires, lifetime events, time lifetimes
        tables_->reclaim();
    }
    // Every tick (20 ms): link loss is what fast reroute reacts to. The
    // interface goes down in the data plane first, so the workers use their
    // backups at once; the recomputation follows.
    for (size_t i = 0; i < ports_.size(); ++i) {
        bool up = port_link_up(ports_[i].second.port_id) &&
                  (carrier_iface_[i].empty() || kernel_carrier_up(carrier_iface_[i]));
        if (up != link_up_[i]) {
            link_up_[i] = up;
            log::info("interface {}: link {}", ports_[i].first, up ? "up" : "down");
            control_->on_link_change(ports_[i].first, up);
        }
    }
    uint64_t rx = control_->total_rx_packets();
    if (rx != last_rx_ || last_rx_change_tsc_ == 0) {
        last_rx_ = rx;
        last_rx_change_tsc_ = now;
    }
    if (opt_.exit_when_idle > 0 && double(now - last_rx_change_tsc_) / hz >= opt_.exit_when_idle) {
        log::info("no packet received for {} s: exiting", opt_.exit_when_idle);
        stop_ = true;
    }
}

void Daemon::event_loop(CliServer& cli, netlink::EventSocket& events) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    itimerspec its{{0, 20'000'000}, {0, 20'000'000}};  // 20 ms: resolution latency for the first packet
    timerfd_settime(tfd, 0, &its, nullptr);
    for (int fd : {sfd, tfd, events.fd(), cli.fd()}) {
        epoll_event ev{EPOLLIN, {.fd = fd}};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    epoll_fd_ = ep;
    reconfigure_protocols();  // the startup configuration's protocols start
    epoll_event evs[32];
    while (!stop_) {
        int n = epoll_wait(ep, evs, 32, 100);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == sfd) {
                signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == sizeof si) log::info("signal {}: shutting down", si.ssi_signo);
                stop_ = true;
            } else if (fd == tfd) {
                uint64_t expirations;
                while (read(tfd, &expirations, sizeof expirations) > 0) {}
            } else if (fd == events.fd()) {
                for (auto& ev : events.read_events()) {
                    if (auto* ne = std::get_if<netlink::NeighborEvent>(&ev)) control_->on_neighbor(*ne);
                    else if (std::holds_alternative<netlink::Overrun>(ev)) control_->resync_neighbors();
                }
            } else if (fd == cli.fd()) {
                cli.on_readable();
            } else if (auto p = protocol_fds_.find(fd); p != protocol_fds_.end()) {
                p->second->on_readable(fd);
            }
        }
        housekeeping(rte_rdtsc());
    }
    for (auto& p : protocols_) p.protocol->stop();
    epoll_fd_ = -1;
    close(tfd);
    close(sfd);
    close(ep);
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    if (auto rc = parse_options(argc, argv, opt)) return *rc;
    try {
        return Daemon(std::move(opt)).run();
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        workers_running.store(false);
        return 1;
    }
}
