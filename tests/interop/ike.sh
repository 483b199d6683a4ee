#!/usr/bin/env bash
# Interop: rampartd's IKEv2 daemon against strongSwan's charon. Child SAs that
# rampartd negotiates go into its ESP fast path through the IPsec API; charon
# runs with the kernel-libipsec plugin, so its ESP is userspace (a TUN device,
# ipsec0, in the peer namespace; libipsec forces ESP in UDP 4500, i.e. NAT-T).
#   usage: ike.sh RAMPARTD RAMPART_CLI        (KEEP=1 keeps the work directory)
#
#   namespace lan:  eth0 198.51.100.10/24, 2001:db8:a::10/64, default routes via rampartd
#   namespace rtr:  rampartd; port lan 198.51.100.1/24 2001:db8:a::1/64
#                             port wan 203.0.113.1/24  2001:db8:b::1/64
#   namespace peer: eth0 203.0.113.2/24 2001:db8:b::2/64; lo 192.0.2.1/32
#                   2001:db8:c::1/128 (the hosts behind charon); charon with its own
#                   strongswan.conf (STRONGSWAN_CONF), its own vici socket in the
#                   work directory and its own /run (a private mount namespace):
#                   nothing of the host's /etc/strongswan* or /run is used.
#
# Connections: rp4 (IKE over IPv4, aes-gcm-128 + ECP-256, 198.51.100.0/24 <->
# 192.0.2.0/24; charon offers 100.64.0.0/24 too, a second subnet on its lo) and rp6 (IKE over IPv6, aes-cbc-128 + HMAC-SHA2-256 + MODP-2048,
# 2001:db8:a::/64 <-> 2001:db8:c::/48), PSK both.
# Cases: rampartd initiates (ike initiate) and charon initiates (swanctl
# --initiate), over IPv4 and IPv6; each time pings and a 2 MB TCP transfer
# both ways through the tunnel (the LAN host <-> the host behind charon); the
# Child SA UDP-encapsulated on both sides (NAT-T forced); DPD both ways, and
# a frozen charon detected dead; Child SA
# rekeys (CREATE_CHILD_SA) started by rampartd and by charon, with traffic
# still flowing; IKE SA rekeys in place started by rampartd (ike rekey) and by
# charon (swanctl --rekey --ike), and Child SA rekeys with PFS (ECP-256) both
# ways, each under a continuous ping (every 50 ms) that must lose nothing; a
# trap policy whose first packet starts negotiation; certificate
# authentication (an openssl-made CA, ECDSA, RFC 7427) both ways, and a
# five-certificate RSA chain each way in RFC 7383 fragments; a wrong PSK fails with
# AUTHENTICATION_FAILED both ways and is counted; CERTREQ makes charon
# (send_cert = ifasked) send its certificate; a CRL revoking charon's
# certificate makes rampartd refuse it; a TS-list of two remote
# subnets (two SPD entries, both pinging); FQDN / e-mail identities with PSK
# (charon's rpid) and a wrong identity refused; charon's IDi choosing between
# two connections to its address; the PAD refusing what charon
# offers (TS_UNACCEPTABLE) and narrowing it; wrong PSKs from charon locking its
# address out (ike lockout), visible in show ike lockout, cleared with clear
# ike lockout, then success; DPD detecting a frozen charon (last). Every wait is bounded; a
# missing prerequisite or a charon that does not start FAILS the test.
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpk$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"

CHARON=/usr/lib/ipsec/charon
PLUGINS=/usr/lib/ipsec/plugins
PSK4="rampart interop v4 key"
PSK6=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
MAC_HOST=02:aa:00:00:00:0a MAC_PEER=02:cc:00:00:00:02
MAC_PORT_LAN=02:00:00:00:00:0a MAC_PORT_WAN=02:00:00:00:00:0b
CHARON_PID=

in_lan() { rp_exec lan "$@"; }
in_peer() { rp_exec peer "$@"; }
swan() { STRONGSWAN_CONF="$WORK/charon/strongswan.conf" timeout 30 swanctl "$@" --uri "unix://$WORK/charon/charon.vici"; }

ike_prerequisites() {
    local missing=() tool p
    for tool in ip ethtool timeout unshare swanctl ping openssl; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -x $CHARON ]] || missing+=("$CHARON (strongswan-charon)")
    for p in kernel-libipsec kernel-netlink socket-default vici openssl nonce random; do
        [[ -f $PLUGINS/libstrongswan-$p.so ]] || missing+=("charon plugin $p")
    done
    [[ -c /dev/net/tun ]] || missing+=("/dev/net/tun (kernel-libipsec's TUN device)")
    ((EUID == 0)) || missing+=("root")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]} (scripts/deps.sh installs them)"
    return 1
}

ike_topology_up() {
    rp_ns_create rtr && rp_ns_create lan && rp_ns_create peer || return 1
    rp_veth lan eth0 rtr r-lan && rp_veth peer eth0 rtr r-wan || return 1
    rp_port_setup lan eth0 "$MAC_HOST" quiet && rp_port_setup peer eth0 "$MAC_PEER" quiet &&
        rp_port_setup rtr r-lan "$MAC_PORT_LAN" quiet && rp_port_setup rtr r-wan "$MAC_PORT_WAN" quiet || return 1
    for ifc in r-lan r-wan; do rp_wait_carrier rtr "$ifc" || return 1; done
    in_lan ip addr add 198.51.100.10/24 dev eth0 &&
        in_lan ip addr add 2001:db8:a::10/64 dev eth0 nodad &&
        in_lan ip route add default via 198.51.100.1 &&
        in_lan ip -6 route add default via 2001:db8:a::1 &&
        in_lan ip neigh replace 198.51.100.1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent &&
        in_lan ip -6 neigh replace 2001:db8:a::1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent || return 1
    in_peer ip addr add 203.0.113.2/24 dev eth0 &&
        in_peer ip addr add 2001:db8:b::2/64 dev eth0 nodad &&
        in_peer ip neigh replace 203.0.113.1 lladdr "$MAC_PORT_WAN" dev eth0 nud permanent &&
        in_peer ip -6 neigh replace 2001:db8:b::1 lladdr "$MAC_PORT_WAN" dev eth0 nud permanent &&
        in_peer ip addr add 192.0.2.1/32 dev lo &&
        in_peer ip addr add 100.64.0.1/32 dev lo &&
        in_peer ip addr add 2001:db8:c::1/128 dev lo nodad
}

