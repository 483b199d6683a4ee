#!/usr/bin/env bash
# Interop: rampartd's MPLS data plane against the Linux kernel's MPLS forwarding
# (mpls_router, mpls_iptunnel) in the peer VM (tests/interop/vm: Debian's stock
# kernel). Each side pushes, swaps and pops labels the other side made; tshark on
# the link sees every label on the way, and both sides count.
#   usage: mpls_kernel.sh RAMPARTD RAMPART_CLI        (KEEP=1 keeps the work directory)
#
#   namespace ce : eth0 198.51.100.10/24 and .11, default via rampartd
#   namespace rtr: rampartd; port ce 198.51.100.1/24; port core = r-core, the VM's TAP,
#                  203.0.113.1/24, mpls
#   peer VM:       eth0 203.0.113.2/24, MPLS input on; lo 192.0.2.1, 192.0.2.2
#
# Label paths (the kernel's `ip -f mpls route` entries and its `encap mpls` routes):
#   push/pop  CE -> 192.0.2.2:      rampartd pushes 100 (route ... labels 100), the kernel pops 100
#             192.0.2.2 -> CE .10:  the kernel pushes 200 (encap mpls 200), rampartd pops 200 (PHP)
#   swap      192.0.2.1 -> CE .11:  the kernel pushes 300, rampartd swaps 300 -> 301 back to the VM,
#                                   the kernel swaps 301 -> 302, rampartd pops 302 to the CE
#             CE .11 -> 192.0.2.1:  rampartd pushes 400, the kernel swaps 400 -> 401, rampartd swaps
#                                   401 -> 402, the kernel pops 402
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpmk$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"
# shellcheck source=vm/peer-vm.sh
. "$HERE/vm/peer-vm.sh"

MAC_CE=02:aa:00:00:00:0a MAC_VM=02:cc:00:00:00:02
MAC_PORT_CE=02:00:00:00:00:0c MAC_PORT_CORE=02:00:00:00:00:01

mplsk_prerequisites() {
    local missing=() tool
    for tool in ip ethtool timeout tshark ping python3 qemu-system-x86_64; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    ((EUID == 0)) || missing+=("root")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]} (scripts/deps.sh installs them)"
    return 1
}

mplsk_topology_up() {
    rp_ns_create rtr && rp_ns_create ce || return 1
    rp_veth ce eth0 rtr m-ce || return 1
    vm_start "$WORK" "$(rp_ns rtr):r-core:$MAC_VM" || { echo "FAIL peer VM: it did not boot (reason above)"; return 1; }
    rp_port_setup ce eth0 "$MAC_CE" quiet && rp_port_setup rtr m-ce "$MAC_PORT_CE" quiet &&
        rp_port_setup rtr r-core "$MAC_PORT_CORE" quiet || return 1
    rp_wait_carrier rtr m-ce || return 1
    rp_exec ce ip addr add 198.51.100.10/24 dev eth0 &&
        rp_exec ce ip addr add 198.51.100.11/24 dev eth0 &&
        rp_exec ce ip route add default via 198.51.100.1 &&
        rp_exec ce ip neigh replace 198.51.100.1 lladdr "$MAC_PORT_CE" dev eth0 nud permanent || return 1
    vm_run "set -e
        modprobe mpls_router
        modprobe mpls_iptunnel
        echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6
        ip link set eth0 up
        ip addr add 203.0.113.2/24 dev eth0
        ip addr add 192.0.2.1/32 dev lo
        ip addr add 192.0.2.2/32 dev lo
        ip neigh replace 203.0.113.1 lladdr $MAC_PORT_CORE dev eth0 nud permanent
        sysctl -qw net.mpls.platform_labels=1000 net.mpls.conf.eth0.input=1 net.mpls.conf.lo.input=1
        ip -f mpls route add 100 dev lo
        ip -f mpls route add 402 dev lo
        ip -f mpls route add 301 as 302 via inet 203.0.113.1 dev eth0
        ip -f mpls route add 400 as 401 via inet 203.0.113.1 dev eth0
        ip route add 198.51.100.0/24 encap mpls 200 via inet 203.0.113.1 dev eth0 src 192.0.2.2
        ip route add 198.51.100.11/32 encap mpls 300 via inet 203.0.113.1 dev eth0 src 192.0.2.1"
}

mplsk_config() {
    cat <<EOC
! mpls_kernel.sh: rampartd between a CE and the Linux kernel's MPLS (the peer VM)
interface ce device net_af_packet0,iface=m-ce
interface ce address 198.51.100.1/24
interface ce neighbor 198.51.100.10 $MAC_CE
interface ce neighbor 198.51.100.11 $MAC_CE
! qdisc_bypass=0: what rampartd sends passes the kernel's taps, so tshark on r-core sees it
interface core device net_af_packet1,iface=r-core,qdisc_bypass=0
interface core address 203.0.113.1/24
interface core mpls
interface core neighbor 203.0.113.2 $MAC_VM
route 192.0.2.0/24 via 203.0.113.2 interface core labels 100
route 192.0.2.1/32 via 203.0.113.2 interface core labels 400
mpls label 200 pop via 198.51.100.10
mpls label 300 swap 301 via 203.0.113.2
mpls label 401 swap 402 via 203.0.113.2
mpls label 302 pop via 198.51.100.11
EOC
}

# ilm_packets LABEL — packets counted on rampartd's incoming label LABEL
ilm_packets() {
    cli "show mpls label $1" | sed -n 's/.* \([0-9][0-9]*\) packets.*/\1/p' | head -1
}
# kernel_mpls_rx — packets the VM's eth0 received labelled (ip -s -f mpls link)
kernel_mpls_stats() { vm_run "ip -s -f mpls link show dev eth0"; }

