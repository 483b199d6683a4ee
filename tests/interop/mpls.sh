#!/usr/bin/env bash
# Interop: rampartd as an MPLS PE/P router on af_packet ports, checked on the
# wire by an independent oracle (scapy's scapy.contrib.mpls builds and dissects
# the frames; tshark dissects them a second time). The kernel needs no MPLS
# support: the provider routers P1 and P2 are scapy programs on raw sockets.
#   usage: mpls.sh RAMPARTD RAMPART_CLI
#
#   namespace ce : eth0 198.51.100.10/24, default via rampartd (a real IP stack)
#   namespace rtr: rampartd; port ce (vrf blue, VPN label 1000, no MPLS)
#                  port core1 203.0.113.1/25 (MPLS) -- P1 203.0.113.2
#                  port core2 203.0.113.129/25 (MPLS) -- P2 203.0.113.130
#   namespaces p1, p2: eth0 only, no addresses; rampartd has static neighbours
#
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpm$$-"
PY=/usr/bin/python3
# shellcheck source=harness.sh
. "$HERE/harness.sh"

# Fixed MACs on every veth end: the frames scapy expects are known in advance.
export MAC_CE=02:aa:00:00:00:0a MAC_P1=02:11:00:00:00:01 MAC_P2=02:22:00:00:00:02
export MAC_PORT_CE=02:00:00:00:00:0c MAC_PORT_CORE1=02:00:00:00:00:01 MAC_PORT_CORE2=02:00:00:00:00:02

in_ce() { rp_exec ce "$@"; }
wire() { timeout 30 "$PY" "$HERE/mpls_wire.py" "$@"; }
# wire_in NS ARGS... — mpls_wire.py inside a namespace (the MACs travel in the environment).
wire_in() { local ns="$1"; shift; rp_exec "$ns" timeout 30 "$PY" "$HERE/mpls_wire.py" "$@"; }

# The prerequisites fail the test (never skip it): say which one is missing.
mpls_prerequisites() {
    local missing=()
    local tool
    for tool in ip ethtool tshark timeout; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -x $PY ]] || missing+=("$PY")
    [[ -x $PY ]] && ! timeout 30 "$PY" -c 'import scapy.contrib.mpls, scapy.layers.l2' 2>/dev/null &&
        missing+=("python3-scapy (scapy.contrib.mpls for $PY)")
    ((EUID == 0)) || missing+=("root")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]}"
    return 1
}

# mpls_topology_up — the four namespaces and three veths, offloads and IPv6 noise off.
mpls_topology_up() {
    rp_ns_create rtr && rp_ns_create ce && rp_ns_create p1 && rp_ns_create p2 || return 1
    rp_veth ce eth0 rtr m-ce && rp_veth p1 eth0 rtr m-core1 && rp_veth p2 eth0 rtr m-core2 || return 1
    # P1/P2 are scapy: no kernel chatter at all on their side.
    rp_port_setup ce eth0 "$MAC_CE" quiet && rp_port_setup p1 eth0 "$MAC_P1" silent &&
        rp_port_setup p2 eth0 "$MAC_P2" silent && rp_port_setup rtr m-ce "$MAC_PORT_CE" quiet &&
        rp_port_setup rtr m-core1 "$MAC_PORT_CORE1" quiet && rp_port_setup rtr m-core2 "$MAC_PORT_CORE2" quiet ||
        return 1
    for ifc in m-ce m-core1 m-core2; do rp_wait_carrier rtr "$ifc" || return 1; done
    in_ce ip addr add 198.51.100.10/24 dev eth0 &&
        in_ce ip route add default via 198.51.100.1
}

mpls_config() {
    cat <<EOC
! mpls.sh: a PE with one VPN customer (vrf blue) and two core links
vrf blue
vrf blue label 1000
interface ce device net_af_packet0,iface=m-ce
interface ce vrf blue
interface ce address 198.51.100.1/24
interface core1 device net_af_packet1,iface=m-core1
interface core1 address 203.0.113.1/25
interface core1 mpls
interface core1 neighbor 203.0.113.2 $MAC_P1
interface core2 device net_af_packet2,iface=m-core2
interface core2 address 203.0.113.129/25
interface core2 mpls
interface core2 neighbor 203.0.113.130 $MAC_P2
route vrf blue 192.0.2.0/24 via 203.0.113.2 interface core1 labels 16001/1000
route vrf blue 192.0.2.128/25 via 203.0.113.2 interface core1 labels 16001/1000 backup 203.0.113.130 backup-interface core2 backup-labels 24002/16001/1000
mpls label 100 swap 200/201 via 203.0.113.130
mpls label 102 pop via 203.0.113.130
EOC
}

