#include "slowpath/netlink.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_vlan.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace rampart::netlink {

// ============================================================== codec

namespace {

constexpr size_t align4(size_t n) { return (n + 3) & ~size_t{3}; }

int af_of(Family f) { return f == Family::v4 ? AF_INET : AF_INET6; }
size_t addr_size(Family f) { return f == Family::v4 ? 4 : 16; }

// Appends one message: header, family header, attributes; fixes nlmsg_len last.
class MessageBuilder {
public:
    MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq) {
        nlmsghdr h{};
        h.nlmsg_type = type;
        h.nlmsg_flags = flags;
        h.nlmsg_seq = seq;
        append(&h, sizeof h);
    }
    template <typename FamilyHeader>
    void family_header(const FamilyHeader& fh) {
        append(&fh, sizeof fh);
    }
    void attr(uint16_t type, const void* data, size_t len) {
        // rta_len is 16 bits; nothing we send comes close, but never wrap it.
        len = std::min<size_t>(len, 0xffff - sizeof(rtattr));
        rtattr a{};
        a.rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
        a.rta_type = type;
        append(&a, sizeof a);
        append(data, len);
    }
    void attr_u16(uint16_t type, uint16_t value) { attr(type, &value, sizeof value); }
    void attr_u32(uint16_t type, uint32_t value) { attr(type, &value, sizeof value); }
    void attr_addr(uint16_t type, const IpAddr& a) { attr(type, a.bytes.data(), addr_size(a.family)); }
    void attr_string(uint16_t type, std::string_view s) {
        std::string z(s);  // the kernel expects the terminating NUL
        attr(type, z.c_str(), z.size() + 1);
    }
    // A nested attribute: begin_nest returns its offset, end_nest fixes its length
    // (which covers the padding of the attributes inside, as iproute2 does).
    size_t begin_nest(uint16_t type) {
        size_t at = buf_.size();
        rtattr a{};
        a.rta_len = sizeof a;
        a.rta_type = static_cast<unsigned short>(type | NLA_F_NESTED);
        append(&a, sizeof a);
        return at;
    }
    void end_nest(size_t at) {
        auto len = static_cast<unsigned short>(std::min<size_t>(buf_.size() - at, 0xffff));
        std::memcpy(buf_.data() + at + offsetof(rtattr, rta_len), &len, sizeof len);
    }
    std::vector<uint8_t> finish() {
        uint32_t len = static_cast<uint32_t>(buf_.size());
        std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof len);
        return std::move(buf_);
    }

private:
    void append(const void* data, size_t len) {
        auto p = static_cast<const uint8_t*>(data);
        buf_.insert(buf_.end(), p, p + len);
        buf_.resize(align4(buf_.size()), 0);
    }
    std::vector<uint8_t> buf_;
};

// Unaligned-safe read of a trivially copyable T; caller has checked the size.
template <typename T>
T load(std::span<const uint8_t> bytes, size_t offset = 0) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

// A decoded message: nothing (skipped), an event, or the reason it is malformed.
struct Decoded {
    std::optional<Event> event;
    std::string error;
};
Decoded malformed(std::string why) { return Decoded{std::nullopt, std::move(why)}; }
Decoded skipped() { return Decoded{}; }

// Calls visit(type, payload) for each attribute in `attrs`; visit returns an
// error string (empty = fine). Stops at the first structural or visit error.
template <typename Visit>
std::string walk_attributes(std::span<const uint8_t> attrs, Visit&& visit) {
    size_t off = 0;
    while (off < attrs.size()) {
        size_t left = attrs.size() - off;
        if (left < sizeof(rtattr)) return fmt::format("truncated rtattr ({} bytes left)", left);
        auto a = load<rtattr>(attrs, off);
        if (a.rta_len < sizeof(rtattr)) return fmt::format("rta_len {} too small", a.rta_len);
        if (a.rta_len > left)
            return fmt::format("rta_len {} exceeds the {} bytes left", a.rta_len, left);
        auto err = visit(static_cast<uint16_t>(a.rta_type & NLA_TYPE_MASK),
                         attrs.subspan(off + sizeof(rtattr), a.rta_len - sizeof(rtattr)));
        if (!err.empty()) return err;
        off += std::min(align4(a.rta_len), left);
    }
    return {};
}

// Splits a message payload into its family header and the attributes after it.
template <typename FamilyHeader>
bool split_payload(std::span<const uint8_t> payload, FamilyHeader& fh,
                   std::span<const uint8_t>& attrs) {
    if (payload.size() < sizeof(FamilyHeader)) return false;
    fh = load<FamilyHeader>(payload);
    size_t start = std::min(align4(sizeof(FamilyHeader)), payload.size());
    attrs = payload.subspan(start);
    return true;
}

std::optional<Family> family_of(int af) {
    if (af == AF_INET) return Family::v4;
    if (af == AF_INET6) return Family::v6;
    return std::nullopt;
}

