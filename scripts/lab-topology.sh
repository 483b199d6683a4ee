# shellcheck shell=bash
# lab-topology.sh — the namespaces and veths behind examples/lab.conf, shared by
# the demo lab (scripts/lab) and the interop tests. Source after netns-lib.sh.
#
#   namespace rtr : rampartd, ports lab-pa lab-pb lab-pc (af_packet) + its TAP twins
#   namespace a   : eth0 198.51.100.10/24 2001:db8:a::10/64, default via rampartd
#   namespace b   : eth0 203.0.113.10/25 2001:db8:b::10/64 (primary path)
#                   eth1 203.0.113.138/25 2001:db8:bc::10/64 (second path)
#                   lo   192.0.2.10/32 2001:db8:c::10/128 (the "remote" service)

# lab_topology_up — create everything; namespaces are "$(rp_ns rtr)" etc.
lab_topology_up() {
    rp_ns_create rtr
    rp_ns_create a
    rp_ns_create b
    rp_veth a eth0 rtr lab-pa
    rp_veth b eth0 rtr lab-pb
    rp_veth b eth1 rtr lab-pc
    local ns ifc
    for ns_if in "a eth0" "b eth0" "b eth1" "rtr lab-pa" "rtr lab-pb" "rtr lab-pc"; do
        read -r ns ifc <<<"$ns_if"
        rp_offloads_off "$ns" "$ifc"
        rp_ipv6_quiet "$ns" "$ifc"
        rp_link_up "$ns" "$ifc"
    done
    for ifc in lab-pa lab-pb lab-pc; do rp_wait_carrier rtr "$ifc"; done

    rp_exec a ip addr add 198.51.100.10/24 dev eth0
    rp_exec a ip addr add 2001:db8:a::10/64 dev eth0 nodad
    rp_exec a ip route add default via 198.51.100.1
    rp_exec a ip -6 route add default via 2001:db8:a::1

    rp_exec b ip addr add 203.0.113.10/25 dev eth0
    rp_exec b ip addr add 2001:db8:b::10/64 dev eth0 nodad
    rp_exec b ip addr add 203.0.113.138/25 dev eth1
    rp_exec b ip addr add 2001:db8:bc::10/64 dev eth1 nodad
    rp_exec b ip addr add 192.0.2.10/32 dev lo
    rp_exec b ip addr add 2001:db8:c::10/128 dev lo
    rp_exec b ip route add default via 203.0.113.1
    rp_exec b ip -6 route add default via 2001:db8:b::1
    # B answers on whichever path a packet came in; loose reverse-path check.
    rp_sysctl_if b ipv4 all rp_filter 0
    rp_sysctl_if b ipv4 eth1 rp_filter 0
}

# lab_rampartd_start RAMPARTD CONFIG SOCKET LOG — start rampartd in the rtr namespace
# (no hugepages, no PCI: one control lcore and one worker) and wait for its CLI.
lab_rampartd_start() {
    local bin="$1" conf="$2" sock="$3" log="$4"
    rp_exec rtr "$bin" --config "$conf" --socket "$sock" -- \
        -l 0-1 --no-huge --no-pci -m 1024 --no-telemetry --file-prefix "rampart-lab-$$" >"$log" 2>&1 &
    LAB_RAMPARTD_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -S "$sock" ]] && return 0
        kill -0 "$LAB_RAMPARTD_PID" 2>/dev/null || { echo "rampartd exited; its log:" >&2; cat "$log" >&2; return 1; }
        sleep 0.1
    done
    echo "rampartd did not open $sock within 10 s; its log:" >&2
    cat "$log" >&2
    return 1
}

# lab_rampartd_stop — SIGTERM, wait up to 10 s, then SIGKILL.
lab_rampartd_stop() {
    [[ -n "${LAB_RAMPARTD_PID:-}" ]] || return 0
    kill -TERM "$LAB_RAMPARTD_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$LAB_RAMPARTD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$LAB_RAMPARTD_PID" 2>/dev/null || true
    wait "$LAB_RAMPARTD_PID" 2>/dev/null || true
    LAB_RAMPARTD_PID=
}