# mpls_begin — work directory, cleanup on exit, topology, config checked, rampartd up.
mpls_begin() { interop_begin_own mpls mpls_prerequisites mpls_topology_up mpls_config; }

# capture_start NS NAME SECONDS COUNT KIND — capture on NS's eth0 into $WORK/NAME.pcap,
# in the background (pid in CAPTURE_PIDS[NAME]); returns once it listens.
declare -A CAPTURE_PIDS
capture_start() {
    local ns="$1" name="$2"
    rm -f "$WORK/$name.ready" "$WORK/$name.pcap"
    wire_in "$ns" capture eth0 "$WORK/$name.pcap" "$WORK/$name.ready" "$3" "$4" "$5" >"$WORK/$name.log" 2>&1 &
    CAPTURE_PIDS[$name]=$!
    rp_wait_until 10 test -e "$WORK/$name.ready" || { echo "capture $name did not start"; cat "$WORK/$name.log"; return 1; }
}
capture_wait() {  # capture_wait NAME — its exit status, and what it said
    wait "${CAPTURE_PIDS[$1]}"
    local rc=$?
    cat "$WORK/$1.log"
    return $rc
}

# drop_count IFNAME REASON — a drop counter from `show interface` (0 when not listed).
drop_count() {
    local n
    n=$(cli "show interface $1" | awk -v r="$2" '$1 == r { print $2 }')
    echo "${n:-0}"
}

mpls_begin

# --- 0. the control plane as configured ------------------------------------
control_plane() {
    expect_output "MAC $MAC_PORT_CE, IP MTU 1500, vrf blue, MPLS disabled" cli "show interface ce" &&
        expect_output "MAC $MAC_PORT_CORE1, IP MTU 1500, vrf default, MPLS enabled" cli "show interface core1" &&
        expect_output "MAC $MAC_PORT_CORE2, IP MTU 1500, vrf default, MPLS enabled" cli "show interface core2" &&
        expect_output '^1000 +vpn label of vrf blue .*pop, look up in vrf blue' cli "show mpls ilm" &&
        expect_output '^100 +static .*swap to 200/201 via 203\.0\.113\.130 on core2' cli "show mpls ilm" &&
        expect_output '^102 +static .*pop, via 203\.0\.113\.130 on core2' cli "show mpls ilm" &&
        expect_output 'VRF blue' cli "show vrf" &&
        expect_output "^blue +192\.0\.2\.128/25 +via 203\.0\.113\.2 on core1, MAC $MAC_P1, push 16001/1000; backup via 203\.0\.113\.130 on core2, push 24002/16001/1000" cli "show mpls ftn" &&
        expect_output 'VRF blue .*VPN label 1000' cli "show vrf blue"
}
check "control plane: ports, ILM, FTN and VRF as configured" control_plane

# The customer resolves rampartd and rampartd the customer (through the kernel twin).
ce_known() { cli "show neighbors" | grep -qE "^ce +198\.51\.100\.10 +$MAC_CE"; }
customer_resolved() { ping_all ce 198.51.100.1 && rp_wait_until 5 ce_known; }
check "customer CE pings its PE; rampartd learns CE's MAC in vrf blue" customer_resolved

# --- 1. VPN egress: CE's pings leave core1 with transport + VPN labels --------
vpn_egress() {
    capture_start p1 egress 8 3 mpls || return 1
    in_ce ping -c 3 -i 0.2 -t 64 -W 1 192.0.2.1 >/dev/null 2>&1  # nobody answers: fine
    capture_wait egress || return 1
    wire verify egress "$WORK/egress.pcap"
}
check "VPN egress: CE ping -> P1 as MPLS 16001/1000, BoS on 1000 only, TTL 63 (uniform); tshark agrees" vpn_egress

# --- 2. VPN ingress: label 1000 from P1 reaches CE, CE's reply comes back labelled
vpn_ingress() {
    capture_start ce ingress-ce 8 1 ip || return 1
    capture_start p1 ingress-p1 8 1 mpls || return 1
    wire_in p1 send ingress || return 1
    capture_wait ingress-ce && capture_wait ingress-p1 || return 1
    wire verify ingress "$WORK/ingress-ce.pcap" "$WORK/ingress-p1.pcap"
}
check "VPN ingress: P1 MPLS 1000 -> CE as plain IPv4 (TTL min(64, 60-1)), CE's echo reply -> P1 as 16001/1000" vpn_ingress