// Copies an address attribute; its size must match the family.
std::string read_address(std::span<const uint8_t> v, Family fam, const char* name,
                         std::optional<IpAddr>& out) {
    if (v.size() != addr_size(fam))
        return fmt::format("{} of {} bytes for IPv{}", name, v.size(), static_cast<int>(fam));
    IpAddr a;
    a.family = fam;
    std::copy(v.begin(), v.end(), a.bytes.begin());
    out = a;
    return {};
}

std::string read_u32(std::span<const uint8_t> v, const char* name, uint32_t& out) {
    if (v.size() != sizeof(uint32_t)) return fmt::format("{} of {} bytes", name, v.size());
    out = load<uint32_t>(v);
    return {};
}

// A string attribute, up to its first NUL (the kernel sends one; tolerate none).
std::string read_string(std::span<const uint8_t> v) {
    auto nul = std::find(v.begin(), v.end(), uint8_t{0});
    return std::string(v.begin(), nul);
}

std::optional<MacAddr> read_mac(std::span<const uint8_t> v) {
    if (v.size() != 6) return std::nullopt;  // non-Ethernet devices carry other sizes
    MacAddr m;
    std::copy(v.begin(), v.end(), m.bytes.begin());
    return m;
}

NeighborEvent::State neighbor_state(uint16_t nud, bool deleted) {
    using S = NeighborEvent::State;
    if (deleted) return S::deleted;
    if (nud & NUD_REACHABLE) return S::reachable;
    // DELAY and PROBE still forward with the old MAC while the kernel re-checks.
    if (nud & (NUD_STALE | NUD_DELAY | NUD_PROBE)) return S::stale;
    if (nud & NUD_FAILED) return S::failed;
    if (nud & NUD_INCOMPLETE) return S::incomplete;
    return S::other;  // NONE, NOARP, PERMANENT
}

Decoded decode_neighbor(uint16_t type, std::span<const uint8_t> payload) {
    ndmsg nd;
    std::span<const uint8_t> attrs;
    if (!split_payload(payload, nd, attrs)) return malformed("neighbour message shorter than ndmsg");
    auto fam = family_of(nd.ndm_family);
    if (!fam) return skipped();               // bridge FDB and others
    if (nd.ndm_flags & NTF_PROXY) return skipped();  // proxy entries are not neighbours

    std::optional<IpAddr> dst;
    NeighborEvent ev;
    auto err = walk_attributes(attrs, [&](uint16_t t, std::span<const uint8_t> v) -> std::string {
        if (t == NDA_DST) return read_address(v, *fam, "NDA_DST", dst);
        if (t == NDA_LLADDR) ev.mac = read_mac(v);
        return {};
    });
    if (!err.empty()) return malformed(err);
    if (!dst) return malformed("neighbour message without NDA_DST");
    ev.ifindex = nd.ndm_ifindex;
    ev.ip = *dst;
    ev.nud = nd.ndm_state;
    ev.state = neighbor_state(nd.ndm_state, type == RTM_DELNEIGH);
    return Decoded{ev, {}};
}

// IFLA_LINKINFO: the kind, and for VLAN links the VLAN id from IFLA_INFO_DATA
// (whose layout depends on the kind, which may come after it).
std::string decode_linkinfo(std::span<const uint8_t> linkinfo, LinkEvent& ev) {
    std::span<const uint8_t> data;
    bool has_data = false;
    auto err = walk_attributes(linkinfo, [&](uint16_t t, std::span<const uint8_t> v) -> std::string {
        if (t == IFLA_INFO_KIND) ev.kind = read_string(v);
        else if (t == IFLA_INFO_DATA) {
            data = v;
            has_data = true;
        }
        return {};
    });
    if (!err.empty()) return "IFLA_LINKINFO: " + err;
    if (!has_data || ev.kind != "vlan") return {};
    err = walk_attributes(data, [&](uint16_t t, std::span<const uint8_t> v) -> std::string {
        if (t != IFLA_VLAN_ID) return {};
        if (v.size() != sizeof(uint16_t)) return fmt::format("IFLA_VLAN_ID of {} bytes", v.size());
        ev.vlan_id = load<uint16_t>(v);
        return {};
    });
    return err.empty() ? std::string{} : "IFLA_INFO_DATA: " + err;
}

Decoded decode_link(uint16_t type, std::span<const uint8_t> payload) {
    ifinfomsg ifi;
    std::span<const uint8_t> attrs;
    if (!split_payload(payload, ifi, attrs)) return malformed("link message shorter than ifinfomsg");
    if (ifi.ifi_family != AF_UNSPEC) return skipped();  // per-family (bridge, inet6) link info

    LinkEvent ev;
    std::span<const uint8_t> linkinfo;
    bool has_linkinfo = false;
    auto err = walk_attributes(attrs, [&](uint16_t t, std::span<const uint8_t> v) -> std::string {
        if (t == IFLA_IFNAME) {
            ev.name = read_string(v);
        } else if (t == IFLA_LINK) {
            uint32_t lower = 0;
            auto e = read_u32(v, "IFLA_LINK", lower);
            ev.link = static_cast<int>(lower);
            return e;
        } else if (t == IFLA_LINKINFO) {
            linkinfo = v;
            has_linkinfo = true;
        } else if (t == IFLA_ADDRESS) {
            ev.mac = read_mac(v);
        } else if (t == IFLA_MTU) {
            uint32_t mtu = 0;
            auto e = read_u32(v, "IFLA_MTU", mtu);
            ev.mtu = mtu;
            return e;
        } else if (t == IFLA_OPERSTATE) {
            if (v.size() != 1) return fmt::format("IFLA_OPERSTATE of {} bytes", v.size());
            ev.operstate = v[0];
        }
        return {};
    });
    if (!err.empty()) return malformed(err);
    if (has_linkinfo) {
        if (auto e = decode_linkinfo(linkinfo, ev); !e.empty()) return malformed(e);
    }
    ev.ifindex = ifi.ifi_index;
    ev.admin_up = ifi.ifi_flags & IFF_UP;
    ev.carrier = ifi.ifi_flags & IFF_LOWER_UP;
    ev.deleted = type == RTM_DELLINK;
    return Decoded{ev, {}};
}

