#include "common/command.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart::cmd {
namespace {

// ---------------------------------------------------------------------------
// The command table: the single source of truth for parse, complete and help.
// ---------------------------------------------------------------------------

enum class Negatable : bool { no = false, yes = true };

struct CommandSpec {
    Id id;
    std::string_view pattern;
    std::string_view help;                       // what the whole command does; shown next to <cr>
    std::array<std::string_view, 24> token_help;  // one per pattern token, in pattern order
    Negatable negatable;
    Scope scope;
};

constexpr std::string_view kInterface = "Configure an interface";
constexpr std::string_view kIfName = "Interface name";
constexpr std::string_view kRoute = "Configure a static route";
constexpr std::string_view kDestination = "Destination prefix, e.g. 198.51.100.0/24 or 2001:db8:1::/48";
constexpr std::string_view kOutInterface = "Outgoing interface name";
constexpr std::string_view kShow = "Show operational state";
constexpr std::string_view kInVrf = "In a VRF instead of the default table";
constexpr std::string_view kVrf = "Configure a VRF (a routing table of its own)";
constexpr std::string_view kVrfName = "VRF name";
constexpr std::string_view kGateway = "Gateway IPv4/IPv6 address";
constexpr std::string_view kVia = "Forward through a gateway";
constexpr std::string_view kViaIf = "Resolve the gateway on this interface only";
constexpr std::string_view kPushLabels = "Push an MPLS label stack";
constexpr std::string_view kLabelStack = "Labels to push, top of stack first";
constexpr std::string_view kBackup = "Fast-reroute repair path, taken the moment the primary's interface goes down";
constexpr std::string_view kBackupGateway = "Repair gateway IPv4/IPv6 address";
constexpr std::string_view kBackupIf = "Resolve the repair gateway on this interface only";
constexpr std::string_view kBackupLabels = "Push this label stack on the repair path instead";
constexpr std::string_view kBackupStack = "Repair labels to push, top of stack first";
constexpr std::string_view kMpls = "Configure MPLS";
constexpr std::string_view kMplsLabel = "Static incoming label (ILM entry)";
constexpr std::string_view kInLabel = "Incoming label";
constexpr std::string_view kSr = "Configure segment routing (SR-MPLS)";
constexpr std::string_view kPolicy = "SR policy: an explicit segment list";
constexpr std::string_view kPolicyName = "Policy name";
constexpr std::string_view kIpsec = "Configure IPsec (manually keyed ESP in tunnel mode)";
constexpr std::string_view kSa = "A security association: one direction of an ESP tunnel";
constexpr std::string_view kSaName = "SA name";
constexpr std::string_view kSpi = "Security parameter index carried in each ESP packet";
constexpr std::string_view kSpiValue = "SPI";
constexpr std::string_view kTunnel = "Tunnel mode between these outer addresses";
constexpr std::string_view kTunnelLocal = "Our tunnel endpoint IPv4/IPv6 address";
constexpr std::string_view kTunnelRemote = "The peer's tunnel endpoint address, of the same family";
constexpr std::string_view kSaVrf = "The inner traffic belongs to a VRF instead of the default table";
constexpr std::string_view kKey = "The key";
constexpr std::string_view kKeyValue = "Key bytes in hex, e.g. 0x000102...; AEAD keys end with the 4-byte salt";
constexpr std::string_view kSpd = "Security policy database entry, checked in sequence order per VRF";
constexpr std::string_view kSeq = "Sequence number: lower entries are checked first";
constexpr std::string_view kSpdVrf = "An entry of a VRF's SPD instead of the default table's";
constexpr std::string_view kSpdLocal = "Our side's inner addresses";
constexpr std::string_view kSpdLocalPrefix = "Local prefix, e.g. 192.0.2.0/24";
constexpr std::string_view kSpdRemote = "The peer side's inner addresses";
constexpr std::string_view kSpdRemotePrefix = "Remote prefix, of the same family";
constexpr std::string_view kSpdProtocol = "Only this IP protocol (next header)";
constexpr std::string_view kSpdProtocolValue = "Protocol number, e.g. 6 TCP, 17 UDP, 1 ICMP";
constexpr std::string_view kSpdLocalPorts = "Our side's port range (TCP/UDP/SCTP), or the ICMP type range";
constexpr std::string_view kSpdRemotePorts = "The peer side's port range (TCP/UDP/SCTP), or the ICMP code range";
constexpr std::string_view kPortLo = "Lowest port (or ICMP type/code)";
constexpr std::string_view kPortHi = "Highest port (or ICMP type/code)";
constexpr std::string_view kSav = "Source address validation";
constexpr std::string_view kIke = "Configure IKEv2 (RFC 7296): connections that negotiate ESP SAs";
constexpr std::string_view kIkeConn = "An IKEv2 connection to one peer";
constexpr std::string_view kIkeConnName = "Connection name";
constexpr std::string_view kIkeExec = "IKEv2 actions";
constexpr std::string_view kIkeIdType = "Identity type: ip, fqdn, email, dn or key-id";
constexpr std::string_view kIkeIdValue =
    "An address, a host name, an e-mail address, a quoted distinguished name (\"C=CH, O=Example, CN=gw\") or hex key-id bytes";
constexpr std::string_view kIkeTsList = "The Child SA's TS-list: up to 32 selectors each side";
constexpr std::string_view kNoHelp = "Delete a setting or restore its default";

constexpr Scope kBoth = Scope::config_and_exec;

// clang-format off
constexpr CommandSpec kCommands[] = {
    {Id::InterfaceDevice, "interface <name:IFNAME> device <dev:WORD>",
     "Bind an interface to a DPDK port (startup config only)",
     {kInterface, kIfName, "Bind the interface to a DPDK port",
      "DPDK device: PCI address or vdev arguments, e.g. net_af_packet0,iface=veth0"},
     Negatable::no, Scope::config_only},
    {Id::InterfaceVlan, "interface <name:IFNAME> vlan <vid:UINT(1-4094)> parent <parent:IFNAME>",
     "Create an 802.1Q sub-interface on a parent interface",
     {kInterface, kIfName, "Make this an 802.1Q VLAN sub-interface", "VLAN id",
      "Interface that carries the tagged frames", "Parent interface name"},
     Negatable::yes, kBoth},
    {Id::InterfaceAddress, "interface <name:IFNAME> address <prefix:PREFIX>",
     "Add an IPv4/IPv6 address with prefix length to an interface",
     {kInterface, kIfName, "IPv4/IPv6 interface address",
      "Address with prefix length, e.g. 192.0.2.1/24 or 2001:db8::1/64"},
     Negatable::yes, kBoth},
    {Id::InterfaceMtu, "interface <name:IFNAME> mtu <mtu:UINT(68-9216)>",
     "Set the IP MTU of an interface",
     {kInterface, kIfName, "Maximum transmission unit", "IP MTU in bytes"},
     Negatable::yes, kBoth},
    {Id::InterfaceShutdown, "interface <name:IFNAME> shutdown",
     "Administratively disable an interface (no: enable it)",
     {kInterface, kIfName, "Administratively disable the interface"},
     Negatable::yes, kBoth},
    {Id::InterfaceDescription, "interface <name:IFNAME> description <text:WORD>",
     "Set a free-text description of an interface",
     {kInterface, kIfName, "Free-text description",
      "Description text; quote it if it contains spaces"},
     Negatable::yes, kBoth},
    {Id::InterfaceNeighbor, "interface <name:IFNAME> neighbor <address:IP> <mac:MAC>",
     "Add a static neighbor (ARP/ND entry) on an interface",
     {kInterface, kIfName, "Static neighbor: never learnt or aged by the kernel",
      "Neighbor IPv4/IPv6 address", "Neighbor MAC address, e.g. 02:00:5e:00:53:01"},
     Negatable::yes, kBoth},
    {Id::InterfaceMpls, "interface <name:IFNAME> mpls",
     "Accept MPLS-labelled packets on an interface (no: drop and count them)",
     {kInterface, kIfName, "Accept MPLS-labelled packets on this interface"},
     Negatable::yes, kBoth},
    {Id::InterfaceVrf, "interface <name:IFNAME> vrf <vrf:WORD>",
     "Bind an interface to a VRF (no: back to the default table)",
     {kInterface, kIfName, "Bind the interface to a VRF", kVrfName},
     Negatable::yes, kBoth},
    {Id::Route,
     "route [vrf <vrf:WORD>] <prefix:PREFIX> via <gateway:IP> [interface <ifname:IFNAME>] [labels <labels:LABELS>] "
     "[backup <backup:IP> [backup-interface <backup-ifname:IFNAME>] [backup-labels <backup-labels:LABELS>]]",
     "Add a static route through a gateway",
     {kRoute, kInVrf, kVrfName, kDestination, kVia, kGateway, kViaIf, kOutInterface,
      "Push an MPLS label stack (FTN)", kLabelStack, kBackup, kBackupGateway, kBackupIf, kOutInterface,
      kBackupLabels, kBackupStack},
     Negatable::yes, kBoth},
    {Id::Route, "route [vrf <vrf:WORD>] <prefix:PREFIX> interface <ifname:IFNAME>",
     "Add a directly attached static route",
     {kRoute, kInVrf, kVrfName, kDestination, "Directly attached: send straight out of an interface", kOutInterface},
     Negatable::yes, kBoth},
    {Id::Route, "route [vrf <vrf:WORD>] <prefix:PREFIX> blackhole",
     "Add a route that silently discards packets",
     {kRoute, kInVrf, kVrfName, kDestination, "Silently discard matching packets"},
     Negatable::yes, kBoth},
    {Id::Route, "route [vrf <vrf:WORD>] <prefix:PREFIX> unreachable",
     "Add a route that discards packets and answers ICMP unreachable",
     {kRoute, kInVrf, kVrfName, kDestination, "Discard matching packets and answer ICMP unreachable"},
     Negatable::yes, kBoth},
    {Id::Route, "route [vrf <vrf:WORD>] <prefix:PREFIX> next-vrf <target:WORD>",
     "Add a route that looks the destination up in another VRF (route leaking)",
     {kRoute, kInVrf, kVrfName, kDestination, "Look the destination up in another VRF",
      "VRF to look it up in; \"default\" for the default table"},
     Negatable::yes, kBoth},
    {Id::Route, "route [vrf <vrf:WORD>] <prefix:PREFIX> policy <policy:WORD>",
     "Add a route that steers packets into an SR policy",
     {kRoute, kInVrf, kVrfName, kDestination, "Steer matching packets into an SR policy", kPolicyName},
     Negatable::yes, kBoth},
    {Id::IcmpRateLimit, "icmp rate-limit <pps:UINT(0-1000000)>",
     "Limit the ICMP errors each worker sends per second",
     {"ICMP error generation", "Limit the ICMP errors each worker sends",
      "ICMP errors per second per worker; 0 sends none"},
     Negatable::yes, kBoth},
    {Id::Vrf, "vrf <vrf:WORD>", "Create a VRF (no: delete it with its routes)",
     {kVrf, kVrfName}, Negatable::yes, kBoth},
    {Id::VrfLabel, "vrf <vrf:WORD> label <label:UINT(16-1048575)>",
     "Set the VRF's VPN label: labelled packets carrying it are looked up in the VRF",
     {kVrf, kVrfName, "Per-VRF VPN label (RFC 4364)", "Local label"}, Negatable::yes, kBoth},
    {Id::MplsLabelRange, "mpls label-range <lo:UINT(16-1048575)> <hi:UINT(16-1048575)>",
     "Set the range of local labels accepted on the wire",
     {kMpls, "Local labels accepted on the wire; others are dropped", "Lowest label", "Highest label"},
     Negatable::yes, kBoth},
    {Id::MplsTtlMode, "mpls ttl-mode uniform", "Copy the TTL between the IP header and the label stack",
     {kMpls, "How the TTL crosses the label stack (RFC 3443)", "Copy the TTL in and out of the label stack"},
     Negatable::yes, kBoth},
    {Id::MplsTtlMode, "mpls ttl-mode pipe", "Keep the label stack's TTL separate from the IP header's",
     {kMpls, "How the TTL crosses the label stack (RFC 3443)", "Leave the IP TTL alone inside the tunnel"},
     Negatable::yes, kBoth},
    {Id::MplsLabel,
     "mpls label <in:UINT(16-1048575)> swap <labels:LABELS> via <gateway:IP> [interface <ifname:IFNAME>] "
     "[backup <backup:IP> [backup-interface <backup-ifname:IFNAME>] [backup-labels <backup-labels:LABELS>]]",
     "Add a path that swaps an incoming label for a label stack",
     {kMpls, kMplsLabel, kInLabel, "Swap the label for a label stack and forward",
      "Outgoing labels, top of stack first", kVia, kGateway, kViaIf, kOutInterface, kBackup, kBackupGateway,
      kBackupIf, kOutInterface, kBackupLabels, kBackupStack},
     Negatable::yes, kBoth},
    {Id::MplsLabel,
     "mpls label <in:UINT(16-1048575)> pop via <gateway:IP> [interface <ifname:IFNAME>] "
     "[backup <backup:IP> [backup-interface <backup-ifname:IFNAME>] [backup-labels <backup-labels:LABELS>]]",
     "Add a path that pops an incoming label and forwards (penultimate hop popping)",
     {kMpls, kMplsLabel, kInLabel, "Pop the label and forward", kVia, kGateway, kViaIf, kOutInterface, kBackup,
      kBackupGateway, kBackupIf, kOutInterface, kBackupLabels, kBackupStack},
     Negatable::yes, kBoth},
    {Id::MplsLabel, "mpls label <in:UINT(16-1048575)> lookup [vrf <vrf:WORD>]",
     "Pop an incoming label and look the payload up in a VRF or the default table",
     {kMpls, kMplsLabel, kInLabel, "Pop the label and look up what it carried",
      "In a VRF instead of the default table", kVrfName},
     Negatable::yes, kBoth},
    {Id::MplsLabel, "mpls label <in:UINT(16-1048575)> drop", "Discard packets carrying an incoming label",
     {kMpls, kMplsLabel, kInLabel, "Discard packets carrying this label"}, Negatable::yes, kBoth},
    {Id::SrSrgb, "segment-routing srgb <lo:UINT(16-1048575)> <hi:UINT(16-1048575)>",
     "Set the segment routing global block (the labels of prefix SIDs)",
     {kSr, "Segment routing global block: local labels of prefix SIDs", "Lowest label", "Highest label"},
     Negatable::yes, kBoth},
    {Id::SrPrefixSid, "segment-routing prefix-sid <prefix:PREFIX> index <index:UINT(0-1048575)>",
     "Give a prefix a SID: its label is the SRGB base plus the index",
     {kSr, "Prefix SID (a node SID for a host prefix)", "Prefix the SID stands for, e.g. 192.0.2.1/32",
      "Index into the SRGB", "SID index"},
     Negatable::yes, kBoth},
    {Id::SrNeighborSrgb, "segment-routing neighbor-srgb <gateway:IP> <lo:UINT(16-1048575)> <hi:UINT(16-1048575)>",
     "Set a next hop's SRGB when it differs from ours",
     {kSr, "A next hop's SRGB, used to label prefix SIDs sent to it", "Next hop IPv4/IPv6 address",
      "Lowest label", "Highest label"},
     Negatable::yes, kBoth},
    {Id::SrAdjacencySid, "segment-routing adjacency-sid <label:UINT(16-1048575)> via <gateway:IP> [interface <ifname:IFNAME>]",
     "Add an adjacency SID: pop the label and send to one neighbor",
     {kSr, "Adjacency SID: a local label that pops and sends to one neighbor", "Local label",
      "The adjacency", "Neighbor IPv4/IPv6 address", kViaIf, kOutInterface},
     Negatable::yes, kBoth},
    {Id::SrPolicy, "segment-routing policy <policy:WORD> segments <labels:LABELS> via <gateway:IP> [interface <ifname:IFNAME>]",
     "Create or replace an SR policy (no: delete it)",
     {kSr, kPolicy, kPolicyName, "Explicit segment list", "Segment labels, first segment on top",
      "Where the segment list is sent", kGateway, kViaIf, kOutInterface},
     Negatable::yes, kBoth},
    {Id::SrPolicyBindingSid, "segment-routing policy <policy:WORD> binding-sid <label:UINT(16-1048575)>",
     "Give an SR policy a binding SID: a local label that steers into it",
     {kSr, kPolicy, kPolicyName, "Binding SID: local label that steers into the policy", "Local label"},
     Negatable::yes, kBoth},
    {Id::IpsecSa,
     "ipsec sa <name:WORD> inbound spi <spi:UINT(256-4294967295)> tunnel <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an inbound SA or change its SPI, endpoints or VRF (no: delete it)",
     {kIpsec, kSa, kSaName, "Inbound: decrypts ESP arriving from the peer", kSpi, kSpiValue, kTunnel, kTunnelLocal,
      kTunnelRemote, kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {Id::IpsecSa,
     "ipsec sa <name:WORD> outbound spi <spi:UINT(256-4294967295)> tunnel <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an outbound SA or change its SPI, endpoints or VRF (no: delete it)",
     {kIpsec, kSa, kSaName, "Outbound: encrypts traffic towards the peer", kSpi, kSpiValue, kTunnel, kTunnelLocal,
      kTunnelRemote, kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {Id::IpsecSa,
     "ipsec sa <name:WORD> inbound spi <spi:UINT(256-4294967295)> transport <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an inbound transport-mode SA for traffic to the box itself (no: delete it)",
     {kIpsec, kSa, kSaName, "Inbound: decrypts ESP arriving from the peer", kSpi, kSpiValue,
      "Transport mode: protects the box's own traffic with this peer", "The box's address",
      "The peer's address", kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {Id::IpsecSa,
     "ipsec sa <name:WORD> outbound spi <spi:UINT(256-4294967295)> transport <local:IP> <remote:IP> [vrf <vrf:WORD>]",
     "Create an outbound transport-mode SA for traffic from the box itself (no: delete it)",
     {kIpsec, kSa, kSaName, "Outbound: encrypts traffic towards the peer", kSpi, kSpiValue,
      "Transport mode: protects the box's own traffic with this peer", "The box's address",
      "The peer's address", kSaVrf, kVrfName},
     Negatable::yes, kBoth},
    {Id::IpsecSaEncryption, "ipsec sa <name:WORD> encryption <cipher:WORD> key <key:HEX>",
     "Set an SA's cipher and key (no: remove them)",
     {kIpsec, kSa, kSaName, "Cipher and key",
      "aes-gcm-128, aes-gcm-256, chacha20-poly1305 (AEAD); aes-cbc-128, aes-cbc-256 (need integrity)", kKey,
      kKeyValue},
     Negatable::yes, kBoth},
    {Id::IpsecSaEncryption, "ipsec sa <name:WORD> encryption null",
     "Send an SA's traffic unencrypted (ESP-NULL, RFC 2410; needs integrity)",
     {kIpsec, kSa, kSaName, "Cipher and key", "No encryption: integrity only (RFC 2410)"},
     Negatable::yes, kBoth},
    {Id::IpsecSaIntegrity, "ipsec sa <name:WORD> integrity <integrity:WORD> key <key:HEX>",
     "Set an SA's integrity algorithm and key, for a non-AEAD cipher (no: remove them)",
     {kIpsec, kSa, kSaName, "Integrity algorithm and key (not with an AEAD cipher)",
      "hmac-sha-256, hmac-sha-384 or hmac-sha-512 (RFC 4868)", kKey, "HMAC key bytes in hex, as long as the digest"},
     Negatable::yes, kBoth},
    {Id::IpsecSaEsn, "ipsec sa <name:WORD> esn", "Use 64-bit extended sequence numbers (RFC 4304)",
     {kIpsec, kSa, kSaName, "Extended (64-bit) sequence numbers"}, Negatable::yes, kBoth},
    {Id::IpsecSaNatTraversal, "ipsec sa <name:WORD> nat-traversal [remote-port <port:UINT(1-65535)>]",
     "UDP-encapsulate the SA's ESP on port 4500 (RFC 3948)",
     {kIpsec, kSa, kSaName, "UDP encapsulation for NAT traversal: ESP in UDP from and to port 4500",
      "The peer's UDP port when a NAT maps it elsewhere", "UDP port (default 4500)"},
     Negatable::yes, kBoth},
    {Id::IpsecSaLifetime, "ipsec sa <name:WORD> lifetime [packets|kilobytes|seconds] <soft:UINT(1-4294967295)> <hard:UINT(1-4294967295)>",
     "Soft (rekey) and hard (end of the SA) lifetime in packets, kilobytes or seconds",
     {kIpsec, kSa, kSaName, "SA lifetime: at the soft limit the control core is told to rekey, at the hard one the SA ends",
      "Count packets", "Count kilobytes of payload", "Count seconds since the SA was installed",
      "Soft limit", "Hard limit (at least the soft one)"},
     Negatable::yes, kBoth},
    {Id::IpsecSaIpMtu, "ipsec sa <name:WORD> ip-mtu <mtu:UINT(576-9216)>",
     "Largest clear packet sent into an outbound SA's tunnel (no: from the egress MTU)",
     {kIpsec, kSa, kSaName, "Tunnel IP MTU: larger packets are fragmented before encryption, or refused with ICMP",
      "Bytes of the inner packet"},
     Negatable::yes, kBoth},
    {Id::IpsecSaEncapsulatedIpMtu, "ipsec sa <name:WORD> encapsulated-ip-mtu <mtu:UINT(576-9216)>",
     "Largest ESP packet an outbound SA sends; larger ones are fragmented after encryption (no: the egress MTU, fragmenting before)",
     {kIpsec, kSa, kSaName, "Encapsulated IP MTU: the tunnel packet is fragmented after encryption to fit it",
      "Bytes of the outer (ESP) packet"},
     Negatable::yes, kBoth},
    {Id::IpsecSaReplayWindow, "ipsec sa <name:WORD> replay-window <packets:UINT(64-4096)>",
     "Set an inbound SA's anti-replay window (no: back to 64)",
     {kIpsec, kSa, kSaName, "Anti-replay window of an inbound SA", "Packets, a multiple of 64"},
     Negatable::yes, kBoth},
    {Id::IpsecPolicy,
     "ipsec policy <seq:UINT(1-65535)> [vrf <vrf:WORD>] local <local:PREFIX> remote <remote:PREFIX> "
     "[protocol <protocol:UINT(0-255)>] [local-ports <lport-lo:UINT(0-65535)> <lport-hi:UINT(0-65535)>] "
     "[remote-ports <rport-lo:UINT(0-65535)> <rport-hi:UINT(0-65535)>] protect <outbound-sa:WORD> "
     "[inbound <inbound-sa:WORD>]",
     "Add or replace an SPD entry that sends matching traffic through an SA (no: delete it)",
     {kIpsec, kSpd, kSeq, kSpdVrf, kVrfName, kSpdLocal, kSpdLocalPrefix, kSpdRemote, kSpdRemotePrefix, kSpdProtocol,
      kSpdProtocolValue, kSpdLocalPorts, kPortLo, kPortHi, kSpdRemotePorts, kPortLo, kPortHi,
      "Encrypt matching traffic with an outbound SA", "Outbound SA name",
      "Decrypted traffic must have come through this inbound SA", "Inbound SA name"},
     Negatable::yes, kBoth},
    {Id::IpsecPolicy,
     "ipsec policy <seq:UINT(1-65535)> [vrf <vrf:WORD>] local <local:PREFIX> remote <remote:PREFIX> "
     "[protocol <protocol:UINT(0-255)>] [local-ports <lport-lo:UINT(0-65535)> <lport-hi:UINT(0-65535)>] "
     "[remote-ports <rport-lo:UINT(0-65535)> <rport-hi:UINT(0-65535)>] bypass",
     "Add or replace an SPD entry that lets matching traffic pass in the clear (no: delete it)",
     {kIpsec, kSpd, kSeq, kSpdVrf, kVrfName, kSpdLocal, kSpdLocalPrefix, kSpdRemote, kSpdRemotePrefix, kSpdProtocol,
      kSpdProtocolValue, kSpdLocalPorts, kPortLo, kPortHi, kSpdRemotePorts, kPortLo, kPortHi,
      "Let matching traffic pass unprotected"},
     Negatable::yes, kBoth},
    {Id::IpsecPolicy,
     "ipsec policy <seq:UINT(1-65535)> [vrf <vrf:WORD>] local <local:PREFIX> remote <remote:PREFIX> "
     "[protocol <protocol:UINT(0-255)>] [local-ports <lport-lo:UINT(0-65535)> <lport-hi:UINT(0-65535)>] "
     "[remote-ports <rport-lo:UINT(0-65535)> <rport-hi:UINT(0-65535)>] discard",
     "Add or replace an SPD entry that drops matching traffic (no: delete it)",
     {kIpsec, kSpd, kSeq, kSpdVrf, kVrfName, kSpdLocal, kSpdLocalPrefix, kSpdRemote, kSpdRemotePrefix, kSpdProtocol,
      kSpdProtocolValue, kSpdLocalPorts, kPortLo, kPortHi, kSpdRemotePorts, kPortLo, kPortHi,
      "Drop matching traffic"},
     Negatable::yes, kBoth},
    {Id::InterfaceSav,
     "interface <name:IFNAME> sav [off|strict|loose|loose-default|feasible-path|efp-a|efp-b|bar-sav] [monitor]",
     "Source address validation on an interface: the mechanism, and monitor (count refused sources, still forward) (no: off)",
     {kInterface, kIfName, "Source address validation of packets arriving here",
      "No SAV (no lookup at all)", "Strict uRPF (RFC 3704 2.2): the best route back leaves by this interface",
      "Loose uRPF (RFC 3704 2.4): some route other than the default covers the source",
      "Loose uRPF where the default route counts too",
      "Feasible-path uRPF (RFC 3704 2.3): any route received on this interface covers it",
      "EFP-uRPF algorithm A (RFC 8704 3.3)", "EFP-uRPF algorithm B (RFC 8704 3.4)",
      "BAR-SAV (draft-ietf-sidrops-bar-sav): customer cones from ASPA, ROAs and AS paths",
      "Monitor only: refused sources are counted per reason and forwarded"},
     Negatable::yes, kBoth},
    {Id::InterfaceSavRole, "interface <name:IFNAME> sav-role [customer|peer|provider] [asn <asn:UINT(1-4294967295)>]",
     "The neighbour's business role for SAV, and its AS number (no: customer, AS unknown)",
     {kInterface, kIfName, "The neighbour's role for source address validation", "The neighbour is our customer",
      "The neighbour is a lateral peer", "The neighbour is our provider", "The neighbour's AS number",
      "AS number (unknown: taken from the AS paths received)"},
     Negatable::yes, kBoth},
    {Id::SavAllow, "sav allow <prefix:PREFIX> interface <ifname:IFNAME>",
     "Allow sources in a prefix on an interface beyond what the routes say (no: remove)",
     {kSav, "Allow-list entry", "Source prefix", "The interface where they may enter", kIfName},
     Negatable::yes, kBoth},
    {Id::SavDeny, "sav deny <prefix:PREFIX>",
     "Refuse sources in a prefix on every interface with SAV on (no: remove)",
     {kSav, "Deny-list entry: refused whatever the mechanism", "Source prefix"}, Negatable::yes, kBoth},
    {Id::SavLocalAsn, "sav local-asn <asn:UINT(1-4294967295)>", "Our AS number, for the SAV compiler (no: unknown)",
     {kSav, "Our AS number", "AS number"}, Negatable::yes, kBoth},
    {Id::IkeConnection, "ike connection <name:WORD> local <local:IP> remote <remote:IP>",
     "Create an IKEv2 connection or change its addresses (no: delete it, closing its SAs)",
     {kIke, kIkeConn, kIkeConnName, "Our IKE address (one of the box's interface addresses)", "IPv4/IPv6 address",
      "The peer's IKE address", "IPv4/IPv6 address, of the same family"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionPsk, "ike connection <name:WORD> psk key <psk:HEX>",
     "Authenticate with a pre-shared key given in hex (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, "Pre-shared key authentication (RFC 7296 section 2.15)", kKey,
      "Pre-shared key bytes in hex"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionPsk, "ike connection <name:WORD> psk text key <psk:SECRET>",
     "Authenticate with a pre-shared key given as text (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, "Pre-shared key authentication (RFC 7296 section 2.15)",
      "The key is text (its bytes are used as they are)", kKey, "Pre-shared key text; quote it if it contains spaces"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionCertificate,
     "ike connection <name:WORD> certificate <cert:WORD> private-key <private-key:WORD> ca <ca:WORD>",
     "Authenticate with a certificate (RFC 7427 signatures) instead of a pre-shared key (no: back to the PSK)",
     {kIke, kIkeConn, kIkeConnName, "Our X.509 certificate: the peer authenticates us with it",
      "PEM file of the certificate (its subjectAltName must hold our IKE address), then any intermediate CA certificates to send", "Its private key",
      "PEM file of the unencrypted RSA or EC private key", "The peer's certificate must chain to these CAs",
      "PEM file of one or more CA certificates"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionProposal, "ike connection <name:WORD> proposal <proposal:WORD> dh <dh:UINT(1-65535)>",
     "Set the IKE SA's algorithms (no: back to aes-gcm-128 dh 19)",
     {kIke, kIkeConn, kIkeConnName, "IKE SA algorithms",
      "aes-gcm-128, aes-gcm-256, aes-cbc-128-sha256, aes-cbc-256-sha256, aes-cbc-256-sha384, aes-cbc-256-sha512",
      "Diffie-Hellman group", "14 (MODP 2048), 19 (ECP 256), 20 (ECP 384) or 31 (Curve25519)"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionChild,
     "ike connection <name:WORD> child local-ts <local-ts:PREFIX> remote-ts <remote-ts:PREFIX> [mode tunnel|mode transport] "
     "[esp-proposal <esp-proposal:WORD>] [policy <seq:UINT(1-65535)>]",
     "Set the Child SA: traffic selectors, mode, ESP algorithms and the SPD entry it installs (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, "The Child SA (ESP) the connection negotiates", "Our side's traffic selector",
      "Local prefix", "The peer side's traffic selector", "Remote prefix, of the same family", "ESP mode",
      "Tunnel mode (default)", "ESP mode", "Transport mode", "ESP algorithms",
      "aes-gcm-128 (default), aes-gcm-256, aes-cbc-128-sha256, aes-cbc-256-sha256, aes-cbc-256-sha384, aes-cbc-256-sha512",
      "Sequence number of the SPD entry it installs (default 1000)", "Sequence number"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionStartAction, "ike connection <name:WORD> start-action none",
     "What starts the connection: Only the peer or `ike initiate` starts it (default)",
     {kIke, kIkeConn, kIkeConnName, "What starts the connection", "Only the peer or `ike initiate` starts it (default)"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionStartAction, "ike connection <name:WORD> start-action trap",
     "What starts the connection: A trap policy: the first matching packet starts negotiation",
     {kIke, kIkeConn, kIkeConnName, "What starts the connection", "A trap policy: the first matching packet starts negotiation"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionStartAction, "ike connection <name:WORD> start-action start",
     "What starts the connection: Initiate as soon as it is configured",
     {kIke, kIkeConn, kIkeConnName, "What starts the connection", "Initiate as soon as it is configured"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionDpd, "ike connection <name:WORD> dpd <seconds:UINT(1-3600)>",
     "Check the peer's liveness after this many idle seconds (no: never)",
     {kIke, kIkeConn, kIkeConnName, "Dead peer detection (an empty INFORMATIONAL exchange)", "Seconds"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionLifetime, "ike connection <name:WORD> lifetime child <seconds:UINT(10-86400)>",
     "Rekey the Child SA after this many seconds (no: 3600)",
     {kIke, kIkeConn, kIkeConnName, "SA lifetimes", "The Child SA: rekeyed at this age, ended at 110%", "Seconds"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionLifetime, "ike connection <name:WORD> lifetime ike <seconds:UINT(60-86400)>",
     "Rekey the IKE SA after this many seconds (no: 14400)",
     {kIke, kIkeConn, kIkeConnName, "SA lifetimes", "The IKE SA: rekeyed in place at this age", "Seconds"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionPfs, "ike connection <name:WORD> pfs <group:UINT(1-65535)>",
     "Use PFS with this D-H group when Child SAs are rekeyed (no: no PFS)",
     {kIke, kIkeConn, kIkeConnName,
      "Perfect forward secrecy: a fresh D-H exchange in each CREATE_CHILD_SA (RFC 7296 section 1.3.1); the peer must do the same",
      "14 (MODP 2048), 19 (ECP 256), 20 (ECP 384) or 31 (Curve25519)"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionIdentity, "ike connection <name:WORD> local-id <id-type:WORD> <id:WORD>",
     "Present this identity (IDi/IDr) instead of our IKE address (no: the address)",
     {kIke, kIkeConn, kIkeConnName, "Our identity (RFC 7296 section 3.5)", kIkeIdType, kIkeIdValue},
     Negatable::yes, kBoth},
    {Id::IkeConnectionIdentity, "ike connection <name:WORD> remote-id <id-type:WORD> <id:WORD>",
     "The identity the peer must authenticate as, instead of its IKE address (no: the address)",
     {kIke, kIkeConn, kIkeConnName, "The peer's identity: any other one fails authentication", kIkeIdType,
      kIkeIdValue},
     Negatable::yes, kBoth},
    {Id::IkeConnectionTsList, "ike connection <name:WORD> ts-list local <prefix:PREFIX>",
     "Add a local traffic selector to the Child SA's TS-list, after the child line's (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, kIkeTsList, "Our side (TSi as initiator, TSr as responder)",
      "Local prefix, of the child's family, overlapping no other local entry"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionTsList, "ike connection <name:WORD> ts-list remote <prefix:PREFIX>",
     "Add a remote traffic selector to the Child SA's TS-list, after the child line's (no: remove it)",
     {kIke, kIkeConn, kIkeConnName, kIkeTsList, "The peer's side (TSr as initiator, TSi as responder)",
      "Remote prefix, of the child's family, overlapping no other remote entry"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionCrl, "ike connection <name:WORD> crl <crl:WORD>",
     "Refuse peer certificates this CA's CRL revokes (no: no revocation check)",
     {kIke, kIkeConn, kIkeConnName,
      "Certificate revocation list of the CA: a revoked or CRL-less peer certificate fails authentication",
      "PEM or DER file of the CRL (read when the connection starts)"},
     Negatable::yes, kBoth},
    {Id::IkeConnectionReverseRoute, "ike connection <name:WORD> reverse-route",
     "While a Child SA is up, route its remote prefixes to the peer (owner ike; no: never)",
     {kIke, kIkeConn, kIkeConnName,
      "Reverse routes: each remote traffic selector of the Child SA via the peer's IKE address, removed with the Child SA"},
     Negatable::yes, kBoth},
    {Id::IkePad, "ike pad <id-type:WORD> <id:WORD> remote-ts <prefix:PREFIX>",
     "Authorize a peer identity for Child SAs towards a remote prefix (no: withdraw it)",
     {kIke, "Peer authorization database (RFC 4301 section 4.4.3): with any entry, identities without one get no Child SA",
      kIkeIdType, kIkeIdValue, "Remote traffic selectors the identity may have (its TSi as responder)",
      "Remote prefix; the peer's selectors are narrowed to the identity's prefixes"},
     Negatable::yes, kBoth},
    {Id::IkeLockout,
     "ike lockout failures <failures:UINT(1-1000)> window <window:UINT(1-86400)> duration <duration:UINT(1-86400)>",
     "Lock a peer out after this many failed authentications within the window (no: 3 in 60 s for 60 s)",
     {kIke, "Lockout: a locked-out peer's IKE_SA_INIT requests are dropped unanswered and nothing is initiated",
      "Failed authentications that start a lockout", "Count", "Within this many seconds", "Seconds",
      "Lock out for this many seconds", "Seconds"},
     Negatable::yes, kBoth},
    {Id::IkeCookieThreshold, "ike cookie-threshold <half-open:UINT(0-1000000)>",
     "Ask for COOKIEs once this many responder IKE SAs are half-open (no: 8)",
     {kIke, "Responder cookies (RFC 7296 section 2.6) against IKE_SA_INIT floods",
      "Half-open responder IKE SAs (all connections); 0 asks every initiator"},
     Negatable::yes, kBoth},
    {Id::ShowInterfaces, "show interfaces", "Show all interfaces with their counters",
     {kShow, "All interfaces with their counters"}, Negatable::no, Scope::exec_only},
    {Id::ShowInterface, "show interface <name:IFNAME>", "Show one interface in detail",
     {kShow, "One interface in detail", kIfName}, Negatable::no, Scope::exec_only},
    {Id::ShowRoute, "show route [vrf <vrf:WORD>] [ipv4|ipv6] [<prefix:PREFIX>]", "Show the routing table",
     {kShow, "The routing table", "A VRF's table instead of the default one", kVrfName, "IPv4 routes only",
      "IPv6 routes only", "Only the route that this prefix resolves to"},
     Negatable::no, Scope::exec_only},
    {Id::ShowNeighbors, "show neighbors", "Show the ARP/ND neighbor cache",
     {kShow, "ARP/ND neighbor cache"}, Negatable::no, Scope::exec_only},
    {Id::ShowWorkers, "show workers", "Show the worker cores and their packet counters",
     {kShow, "Worker cores and their packet counters"}, Negatable::no, Scope::exec_only},
    {Id::ShowRunningConfig, "show running-config [secrets]", "Show the configuration in effect as config lines",
     {kShow, "Configuration in effect, as config lines (keys shown as <secret>)",
      "Show the keys too (the output then loads back)"},
     Negatable::no, Scope::exec_only},
    {Id::ShowVersion, "show version", "Show the rampartd version",
     {kShow, "rampartd version"}, Negatable::no, Scope::exec_only},
    {Id::ShowMplsIlm, "show mpls ilm", "Show the incoming label map (every local label and its action)",
     {kShow, "MPLS forwarding state", "Incoming label map: every local label and its action"},
     Negatable::no, Scope::exec_only},
    {Id::ShowMplsFtn, "show mpls ftn", "Show the routes that push labels (FEC to NHLFE)",
     {kShow, "MPLS forwarding state", "Routes that push labels (FEC to NHLFE)"}, Negatable::no, Scope::exec_only},
    {Id::ShowMplsLabel, "show mpls label <label:UINT(0-1048575)>", "Show what one local label does",
     {kShow, "MPLS forwarding state", "One local label", "Label"}, Negatable::no, Scope::exec_only},
    {Id::ShowSegmentRouting, "show segment-routing", "Show the SRGB, SIDs and SR policies",
     {kShow, "SRGB, SIDs and SR policies"}, Negatable::no, Scope::exec_only},
    {Id::ShowVrf, "show vrf [<vrf:WORD>]", "Show the VRFs, or one VRF in detail",
     {kShow, "VRFs with their interfaces and labels", "Only this VRF, in detail"}, Negatable::no, Scope::exec_only},
    {Id::ShowIpsecSa, "show ipsec sa [<name:WORD>]", "Show the IPsec SAs with their counters (never their keys)",
     {kShow, "IPsec state", "Security associations with their counters", "Only this SA, in detail"},
     Negatable::no, Scope::exec_only},
    {Id::ShowIpsecSaSpi, "show ipsec sa spi <spi:UINT(1-4294967295)>", "Show the IPsec SAs with this SPI (either direction)",
     {kShow, "IPsec state", "Security associations with their counters", "By SPI", "SPI (decimal)"},
     Negatable::no, Scope::exec_only},
    {Id::ShowIpsecSpd, "show ipsec spd [vrf <vrf:WORD>]", "Show the security policy database in sequence order",
     {kShow, "IPsec state", "Security policy database entries with their counters",
      "A VRF's SPD instead of the default table's", kVrfName},
     Negatable::no, Scope::exec_only},
    {Id::SavLoadMrt, "sav load mrt <path:WORD> interface <ifname:IFNAME>",
     "Load an interface's Adj-RIB-In from an MRT file (replaces the one loaded before; all or nothing)",
     {kSav, "Load SAV input from a file", "MRT (RFC 6396) TABLE_DUMP_V2 or BGP4MP file", "Path of the file",
      "Routes received on this interface", kIfName},
     Negatable::no, Scope::exec_only},
    {Id::SavLoadRpki, "sav load rpki <path:WORD>",
     "Load validated ROAs and ASPAs from rpki-client or Routinator JSON (replaces the previous set; all or nothing)",
     {kSav, "Load SAV input from a file", "RPKI relying-party JSON export (ROAs, ASPAs)", "Path of the file"},
     Negatable::no, Scope::exec_only},
    {Id::ShowSavInterface, "show sav interface <name:IFNAME>",
     "Show an interface's SAV mechanism, mode, rule count and counters",
     {kShow, kSav, "One interface's SAV state and counters", kIfName}, Negatable::no, Scope::exec_only},
    {Id::ShowSavPrefix, "show sav prefix <prefix:PREFIX>",
     "Show the interfaces where sources in a prefix may enter, and why for each",
     {kShow, kSav, "Where sources in a prefix may enter, and why", "Source prefix"}, Negatable::no,
     Scope::exec_only},
    {Id::ShowIkeSa, "show ike sa [detail]", "Show the IKE SAs and their Child SAs (never keys)",
     {kShow, "IKEv2 state", "IKE SAs: state, SPIs, peer, algorithms, Child SAs", "With counters and timers"},
     Negatable::no, Scope::exec_only},
    {Id::ShowIkePeers, "show ike peers", "Show the configured IKE connections and their state",
     {kShow, "IKEv2 state", "Configured connections, their peers and state"}, Negatable::no, Scope::exec_only},
    {Id::ShowIkeLockout, "show ike lockout",
     "Show the peers with recent authentication failures or locked out, and for how long",
     {kShow, "IKEv2 state", "Peers: failures in the window, lockout time left"}, Negatable::no, Scope::exec_only},
    {Id::ShowIkePad, "show ike pad", "Show the peer authorization database",
     {kShow, "IKEv2 state", "Identities and the remote traffic selectors they may have"}, Negatable::no,
     Scope::exec_only},
    {Id::ClearIkeLockout, "clear ike lockout [<address:IP>]",
     "Lift the lockout of a peer address, or of every peer, and forget its failures",
     {"Reset state", "IKEv2 state", "Lockouts and counted authentication failures", "Only this peer's IKE address"},
     Negatable::no, Scope::exec_only},
    {Id::ShowIkeSummary, "show ike summary", "Count the IKE SAs by state and the Child SAs, with the daemon's counters",
     {kShow, "IKEv2 state", "Counts and counters (thousands of tunnels: no line per SA)"}, Negatable::no,
     Scope::exec_only},
    {Id::ClearIkeSa, "clear ike sa <name:WORD>", "Delete a connection's IKE SA and Child SAs (as `ike terminate`)",
     {"Reset state", "IKEv2 state", "A connection's IKE SA", kIkeConnName}, Negatable::no, Scope::exec_only},
    {Id::IkeInitiate, "ike initiate <name:WORD>", "Negotiate a connection's IKE SA and Child SA now",
     {kIkeExec, "Start negotiating now", kIkeConnName}, Negatable::no, Scope::exec_only},
    {Id::IkeTerminate, "ike terminate <name:WORD>", "Delete a connection's IKE SA (the peer is told)",
     {kIkeExec, "Delete the IKE SA and its Child SAs", kIkeConnName}, Negatable::no, Scope::exec_only},
    {Id::IkeRekey, "ike rekey <name:WORD> [child]", "Rekey a connection's IKE SA, or its Child SA, now (CREATE_CHILD_SA)",
     {kIkeExec, "Rekey now, in place (CREATE_CHILD_SA)", kIkeConnName, "The Child SA instead of the IKE SA"},
     Negatable::no, Scope::exec_only},
    {Id::ClearCounters, "clear counters", "Reset the interface and worker counters",
     {"Reset state", "Interface and worker counters"}, Negatable::no, Scope::exec_only},
    {Id::WriteConfig, "write config <path:WORD>", "Write the running configuration to a file",
     {"Save state", "Running configuration as a config file", "Path of the file to write"},
     Negatable::no, Scope::exec_only},
};
// clang-format on

// ---------------------------------------------------------------------------
// Grammar: each pattern expanded into flat token sequences (one per way of
// taking its optional groups), which keeps matching a simple left-to-right walk.
// ---------------------------------------------------------------------------

enum class Kind : uint8_t { keyword, word, ifname, prefix, prefix4, prefix6, ip, mac, uint, labels, hex, secret };

// Key material (HEX keys, SECRET texts): never echoed, always after the keyword `key`.
bool is_secret_kind(Kind k) { return k == Kind::hex || k == Kind::secret; }
constexpr size_t kMaxSecretChars = 255;  // characters in one SECRET argument

struct TokenSpec {
    Kind kind = Kind::keyword;
    std::string text;  // the keyword itself, or the capture name of an argument
    uint32_t lo = 0;   // UINT range
    uint32_t hi = 0;
    std::string help;
    size_t order = 0;  // table row, then position in the pattern: the order help lists tokens in

    bool is_keyword() const { return kind == Kind::keyword; }
    std::string display() const { return is_keyword() ? text : "<" + text + ">"; }
};

struct Variant {
    const CommandSpec* command;
    std::vector<TokenSpec> tokens;

    bool usable(bool negated) const { return !negated || command->negatable == Negatable::yes; }
};

[[noreturn]] void table_bug(const CommandSpec& c, std::string_view what) {
    throw std::logic_error(fmt::format("command table: pattern '{}': {}", c.pattern, what));
}

bool parse_u32(std::string_view text, uint32_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

constexpr size_t kMaxLabels = 10;          // labels in one LABELS argument
constexpr uint32_t kMaxLabel = 1048575;    // 20 bits

// "16001/16002/3" (top of stack first) -> label values; on failure `reason`
// says what is wrong with the text.
std::optional<std::vector<uint32_t>> parse_label_stack(std::string_view text, std::string& reason) {
    std::vector<uint32_t> labels;
    if (text.empty()) {
        reason = "no labels";
        return std::nullopt;
    }
    for (size_t start = 0;;) {
        size_t slash = std::min(text.find('/', start), text.size());
        std::string_view label = text.substr(start, slash - start);
        if (label.empty()) {
            reason = "empty label";
            return std::nullopt;
        }
        if (!std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            reason = fmt::format("'{}' is not a number", label.size() > 24 ? std::string(label.substr(0, 21)) + "..."
                                                                                : std::string(label));
            return std::nullopt;
        }
        auto digits = label.substr(std::min(label.find_first_not_of('0'), label.size() - 1));
        uint32_t value = 0;
        if (digits.size() > 7 || !parse_u32(digits, value) || value > kMaxLabel) {
            reason = fmt::format("label {} is out of range 0-{}",
                                 digits.size() > 24 ? std::string(digits.substr(0, 21)) + "..." : std::string(digits),
                                 kMaxLabel);
            return std::nullopt;
        }
        if (labels.size() == kMaxLabels) {
            reason = fmt::format("more than {} labels", kMaxLabels);
            return std::nullopt;
        }
        labels.push_back(value);
        if (slash == text.size()) return labels;
        start = slash + 1;
    }
}

constexpr size_t kMaxHexBytes = 128;  // bytes in one HEX argument

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "0x0001ff" or "0001FF" -> bytes. Key material: `reason` never quotes the text.
std::optional<std::vector<uint8_t>> parse_hex(std::string_view text, std::string& reason) {
    size_t skip = text.starts_with("0x") || text.starts_with("0X") ? 2 : 0;
    auto digits = text.substr(skip);
    for (size_t i = 0; i < digits.size(); ++i)
        if (hex_digit(digits[i]) < 0) {
            reason = fmt::format("character {} is not a hex digit", skip + i + 1);
            return std::nullopt;
        }
    if (digits.empty()) {
        reason = "no hex digits";
        return std::nullopt;
    }
    if (digits.size() % 2) {
        reason = fmt::format("{} hex digits, not a whole number of bytes", digits.size());
        return std::nullopt;
    }
    if (digits.size() / 2 > kMaxHexBytes) {
        reason = fmt::format("{} bytes, at most {}", digits.size() / 2, kMaxHexBytes);
        return std::nullopt;
    }
    std::vector<uint8_t> bytes(digits.size() / 2);
    for (size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<uint8_t>(hex_digit(digits[2 * i]) << 4 | hex_digit(digits[2 * i + 1]));
    return bytes;
}

std::string hex_text(const std::vector<uint8_t>& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

std::string label_stack_text(const std::vector<uint32_t>& labels) {
    std::string out;
    for (uint32_t l : labels) {
        if (!out.empty()) out += '/';
        out += std::to_string(l);
    }
    return out;
}

// Turns one pattern into its flat variants. Grammar: seq := (atom | '[' seq ('|' seq)* ']')*
class PatternCompiler {
public:
    PatternCompiler(const CommandSpec& command, size_t row)
        : command_(command), row_(row), symbols_(split(command.pattern)) {}

    std::vector<std::vector<TokenSpec>> compile() {
        auto variants = sequence();
        if (pos_ < symbols_.size()) table_bug(command_, "unbalanced ']' or '|'");
        if (next_help_ != help_count()) table_bug(command_, "token and help counts differ");
        return variants;
    }

private:
    using Expansions = std::vector<std::vector<TokenSpec>>;

    // Atoms and the group symbols '[', '|', ']' (which need no spaces around them).
    static std::vector<std::string> split(std::string_view pattern) {
        auto is_group_symbol = [](char c) { return c == '[' || c == ']' || c == '|'; };
        std::vector<std::string> symbols;
        for (size_t i = 0; i < pattern.size();) {
            if (pattern[i] == ' ') {
                ++i;
            } else if (is_group_symbol(pattern[i])) {
                symbols.emplace_back(1, pattern[i++]);
            } else {
                size_t start = i;
                while (i < pattern.size() && pattern[i] != ' ' && !is_group_symbol(pattern[i])) ++i;
                symbols.emplace_back(pattern.substr(start, i - start));
            }
        }
        return symbols;
    }

    size_t help_count() const {
        size_t n = 0;
        while (n < command_.token_help.size() && !command_.token_help[n].empty()) ++n;
        return n;
    }

    Expansions sequence() {
        Expansions result{{}};
        while (pos_ < symbols_.size() && symbols_[pos_] != "]" && symbols_[pos_] != "|") {
            Expansions element;
            if (symbols_[pos_] == "[") {
                ++pos_;
                element.push_back({});  // the group may be left out
                for (;;) {
                    for (auto& alternative : sequence()) element.push_back(std::move(alternative));
                    if (pos_ >= symbols_.size()) table_bug(command_, "missing ']'");
                    if (symbols_[pos_++] == "]") break;
                }
            } else {
                element.push_back({atom(symbols_[pos_++])});
            }
            Expansions product;
            for (auto& head : result)
                for (auto& tail : element) {
                    auto joined = head;
                    joined.insert(joined.end(), tail.begin(), tail.end());
                    product.push_back(std::move(joined));
                }
            result = std::move(product);
        }
        return result;
    }

    TokenSpec atom(std::string_view text) {
        if (next_help_ >= help_count()) table_bug(command_, "more tokens than help lines");
        TokenSpec spec;
        spec.order = row_ * command_.token_help.size() + next_help_;
        spec.help = command_.token_help[next_help_++];
        if (text.front() != '<') {
            spec.text = text;
            return spec;
        }
        auto colon = text.find(':');
        if (text.back() != '>' || colon == std::string_view::npos) table_bug(command_, "bad argument syntax");
        spec.text = text.substr(1, colon - 1);
        auto kind = text.substr(colon + 1, text.size() - colon - 2);
        static constexpr std::pair<std::string_view, Kind> kKinds[] = {
            {"WORD", Kind::word}, {"IFNAME", Kind::ifname},   {"PREFIX", Kind::prefix},
            {"PREFIX4", Kind::prefix4}, {"PREFIX6", Kind::prefix6}, {"IP", Kind::ip},
            {"MAC", Kind::mac}, {"LABELS", Kind::labels}, {"HEX", Kind::hex}, {"SECRET", Kind::secret},
        };
        for (auto [name, k] : kKinds)
            if (kind == name) {
                spec.kind = k;
                if (k == Kind::labels)
                    spec.help += fmt::format(" (1-{} labels 0-{} joined by '/', e.g. 16001/16002/3)", kMaxLabels,
                                             kMaxLabel);
                if (k == Kind::hex)
                    spec.help += fmt::format(" (1-{} bytes: an even number of hex digits, optionally after 0x)",
                                             kMaxHexBytes);
                return spec;
            }
        // UINT(lo-hi)
        if (!kind.starts_with("UINT(") || !kind.ends_with(")")) table_bug(command_, "unknown argument kind");
        auto range = kind.substr(5, kind.size() - 6);
        auto dash = range.find('-');
        if (dash == std::string_view::npos || !parse_u32(range.substr(0, dash), spec.lo) ||
            !parse_u32(range.substr(dash + 1), spec.hi) || spec.lo > spec.hi)
            table_bug(command_, "bad UINT range");
        spec.kind = Kind::uint;
        spec.help += fmt::format(" ({}-{})", spec.lo, spec.hi);
        return spec;
    }

    const CommandSpec& command_;
    size_t row_;
    const std::vector<std::string> symbols_;
    size_t pos_ = 0;
    size_t next_help_ = 0;
};

const std::vector<Variant>& grammar() {
    static const std::vector<Variant> variants = [] {
        std::vector<Variant> all;
        for (size_t row = 0; row < std::size(kCommands); ++row) {
            const CommandSpec& command = kCommands[row];
            for (auto& tokens : PatternCompiler(command, row).compile()) {
                for (size_t i = 0; i < tokens.size(); ++i)
                    for (size_t j = 0; j < i; ++j)
                        if (!tokens[i].is_keyword() && !tokens[j].is_keyword() && tokens[i].text == tokens[j].text)
                            table_bug(command, "two arguments share a name");
                if (tokens.empty() || !tokens.front().is_keyword()) table_bug(command, "must start with a keyword");
                // redact_secrets() finds key material as the token after `key`.
                for (size_t i = 0; i < tokens.size(); ++i)
                    if (is_secret_kind(tokens[i].kind) != (i > 0 && tokens[i - 1].is_keyword() && tokens[i - 1].text == "key"))
                        table_bug(command, "a HEX or SECRET argument (and only it) must follow the keyword 'key'");
                all.push_back({&command, std::move(tokens)});
            }
        }
        return all;
    }();
    return variants;
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

struct Token {
    std::string text;
    bool quoted = false;
};

struct TokenizedLine {
    std::vector<Token> tokens;
    bool ends_in_space = true;  // the next token to type would be a new one
};

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }
bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// Tokens quoted back in messages are cut short so a huge token cannot flood a terminal.
std::string shown(std::string_view text) {
    constexpr size_t kMax = 64;
    if (text.size() <= kMax) return std::string(text);
    return std::string(text.substr(0, kMax - 3)) + "...";
}

ParseError control_character_error(size_t token_index, unsigned char c, size_t column) {
    return {token_index, "", fmt::format("invalid control character 0x{:02x} at column {}", c, column + 1)};
}

std::variant<TokenizedLine, ParseError> tokenize(std::string_view line) {
    TokenizedLine out;
    size_t i = 0;
    while (i < line.size()) {
        unsigned char c = line[i];
        if (is_space(c)) {
            ++i;
            continue;
        }
        if (is_control(c)) return control_character_error(out.tokens.size(), c, i);
        Token token;
        if (c == '"') {
            token.quoted = true;
            bool closed = false;
            for (++i; i < line.size();) {
                unsigned char q = line[i];
                if (q == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                if (is_control(q)) return control_character_error(out.tokens.size(), q, i);
                if (q == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
                    token.text += line[i + 1];
                    i += 2;
                    continue;
                }
                token.text += static_cast<char>(q);
                ++i;
            }
            if (!closed) return ParseError{out.tokens.size(), shown(token.text), "unterminated quoted string"};
            if (i < line.size() && !is_space(line[i]))
                return ParseError{out.tokens.size(), shown(token.text),
                                  fmt::format("expected a space after the closing quote at column {}", i)};
        } else {
            size_t start = i;
            while (i < line.size() && !is_control(line[i])) {
                if (is_space(line[i])) break;
                ++i;
            }
            if (i < line.size() && !is_space(line[i])) return control_character_error(out.tokens.size(), line[i], i);
            token.text = line.substr(start, i - start);
        }
        out.tokens.push_back(std::move(token));
    }
    out.ends_in_space = line.empty() || is_space(line.back());
    return out;
}

// Inverse of the tokenizer for one argument value.
std::string quote_if_needed(std::string_view text) {
    bool needs_quotes = text.empty() || text.front() == '"' ||
                        std::any_of(text.begin(), text.end(), [](char c) { return is_space(c); });
    if (!needs_quotes) return std::string(text);
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

// ---------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------

bool is_ifname(std::string_view s) {
    if (s.empty() || s.size() > 31 || !is_ascii_alpha(s[0])) return false;
    return std::all_of(s.begin() + 1, s.end(), [](char c) {
        return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '.' || c == '-';
    });
}

// Whether an unknown token was probably meant as an address or number, so that
// "invalid prefix 'x'" is a better message than a list of keywords.
bool looks_like_value(std::string_view s) {
    return !s.empty() && (is_ascii_digit(s[0]) || s.find_first_of(":/") != std::string_view::npos);
}

struct Checked {
    std::optional<std::string> value;  // canonical text when valid
    std::string error;
};

Checked check(const TokenSpec& spec, std::string_view text) {
    auto invalid = [&](std::string_view what) {
        return Checked{std::nullopt, fmt::format("invalid {} '{}'", what, shown(text))};
    };
    switch (spec.kind) {
        case Kind::keyword:
            if (text == spec.text) return {std::string(text), {}};
            return invalid("keyword");
        case Kind::word:
            return {std::string(text), {}};
        case Kind::ifname:
            if (is_ifname(text)) return {std::string(text), {}};
            return Checked{std::nullopt,
                           fmt::format("invalid interface name '{}': expected a letter followed by up to 30 "
                                       "letters, digits, '_', '.' or '-'",
                                       shown(text))};
        case Kind::prefix:
        case Kind::prefix4:
        case Kind::prefix6: {
            auto p = Prefix::parse(text);
            if (spec.kind == Kind::prefix4 && (!p || !p->addr.is_v4())) return invalid("IPv4 prefix");
            if (spec.kind == Kind::prefix6 && (!p || p->addr.is_v4())) return invalid("IPv6 prefix");
            if (!p) return invalid("prefix");
            return {p->str(), {}};
        }
        case Kind::ip: {
            auto a = IpAddr::parse(text);
            if (!a) return invalid("IP address");
            return {a->str(), {}};
        }
        case Kind::mac: {
            auto m = MacAddr::parse(text);
            if (!m) return invalid("MAC address");
            return {m->str(), {}};
        }
        case Kind::labels: {
            std::string reason;
            auto labels = parse_label_stack(text, reason);
            if (!labels)
                return Checked{std::nullopt,
                               fmt::format("invalid label stack '{}': expected an MPLS label stack for <{}> (1 to {} "
                                           "labels 0-{} separated by '/', e.g. 16001/16002/3): {}",
                                           shown(text), spec.text, kMaxLabels, kMaxLabel, reason)};
            return {label_stack_text(*labels), {}};
        }
        case Kind::hex: {
            // Key material: the message names the argument, never the text.
            std::string reason;
            auto bytes = parse_hex(text, reason);
            if (!bytes)
                return Checked{std::nullopt,
                               fmt::format("invalid hex value for <{}>: {}; expected 1-{} bytes as an even number "
                                           "of hex digits, optionally after 0x",
                                           spec.text, reason, kMaxHexBytes)};
            return {hex_text(*bytes), {}};
        }
        case Kind::secret: {
            // Key material as text: the message names the argument, never the text.
            if (text.empty() || text.size() > kMaxSecretChars)
                return Checked{std::nullopt, fmt::format("invalid secret for <{}>: {} characters; expected 1-{}",
                                                         spec.text, text.size(), kMaxSecretChars)};
            return {std::string(text), {}};
        }
        case Kind::uint: {
            if (text.empty() || !std::all_of(text.begin(), text.end(), is_ascii_digit))
                return Checked{std::nullopt, fmt::format("invalid number '{}' for <{}>: expected {}-{}", shown(text),
                                                         spec.text, spec.lo, spec.hi)};
            auto digits = text.substr(std::min(text.find_first_not_of('0'), text.size() - 1));
            uint32_t value = 0;
            if (!parse_u32(digits, value) || value < spec.lo || value > spec.hi)
                return Checked{std::nullopt, fmt::format("value {} out of range {}-{} for <{}>", shown(digits),
                                                         spec.lo, spec.hi, spec.text)};
            return {std::to_string(value), {}};
        }
    }
    return invalid("token");
}

// Whether a partly typed token could still become a valid argument (for '?').
bool could_become(const TokenSpec& spec, std::string_view partial) {
    if (partial.empty()) return true;
    auto all_of = [&](auto pred) { return std::all_of(partial.begin(), partial.end(), pred); };
    auto address_char = [](char c) {
        return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.' ||
               c == '/';
    };
    switch (spec.kind) {
        case Kind::keyword: return std::string_view(spec.text).starts_with(partial);
        case Kind::word:
        case Kind::secret: return true;
        case Kind::ifname: return is_ifname(partial);
        case Kind::uint: return all_of(is_ascii_digit);
        case Kind::labels: return all_of([](char c) { return is_ascii_digit(c) || c == '/'; });
        case Kind::hex: {
            auto digits = partial.starts_with("0x") || partial.starts_with("0X") ? partial.substr(2) : partial;
            return std::all_of(digits.begin(), digits.end(), [](char c) { return hex_digit(c) >= 0; });
        }
        default: return all_of(address_char);
    }
}

// ---------------------------------------------------------------------------
// Matching: walk the tokens left to right, keeping the variants that agree.
// ---------------------------------------------------------------------------

struct Walk {
    // Variants consistent with every walked token; after `no`, usable() tells
    // which of them may actually be negated.
    std::vector<const Variant*> alive;
    bool negated = false;
    size_t first = 0;  // index of the first command token (1 after `no`)
    size_t pos = 0;    // variant position of the next token
    std::optional<ParseError> error;
};

// Distinct specs that can come at `pos`, in table and pattern order.
std::vector<const TokenSpec*> next_specs(const Walk& w) {
    std::vector<const TokenSpec*> specs;
    for (const Variant* v : w.alive) {
        if (!v->usable(w.negated) || w.pos >= v->tokens.size()) continue;
        const TokenSpec& spec = v->tokens[w.pos];
        bool seen = std::any_of(specs.begin(), specs.end(),
                                [&](const TokenSpec* s) { return s->display() == spec.display(); });
        if (!seen) specs.push_back(&spec);
    }
    // Expanding optional groups reorders tokens ("show route <prefix>" comes
    // before "show route ipv4"); list them as the pattern spells them.
    std::stable_sort(specs.begin(), specs.end(),
                     [](const TokenSpec* a, const TokenSpec* b) { return a->order < b->order; });
    return specs;
}

const Variant* complete_variant(const Walk& w) {
    for (const Variant* v : w.alive)
        if (v->usable(w.negated) && v->tokens.size() == w.pos) return v;
    return nullptr;
}

std::string describe_expected(const std::vector<const TokenSpec*>& specs, bool can_end) {
    std::vector<std::string> names;
    for (const TokenSpec* s : specs) names.push_back(s->display());
    if (can_end) names.push_back("<cr>");
    if (names.size() == 1) return "expected " + names.front();
    return fmt::format("expected one of: {}", fmt::join(names, ", "));
}

ParseError mismatch(const Walk& w, size_t index, std::string_view token) {
    auto specs = next_specs(w);
    if (specs.empty())
        return {index, std::string(token),
                fmt::format("unexpected token '{}' after the end of the command", shown(token))};
    std::vector<const TokenSpec*> arguments;
    bool any_keyword = false;
    for (const TokenSpec* s : specs) {
        if (s->is_keyword())
            any_keyword = true;
        else
            arguments.push_back(s);
    }
    // Where a key is expected, the token is key material: it is never echoed.
    bool secret = std::any_of(arguments.begin(), arguments.end(), [](const TokenSpec* s) { return is_secret_kind(s->kind); });
    if (arguments.size() == 1 && (!any_keyword || looks_like_value(token) || secret))
        return {index, secret ? arguments.front()->display() : std::string(token), check(*arguments.front(), token).error};
    if (secret)
        return {index, "", fmt::format("unknown token: {}", describe_expected(specs, complete_variant(w)))};
    return {index, std::string(token),
            fmt::format("unknown token '{}': {}", shown(token), describe_expected(specs, complete_variant(w)))};
}

std::vector<const Variant*> step(const std::vector<const Variant*>& alive, size_t pos, std::string_view text) {
    // A keyword beats an argument that would also accept the text, as in FRR.
    bool keyword_hit = std::any_of(alive.begin(), alive.end(), [&](const Variant* v) {
        return pos < v->tokens.size() && v->tokens[pos].is_keyword() && v->tokens[pos].text == text;
    });
    std::vector<const Variant*> next;
    for (const Variant* v : alive) {
        if (pos >= v->tokens.size()) continue;
        const TokenSpec& spec = v->tokens[pos];
        bool match = keyword_hit ? spec.is_keyword() && spec.text == text
                                 : !spec.is_keyword() && check(spec, text).value.has_value();
        if (match) next.push_back(v);
    }
    return next;
}

std::string join_tokens(const std::vector<Token>& tokens, size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) {
        if (!out.empty()) out += ' ';
        out += quote_if_needed(tokens[i].text);
    }
    return out;
}

// Walks the first `count` tokens.
Walk walk(const std::vector<Token>& tokens, size_t count) {
    Walk w;
    w.negated = count > 0 && tokens[0].text == "no";
    w.first = w.negated ? 1 : 0;
    for (const Variant& v : grammar()) w.alive.push_back(&v);
    for (size_t i = w.first; i < count; ++i) {
        // Commands that cannot be negated stay in the walk so that `no` on
        // them is reported as such rather than as an unknown token.
        auto next = step(w.alive, w.pos, tokens[i].text);
        if (next.empty()) {
            w.error = mismatch(w, i, tokens[i].text);
            return w;
        }
        if (w.negated && std::none_of(next.begin(), next.end(), [](const Variant* v) { return v->usable(true); })) {
            w.error = ParseError{
                0, "no", fmt::format("'no' cannot be used with '{}'",
                                     shown(redact_secrets(join_tokens(tokens, w.first, i + 1))))};
            return w;
        }
        w.alive = std::move(next);
        ++w.pos;
    }
    return w;
}

Parsed build(const Variant& v, const std::vector<Token>& tokens, const Walk& w) {
    Parsed p;
    p.id = v.command->id;
    p.negated = w.negated;
    if (w.negated) p.line = "no";
    for (size_t k = 0; k < v.tokens.size(); ++k) {
        const TokenSpec& spec = v.tokens[k];
        if (!p.line.empty()) p.line += ' ';
        if (spec.is_keyword()) {
            p.keywords.push_back(spec.text);
            p.line += spec.text;
        } else {
            auto value = *check(spec, tokens[w.first + k].text).value;
            p.line += quote_if_needed(value);
            p.args.emplace_back(spec.text, std::move(value));
        }
    }
    return p;
}

// The tokens before the one being typed, and the partial one itself.
struct PartialLine {
    TokenizedLine line;
    size_t done = 0;
    std::string partial;
    bool partial_quoted = false;
};

std::variant<PartialLine, ParseError> split_partial(std::string_view text) {
    auto tokenized = tokenize(text);
    if (auto* error = std::get_if<ParseError>(&tokenized)) return *error;
    PartialLine p;
    p.line = std::move(std::get<TokenizedLine>(tokenized));
    auto& tokens = p.line.tokens;
    p.done = tokens.size();
    if (!p.line.ends_in_space && !tokens.empty()) {
        p.done = tokens.size() - 1;
        p.partial = tokens.back().text;
        p.partial_quoted = tokens.back().quoted;
    }
    return p;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

Scope scope(Id id) {
    for (const auto& c : kCommands)
        if (c.id == id) return c.scope;
    return Scope::config_and_exec;
}

bool Parsed::has_arg(std::string_view name) const {
    return std::any_of(args.begin(), args.end(), [&](const auto& a) { return a.first == name; });
}

bool Parsed::has(std::string_view name) const {
    return std::any_of(args.begin(), args.end(), [&](const auto& a) { return a.first == name; }) ||
           std::find(keywords.begin(), keywords.end(), name) != keywords.end();
}

const std::string& Parsed::word(std::string_view name) const {
    for (const auto& [n, value] : args)
        if (n == name) return value;
    throw std::out_of_range(fmt::format("command '{}' has no argument <{}>", line, name));
}

Prefix Parsed::prefix(std::string_view name) const {
    auto p = Prefix::parse(word(name));
    if (!p) throw std::invalid_argument(fmt::format("argument <{}> is not a prefix", name));
    return *p;
}

IpAddr Parsed::ip(std::string_view name) const {
    auto a = IpAddr::parse(word(name));
    if (!a) throw std::invalid_argument(fmt::format("argument <{}> is not an IP address", name));
    return *a;
}

MacAddr Parsed::mac(std::string_view name) const {
    auto m = MacAddr::parse(word(name));
    if (!m) throw std::invalid_argument(fmt::format("argument <{}> is not a MAC address", name));
    return *m;
}

uint32_t Parsed::number(std::string_view name) const {
    uint32_t value = 0;
    if (!parse_u32(word(name), value))
        throw std::invalid_argument(fmt::format("argument <{}> is not a number", name));
    return value;
}

std::vector<uint8_t> Parsed::hex(std::string_view name) const {
    std::string reason;
    auto bytes = parse_hex(word(name), reason);
    if (!bytes) throw std::invalid_argument(fmt::format("argument <{}> is not hex: {}", name, reason));
    return *bytes;
}

std::string redact_secrets(std::string_view line) {
    std::string out;
    bool after_key = false;
    for (size_t i = 0; i < line.size();) {
        if (is_space(line[i])) {
            out += line[i++];
            continue;
        }
        size_t start = i;
        if (line[i] == '"') {  // a quoted token runs to its closing quote, as the tokenizer reads it
            for (++i; i < line.size() && line[i] != '"'; ++i)
                if (line[i] == '\\' && i + 1 < line.size()) ++i;
            if (i < line.size()) ++i;
        }
        while (i < line.size() && !is_space(line[i])) ++i;
        std::string_view token = line.substr(start, i - start);
        out += after_key ? std::string_view("<secret>") : token;
        after_key = token == "key";
    }
    return out;
}

std::vector<uint32_t> Parsed::labels(std::string_view name) const {
    std::string reason;
    auto labels = parse_label_stack(word(name), reason);
    if (!labels) throw std::invalid_argument(fmt::format("argument <{}> is not a label stack: {}", name, reason));
    return *labels;
}

bool is_ipsec_sa_command(Id id) {
    switch (id) {
        case Id::IpsecSa:
        case Id::IpsecSaEncryption:
        case Id::IpsecSaIntegrity:
        case Id::IpsecSaEsn:
        case Id::IpsecSaNatTraversal:
        case Id::IpsecSaIpMtu:
        case Id::IpsecSaEncapsulatedIpMtu:
        case Id::IpsecSaLifetime:
        case Id::IpsecSaReplayWindow: return true;
        default: return false;
    }
}

bool is_blank_or_comment(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && is_space(line[i])) ++i;
    return i == line.size() || line[i] == '#' || line[i] == '!';
}

std::variant<Parsed, ParseError> parse(std::string_view line) {
    if (is_blank_or_comment(line)) return ParseError{0, "", "empty command"};
    auto tokenized = tokenize(line);
    if (auto* error = std::get_if<ParseError>(&tokenized)) return *error;
    const auto& tokens = std::get<TokenizedLine>(tokenized).tokens;
    Walk w = walk(tokens, tokens.size());
    if (w.error) return *w.error;
    if (const Variant* v = complete_variant(w)) return build(*v, tokens, w);
    return ParseError{tokens.size(), "", "incomplete command: " + describe_expected(next_specs(w), false)};
}

std::vector<std::string> complete(std::string_view partial_line, const NameLister& ifnames) {
    auto split = split_partial(partial_line);
    auto* p = std::get_if<PartialLine>(&split);
    if (!p || p->partial_quoted) return {};
    Walk w = walk(p->line.tokens, p->done);
    if (w.error) return {};

    std::vector<std::string> candidates;
    auto add = [&](std::string candidate) {
        if (candidate.starts_with(p->partial) &&
            std::find(candidates.begin(), candidates.end(), candidate) == candidates.end())
            candidates.push_back(std::move(candidate));
    };
    bool wants_ifname = false;
    for (const TokenSpec* spec : next_specs(w)) {
        if (spec->is_keyword()) add(spec->text);
        if (spec->kind == Kind::ifname) wants_ifname = true;
    }
    if (wants_ifname && ifnames)
        for (auto& name : ifnames())
            if (is_ifname(name)) add(std::move(name));
    if (p->done == 0) add("no");
    return candidates;
}

std::string help(std::string_view partial_line) {
    auto split = split_partial(partial_line);
    if (auto* error = std::get_if<ParseError>(&split)) return "% " + error->message + "\n";
    auto& p = std::get<PartialLine>(split);
    Walk w = walk(p.line.tokens, p.done);
    if (w.error) return "% " + w.error->message + "\n";

    std::vector<std::pair<std::string, std::string_view>> entries;
    for (const TokenSpec* spec : next_specs(w)) {
        bool offered = spec->is_keyword() ? !p.partial_quoted && spec->text.starts_with(p.partial)
                                          : could_become(*spec, p.partial);
        if (offered) entries.emplace_back(spec->display(), spec->help);
    }
    if (p.done == 0 && std::string_view("no").starts_with(p.partial) && !p.partial_quoted)
        entries.emplace_back("no", kNoHelp);
    if (p.line.ends_in_space && w.pos > 0)
        if (const Variant* v = complete_variant(w)) entries.emplace_back("<cr>", v->command->help);
    if (entries.empty()) return fmt::format("% unknown token '{}'\n", shown(p.partial));

    size_t width = 0;
    for (auto& [name, text] : entries) width = std::max(width, name.size());
    std::string out;
    for (auto& [name, text] : entries) out += fmt::format("  {:<{}}  {}\n", name, width, text);
    return out;
}

std::variant<std::vector<Parsed>, ConfigError> parse_config(std::string_view text) {
    std::vector<Parsed> commands;
    size_t line_no = 0;
    for (size_t start = 0; start <= text.size();) {
        size_t end = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, end - start);
        ++line_no;
        start = end + 1;
        if (is_blank_or_comment(line)) continue;

        auto trimmed = line;
        while (!trimmed.empty() && is_space(trimmed.back())) trimmed.remove_suffix(1);
        while (!trimmed.empty() && is_space(trimmed.front())) trimmed.remove_prefix(1);
        auto result = parse(line);
        if (auto* error = std::get_if<ParseError>(&result))
            return ConfigError{line_no, std::string(trimmed), std::move(*error)};
        auto& parsed = std::get<Parsed>(result);
        if (scope(parsed.id) == Scope::exec_only)
            return ConfigError{line_no, std::string(trimmed),
                               ParseError{0, parsed.keywords.front(),
                                          fmt::format("'{}' cannot be used in a config file", parsed.line)}};
        commands.push_back(std::move(parsed));
    }
    return commands;
}

std::string format_error(const ConfigError& error) {
    // The line may hold the very control character that made it fail.
    constexpr size_t kMaxShown = 160;
    std::string line;
    // ...and may hold a key.
    std::string redacted = redact_secrets(error.line);
    for (unsigned char c : std::string_view(redacted).substr(0, kMaxShown))
        line += is_control(c) ? '?' : static_cast<char>(c);
    if (redacted.size() > kMaxShown) line += "...";
    return fmt::format("line {}: {}: {}", error.line_no, line, error.error.message);
}

}  // namespace rampart::cmd