rampartd_config() {
    cat <<EOC
! ike.sh: rampartd between the LAN and charon
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
route 192.0.2.0/24 via 203.0.113.2
route 100.64.0.0/24 via 203.0.113.2
route 2001:db8:c::/48 via 2001:db8:b::2
ike connection rp4 local 203.0.113.1 remote 203.0.113.2
ike connection rp4 psk text key "$PSK4"
ike connection rp4 child local-ts 198.51.100.0/24 remote-ts 192.0.2.0/24 policy 10
ike connection rp6 local 2001:db8:b::1 remote 2001:db8:b::2
ike connection rp6 psk key $PSK6
ike connection rp6 proposal aes-cbc-128-sha256 dh 14
ike connection rp6 child local-ts 2001:db8:a::/64 remote-ts 2001:db8:c::/48 esp-proposal aes-cbc-128-sha256 policy 20
EOC
}

# swan_conn NAME "LOCAL REMOTE" PROPOSALS "LOCAL_ID REMOTE_ID" LOCAL_TS REMOTE_TS ESP_PROPOSALS
#           [IKE_SETTINGS] [CHILD_SETTINGS] — one PSK connection (and its Child of the same name)
# of swanctl.conf; settings are "key = value" separated by "; " (child default: no rekey).
swan_conn() {
    local name="$1" addrs=($2) proposals="$3" ids=($4) lts="$5" rts="$6" esp="$7"
    local ike_extra="${8:-}" child_extra="${9:-rekey_time = 0; life_time = 0}" kv
    printf '    %s {\n        version = 2\n        local_addrs = %s\n        remote_addrs = %s\n' "$name" "${addrs[0]}" "${addrs[1]}"
    printf '        proposals = %s\n        mobike = no\n        rekey_time = 0\n        reauth_time = 0\n        unique = never\n' "$proposals"
    [[ -n $ike_extra ]] && while IFS= read -r kv; do printf '        %s\n' "$kv"; done <<<"${ike_extra//; /$'\n'}"
    printf '        local {\n            auth = psk\n            id = %s\n        }\n' "${ids[0]}"
    printf '        remote {\n            auth = psk\n            id = %s\n        }\n' "${ids[1]}"
    printf '        children {\n            %s {\n                local_ts = %s\n                remote_ts = %s\n' "$name" "$lts" "$rts"
    printf '                esp_proposals = %s\n                start_action = none\n' "$esp"
    while IFS= read -r kv; do printf '                %s\n' "$kv"; done <<<"${child_extra//; /$'\n'}"
    printf '            }\n        }\n    }\n'
}

charon_config() {
    local d="$WORK/charon" load="" p
    mkdir -p "$d/run" || return 1
    for p in random nonce openssl pem x509 pubkey pkcs1 gmp aes sha2 hmac kdf gcm kernel-libipsec kernel-netlink \
        socket-default vici; do
        [[ -f $PLUGINS/libstrongswan-$p.so ]] && load+="$p "
    done
    cat >"$d/strongswan.conf" <<EOC
# ike.sh's charon: nothing from /etc; its own sockets in $d
charon {
    load_modular = no
    load = $load
    install_routes = yes
    retransmit_tries = 3
    retransmit_timeout = 1.0
    syslog {
        daemon {
            default = -1
        }
    }
    filelog {
        charon {
            path = $d/charon.log
            default = 1
            ike = 2
            cfg = 2
            enc = 1
            time_format = %T
            flush_line = yes
        }
    }
    plugins {
        vici {
            socket = unix://$d/charon.vici
        }
    }
}
swanctl {
    load = pem pkcs1 pkcs8 x509 pubkey openssl
}
EOC
    {
        echo "connections {"
        swan_conn rp4 "203.0.113.2 203.0.113.1" aes128gcm16-prfsha256-ecp256 "203.0.113.2 203.0.113.1" \
            192.0.2.0/24,100.64.0.0/24 198.51.100.0/24 aes128gcm16 "dpd_delay = 2s"
        swan_conn rpid "203.0.113.2 203.0.113.1" aes128gcm16-prfsha256-ecp256 "charon@example.com rampart.example.com" \
            192.0.2.0/24 198.51.100.0/24 aes128gcm16
        swan_conn rp4r "203.0.113.2 203.0.113.1" aes128gcm16-prfsha256-ecp256 "203.0.113.2 203.0.113.1" \
            192.0.2.0/24 198.51.100.0/24 aes128gcm16 "" "rekey_time = 8s; rand_time = 0; life_time = 60s"
        swan_conn rp4p "203.0.113.2 203.0.113.1" aes128gcm16-prfsha256-ecp256 "203.0.113.2 203.0.113.1" \
            192.0.2.0/24 198.51.100.0/24 aes128gcm16-ecp256
        swan_conn rp6 "2001:db8:b::2 2001:db8:b::1" aes128-sha256-modp2048 "2001:db8:b::2 2001:db8:b::1" \
            2001:db8:c::/48 2001:db8:a::/64 aes128-sha256 "dpd_delay = 2s"
        echo "}"
    } >"$d/swanctl.conf" || return 1
    cat >>"$d/swanctl.conf" <<EOC
secrets {
    ike-rp4 {
        id-a = 203.0.113.1
        id-b = 203.0.113.2
        secret = "$PSK4"
    }
    ike-rpid {
        id-a = rampart.example.com
        id-b = charon@example.com
        secret = "$PSK4"
    }
    ike-rp6 {
        id-a = 2001:db8:b::1
        id-b = 2001:db8:b::2
        secret = 0x$PSK6
    }
}
EOC
}

# charon_start — charon in the peer namespace with a private /run; its vici socket answers within 15 s.
charon_start() {
    charon_config || return 1
    local d="$WORK/charon"
    rp_exec peer env STRONGSWAN_CONF="$d/strongswan.conf" unshare --mount --propagation private \
        sh -c 'mount --bind "$0" /run && exec "$1" --use-syslog no' "$d/run" "$CHARON" >"$d/charon.out" 2>&1 &
    CHARON_PID=$!
    local i
    for ((i = 0; i < 150; i++)); do
        if [[ -S $d/charon.vici ]] && swan --stats >/dev/null 2>&1; then
            swan --load-all --file "$d/swanctl.conf" >"$d/load.out" 2>&1 && return 0
            echo "charon started but swanctl --load-all failed:"; cat "$d/load.out"; return 1
        fi
        kill -0 "$CHARON_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "charon did not start (no vici socket within 15 s); its output and log:"
    cat "$d/charon.out" "$d/charon.log" 2>/dev/null | tail -30
    return 1
}

charon_stop() {
    [[ -n $CHARON_PID ]] || return 0
    kill -TERM "$CHARON_PID" 2>/dev/null
    [[ -f $WORK/charon/run/charon.pid ]] && kill -CONT "$(cat "$WORK/charon/run/charon.pid")" 2>/dev/null
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$CHARON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CHARON_PID" 2>/dev/null
    wait "$CHARON_PID" 2>/dev/null
    CHARON_PID=
}

