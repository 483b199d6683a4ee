#!/usr/bin/env bash
# Interop: an 802.1Q sub-interface (pb.100, VLAN 100 on port pb) configured live
# through rampart-cli, with host B on VLAN 100 (eth0.100, a real kernel VLAN
# device) and the kernel's VLAN link rp-pb.100 on pb's TAP twin as the
# sub-interface's exception path.
#   usage: vlan.sh RAMPARTD RAMPART_CLI
# Addresses (unused by examples/lab.conf): 192.0.2.128/26 and 2001:db8:100::/64
# on the VLAN (rampartd .129 / ::1, host B .130 / ::10), 192.0.2.224/27 routed
# to B through it (192.0.2.230 on B's loopback).
#
# Two ways, each 12 checks, chosen by this kernel:
# - with 802.1Q (CONFIG_VLAN_8021Q): host B is a namespace here, and rampartd's
#   exception path has its kernel VLAN link rp-pb.100 (created, addressed, mirrored
#   routes, shutdown following, removal).
# - without it (this project's sandbox and CI): host B is the peer VM
#   (tests/interop/vm: Debian's stock kernel), on pb's wire through a TAP, with
#   eth0.100 in its kernel; rampartd runs here, so its twin cannot have the VLAN
#   link: the checks are then the data plane against B's kernel VLAN device
#   (pings both families, a route via the VLAN next hop, both directions tagged,
#   shutdown and removal), rampartd's warning naming the link it cannot create,
#   the punt of B's tagged ARP to the twin unchanged, and the twin's tagged
#   output reaching B's eth0.100. rampartd itself in the VM would need KVM (the
#   release build uses the host's AVX-512, which TCG does not emulate) or a build
#   TCG can run: with RAMPART_VM_BUILD=DIR (e.g. a build configured with
#   -Dcpp_args=-march=x86-64-v3 -Dc_args=-march=x86-64-v3) the whole suite runs
#   inside the peer VM instead, where the kernel has 802.1Q: the first 12 checks,
#   rampartd's twin VLAN link included.
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpv$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"
# shellcheck source=vm/peer-vm.sh
. "$HERE/vm/peer-vm.sh"
counter() {  # counter IFNAME WHAT — e.g. "punted" or "local out" from show interface
    cli "show interface $1" | sed -n "s/.* \([0-9]*\) $2.*/\1/p" | head -1
}

# kernel_has_8021q — can this kernel make a VLAN device? (a throw-away namespace)
kernel_has_8021q() {
    local ns="rpv$$-probe" rc
    ip netns add "$ns" || return 2
    ip -n "$ns" link add v0 type veth peer name v1 &&
        ip -n "$ns" link add link v0 name v0.100 type vlan id 100 2>"/tmp/rpv$$-probe.err"
    rc=$?
    ip netns del "$ns"
    local why
    why=$(cat "/tmp/rpv$$-probe.err" 2>/dev/null)
    rm -f "/tmp/rpv$$-probe.err"
    ((rc == 0)) && return 0
    [[ $why == *"Unknown device type"* ]] && return 1
    echo "$why"
    return 2
}

configure() {  # the sub-interface, live; every command must be accepted
    cli "interface pb.100 vlan 100 parent pb" | tee "$WORK/vlan-warnings" &&
        cli "interface pb.100 description \"host B, VLAN 100\"" &&
        cli "interface pb.100 address 192.0.2.129/26" &&
        cli "interface pb.100 address 2001:db8:100::1/64" &&
        cli "route 192.0.2.224/27 via 192.0.2.130" &&
        cli "show interface pb.100" | grep -q "802.1Q vlan 100 on pb"
}

