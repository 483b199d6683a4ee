// Interfaces: DPDK ports and their 802.1Q sub-interfaces, addresses, MTU,
// static neighbours, MPLS acceptance, VRF binding, MAC address.
#include <algorithm>

#include <fmt/format.h>

#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { InterfaceDevice, InterfaceVlan, InterfaceAddress, InterfaceMtu, InterfaceShutdown,
                 InterfaceDescription, InterfaceNeighbor, InterfaceMpls, InterfaceVrf, InterfaceMac,
                 ShowInterfaces, ShowInterface };

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::InterfaceDevice), "device", "interface <name:IFNAME> device <dev:WORD>",
     "Bind an interface to a DPDK port (startup config only)",
     {kInterface, kIfName, "Bind the interface to a DPDK port",
      "DPDK device: PCI address or vdev arguments, e.g. net_af_packet0,iface=veth0"},
     Negatable::no, cmd::Scope::config_only},
    {int(Cmd::InterfaceVlan), "vlan", "interface <name:IFNAME> vlan <vid:UINT(1-4094)> parent <parent:IFNAME>",
     "Create an 802.1Q sub-interface on a parent interface",
     {kInterface, kIfName, "Make this an 802.1Q VLAN sub-interface", "VLAN id",
      "Interface that carries the tagged frames", "Parent interface name"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceAddress), "address", "interface <name:IFNAME> address <prefix:PREFIX>",
     "Add an IPv4/IPv6 address with prefix length to an interface",
     {kInterface, kIfName, "IPv4/IPv6 interface address",
      "Address with prefix length, e.g. 192.0.2.1/24 or 2001:db8::1/64"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceMtu), "mtu", "interface <name:IFNAME> mtu <mtu:UINT(68-9216)>",
     "Set the IP MTU of an interface",
     {kInterface, kIfName, "Maximum transmission unit", "IP MTU in bytes"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceShutdown), "shutdown", "interface <name:IFNAME> shutdown",
     "Administratively disable an interface (no: enable it)",
     {kInterface, kIfName, "Administratively disable the interface"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceDescription), "description", "interface <name:IFNAME> description <text:WORD>",
     "Set a free-text description of an interface",
     {kInterface, kIfName, "Free-text description",
      "Description text; quote it if it contains spaces"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceNeighbor), "neighbor", "interface <name:IFNAME> neighbor <address:IP> <mac:MAC>",
     "Add a static neighbor (ARP/ND entry) on an interface",
     {kInterface, kIfName, "Static neighbor: never learnt or aged by the kernel",
      "Neighbor IPv4/IPv6 address", "Neighbor MAC address, e.g. 02:00:5e:00:53:01"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceMpls), "mpls", "interface <name:IFNAME> mpls",
     "Accept MPLS-labelled packets on an interface (no: drop and count them)",
     {kInterface, kIfName, "Accept MPLS-labelled packets on this interface"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceVrf), "vrf", "interface <name:IFNAME> vrf <vrf:WORD>",
     "Bind an interface to a VRF (no: back to the default table)",
     {kInterface, kIfName, "Bind the interface to a VRF", kVrfName},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceMac), "mac", "interface <name:IFNAME> mac <mac:MAC>",
     "Set a port's MAC address (startup config only; no: the device's own)",
     {kInterface, kIfName, "The port's Ethernet address, also given to its TAP twin",
      "Unicast MAC address, e.g. 02:00:5e:00:53:01"},
     Negatable::yes, cmd::Scope::config_only},
};
constexpr cmd::CommandRow kShowRows[] = {
    {int(Cmd::ShowInterfaces), "show-interfaces", "show interfaces", "Show all interfaces with their counters",
     {kShow, "All interfaces with their counters"}, Negatable::no, kExec},
    {int(Cmd::ShowInterface), "show-interface", "show interface <name:IFNAME>", "Show one interface in detail",
     {kShow, "One interface in detail", kIfName}, Negatable::no, kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"interfaces", 10, kRows}};
const cmd::CommandRegistration kShowGroup{{"interfaces", 100, kShowRows}};

// An address may be on one interface per table: VRFs are separate address spaces.
std::optional<std::string> address_clash(const RunningConfig& cfg, const std::string& self, const Prefix& p,
                                         const std::string& vrf) {
    for (auto& [n, other] : cfg.interfaces) {
        if (n == self || other.vrf != vrf) continue;
        for (auto& a : other.addresses)
            if (a.addr == p.addr)
                return vrf.empty() ? fmt::format("address {} is already on {}", p.addr.str(), n)
                                   : fmt::format("address {} is already on {} in vrf {}", p.addr.str(), n, vrf);
    }
    return std::nullopt;
}