ike_finish() {
    charon_stop
    if ((failed)) && [[ -f $WORK/charon/charon.log ]]; then
        echo "--- charon log ---"
        tail -60 "$WORK/charon/charon.log"
    fi
    interop_finish_or_keep
}

ike_begin() {
    interop_begin_own ike ike_prerequisites ike_topology_up rampartd_config
    trap ike_finish EXIT  # charon goes too from here on
    charon_start >"$WORK/charon-start.out" 2>&1 || { cat "$WORK/charon-start.out"; abort "charon start"; }
}

# wait_for SECONDS CMD... — rerun CMD every 0.2 s until it succeeds (output of the last try shown).
wait_for() {
    local secs="$1" i; shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" >"$WORK/wait.out" 2>&1 && { cat "$WORK/wait.out"; return 0; }
        sleep 0.2
    done
    cat "$WORK/wait.out"
    return 1
}

rp_established() { cli "show ike sa" | grep -qE "^$1 #[0-9]+: established"; }
charon_established() { swan --list-sas --ike "$1" 2>/dev/null | grep -q "ESTABLISHED"; }
charon_child_installed() { swan --list-sas --ike "$1" 2>/dev/null | grep -q "INSTALLED"; }
both_up() {
    wait_for 20 rp_established "$1" && wait_for 20 charon_child_installed "$1" &&
        cli "show ike sa" && swan --list-sas --ike "$1"
}
ike_counter() {  # ike_counter NAME — a number from show ike sa detail's counters
    cli "show ike sa detail" | tr ',' '\n' | sed -n "s/.*$1 \([0-9][0-9]*\).*/\1/p" | head -1
}

ping_ok() {  # ping_ok NS ARGS... — 3 of 3 echo replies (a few tries for the first)
    local ns="$1"; shift
    local try
    for try in 1 2 3 4 5; do rp_exec "$ns" ping -c 1 -W 1 "$@" >/dev/null 2>&1 && break; done
    expect_output ' 0% packet loss' rp_exec "$ns" ping -c 3 -i 0.3 -W 2 "$@"
}
pings4() { ping_ok lan 192.0.2.1 && ping_ok peer -I 192.0.2.1 198.51.100.10; }
pings6() { ping_ok lan 2001:db8:c::1 && ping_ok peer -I 2001:db8:c::1 2001:db8:a::10; }

# tcp_transfer SERVER_NS SERVER_ADDR CLIENT_NS [CLIENT_BIND] — 2 MB of random bytes over one TCP
# connection; the receiver's SHA-256 must equal the sender's (bounded by timeouts).
tcp_transfer() {
    local sns="$1" saddr="$2" cns="$3" bind="${4:-}" port=$((20000 + RANDOM % 20000))
    head -c 2000000 /dev/urandom >"$WORK/tcp.in" || return 1
    local want got
    want=$(sha256sum <"$WORK/tcp.in" | cut -d' ' -f1)
    rp_exec "$sns" timeout 30 /usr/bin/python3 -c '
import hashlib, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(h.hexdigest(), n)' "$saddr" "$port" >"$WORK/tcp.out" 2>&1 &
    local server=$! i
    for ((i = 0; i < 50; i++)); do rp_exec "$sns" ss -ltn | grep -q ":$port " && break; sleep 0.1; done
    rp_exec "$cns" timeout 30 /usr/bin/python3 -c '
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
if sys.argv[3]: s.bind((sys.argv[3], 0))
s.settimeout(20); s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(open(sys.argv[4], "rb").read()); s.shutdown(socket.SHUT_WR); s.recv(1)' \
        "$saddr" "$port" "$bind" "$WORK/tcp.in" || { echo "client failed"; kill "$server" 2>/dev/null; return 1; }
    wait "$server"
    got=$(cut -d' ' -f1 <"$WORK/tcp.out")
    echo "sent 2000000 bytes sha256 ${want:0:16}..., received $(cat "$WORK/tcp.out" | cut -c1-16)... $(cut -d' ' -f2 <"$WORK/tcp.out") bytes"
    [[ $got == "$want" ]]
}
tcp4() { tcp_transfer peer 192.0.2.1 lan && tcp_transfer lan 198.51.100.10 peer 192.0.2.1; }
tcp6() { tcp_transfer peer 2001:db8:c::1 lan && tcp_transfer lan 2001:db8:a::10 peer 2001:db8:c::1; }

terminate_both() {
    cli "ike terminate $1" >/dev/null 2>&1
    swan --terminate --ike "$1" --timeout 5 >/dev/null 2>&1
    wait_for 10 eval "! charon_established $1 && ! rp_established $1" >/dev/null
}

rp_initiates() { cli "ike initiate $1" && both_up "$1"; }
charon_initiates() { swan --initiate --child "$1" --timeout 20 >"$WORK/initiate.out" 2>&1; both_up "$1"; }

ike_begin

check "rampartd's running-config shows the connections with the PSKs hidden" \
    eval 'cli "show running-config" | grep -q "^ike connection rp4 psk key <secret>" && ! cli "show running-config" | grep -q "interop v4"'
check "charon (kernel-libipsec) runs in the peer namespace and loaded both connections" \
    expect_output 'rp6' swan --list-conns

# --- IPv4 ----------------------------------------------------------------------
check "IPv4: rampartd initiates (ike initiate rp4): IKE SA and Child SA up on both sides" rp_initiates rp4
check "IPv4: ping LAN host <-> host behind charon, both ways, through rampartd's ESP fast path" pings4
check "IPv4: show ike sa shows the child SA with SPIs and no key material" \
    eval 'cli "show ike sa detail" | grep -E "child: tunnel 198.51.100.0/24 <-> 192.0.2.0/24 esp aes-gcm-128 spi in [0-9a-f]{8} out [0-9a-f]{8}" && ! cli "show ike sa detail" | grep -qiE "[0-9a-f]{32}|psk|secret"'
check "IPv4: the Child SA is in rampartd's SAD, owned by ike" \
    expect_output 'ike-rp4-' cli "show ipsec sa"
check "IPv4: charon's DPD (every 2 s) is answered; the SAs stay up for 6 s" \
    eval 'sleep 6; charon_established rp4 && rp_established rp4 && pings4'
check "IPv4: terminate from rampartd removes the SAs on both sides" \
    eval 'cli "ike terminate rp4"; wait_for 10 eval "! charon_established rp4" && ! cli "show ipsec sa" | grep -q ike-rp4-'
