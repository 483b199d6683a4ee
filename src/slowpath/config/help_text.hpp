// Help texts several sections' command rows share (one wording for one thing).
#pragma once

#include <string_view>

#include "common/command.hpp"

namespace rampart::config::help {


inline constexpr std::string_view kInterface = "Configure an interface";
inline constexpr std::string_view kIfName = "Interface name";
inline constexpr std::string_view kRoute = "Configure a static route";
inline constexpr std::string_view kDestination = "Destination prefix, e.g. 198.51.100.0/24 or 2001:db8:1::/48";
inline constexpr std::string_view kOutInterface = "Outgoing interface name";
inline constexpr std::string_view kShow = "Show operational state";
inline constexpr std::string_view kInVrf = "In a VRF instead of the default table";
inline constexpr std::string_view kVrf = "Configure a VRF (a routing table of its own)";
inline constexpr std::string_view kVrfName = "VRF name";
inline constexpr std::string_view kGateway = "Gateway IPv4/IPv6 address";
inline constexpr std::string_view kVia = "Forward through a gateway";
inline constexpr std::string_view kViaIf = "Resolve the gateway on this interface only";
inline constexpr std::string_view kPushLabels = "Push an MPLS label stack";
inline constexpr std::string_view kLabelStack = "Labels to push, top of stack first";
inline constexpr std::string_view kBackup = "Fast-reroute repair path, taken the moment the primary's interface goes down";
inline constexpr std::string_view kBackupGateway = "Repair gateway IPv4/IPv6 address";
inline constexpr std::string_view kBackupIf = "Resolve the repair gateway on this interface only";
inline constexpr std::string_view kBackupLabels = "Push this label stack on the repair path instead";
inline constexpr std::string_view kBackupStack = "Repair labels to push, top of stack first";
inline constexpr std::string_view kMpls = "Configure MPLS";
inline constexpr std::string_view kMplsLabel = "Static incoming label (ILM entry)";
inline constexpr std::string_view kInLabel = "Incoming label";
inline constexpr std::string_view kSr = "Configure segment routing (SR-MPLS)";
inline constexpr std::string_view kPolicy = "SR policy: an explicit segment list";
inline constexpr std::string_view kPolicyName = "Policy name";
inline constexpr std::string_view kIpsec = "Configure IPsec (manually keyed ESP in tunnel mode)";
inline constexpr std::string_view kSa = "A security association: one direction of an ESP tunnel";
inline constexpr std::string_view kSaName = "SA name";
inline constexpr std::string_view kSpi = "Security parameter index carried in each ESP packet";
inline constexpr std::string_view kSpiValue = "SPI";
inline constexpr std::string_view kTunnel = "Tunnel mode between these outer addresses";
inline constexpr std::string_view kTunnelLocal = "Our tunnel endpoint IPv4/IPv6 address";
inline constexpr std::string_view kTunnelRemote = "The peer's tunnel endpoint address, of the same family";
inline constexpr std::string_view kSaVrf = "The inner traffic belongs to a VRF instead of the default table";
inline constexpr std::string_view kKey = "The key";
inline constexpr std::string_view kKeyValue = "Key bytes in hex, e.g. 0x000102...; AEAD keys end with the 4-byte salt";
inline constexpr std::string_view kSpd = "Security policy database entry, checked in sequence order per VRF";
inline constexpr std::string_view kSeq = "Sequence number: lower entries are checked first";
inline constexpr std::string_view kSpdVrf = "An entry of a VRF's SPD instead of the default table's";
inline constexpr std::string_view kSpdLocal = "Our side's inner addresses";
inline constexpr std::string_view kSpdLocalPrefix = "Local prefix, e.g. 192.0.2.0/24";
inline constexpr std::string_view kSpdRemote = "The peer side's inner addresses";
inline constexpr std::string_view kSpdRemotePrefix = "Remote prefix, of the same family";
inline constexpr std::string_view kSpdProtocol = "Only this IP protocol (next header)";
inline constexpr std::string_view kSpdProtocolValue = "Protocol number, e.g. 6 TCP, 17 UDP, 1 ICMP";
inline constexpr std::string_view kSpdLocalPorts = "Our side's port range (TCP/UDP/SCTP), or the ICMP type range";
inline constexpr std::string_view kSpdRemotePorts = "The peer side's port range (TCP/UDP/SCTP), or the ICMP code range";
inline constexpr std::string_view kPortLo = "Lowest port (or ICMP type/code)";
inline constexpr std::string_view kPortHi = "Highest port (or ICMP type/code)";
inline constexpr std::string_view kSav = "Source address validation";
inline constexpr std::string_view kIke = "Configure IKEv2 (RFC 7296): connections that negotiate ESP SAs";
inline constexpr std::string_view kIkeConn = "An IKEv2 connection to one peer";
inline constexpr std::string_view kIkeConnName = "Connection name";
inline constexpr std::string_view kIkeExec = "IKEv2 actions";
inline constexpr std::string_view kIkeIdType = "Identity type: ip, fqdn, email, dn or key-id";
inline constexpr std::string_view kIkeIdValue =
    "An address, a host name, an e-mail address, a quoted distinguished name (\"C=CH, O=Example, CN=gw\") or hex key-id bytes";
inline constexpr std::string_view kIkeTsList = "The Child SA's TS-list: up to 32 selectors each side";



inline constexpr cmd::Scope kBoth = cmd::Scope::config_and_exec;
inline constexpr cmd::Scope kExec = cmd::Scope::exec_only;
using cmd::Negatable;

}  // namespace rampart::config::help
