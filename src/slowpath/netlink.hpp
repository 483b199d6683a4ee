// rtnetlink for the exception path: configure the kernel side of each TAP twin
// and learn neighbours from the kernel, without fork/exec of iproute2.
//
// Two layers, kept apart so the parser can be fuzzed and unit-tested alone:
//  - codec: pure functions that build request bytes and parse received bytes
//    (bounds-checked; malformed input is rejected, never read past);
//  - transport: Socket (synchronous request/ack and dumps) and EventSocket
//    (non-blocking multicast listener for the control core's epoll loop).
#pragma once

#include "common/net.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rampart::netlink {

// ---------------------------------------------------------------- codec types

struct NeighborEvent {
    enum class State { reachable, stale, failed, incomplete, deleted, other };

    int ifindex = 0;
    IpAddr ip;
    std::optional<MacAddr> mac;  // absent when the kernel gave no 6-byte lladdr
    State state = State::other;
    uint16_t nud = 0;  // raw NUD_* bits, for logging

    friend bool operator==(const NeighborEvent&, const NeighborEvent&) = default;
};

struct LinkEvent {
    int ifindex = 0;
    std::string name;
    bool admin_up = false;  // IFF_UP
    bool carrier = false;   // IFF_LOWER_UP
    std::optional<MacAddr> mac;
    unsigned mtu = 0;
    bool deleted = false;  // RTM_DELLINK
    // IF_OPER_* (RFC 2863). Lags carrier: the kernel drops what a device sends
    // until link-watch reports it UP (or UNKNOWN), up to ~1 s after carrier.
    uint8_t operstate = 0;
    int link = 0;                     // IFLA_LINK: the lower device (a VLAN's parent), 0 if none
    std::string kind;                 // IFLA_INFO_KIND ("vlan", "veth", "tun", ...), empty if none
    std::optional<uint16_t> vlan_id;  // IFLA_VLAN_ID, for kind "vlan"

    friend bool operator==(const LinkEvent&, const LinkEvent&) = default;
};

struct AddressEvent {
    int ifindex = 0;
    Prefix prefix;           // the interface address with its prefix length
    bool tentative = false;  // IPv6 DAD not finished: not yet usable as a source
    bool deleted = false;    // RTM_DELADDR

    friend bool operator==(const AddressEvent&, const AddressEvent&) = default;
};

struct RouteEvent {
    Prefix dst;
    std::optional<IpAddr> gateway;  // absent for a device (on-link) route
    int ifindex = 0;                // 0 for multipath routes (nexthops not decoded)
    uint32_t table = 0;
    uint8_t protocol = 0;    // RTPROT_*
    uint8_t route_type = 0;  // RTN_*
    bool deleted = false;    // RTM_DELROUTE

    friend bool operator==(const RouteEvent&, const RouteEvent&) = default;
};

// NLMSG_ERROR: error == 0 is a positive acknowledgement.
struct Ack {
    uint32_t seq = 0;
    int error = 0;        // positive errno
    std::string message;  // extended-ack text from the kernel, if any

    friend bool operator==(const Ack&, const Ack&) = default;
};

// NLMSG_DONE: end of a dump.
struct DumpDone {
    uint32_t seq = 0;
    int error = 0;  // positive errno if the dump failed part-way

    friend bool operator==(const DumpDone&, const DumpDone&) = default;
};

// The kernel dropped notifications (ENOBUFS): state must be resynced by a dump.
struct Overrun {
    friend bool operator==(const Overrun&, const Overrun&) = default;
};

using Event =
    std::variant<NeighborEvent, LinkEvent, AddressEvent, RouteEvent, Ack, DumpDone, Overrun>;

// One decoded netlink message.
struct Message {
    uint32_t seq = 0;
    bool dump_interrupted = false;  // NLM_F_DUMP_INTR: table changed during the dump
    Event event;
};

struct ParseResult {
    std::vector<Message> messages;  // empty whenever error is set
    std::string error;              // why the buffer was rejected
    bool ok() const { return error.empty(); }
};

// Changes applied by one RTM_NEWLINK request; unset fields are left alone.
struct LinkChange {
    std::optional<bool> admin_up;
    std::optional<MacAddr> mac;
    std::optional<unsigned> mtu;
};

// An 802.1Q link to create on top of an existing device (RTM_NEWLINK, kind "vlan").
struct VlanLink {
    std::string name;       // the new device's name (the kernel wants 1-15 characters)
    int parent_ifindex = 0; // IFLA_LINK
    uint16_t vlan_id = 0;   // 1-4094
    // VLAN_FLAG_LOOSE_BINDING: the link's admin state does not follow its parent's
    // (only its carrier does), so an administratively down sub-interface stays down
    // when the parent comes back up.
    bool loose_binding = true;
};

enum class Change { add, remove };
enum class Dad { perform, skip };  // IPv6 duplicate address detection on a new address

// ---------------------------------------------------------------- codec