# --- 3. swap -------------------------------------------------------------------
swap() {
    local before after
    before=$(cli "show mpls label 100" | awk '$2 == "packets," { print $1 }')
    capture_start p2 swap 8 2 mpls || return 1
    wire_in p1 send swap || return 1
    capture_wait swap || return 1
    wire verify swap "$WORK/swap.pcap" || return 1
    after=$(cli "show mpls label 100" | awk '$2 == "packets," { print $1 }')
    echo "label 100 packets: ${before:-?} -> ${after:-?}"
    ((after == before + 2))
}
check "swap: label 100 -> 200/201 to P2, byte-exact (TC kept, TTL-1, label below kept); ILM counter" swap

# --- 4. penultimate hop popping ------------------------------------------------
php() {
    capture_start p2 php 8 3 data || return 1
    wire_in p1 send php || return 1
    capture_wait php || return 1
    wire verify php "$WORK/php.pcap"
}
check "PHP: label 102 popped, plain IPv4/IPv6 to P2 byte-exact, TTL min(IP TTL, label TTL-1)" php

# --- 5. drops, counted by reason -----------------------------------------------
drop_count_above() { (($(drop_count "$1" "$2") > $3)); }
# dropped NS SCENARIO IFNAME REASON — one frame from NS, counted once as REASON on IFNAME.
dropped() {
    local ns="$1" scenario="$2" ifname="$3" reason="$4" before after
    before=$(drop_count "$ifname" "$reason")
    wire_in "$ns" send "$scenario" || return 1
    rp_wait_until 3 drop_count_above "$ifname" "$reason" "$before"
    sleep 0.2
    after=$(drop_count "$ifname" "$reason")
    cli "show interface $ifname"
    echo "$ifname $reason: $before -> $after"
    ((after == before + 1))
}
capture_start p2 drops-p2 4 100 mplsip || ((failed++))
capture_start ce drops-ce 4 100 ip || ((failed++))
check "labelled frame from the customer side dropped: ce mpls_disabled" dropped ce mpls-from-ce ce mpls_disabled
check "unknown label 5000 from P1 dropped: core1 mpls_unknown_label" dropped p1 unknown-label core1 mpls_unknown_label
check "label stack without bottom of stack dropped: core1 mpls_truncated" dropped p1 no-bos core1 mpls_truncated
nothing_leaked() {
    capture_wait drops-p2 && capture_wait drops-ce || return 1
    wire verify none "$WORK/drops-p2.pcap" && wire verify none "$WORK/drops-ce.pcap"
}
check "dropped frames reached neither P2 nor CE" nothing_leaked

# --- 6. fast reroute on a real link failure ------------------------------------
FRR_SECONDS=4 FRR_PPS=1000 FRR_DOWN_AT=1.0 FRR_UP_AT=2.5 FRR_MAX_MS=1000
frr() {
    local ns pids=()
    for ns in p1 p2; do
        rm -f "$WORK/frr-$ns.ready"
        wire_in "$ns" frr-recv eth0 "$WORK/frr-$ns.json" "$WORK/frr-$ns.ready" $((FRR_SECONDS + 2)) &
        pids+=($!)
    done
    for ns in p1 p2; do rp_wait_until 10 test -e "$WORK/frr-$ns.ready" || return 1; done
    wire_in ce frr-send eth0 "$WORK/frr-send.json" "$FRR_PPS" "$FRR_SECONDS" "$FRR_DOWN_AT" "$FRR_UP_AT" \
        "ip netns exec $(rp_ns p1) ip link set dev eth0 down" "ip netns exec $(rp_ns p1) ip link set dev eth0 up" ||
        return 1
    wait "${pids[@]}" || return 1
    wire frr-report "$WORK/frr-send.json" "$WORK/frr-p1.json" "$WORK/frr-p2.json" "$FRR_MAX_MS" && return 0
    # What rampartd saw, for the failure report.
    grep -E 'link (up|down)' "$WORK/rampartd.log"
    for ifname in ce core1 core2; do cli "show interface $ifname" | grep -vE '^  (Device|Addresses)'; done
    cli "show workers"
    return 1
}
check "fast reroute: P1's link down -> traffic on P2 with 24002/16001/1000 within ${FRR_MAX_MS} ms; back to P1 on link up" frr
# The numbers, whatever the outcome.
sed -n 's/^/    /; /FRR\|held on the dead port\|note:/p' "$WORK/out"

interop_end
