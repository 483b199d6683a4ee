#!/usr/bin/env bash
# Interop: rampartd's BGP speaker against BIRD 2, FRR's bgpd, GoBGP and
# ExaBGP, each in its own namespace behind its own rampartd port, each over
# IPv4 and IPv6. The TCP sessions go through rampartd's fast path and its
# kernel twin (TAP) to the control core, as on the box.
#   usage: bgp.sh RAMPARTD RAMPART_CLI        (KEEP=1 keeps the work directory)
#
#   namespace lan:   eth0 198.51.100.10/24 2001:db8:a::10/64 (the host behind rampartd)
#   namespace rtr:   rampartd, AS 64500, router-id 198.51.100.1; ports
#                    lan 198.51.100.1/24 2001:db8:a::1/64, then one port per daemon:
#   namespace bird:  eth0 203.0.113.2/29  2001:db8:1::2/64  BIRD   AS 64501 (port pbird .1 / ::1)
#   namespace frr:   eth0 203.0.113.10/29 2001:db8:2::2/64  bgpd   AS 64502 (port pfrr  .9 / ::1)
#   namespace gobgp: eth0 203.0.113.18/29 2001:db8:3::2/64  gobgpd AS 64503 (port pgobgp .17 / ::1)
#   namespace exa:   eth0 203.0.113.26/29 2001:db8:4::2/64  ExaBGP AS 64504 (port pexa .25 / ::1)
#
# Directions: over IPv4 rampartd connects (BIRD, FRR and GoBGP are passive;
# ExaBGP connects too: a collision, resolved by BGP identifier), over IPv6
# the daemons connect (rampartd is passive). Routes: each daemon originates
# its own /26 of 192.0.2.0/24 and a /48 of 2001:db8:c0::/44; rampartd
# originates the LAN (198.51.100.0/24, 2001:db8:a::/64) and each peer must
# have it in its RIB. Hold time 9 s everywhere: every session must stay up
# past it. Per session property: TCP-MD5 with BIRD over IPv4 (a wrong key
# keeps the session down, the right one brings it up), GTSM with FRR over
# IPv4 (both sides ttl-security hops 1; then GoBGP, which sends TTL 1, is
# kept out by it), RFC 9234 roles with BIRD (agreeing) and FRR (a Role
# Mismatch NOTIFICATION), ADD-PATH receive negotiated with GoBGP, route
# refresh both ways (BIRD asks us, we ask GoBGP), max-prefix with GoBGP (Cease / Maximum
# Number of Prefixes Reached, held down until `clear bgp`), graceful restart
# helper with ExaBGP (killed and restarted: its routes stay, stale, and keep
# forwarding until it is back).
# One rampartd, the four daemons started in parallel; every wait bounded; a
# missing daemon FAILS the test. Prints "N passed, N failed".
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpb$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"

BIRD=/usr/sbin/bird
BIRDC=/usr/sbin/birdc
BGPD=/usr/lib/frr/bgpd
VTYSH=/usr/bin/vtysh
GOBGPD=/usr/bin/gobgpd
GOBGP=/usr/bin/gobgp
EXABGP=/usr/sbin/exabgp
MD5_KEY="rampart bgp md5"
MAC_LAN_HOST=02:aa:00:00:00:0a MAC_PORT_LAN=02:00:00:00:00:0a
declare -A MAC_PEER=([bird]=02:b1:00:00:00:02 [frr]=02:b2:00:00:00:02 [gobgp]=02:b3:00:00:00:02 [exa]=02:b4:00:00:00:02)
declare -A MAC_PORT=([bird]=02:00:00:00:01:01 [frr]=02:00:00:00:02:01 [gobgp]=02:00:00:00:03:01 [exa]=02:00:00:00:04:01)
declare -A NET=([bird]=0 [frr]=8 [gobgp]=16 [exa]=24)  # 203.0.113.N/29
declare -A IDX=([bird]=1 [frr]=2 [gobgp]=3 [exa]=4)    # 2001:db8:IDX::/64, AS 6450IDX
DAEMONS=(bird frr gobgp exa)
PIDS=()
EXA_PID=


v4_rtr() { echo "203.0.113.$((NET[$1] + 1))"; }
v4_peer() { echo "203.0.113.$((NET[$1] + 2))"; }
v6_rtr() { echo "2001:db8:${IDX[$1]}::1"; }
v6_peer() { echo "2001:db8:${IDX[$1]}::2"; }