/// Decodes every message in buf. Messages of kinds we do not track (other
/// families, NOOP, unknown types) are skipped. Errors: truncated or oversized
/// nlmsghdr, a family header longer than the message, an attribute with
/// rta_len < 4 or past its message, an address attribute of the wrong size,
/// a prefix length beyond the address width.
ParseResult parse(std::span<const uint8_t> buf);

/// RTM_GETLINK for one interface, by index (ifindex > 0) or by name. No errors.
std::vector<uint8_t> build_get_link(uint32_t seq, int ifindex, std::string_view name);
/// RTM_NEWLINK on an existing interface applying `change`. No errors.
std::vector<uint8_t> build_set_link(uint32_t seq, int ifindex, const LinkChange& change);
/// RTM_NEWLINK (create, exclusive) of an 802.1Q link: IFLA_IFNAME, IFLA_LINK and
/// IFLA_LINKINFO{IFLA_INFO_KIND "vlan", IFLA_INFO_DATA{IFLA_VLAN_ID, IFLA_VLAN_FLAGS}}.
/// Values are sent as given (the kernel validates them). No errors.
std::vector<uint8_t> build_new_vlan_link(uint32_t seq, const VlanLink& link);
/// RTM_DELLINK of interface ifindex. No errors.
std::vector<uint8_t> build_del_link(uint32_t seq, int ifindex);
/// RTM_NEWADDR (create, exclusive) or RTM_DELADDR. No errors.
std::vector<uint8_t> build_address(uint32_t seq, Change change, int ifindex, const Prefix& prefix,
                                   Dad dad = Dad::perform);
/// RTM_NEWROUTE (create, exclusive) or RTM_DELROUTE in the main table; without a
/// gateway the route is on-link (scope link). Gateway family must match dst. No errors.
std::vector<uint8_t> build_route(uint32_t seq, Change change, const Prefix& dst,
                                 const std::optional<IpAddr>& gateway, int ifindex);
/// RTM_NEWNEIGH with NTF_USE: makes the kernel resolve `target` on ifindex. No errors.
std::vector<uint8_t> build_neighbor_probe(uint32_t seq, int ifindex, const IpAddr& target);
/// RTM_GETLINK / GETADDR / GETROUTE / GETNEIGH dump requests (all families). No errors.
std::vector<uint8_t> build_link_dump(uint32_t seq);
std::vector<uint8_t> build_address_dump(uint32_t seq);
std::vector<uint8_t> build_route_dump(uint32_t seq);
std::vector<uint8_t> build_neighbor_dump(uint32_t seq);

// ---------------------------------------------------------------- transport

// Outcome of a synchronous request; an empty error means the kernel acked it.
struct [[nodiscard]] Status {
    std::string error;  // e.g. "RTM_NEWADDR 198.51.100.1/24 on rp0-tap: File exists"
    int errnum = 0;     // positive errno from the kernel (EEXIST, ENODEV, ...), or
                        // ETIMEDOUT / EMSGSIZE / EBADMSG for transport failures; 0 on success
    bool ok() const { return error.empty(); }
};

template <typename T>
struct [[nodiscard]] DumpResult {
    std::vector<T> items;
    std::string error;
    bool ok() const { return error.empty(); }
};

// Request socket bound to the network namespace of the thread that opens it.
// Calls block until the kernel answers (5 s receive timeout as a safety net).
class Socket {
public:
    /// Opens a NETLINK_ROUTE socket. Throws std::system_error if socket/bind fail.
    Socket();
    ~Socket();
    Socket(Socket&& other) noexcept;
    Socket& operator=(Socket&& other) noexcept;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    /// Index of the interface called `name`; 0 if there is none (or on any error).
    int ifindex(const std::string& name);
    /// Name of interface `ifindex`; empty if there is none (or on any error).
    std::string ifname(int ifindex);
    /// The interface called `name` (with its kind, lower device and VLAN id);
    /// nullopt if there is none (or on any error).
    std::optional<LinkEvent> link(const std::string& name);

    /// Creates an 802.1Q link. Errors: EEXIST (the name is taken, or the parent
    /// already has a link for that VLAN id), ENODEV (no such parent), EOPNOTSUPP
    /// (kernel without 802.1Q support, CONFIG_VLAN_8021Q), ERANGE (VLAN id 4095 or
    /// more), EINVAL (bad name, or a parent that cannot carry VLANs), EPERM.
    Status add_vlan_link(const VlanLink& link);
    /// Deletes an interface (and with it its addresses and routes). Errors:
    /// ENODEV, EOPNOTSUPP (a device that cannot be deleted, e.g. lo), EPERM.
    Status del_link(int ifindex);

