#!/usr/bin/env bash
# Interop: rampartd's RTR client (RFC 8210, ASPA of 8210bis) against stayrtr
# serving an rpki-client JSON file, and the RPKI view feeding BAR-SAV live.
#   usage: rpki.sh RAMPARTD RAMPART_CLI        (KEEP=1 keeps the work directory)
#
# The lab topology (scripts/lab-topology.sh): stayrtr runs in namespace a
# (port 8323, reached through rampartd's port pa and its kernel twin, as two
# caches: 198.51.100.10 preferred, 2001:db8:a::10 preference 200); host B behind port pb is a BAR-SAV customer (AS64500) whose allowed
# sources are the ROAs of its customer cone. B's loopback 192.0.2.10 is
# allowed while a ROA gives 192.0.2.0/24 to AS64500.
#
# Checks: rampartd connects (version 2, ASPAs received); show rpki roa /
# aspa / validity; B's traffic from 192.0.2.10 forwarded; the file changed
# (the ROA moves to AS64501): stayrtr's Serial Notify brings the change within
# seconds — validity invalid, SAV refuses 192.0.2.10 and B's traffic is
# dropped; the preferred cache removed live: the IPv6 one serves the view;
# stayrtr stopped: the data stays (until the expire interval);
# stayrtr back limited to RFC 8210 (version 1): the session follows it down,
# the ASPAs go, the ROA moves back and B's traffic passes again; the
# running-config keeps the cache. Every wait is bounded; stayrtr missing FAILS.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpr$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"

STAYRTR_PID=

rpki_prerequisites() {
    local missing=() tool
    for tool in ip ethtool timeout ping stayrtr; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    ((EUID == 0)) || missing+=("root")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]} (scripts/deps.sh installs them)"
    return 1
}

rpki_config() {
    cat "$TOP/examples/lab.conf"
    cat <<'EOF'
!
sav local-asn 64496
interface pb sav bar-sav
interface pb sav-role customer asn 64500
!
rpki cache 198.51.100.10 port 8323
rpki cache 2001:db8:a::10 port 8323 preference 200
EOF
}