bgp_prerequisites() {
    local missing=() tool
    for tool in ip ethtool timeout ping; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    [[ -x $BIRD && -x $BIRDC ]] || missing+=("$BIRD/$BIRDC (bird2)")
    [[ -x $BGPD && -x $VTYSH ]] || missing+=("$BGPD/$VTYSH (frr)")
    [[ -x $GOBGPD && -x $GOBGP ]] || missing+=("$GOBGPD/$GOBGP (gobgpd)")
    [[ -x $EXABGP ]] || missing+=("$EXABGP (exabgp)")
    ((EUID == 0)) || missing+=("root")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]} (scripts/deps.sh installs them)"
    return 1
}

bgp_topology_up() {
    rp_ns_create rtr && rp_ns_create lan || return 1
    rp_veth lan eth0 rtr r-lan || return 1
    rp_port_setup lan eth0 "$MAC_LAN_HOST" quiet && rp_port_setup rtr r-lan "$MAC_PORT_LAN" quiet || return 1
    local d
    for d in "${DAEMONS[@]}"; do
        rp_ns_create "$d" && rp_veth "$d" eth0 rtr "r-$d" || return 1
        rp_port_setup "$d" eth0 "${MAC_PEER[$d]}" quiet && rp_port_setup rtr "r-$d" "${MAC_PORT[$d]}" quiet || return 1
    done
    for d in lan "${DAEMONS[@]}"; do rp_wait_carrier rtr "r-$d" || return 1; done
    rp_exec lan ip addr add 198.51.100.10/24 dev eth0 &&
        rp_exec lan ip addr add 2001:db8:a::10/64 dev eth0 nodad &&
        rp_exec lan ip route add default via 198.51.100.1 &&
        rp_exec lan ip -6 route add default via 2001:db8:a::1 &&
        rp_exec lan ip neigh replace 198.51.100.1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent &&
        rp_exec lan ip -6 neigh replace 2001:db8:a::1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent || return 1
    for d in "${DAEMONS[@]}"; do
        rp_exec "$d" ip addr add "$(v4_peer "$d")/29" dev eth0 &&
            rp_exec "$d" ip addr add "$(v6_peer "$d")/64" dev eth0 nodad &&
            rp_exec "$d" ip neigh replace "$(v4_rtr "$d")" lladdr "${MAC_PORT[$d]}" dev eth0 nud permanent &&
            rp_exec "$d" ip -6 neigh replace "$(v6_rtr "$d")" lladdr "${MAC_PORT[$d]}" dev eth0 nud permanent &&
            # the daemon's "customers": the /26 and /48 it originates, answering pings
            rp_exec "$d" ip addr add "192.0.2.$((IDX[$d] * 64 - 63))/32" dev lo &&
            rp_exec "$d" ip addr add "2001:db8:c${IDX[$d]}::1/128" dev lo nodad &&
            rp_exec "$d" ip route add 198.51.100.0/24 via "$(v4_rtr "$d")" &&
            rp_exec "$d" ip -6 route add 2001:db8:a::/64 via "$(v6_rtr "$d")" || return 1
    done
}

rampartd_config() {
    local d n=0
    echo "! bgp.sh: rampartd between the LAN and four BGP daemons"
    echo "interface lan device net_af_packet0,iface=r-lan"
    echo "interface lan address 198.51.100.1/24"
    echo "interface lan address 2001:db8:a::1/64"
    echo "interface lan neighbor 198.51.100.10 $MAC_LAN_HOST"
    echo "interface lan neighbor 2001:db8:a::10 $MAC_LAN_HOST"
    for d in "${DAEMONS[@]}"; do
        ((n++))
        echo "interface p$d device net_af_packet$n,iface=r-$d"
        echo "interface p$d address $(v4_rtr "$d")/29"
        echo "interface p$d address $(v6_rtr "$d")/64"
        echo "interface p$d neighbor $(v4_peer "$d") ${MAC_PEER[$d]}"
        echo "interface p$d neighbor $(v6_peer "$d") ${MAC_PEER[$d]}"
    done
    # RFC 8212: eBGP imports and exports nothing without a policy.
    echo "bgp policy all term 10 action accept"
    echo "bgp as 64500"
    echo "bgp router-id 198.51.100.1"
    echo "bgp network 198.51.100.0/24"
    echo "bgp network 2001:db8:a::/64"
    for d in "${DAEMONS[@]}"; do
        local a
        for a in "$(v4_peer "$d")" "$(v6_peer "$d")"; do
            echo "bgp neighbor $a remote-as 6450${IDX[$d]}"
            echo "bgp neighbor $a hold-time 9"
            echo "bgp neighbor $a import all"
            echo "bgp neighbor $a export all"
        done
        echo "bgp neighbor $(v6_peer "$d") passive"
    done
    # MD5 with a wrong key first (the check puts the right one in).
    echo "bgp neighbor $(v4_peer bird) password key \"wrong $MD5_KEY\""
    echo "bgp neighbor $(v4_peer bird) role customer"
    echo "bgp neighbor $(v4_peer frr) ttl-security hops 1"
    echo "bgp neighbor $(v6_peer frr) role customer"
    echo "bgp neighbor $(v4_peer gobgp) add-path receive"
    echo "bgp neighbor $(v4_peer gobgp) max-prefix 3"
    echo "bgp neighbor $(v4_peer exa) graceful-restart"
    echo "bgp neighbor $(v6_peer exa) graceful-restart"
}

