#!/usr/bin/env bash
# bgp_codec.sh BGP_CODEC_PEER — the BGP codec alone against real daemons:
# GoBGP (gobgpd), BIRD 2 (bird) and FRR (bgpd). In two namespaces joined by
# a veth (us: 192.0.2.1 / 2001:db8::1, AS 65000; peer: .2 / ::2, AS 65001)
# each daemon announces its routes and bgp-codec-peer announces ours:
#   - what the daemon sent, decoded by our codec, has the daemon's attributes
#     (communities, large communities, MED, next hops, End-of-RIB);
#   - what we sent, decoded by the daemon, shows in its RIB with every
#     attribute (AS_SET, 4-octet ASNs, aggregator, extended and large
#     communities, an unknown transitive attribute, IPv6 link-local next hop);
#   - with a 2-octet AS session (BIRD), our AS_TRANS + AS4_PATH /
#     AS4_AGGREGATOR come back as the 4-octet path in BIRD's RIB.
# A missing daemon fails its checks with the reason. Namespaces and daemons
# are removed on exit. Prints "N passed, N failed".
set -uo pipefail

TOOL="$1"
TOP="$(cd "$(dirname "$0")/../.." && pwd)"
: "${RP_NS_PREFIX:=bgpc$$-}"
# shellcheck source=../../scripts/netns-lib.sh
. "$TOP/scripts/netns-lib.sh"

