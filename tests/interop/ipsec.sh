#!/usr/bin/env bash
# Interop: rampartd as an IPsec gateway (ESP tunnel mode, manually keyed SAs)
# on af_packet ports, checked against an independent ESP implementation:
# scapy's SecurityAssociation (scapy.layers.ipsec over python3-cryptography)
# is the peer gateway. It decrypts what rampartd sends and encrypts what
# rampartd must decrypt and forward; tshark's ESP dissector decrypts a capture
# a second time. The LAN host is a real Linux IP stack.
#   usage: ipsec.sh RAMPARTD RAMPART_CLI       (KEEP=1 keeps the work directory)
#
#   namespace lan: eth0 198.51.100.10/24, 2001:db8:a::10/64, default routes via rampartd
#   namespace rtr: rampartd; port lan 198.51.100.1/24 2001:db8:a::1/64
#                            port wan 203.0.113.1/24 2001:db8:b::1/64
#   namespace wan: eth0, no addresses, IPv6 off: the peer gateway 203.0.113.2 /
#                  2001:db8:b::2 is ipsec_wire.py on a packet socket; rampartd
#                  has static neighbours for it (and for the LAN host)
#   protected networks behind the peer: 192.0.2.0/24 and 2001:db8:c::/48
#
# Matrix: every transform rampartd has (aes-gcm-128, aes-gcm-256,
# chacha20-poly1305, aes-cbc-128 + hmac-sha-256, aes-cbc-256 + hmac-sha-384,
# aes-cbc-256 + hmac-sha-512, null + hmac-sha-256) x outer IPv4 / IPv6, each
# with inner IPv4 and IPv6 (4in4 6in4 4in6 6in6), in both directions; ESN on
# for aes-gcm-128 and aes-cbc-128 + hmac-sha-256 over both outer families.
# Between cases the SAs and policies are replaced through rampart-cli (fresh
# random keys and SPIs each time); rampartd runs throughout.
#   out: the LAN host's kernel sends a UDP datagram to 192.0.2.55 and to
#        2001:db8:c::55; scapy decrypts what leaves the wan port: the inner
#        packet is byte for byte what the host sent with TTL/hop limit - 1;
#        outer TTL 64, DSCP/ECN and (4in4) DF copied, sequence numbers from 1,
#        RFC 4303 padding.
#   in:  scapy encrypts an ICMP echo request from 192.0.2.55 / 2001:db8:c::55
#        to the host; it arrives decrypted, byte for byte with TTL - 1, and the
#        kernel's echo reply comes back encrypted with the outbound SA.
# NAT traversal (RFC 3948, 'ipsec sa NAME nat-traversal [remote-port P]'):
# aes-gcm-128 and aes-cbc-128 + hmac-sha-256 x outer IPv4 / IPv6 x the peer's
# port P = 4500 and P = 61000 (the peer behind a NAT), the same out and in
# exchanges with ESP in UDP; scapy's SecurityAssociation has
# nat_t_header=UDP(sport=P, dport=4500).
#   out: rampartd sends UDP 4500 -> P, length right, checksum 0 over IPv4 and
#        a valid (non-zero) one over IPv6, outer protocol 17.
#   in:  scapy's ESP in UDP P -> 4500 is decrypted; the echo reply comes back
#        in UDP 4500 -> P.
#   kernel: an IKE message after the zero non-ESP marker and a NAT keepalive
#        (0xFF) to 203.0.113.1:4500 and [2001:db8:b::1]:4500 reach a UDP socket
#        on port 4500 in rampartd's kernel (TAP twin); show interface wan:
#        punted rises, no esp_* drop.
#   mismatch: plain ESP for a NAT-T SA does not get through and is counted as
#        esp_encapsulation_mismatch; the same SA in UDP right after does.
# tshark (4.0: esp_sa UAT) decrypts and ICV-checks the captures of the aes-gcm-128
# and aes-cbc-128 + hmac-sha-256 cases, without ESN (its UAT has no ESN setting),
# and the NAT-T ones with peer port 61000 (its udpencap dissector).
#
# Not covered, because rampartd does not implement them yet: transport mode,
# IKE (rampartd only hands it to the kernel). chacha20-poly1305 is checked by
# scapy only: tshark 4.0's ESP dissector cannot decrypt it. Under ESN only
# sequence numbers below 2^32 occur (a fresh SA starts at 1); the high half (0)
# still enters the AEAD AAD and the HMAC. Scapy 2.5 leaves it out of the HMAC
# of ESP, so ipsec_wire.py computes that ICV itself (see its docstring).
#
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rps$$-"
PY=/usr/bin/python3
# shellcheck source=harness.sh
. "$HERE/harness.sh"