# ---- the daemons ----

bird_start() {
    local d="$WORK/bird"
    mkdir -p "$d" || return 1
    cat >"$d/bird.conf" <<EOC
router id $(v4_peer bird);
log "$d/bird.log" all;
protocol device { }
protocol static s4 { ipv4; route 192.0.2.0/26 blackhole; }
protocol static s6 { ipv6; route 2001:db8:c1::/48 blackhole; }
protocol bgp r4 {
    local $(v4_peer bird) as 64501;
    neighbor $(v4_rtr bird) as 64500;
    passive on;
    hold time 9;
    password "$MD5_KEY";
    local role provider;
    ipv4 { import all; export where source = RTS_STATIC; };
}
protocol bgp r6 {
    local $(v6_peer bird) as 64501;
    neighbor $(v6_rtr bird) as 64500;
    hold time 9;
    connect delay time 1;
    connect retry time 2;
    error wait time 1, 5;
    ipv6 { import all; export where source = RTS_STATIC; };
}
EOC
    rp_exec bird "$BIRD" -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" >"$d/bird.out" 2>&1 &
    PIDS+=($!)
}
birdc() { rp_exec bird timeout 10 "$BIRDC" -s "$WORK/bird/bird.ctl" "$@"; }

frr_start() {
    local d="$WORK/frr"
    mkdir -p "$d" || return 1
    cat >"$d/bgpd.conf" <<EOC
frr defaults traditional
hostname frr
log file $d/bgpd.log
!
router bgp 64502
 bgp router-id $(v4_peer frr)
 no bgp ebgp-requires-policy
 no bgp network import-check
 timers bgp 3 9
 neighbor $(v4_rtr frr) remote-as 64500
 neighbor $(v4_rtr frr) passive
 neighbor $(v4_rtr frr) ttl-security hops 1
 neighbor $(v4_rtr frr) disable-connected-check
 neighbor $(v6_rtr frr) remote-as 64500
 neighbor $(v6_rtr frr) timers connect 2
 neighbor $(v6_rtr frr) local-role customer
 neighbor $(v6_rtr frr) disable-connected-check
 !
 address-family ipv4 unicast
  network 192.0.2.64/26
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:c2::/48
  neighbor $(v6_rtr frr) activate
 exit-address-family
!
EOC
    # No zebra (-Z), no kernel routes (-n): bgpd alone, its vty socket in $d.
    rp_exec frr "$BGPD" -Z -n -S -f "$d/bgpd.conf" -i "$d/bgpd.pid" --vty_socket "$d" -u root -g root \
        --log "file:$d/bgpd.log" >"$d/bgpd.out" 2>&1 &
    PIDS+=($!)
}
vtysh() { rp_exec frr timeout 10 "$VTYSH" --vty_socket "$WORK/frr" -d bgpd -c "$*"; }

gobgp_start() {
    local d="$WORK/gobgp"
    mkdir -p "$d" || return 1
    cat >"$d/gobgpd.toml" <<EOC
[global.config]
  as = 64503
  router-id = "$(v4_peer gobgp)"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$(v4_rtr gobgp)"
    peer-as = 64500
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 2
  [neighbors.add-paths.config]
    send-max = 4
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$(v6_rtr gobgp)"
    peer-as = 64500
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOC
    rp_exec gobgp "$GOBGPD" -f "$d/gobgpd.toml" -t toml --api-hosts 127.0.0.1:50051 >"$d/gobgpd.log" 2>&1 &
    PIDS+=($!)
}
gobgp() { rp_exec gobgp timeout 10 "$GOBGP" -u 127.0.0.1 -p 50051 "$@"; }