# write_vrps ORIGIN — the JSON stayrtr serves: 192.0.2.0/24 and 2001:db8:c::/48
# originated by ORIGIN, AS64500's providers (the old rpki-client ASPA shape,
# which stayrtr 0.5 reads). Written aside and renamed: stayrtr never reads half.
write_vrps() {
    cat >"$WORK/vrps.json.new" <<EOF
{"metadata": {"buildtime": "2026-12-08T00:00:00Z"},
 "roas": [{"asn": "AS$1", "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "test"},
          {"asn": "AS$1", "prefix": "2001:db8:c::/48", "maxLength": 48, "ta": "test"},
          {"asn": "AS64510", "prefix": "198.18.0.0/15", "maxLength": 24, "ta": "test"}],
 "provider_authorizations": {"ipv4": [{"customer_asid": 64500, "providers": [64496]}],
                             "ipv6": [{"customer_asid": 64500, "providers": [64496, 64497]}]}}
EOF
    mv "$WORK/vrps.json.new" "$WORK/vrps.json"
}

stayrtr_start() {  # stayrtr_start [extra options]
    # ip netns exec execs stayrtr: $! is stayrtr itself, for stayrtr_stop.
    ip netns exec "$(rp_ns a)" stayrtr -bind :8323 -cache "$WORK/vrps.json" -checktime=false -refresh 1 \
        -metrics.addr 127.0.0.1:9847 "$@" >>"$WORK/stayrtr.log" 2>&1 &
    STAYRTR_PID=$!
    local i
    for ((i = 0; i < 50; i++)); do
        in_a ss -ltnp 2>/dev/null | grep -q ":8323 .*pid=$STAYRTR_PID," && return 0
        kill -0 "$STAYRTR_PID" 2>/dev/null || { cat "$WORK/stayrtr.log"; return 1; }
        sleep 0.1
    done
    echo "stayrtr did not listen within 5 s"; cat "$WORK/stayrtr.log"; return 1
}

stayrtr_stop() {
    [[ -n $STAYRTR_PID ]] || return 0
    kill -TERM "$STAYRTR_PID" 2>/dev/null || true
    wait "$STAYRTR_PID" 2>/dev/null || true
    STAYRTR_PID=
}

# until_output SECONDS REGEX CMD... — CMD's output matches REGEX within SECONDS.
until_output() {
    local seconds="$1" regex="$2" out i; shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        out=$("$@" 2>&1)
        grep -qE -- "$regex" <<<"$out" && { echo "$out"; echo "(after $((i * 200)) ms)"; return 0; }
        sleep 0.2
    done
    echo "$out"
    return 1
}

# cache_block NAME — one cache's lines of `show rpki cache`, on one line.
cache_block() { cli show rpki cache | awk -v c="cache $1 " '/^cache /{p = index($0, c) == 1} p' | tr '\n' ' '; }

# B's traffic from its loopback (a BAR-SAV-checked source) to host A.
b_from_loopback_passes() { expect_output ' 0% packet loss' in_b ping -c 3 -i 0.2 -W 2 -I 192.0.2.10 198.51.100.10; }
b_from_loopback_dropped() { expect_output '100% packet loss' in_b ping -c 3 -i 0.2 -W 1 -I 192.0.2.10 198.51.100.10; }

finish() {
    stayrtr_stop
    interop_finish_or_keep
}

interop_begin_own rpki rpki_prerequisites lab_topology_up rpki_config
trap finish EXIT

write_vrps 64500
stayrtr_start || abort "stayrtr start"
# Warm-up: A's and B's neighbours resolved (the first packets to an unresolved one are dropped).
ping_all a 198.51.100.1 >/dev/null
in_b ping -c 1 -W 1 203.0.113.1 >/dev/null 2>&1

check "rtr session up, version 2, data received" \
    until_output 15 'synchronized, protocol version 2' cli show rpki cache
check "show rpki cache: counts and timers" \
    expect_output '3 VRPs, 2 ASPAs, 0 router keys' cli show rpki cache
check "second cache over IPv6 up too" \
    until_output 10 'preference 200 +connected, synchronized, protocol version 2' cache_block '[2001:db8:a::10]:8323'
check "the preferred cache is in use" expect_output '198\.51\.100\.10:8323 preference 100 \(in use\)' cli show rpki cache
check "show rpki roa lists the VRPs" \
    expect_output '192\.0\.2\.0/24 +24 +64500' cli show rpki roa
check "show rpki roa PREFIX: the covering VRPs" \
    expect_output '^3 VRPs.*1 covering 2001:db8:c::/64' cli show rpki roa 2001:db8:c::/64
check "show rpki aspa: both families' providers united" \
    expect_output 'AS64500 providers AS64496 AS64497' cli show rpki aspa
check "validity: valid" expect_output 'origin AS64500: valid' cli show rpki validity 192.0.2.0/24 origin 64500
check "validity: invalid (origin)" expect_output 'origin AS64501: invalid' cli show rpki validity 192.0.2.0/24 origin 64501
check "validity: invalid (max length)" expect_output 'origin AS64500: invalid' cli show rpki validity 192.0.2.0/25 origin 64500
check "validity: not found" expect_output 'origin AS64500: not-found' cli show rpki validity 203.0.113.0/24 origin 64500
check "SAV: B's loopback allowed on pb by the ROA" expect_output 'pb \(bar-sav\): allowed' cli show sav prefix 192.0.2.10/32
check "SAV: B's traffic from 192.0.2.10 forwarded" b_from_loopback_passes

# The ROA moves to AS64501 (outside B's cone): stayrtr notifies, rampartd asks.
write_vrps 64501
check "file changed: validity follows within seconds" \
    until_output 10 'origin AS64500: invalid' cli show rpki validity 192.0.2.0/24 origin 64500
check "file changed: serial moved" expect_output 'serial [1-9]' cli show rpki cache
check "file changed: SAV refuses B's loopback" \
    until_output 5 'pb \(bar-sav\): refused' cli show sav prefix 192.0.2.10/32
check "file changed: B's traffic from 192.0.2.10 dropped" b_from_loopback_dropped

# The preferred cache removed live: the IPv6 one takes over, the view stays.
check "preferred cache removed: the other is in use" \
    expect_output '2001:db8:a::10\]:8323 preference 200 \(in use\)' \
    sh -c "'$CLI' -s '$SOCK' -c 'no rpki cache 198.51.100.10 port 8323' && '$CLI' -s '$SOCK' -c 'show rpki cache'"
check "preferred cache removed: validity unchanged" \
    expect_output 'origin AS64501: valid' cli show rpki validity 192.0.2.0/24 origin 64501

# The cache goes away: the data stays until the expire interval.
stayrtr_stop
check "cache gone: connection down" until_output 5 'not connected' cli show rpki cache
check "cache gone: data kept until expiry" expect_output 'data expires in [0-9]+ s' cli show rpki cache
check "cache gone: VRPs still in the view" expect_output '192\.0\.2\.0/24 +24 +64501' cli show rpki roa
check "cache gone: validity unchanged" expect_output 'origin AS64501: valid' cli show rpki validity 192.0.2.0/24 origin 64501

# Back as an RFC 8210 cache (version 1), with the ROA back at AS64500.
write_vrps 64500
stayrtr_start -protocol 1 || abort "stayrtr restart"
check "cache back in version 1: the session follows it" \
    until_output 40 'synchronized, protocol version 1' cli show rpki cache
check "version 1: no ASPAs from RTR any more" expect_output '^0 ASPAs' cli show rpki aspa
check "version 1: the ROA is back" \
    until_output 5 'origin AS64500: valid' cli show rpki validity 192.0.2.0/24 origin 64500
check "SAV follows: B's traffic from 192.0.2.10 forwarded again" b_from_loopback_passes

check "running-config keeps the cache" \
    expect_output '^rpki cache 2001:db8:a::10 port 8323 preference 200$' cli show running-config

interop_end