Decoded decode_address(uint16_t type, std::span<const uint8_t> payload) {
    ifaddrmsg ifa;
    std::span<const uint8_t> attrs;
    if (!split_payload(payload, ifa, attrs)) return malformed("address message shorter than ifaddrmsg");
    auto fam = family_of(ifa.ifa_family);
    if (!fam) return skipped();
    if (ifa.ifa_prefixlen > addr_size(*fam) * 8)
        return malformed(fmt::format("address prefix length {}", ifa.ifa_prefixlen));

    std::optional<IpAddr> local, address;
    uint32_t flags = ifa.ifa_flags;
    auto err = walk_attributes(attrs, [&](uint16_t t, std::span<const uint8_t> v) -> std::string {
        if (t == IFA_LOCAL) return read_address(v, *fam, "IFA_LOCAL", local);
        if (t == IFA_ADDRESS) return read_address(v, *fam, "IFA_ADDRESS", address);
        if (t == IFA_FLAGS) return read_u32(v, "IFA_FLAGS", flags);  // supersedes the 8-bit field
        return {};
    });
    if (!err.empty()) return malformed(err);
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
    auto ours = local ? local : address;
    if (!ours) return malformed("address message without IFA_LOCAL or IFA_ADDRESS");
    AddressEvent ev;
    ev.ifindex = static_cast<int>(ifa.ifa_index);
    ev.prefix = Prefix{*ours, ifa.ifa_prefixlen};
    ev.tentative = flags & IFA_F_TENTATIVE;
    ev.deleted = type == RTM_DELADDR;
    return Decoded{ev, {}};
}

Decoded decode_route(uint16_t type, std::span<const uint8_t> payload) {
    rtmsg rt;
    std::span<const uint8_t> attrs;
    if (!split_payload(payload, rt, attrs)) return malformed("route message shorter than rtmsg");
    auto fam = family_of(rt.rtm_family);
    if (!fam) return skipped();  // MPLS, multicast families
    if (rt.rtm_dst_len > addr_size(*fam) * 8)
        return malformed(fmt::format("route prefix length {}", rt.rtm_dst_len));

    RouteEvent ev;
    ev.table = rt.rtm_table;
    std::optional<IpAddr> dst, gateway;
    uint32_t oif = 0;
    auto err = walk_attributes(attrs, [&](uint16_t t, std::span<const uint8_t> v) -> std::string {
        switch (t) {
        case RTA_DST: return read_address(v, *fam, "RTA_DST", dst);
        case RTA_GATEWAY: return read_address(v, *fam, "RTA_GATEWAY", gateway);
        case RTA_OIF: return read_u32(v, "RTA_OIF", oif);
        case RTA_TABLE: return read_u32(v, "RTA_TABLE", ev.table);
        case RTA_VIA: {  // IPv4 route via an IPv6 next hop (RFC 5549 style)
            if (v.size() < sizeof(uint16_t)) return "truncated RTA_VIA";
            auto via_fam = family_of(load<uint16_t>(v));
            if (!via_fam) return {};
            return read_address(v.subspan(sizeof(uint16_t)), *via_fam, "RTA_VIA", gateway);
        }
        default: return {};
        }
    });
    if (!err.empty()) return malformed(err);
    IpAddr base;
    base.family = *fam;
    ev.dst = Prefix{dst.value_or(base), rt.rtm_dst_len};
    ev.gateway = gateway;
    ev.ifindex = static_cast<int>(oif);
    ev.protocol = rt.rtm_protocol;
    ev.route_type = rt.rtm_type;
    ev.deleted = type == RTM_DELROUTE;
    return Decoded{ev, {}};
}

// The kernel sends errors as -errno, 0 meaning success; anything outside
// [-4095, 0] is not an errno (and INT_MIN could not even be negated).
bool read_errno(std::span<const uint8_t> payload, int& out) {
    int wire = load<int>(payload);
    if (wire > 0 || wire < -4095) return false;
    out = -wire;
    return true;
}