exa_start() {
    local d="$WORK/exa"
    mkdir -p "$d" || return 1
    # What ExaBGP receives, one JSON line per UPDATE (its stdin is non-blocking: no `cat`).
    cat >"$d/receive.py" <<'EOC'
import sys
with open(sys.argv[1], "a") as out:
    for line in sys.stdin:
        out.write(line)
        out.flush()
EOC
    cat >"$d/exabgp.conf" <<EOC
process receive {
    run /usr/bin/python3 $d/receive.py $d/received.json;
    encoder json;
}
template {
    neighbor common {
        local-as 64504;
        peer-as 64500;
        router-id $(v4_peer exa);
        hold-time 9;
        capability { graceful-restart 30; }
        api { processes [ receive ]; receive { parsed; update; } }
    }
}
neighbor $(v4_rtr exa) {
    inherit common;
    local-address $(v4_peer exa);
    family { ipv4 unicast; }
    static { route 192.0.2.192/26 next-hop self; }
}
neighbor $(v6_rtr exa) {
    inherit common;
    local-address $(v6_peer exa);
    family { ipv6 unicast; }
    static { route 2001:db8:c4::/48 next-hop self; }
}
EOC
    rp_exec exa env exabgp.daemon.user=root exabgp.daemon.daemonize=false exabgp.log.destination="$d/exabgp.log" \
        exabgp.api.cli=false exabgp.tcp.bind= exabgp.log.level=INFO "$EXABGP" "$d/exabgp.conf" >>"$d/exabgp.out" 2>&1 &
    EXA_PID=$!
    PIDS+=($!)
}

daemons_stop() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
}

bgp_finish() {
    daemons_stop
    if ((failed)); then
        local f
        for f in bird/bird.log frr/bgpd.log gobgp/gobgpd.log exa/exabgp.log exa/exabgp.out; do
            [[ -f $WORK/$f ]] || continue
            echo "--- $f ---"
            tail -25 "$WORK/$f"
        done
        echo "--- show bgp neighbors ---"
        cli "show bgp neighbors" 2>/dev/null | head -150
    fi
    interop_finish_or_keep
}

# ---- checks ----

# wait_for SECONDS CMD... — rerun CMD every 0.5 s until it succeeds (output of the last try shown).
wait_for() {
    local secs="$1" i; shift
    for ((i = 0; i < secs * 2; i++)); do
        "$@" >"$WORK/wait.out" 2>&1 && { cat "$WORK/wait.out"; return 0; }
        sleep 0.5
    done
    cat "$WORK/wait.out"
    return 1
}

# state_of ADDR — rampartd's state of one neighbour (Established, Idle, ...).
state_of() { cli "show bgp neighbors $1" | sed -n 's/.*BGP state = \([A-Za-z]*\).*/\1/p'; }
established() { [[ "$(state_of "$1")" == Established ]]; }
not_established() { [[ "$(state_of "$1")" != Established ]]; }
all_established() {
    local a
    for a in "$@"; do established "$a" || { echo "$a: $(state_of "$a")"; return 1; }; done
    cli "show bgp summary"
}
received() {  # received ADDR FAMILY N — the neighbour sent at least N prefixes of that family
    local n
    n=$(cli "show bgp neighbors $1" | sed -n "s/.*$2: \([0-9]*\) prefixes received.*/\1/p")
    echo "$1 $2: ${n:-none} prefixes"
    ((${n:-0} >= $3))
}
# established_once ADDR — up, and never re-established (no flap since it came up)
established_once() {
    established "$1" && cli "show bgp neighbors $1" | grep -q "Connections established 1; dropped 0"
}
stays_up() {
    local a
    for a in "$@"; do established_once "$a" || { cli "show bgp neighbors $a"; return 1; }; done
    cli "show bgp summary"
}

