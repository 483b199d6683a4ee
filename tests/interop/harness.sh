# shellcheck shell=bash
# harness.sh — what the lab-topology interop tests share: the namespaces and
# rampartd lifecycle, PASS/FAIL bookkeeping and the ping/CLI helpers.
# Source after setting RAMPARTD, CLI, TOP, RP_NS_PREFIX; then call
# interop_begin NAME, run `check` lines, and end with interop_end.

# shellcheck source=../../scripts/netns-lib.sh
. "$TOP/scripts/netns-lib.sh"
# shellcheck source=../../scripts/lab-topology.sh
. "$TOP/scripts/lab-topology.sh"

passed=0
failed=0

# interop_begin NAME — work directory, cleanup on exit, lab topology and rampartd up.
interop_begin() {
    WORK="$(mktemp -d "/tmp/rampart-$1.XXXXXX")"
    SOCK="$WORK/rampartd.sock"
    trap interop_finish EXIT
    trap 'exit 130' INT TERM
    lab_topology_up
    lab_rampartd_start "$RAMPARTD" "$TOP/examples/lab.conf" "$SOCK" "$WORK/rampartd.log" ||
        { ((failed++)); echo "$passed passed, $failed failed"; exit 1; }
}

interop_finish() {
    lab_rampartd_stop
    ! declare -F vm_stop >/dev/null || vm_stop  # its TAPs live in our namespaces
    rp_cleanup
    if ((failed)); then
        echo "--- rampartd log ---"
        tail -50 "$WORK/rampartd.log" 2>/dev/null
    fi
    rm -rf "$WORK"
}

# interop_finish, keeping the work directory (captures, logs) when KEEP is set.
interop_finish_or_keep() {
    if [[ -n ${KEEP:-} ]]; then
        lab_rampartd_stop
        ! declare -F vm_stop >/dev/null || vm_stop
        rp_cleanup
        echo "work directory kept: $WORK"
    else
        interop_finish
    fi
}

# interop_begin_own NAME PREREQUISITES TOPOLOGY CONFIG — for tests with their own
# topology: work directory, cleanup on exit, the three functions (prerequisites
# check, namespaces up, config text on stdout), the config checked, rampartd up.
# Any failure is counted and ends the test with its closing line.
interop_begin_own() {
    local name="$1" prerequisites="$2" topology="$3" config="$4"
    WORK="$(mktemp -d "/tmp/rampart-$name.XXXXXX")"
    SOCK="$WORK/rampartd.sock"
    trap interop_finish_or_keep EXIT
    trap 'exit 130' INT TERM
    abort() { echo "FAIL $1"; ((failed++)); interop_end; exit 1; }
    "$prerequisites" || { ((failed++)); interop_end; exit 1; }
    "$topology" || abort "topology"
    "$config" >"$WORK/$name.conf"
    timeout 30 "$RAMPARTD" --check-config --config "$WORK/$name.conf" || abort "rampartd --check-config"
    lab_rampartd_start "$RAMPARTD" "$WORK/$name.conf" "$SOCK" "$WORK/rampartd.log" || abort "rampartd start"
}

# rp_port_setup NS IFC MAC quiet|silent — a veth end with its MAC, offloads off,
# IPv6 quiet (no DAD/RS) or silent (off: a scapy peer, no kernel chatter), up.
rp_port_setup() {
    rp_exec "$1" ip link set dev "$2" address "$3" || return 1
    rp_offloads_off "$1" "$2" || return 1
    if [[ $4 == silent ]]; then rp_ipv6_off "$1" "$2" || return 1; else rp_ipv6_quiet "$1" "$2" || return 1; fi
    rp_link_up "$1" "$2"
}

# interop_end — the closing line the CI reads, and the exit status.
interop_end() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

check() {  # check NAME CMD... — CMD must succeed
    local name="$1"; shift
    if "$@" >"$WORK/out" 2>&1; then
        echo "PASS $name"; ((passed++))
    else
        echo "FAIL $name"; sed 's/^/    /' "$WORK/out" | tail -15; ((failed++))
    fi
}
cli() { "$CLI" -s "$SOCK" -c "$*"; }
in_a() { rp_exec a "$@"; }
in_b() { rp_exec b "$@"; }
in_rtr() { rp_exec rtr "$@"; }

# expect_output REGEX CMD... — CMD's output (whatever its exit status) must match REGEX.
expect_output() {
    local regex="$1" out; shift
    out=$("$@" 2>&1)
    echo "$out"
    grep -qE -- "$regex" <<<"$out"
}

# ping_all NS [ping args...] — every ping comes back once the neighbours are resolved.
ping_all() {
    local ns="$1"; shift
    # Warm-up: the first packets to an unresolved neighbour are dropped (counted
    # as neighbor_unresolved) while the kernel resolves it; allow up to 5 s.
    local try
    for try in 1 2 3 4 5; do rp_exec "$ns" ping -c 1 -W 1 "$@" >/dev/null 2>&1 && break; done
    expect_output ' 0% packet loss' rp_exec "$ns" ping -c 5 -i 0.2 -W 2 "$@"
}