check "IPv4: charon initiates (swanctl --initiate): rampartd responds, Child SA up" charon_initiates rp4
check "IPv4: ping both ways with charon as initiator" pings4
check "IPv4: a TCP transfer (2 MB) both ways through the tunnel, byte-exact" tcp4
check "NAT-T forced (libipsec encapsulates): the Child SA is ESP in UDP 4500 on both sides" \
    eval 'cli "show ike sa detail" | grep -E "child: .*udp-encap" && swan --list-sas --ike rp4 | grep -E "TUNNEL-in-UDP|UDP_ENCAP|in-UDP"'
terminate_both rp4

# --- IPv6 ----------------------------------------------------------------------
check "IPv6: rampartd initiates rp6 (aes-cbc-128/sha256, modp2048)" rp_initiates rp6
check "IPv6: ping LAN host <-> host behind charon, both ways" pings6
terminate_both rp6
check "IPv6: charon initiates rp6: rampartd responds" charon_initiates rp6
check "IPv6: ping both ways with charon as initiator" pings6
check "IPv6: a TCP transfer (2 MB) both ways through the tunnel, byte-exact" tcp6
terminate_both rp6

# --- DPD from rampartd ----------------------------------------------------------
dpd_case() {
    local before
    cli "ike connection rp4 dpd 1" || return 1
    rp_initiates rp4 || return 1
    before=$(ike_counter "dpd sent")
    sleep 4
    local after; after=$(ike_counter "dpd sent")
    echo "dpd sent: $before -> $after"
    ((after > before)) && rp_established rp4 && pings4
}
check "DPD: rampartd's liveness checks (dpd 1) are answered by charon; SA stays up" dpd_case
cli "no ike connection rp4 dpd 1" >/dev/null  # a changed connection restarts: its SAs go
terminate_both rp4

# --- rekey ---------------------------------------------------------------------------
# rampartd rekeys its Child SA with CREATE_CHILD_SA in the same IKE SA (lifetime child 10).
rekey_case() {
    cli "ike connection rp4 lifetime child 10" || return 1
    rp_initiates rp4 || return 1
    local old_sa new_sa ike_before ike_after
    ike_before=$(cli "show ike sa" | grep -oE '^rp4 #[0-9]+' | head -1)
    old_sa=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    wait_for 25 eval '[[ $(ike_counter rekeys) -ge 1 ]]' >/dev/null || { echo "no rekey in 25 s"; return 1; }
    wait_for 15 eval "! cli 'show ipsec sa' | grep -q ${old_sa%-out}" >/dev/null ||
        { echo "old SA ${old_sa%-out} still there"; cli "show ipsec sa"; return 1; }
    new_sa=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    ike_after=$(cli "show ike sa" | grep -oE '^rp4 #[0-9]+' | head -1)
    echo "outbound SA $old_sa -> $new_sa; IKE SA $ike_before -> $ike_after"
    [[ -n $new_sa && $new_sa != "$old_sa" ]] || { echo "no new outbound SA"; return 1; }
    [[ $ike_before == "$ike_after" ]] || { echo "not the same IKE SA"; return 1; }
    charon_child_installed rp4 || { echo "charon has no installed Child SA"; swan --list-sas --ike rp4; return 1; }
    grep -E "received DELETE for ESP CHILD_SA|closing CHILD_SA rp4" "$WORK/charon/charon.log" ||
        { echo "charon did not log the old Child SA's delete"; return 1; }
    pings4
}
check "rekey by rampartd: CREATE_CHILD_SA at the Child SA lifetime (10 s), same IKE SA; the old Child SA deleted on both sides; ping still works" rekey_case
cli "ike connection rp4 lifetime child 3600" >/dev/null
terminate_both rp4

# charon rekeys (rp4r: its Child SA every 8 s); rampartd answers CREATE_CHILD_SA and the peer's Delete.
peer_rekey_case() {
    swan --initiate --child rp4r --timeout 20 >"$WORK/initiate.out" 2>&1
    wait_for 20 rp_established rp4 >/dev/null || { cat "$WORK/initiate.out"; return 1; }
    local first second
    first=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    wait_for 20 eval "cli 'show ipsec sa' | grep -o 'ike-rp4-[0-9a-f]*-out' | grep -qv $first" >/dev/null ||
        { echo "no new Child SA from charon's rekey"; cli "show ike sa detail"; return 1; }
    wait_for 10 eval "! cli 'show ipsec sa' | grep -q ${first%-out}" >/dev/null ||
        { echo "old SA ${first%-out} still there"; cli "show ike sa detail"; return 1; }
    second=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    echo "outbound SA $first -> $second"
    cli "show ike sa detail"
    pings4
}
check "rekey by charon: rampartd answers CREATE_CHILD_SA (rekey_time 8 s) and the Delete of the old Child SA; ping still works" peer_rekey_case
swan --terminate --ike rp4r --timeout 5 >/dev/null 2>&1
terminate_both rp4

# --- IKE SA rekey in place, PFS ------------------------------------------------------
# A continuous ping (every 50 ms) from the LAN host through the tunnel while
# something happens; ping_stream_end asserts that not one reply was lost.
ping_stream_start() {  # ping_stream_start SECONDS TAG — its statistics end up in $WORK/ping-TAG.out
    PING_OUT="$WORK/ping-$2.out"
    # -c, not -w: a deadline would cut off the last reply and count it lost
    rp_exec lan ping -i 0.05 -c $(($1 * 20)) -W 1 192.0.2.1 >"$PING_OUT" 2>&1 &
    PING_PID=$!
    sleep 1
}
ping_stream_end() {
    wait "$PING_PID"
    grep -E "packets transmitted" "$PING_OUT"
    grep -qE "transmitted, ([0-9]+) received, 0% packet loss" "$PING_OUT"
}
rp_spis() {  # rp_spis NAME — "SPIi SPIr" of rampartd's live (not closing) IKE SA
    cli "show ike sa" | awk -v n="$1" '
        /^[^ ]/ { live = ($1 == n && $3 == "established" && $0 !~ /closing/) }
        live && /^  spi i / { sub(",", "", $5); print $3, $5 }' | tail -1
}
charon_has_spis() {  # charon_has_spis NAME SPIi SPIr — charon's list-sas shows this IKE SA
    swan --list-sas --ike "$1" 2>/dev/null | grep -E "ESTABLISHED" | grep -q "$2_i.* $3_r"
}
# ike_rekey_case WHO — WHO (rampartd or charon) rekeys rp4's IKE SA; new SPIs
# on both sides, the same Child SA, no ping lost.
ike_rekey_case() {
    rp_established rp4 || rp_initiates rp4 >/dev/null || { echo "rp4 not up"; return 1; }
    local old new child_before child_after rekeys_before
    old=$(rp_spis rp4)
    child_before=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    rekeys_before=$(ike_counter "IKE SA rekeys")
    ping_stream_start 8 "ike-rekey-by-$1"
    if [[ $1 == rampartd ]]; then
        cli "ike rekey rp4" || return 1
    else
        swan --rekey --ike rp4 || return 1
    fi
    wait_for 10 eval '[[ $(ike_counter "IKE SA rekeys") -gt '"$rekeys_before"' ]]' >/dev/null ||
        { echo "no IKE SA rekey counted"; cli "show ike sa detail"; return 1; }
    wait_for 10 eval '! cli "show ike sa" | grep -q closing' >/dev/null ||
        { echo "the old IKE SA was not deleted"; cli "show ike sa"; return 1; }
    ping_stream_end || { echo "ping lost packets during the IKE SA rekey"; return 1; }
    new=$(rp_spis rp4)
    child_after=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    echo "IKE SA ($old) -> ($new); Child SA $child_before -> $child_after"
    cli "show ike sa"
    swan --list-sas --ike rp4
    [[ -n $new && $new != "$old" ]] || { echo "no new SPIs"; return 1; }
    [[ $child_after == "$child_before" ]] || { echo "the Child SA changed"; return 1; }
    charon_has_spis rp4 $new || { echo "charon does not list the new SPIs"; return 1; }
    [[ $(swan --list-sas --ike rp4 | grep -c ESTABLISHED) == 1 ]] || { echo "charon has more than one IKE SA"; return 1; }
    pings4
}
check "IKE SA rekey by rampartd (ike rekey rp4): new SPIs on both sides, the Child SA kept, 0% loss of a 50 ms ping" \
    ike_rekey_case rampartd
