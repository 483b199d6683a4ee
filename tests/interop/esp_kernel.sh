#!/usr/bin/env bash
# Interop: rampartd's IKEv2 + ESP fast path against the Linux kernel's xfrm ESP.
# The peer is the peer VM (tests/interop/vm: Debian's stock kernel), where
# strongSwan's charon runs with kernel-netlink, so the kernel does ESP: tunnel
# and transport mode, plain ESP and ESP in UDP 4500 (charon's encap = yes forces
# NAT-T), IPv4 and IPv6, a Child SA rekey under a continuous ping. Counters from
# both sides (show ipsec sa, ip -s xfrm state) prove the traffic went through the
# SAs, and a capture on the link shows no cleartext.
#   usage: esp_kernel.sh RAMPARTD RAMPART_CLI        (KEEP=1 keeps the work directory)
#
#   namespace lan: eth0 198.51.100.10/24, 2001:db8:a::10/64, default routes via rampartd
#   namespace rtr: rampartd; port lan (veth) 198.51.100.1/24 2001:db8:a::1/64
#                            port wan = r-wan, the VM's TAP: 203.0.113.1/24 2001:db8:b::1/64
#   peer VM:       eth0 203.0.113.2/24 (.3 for NAT-T) 2001:db8:b::2/64; lo 192.0.2.1/32 2001:db8:c::1/128
#                  (the hosts behind charon); charon with kernel-netlink
#
# Connections (PSK; one identity pair each, so either side may initiate any):
#   tun4  IKE over IPv4, aes-gcm-128/ECP-256, tunnel 198.51.100.0/24 <-> 192.0.2.0/24
#   tun6  IKE over IPv6, aes-cbc-128/sha256/MODP-2048, tunnel 2001:db8:a::/64 <-> 2001:db8:c::/48
#   tra4  transport 203.0.113.1 <-> 203.0.113.2 (the box's own traffic: its TAP twin)
#   tra6  transport 2001:db8:b::1 <-> 2001:db8:b::2
#   nat4  as tun4, charon with encap = yes: ESP in UDP 4500 both ways
#   natx4 as tra4 with encap = yes (transport mode in UDP 4500)
# charon picks a connection for IKE_SA_INIT by addresses alone (and fakes NAT
# detection, encap = yes, then), so the NAT-T connections use the VM's second
# address, 203.0.113.3; rampartd answers IKE_SA_INIT with the first connection
# (by name) to an address, so connections sharing one have one IKE proposal.
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpe$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"
# shellcheck source=vm/peer-vm.sh
. "$HERE/vm/peer-vm.sh"

PSK="rampart kernel esp interop key"
MAC_HOST=02:aa:00:00:00:0a MAC_VM=02:cc:00:00:00:02
MAC_PORT_LAN=02:00:00:00:00:0a MAC_PORT_WAN=02:00:00:00:00:0b
CONNS=(tun4 tun6 tra4 tra6 nat4 natx4)

in_lan() { rp_exec lan "$@"; }
vm_ike_addr() {  # vm_ike_addr NAME — the VM's IKE address for connection NAME
    case $1 in
        nat*) echo 203.0.113.3 ;;
        *6) echo 2001:db8:b::2 ;;
        *) echo 203.0.113.2 ;;
    esac
}
swan() { vm_run -t 40 "STRONGSWAN_CONF=$WORK/charon/strongswan.conf swanctl $* --uri unix:///run/charon.vici"; }