# Fixed MACs, the same as in ipsec_wire.py.
MAC_HOST=02:aa:00:00:00:0a MAC_PEER=02:cc:00:00:00:02
MAC_PORT_LAN=02:00:00:00:00:0a MAC_PORT_WAN=02:00:00:00:00:0b

wire() { timeout 30 "$PY" "$HERE/ipsec_wire.py" "$@"; }
in_lan() { rp_exec lan "$@"; }

# The prerequisites fail the test (never skip it): say which one is missing.
ipsec_prerequisites() {
    local missing=() tool
    for tool in ip ethtool tshark timeout; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -x $PY ]] || missing+=("$PY")
    [[ -x $PY ]] && ! timeout 30 "$PY" -c 'import scapy.layers.ipsec, scapy.layers.inet6, scapy.layers.l2' 2>/dev/null &&
        missing+=("python3-scapy (scapy.layers.ipsec for $PY)")
    [[ -x $PY ]] && ! timeout 30 "$PY" -c '
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from scapy.layers.ipsec import CRYPT_ALGOS
assert {"AES-GCM", "AES-CBC", "CHACHA20-POLY1305"} <= set(CRYPT_ALGOS)' 2>/dev/null &&
        missing+=("python3-cryptography (AES-GCM, AES-CBC, ChaCha20-Poly1305 in scapy.layers.ipsec)")
    ((EUID == 0)) || missing+=("root")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]}"
    return 1
}

# ipsec_topology_up — three namespaces, two veths; the LAN host knows rampartd statically.
ipsec_topology_up() {
    rp_ns_create rtr && rp_ns_create lan && rp_ns_create wan || return 1
    rp_veth lan eth0 rtr r-lan && rp_veth wan eth0 rtr r-wan || return 1
    # The peer is scapy: no kernel chatter at all on its side.
    rp_port_setup lan eth0 "$MAC_HOST" quiet && rp_port_setup wan eth0 "$MAC_PEER" silent &&
        rp_port_setup rtr r-lan "$MAC_PORT_LAN" quiet && rp_port_setup rtr r-wan "$MAC_PORT_WAN" quiet || return 1
    for ifc in r-lan r-wan; do rp_wait_carrier rtr "$ifc" || return 1; done
    in_lan ip addr add 198.51.100.10/24 dev eth0 &&
        in_lan ip addr add 2001:db8:a::10/64 dev eth0 nodad &&
        in_lan ip route add default via 198.51.100.1 &&
        in_lan ip -6 route add default via 2001:db8:a::1 &&
        in_lan ip neigh replace 198.51.100.1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent &&
        in_lan ip -6 neigh replace 2001:db8:a::1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent
}

ipsec_config() {
    cat <<EOC
! ipsec.sh: a gateway between a LAN and the peer; the SAs and policies come through rampart-cli
interface lan device net_af_packet0,iface=r-lan
interface lan address 198.51.100.1/24
interface lan address 2001:db8:a::1/64
interface lan neighbor 198.51.100.10 $MAC_HOST
interface lan neighbor 2001:db8:a::10 $MAC_HOST
interface wan device net_af_packet1,iface=r-wan
interface wan address 203.0.113.1/24
interface wan address 2001:db8:b::1/64
interface wan neighbor 203.0.113.2 $MAC_PEER
interface wan neighbor 2001:db8:b::2 $MAC_PEER
EOC
}

ipsec_begin() { interop_begin_own ipsec ipsec_prerequisites ipsec_topology_up ipsec_config; }

# cli_file FILE — every line of FILE through rampart-cli; fails if any is refused.
cli_file() {
    local line out rc=0
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        if ! out=$(timeout 10 "$CLI" -s "$SOCK" -c "$line" 2>&1) || [[ $out == %* || $out == *rror* ]]; then
            echo "rampart-cli refused: ${line/ key [0-9a-f]*/ key <secret>}: $out"
            rc=1
        fi
    done <"$1"
    return $rc
}

TEARDOWN=
# run_case TRANSFORM OUTER ESN NATT — replace the SA pair and the two policies with fresh
# ones (NATT: 0, or the peer's UDP port), then one exchange in both directions;
# the results land in $CASE_DIR.
run_case() {
    CASE_DIR="$WORK/$1-ipv$2-esn$3-natt$4"
    mkdir -p "$CASE_DIR"
    {
        wire config "$1" "$2" "$3" "$CASE_DIR/state.json" "$CASE_DIR/setup.cli" "$CASE_DIR/teardown.cli" "$4" ||
            return 1
        if [[ -n $TEARDOWN ]]; then cli_file "$TEARDOWN" || return 1; fi
        TEARDOWN=
        cli_file "$CASE_DIR/setup.cli" || return 1
        TEARDOWN="$CASE_DIR/teardown.cli"
        wire run "$CASE_DIR/state.json" "$(rp_ns lan)" "$(rp_ns wan)" "$CASE_DIR"
    } >"$CASE_DIR/run.log" 2>&1
}