bird_established() { birdc show protocols "$1" | grep -q Established; }
bird_has_route() { birdc show route "$1" | grep -q "$1"; }
gobgp_established() { gobgp neighbor "$1" | grep -q "BGP state = established"; }
gobgp_has_route() { gobgp global rib -a "$1" "$2" | grep -q "$2"; }
frr_has_route() { vtysh "show bgp $1 unicast $2" | grep -q "$3"; }
exa_has_route() { grep -q "\"$1\"" "$WORK/exa/received.json" 2>/dev/null; }

interop_begin_own bgp bgp_prerequisites bgp_topology_up rampartd_config
trap bgp_finish EXIT  # the daemons go too from here on
bird_start && frr_start && gobgp_start && exa_start || abort "daemon start"
sleep 1
for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || abort "a daemon exited at start (see its log below)"; done

# Every session except MD5 (wrong key) and the role mismatch comes up.
UP=("$(v4_peer frr)" "$(v4_peer gobgp)" "$(v4_peer exa)" "$(v6_peer bird)" "$(v6_peer gobgp)" "$(v6_peer exa)")
gobgp_both() {  # GoBGP's neighbour table: both sessions "Establ"
    local out
    out=$(gobgp neighbor) || return 1
    echo "$out"
    (($(grep -c "Establ" <<<"$out") == 2))
}
routes_in() {
    cli "show bgp summary"
    received "$(v6_peer bird)" "IPv6 Unicast" 1 && received "$(v4_peer frr)" "IPv4 Unicast" 1 &&
        received "$(v4_peer exa)" "IPv4 Unicast" 1 &&
        received "$(v6_peer exa)" "IPv6 Unicast" 1
}
gobgp_has_ours() { gobgp_has_route ipv4 198.51.100.0/24 && gobgp_has_route ipv6 2001:db8:a::/64; }
exa_has_ours() { exa_has_route 198.51.100.0/24 && exa_has_route 2001:db8:a::/64; }
check "sessions established: FRR/GoBGP/ExaBGP IPv4 (we connect), BIRD/GoBGP/ExaBGP IPv6 (they connect)" \
    wait_for 40 all_established "${UP[@]}"
check "BIRD sees its IPv6 session established" wait_for 10 bird_established r6
check "GoBGP sees both sessions established" wait_for 10 gobgp_both
check "routes received from BIRD (IPv6), FRR (IPv4), ExaBGP (both)" wait_for 15 routes_in
check "our IPv6 route in BIRD's RIB" wait_for 10 bird_has_route 2001:db8:a::/64
check "our IPv4 and IPv6 routes in GoBGP's RIB" wait_for 10 gobgp_has_ours
check "our IPv4 and IPv6 routes in ExaBGP's received updates" wait_for 10 exa_has_ours
check "our IPv4 route in FRR's BGP table" wait_for 10 frr_has_route ipv4 198.51.100.0/24 "$(v4_rtr frr)"

# TCP-MD5: the wrong key keeps BIRD's IPv4 session down, the right one brings it up.
bird_r4_down() { ! bird_established r4; }
check "MD5: a wrong key keeps the session down" not_established "$(v4_peer bird)"
check "MD5: BIRD never saw the session either" bird_r4_down
check "MD5: the right key" cli "bgp neighbor $(v4_peer bird) password key \"$MD5_KEY\""
check "MD5: the session comes up (roles: we customer, BIRD provider)" wait_for 20 established "$(v4_peer bird)"
check "show running-config hides the key" expect_output "password key <secret>" cli "show running-config"
check "RFC 9234: BIRD's role seen" expect_output "Role: ours customer, the peer's provider" \
    cli "show bgp neighbors $(v4_peer bird)"
check "BIRD's IPv4 route arrives over the MD5 session" wait_for 10 received "$(v4_peer bird)" "IPv4 Unicast" 1
check "our IPv4 route in BIRD's RIB" wait_for 10 bird_has_route 198.51.100.0/24

# Routes into the FIB: BIRD's and FRR's prefixes are best paths, in `show
# route` as B, and forward the LAN host's pings through rampartd.
fib_has() { cli "show route" | grep -E "^B +$1 "; }
fib_lacks() { ! fib_has "$1"; }
ping_ok() {  # ping_ok ADDR — 3 of 3 echo replies from the LAN host (a few tries for the first)
    local try
    for try in 1 2 3 4 5; do rp_exec lan ping -c 1 -W 1 "$1" >/dev/null 2>&1 && break; done
    expect_output ' 0% packet loss' rp_exec lan ping -c 3 -i 0.3 -W 2 "$1"
}
ping_fails() { ! rp_exec lan ping -c 2 -i 0.3 -W 1 "$1"; }
check "show bgp ipv4 PREFIX: BIRD's path is best" expect_output "from $(v4_peer bird).*valid.*best" \
    cli "show bgp ipv4 192.0.2.0/26"
