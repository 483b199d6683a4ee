#!/usr/bin/env bash
# Interop: rampartd between two network namespaces on af_packet ports, driven
# by rampart-cli, talking to the Linux kernel's own IPv4/IPv6/TCP stacks.
#   usage: forwarding.sh RAMPARTD RAMPART_CLI
# Prints one line per check and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
RAMPARTD="$(realpath "$1")"
CLI="$(realpath "$2")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpi$$-"
# shellcheck source=harness.sh
. "$HERE/harness.sh"
interop_begin interop

check "ipv4 ping A -> B through rampartd"         ping_all a 203.0.113.10
check "ipv6 ping A -> B through rampartd"         ping_all a -6 2001:db8:b::10
check "ipv4 ping A -> remote via static route"    ping_all a 192.0.2.10
check "ipv6 ping A -> remote via static route"    ping_all a -6 2001:db8:c::10
check "ipv4 ping to rampartd's own addresses"     ping_all a 198.51.100.1
check "ipv4 ping to rampartd's far address"       ping_all a 203.0.113.129
check "ipv6 ping to rampartd's own address"       ping_all a -6 2001:db8:a::1
check "ipv4 ping from B to rampartd"              ping_all b 203.0.113.1

ttl_expired() {
    expect_output 'From 198.51.100.1 .*Time to live exceeded' in_a ping -c 1 -W 2 -t 1 192.0.2.10
}
check "ipv4 TTL 1 -> ICMP time exceeded from rampartd" ttl_expired
hop_limit_expired() {
    expect_output 'From 2001:db8:a::1 .*Time exceeded' in_a ping -6 -c 1 -W 2 -t 1 2001:db8:c::10
}
check "ipv6 hop limit 1 -> ICMPv6 time exceeded"  hop_limit_expired
unreachable() {
    expect_output 'From 198.51.100.1 .*Destination Net Unreachable' in_a ping -c 1 -W 2 192.0.2.200
}
check "ipv4 no route -> ICMP net unreachable"      unreachable

tcp_transfer() {  # 8 MiB each way over IPv4 and IPv6, checksummed
    local family="$1" server="$2"
    head -c 8388608 /dev/urandom >"$WORK/blob"
    in_b timeout 30 python3 - "$family" "$WORK/recv" <<'PY' &
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 5201)); s.listen(1); s.settimeout(20)
c, _ = s.accept()
with open(sys.argv[2], "wb") as f:
    while True:
        d = c.recv(65536)
        if not d: break
        f.write(d)
PY
    local server_pid=$!
    sleep 0.5
    in_a timeout 30 python3 - "$family" "$server" "$WORK/blob" <<'PY'
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
c = socket.socket(fam, socket.SOCK_STREAM); c.settimeout(20)
c.connect((sys.argv[2], 5201))
c.sendall(open(sys.argv[3], "rb").read()); c.close()
PY
    wait "$server_pid"
    cmp "$WORK/blob" "$WORK/recv"
}
check "ipv4 TCP transfer A -> B (8 MiB, byte-exact)" tcp_transfer 4 192.0.2.10
check "ipv6 TCP transfer A -> B (8 MiB, byte-exact)" tcp_transfer 6 2001:db8:c::10
tcp_to_box() {  # the kernel behind the TAP twin accepts TCP for the box's address
    rp_exec rtr timeout 10 python3 -c '
import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("198.51.100.1", 2222)); s.listen(1); s.settimeout(8)
c,_=s.accept(); c.sendall(b"rampart-box\n"); c.close()' &
    local pid=$!
    sleep 0.5
    # The listener may still be starting: retry the connect for up to 5 s.
    in_a timeout 10 python3 -c '
import socket, time
for attempt in range(50):
    try:
        c = socket.create_connection(("198.51.100.1", 2222), timeout=5); break
    except ConnectionRefusedError:
        time.sleep(0.1)
print(c.recv(100).decode())' | grep rampart-box >/dev/null  # not grep -q: exiting early breaks the pipe under pipefail
    local rc=$?
    wait "$pid"
    return $rc
}
check "TCP to rampartd's own address (exception path)" tcp_to_box

route_switch_without_loss() {
    ping_all a 203.0.113.138 >/dev/null 2>&1  # resolve the second path's neighbour first
    local before after
    before=$(cli "show interface pc" | sed -n 's/.*tx \([0-9]*\) packets.*/\1/p')
    in_a ping -c 300 -i 0.01 -W 2 192.0.2.10 >"$WORK/ping" 2>&1 &
    local pid=$!
    sleep 1
    cli "route 192.0.2.0/25 via 203.0.113.138" || return 1
    cli "no route 192.0.2.0/25 via 203.0.113.10" || return 1
    wait "$pid"
    cat "$WORK/ping" | tail -3
    after=$(cli "show interface pc" | sed -n 's/.*tx \([0-9]*\) packets.*/\1/p')
    echo "pc tx packets before $before after $after"
    grep -q ' 0% packet loss' "$WORK/ping" && ((after - before >= 100))
}
check "route changed via rampart-cli under traffic: no loss, new path used" route_switch_without_loss

live_address() {
    cli "interface pa address 198.51.100.2/24" || return 1
    ping_all a 198.51.100.2 || return 1
    cli "no interface pa address 198.51.100.2/24" || return 1
    ! in_a ping -c 2 -i 0.2 -W 1 198.51.100.2
}
check "address added and removed live via rampart-cli" live_address

show_commands() {
    local c
    for c in "show interfaces" "show route" "show route ipv6" "show neighbors" "show workers" "show version"; do
        cli "$c" || return 1
    done
    cli "show route" | grep -q '192.0.2.0/25 *via 203.0.113.138 on pc, MAC' &&
        cli "show neighbors" | grep -q '198.51.100.10' &&
        cli "show interface pa" | grep -q 'ip4_ttl_expired' &&
        cli "show workers" | grep -qE '^0 +1 '
}
check "show commands reflect the state" show_commands

running_config_round_trip() {
    cli "write config $WORK/saved.conf" && "$RAMPARTD" --check-config --config "$WORK/saved.conf" &&
        grep -q 'route 192.0.2.0/25 via 203.0.113.138' "$WORK/saved.conf"
}
check "running-config written and re-validated" running_config_round_trip

bad_input() {
    local out
    out=$("$CLI" -s "$SOCK" -c "route 10.0.0.0/8 via 192.0.2.300" 2>&1) && return 1
    echo "$out" | grep -q "192.0.2.300" || return 1
    out=$("$CLI" -s "$SOCK" -c "interface nosuch address 10.0.0.1/8" 2>&1) && return 1
    echo "$out" | grep -q "unknown interface nosuch"
}
check "bad CLI input gets an error naming the token" bad_input

interop_end