check "IKE SA rekey by charon (swanctl --rekey --ike): rampartd answers, new SPIs on both sides, 0% ping loss" \
    ike_rekey_case charon
terminate_both rp4

# PFS: charon's rp4p child has esp_proposals aes128gcm16-ecp256, rampartd `pfs 19`.
pfs_case() {
    cli "ike connection rp4 pfs 19" || return 1
    swan --initiate --child rp4p --timeout 20 >"$WORK/initiate.out" 2>&1
    wait_for 20 rp_established rp4 >/dev/null || { cat "$WORK/initiate.out"; return 1; }
    wait_for 10 charon_child_installed rp4p >/dev/null || return 1
    local first second third
    first=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    ping_stream_start 10 pfs-rekeys
    cli "ike rekey rp4 child" || return 1
    wait_for 8 eval "cli 'show ipsec sa' | grep -o 'ike-rp4-[0-9a-f]*-out' | grep -qv $first && ! cli 'show ipsec sa' | grep -q ${first%-out}" >/dev/null ||
        { echo "rampartd's PFS rekey did not replace $first"; cli "show ike sa detail"; return 1; }
    second=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    swan --rekey --child rp4p || return 1
    wait_for 8 eval "cli 'show ipsec sa' | grep -o 'ike-rp4-[0-9a-f]*-out' | grep -qv $second && ! cli 'show ipsec sa' | grep -q ${second%-out}" >/dev/null ||
        { echo "charon's PFS rekey did not replace $second"; cli "show ike sa detail"; return 1; }
    third=$(cli "show ipsec sa" | grep -o 'ike-rp4-[0-9a-f]*-out' | head -1)
    ping_stream_end || { echo "ping lost packets during the PFS rekeys"; return 1; }
    echo "outbound SA $first -> $second (rampartd's rekey) -> $third (charon's)"
    swan --list-sas --ike rp4p
    # charon shows the D-H group of a Child SA made with PFS; rampartd logs it.
    swan --list-sas --ike rp4p | grep -q "AES_GCM_16-128/ECP_256" || { echo "charon's Child SA has no PFS group"; return 1; }
    [[ $(grep -c "child SA up: .*(PFS)" "$WORK/rampartd.log") -ge 2 ]] || { echo "rampartd logged no PFS rekeys"; return 1; }
    pings4
}
check "Child SA rekeys with PFS (ECP-256) started by rampartd and by charon: KE in CREATE_CHILD_SA, 0% ping loss" pfs_case
swan --terminate --ike rp4p --timeout 5 >/dev/null 2>&1
cli "no ike connection rp4 pfs 19" >/dev/null
terminate_both rp4

# --- trap ---------------------------------------------------------------------------
trap_case() {
    cli "ike connection rp4 start-action trap" || return 1
    expect_output '10 +local 198.51.100.0/24 remote 192.0.2.0/24' cli "show ipsec spd" || return 1
    in_lan ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1  # the acquire; this packet is dropped
    both_up rp4 && pings4
}
check "trap: start-action trap installs a trap policy; the LAN's first packet starts negotiation" trap_case
cli "ike connection rp4 start-action none" >/dev/null
terminate_both rp4