loc_rib_v6() { cli "show bgp ipv6" | grep -E "^\*> +2001:db8:c1::/48 +$(v6_peer bird) " && cli "show bgp ipv6" | grep -E "^\*> +2001:db8:c4::/48 "; }
check "show bgp ipv6: BIRD's and ExaBGP's prefixes in the Loc-RIB" loc_rib_v6
check "show route: BIRD's IPv4 prefix from BGP" wait_for 10 fib_has 192.0.2.0/26
check "show route: FRR's IPv4 prefix from BGP" wait_for 10 fib_has 192.0.2.64/26
check "show route: BIRD's IPv6 prefix from BGP" wait_for 10 fib_has 2001:db8:c1::/48
check "forwarding: ping BIRD's prefix (IPv4) through rampartd" ping_ok 192.0.2.1
check "forwarding: ping FRR's prefix (IPv4)" ping_ok 192.0.2.65
check "forwarding: ping BIRD's prefix (IPv6)" ping_ok 2001:db8:c1::1
check "forwarding: ping ExaBGP's prefix (IPv6)" ping_ok 2001:db8:c4::1
check "our route comes back from FRR with our AS in its path: refused (loop)" \
    expect_output "^x +198.51.100.0/24 .*64502 64500" cli "show bgp neighbors $(v4_peer frr) received-routes"
check "advertised-routes to BIRD: the LAN prefix" expect_output "198.51.100.0/24 +$(v4_rtr bird) " \
    cli "show bgp neighbors $(v4_peer bird) advertised-routes"
check "withdrawal: BIRD withdraws its IPv4 prefix" birdc disable s4
check "withdrawal: gone from the FIB" wait_for 10 fib_lacks 192.0.2.0/26
check "withdrawal: its ping no longer goes through" ping_fails 192.0.2.1
check "withdrawal: BIRD announces it again" birdc enable s4
check "withdrawal: back in the FIB and forwarding" wait_for 10 ping_ok 192.0.2.1

# RFC 9234 role mismatch: FRR says customer, we say customer.
role_mismatch() { cli "show bgp neighbors $(v6_peer frr)" | grep -q "Role Mismatch"; }
check "RFC 9234: Role Mismatch with FRR (both customer)" wait_for 15 role_mismatch
check "RFC 9234: the mismatched session stays down" not_established "$(v6_peer frr)"

# GTSM with FRR (both sides hops 1) is up above; ADD-PATH with GoBGP.
check "GTSM: FRR's session up with minimum TTL 255" expect_output "GTSM minimum TTL 255" \
    cli "show bgp neighbors $(v4_peer frr)"
check "ADD-PATH receive negotiated with GoBGP" expect_output "ADD-PATH receive: IPv4 Unicast" \
    cli "show bgp neighbors $(v4_peer gobgp)"

# Hold time 9 s: every session outlives it without a flap (keepalives every 3 s).
sleep 11
check "sessions stay up past the 9 s hold time (no flap)" stays_up "${UP[@]}" "$(v4_peer bird)"

# Route refresh: BIRD asks us (reload in), we ask GoBGP (clear bgp soft in).
rr() {  # rr ADDR sent|received — the Route Refresh counter of show bgp neighbors
    local col=1
    [[ $2 == received ]] && col=2
    cli "show bgp neighbors $1" | awk -v c="$col" '/Route Refresh:/ { gsub(/.*Route Refresh: */, ""); split($0, v, " +"); print v[c] }'
}
rr_grew() {
    local now
    now=$(rr "$1" "$2")
    echo "route refresh $2: $now (before: $3)"
    ((${now:-0} > $3))
}
gobgp_rr_received() {  # GoBGP's count of ROUTE-REFRESH received from us
    local out
    out=$(gobgp neighbor "$(v4_rtr gobgp)") || return 1
    echo "$out"
    grep -Eq "Route Refresh: +[0-9]+ +[1-9]" <<<"$out"
}
rr_in=$(rr "$(v6_peer bird)" received) rr_out=$(rr "$(v4_peer gobgp)" sent)
check "route refresh: BIRD asks (birdc reload in)" birdc reload in r6
check "route refresh: BIRD's ROUTE-REFRESH counted" wait_for 10 rr_grew "$(v6_peer bird)" received "${rr_in:-0}"
check "route refresh: clear bgp soft in" cli "clear bgp $(v4_peer gobgp) soft in"
check "route refresh: ours sent" wait_for 10 rr_grew "$(v4_peer gobgp)" sent "${rr_out:-0}"
check "route refresh: GoBGP received it" wait_for 10 gobgp_rr_received
check "route refresh: both sessions stayed up" stays_up "$(v6_peer bird)" "$(v4_peer gobgp)"

