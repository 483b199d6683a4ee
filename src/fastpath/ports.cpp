#include "fastpath/ports.hpp"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <stdexcept>

#include <fmt/format.h>

namespace rampart {

namespace {

constexpr uint16_t kRxDescriptors = 1024;
constexpr uint16_t kTxDescriptors = 1024;

std::string device_name(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

std::string with_default_queues(std::string devargs, uint16_t nb_queues) {
    // af_packet opens one kernel socket per queue pair and needs to be told how many.
    if (devargs.rfind("net_af_packet", 0) == 0 && devargs.find("qpairs=") == std::string::npos)
        devargs += fmt::format(",qpairs={}", nb_queues);
    return devargs;
}

uint16_t probe(const std::string& devargs) {
    std::string name = device_name(devargs);
    uint16_t port_id;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) == 0) return port_id;  // given as --vdev/-a
    int rc = rte_dev_probe(devargs.c_str());
    if (rc != 0) throw std::runtime_error(fmt::format("cannot probe device '{}': {}", devargs, rte_strerror(-rc)));
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0)
        throw std::runtime_error(fmt::format("device '{}' probed but is not an Ethernet port", devargs));
    return port_id;
}

void configure_and_start(uint16_t port_id, const std::string& what, uint16_t nb_queues, rte_mempool* pool) {
    rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port_id, &info);
    if (rc != 0) throw std::runtime_error(fmt::format("{}: cannot read device info: {}", what, rte_strerror(-rc)));
    if (info.max_rx_queues < nb_queues || info.max_tx_queues < nb_queues)
        throw std::runtime_error(fmt::format(
            "{}: driver {} offers {} rx / {} tx queues but {} workers need one each", what, info.driver_name,
            info.max_rx_queues, info.max_tx_queues, nb_queues));
    rte_eth_conf conf{};
    if (nb_queues > 1 && (info.flow_type_rss_offloads & RTE_ETH_RSS_IP)) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
    }
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    rc = rte_eth_dev_configure(port_id, nb_queues, nb_queues, &conf);
    if (rc != 0) throw std::runtime_error(fmt::format("{}: configure failed: {}", what, rte_strerror(-rc)));
    uint16_t nb_rxd = kRxDescriptors, nb_txd = kTxDescriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
    int socket = rte_eth_dev_socket_id(port_id);
    for (uint16_t q = 0; q < nb_queues; ++q) {
        rc = rte_eth_rx_queue_setup(port_id, q, nb_rxd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr, pool);
        if (rc != 0) throw std::runtime_error(fmt::format("{}: rx queue {} setup failed: {}", what, q, rte_strerror(-rc)));
        rc = rte_eth_tx_queue_setup(port_id, q, nb_txd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr);
        if (rc != 0) throw std::runtime_error(fmt::format("{}: tx queue {} setup failed: {}", what, q, rte_strerror(-rc)));
    }
    rc = rte_eth_dev_start(port_id);
    if (rc != 0) throw std::runtime_error(fmt::format("{}: start failed: {}", what, rte_strerror(-rc)));
    rte_eth_promiscuous_enable(port_id);  // not every vdev supports it; harmless when not
}

}  // namespace

rte_mempool* create_packet_pool(const std::string& name, unsigned nb_mbufs, int socket_id) {
    rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), nb_mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket_id);
    if (!pool)
        throw std::runtime_error(fmt::format("cannot create a pool of {} packet buffers: {} (raise -m or lower --mbufs)",
                                             nb_mbufs, rte_strerror(rte_errno)));
    return pool;
}

OpenedPort open_port(const PortSpec& spec, rte_mempool* pool) {
    OpenedPort port;
    std::string what = fmt::format("interface {} (device {})", spec.name, spec.device);
    port.port_id = probe(with_default_queues(spec.device, spec.nb_queues));
    configure_and_start(port.port_id, what, spec.nb_queues, pool);
    if (spec.mac) {
        rte_ether_addr want;
        std::memcpy(want.addr_bytes, spec.mac->bytes.data(), 6);
        if (int rc = rte_eth_dev_default_mac_addr_set(port.port_id, &want); rc != 0)
            throw std::runtime_error(fmt::format("{}: cannot set MAC {}: {}", what, spec.mac->str(),
                                                 rc == -ENOTSUP ? "the driver does not support it" : rte_strerror(-rc)));
    }
    rte_ether_addr mac;
    rte_eth_macaddr_get(port.port_id, &mac);
    std::memcpy(port.mac.bytes.data(), mac.addr_bytes, 6);
    rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port.port_id, &info) == 0 && info.driver_name) port.driver = info.driver_name;

    if (spec.with_twin) {
        if (spec.twin_ifname.empty() || spec.twin_ifname.size() > 15)
            throw std::runtime_error(fmt::format("{}: TAP twin name '{}' must be 1-15 characters", what, spec.twin_ifname));
        std::string twin_args = fmt::format("net_tap_{},iface={},mac={}", spec.name, spec.twin_ifname, port.mac.str());
        port.twin_port_id = probe(twin_args);
        configure_and_start(port.twin_port_id, what + " TAP twin", spec.nb_queues, pool);
    }
    return port;
}

void close_port(const OpenedPort& port) {
    for (uint16_t id : {port.twin_port_id, port.port_id}) {
        if (id == UINT16_MAX) continue;
        rte_eth_dev_stop(id);
        rte_eth_dev_close(id);
    }
}

bool port_link_up(uint16_t port_id) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_id, &link) != 0) return false;
    return link.link_status == RTE_ETH_LINK_UP;
}

}  // namespace rampart
