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
    rp_cleanup
    if ((failed)); then
        echo "--- rampartd log ---"
        tail -50 "$WORK/rampartd.log" 2>/dev/null
    fi
    rm -rf "$WORK"
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