esp_prerequisites() {
    local missing=() tool p
    for tool in ip ethtool timeout tshark ping python3 qemu-system-x86_64; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -x /usr/lib/ipsec/charon ]] || missing+=("/usr/lib/ipsec/charon (strongswan-charon)")
    for p in kernel-netlink socket-default vici openssl nonce random; do
        [[ -f /usr/lib/ipsec/plugins/libstrongswan-$p.so ]] || missing+=("charon plugin $p")
    done
    ((EUID == 0)) || missing+=("root")
    ((${#missing[@]} == 0)) && return 0
    echo "FAIL prerequisites: missing ${missing[*]} (scripts/deps.sh installs them)"
    return 1
}

esp_topology_up() {
    rp_ns_create rtr && rp_ns_create lan || return 1
    rp_veth lan eth0 rtr r-lan || return 1
    # The VM's eth0 is a TAP made inside rtr: rampartd's wan port faces the kernel directly.
    vm_start "$WORK" "$(rp_ns rtr):r-wan:$MAC_VM" || { echo "FAIL peer VM: it did not boot (reason above)"; return 1; }
    rp_port_setup lan eth0 "$MAC_HOST" quiet && rp_port_setup rtr r-lan "$MAC_PORT_LAN" quiet &&
        rp_port_setup rtr r-wan "$MAC_PORT_WAN" quiet || return 1
    rp_wait_carrier rtr r-lan || return 1
    in_lan ip addr add 198.51.100.10/24 dev eth0 &&
        in_lan ip addr add 2001:db8:a::10/64 dev eth0 nodad &&
        in_lan ip route add default via 198.51.100.1 &&
        in_lan ip -6 route add default via 2001:db8:a::1 &&
        in_lan ip neigh replace 198.51.100.1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent &&
        in_lan ip -6 neigh replace 2001:db8:a::1 lladdr "$MAC_PORT_LAN" dev eth0 nud permanent || return 1
    vm_run "set -e
        for k in accept_dad=0 dad_transmits=0 accept_ra=0 autoconf=0 router_solicitations=0; do
            echo \${k#*=} >/proc/sys/net/ipv6/conf/eth0/\${k%=*}; done
        ip link set eth0 up
        ip addr add 203.0.113.2/24 dev eth0
        ip addr add 203.0.113.3/24 dev eth0
        ip addr add 2001:db8:b::2/64 dev eth0 nodad
        ip addr add 192.0.2.1/32 dev lo
        ip addr add 2001:db8:c::1/128 dev lo nodad
        ip neigh replace 203.0.113.1 lladdr $MAC_PORT_WAN dev eth0 nud permanent
        ip -6 neigh replace 2001:db8:b::1 lladdr $MAC_PORT_WAN dev eth0 nud permanent
        ip route add 198.51.100.0/24 via 203.0.113.1 src 192.0.2.1
        ip -6 route add 2001:db8:a::/64 via 2001:db8:b::1 src 2001:db8:c::1
        modprobe -a esp4 esp6 xfrm_user xfrm4_tunnel xfrm6_tunnel tunnel4 tunnel6 2>/dev/null || true"
}

rampartd_config() {
    cat <<EOC
! esp_kernel.sh: rampartd between the LAN and the Linux kernel's ESP (charon in the peer VM)
interface lan device net_af_packet0,iface=r-lan
interface lan address 198.51.100.1/24
interface lan address 2001:db8:a::1/64
interface lan neighbor 198.51.100.10 $MAC_HOST
interface lan neighbor 2001:db8:a::10 $MAC_HOST
! qdisc_bypass=0: what rampartd sends passes the kernel's taps, so tshark on r-wan sees it
interface wan device net_af_packet1,iface=r-wan,qdisc_bypass=0
interface wan address 203.0.113.1/24
interface wan address 2001:db8:b::1/64
interface wan neighbor 203.0.113.2 $MAC_VM
interface wan neighbor 203.0.113.3 $MAC_VM
interface wan neighbor 2001:db8:b::2 $MAC_VM
route 192.0.2.0/24 via 203.0.113.2
route 2001:db8:c::/48 via 2001:db8:b::2
EOC
    local c seq=10
    for c in tun4 tra4 nat4 natx4; do
        echo "ike connection $c local 203.0.113.1 remote $(vm_ike_addr $c)"
        echo "ike connection $c local-id fqdn $c.rampart.example"
        echo "ike connection $c remote-id fqdn $c.charon.example"
    done
    for c in tun6 tra6; do
        echo "ike connection $c local 2001:db8:b::1 remote 2001:db8:b::2"
        echo "ike connection $c local-id fqdn $c.rampart.example"
        echo "ike connection $c remote-id fqdn $c.charon.example"
    done
    for c in "${CONNS[@]}"; do echo "ike connection $c psk text key \"$PSK\""; done
    # The first connection (by name) to an address answers IKE_SA_INIT: one IKE proposal per address.
    echo "ike connection tun6 proposal aes-cbc-128-sha256 dh 14"
    echo "ike connection tra6 proposal aes-cbc-128-sha256 dh 14"
    echo "ike connection tun4 child local-ts 198.51.100.0/24 remote-ts 192.0.2.0/24 policy $((seq += 10))"
    echo "ike connection nat4 child local-ts 198.51.100.0/24 remote-ts 192.0.2.0/24 policy $((seq += 10))"
    echo "ike connection tun6 child local-ts 2001:db8:a::/64 remote-ts 2001:db8:c::/48 esp-proposal aes-cbc-128-sha256 policy $((seq += 10))"
    echo "ike connection tra4 child local-ts 203.0.113.1/32 remote-ts 203.0.113.2/32 mode transport policy $((seq += 10))"
    echo "ike connection natx4 child local-ts 203.0.113.1/32 remote-ts 203.0.113.3/32 mode transport policy $((seq += 10))"
    echo "ike connection tra6 child local-ts 2001:db8:b::1/128 remote-ts 2001:db8:b::2/128 mode transport policy $((seq += 10))"
}

# swan_conn NAME LOCAL REMOTE PROPOSALS LOCAL_TS REMOTE_TS ESP MODE [ENCAP] — one swanctl.conf connection
swan_conn() {
    cat <<EOC
    $1 {
        version = 2
        local_addrs = $2
        remote_addrs = $3
        proposals = $4
        mobike = no
        rekey_time = 0
        reauth_time = 0
        unique = never
        encap = ${9:-no}
        local {
            auth = psk
            id = $1.charon.example
        }
        remote {
            auth = psk
            id = $1.rampart.example
        }
        children {
            $1 {
                local_ts = $5
                remote_ts = $6
                esp_proposals = $7
                mode = $8
                start_action = none
                rekey_time = 0
                life_time = 0
            }
        }
    }
EOC
}

charon_config() {
    local d="$WORK/charon"
    mkdir -p "$d" || return 1
    cat >"$d/strongswan.conf" <<EOC
# esp_kernel.sh's charon, in the peer VM: kernel-netlink (the kernel does ESP); nothing from /etc
charon {
    load_modular = no
    load = random nonce openssl pem pubkey pkcs1 gmp aes sha2 hmac kdf gcm kernel-netlink socket-default vici
    install_routes = no
    retransmit_tries = 3
    retransmit_timeout = 2.0
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
            knl = 2
            time_format = %T
            flush_line = yes
        }
    }
    plugins {
        vici {
            socket = unix:///run/charon.vici
        }
    }
}
swanctl {
    load = pem pkcs1 pubkey openssl
}
EOC
    {
        echo "connections {"
        swan_conn tun4 203.0.113.2 203.0.113.1 aes128gcm16-prfsha256-ecp256 192.0.2.0/24 198.51.100.0/24 aes128gcm16 tunnel
        swan_conn nat4 203.0.113.3 203.0.113.1 aes128gcm16-prfsha256-ecp256 192.0.2.0/24 198.51.100.0/24 aes128gcm16 tunnel yes
        swan_conn tun6 2001:db8:b::2 2001:db8:b::1 aes128-sha256-modp2048 2001:db8:c::/48 2001:db8:a::/64 aes128-sha256 tunnel
        # tra4 covers every protocol between the two hosts: IKE itself (UDP 500/4500) must pass
        # in clear beside it on both sides (rampartd's SPD exempts the box's own IKE). The others
        # are narrowed to ICMP so that the SA counters count exactly the pings (IPv6 ND would
        # otherwise go into tra6, which charon's kernel policies do not exempt).
        swan_conn tra4 203.0.113.2 203.0.113.1 aes128gcm16-prfsha256-ecp256 dynamic dynamic aes128gcm16 transport
        swan_conn natx4 203.0.113.3 203.0.113.1 aes128gcm16-prfsha256-ecp256 'dynamic[icmp]' 'dynamic[icmp]' aes128gcm16 transport yes
        swan_conn tra6 2001:db8:b::2 2001:db8:b::1 aes128-sha256-modp2048 'dynamic[ipv6-icmp]' 'dynamic[ipv6-icmp]' aes128gcm16 transport
        echo "}"
        echo "secrets {"
        local c
        for c in "${CONNS[@]}"; do
            printf '    ike-%s {\n        id-a = %s.charon.example\n        id-b = %s.rampart.example\n        secret = "%s"\n    }\n' \
                "$c" "$c" "$c" "$PSK"
        done
        echo "}"
    } >"$d/swanctl.conf"
}

charon_start() {
    charon_config || return 1
    local d="$WORK/charon"
    vm_run "STRONGSWAN_CONF=$d/strongswan.conf nohup /usr/lib/ipsec/charon --use-syslog no >$d/charon.out 2>&1 &" || return 1
    local end=$((SECONDS + $(vm_slow 15)))
    while ((SECONDS < end)); do
        if swan --stats >/dev/null 2>&1; then
            swan --load-all --file "$d/swanctl.conf" && return 0
            echo "charon started but swanctl --load-all failed"; return 1
        fi
        sleep 0.5
    done
    echo "charon did not start in the VM; its output and log:"
    tail -30 "$d/charon.out" "$d/charon.log" 2>/dev/null
    return 1
}

esp_finish() {
    if ((failed)) && [[ -f $WORK/charon/charon.log ]]; then
        echo "--- charon log (in the VM) ---"
        tail -60 "$WORK/charon/charon.log"
    fi
    interop_finish_or_keep
}

# wait_for SECONDS CMD... — rerun CMD every 0.3 s until it succeeds (output of the last try shown).
wait_for() {
    local secs="$1" end; shift
    end=$((SECONDS + secs))
    until "$@" >"$WORK/wait.out" 2>&1; do
        ((SECONDS < end)) || { cat "$WORK/wait.out"; return 1; }
        sleep 0.3
    done
    cat "$WORK/wait.out"
}
rp_established() { cli "show ike sa" | grep -qE "^$1 #[0-9]+: established"; }
charon_installed() { swan --list-sas --ike "$1" 2>/dev/null | grep -q "INSTALLED"; }
both_up() {
    wait_for "$(vm_slow 20)" rp_established "$1" && wait_for "$(vm_slow 20)" charon_installed "$1" &&
        cli "show ike sa" && swan --list-sas --ike "$1"
}
rp_initiates() { cli "ike initiate $1" && both_up "$1"; }
charon_initiates() { swan --initiate --child "$1" --timeout "$(vm_slow 20)" && both_up "$1"; }
terminate() {  # both sides forget NAME's SAs, whatever state the case left them in
    cli "ike terminate $1" >/dev/null 2>&1
    swan --terminate --ike "$1" --timeout 10 >/dev/null 2>&1
    wait_for 10 eval "! cli 'show ipsec sa' | grep -q 'ike-$1-'" >/dev/null || cli "clear ike sa $1" >/dev/null 2>&1
    vm_run "ip xfrm state flush; ip xfrm policy flush" >/dev/null 2>&1
}

vm_ping() {  # vm_ping ARGS... — 3 of 3 replies to a ping from the VM (a few tries for the first)
    vm_run -t 30 "for t in 1 2 3 4 5; do ping -c 1 -W 2 $* >/dev/null && break; done; ping -c 3 -i 0.3 -W 3 $*" |
        tee /dev/stderr | grep -q ' 0% packet loss'
}
lan_ping() {  # lan_ping NS ARGS... — 3 of 3 replies
    local ns="$1"; shift
    for _ in 1 2 3 4 5; do rp_exec "$ns" ping -c 1 -W 2 "$@" >/dev/null 2>&1 && break; done
    expect_output ' 0% packet loss' rp_exec "$ns" ping -c 3 -i 0.3 -W 3 "$@"
}

# rp_sa_count NAME in|out packets|bytes — a counter of NAME's current Child SA in rampartd
rp_sa_count() {
    local sa
    sa=$(cli "show ipsec sa" | grep -o "ike-$1-[0-9a-f]*-$2\b" | tail -1)
    [[ -n $sa ]] || { echo 0; return; }
    cli "show ipsec sa $sa" | sed -n "s/.* \([0-9][0-9]*\) $3\b.*/\1/p" | head -1
}
# vm_xfrm_counts LOCAL REMOTE — "IN_PACKETS IN_BYTES OUT_PACKETS OUT_BYTES" of the kernel's xfrm
# states LOCAL -> REMOTE (in) and REMOTE -> LOCAL (out), summed (ip -s xfrm state: "lifetime
# current:" then "N(bytes), M(packets)"); one round trip to the VM.
vm_xfrm_counts() {
    vm_run "ip -s xfrm state list src $1 dst $2; echo ==; ip -s xfrm state list src $2 dst $1" |
        awk 'BEGIN { side = 0 } /^==/ { side = 1; next }
            /lifetime current:/ { cur = 1; next }
            cur { gsub(/[(),]/, " "); b[side] += $1; p[side] += $3; cur = 0 }
            END { print p[0] + 0, b[0] + 0, p[1] + 0, b[1] + 0 }'
}

# counters_through NAME LOCAL REMOTE MIN [any] — rampartd's and the kernel's SA counters in
# both directions each show at least MIN packets, and (unless "any": across a rekey the
# kernel may still hold the old SAs) each side's outbound packets equal what the other
# side's inbound SA counted.
counters_through() {
    local name="$1" rp_out_p rp_in_p rp_out_b rp_in_b k_out_p k_in_p k_out_b k_in_b
    rp_out_p=$(rp_sa_count "$name" out packets) rp_out_b=$(rp_sa_count "$name" out bytes)
    rp_in_p=$(rp_sa_count "$name" in packets) rp_in_b=$(rp_sa_count "$name" in bytes)
    read -r k_in_p k_in_b k_out_p k_out_b <<<"$(vm_xfrm_counts "$2" "$3")"
    echo "$name: rampartd out $rp_out_p packets $rp_out_b bytes, in $rp_in_p packets $rp_in_b bytes;" \
        "kernel in $k_in_p packets $k_in_b bytes, out $k_out_p packets $k_out_b bytes"
    echo "$name SA counters (packets/bytes): rampartd out $rp_out_p/$rp_out_b -> kernel in $k_in_p/$k_in_b," \
        "kernel out $k_out_p/$k_out_b -> rampartd in $rp_in_p/$rp_in_b" >>"$WORK/summary.txt"
    ((rp_out_p >= $4 && rp_in_p >= $4 && k_in_p >= $4 && k_out_p >= $4)) &&
        { [[ ${5:-} == any ]] || ((rp_out_p == k_in_p && k_out_p == rp_in_p)); }
}

# capture_start TAG / capture_end TAG ESP_FILTER — what crossed the VM's link meanwhile:
# no cleartext ICMP/ICMPv6 echo, and at least 3 frames matching ESP_FILTER (esp, udp.port == 4500)
# each way (the SA counters check the exact numbers) (the TAP sees rampartd's frames too: its port has qdisc_bypass=0)
capture_start() {
    CAPTURE="$WORK/$1.pcapng"
    rp_exec rtr tshark -q -i r-wan -w "$CAPTURE" >"$WORK/$1.tshark" 2>&1 &
    CAPTURE_PID=$!
    wait_for 15 grep -q "Capturing on" "$WORK/$1.tshark" >/dev/null || return 1
    sleep 1  # "Capturing on" comes a little before the first packet is taken
}
capture_end() {
    sleep 0.5
    # TERM: a background job of a script ignores SIGINT. tshark writes the file out and exits.
    kill -TERM "$CAPTURE_PID" 2>/dev/null
    rp_wait_until 10 eval "! kill -0 $CAPTURE_PID 2>/dev/null" || kill -KILL "$CAPTURE_PID" 2>/dev/null
    wait "$CAPTURE_PID" 2>/dev/null
    local clear from_rp from_vm
    # One pass over the capture: source MAC, the ICMP/ICMPv6 type when in clear, and whether the frame
    # matches ESP_FILTER.
    tshark -r "$CAPTURE" -T fields -E separator=' ' -e eth.src -e icmp.type -e icmpv6.type \
        -e frame.number -Y "($2) || icmp || icmpv6" 2>/dev/null >"$WORK/$1.frames" || return 1
    tshark -r "$CAPTURE" -T fields -e frame.number -Y "$2" 2>/dev/null >"$WORK/$1.esp" || return 1
    read -r clear from_rp from_vm < <(awk -v rp="$MAC_PORT_WAN" -v vm="$MAC_VM" '
        NR == FNR { esp[$1] = 1; next }
        ($NF in esp) { if ($1 == rp) r++; else if ($1 == vm) v++; next }
        $2 == 8 || $2 == 0 || $2 == 128 || $2 == 129 { c++ }
        END { print c + 0, r + 0, v + 0 }' "$WORK/$1.esp" "$WORK/$1.frames")
    echo "$1 capture on the VM's link: '$2' frames: $from_rp from rampartd, $from_vm from the kernel; $clear cleartext echo frames" |
        tee -a "$WORK/summary.txt"
    ((clear == 0 && from_rp >= 3 && from_vm >= 3))
}

# esp_case NAME WHO FAMILY MODE — WHO (rampartd|charon) initiates NAME; traffic both ways
# through the SAs (LAN host <-> host behind charon in tunnel mode, the box <-> the VM in
# transport mode), counters on both sides, no cleartext on the link.
esp_case() {
    local name="$1" who="$2" fam="$3" mode="$4" filter=esp
    [[ $name == nat* ]] && filter='udp.port == 4500 && !isakmp'
    if [[ $who == rampartd ]]; then rp_initiates "$name" || return 1; else charon_initiates "$name" || return 1; fi
    capture_start "$name-$who" || return 1
    local ok=0 l=203.0.113.1 r
    [[ $fam == 6 ]] && l=2001:db8:b::1
    r=$(vm_ike_addr "$name")
    case "$mode/$fam" in
        tunnel/4) lan_ping lan 192.0.2.1 && vm_ping -I 192.0.2.1 198.51.100.10 || ok=1 ;;
        tunnel/6) lan_ping lan 2001:db8:c::1 && vm_ping -I 2001:db8:c::1 2001:db8:a::10 || ok=1 ;;
        transport/*) lan_ping rtr "$r" && vm_ping -I "$r" "$l" || ok=1 ;;
    esac
    capture_end "$name-$who" "$filter" || ok=1
    counters_through "$name" "$l" "$r" 6 || ok=1
    vm_run "ip xfrm state list src $r dst $l" | grep -E "mode|encap" || true
    if [[ $name == nat* ]]; then
        vm_run "ip xfrm state" | grep -q 'encap type espinudp sport 4500 dport 4500' ||
            { echo "the kernel's SAs are not ESP in UDP 4500"; ok=1; }
        cli "show ipsec sa" | grep -qiE 'udp|nat' || { echo "rampartd's SAs do not say UDP encapsulation"; ok=1; }
    else
        vm_run "ip xfrm state" | grep -q espinudp && { echo "unexpected UDP encapsulation"; ok=1; }
    fi
    [[ $mode == transport ]] && ! vm_run "ip xfrm state" | grep -q 'mode transport' &&
        { echo "the kernel's SAs are not in transport mode"; ok=1; }
    terminate "$name"
    return $ok
}

interop_begin_own esp-kernel esp_prerequisites esp_topology_up rampartd_config
trap esp_finish EXIT
echo "peer VM: kernel $(vm_run 'uname -r'), $(cat "$VM_DIR/accel")"
charon_start >"$WORK/charon-start.out" 2>&1 || { cat "$WORK/charon-start.out"; abort "charon start in the VM"; }
check "charon (kernel-netlink) runs in the peer VM and loaded the connections" \
    expect_output 'loaded connection .natx4' cat "$WORK/charon-start.out"

check "IPv4 tunnel, rampartd initiates: pings both ways, counted by rampartd and the kernel, only ESP on the link" \
    esp_case tun4 rampartd 4 tunnel
check "IPv4 tunnel, the kernel's side initiates: pings both ways, counted both sides, only ESP on the link" \
    esp_case tun4 charon 4 tunnel
check "IPv4 transport, rampartd initiates: the box <-> the VM, counted both sides, only ESP on the link" \
    esp_case tra4 rampartd 4 transport
check "IPv4 transport, the kernel's side initiates: counted both sides, only ESP on the link" \
    esp_case tra4 charon 4 transport
check "IPv6 tunnel, rampartd initiates: pings both ways, counted both sides, only ESP on the link" \
    esp_case tun6 rampartd 6 tunnel
check "IPv6 tunnel, the kernel's side initiates: counted both sides, only ESP on the link" \
    esp_case tun6 charon 6 tunnel
check "IPv6 transport, rampartd initiates: counted both sides, only ESP on the link" \
    esp_case tra6 rampartd 6 transport
check "IPv6 transport, the kernel's side initiates: counted both sides, only ESP on the link" \
    esp_case tra6 charon 6 transport
check "NAT-T (charon encap = yes), tunnel, rampartd initiates: ESP in UDP 4500 both ways, counted both sides" \
    esp_case nat4 rampartd 4 tunnel
check "NAT-T, transport mode, the kernel's side initiates: ESP in UDP 4500 both ways, counted both sides" \
    esp_case natx4 charon 4 transport

# A Child SA rekey (rampartd's CREATE_CHILD_SA) under a ping every 50 ms from the LAN.
rekey_case() {
    rp_initiates tun4 || return 1
    local old new
    old=$(cli "show ipsec sa" | grep -o 'ike-tun4-[0-9a-f]*-out' | head -1)
    lan_ping lan 192.0.2.1 >/dev/null || return 1
    in_lan ping -i 0.05 -c 300 -W 2 192.0.2.1 >"$WORK/rekey-ping.out" 2>&1 &  # 15 s
    local ping_pid=$!
    sleep 2
    cli "ike rekey tun4 child" || { kill "$ping_pid"; return 1; }
    wait_for "$(vm_slow 20)" eval "! cli 'show ipsec sa' | grep -q ${old%-out}" >/dev/null ||
        { echo "old SA ${old%-out} still there"; kill "$ping_pid"; return 1; }
    wait "$ping_pid"
    new=$(cli "show ipsec sa" | grep -o 'ike-tun4-[0-9a-f]*-out' | head -1)
    echo "outbound SA $old -> $new"
    grep -E 'packets transmitted' "$WORK/rekey-ping.out" | sed 's/^/rekey under a 50 ms ping: /' | tee -a "$WORK/summary.txt"
    vm_run "ip -s xfrm state" | grep -c '^src' | sed 's/^/kernel SAs after the rekey: /'
    [[ -n $new && $new != "$old" ]] || { echo "no new outbound SA"; return 1; }
    counters_through tun4 203.0.113.1 203.0.113.2 20 any || return 1
    # A rekey may lose the packets in flight while the kernel swaps its outbound SA; report, allow 2%.
    local loss
    loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$WORK/rekey-ping.out")
    echo "ping loss across the rekey: $loss%"
    awk -v l="$loss" 'BEGIN { exit !(l != "" && l <= 2) }'
}
check "Child SA rekey by rampartd under a 50 ms ping: new SAs on both sides, counted, loss reported (<= 2%)" rekey_case
terminate tun4

echo "--- what each case saw (captures on the link, SA counters of both sides) ---"
cat "$WORK/summary.txt" 2>/dev/null
interop_end