// NLMSG_ERROR: errno, plus the extended-ack text when the kernel attached one.
// A malformed extended ack only loses the text, never the errno.
Decoded decode_error(const nlmsghdr& h, std::span<const uint8_t> payload) {
    if (payload.size() < sizeof(int)) return malformed("NLMSG_ERROR shorter than its errno");
    Ack ack;
    ack.seq = h.nlmsg_seq;
    if (!read_errno(payload, ack.error)) return malformed("NLMSG_ERROR errno out of range");
    if ((h.nlmsg_flags & NLM_F_ACK_TLVS) && payload.size() >= sizeof(nlmsgerr)) {
        size_t tlv_start = sizeof(nlmsgerr);
        if (!(h.nlmsg_flags & NLM_F_CAPPED)) {
            // The whole original request is echoed before the TLVs.
            auto echoed = load<nlmsghdr>(payload, offsetof(nlmsgerr, msg));
            tlv_start = align4(sizeof(int) + std::max<size_t>(echoed.nlmsg_len, sizeof(nlmsghdr)));
        }
        if (tlv_start <= payload.size()) {
            (void)walk_attributes(payload.subspan(tlv_start),
                                  [&](uint16_t t, std::span<const uint8_t> v) -> std::string {
                                      if (t == NLMSGERR_ATTR_MSG) {
                                          auto nul = std::find(v.begin(), v.end(), uint8_t{0});
                                          ack.message.assign(v.begin(), nul);
                                      }
                                      return {};
                                  });
        }
    }
    return Decoded{ack, {}};
}

Decoded decode(const nlmsghdr& h, std::span<const uint8_t> payload) {
    switch (h.nlmsg_type) {
    case NLMSG_ERROR: return decode_error(h, payload);
    case NLMSG_DONE: {
        DumpDone done{h.nlmsg_seq, 0};
        if (payload.size() >= sizeof(int) && !read_errno(payload, done.error))
            return malformed("NLMSG_DONE errno out of range");
        return Decoded{done, {}};
    }
    case NLMSG_OVERRUN: return Decoded{Overrun{}, {}};
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: return decode_neighbor(h.nlmsg_type, payload);
    case RTM_NEWLINK:
    case RTM_DELLINK: return decode_link(h.nlmsg_type, payload);
    case RTM_NEWADDR:
    case RTM_DELADDR: return decode_address(h.nlmsg_type, payload);
    case RTM_NEWROUTE:
    case RTM_DELROUTE: return decode_route(h.nlmsg_type, payload);
    default: return skipped();  // NLMSG_NOOP and kinds we do not track
    }
}

// A dump of everything: zeroed family header = AF_UNSPEC, no filter (strict
// checking accepts it).
template <typename FamilyHeader>
std::vector<uint8_t> dump_request(uint16_t type, uint32_t seq) {
    MessageBuilder b(type, NLM_F_REQUEST | NLM_F_DUMP, seq);
    b.family_header(FamilyHeader{});
    return b.finish();
}

}  // namespace

ParseResult parse(std::span<const uint8_t> buf) {
    ParseResult result;
    size_t off = 0;
    while (off < buf.size()) {
        size_t left = buf.size() - off;
        auto fail = [&](std::string why) {
            result.messages.clear();
            result.error = fmt::format("netlink message at offset {}: {}", off, why);
            return result;
        };
        if (left < sizeof(nlmsghdr)) return fail(fmt::format("truncated nlmsghdr ({} bytes)", left));
        auto h = load<nlmsghdr>(buf, off);
        if (h.nlmsg_len < sizeof(nlmsghdr)) return fail(fmt::format("nlmsg_len {} too small", h.nlmsg_len));
        if (h.nlmsg_len > left)
            return fail(fmt::format("nlmsg_len {} exceeds the {} bytes left", h.nlmsg_len, left));
        auto decoded = decode(h, buf.subspan(off + sizeof(nlmsghdr), h.nlmsg_len - sizeof(nlmsghdr)));
        if (!decoded.error.empty()) return fail(decoded.error);
        if (decoded.event)
            result.messages.push_back(
                Message{h.nlmsg_seq, (h.nlmsg_flags & NLM_F_DUMP_INTR) != 0, std::move(*decoded.event)});
        off += std::min(align4(h.nlmsg_len), left);
    }
    return result;
}

std::vector<uint8_t> build_get_link(uint32_t seq, int ifindex, std::string_view name) {
    MessageBuilder b(RTM_GETLINK, NLM_F_REQUEST, seq);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex > 0 ? ifindex : 0;
    b.family_header(ifi);
    if (ifindex <= 0) b.attr_string(IFLA_IFNAME, name);
    return b.finish();
}