# With 802.1Q here: B is a namespace, rampartd makes its VLAN link on the twin.
local_checks() {
    interop_begin vlan
    in_b ip link add link eth0 name eth0.100 type vlan id 100 || { ((failed++)); interop_end; exit 1; }
    rp_ipv6_quiet b eth0.100
    rp_sysctl_if b ipv4 eth0.100 rp_filter 0
    in_b ip link set dev eth0.100 up
    in_b ip addr add 192.0.2.130/26 dev eth0.100
    in_b ip addr add 2001:db8:100::10/64 dev eth0.100 nodad
    in_b ip addr add 192.0.2.230/32 dev lo
    # Replies to host A go back through the VLAN too: both directions are tagged.
    in_b ip route add 198.51.100.0/24 via 192.0.2.129
    in_b ip -6 route add 2001:db8:a::/64 via 2001:db8:100::1

    check "sub-interface pb.100 configured live via rampart-cli" configure
    no_warning() { ! grep -q warning "$WORK/vlan-warnings"; }
    check "rampartd created its VLAN link without a warning" no_warning

    kernel_link() {
        expect_output 'rp-pb\.100@rp-pb.* mtu 1500 .*vlan protocol 802\.1Q id 100' in_rtr ip -d -o link show dev rp-pb.100 &&
            expect_output 'inet 192\.0\.2\.129/26' in_rtr ip -o addr show dev rp-pb.100 &&
            expect_output 'inet6 2001:db8:100::1/64' in_rtr ip -o addr show dev rp-pb.100 &&
            [[ "$(in_rtr cat /proc/sys/net/ipv6/conf/rp-pb.100/accept_ra)" == 0 ]] &&
            [[ "$(in_rtr cat /proc/sys/net/ipv6/conf/rp-pb.100/autoconf)" == 0 ]] &&
            [[ "$(in_rtr cat /proc/sys/net/ipv6/conf/rp-pb.100/router_solicitations)" == 0 ]]
    }
    check "kernel VLAN link rp-pb.100 on rp-pb: VLAN 100, MTU, addresses, no autoconf" kernel_link

    check "ipv4 ping B -> rampartd's sub-interface address"  ping_all b 192.0.2.129
    check "ipv6 ping B -> rampartd's sub-interface address"  ping_all b -6 2001:db8:100::1
    check "ipv4 ping A -> B's VLAN address through rampartd" ping_all a 192.0.2.130
    check "ipv6 ping A -> B's VLAN address through rampartd" ping_all a -6 2001:db8:100::10

    neighbors() {
        expect_output '^pb\.100 +192\.0\.2\.130 ' cli "show neighbors" &&
            expect_output '^pb\.100 +2001:db8:100::10 ' cli "show neighbors"
    }
    check "show neighbors lists B's VLAN addresses on pb.100" neighbors

    static_route() {
        expect_output 'via 192\.0\.2\.130 dev rp-pb\.100' in_rtr ip route show 192.0.2.224/27 &&
            ping_all a 192.0.2.230 &&
            ping_all rtr 192.0.2.230  # the kernel's own traffic, out through the VLAN link
    }
    check "static route via a sub-interface next hop: mirrored on rp-pb.100, forwarded" static_route

    exception_counters() {
        local punted local_out
        punted=$(counter pb.100 punted)
        local_out=$(counter pb.100 "local out")
        echo "pb.100: $punted punted, $local_out local out"
        ((punted > 0 && local_out > 0))
    }
    check "exception-path counters on pb.100" exception_counters

    shutdown_follows() {
        cli "interface pb.100 shutdown" || return 1
        expect_output 'state DOWN' in_rtr ip -o link show dev rp-pb.100 || return 1
        ! in_b ping -c 2 -i 0.2 -W 1 192.0.2.129 || return 1
        cli "no interface pb.100 shutdown" || return 1
        expect_output '<[^>]*,UP[,>]' in_rtr ip -o link show dev rp-pb.100 &&
            ping_all b 192.0.2.129
    }
    check "shutdown of pb.100 takes rp-pb.100 down, no shutdown brings it back" shutdown_follows

    removed() {
        cli "no interface pb.100 vlan 100 parent pb" || return 1
        ! in_rtr ip link show dev rp-pb.100 || return 1
        [[ -z "$(in_rtr ip route show 192.0.2.224/27)" ]] || return 1
        expect_output '192\.0\.2\.224/27 +gateway 192\.0\.2\.130 is not on any connected subnet' cli "show route" &&
            ! in_a ping -c 2 -i 0.2 -W 1 192.0.2.130
    }
    check "no interface pb.100: the kernel VLAN link and its route are gone" removed
}


# --- without 802.1Q here: host B is the peer VM, rampartd's twin has no VLAN link ---
MAC_B=02:bb:00:00:00:10

vlan_vm_prerequisites() {
    local missing=() tool
    for tool in ip ethtool timeout python3 qemu-system-x86_64; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import scapy.all' 2>/dev/null || missing+=("python3-scapy")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]} (scripts/deps.sh installs them)"
    return 1
}