# --- certificates ---------------------------------------------------------------------
# A CA (ECDSA P-256) issues rampartd's and charon's certificates (subjectAltName = the IKE
# address); both authenticate with RFC 7427 signatures. charon gets a configuration with
# only the certificate connection (swanctl --load-all replaces the PSK ones meanwhile).
make_pki() {
    local d="$WORK/pki" n ip
    mkdir -p "$d" && cd "$d" || return 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
        -days 2 -subj "/CN=rampart interop CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
    for n in rampartd:203.0.113.1 charon:203.0.113.2; do
        ip=${n#*:} n=${n%%:*}
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$n.key" -out "$n.csr" \
            -subj "/CN=$n" 2>/dev/null &&
            printf 'subjectAltName=IP:%s\n' "$ip" >"$n.ext" &&
            openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$n.pem" -days 2 \
                -extfile "$n.ext" 2>/dev/null || return 1
    done
    # swanctl takes credentials from directories beside the file it loads (ecdsa/: EC private keys).
    mkdir -p "$WORK/charon/ecdsa" && openssl ec -in charon.key -out "$WORK/charon/ecdsa/charon.key" 2>/dev/null ||
        return 1
    cd - >/dev/null
    cat >"$WORK/charon/swanctl-cert.conf" <<EOC
connections {
    rp4 {
        version = 2
        local_addrs = 203.0.113.2
        remote_addrs = 203.0.113.1
        proposals = aes128gcm16-prfsha256-ecp256
        mobike = no
        rekey_time = 0
        reauth_time = 0
        send_cert = ifasked
        local {
            auth = pubkey
            id = 203.0.113.2
            certs = $d/charon.pem
        }
        remote {
            auth = pubkey
            id = 203.0.113.1
            cacerts = $d/ca.pem
        }
        children {
            rp4 {
                local_ts = 192.0.2.0/24
                remote_ts = 198.51.100.0/24
                esp_proposals = aes128gcm16
                rekey_time = 0
                life_time = 0
            }
        }
    }
}
EOC
}
cert_case() {
    make_pki || { echo "openssl could not make the PKI"; return 1; }
    swan --load-all --file "$WORK/charon/swanctl-cert.conf" || return 1
    cli "ike connection rp4 certificate $WORK/pki/rampartd.pem private-key $WORK/pki/rampartd.key ca $WORK/pki/ca.pem" ||
        return 1
    rp_initiates rp4 && pings4 || return 1
    grep -E "authentication of '203.0.113.1' with (RSA|ECDSA|RFC 7427|ECDSA_WITH_SHA256).* successful" \
        "$WORK/charon/charon.log" | tail -1
}
check "certificates: rampartd initiates, both sides authenticate with ECDSA certificates (RFC 7427); ping both ways" cert_case
cert_case_charon() {
    terminate_both rp4
    charon_initiates rp4 && pings4
}
check "certificates: charon initiates, rampartd verifies its certificate chain and ID; ping both ways" cert_case_charon
terminate_both rp4
check "certificates: charon (send_cert = ifasked) sent its certificate because of rampartd's CERTREQ (our CA's key hash)" \
    eval 'grep -E "received cert request for \"CN=rampart interop CA\"" "$WORK/charon/charon.log" | tail -1 &&
          grep -E "sending end entity cert \"CN=charon\"" "$WORK/charon/charon.log" | tail -1'
# make_crl OUT [CERT] — the CA's CRL, revoking CERT when given (openssl ca with a throw-away database).
make_crl() {
    local d="$WORK/pki/crl"
    mkdir -p "$d" && : >"$d/index.txt" && echo 01 >"$d/crlnumber" || return 1
    printf '[ ca ]\ndefault_ca = rp\n[ rp ]\ndatabase = %s/index.txt\ncrlnumber = %s/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n' \
        "$d" "$d" >"$d/ca.cnf"
    if [[ -n ${2:-} ]]; then
        openssl ca -config "$d/ca.cnf" -keyfile "$WORK/pki/ca.key" -cert "$WORK/pki/ca.pem" -revoke "$2" >/dev/null 2>&1 ||
            return 1
    fi
    openssl ca -config "$d/ca.cnf" -keyfile "$WORK/pki/ca.key" -cert "$WORK/pki/ca.pem" -gencrl -out "$1" 2>/dev/null
}
crl_case() {
    make_crl "$WORK/pki/none.crl" && make_crl "$WORK/pki/revoked.crl" "$WORK/pki/charon.pem" || return 1
    cli "ike connection rp4 crl $WORK/pki/none.crl" || return 1
    charon_initiates rp4 || { echo "refused with a CRL that revokes nothing"; return 1; }
    terminate_both rp4
    local before after
    before=$(ike_counter "authentication failed")
    cli "ike connection rp4 crl $WORK/pki/revoked.crl" || return 1
    swan --initiate --child rp4 --timeout 15 >"$WORK/initiate.out" 2>&1
    after=$(ike_counter "authentication failed")
    echo "authentication failed: $before -> $after"
    cli "show ike peers" | grep "initiator's certificate does not verify: certificate revoked" &&
        ((after > before)) && ! rp_established rp4 && ! cli "show ipsec sa" | grep -q ike-rp4-
}
check "CRL: with the CA's CRL charon's certificate is accepted; once the CRL revokes it, AUTHENTICATION_FAILED (certificate revoked), counted" crl_case
terminate_both rp4
cli "no ike connection rp4 crl $WORK/pki/revoked.crl" >/dev/null
cli "clear ike lockout" >/dev/null  # the revoked attempt counted towards the wrong-PSK checks' lockout
cli "no ike connection rp4 certificate $WORK/pki/rampartd.pem private-key $WORK/pki/rampartd.key ca $WORK/pki/ca.pem" >/dev/null
swan --load-all --file "$WORK/charon/swanctl.conf" >/dev/null 2>&1

# --- a large certificate chain, RFC 7383 fragmentation ------------------------------------
# root -> three intermediates -> end entity, all RSA-3072: each side's IKE_AUTH carries four
# CERT payloads (~5 KB), more than the 1280-byte fragment size of both, so both send SKF
# fragments and reassemble the other's. rampartd's certificate file holds its certificate
# and the intermediates; charon sends its intermediates from its x509ca directory.
make_big_pki() {
    local d="$WORK/bigpki" i parent n ip
    mkdir -p "$d" "$WORK/charon/x509ca" "$WORK/charon/rsa" && cd "$d" || return 1
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >ca.ext
    openssl req -x509 -newkey rsa:3072 -nodes -keyout root.key -out root.pem -days 2 \
        -subj "/CN=rampart interop root" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
    parent=root
    for i in 1 2 3; do
        openssl req -newkey rsa:3072 -nodes -keyout "im$i.key" -out "im$i.csr" -subj "/CN=rampart interop intermediate $i" \
            2>/dev/null &&
            openssl x509 -req -in "im$i.csr" -CA "$parent.pem" -CAkey "$parent.key" -CAcreateserial -out "im$i.pem" \
                -days 2 -extfile ca.ext 2>/dev/null || return 1
        parent=im$i
    done
    for n in rampartd:203.0.113.1 charon:203.0.113.2; do
        ip=${n#*:} n=${n%%:*}
        openssl req -newkey rsa:3072 -nodes -keyout "$n.key" -out "$n.csr" -subj "/CN=$n chain" 2>/dev/null &&
            printf 'subjectAltName=IP:%s\n' "$ip" >"$n.ext" &&
            openssl x509 -req -in "$n.csr" -CA im3.pem -CAkey im3.key -CAcreateserial -out "$n.pem" -days 2 \
                -extfile "$n.ext" 2>/dev/null || return 1
    done
    cat rampartd.pem im3.pem im2.pem im1.pem >rampartd-chain.pem
    cp im1.pem im2.pem im3.pem "$WORK/charon/x509ca/" && openssl rsa -in charon.key -out "$WORK/charon/rsa/charon.key" 2>/dev/null ||
        return 1
    cd - >/dev/null
    sed -e "s|certs = .*|certs = $d/charon.pem|" -e "s|cacerts = .*|cacerts = $d/root.pem|" \
        "$WORK/charon/swanctl-cert.conf" >"$WORK/charon/swanctl-bigcert.conf"
}
big_chain_case() {
    make_big_pki || { echo "openssl could not make the chain"; return 1; }
    swan --load-all --file "$WORK/charon/swanctl-bigcert.conf" || return 1
    local d="$WORK/bigpki" before
    cli "ike connection rp4 certificate $d/rampartd-chain.pem private-key $d/rampartd.key ca $d/root.pem" || return 1
    before=$(grep -c "received fragment" "$WORK/charon/charon.log")
    rp_initiates rp4 && pings4 || return 1
    grep -E "sending issuer cert|splitting IKE message|received fragment" "$WORK/charon/charon.log" | tail -6
    grep -q "splitting IKE message" "$WORK/charon/charon.log" || { echo "charon did not fragment"; return 1; }
    (($(grep -c "received fragment" "$WORK/charon/charon.log") > before)) || { echo "rampartd did not fragment"; return 1; }
    grep -q "sending issuer cert" "$WORK/charon/charon.log" || { echo "charon sent no intermediates"; return 1; }
    terminate_both rp4
    charon_initiates rp4 && pings4
}
check "certificates: a 5-certificate RSA-3072 chain each way (root, 3 intermediates, end entity) in RFC 7383 fragments, both as initiator and responder; ping both ways" big_chain_case
terminate_both rp4
cli "no ike connection rp4 certificate $WORK/bigpki/rampartd-chain.pem private-key $WORK/bigpki/rampartd.key ca $WORK/bigpki/root.pem" >/dev/null
swan --load-all --file "$WORK/charon/swanctl.conf" >/dev/null 2>&1

# --- wrong PSK -----------------------------------------------------------------------
wrong_psk_rp() {
    local before after
    before=$(ike_counter "authentication failed")
    cli 'ike connection rp4 psk text key "not the key"' || return 1
    cli "ike initiate rp4" || return 1
    wait_for 15 eval "[[ \$(ike_counter 'authentication failed') -gt $before ]]" >/dev/null
    after=$(ike_counter "authentication failed")
    echo "authentication failed: $before -> $after"
    cli "show ike peers"
    grep -q "AUTHENTICATION_FAILED\|authentication failed\|AUTH" "$WORK/charon/charon.log" &&
        ((after > before)) && ! rp_established rp4 && ! charon_established rp4
}
check "wrong PSK, rampartd initiating: charon answers AUTHENTICATION_FAILED; counted; nothing installed" wrong_psk_rp
wrong_psk_charon() {
    local before after
    before=$(ike_counter "authentication failed")
    swan --initiate --child rp4 --timeout 15 >"$WORK/initiate.out" 2>&1
    after=$(ike_counter "authentication failed")
    echo "authentication failed: $before -> $after; swanctl:"
    tail -5 "$WORK/initiate.out"
    ((after > before)) && ! rp_established rp4 && ! cli "show ipsec sa" | grep -q ike-rp4-
}
check "wrong PSK, charon initiating: rampartd refuses (AUTHENTICATION_FAILED); counted; nothing installed" wrong_psk_charon
cli "ike connection rp4 psk text key \"$PSK4\"" >/dev/null
check "after the PSK is corrected, rampartd initiates again" rp_initiates rp4
terminate_both rp4

# --- TS-list -------------------------------------------------------------------------
ping_second_subnet() { ping_ok lan 100.64.0.1 && ping_ok peer -I 100.64.0.1 198.51.100.10; }
ts_list_case() {
    cli "ike connection rp4 ts-list remote 100.64.0.0/24" || return 1
    rp_initiates rp4 || return 1
    cli "show ipsec spd"
    [[ $(cli "show ipsec spd" | grep -cE '^ *1[01] +local 198.51.100.0/24 remote (192.0.2.0/24|100.64.0.0/24) .*protect out ike-rp4-') == 2 ]] ||
        { echo "not two protect entries (10, 11)"; return 1; }
    cli "show ike sa" | grep -q "child: tunnel 198.51.100.0/24 <-> 192.0.2.0/24,100.64.0.0/24" || return 1
    pings4 && ping_second_subnet
}
check "TS-list: remote-ts 192.0.2.0/24 plus ts-list remote 100.64.0.0/24: rampartd initiates, two SPD entries, both subnets ping both ways" ts_list_case
terminate_both rp4
check "TS-list: charon initiates offering both subnets; rampartd narrows to its list, both ping" \
    eval 'charon_initiates rp4 && pings4 && ping_second_subnet'
terminate_both rp4

# --- identities ------------------------------------------------------------------------
id_case() {
    cli "ike connection rp4 local-id fqdn rampart.example.com" &&
        cli "ike connection rp4 remote-id email charon@example.com" || return 1
    cli "ike initiate rp4" || return 1
    wait_for 20 rp_established rp4 && wait_for 20 charon_child_installed rpid || return 1
    swan --list-sas --ike rpid | grep -E "rampart.example.com|charon@example.com"
    pings4
}
check "identities: rampartd (fqdn rampart.example.com) initiates to charon (email charon@example.com) with PSK; ping" id_case
id_case_charon() {
    cli "ike terminate rp4" >/dev/null 2>&1
    wait_for 10 eval "! charon_established rpid" >/dev/null
    swan --initiate --child rpid --timeout 20 >"$WORK/initiate.out" 2>&1
    wait_for 20 rp_established rp4 && wait_for 20 charon_child_installed rpid && pings4
}
check "identities: charon initiates as charon@example.com; rampartd matches its remote-id; ping" id_case_charon
swan --terminate --ike rpid --timeout 5 >/dev/null 2>&1
wrong_id_case() {
    local before after
    before=$(ike_counter "authentication failed")
    swan --initiate --child rp4 --timeout 15 >"$WORK/initiate.out" 2>&1  # IDi 203.0.113.2, not the e-mail
    after=$(ike_counter "authentication failed")
    echo "authentication failed: $before -> $after"
    cli "show ike peers" | grep "identity is not the configured one" && ((after > before)) && ! rp_established rp4
}
check "identities: charon presenting its address instead of the configured e-mail is refused (AUTHENTICATION_FAILED)" wrong_id_case
cli "no ike connection rp4 local-id fqdn rampart.example.com" >/dev/null
cli "no ike connection rp4 remote-id email charon@example.com" >/dev/null
terminate_both rp4
# Two connections to charon's address: rp4 (its address as ID) answers IKE_SA_INIT,
# charon's IDi (charon@example.com) picks rpid2 in IKE_AUTH.
idi_select_case() {
    cli "ike connection rpid2 local 203.0.113.1 remote 203.0.113.2" &&
        cli "ike connection rpid2 local-id fqdn rampart.example.com" &&
        cli "ike connection rpid2 remote-id email charon@example.com" &&
        cli "ike connection rpid2 psk text key \"$PSK4\"" &&
        cli "ike connection rpid2 child local-ts 198.51.100.0/24 remote-ts 192.0.2.0/24 policy 30" || return 1
    swan --initiate --child rpid --timeout 20 >"$WORK/initiate.out" 2>&1
    wait_for 20 rp_established rpid2 && wait_for 20 charon_child_installed rpid || { cli "show ike peers"; return 1; }
    cli "show ike sa"
    ! rp_established rp4 && pings4
}
check "identities: with two connections to charon's address, charon's IDi picks rpid2 (not rp4) as rampartd responds; ping" idi_select_case
swan --terminate --ike rpid --timeout 5 >/dev/null 2>&1
cli "no ike connection rpid2 local 203.0.113.1 remote 203.0.113.2" >/dev/null

# --- PAD -------------------------------------------------------------------------------
pad_refuses() {
    local before after
    before=$(ike_counter "TS unacceptable")
    cli "ike pad ip 203.0.113.2 remote-ts 10.99.0.0/16" || return 1
    cli "show ike pad"
    swan --initiate --child rp4 --timeout 15 >"$WORK/initiate.out" 2>&1
    wait_for 10 eval "[[ \$(ike_counter 'TS unacceptable') -gt $before ]]" >/dev/null
    after=$(ike_counter "TS unacceptable")
    echo "TS unacceptable: $before -> $after; not authorized by the PAD: $(ike_counter 'not authorized by the PAD')"
    grep -m1 "TS_UNACCEPTABLE" "$WORK/charon/charon.log" && ((after > before)) && ! charon_child_installed rp4 &&
        ! cli "show ipsec sa" | grep -q ike-rp4-
}
check "PAD: charon offers 192.0.2.0/24 and 100.64.0.0/24, its identity may have only 10.99.0.0/16: TS_UNACCEPTABLE, counted, nothing installed" pad_refuses
terminate_both rp4
pad_narrows() {
    cli "no ike pad ip 203.0.113.2 remote-ts 10.99.0.0/16" && cli "ike pad ip 203.0.113.2 remote-ts 100.64.0.0/24" ||
        return 1
    charon_initiates rp4 || return 1
    cli "show ike sa" | grep -q "child: tunnel 198.51.100.0/24 <-> 100.64.0.0/24 esp" || return 1
    ping_second_subnet
}
check "PAD: with 100.64.0.0/24 authorized, charon's TSi is narrowed to it; that subnet pings" pad_narrows
cli "no ike pad ip 203.0.113.2 remote-ts 100.64.0.0/24" >/dev/null
terminate_both rp4

# --- reverse routes --------------------------------------------------------------------
# No static route for 100.64.0.0/24 now: the Child SA's reverse route (owner ike) carries it.
reverse_route_case() {
    cli "no route 100.64.0.0/24 via 203.0.113.2" && cli "ike pad ip 203.0.113.2 remote-ts 100.64.0.0/24" &&
        cli "ike connection rp4 reverse-route" || return 1
    cli "show route" | grep -q "100.64.0.0/24" && { echo "a route for 100.64.0.0/24 before the Child SA"; return 1; }
    charon_initiates rp4 || return 1
    cli "show route" | grep -E "100.64.0.0/24 .*203.0.113.2.*\[ike\]" || { cli "show route"; return 1; }
    cli "show running-config" | grep -q "route 100.64.0.0/24" && { echo "the reverse route is in the running-config"; return 1; }
    ping_second_subnet || return 1
    cli "ike terminate rp4" >/dev/null
    wait_for 10 eval '! cli "show route" | grep -q "100.64.0.0/24"' >/dev/null || { echo "the route stayed"; return 1; }
}
check "reverse routes: charon initiates, the narrowed TSi 100.64.0.0/24 is routed to charon (show route: [ike], not in running-config), pings; gone with the Child SA" reverse_route_case
terminate_both rp4
cli "no ike connection rp4 reverse-route" >/dev/null
cli "no ike pad ip 203.0.113.2 remote-ts 100.64.0.0/24" >/dev/null
cli "route 100.64.0.0/24 via 203.0.113.2" >/dev/null

# --- lockout ---------------------------------------------------------------------------
lockout_case() {
    cli "clear ike lockout" && cli "ike lockout failures 2 window 120 duration 300" || return 1
    cli 'ike connection rp4 psk text key "not the key"' || return 1
    local i refused_before
    for i in 1 2; do swan --initiate --child rp4 --timeout 10 >"$WORK/initiate.out" 2>&1; done
    cli "show ike lockout"
    cli "show ike lockout" | grep -qE "^203.0.113.2 +[0-9]+ +(29[0-9]|300)s" || { echo "not locked out"; return 1; }
    refused_before=$(ike_counter "refused while locked out")
    swan --initiate --child rp4 --timeout 6 >"$WORK/initiate.out" 2>&1  # unanswered
    echo "refused while locked out: $refused_before -> $(ike_counter 'refused while locked out')"
    (($(ike_counter "refused while locked out") > refused_before)) || return 1
    cli "ike connection rp4 psk text key \"$PSK4\"" || return 1  # the right key: still locked out
    cli "show ike lockout" | grep -q "^203.0.113.2 " || { echo "a changed connection lifted the lockout"; return 1; }
    cli "clear ike lockout 203.0.113.2" || return 1
    ! cli "show ike lockout" | grep -q "^203.0.113.2 " || return 1
    # charon's unanswered IKE_SA would take the new Child SA: end it first.
    swan --terminate --ike rp4 --force --timeout 5 >/dev/null 2>&1
    wait_for 15 eval "! swan --list-sas --ike rp4 | grep -q rp4" >/dev/null
    charon_initiates rp4 && pings4
}
check "lockout: 2 wrong-PSK attempts from charon lock 203.0.113.2 out (show ike lockout); the next one goes unanswered; clear ike lockout; then success" lockout_case
cli "no ike lockout failures 2 window 120 duration 300" >/dev/null

# --- DPD detects a stopped peer (last: charon stays stopped) -----------------------------
dead_peer_case() {
    local before after
    cli "ike connection rp4 dpd 1" || return 1
    rp_initiates rp4 && pings4 || return 1
    before=$(ike_counter "dpd failed")
    local pid
    pid=$(cat "$WORK/charon/run/charon.pid" 2>/dev/null)  # its /run is the work directory's
    [[ -n $pid ]] || { echo "no charon.pid"; ls "$WORK/charon/run"; return 1; }
    kill -STOP "$pid" || return 1  # frozen: no answers, no deletes
    wait_for 60 eval "[[ \$(ike_counter 'dpd failed') -gt $before ]]" >/dev/null
    after=$(ike_counter "dpd failed")
    echo "dpd failed: $before -> $after"
    cli "show ike sa"
    ((after > before)) && ! rp_established rp4 && ! cli "show ipsec sa" | grep -q ike-rp4-
}
check "DPD: charon frozen (SIGSTOP): rampartd's liveness checks go unanswered, the IKE SA fails within 60 s, its SAs leave the SAD" dead_peer_case

interop_end
