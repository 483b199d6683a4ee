#!/usr/bin/env bash
# Interop: an 802.1Q sub-interface (pb.100, VLAN 100 on port pb) configured live
# through rampart-cli, with host B on VLAN 100 (eth0.100) and the kernel's VLAN
# link rp-pb.100 on pb's TAP twin as the sub-interface's exception path.
#   usage: vlan.sh RAMPARTD RAMPART_CLI
# Addresses (unused by examples/lab.conf): 192.0.2.128/26 and 2001:db8:100::/64
# on the VLAN (rampartd .129 / ::1, host B .130 / ::10), 192.0.2.224/27 routed
# to B through it (192.0.2.230 on B's loopback).
# On a kernel without 802.1Q devices (CONFIG_VLAN_8021Q unset) neither side can
# have a VLAN interface: the checks that need one are listed as SKIP, and what
# does not need one is checked with crafted tagged frames instead (punt to the
# twin unchanged, twin output to the wire unchanged, rampartd's warning).
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpv$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"
skipped=()
skip() { echo "SKIP $1 (needs 802.1Q in the kernel)"; skipped+=("$1"); }
counter() {  # counter IFNAME WHAT — e.g. "punted" or "local out" from show interface
    cli "show interface $1" | sed -n "s/.* \([0-9]*\) $2.*/\1/p" | head -1
}
interop_begin vlan

kernel_vlan=yes
if ! in_b ip link add link eth0 name eth0.100 type vlan id 100 2>"$WORK/err"; then
    if grep -q "Unknown device type" "$WORK/err"; then
        kernel_vlan=no
        echo "NOTE this kernel has no 802.1Q support (CONFIG_VLAN_8021Q): host B cannot have eth0.100"
        echo "     nor rampartd its VLAN link rp-pb.100; checking the data-plane half with crafted frames"
    else
        cat "$WORK/err"
        ((failed++)); echo "$passed passed, $failed failed"; exit 1
    fi
fi

configure() {  # the sub-interface, live; every command must be accepted
    cli "interface pb.100 vlan 100 parent pb" | tee "$WORK/vlan-warnings" &&
        cli "interface pb.100 description \"host B, VLAN 100\"" &&
        cli "interface pb.100 address 192.0.2.129/26" &&
        cli "interface pb.100 address 2001:db8:100::1/64" &&
        cli "route 192.0.2.224/27 via 192.0.2.130" &&
        cli "show interface pb.100" | grep -q "802.1Q vlan 100 on pb"
}

if [[ $kernel_vlan == yes ]]; then
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
else
    warned() {
        configure || return 1
        # rampartd says why the exception path is missing, naming the link it wanted.
        grep -q 'warning: RTM_NEWLINK rp-pb.100 vlan 100 on rp-pb: Operation not supported' "$WORK/vlan-warnings"
    }
    check "sub-interface configured live; rampartd names the VLAN link it cannot create" warned

    # A frame from B on VLAN 100 for the box reaches pb's twin as it came (tag included).
    punt_tagged() {
        local b_mac before after
        b_mac=$(in_b cat /sys/class/net/eth0/address)
        before=$(counter pb.100 punted)
        rm -f "$WORK/ready"
        in_rtr /usr/bin/python3 "$HERE/vlan_frames.py" expect rp-pb 100 request 192.0.2.130 192.0.2.129 "$WORK/ready" 10 &
        local pid=$!
        rp_wait_until 10 test -e "$WORK/ready" || return 1
        in_b /usr/bin/python3 "$HERE/vlan_frames.py" send eth0 100 request "$b_mac" 192.0.2.130 ff:ff:ff:ff:ff:ff 192.0.2.129
        wait "$pid" || return 1
        after=$(counter pb.100 punted)
        echo "pb.100 punted: $before -> $after"
        ((after > before))
    }
    check "tagged ARP from B for pb.100 is punted unchanged to rp-pb" punt_tagged

    # What the kernel sends tagged on the twin leaves the port as it is, counted on pb.100.
    twin_tagged_out() {
        local twin_mac b_mac before after
        twin_mac=$(in_rtr cat /sys/class/net/rp-pb/address)
        b_mac=$(in_b cat /sys/class/net/eth0/address)
        before=$(counter pb.100 "local out")
        rm -f "$WORK/ready"
        in_b /usr/bin/python3 "$HERE/vlan_frames.py" expect eth0 100 reply 192.0.2.129 192.0.2.130 "$WORK/ready" 10 &
        local pid=$!
        rp_wait_until 10 test -e "$WORK/ready" || return 1
        in_rtr /usr/bin/python3 "$HERE/vlan_frames.py" send rp-pb 100 reply "$twin_mac" 192.0.2.129 "$b_mac" 192.0.2.130
        wait "$pid" || return 1
        after=$(counter pb.100 "local out")
        echo "pb.100 local out: $before -> $after"
        ((after > before))
    }
    check "tagged frame sent on rp-pb leaves pb unchanged, counted on pb.100" twin_tagged_out

    removed_cleanly() {
        cli "no interface pb.100 vlan 100 parent pb" && ! cli "show interface pb.100" >/dev/null 2>&1
    }
    check "no interface pb.100 is accepted" removed_cleanly

    for name in "kernel VLAN link rp-pb.100 on rp-pb" "ipv4/ipv6 ping B -> rampartd's sub-interface address" \
        "ipv4/ipv6 ping A -> B's VLAN address" "show neighbors on pb.100" \
        "static route via a sub-interface next hop" "shutdown follows" "VLAN link deleted with the sub-interface"; do
        skip "$name"
    done
fi

interop_end