std::string render_interfaces(const RunningConfig& config, bool) {
    std::string out;
    for (const InterfaceConfig* i : ordered_interfaces(config)) {
        out += "!\n";
        if (i->is_port()) out += fmt::format("interface {} device {}\n", i->name, quote_if_needed(i->device));
        else out += fmt::format("interface {} vlan {} parent {}\n", i->name, i->vlan, i->parent);
        if (i->mac) out += fmt::format("interface {} mac {}\n", i->name, i->mac->str());
        if (!i->description.empty())
            out += fmt::format("interface {} description {}\n", i->name, quote_if_needed(i->description));
        if (i->mtu != 1500) out += fmt::format("interface {} mtu {}\n", i->name, i->mtu);
        if (!i->vrf.empty()) out += fmt::format("interface {} vrf {}\n", i->name, i->vrf);
        for (auto& a : i->addresses) out += fmt::format("interface {} address {}\n", i->name, a.str());
        for (auto& [a, m] : i->static_neighbors)
            out += fmt::format("interface {} neighbor {} {}\n", i->name, a.str(), m.str());
        if (i->mpls) out += fmt::format("interface {} mpls\n", i->name);
        for (const Section* s : sections()) s->render_interface(*i, out);  // e.g. SAV's lines
        if (i->shutdown) out += fmt::format("interface {} shutdown\n", i->name);
    }
    return out;
}

class InterfacesSection final : public Section {
public:
    InterfacesSection() : Section("interfaces", 10) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool startup) const override;

    ChangeSet changes(const cmd::Parsed& c) const override {
        switch (Cmd(c.tag())) {
            case Cmd::InterfaceDescription:  // nothing here changes a route
            case Cmd::InterfaceMtu:
            case Cmd::InterfaceNeighbor:
            case Cmd::InterfaceMpls:
            case Cmd::InterfaceMac: return no_route_change();
            default: return {};
        }
    }

    std::optional<std::string> user(const RunningConfig& cfg, Ref what, const std::string& name) const override {
        if (what != Ref::vrf) return std::nullopt;
        for (auto& [n, i] : cfg.interfaces)
            if (i.vrf == name) return fmt::format("interface {} is in vrf {}; move it out first", n, name);
        return std::nullopt;
    }

    std::vector<RenderPart> render_parts() const override { return {{50, render_interfaces}}; }

    CommandResult exec(Control& control, const cmd::Parsed& c) const override {
        std::optional<std::string> only;
        if (Cmd(c.tag()) != Cmd::ShowInterfaces) only = c.word("name");
        return show_interfaces(control.config(), control.fib(), control.counters(), only);
    }
};

