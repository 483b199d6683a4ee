# shellcheck shell=bash
# netns-lib.sh — network-namespace helpers for the demo lab and interop tests.
# Source it:   . scripts/netns-lib.sh
#              rp_cleanup_on_exit
#              rp_ns_create a; rp_ns_create b
#              rp_veth a eth0 b eth0          # created down
#              rp_ipv6_quiet a eth0; rp_offloads_off a eth0 ...   # before bringing up
#              rp_link_up a eth0; rp_link_up b eth0; rp_wait_carrier a eth0
#              rp_exec a ip addr add 192.0.2.1/24 dev eth0
# Namespaces are named "$RP_NS_PREFIX<name>" (default "rp<pid>-") so parallel runs
# never collide; rp_cleanup removes everything this shell created, and also
# sweeps namespaces with the prefix (covers rp_ns_create run in a subshell).
# All waits are bounded. Works under `set -euo pipefail`. Needs root, iproute2,
# and ethtool for rp_offloads_off.

if [[ -n "${RP_NETNS_LIB_LOADED:-}" ]]; then return 0; fi
RP_NETNS_LIB_LOADED=1

: "${RP_NS_PREFIX:=rp$$-}"
: "${RP_WAIT_SECONDS:=10}"
RP_CREATED_NS=()     # full namespace names, in creation order
RP_CREATED_LINKS=()  # interfaces created in the current namespace ("-")
RP_CLEANING=

# rp_log MSG... — message on stderr, tagged.
rp_log() { echo "netns-lib: $*" >&2; }

# rp_ns NAME — print the full namespace name for NAME ("-" stays "-": current namespace).
rp_ns() {
    if [[ "$1" == "-" ]]; then echo "-"; else echo "${RP_NS_PREFIX}$1"; fi
}

# rp_exec NAME CMD... — run CMD inside namespace NAME ("-" = the current namespace).
rp_exec() {
    local ns="$1"; shift
    if [[ "$ns" == "-" ]]; then "$@"; else ip netns exec "$(rp_ns "$ns")" "$@"; fi
}

# rp_ns_create NAME — create namespace NAME, bring its loopback up, record it for cleanup.
rp_ns_create() {
    local full; full="$(rp_ns "$1")"
    [[ "$1" != "-" && -n "$1" ]] || { rp_log "rp_ns_create: need a name"; return 1; }
    ip netns add "$full" || { rp_log "cannot create namespace $full"; return 1; }
    RP_CREATED_NS+=("$full")
    ip -n "$full" link set lo up
}