# GTSM keeps out a peer that sends TTL 1: require it of GoBGP's IPv4 session.
gobgp_down_a_while() { sleep 4; not_established "$(v4_peer gobgp)"; }
check "GTSM: require TTL 255 of GoBGP (it sends 1)" cli "bgp neighbor $(v4_peer gobgp) ttl-security hops 1"
check "GTSM: GoBGP's session stays down" gobgp_down_a_while
check "GTSM off again" cli "no bgp neighbor $(v4_peer gobgp) ttl-security hops 1"
check "GTSM off: GoBGP re-established" wait_for 20 established "$(v4_peer gobgp)"

# max-prefix 3 with GoBGP: four prefixes close the session, held down until cleared.
cease_sent() {
    cli "show bgp neighbors $(v4_peer gobgp)" | grep -q "Last notification sent: Cease/Maximum Number of Prefixes Reached"
}
gobgp_not_up() { ! gobgp neighbor "$(v4_rtr gobgp)" | grep -q "BGP state = established"; }
back_with_3() { established "$(v4_peer gobgp)" && received "$(v4_peer gobgp)" "IPv4 Unicast" 3; }
for i in 0 1 2 3; do gobgp global rib add -a ipv4 "192.0.2.$((128 + i * 16))/28" >/dev/null 2>&1; done
check "max-prefix: Cease / Maximum Number of Prefixes Reached sent" wait_for 15 cease_sent
check "max-prefix: held down (Idle (PfxCt) in the summary)" expect_output "$(v4_peer gobgp) .*Idle \(PfxCt\)" \
    cli "show bgp summary"
check "max-prefix: GoBGP's session is down too" gobgp_not_up
gobgp global rib del -a ipv4 192.0.2.176/28 >/dev/null 2>&1
check "max-prefix: clear bgp" cli "clear bgp $(v4_peer gobgp)"
check "max-prefix: re-established with 3 prefixes" wait_for 20 back_with_3

# ExaBGP's IPv4 session: both sides connected at once; one connection survived.
check "ExaBGP IPv4: the collision left one session" expect_output "Connections established 1; dropped 0" \
    cli "show bgp neighbors $(v4_peer exa)"

# Graceful restart (helper): ExaBGP dies and comes back; its routes stay
# (stale) meanwhile and traffic keeps flowing on them, then they are fresh again.
stale_v6() { cli "show bgp ipv6 2001:db8:c4::/48" | grep "stale"; }
fresh_v6() { established "$(v6_peer exa)" && cli "show bgp ipv6 2001:db8:c4::/48" | grep "best" | grep -v "stale"; }
check "graceful restart: ExaBGP's capability seen" expect_output "Graceful restart: the peer's restart time 30 s, 1 famil" \
    cli "show bgp neighbors $(v6_peer exa)"
# ExaBGP and its receive process are all that runs in its namespace (what $!
# names is the shell around them).
exa_gone() { [[ -z "$(ip netns pids "$(rp_ns exa)")" ]]; }
exa_kill() {
    local pids
    pids=$(ip netns pids "$(rp_ns exa)")
    [[ -n $pids ]] && kill -KILL $pids
    wait "$EXA_PID" 2>/dev/null
    wait_for 5 exa_gone
}
check "graceful restart: ExaBGP killed" exa_kill
check "graceful restart: session down, ExaBGP's route kept as stale" wait_for 10 stale_v6
check "graceful restart: traffic keeps flowing on the stale route" ping_ok 2001:db8:c4::1
check "graceful restart: ExaBGP starts again" exa_start
check "graceful restart: re-established, the route fresh again" wait_for 30 fresh_v6
check "graceful restart: forwarding" ping_ok 2001:db8:c4::1

interop_end