    /// Sets IFF_UP or clears it. Errors: ENODEV, EPERM, transport failures.
    Status set_link_up(int ifindex, bool up);
    /// Sets the hardware address. Errors: ENODEV, EADDRNOTAVAIL, EBUSY (device up
    /// and no live address change), EPERM.
    Status set_mac(int ifindex, const MacAddr& mac);
    /// Sets the MTU. Errors: ENODEV, EINVAL (outside the device's min/max), EPERM.
    Status set_mtu(int ifindex, unsigned mtu);
    /// Adds an interface address. Errors: EEXIST, ENODEV, EINVAL, EACCES (IPv6
    /// disabled on the device), EPERM.
    Status add_address(int ifindex, const Prefix& prefix, Dad dad = Dad::perform);
    /// Removes an interface address. Errors: EADDRNOTAVAIL (not present), ENODEV.
    Status del_address(int ifindex, const Prefix& prefix);
    /// Adds dst via gateway out of ifindex. Errors: EEXIST, ENETUNREACH (IPv4) or
    /// EHOSTUNREACH (IPv6) for a gateway not on-link, ENODEV, EINVAL (family
    /// mismatch), EPERM.
    Status add_route(const Prefix& dst, const IpAddr& gateway, int ifindex);
    /// Adds an on-link route to dst on ifindex. Errors: EEXIST, ENODEV, ENETDOWN, EPERM.
    Status add_dev_route(const Prefix& dst, int ifindex);
    /// Removes a route added by add_route / add_dev_route. Errors: ESRCH (no such
    /// route), ENODEV, EINVAL (family mismatch).
    Status del_route(const Prefix& dst, const std::optional<IpAddr>& gateway, int ifindex);
    /// Makes the kernel resolve target on ifindex (ARP request / neighbour
    /// solicitation via NTF_USE); the answer arrives as a NeighborEvent. Does not
    /// wait for it; an entry already REACHABLE produces no event. Errors: ENODEV,
    /// EINVAL (e.g. IPv6 disabled on the device), ENOBUFS (neighbour table full).
    Status probe_neighbor(int ifindex, const IpAddr& target);

    /// All IPv4/IPv6 neighbour entries. Errors: transport failures, dump failures.
    DumpResult<NeighborEvent> dump_neighbors();
    /// All interfaces. Errors: transport failures, dump failures.
    DumpResult<LinkEvent> dump_links();
    /// All IPv4/IPv6 interface addresses. Errors: transport failures, dump failures.
    DumpResult<AddressEvent> dump_addresses();
    /// All IPv4/IPv6 routes of all tables. Errors: transport failures, dump failures.
    DumpResult<RouteEvent> dump_routes();

private:
    uint32_t next_seq();
    Status send(const std::vector<uint8_t>& request);  // error text without context
    Status receive(std::vector<Message>& out);
    template <typename Describe>
    Status transact(const std::vector<uint8_t>& request, uint32_t seq, Describe&& what);
    template <typename T>
    DumpResult<T> dump(std::vector<uint8_t> (*build)(uint32_t), const char* what);
    std::optional<LinkEvent> query_link(int ifindex, const std::string& name);
    std::string describe(int ifindex);  // name for error texts, "ifindex N" if unknown
    Status route_request(Change change, const Prefix& dst, const std::optional<IpAddr>& gateway,
                         int ifindex);

    int fd_ = -1;
    uint32_t seq_ = 0;
    std::vector<uint8_t> rx_;
};

struct Subscriptions {
    bool neighbors = true;  // RTNLGRP_NEIGH
    bool links = true;      // RTNLGRP_LINK
    bool addresses = false; // RTNLGRP_IPV4_IFADDR + RTNLGRP_IPV6_IFADDR
    bool routes = false;    // RTNLGRP_IPV4_ROUTE + RTNLGRP_IPV6_ROUTE
};

// Non-blocking multicast listener for the control core's epoll loop.
class EventSocket {
public:
    /// Opens and subscribes. Throws std::system_error if socket/bind/join fail.
    explicit EventSocket(Subscriptions groups = {});
    ~EventSocket();
    EventSocket(EventSocket&& other) noexcept;
    EventSocket& operator=(EventSocket&& other) noexcept;
    EventSocket(const EventSocket&) = delete;
    EventSocket& operator=(const EventSocket&) = delete;

    /// File descriptor to watch for EPOLLIN.
    int fd() const { return fd_; }
    /// Drains what is queued without blocking (at most max_datagrams reads).
    /// Yields an Overrun event when the kernel dropped notifications (ENOBUFS)
    /// or sent something unparseable: the caller must resync with a dump.
    /// Never throws; unexpected recv errors are reported as Overrun too.
    std::vector<Event> read_events(unsigned max_datagrams = 64);

private:
    int fd_ = -1;
    std::vector<uint8_t> rx_;
};

/// Writes /proc/sys/net/{ipv4|ipv6}/conf/<ifname>/<knob> (e.g. v6 "accept_ra" = "0")
/// in the calling thread's network namespace. Errors: ENOENT (no such
/// interface or knob), EINVAL (name or knob containing '/' or ".."), EACCES.
Status set_interface_sysctl(Family family, const std::string& ifname, const std::string& knob,
                            const std::string& value);

}  // namespace rampart::netlink