# case_result NAME — what ipsec_wire.py found for one check of the last case.
case_result() {
    local f="$CASE_DIR/$1.txt"
    if [[ ! -f $f ]]; then
        echo "no result; the case's log:"
        cat "$CASE_DIR/run.log"
        return 1
    fi
    tail -n +2 "$f"
    [[ $(head -1 "$f") == ok ]] && return 0
    echo "rampartd's view:"  # where the packets went
    cli "show ipsec sa"
    cli "show interface lan" | grep -vE '^  (Device|Addresses|MAC)'
    cli "show interface wan" | grep -vE '^  (Device|Addresses|MAC)'
    return 1
}

ipsec_begin

# --- 0. the LAN host reaches rampartd ------------------------------------------
check "LAN host pings rampartd's lan port over IPv4 and IPv6" \
    eval 'ping_all lan 198.51.100.1 && ping_all lan 2001:db8:a::1'

# --- 1. the matrix -----------------------------------------------------------------
TRANSFORMS=(aes-gcm-128 aes-gcm-256 chacha20-poly1305 aes-cbc-128+hmac-sha-256 aes-cbc-256+hmac-sha-384
    aes-cbc-256+hmac-sha-512 null+hmac-sha-256)
CASES=()
for t in "${TRANSFORMS[@]}"; do CASES+=("$t 4 0 0" "$t 6 0 0"); done
CASES+=("aes-gcm-128 4 1 0" "aes-gcm-128 6 1 0" "aes-cbc-128+hmac-sha-256 4 1 0" "aes-cbc-128+hmac-sha-256 6 1 0")
# NAT traversal: ESP in UDP, the peer on port 4500 or behind a NAT on 61000.
for t in aes-gcm-128 aes-cbc-128+hmac-sha-256; do
    for outer in 4 6; do CASES+=("$t $outer 0 4500" "$t $outer 0 61000"); done
done

# wan_punted / wan_drops [REGEX] — from show interface wan: the punted counter;
# the drop lines (name count) whose name matches REGEX.
wan_punted() { cli "show interface wan" | sed -n 's/.*exception path: \([0-9]*\) punted.*/\1/p'; }
wan_drops() { cli "show interface wan" | awk -v re="${1:-.}" '/^    [a-z0-9_]+ +[0-9]+ / && $1 ~ re {print $1, $2}'; }
wan_drop_count() { wan_drops "^$1\$" | awk '{n = $2} END {print n + 0}'; }

# NAT-T datagrams for the kernel: IKE (non-ESP marker) and keepalives are punted, not dropped.
natt_kernel() {
    local punted0 esp0 punted1 esp1
    punted0=$(wan_punted) esp0=$(wan_drops '^esp_')
    wire kernel "$(rp_ns wan)" "$(rp_ns rtr)" "$WORK/natt-kernel.txt" || return 1
    for _ in {1..10}; do  # the counters may trail the packets a little
        punted1=$(wan_punted)
        ((punted1 >= punted0 + 4)) && break
        sleep 0.1
    done
    esp1=$(wan_drops '^esp_')
    echo "show interface wan: punted $punted0 -> $punted1; esp_* drops before: '${esp0//$'\n'/, }' after: '${esp1//$'\n'/, }'"
    ((punted1 >= punted0 + 4)) && [[ $esp0 == "$esp1" ]]
}

# Plain ESP to a NAT-T SA: not decrypted, counted as esp_encapsulation_mismatch.
natt_mismatch() {
    local before after
    before=$(wan_drop_count esp_encapsulation_mismatch)
    wire mismatch "$CASE_DIR/state.json" "$(rp_ns lan)" "$(rp_ns wan)" "$WORK/natt-mismatch.txt" || return 1
    for _ in {1..10}; do
        after=$(wan_drop_count esp_encapsulation_mismatch)
        ((after >= before + 1)) && break
        sleep 0.1
    done
    echo "show interface wan: esp_encapsulation_mismatch $before -> $after"
    ((after == before + 1))
}