std::vector<uint8_t> build_set_link(uint32_t seq, int ifindex, const LinkChange& change) {
    MessageBuilder b(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    if (change.admin_up) {
        ifi.ifi_flags = *change.admin_up ? IFF_UP : 0;
        ifi.ifi_change = IFF_UP;  // touch only IFF_UP
    }
    b.family_header(ifi);
    if (change.mac) b.attr(IFLA_ADDRESS, change.mac->bytes.data(), change.mac->bytes.size());
    if (change.mtu) b.attr_u32(IFLA_MTU, *change.mtu);
    return b.finish();
}

std::vector<uint8_t> build_new_vlan_link(uint32_t seq, const VlanLink& link) {
    MessageBuilder b(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;  // ifi_index 0: the kernel picks one
    b.family_header(ifi);
    b.attr_string(IFLA_IFNAME, link.name);
    b.attr_u32(IFLA_LINK, static_cast<uint32_t>(link.parent_ifindex));
    size_t info = b.begin_nest(IFLA_LINKINFO);
    b.attr_string(IFLA_INFO_KIND, "vlan");
    size_t data = b.begin_nest(IFLA_INFO_DATA);
    b.attr_u16(IFLA_VLAN_ID, link.vlan_id);
    ifla_vlan_flags flags{};
    flags.flags = link.loose_binding ? VLAN_FLAG_LOOSE_BINDING : 0;
    flags.mask = VLAN_FLAG_LOOSE_BINDING;  // leave the other flags at their defaults
    b.attr(IFLA_VLAN_FLAGS, &flags, sizeof flags);
    b.end_nest(data);
    b.end_nest(info);
    return b.finish();
}

std::vector<uint8_t> build_del_link(uint32_t seq, int ifindex) {
    MessageBuilder b(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    b.family_header(ifi);
    return b.finish();
}

std::vector<uint8_t> build_address(uint32_t seq, Change change, int ifindex, const Prefix& prefix,
                                   Dad dad) {
    bool add = change == Change::add;
    MessageBuilder b(add ? RTM_NEWADDR : RTM_DELADDR,
                     add ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
                         : NLM_F_REQUEST | NLM_F_ACK,
                     seq);
    ifaddrmsg ifa{};
    ifa.ifa_family = static_cast<uint8_t>(af_of(prefix.addr.family));
    ifa.ifa_prefixlen = prefix.len;
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    ifa.ifa_index = static_cast<uint32_t>(ifindex);
    b.family_header(ifa);
    // IFA_LOCAL is the address itself; IFA_ADDRESS equal to it means "no peer".
    b.attr_addr(IFA_LOCAL, prefix.addr);
    b.attr_addr(IFA_ADDRESS, prefix.addr);
    if (add && dad == Dad::skip && !prefix.addr.is_v4()) b.attr_u32(IFA_FLAGS, IFA_F_NODAD);
    return b.finish();
}

std::vector<uint8_t> build_route(uint32_t seq, Change change, const Prefix& dst,
                                 const std::optional<IpAddr>& gateway, int ifindex) {
    bool add = change == Change::add;
    MessageBuilder b(add ? RTM_NEWROUTE : RTM_DELROUTE,
                     add ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
                         : NLM_F_REQUEST | NLM_F_ACK,
                     seq);
    rtmsg rt{};
    rt.rtm_family = static_cast<uint8_t>(af_of(dst.addr.family));
    rt.rtm_dst_len = dst.len;
    rt.rtm_table = RT_TABLE_MAIN;
    rt.rtm_type = RTN_UNICAST;
    if (add) {
        rt.rtm_protocol = RTPROT_STATIC;
        rt.rtm_scope = gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    } else {
        rt.rtm_scope = RT_SCOPE_NOWHERE;  // delete: match any scope and protocol
    }
    b.family_header(rt);
    b.attr_u32(RTA_TABLE, RT_TABLE_MAIN);
    if (dst.len > 0) b.attr_addr(RTA_DST, dst.network().addr);
    if (gateway) b.attr_addr(RTA_GATEWAY, *gateway);
    if (ifindex > 0) b.attr_u32(RTA_OIF, static_cast<uint32_t>(ifindex));
    return b.finish();
}

std::vector<uint8_t> build_neighbor_probe(uint32_t seq, int ifindex, const IpAddr& target) {
    // NLM_F_CREATE so an unknown target gets an entry; NTF_USE then behaves like
    // a packet waiting on it: NONE/FAILED -> INCOMPLETE (broadcast/multicast
    // solicit), STALE -> DELAY -> PROBE (unicast); REACHABLE stays quiet.
    MessageBuilder b(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, seq);
    ndmsg nd{};
    nd.ndm_family = static_cast<uint8_t>(af_of(target.family));
    nd.ndm_ifindex = ifindex;
    nd.ndm_state = NUD_NONE;
    nd.ndm_flags = NTF_USE;
    b.family_header(nd);
    b.attr_addr(NDA_DST, target);
    return b.finish();
}

std::vector<uint8_t> build_link_dump(uint32_t seq) {
    return dump_request<ifinfomsg>(RTM_GETLINK, seq);
}
std::vector<uint8_t> build_address_dump(uint32_t seq) {
    return dump_request<ifaddrmsg>(RTM_GETADDR, seq);
}
std::vector<uint8_t> build_route_dump(uint32_t seq) {
    return dump_request<rtmsg>(RTM_GETROUTE, seq);
}
std::vector<uint8_t> build_neighbor_dump(uint32_t seq) {
    return dump_request<ndmsg>(RTM_GETNEIGH, seq);
}

// ============================================================== transport

namespace {

constexpr size_t receive_buffer_size = 64 * 1024;  // kernel dump skbs are at most 32 KiB
constexpr int request_timeout_s = 5;
constexpr int dump_attempts = 3;

std::string errno_text(int err) { return std::generic_category().message(err); }

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

int open_route_socket(int extra_type_flags) {
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | extra_type_flags, NETLINK_ROUTE);
    if (fd < 0) throw_errno("netlink socket");
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks a unique port id
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) {
        int saved = errno;
        ::close(fd);
        errno = saved;
        throw_errno("netlink bind");
    }
    return fd;
}

// One datagram; only the kernel (port id 0) is believed.
enum class Received { data, not_from_kernel, truncated, would_block, failed };
Received receive_datagram(int fd, std::vector<uint8_t>& buf, size_t& len, int& err, int flags) {
    for (;;) {
        sockaddr_nl from{};
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n = ::recvmsg(fd, &msg, flags);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? Received::would_block : Received::failed;
        }
        if (msg.msg_flags & MSG_TRUNC) return Received::truncated;
        if (from.nl_pid != 0) return Received::not_from_kernel;
        len = static_cast<size_t>(n);
        return Received::data;
    }
}

}  // namespace