# rp_veth NS_A IF_A NS_B IF_B — veth pair IF_A (in NS_A) <-> IF_B (in NS_B), both left down.
rp_veth() {
    local ns_a="$1" if_a="$2" ns_b="$3" if_b="$4"
    local n
    for n in "$if_a" "$if_b"; do
        (( ${#n} >= 1 && ${#n} <= 15 )) || { rp_log "bad interface name '$n' (1-15 chars)"; return 1; }
    done
    # Each end is created directly in its namespace: nothing transits the
    # current namespace, so names cannot clash with other runs.
    local where_a=() where_b=()
    [[ "$ns_a" == "-" ]] || where_a=(netns "$(rp_ns "$ns_a")")
    [[ "$ns_b" == "-" ]] || where_b=(netns "$(rp_ns "$ns_b")")
    ip link add "$if_a" "${where_a[@]}" type veth peer name "$if_b" "${where_b[@]}" ||
        { rp_log "cannot create veth $ns_a/$if_a <-> $ns_b/$if_b"; return 1; }
    # Only ends in the current namespace outlive namespace deletion.
    [[ "$ns_a" != "-" ]] || RP_CREATED_LINKS+=("$if_a")
    [[ "$ns_b" != "-" ]] || RP_CREATED_LINKS+=("$if_b")
}

# rp_link_up NS IF — set IF up (does not wait: the peer end may still be down).
rp_link_up() { rp_exec "$1" ip link set dev "$2" up; }

# rp_wait_carrier NS IF [SECONDS] — wait (bounded, default $RP_WAIT_SECONDS) until IF has carrier.
rp_wait_carrier() {
    rp_wait_until "${3:-$RP_WAIT_SECONDS}" rp_has_carrier "$1" "$2" ||
        { rp_log "$1/$2: no carrier after ${3:-$RP_WAIT_SECONDS}s (is the peer up?)"; return 1; }
}

# rp_has_carrier NS IF — succeed if IF reports LOWER_UP.
rp_has_carrier() {
    rp_exec "$1" ip -o link show dev "$2" 2>/dev/null | grep -q 'LOWER_UP'
}

# rp_offloads_off NS IF — disable tx checksum, TSO, GSO, GRO: af_packet would otherwise see
# oversized super-frames and packets with partial checksums.
rp_offloads_off() {
    command -v ethtool >/dev/null 2>&1 ||
        { rp_log "ethtool not found (apt-get install ethtool)"; return 1; }
    rp_exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 && return 0
    # Retry feature by feature so the message names what the driver refused.
    local feature failed=()
    for feature in tx tso gso gro; do
        rp_exec "$1" ethtool -K "$2" "$feature" off >/dev/null 2>&1 || failed+=("$feature")
    done
    (( ${#failed[@]} == 0 )) || { rp_log "$1/$2: cannot disable ${failed[*]}"; return 1; }
}

# rp_sysctl_if NS FAMILY IF KNOB VALUE — write /proc/sys/net/FAMILY/conf/IF/KNOB (FAMILY ipv4|ipv6).
rp_sysctl_if() {
    local ns="$1" family="$2" ifname="$3" knob="$4" value="$5"
    # Via /proc rather than sysctl(8): interface names may contain dots.
    # shellcheck disable=SC2016  # expanded by the inner sh, on purpose
    rp_exec "$ns" sh -c 'echo "$1" > "/proc/sys/net/$2/conf/$3/$4"' _ "$value" "$family" "$ifname" "$knob" ||
        { rp_log "$ns: cannot set net.$family.conf.$ifname.$knob=$value"; return 1; }
}

# rp_ipv6_quiet NS IF — no DAD, no SLAAC, no RA/RS on IF; call before addresses are added / link up.
rp_ipv6_quiet() {
    local knob
    for knob in accept_dad=0 dad_transmits=0 accept_ra=0 autoconf=0 router_solicitations=0; do
        rp_sysctl_if "$1" ipv6 "$2" "${knob%%=*}" "${knob#*=}" || return 1
    done
}

# rp_ipv6_off NS IF — disable IPv6 entirely on IF (no link-local, no ND traffic at all).
rp_ipv6_off() { rp_sysctl_if "$1" ipv6 "$2" disable_ipv6 1; }

# rp_wait_until SECONDS CMD... — rerun CMD every 0.1 s until it succeeds; fail after SECONDS.
rp_wait_until() {
    local limit="$1"; shift
    local deadline=$(( $(date +%s%N) / 1000000 + limit * 1000 ))
    until "$@"; do
        (( $(date +%s%N) / 1000000 < deadline )) || return 1
        sleep 0.1
    done
}

# rp_ns_kill NS_FULL — stop processes left inside a namespace: TERM, then KILL after 2 s.
rp_ns_kill() {
    local pids
    pids="$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')"
    [[ -n "${pids// /}" ]] || return 0
    # shellcheck disable=SC2086  # word splitting of the pid list is intended
    kill -TERM $pids 2>/dev/null || true
    rp_wait_until 2 rp_ns_empty "$1" && return 0
    pids="$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')"
    # shellcheck disable=SC2086
    [[ -z "${pids// /}" ]] || kill -KILL $pids 2>/dev/null || true
}

# rp_ns_empty NS_FULL — succeed if no process runs in the namespace.
rp_ns_empty() { [[ -z "$(ip netns pids "$1" 2>/dev/null)" ]]; }

# rp_cleanup — remove every namespace and link this run created; safe to call twice.
rp_cleanup() {
    [[ -z "$RP_CLEANING" ]] || return 0
    RP_CLEANING=1
    local link ns i
    for link in "${RP_CREATED_LINKS[@]}"; do
        ip link del dev "$link" 2>/dev/null || true
    done
    RP_CREATED_LINKS=()
    # Newest first, then anything else carrying our prefix.
    local all=()
    for (( i = ${#RP_CREATED_NS[@]} - 1; i >= 0; i-- )); do all+=("${RP_CREATED_NS[i]}"); done
    while read -r ns _; do
        [[ "$ns" == "$RP_NS_PREFIX"* ]] && all+=("$ns")
    done < <(ip netns list 2>/dev/null)
    for ns in "${all[@]}"; do
        [[ -e "/run/netns/$ns" ]] || continue
        rp_ns_kill "$ns"
        ip netns del "$ns" 2>/dev/null || rp_log "cannot delete namespace $ns"
    done
    RP_CREATED_NS=()
    RP_CLEANING=
}

# rp_cleanup_on_exit — run rp_cleanup on EXIT, and on INT/TERM/HUP before exiting.
rp_cleanup_on_exit() {
    trap 'rp_cleanup' EXIT
    trap 'rp_cleanup; exit 130' INT
    trap 'rp_cleanup; exit 143' TERM
    trap 'rp_cleanup; exit 129' HUP
}