first=1
for c in "${CASES[@]}"; do
    read -r transform outer esn natt <<<"$c"
    label="$transform, ESP over IPv$outer$( ((esn)) && echo ", ESN")$( ((natt)) && echo " in UDP, NAT-T, peer port $natt")"
    run_case "$transform" "$outer" "$esn" "$natt"
    if ((natt)); then
        check "$label: out 4in$outer: LAN UDP datagram leaves as ESP in UDP 4500 -> $natt (checksum $( ((outer == 4)) && echo 0 || echo valid)); scapy decrypts it to what the host sent, TTL-1" \
            case_result out4
        check "$label: out 6in$outer: LAN UDP datagram leaves as ESP in UDP 4500 -> $natt; scapy decrypts it to what the host sent, hop limit-1" \
            case_result out6
        check "$label: in 4in$outer: scapy's ESP-in-UDP echo request ($natt -> 4500) reaches the host decrypted; the reply comes back in UDP 4500 -> $natt" \
            case_result in4
        check "$label: in 6in$outer: scapy's ESP-in-UDP echo request ($natt -> 4500) reaches the host decrypted; the reply comes back in UDP 4500 -> $natt" \
            case_result in6
    else
        check "$label: out 4in$outer: LAN UDP datagram leaves encrypted; scapy decrypts it to what the host sent, TTL-1" \
            case_result out4
        check "$label: out 6in$outer: LAN UDP datagram leaves encrypted; scapy decrypts it to what the host sent, hop limit-1" \
            case_result out6
        check "$label: in 4in$outer: scapy's ESP echo request reaches the host decrypted; the reply comes back encrypted" \
            case_result in4
        check "$label: in 6in$outer: scapy's ESP echo request reaches the host decrypted; the reply comes back encrypted" \
            case_result in6
    fi
    if ((first)); then
        first=0
        # The control plane as configured, once: SAs with counters, the SPD, keys never shown.
        out_sa=$(sed -n 's/^ipsec sa \(out-[0-9a-f]*\) outbound.*/\1/p' "$CASE_DIR/setup.cli")
        in_sa=$(sed -n 's/^ipsec sa \(in-[0-9a-f]*\) inbound.*/\1/p' "$CASE_DIR/setup.cli")
        key=$(sed -n 's/^ipsec sa out-[0-9a-f]* encryption [^ ]* key \([0-9a-f]*\)$/\1/p' "$CASE_DIR/setup.cli")
        control_plane() {
            expect_output "^SA $out_sa outbound SPI" cli "show ipsec sa" &&
                expect_output '4 packets, .*; 4 sequence numbers used' cli "show ipsec sa $out_sa" &&
                expect_output '2 packets, ' cli "show ipsec sa $in_sa" &&
                expect_output '0 auth failed, 0 replayed, 0 too old, 0 bad trailer, 0 policy mismatch' \
                    cli "show ipsec sa $in_sa" &&
                expect_output "^ +20 +local 2001:db8:a::/64 remote 2001:db8:c::/48 +protect out $out_sa in $in_sa" \
                    cli "show ipsec spd" &&
                ! cli "show running-config" | grep -qi "$key" &&
                expect_output "^ipsec sa $out_sa encryption aes-gcm-128 key <secret>" cli "show running-config"
        }
        check "control plane: show ipsec sa counts 4 packets out, 2 in, no drops; show ipsec spd; running-config hides the keys" \
            control_plane
    fi
    # tshark: without ESN; under NAT-T once per transform and family (peer port 61000, the NAT case).
    if [[ ($transform == aes-gcm-128 || $transform == aes-cbc-128+hmac-sha-256) && $esn == 0 && $natt != 4500 ]]; then
        check "$label: tshark decrypts the capture (esp_sa UAT), ICVs good, same inner packets as scapy" \
            wire tshark "$CASE_DIR/state.json" "$CASE_DIR/esp.pcap"
    fi
    if [[ $transform == aes-gcm-128 && $esn == 0 && $natt == 0 ]]; then
        frag_sa=$(sed -n 's/^ipsec sa \(out-[0-9a-f]*\) outbound.*/\1/p' "$CASE_DIR/setup.cli")
        fragments() {
            cli "ipsec sa $frag_sa encapsulated-ip-mtu $1" &&
                wire fragments "$CASE_DIR/state.json" "$(rp_ns lan)" "$(rp_ns wan)" "$1" "$CASE_DIR/frag.txt" &&
                expect_output "packets fragmented after encryption" cli "show ipsec sa $frag_sa"
        }
        check "$label: encapsulated-ip-mtu: large datagrams leave as ESP fragments scapy reassembles and decrypts; scapy's fragmented ESP is reassembled before decryption" \
            fragments "$( ((outer == 4)) && echo 1000 || echo 1280)"
    fi
    if [[ $transform == aes-gcm-128 && $outer == 4 && $natt == 61000 ]]; then
        check "NAT-T: IKE (zero non-ESP marker) and NAT keepalives (0xFF) to rampartd's port 4500, IPv4 and IPv6, reach a UDP socket in its kernel byte for byte; show interface wan: punted +4, no esp_* drop" \
            natt_kernel
        check "NAT-T: plain ESP to a NAT-T SA does not reach the host and counts as esp_encapsulation_mismatch; the same SA in UDP right after does" \
            natt_mismatch
    fi
done

interop_end