Socket::Socket() : rx_(receive_buffer_size) {
    fd_ = open_route_socket(0);
    int one = 1;
    // Best effort: older kernels lack these; we only lose error texts / strictness.
    (void)::setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    (void)::setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    (void)::setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
    timeval tv{request_timeout_s, 0};
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        int saved = errno;
        ::close(fd_);
        errno = saved;
        throw_errno("netlink SO_RCVTIMEO");
    }
}

Socket::~Socket() {
    if (fd_ >= 0) ::close(fd_);
}

Socket::Socket(Socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), seq_(other.seq_), rx_(std::move(other.rx_)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        seq_ = other.seq_;
        rx_ = std::move(other.rx_);
    }
    return *this;
}

uint32_t Socket::next_seq() {
    if (++seq_ == 0) ++seq_;  // 0 is what multicast notifications carry
    return seq_;
}

Status Socket::send(const std::vector<uint8_t>& request) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    for (;;) {
        ssize_t n = ::sendto(fd_, request.data(), request.size(), 0,
                             reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
        if (n >= 0) return Status{};
        if (errno != EINTR) return Status{errno_text(errno), errno};
    }
}

Status Socket::receive(std::vector<Message>& out) {
    out.clear();
    if (rx_.size() < receive_buffer_size) rx_.resize(receive_buffer_size);
    size_t len = 0;
    int err = 0;
    switch (receive_datagram(fd_, rx_, len, err, 0)) {
    case Received::data: break;
    case Received::not_from_kernel: return Status{};
    case Received::truncated: return Status{"reply larger than the receive buffer", EMSGSIZE};
    case Received::would_block: return Status{"no reply from the kernel within the timeout", ETIMEDOUT};
    case Received::failed: return Status{errno_text(err), err};
    }
    auto parsed = parse(std::span<const uint8_t>(rx_.data(), len));
    if (!parsed.ok()) return Status{parsed.error, EBADMSG};
    out = std::move(parsed.messages);
    return Status{};
}

template <typename Describe>
Status Socket::transact(const std::vector<uint8_t>& request, uint32_t seq, Describe&& what) {
    if (auto sent = send(request); !sent.ok())
        return Status{fmt::format("{}: {}", what(), sent.error), sent.errnum};
    std::vector<Message> messages;
    for (;;) {  // bounded by the receive timeout: the kernel acks synchronously
        if (auto got = receive(messages); !got.ok())
            return Status{fmt::format("{}: {}", what(), got.error), got.errnum};
        for (auto& m : messages) {
            auto* ack = std::get_if<Ack>(&m.event);
            if (!ack || m.seq != seq) continue;  // stale answers to an earlier request
            if (ack->error == 0) return Status{};
            auto text = fmt::format("{}: {}", what(), errno_text(ack->error));
            if (!ack->message.empty()) text += fmt::format(" ({})", ack->message);
            return Status{std::move(text), ack->error};
        }
    }
}

std::optional<LinkEvent> Socket::query_link(int ifindex, const std::string& name) {
    if (ifindex <= 0 && (name.empty() || name.size() >= IFNAMSIZ)) return std::nullopt;
    uint32_t seq = next_seq();
    if (!send(build_get_link(seq, ifindex, name)).ok()) return std::nullopt;
    std::vector<Message> messages;
    for (;;) {
        if (!receive(messages).ok()) return std::nullopt;
        for (auto& m : messages) {
            if (m.seq != seq) continue;
            if (auto* link = std::get_if<LinkEvent>(&m.event)) return *link;
            if (std::holds_alternative<Ack>(m.event)) return std::nullopt;  // ENODEV etc.
        }
    }
}

int Socket::ifindex(const std::string& name) {
    auto link = query_link(0, name);
    return link ? link->ifindex : 0;
}

std::string Socket::ifname(int ifindex) {
    auto link = query_link(ifindex, {});
    return link ? link->name : std::string{};
}

std::optional<LinkEvent> Socket::link(const std::string& name) { return query_link(0, name); }