std::optional<std::string> InterfacesSection::apply(RunningConfig& cfg, const cmd::Parsed& c, bool startup) const {
    const std::string& name = c.word("name");
    auto it = cfg.interfaces.find(name);

    if (Cmd(c.tag()) == Cmd::InterfaceDevice) {
        if (!startup) return "ports are bound to devices in the startup configuration only (restart rampartd to add one)";
        if (it != cfg.interfaces.end()) return fmt::format("interface {} already exists", name);
        InterfaceConfig i;
        i.name = name;
        i.device = c.word("dev");
        cfg.interfaces.emplace(name, std::move(i));
        return std::nullopt;
    }
    if (Cmd(c.tag()) == Cmd::InterfaceVlan) {
        const std::string& parent = c.word("parent");
        uint16_t vid = uint16_t(c.number("vid"));
        if (c.negated) {
            if (it == cfg.interfaces.end() || it->second.parent != parent || it->second.vlan != vid)
                return fmt::format("no sub-interface {} with vlan {} on {}", name, vid, parent);
            // A deleted sub-interface must not leave routes or labels pointing at it.
            if (auto user = first_user(cfg, Ref::interface, name)) return user;
            cfg.interfaces.erase(it);
            return std::nullopt;
        }
        if (it != cfg.interfaces.end()) return fmt::format("interface {} already exists", name);
        auto p = cfg.interfaces.find(parent);
        if (p == cfg.interfaces.end()) return fmt::format("unknown parent interface {}", parent);
        if (!p->second.is_port()) return fmt::format("parent {} is itself a sub-interface", parent);
        for (auto& [n, i] : cfg.interfaces)
            if (i.parent == parent && i.vlan == vid) return fmt::format("vlan {} on {} is already {}", vid, parent, n);
        InterfaceConfig i;
        i.name = name;
        i.parent = parent;
        i.vlan = vid;
        cfg.interfaces.emplace(name, std::move(i));
        return std::nullopt;
    }
    if (it == cfg.interfaces.end()) return fmt::format("unknown interface {}", name);
    InterfaceConfig& i = it->second;
    switch (Cmd(c.tag())) {
        case Cmd::InterfaceAddress: {
            Prefix p = c.prefix("prefix");
            auto pos = std::find(i.addresses.begin(), i.addresses.end(), p);
            if (c.negated) {
                if (pos == i.addresses.end()) return fmt::format("{} has no address {}", name, p.str());
                i.addresses.erase(pos);
                return std::nullopt;
            }
            if (pos != i.addresses.end()) return fmt::format("{} already has address {}", name, p.str());
            if (p.network().addr == p.addr && p.len < p.addr.bits() - (p.addr.is_v4() ? 1 : 0))
                return fmt::format("{} is a network address, not a host address", p.str());
            for (auto& a : i.addresses)
                if (a.addr == p.addr) return fmt::format("address {} is already on {}", p.addr.str(), name);
            if (auto clash = address_clash(cfg, name, p, i.vrf)) return clash;
            i.addresses.push_back(p);
            return std::nullopt;
        }
        case Cmd::InterfaceNeighbor: {
            IpAddr a = c.ip("address");
            auto pos = i.static_neighbors.find(a);
            if (c.negated) {
                if (pos == i.static_neighbors.end()) return fmt::format("{} has no static neighbor {}", name, a.str());
                i.static_neighbors.erase(pos);
                return std::nullopt;
            }
            MacAddr m = c.mac("mac");
            if (m.bytes[0] & 1) return fmt::format("{} is a multicast MAC address", m.str());
            i.static_neighbors[a] = m;
            return std::nullopt;
        }
        case Cmd::InterfaceMtu:
            i.mtu = c.negated ? 1500 : uint16_t(c.number("mtu"));
            return std::nullopt;
        case Cmd::InterfaceShutdown:
            i.shutdown = !c.negated;
            return std::nullopt;
        case Cmd::InterfaceDescription:
            i.description = c.negated ? "" : c.word("text");
            return std::nullopt;
        case Cmd::InterfaceMpls:
            i.mpls = !c.negated;
            return std::nullopt;
        case Cmd::InterfaceVrf: {
            const std::string& vrf = c.word("vrf");
            std::string target;  // the table the interface moves to
            if (c.negated) {
                if (i.vrf != vrf)
                    return i.vrf.empty() ? fmt::format("{} is not in vrf {} but in the default table", name, shown(vrf))
                                         : fmt::format("{} is not in vrf {} but in vrf {}", name, shown(vrf), i.vrf);
            } else {
                if (!cfg.vrfs.count(vrf)) return fmt::format("unknown vrf {}", shown(vrf));
                target = vrf;
            }
            for (auto& a : i.addresses)
                if (auto clash = address_clash(cfg, name, a, target))
                    return fmt::format("{} cannot move to {}: {}", name, table_name(target), *clash);
            i.vrf = target;
            return std::nullopt;
        }
        case Cmd::InterfaceMac: {
            if (!startup) return "a port's MAC address is set in the startup configuration only (restart rampartd to change it)";
            if (!i.is_port()) return fmt::format("{} is a sub-interface: it has its parent's MAC address", name);
            if (c.negated) {
                i.mac.reset();
                return std::nullopt;
            }
            MacAddr m = c.mac("mac");
            if (m.bytes[0] & 1) return fmt::format("{} is a multicast MAC address", m.str());
            if (m == MacAddr{}) return fmt::format("{} is not a usable MAC address", m.str());
            i.mac = m;
            return std::nullopt;
        }
        default: return "not an interface command";
    }
}



const InterfacesSection kSection;

}  // namespace
}  // namespace rampart::config

namespace rampart {

std::vector<const InterfaceConfig*> ordered_interfaces(const RunningConfig& config) {
    std::vector<const InterfaceConfig*> out;
    for (auto& [n, i] : config.interfaces)
        if (i.is_port()) out.push_back(&i);
    for (auto& [n, i] : config.interfaces)
        if (!i.is_port()) out.push_back(&i);
    return out;
}

}  // namespace rampart