# examples/lab.conf's topology, host B's eth0 (port pb's wire) being the VM's eth0.
vlan_vm_topology() {
    rp_ns_create rtr && rp_ns_create a && rp_ns_create b || return 1
    rp_veth a eth0 rtr lab-pa && rp_veth b eth1 rtr lab-pc || return 1
    vm_start "$WORK" "$(rp_ns rtr):lab-pb:$MAC_B" || { echo "FAIL peer VM: it did not boot (reason above)"; return 1; }
    local ns ifc ns_if
    for ns_if in "a eth0" "b eth1" "rtr lab-pa" "rtr lab-pb" "rtr lab-pc"; do
        read -r ns ifc <<<"$ns_if"
        rp_offloads_off "$ns" "$ifc" && rp_ipv6_quiet "$ns" "$ifc" && rp_link_up "$ns" "$ifc" || return 1
    done
    for ifc in lab-pa lab-pb lab-pc; do rp_wait_carrier rtr "$ifc" || return 1; done
    in_a ip addr add 198.51.100.10/24 dev eth0 && in_a ip addr add 2001:db8:a::10/64 dev eth0 nodad &&
        in_a ip route add default via 198.51.100.1 && in_a ip -6 route add default via 2001:db8:a::1 &&
        in_b ip addr add 203.0.113.138/25 dev eth1 || return 1
    PB_MAC=$(in_rtr cat /sys/class/net/lab-pb/address)
    vm_run "set -e
        modprobe 8021q
        q() { for k in accept_dad=0 dad_transmits=0 accept_ra=0 autoconf=0 router_solicitations=0; do
                  echo \${k#*=} >/proc/sys/net/ipv6/conf/\$1/\${k%=*}; done; }
        q eth0
        ip link set eth0 up
        ip addr add 203.0.113.10/25 dev eth0
        ip link add link eth0 name eth0.100 type vlan id 100
        q eth0.100
        echo 0 >/proc/sys/net/ipv4/conf/eth0.100/rp_filter
        echo 0 >/proc/sys/net/ipv4/conf/all/rp_filter
        ip link set eth0.100 up
        ip addr add 192.0.2.130/26 dev eth0.100
        ip addr add 2001:db8:100::10/64 dev eth0.100 nodad
        ip addr add 192.0.2.230/32 dev lo
        ip route add 198.51.100.0/24 via 192.0.2.129
        ip -6 route add 2001:db8:a::/64 via 2001:db8:100::1
        # rampartd's twin has no VLAN link to answer ARP/ND for pb.100: B knows its MAC
        ip neigh replace 192.0.2.129 lladdr $PB_MAC dev eth0.100 nud permanent
        ip -6 neigh replace 2001:db8:100::1 lladdr $PB_MAC dev eth0.100 nud permanent"
}
vlan_vm_config() { cat "$TOP/examples/lab.conf"; }

# vm_vlan_counts — "RX TX" packets of B's eth0.100
vm_vlan_counts() {
    vm_run "cat /sys/class/net/eth0.100/statistics/rx_packets /sys/class/net/eth0.100/statistics/tx_packets" | tr '\n' ' '
}

vm_checks() {
    interop_begin_own vlan vlan_vm_prerequisites vlan_vm_topology vlan_vm_config
    echo "host B is the peer VM: kernel $(vm_run 'uname -r'), $(cat "$VM_DIR/accel")"

    configure_with_neighbors() {
        configure &&
            cli "interface pb.100 neighbor 192.0.2.130 $MAC_B" &&
            cli "interface pb.100 neighbor 2001:db8:100::10 $MAC_B"
    }
    check "sub-interface pb.100 configured live via rampart-cli (B's addresses as static neighbours)" configure_with_neighbors

    warned() {  # rampartd says why the exception path is missing, naming the link it wanted
        cat "$WORK/vlan-warnings"
        grep -q 'warning: RTM_NEWLINK rp-pb.100 vlan 100 on rp-pb: Operation not supported' "$WORK/vlan-warnings"
    }
    check "rampartd names the VLAN link this kernel cannot create (rp-pb.100 on rp-pb)" warned

    check "B's kernel (the peer VM) has eth0.100: 802.1Q VLAN 100 on eth0, B's VLAN addresses" \
        expect_output 'eth0\.100@eth0.*vlan protocol 802\.1Q id 100 .*inet 192\.0\.2\.130/26.*inet6 2001:db8:100::10/64' \
        vm_run "ip -d -o link show dev eth0.100 | tr '\n' ' '; ip -o addr show dev eth0.100 | tr '\n' ' '"

    local before
    before=$(vm_vlan_counts)
    check "ipv4 ping A -> B's VLAN address through rampartd" ping_all a 192.0.2.130
    check "ipv6 ping A -> B's VLAN address through rampartd" ping_all a -6 2001:db8:100::10

    tagged_both_ways() {  # untagged frames would reach B's eth0, not eth0.100, and rampartd's pb, not pb.100
        local after rx0 tx0 rx1 tx1
        after=$(vm_vlan_counts)
        read -r rx0 tx0 <<<"$before"
        read -r rx1 tx1 <<<"$after"
        echo "B's eth0.100: $((rx1 - rx0)) packets in, $((tx1 - tx0)) out during the pings"
        cli "show interface pb.100"
        ((rx1 - rx0 >= 10 && tx1 - tx0 >= 10))
    }
    check "both directions tagged: B's kernel VLAN device counted the pings in and out" tagged_both_ways

    neighbors() {
        expect_output '^pb\.100 +192\.0\.2\.130 ' cli "show neighbors" &&
            expect_output '^pb\.100 +2001:db8:100::10 ' cli "show neighbors"
    }
    check "show neighbors lists B's VLAN addresses on pb.100" neighbors

    static_route() {
        expect_output '192\.0\.2\.224/27 .*192\.0\.2\.130' cli "show route" && ping_all a 192.0.2.230
    }
    check "static route via a sub-interface next hop: installed, forwarded to B over VLAN 100" static_route

    # B's kernel ARPs (tagged, from eth0.100) for an address of the VLAN subnet: rampartd
    # punts the frame to pb's twin as it came, tag included.
    punt_tagged() {
        local before_p after_p
        before_p=$(counter pb.100 punted)
        rm -f "$WORK/ready"
        in_rtr /usr/bin/python3 "$HERE/vlan_frames.py" expect rp-pb 100 request 192.0.2.130 192.0.2.131 "$WORK/ready" 20 &
        local pid=$!
        rp_wait_until 15 test -e "$WORK/ready" || return 1
        vm_run "ping -c 2 -W 1 192.0.2.131" >/dev/null
        wait "$pid" || return 1
        after_p=$(counter pb.100 punted)
        echo "pb.100 punted: $before_p -> $after_p"
        ((after_p > before_p))
    }
    check "B's kernel's tagged ARP for the VLAN subnet is punted unchanged to rp-pb, counted on pb.100" punt_tagged

    # What the kernel sends tagged on the twin leaves the port as it is and reaches B's eth0.100.
    twin_tagged_out() {
        local twin_mac before_o after_o rx0 rx1
        twin_mac=$(in_rtr cat /sys/class/net/rp-pb/address)
        before_o=$(counter pb.100 "local out")
        read -r rx0 _ <<<"$(vm_vlan_counts)"
        in_rtr /usr/bin/python3 "$HERE/vlan_frames.py" send rp-pb 100 reply "$twin_mac" 192.0.2.129 "$MAC_B" 192.0.2.130 || return 1
        sleep 1
        after_o=$(counter pb.100 "local out")
        read -r rx1 _ <<<"$(vm_vlan_counts)"
        echo "pb.100 local out: $before_o -> $after_o; B's eth0.100 received: $rx0 -> $rx1"
        ((after_o > before_o && rx1 > rx0))
    }
    check "a tagged frame sent on rp-pb leaves pb unchanged, counted on pb.100, received on B's eth0.100" twin_tagged_out

    shutdown_follows() {
        cli "interface pb.100 shutdown" || return 1
        ! in_a ping -c 2 -i 0.2 -W 1 192.0.2.130 || return 1
        cli "no interface pb.100 shutdown" || return 1
        ping_all a 192.0.2.130
    }
    check "shutdown of pb.100 stops forwarding to B's VLAN, no shutdown brings it back" shutdown_follows

    removed() {
        cli "no interface pb.100 vlan 100 parent pb" || return 1
        ! cli "show interface pb.100" >/dev/null 2>&1 || return 1
        expect_output '192\.0\.2\.224/27 +gateway 192\.0\.2\.130 is not on any connected subnet' cli "show route" &&
            ! in_a ping -c 2 -i 0.2 -W 1 192.0.2.130
    }
    check "no interface pb.100: the sub-interface and its route are gone, B unreachable" removed
}

# The suite itself inside the peer VM (its kernel has 802.1Q), rampartd from RAMPART_VM_BUILD.
suite_in_vm() {
    WORK="$(mktemp -d /tmp/rampart-vlan-vm.XXXXXX)"
    trap 'vm_stop; rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM
    VM_CPUS=2 VM_MEM=3072 vm_start "$WORK" || { echo "FAIL peer VM: it did not boot (reason above)"; echo "0 passed, 1 failed"; exit 1; }
    echo "running vlan.sh in the peer VM: kernel $(vm_run 'uname -r'), $(cat "$VM_DIR/accel"), rampartd from $RAMPART_VM_BUILD"
    vm_run -t "$(vm_slow 300)" "modprobe 8021q && $HERE/vlan.sh $RAMPART_VM_BUILD/src/slowpath/rampartd $RAMPART_VM_BUILD/src/cli/rampart-cli 2>&1"
    exit
}

kernel_has_8021q
case $? in
    0) local_checks ;;
    1) if [[ -n ${RAMPART_VM_BUILD:-} ]]; then suite_in_vm; else vm_checks; fi ;;
    *) echo "FAIL cannot tell whether this kernel has 802.1Q"; exit 1 ;;
esac
interop_end