Status Socket::add_vlan_link(const VlanLink& link) {
    auto what = [&] {
        return fmt::format("RTM_NEWLINK {} vlan {} on {}", link.name, link.vlan_id,
                           describe(link.parent_ifindex));
    };
    // The kernel would say EINVAL too, but without naming the problem.
    if (link.name.empty() || link.name.size() >= IFNAMSIZ)
        return Status{what() + ": interface names have 1-15 characters", EINVAL};
    uint32_t seq = next_seq();
    return transact(build_new_vlan_link(seq, link), seq, what);
}

Status Socket::del_link(int ifindex) {
    // Named before the request: afterwards the interface is gone.
    std::string name = describe(ifindex);
    uint32_t seq = next_seq();
    return transact(build_del_link(seq, ifindex), seq, [&] { return "RTM_DELLINK " + name; });
}

std::string Socket::describe(int ifindex) {
    auto name = ifname(ifindex);
    return name.empty() ? fmt::format("ifindex {}", ifindex) : name;
}

Status Socket::set_link_up(int ifindex, bool up) {
    uint32_t seq = next_seq();
    return transact(build_set_link(seq, ifindex, LinkChange{.admin_up = up}), seq, [&] {
        return fmt::format("RTM_NEWLINK {} {}", describe(ifindex), up ? "up" : "down");
    });
}

Status Socket::set_mac(int ifindex, const MacAddr& mac) {
    uint32_t seq = next_seq();
    return transact(build_set_link(seq, ifindex, LinkChange{.mac = mac}), seq, [&] {
        return fmt::format("RTM_NEWLINK {} address {}", describe(ifindex), mac.str());
    });
}

Status Socket::set_mtu(int ifindex, unsigned mtu) {
    uint32_t seq = next_seq();
    return transact(build_set_link(seq, ifindex, LinkChange{.mtu = mtu}), seq, [&] {
        return fmt::format("RTM_NEWLINK {} mtu {}", describe(ifindex), mtu);
    });
}

Status Socket::add_address(int ifindex, const Prefix& prefix, Dad dad) {
    uint32_t seq = next_seq();
    return transact(build_address(seq, Change::add, ifindex, prefix, dad), seq, [&] {
        return fmt::format("RTM_NEWADDR {} on {}", prefix.str(), describe(ifindex));
    });
}

Status Socket::del_address(int ifindex, const Prefix& prefix) {
    uint32_t seq = next_seq();
    return transact(build_address(seq, Change::remove, ifindex, prefix), seq, [&] {
        return fmt::format("RTM_DELADDR {} on {}", prefix.str(), describe(ifindex));
    });
}

namespace {
std::string route_text(const char* op, const Prefix& dst, const std::optional<IpAddr>& gateway,
                       const std::string& dev) {
    if (gateway) return fmt::format("{} {} via {} dev {}", op, dst.network().str(), gateway->str(), dev);
    return fmt::format("{} {} dev {}", op, dst.network().str(), dev);
}
}  // namespace

Status Socket::route_request(Change change, const Prefix& dst, const std::optional<IpAddr>& gateway,
                             int ifindex) {
    const char* op = change == Change::add ? "RTM_NEWROUTE" : "RTM_DELROUTE";
    if (gateway && gateway->family != dst.addr.family)
        return Status{route_text(op, dst, gateway, describe(ifindex)) +
                          ": gateway and destination families differ",
                      EINVAL};
    uint32_t seq = next_seq();
    return transact(build_route(seq, change, dst, gateway, ifindex), seq,
                    [&] { return route_text(op, dst, gateway, describe(ifindex)); });
}

Status Socket::add_route(const Prefix& dst, const IpAddr& gateway, int ifindex) {
    return route_request(Change::add, dst, gateway, ifindex);
}

Status Socket::add_dev_route(const Prefix& dst, int ifindex) {
    return route_request(Change::add, dst, std::nullopt, ifindex);
}

Status Socket::del_route(const Prefix& dst, const std::optional<IpAddr>& gateway, int ifindex) {
    return route_request(Change::remove, dst, gateway, ifindex);
}

Status Socket::probe_neighbor(int ifindex, const IpAddr& target) {
    uint32_t seq = next_seq();
    return transact(build_neighbor_probe(seq, ifindex, target), seq, [&] {
        return fmt::format("RTM_NEWNEIGH probe {} on {}", target.str(), describe(ifindex));
    });
}

template <typename T>
DumpResult<T> Socket::dump(std::vector<uint8_t> (*build)(uint32_t), const char* what) {
    for (int attempt = 0; attempt < dump_attempts; ++attempt) {
        uint32_t seq = next_seq();
        if (auto sent = send(build(seq)); !sent.ok())
            return DumpResult<T>{{}, fmt::format("{} dump: {}", what, sent.error)};
        DumpResult<T> result;
        bool interrupted = false;
        bool done = false;
        std::vector<Message> messages;
        while (!done) {  // each receive is bounded by the timeout
            if (auto got = receive(messages); !got.ok())
                return DumpResult<T>{{}, fmt::format("{} dump: {}", what, got.error)};
            for (auto& m : messages) {
                if (m.seq != seq) continue;
                interrupted |= m.dump_interrupted;
                if (auto* item = std::get_if<T>(&m.event)) {
                    result.items.push_back(std::move(*item));
                } else if (auto* ack = std::get_if<Ack>(&m.event)) {
                    if (ack->error != 0)
                        return DumpResult<T>{{}, fmt::format("{} dump: {}", what, errno_text(ack->error))};
                } else if (auto* end = std::get_if<DumpDone>(&m.event)) {
                    if (end->error != 0)
                        return DumpResult<T>{{}, fmt::format("{} dump: {}", what, errno_text(end->error))};
                    done = true;
                }
            }
        }
        if (!interrupted) return result;
    }
    return DumpResult<T>{{}, fmt::format("{} dump: interrupted by concurrent changes {} times", what,
                                         dump_attempts)};
}