capture_start() {
    CAPTURE="$WORK/$1.pcapng"
    rp_exec rtr tshark -q -i r-core -w "$CAPTURE" >"$WORK/$1.tshark" 2>&1 &
    CAPTURE_PID=$!
    rp_wait_until 15 grep -q "Capturing on" "$WORK/$1.tshark" || return 1
    sleep 1  # "Capturing on" comes a little before the first packet is taken
}
capture_stop() {
    sleep 0.5
    kill -TERM "$CAPTURE_PID" 2>/dev/null  # not INT: a script's background job ignores it
    rp_wait_until 10 eval "! kill -0 $CAPTURE_PID 2>/dev/null" || kill -KILL "$CAPTURE_PID" 2>/dev/null
    wait "$CAPTURE_PID" 2>/dev/null
}
# labelled SRC_MAC LABEL MIN — at least MIN frames from SRC_MAC with top label LABEL over ICMP
labelled() {
    local n
    n=$(tshark -r "$CAPTURE" -Y "eth.src == $1 && mpls.label == $2 && icmp" 2>/dev/null | wc -l)
    echo "label $2 from $1: $n frames"
    ((n >= $3))
}
no_plain_icmp() {  # nothing crossed the core link unlabelled
    local n
    n=$(tshark -r "$CAPTURE" -Y 'icmp && !mpls' 2>/dev/null | wc -l)
    echo "unlabelled ICMP on the core link: $n frames"
    ((n == 0))
}
ce_ping() {
    for _ in 1 2 3 4 5; do rp_exec ce ping -c 1 -W 2 "$@" >/dev/null 2>&1 && break; done
    expect_output ' 0% packet loss' rp_exec ce ping -c 5 -i 0.3 -W 3 "$@"
}
vm_ping() {
    vm_run -t 40 "for t in 1 2 3 4 5; do ping -c 1 -W 2 $* >/dev/null && break; done; ping -c 5 -i 0.3 -W 3 $*" |
        tee /dev/stderr | grep -q ' 0% packet loss'
}

interop_begin_own mpls-kernel mplsk_prerequisites mplsk_topology_up mplsk_config
echo "peer VM: kernel $(vm_run 'uname -r'), $(cat "$VM_DIR/accel")"

kernel_tables() {
    vm_run "ip -f mpls route show; ip route show 198.51.100.0/24; ip route show 198.51.100.11" | tee "$WORK/kernel-routes" &&
        grep -q '^100 dev lo' "$WORK/kernel-routes" && grep -q '^301 as to 302 via inet 203.0.113.1 dev eth0' "$WORK/kernel-routes" &&
        grep -q '^400 as to 401 via inet 203.0.113.1 dev eth0' "$WORK/kernel-routes" &&
        grep -q 'encap mpls  *200 via 203.0.113.1 dev eth0' "$WORK/kernel-routes"
}
check "the VM kernel's MPLS: mpls_router/mpls_iptunnel loaded, label routes (ip -f mpls route) and encap routes in place" kernel_tables

push_pop() {
    local before after
    before=$(ilm_packets 200)
    capture_start pushpop || return 1
    ce_ping 192.0.2.2; local rc=$?
    capture_stop
    after=$(ilm_packets 200)
    echo "rampartd's label 200 (pop): ${before:-?} -> ${after:-?} packets"
    ((rc == 0)) && labelled "$MAC_PORT_CORE" 100 3 && labelled "$MAC_VM" 200 3 && no_plain_icmp &&
        ((after - before >= 5))
}
check "push/pop both ways: rampartd pushes 100, the kernel pops it; the kernel pushes 200, rampartd pops it (CE <-> VM pings)" push_pop

swap_both() {
    local b300 b401 b302 a300 a401 a302
    b300=$(ilm_packets 300) b401=$(ilm_packets 401) b302=$(ilm_packets 302)
    capture_start swap || return 1
    vm_ping -I 192.0.2.1 198.51.100.11; local rc=$?
    capture_stop
    a300=$(ilm_packets 300) a401=$(ilm_packets 401) a302=$(ilm_packets 302)
    echo "rampartd: label 300 (swap) +$((a300 - b300)), 401 (swap) +$((a401 - b401)), 302 (pop) +$((a302 - b302)) packets"
    kernel_mpls_stats
    ((rc == 0)) &&
        labelled "$MAC_VM" 300 3 && labelled "$MAC_PORT_CORE" 301 3 && labelled "$MAC_VM" 302 3 &&
        labelled "$MAC_PORT_CORE" 400 3 && labelled "$MAC_VM" 401 3 && labelled "$MAC_PORT_CORE" 402 3 &&
        no_plain_icmp && ((a300 - b300 >= 5 && a401 - b401 >= 5 && a302 - b302 >= 5))
}
check "swap both ways: 300 -> (rampartd) 301 -> (kernel) 302 -> (rampartd pop), 400 -> (kernel) 401 -> (rampartd) 402 -> (kernel pop)" swap_both

kernel_counted() {
    local out
    out=$(kernel_mpls_stats) || return 1
    echo "$out"
    # "RX: bytes packets ..." then the numbers, for the mpls family
    awk '/RX:/ { getline; if ($2 + 0 >= 20) ok = 1 } END { exit !ok }' <<<"$out"
}
check "the VM kernel counted the labelled packets it received (ip -s -f mpls link)" kernel_counted

interop_end