passed=0
failed=0
WORK="$(mktemp -d /tmp/rampart-bgp-codec.XXXXXX)"
chmod 755 "$WORK"  # FRR's bgpd runs as frr and reads its files here
finish() {
    rp_cleanup
    if [[ -n ${KEEP:-} ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

check() {
    local what="$1"; shift
    if "$@"; then
        echo "PASS $what"
        ((passed++))
    else
        echo "FAIL $what"
        ((failed++))
    fi
}
fail() { echo "FAIL $1"; ((failed++)); }
has() { grep -qE -- "$2" "$1"; }  # has FILE REGEX
lacks() { ! grep -qE -- "$2" "$1"; }
session_ok() { has "$1" '^established' && lacks "$1" '^refused'; }
eor_both() { has "$1" '^eor 1/1' && has "$1" '^eor 2/1'; }
# bird_route_ok FILE — one route of ours as `birdc show route all` printed it.
bird_route_ok() {
    has "$1" 'BGP\.as_path: 65000 4200000001 64512 \{64513 64514\}' && has "$1" 'BGP\.origin: EGP' &&
        has "$1" 'BGP\.med: 77' && has "$1" 'BGP\.atomic_aggr' && has "$1" 'BGP\.aggregator: 192\.0\.2\.3 AS4200000002' &&
        has "$1" 'BGP\.community: \(65000,100\) \(65535,65282\)' && has "$1" 'BGP\.ext_community: \(rt, 65000, 100\)' &&
        has "$1" 'BGP\.large_community: \(4200000001, 7, 8\)' && has "$1" 'BGP\.63 '
}
# frr_route_ok FILE — the same as `show bgp ipv4 unicast PREFIX` printed it.
frr_route_ok() {
    has "$1" '65000 4200000001 64512 \{64513,64514\}' && has "$1" 'aggregated by 4200000002 192\.0\.2\.3' &&
        has "$1" 'metric 77' && has "$1" 'Community: 65000:100 no-advertise' &&
        has "$1" 'Extended Community: RT:65000:100' && has "$1" 'Large Community: 4200000001:7:8'
}

topology() {
    rp_ns_create us && rp_ns_create peer || return 1
    rp_veth us eth0 peer eth0 || return 1
    local ns
    for ns in us peer; do rp_ipv6_quiet "$ns" eth0 || return 1; done
    rp_exec us ip addr add 192.0.2.1/24 dev eth0 &&
        rp_exec us ip addr add 2001:db8::1/64 dev eth0 &&
        rp_exec peer ip addr add 192.0.2.2/24 dev eth0 &&
        rp_exec peer ip addr add 2001:db8::2/64 dev eth0 || return 1
    rp_link_up us eth0 && rp_link_up peer eth0 && rp_wait_carrier us eth0
}

# Our routes as the daemon's RIB must show them (see bgp_codec_peer.cpp).
OUR_V4=(198.18.0.0/24 198.18.1.0/25 198.18.2.128/26)

# start_peer NAME ADDRESS [FLAGS...] — bgp-codec-peer for 8 s in the
# background, output in $WORK/NAME.out; returns once our routes are sent and
# have had a moment to reach the daemon's RIB.
start_peer() {
    PEER_OUT="$WORK/$1.out"
    timeout 20 ip netns exec "$(rp_ns us)" "$TOOL" "$2" 65000 8 "${@:3}" >"$PEER_OUT" 2>&1 &
    PEER_PID=$!
    rp_wait_until 10 has "$PEER_OUT" '^(established|refused|notification|closed|connect failed)'
    sleep 2
}

# end_peer — the tool's run to its end, its output shown.
end_peer() {
    wait "$PEER_PID"
    echo "--- bgp-codec-peer: $PEER_OUT"
    sed 's/^/  /' "$PEER_OUT" | head -20
}

# ---------------------------------------------------------------- GoBGP

gobgp_checks() {
    command -v gobgpd >/dev/null && command -v gobgp >/dev/null ||
        { fail "gobgp: gobgpd/gobgp not installed (Debian package gobgpd)"; return; }
    cat >"$WORK/gobgp.toml" <<'EOF'
[global.config]
  as = 65001
  router-id = "192.0.2.2"
  local-address-list = ["2001:db8::2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8::1"
    peer-as = 65000
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
    rp_exec peer gobgpd -f "$WORK/gobgp.toml" --api-hosts 127.0.0.1:50051 >"$WORK/gobgpd.log" 2>&1 &
    local g=(rp_exec peer gobgp -u 127.0.0.1 -p 50051)
    rp_wait_until 10 "${g[@]}" global >/dev/null 2>&1 || { fail "gobgp: gobgpd did not start"; return; }
    "${g[@]}" global rib add 198.51.100.0/24 origin igp med 10 community 65001:100 large-community 65001:1:2 -a ipv4 &&
        "${g[@]}" global rib add -a ipv6 2001:db8:1::/48 origin incomplete community 65001:200 ||
        { fail "gobgp: routes not added"; return; }
    # Over IPv6: GoBGP sends its IPv4 route in MP_REACH with an IPv6 next hop.
    start_peer gobgp 2001:db8::2
    local out="$WORK/gobgp.out"
    check "gobgp: session up, no message refused" session_ok "$out"
    check "gobgp: its IPv4 route decoded (MP_REACH, IPv6 next hop, MED, communities)" \
        has "$out" '^announce 198\.51\.100\.0/24 .*next-hop=2001:db8::2 .*as-path=65001 med=10 community=65001:100 large-community=65001:1:2'
    check "gobgp: its IPv6 route decoded" \
        has "$out" '^announce 2001:db8:1::/48 .*next-hop=2001:db8::2 origin=2 as-path=65001 community=65001:200'
    "${g[@]}" neighbor 2001:db8::1 adj-in -a ipv4 >"$WORK/gobgp-in4" 2>&1
    "${g[@]}" neighbor 2001:db8::1 adj-in -a ipv6 >"$WORK/gobgp-in6" 2>&1
    local p
    for p in "${OUR_V4[@]}"; do
        check "gobgp: our $p in its Adj-RIB-In with every attribute" has "$WORK/gobgp-in4" \
            "${p//./\\.} +192\.0\.2\.1 +65000 4200000001 64512 \{64513,64514\} .*Origin: e.*Med: 77.*AtomicAggregate.*AS: 4200000002, Address: 192\.0\.2\.3.*65000:100, no-advertise.*Extcomms: \[65000:100\].*4200000001:7:8.*PARTIAL\|TRANSITIVE\|OPTIONAL, Type: BGPAttrType\(99\)"
    done
    check "gobgp: our IPv6 route in its Adj-RIB-In" has "$WORK/gobgp-in6" '2001:db8:100::/40 +2001:db8::1 +65000 '
    end_peer
    rp_ns_kill "$(rp_ns peer)"
}

# ---------------------------------------------------------------- BIRD

bird_checks() {
    command -v bird >/dev/null && command -v birdc >/dev/null ||
        { fail "bird: bird/birdc not installed (Debian package bird2)"; return; }
    cat >"$WORK/bird.conf" <<'EOF'
router id 192.0.2.2;
protocol device {}
protocol static s4 {
  ipv4;
  route 198.51.100.0/24 unreachable { bgp_community.add((65001,100)); bgp_large_community.add((65001,1,2)); };
}
protocol static s6 {
  ipv6;
  route 2001:db8:1::/48 unreachable;
}
protocol bgp peer {
  local 192.0.2.2 as 65001;
  neighbor 192.0.2.1 as 65000;
  passive on;
  ipv4 { import all; export all; };
  ipv6 { import all; export all; next hop address 2001:db8::2; };
}
EOF
    local mode
    for mode in four-octet two-octet; do
        local ctl="$WORK/bird-$mode.ctl"
        rp_exec peer bird -c "$WORK/bird.conf" -s "$ctl" -P "$WORK/bird-$mode.pid" >"$WORK/bird.log" 2>&1 ||
            { fail "bird: did not start"; return; }
        local b=(rp_exec peer birdc -s "$ctl")
        if [[ $mode == two-octet ]]; then start_peer "bird-$mode" 192.0.2.2 two-octet; else start_peer "bird-$mode" 192.0.2.2; fi
        "${b[@]}" show route all >"$WORK/bird-$mode.rib" 2>&1
        "${b[@]}" show route table master6 all >>"$WORK/bird-$mode.rib" 2>&1
        end_peer
        local out="$WORK/bird-$mode.out"
        check "bird ($mode): session up, no message refused" session_ok "$out"
        check "bird ($mode): its IPv4 route decoded (communities, large communities)" \
            has "$out" '^announce 198\.51\.100\.0/24 .*next-hop=192\.0\.2\.2 .*as-path=65001 .*community=65001:100 large-community=65001:1:2'
        check "bird ($mode): its IPv6 route decoded (MP_REACH)" has "$out" '^announce 2001:db8:1::/48 .*next-hop=2001:db8::2 '
        check "bird ($mode): its End-of-RIB for both families" eor_both "$out"
        local rib="$WORK/bird-$mode.rib" p
        for p in "${OUR_V4[@]}"; do
            # The route's block: from its line to the next route line.
            awk -v p="$p" '$1 == p {on = 1; print; next} on && /^[0-9]/ {on = 0} on' "$rib" >"$WORK/route"
            check "bird ($mode): our $p in its RIB with every attribute" bird_route_ok "$WORK/route"
        done
        check "bird ($mode): our IPv6 route with its link-local next hop" \
            has "$rib" 'BGP\.next_hop: 2001:db8::1 fe80::1'
        "${b[@]}" down >/dev/null 2>&1
        rp_wait_until 5 rp_ns_empty "$(rp_ns peer)" || rp_ns_kill "$(rp_ns peer)"
    done
}

# ---------------------------------------------------------------- FRR

frr_checks() {
    [[ -x /usr/lib/frr/bgpd ]] && command -v vtysh >/dev/null ||
        { fail "frr: /usr/lib/frr/bgpd or vtysh not installed (Debian package frr)"; return; }
    local dir="$WORK/frr"
    mkdir -p "$dir" && chown frr:frr "$dir" 2>/dev/null
    cat >"$dir/bgpd.conf" <<'EOF'
hostname interop
log file @DIR@/bgpd.log debugging
debug bgp updates
router bgp 65001
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.1 remote-as 65000
 neighbor 192.0.2.1 passive
 address-family ipv4 unicast
  network 198.51.100.0/24
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:1::/48
  neighbor 192.0.2.1 activate
 exit-address-family
EOF
    sed -i "s|@DIR@|$dir|" "$dir/bgpd.conf"
    # No zebra (-Z): bgpd alone, its vty socket in the work directory.
    rp_exec peer /usr/lib/frr/bgpd -Z -d -f "$dir/bgpd.conf" -i "$dir/bgpd.pid" -z "$dir/zserv.api" \
        --vty_socket "$dir" -u frr -g frr -A 127.0.0.1 -P 0 >"$WORK/frr.log" 2>&1 ||
        { fail "frr: bgpd did not start"; return; }
    local v=(rp_exec peer vtysh --vty_socket "$dir" -d bgpd)
    rp_wait_until 10 "${v[@]}" -c "show bgp summary" >/dev/null 2>&1 || { fail "frr: bgpd vty not up"; return; }
    start_peer frr 192.0.2.2 no-link-local
    "${v[@]}" -c "show bgp ipv4 unicast 198.18.0.0/24" >"$WORK/frr-route" 2>&1
    "${v[@]}" -c "show bgp ipv6 unicast 2001:db8:100::/40" >"$WORK/frr-route6" 2>&1
    end_peer
    local out="$WORK/frr.out"
    check "frr: session up, no message refused" session_ok "$out"
    check "frr: its IPv4 route decoded" has "$out" '^announce 198\.51\.100\.0/24 .*next-hop=192\.0\.2\.2 .*as-path=65001'
    check "frr: its IPv6 route decoded (IPv4-mapped next hop)" \
        has "$out" '^announce 2001:db8:1::/48 .*next-hop=::ffff:192\.0\.2\.2 .*as-path=65001'
    check "frr: our 198.18.0.0/24 in its RIB with every attribute" frr_route_ok "$WORK/frr-route"
    check "frr: our IPv6 route" has "$WORK/frr-route6" '2001:db8::1 from 192\.0\.2\.1'
    rp_ns_kill "$(rp_ns peer)"
}

if topology; then
    gobgp_checks
    bird_checks
    frr_checks
else
    fail "topology"
fi
echo "$passed passed, $failed failed"
((failed == 0))