DumpResult<NeighborEvent> Socket::dump_neighbors() {
    return dump<NeighborEvent>(build_neighbor_dump, "RTM_GETNEIGH");
}
DumpResult<LinkEvent> Socket::dump_links() { return dump<LinkEvent>(build_link_dump, "RTM_GETLINK"); }
DumpResult<AddressEvent> Socket::dump_addresses() {
    return dump<AddressEvent>(build_address_dump, "RTM_GETADDR");
}
DumpResult<RouteEvent> Socket::dump_routes() {
    return dump<RouteEvent>(build_route_dump, "RTM_GETROUTE");
}

// ---------------------------------------------------------------- EventSocket

namespace {
constexpr int event_socket_buffer = 4 << 20;  // absorb bursts (link flaps, neighbour storms)
}

EventSocket::EventSocket(Subscriptions groups) : rx_(receive_buffer_size) {
    fd_ = open_route_socket(SOCK_NONBLOCK);
    // SO_RCVBUFFORCE needs CAP_NET_ADMIN; fall back to the rmem_max-capped SO_RCVBUF.
    int size = event_socket_buffer;
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    std::vector<unsigned> join;
    if (groups.neighbors) join.push_back(RTNLGRP_NEIGH);
    if (groups.links) join.push_back(RTNLGRP_LINK);
    if (groups.addresses) join.insert(join.end(), {RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR});
    if (groups.routes) join.insert(join.end(), {RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE});
    for (unsigned group : join) {
        if (::setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
            int saved = errno;
            ::close(fd_);
            errno = saved;
            throw_errno("netlink NETLINK_ADD_MEMBERSHIP");
        }
    }
}

EventSocket::~EventSocket() {
    if (fd_ >= 0) ::close(fd_);
}

EventSocket::EventSocket(EventSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), rx_(std::move(other.rx_)) {}

EventSocket& EventSocket::operator=(EventSocket&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        rx_ = std::move(other.rx_);
    }
    return *this;
}

std::vector<Event> EventSocket::read_events(unsigned max_datagrams) {
    std::vector<Event> events;
    bool overrun = false;
    if (rx_.size() < receive_buffer_size) rx_.resize(receive_buffer_size);
    for (unsigned i = 0; i < max_datagrams; ++i) {
        size_t len = 0;
        int err = 0;
        auto got = receive_datagram(fd_, rx_, len, err, MSG_DONTWAIT);
        if (got == Received::would_block) break;
        if (got == Received::not_from_kernel) continue;
        if (got == Received::failed && err != ENOBUFS) {
            overrun = true;  // unexpected: make the caller resync rather than trust state
            break;
        }
        if (got != Received::data) {  // ENOBUFS or a truncated datagram: events were lost
            overrun = true;
            continue;
        }
        auto parsed = parse(std::span<const uint8_t>(rx_.data(), len));
        if (!parsed.ok()) {
            overrun = true;
            continue;
        }
        for (auto& m : parsed.messages) {
            if (std::holds_alternative<Ack>(m.event) || std::holds_alternative<DumpDone>(m.event))
                continue;  // never sent to multicast listeners
            if (std::holds_alternative<Overrun>(m.event)) {
                overrun = true;
                continue;
            }
            events.push_back(std::move(m.event));
        }
    }
    // Resync marker goes last: everything before it is already stale anyway.
    if (overrun) events.push_back(Overrun{});
    return events;
}

// ---------------------------------------------------------------- sysctl

Status set_interface_sysctl(Family family, const std::string& ifname, const std::string& knob,
                            const std::string& value) {
    auto text = fmt::format("sysctl net.{}.conf.{}.{}={}", family == Family::v4 ? "ipv4" : "ipv6",
                            ifname, knob, value);
    auto bad = [](const std::string& s) {
        return s.empty() || s.find('/') != std::string::npos || s == "." || s == "..";
    };
    if (bad(ifname) || bad(knob)) return Status{text + ": invalid name", EINVAL};
    auto path = fmt::format("/proc/sys/net/{}/conf/{}/{}", family == Family::v4 ? "ipv4" : "ipv6",
                            ifname, knob);
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Status{fmt::format("{}: {}", text, errno_text(errno)), errno};
    ssize_t n = ::write(fd, value.data(), value.size());
    int err = n < 0 ? errno : (static_cast<size_t>(n) != value.size() ? EIO : 0);
    ::close(fd);
    if (err) return Status{fmt::format("{}: {}", text, errno_text(err)), err};
    return Status{};
}

}  // namespace rampart::netlink
