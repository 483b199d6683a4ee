#!/usr/bin/env bash
# rampartd over net_pcap files: replays crafted traffic, exits by itself once
# the input is idle (--exit-when-idle), and the output pcaps are checked
# against packets built with scapy. Runs in its own network namespace so the
# TAP twins never appear on the host.
#   usage: pcap_replay.sh RAMPARTD
set -euo pipefail
RAMPARTD="$(realpath "$1")"
HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/../.." && pwd)"
RP_NS_PREFIX="rpp$$-"
. "$TOP/scripts/netns-lib.sh"
WORK="$(mktemp -d /tmp/rampart-pcap.XXXXXX)"
trap 'rp_cleanup; [[ -n "${KEEP:-}" ]] || rm -rf "$WORK"' EXIT
rp_ns_create box

/usr/bin/python3 "$HERE/pcap_replay.py" make "$WORK"
cat >"$WORK/pcap.conf" <<EOC
interface p0 device net_pcap0,rx_pcap=$WORK/in0.pcap,tx_pcap=$WORK/out0.pcap
interface p0 address 198.51.100.1/24
interface p0 address 2001:db8:a::1/64
interface p0 neighbor 198.51.100.10 02:aa:00:00:00:0a
interface p0 neighbor 2001:db8:a::10 02:aa:00:00:00:0a
interface p1 device net_pcap1,rx_pcap=$WORK/in1.pcap,tx_pcap=$WORK/out1.pcap
interface p1 address 203.0.113.1/24
interface p1 address 2001:db8:b::1/64
interface p1 mtu 1000
interface p1 neighbor 203.0.113.2 02:cc:00:00:00:02
interface p1 neighbor 2001:db8:b::2 02:cc:00:00:00:02
route 192.0.2.0/24 via 203.0.113.2
route 2001:db8:c::/48 via 2001:db8:b::2
EOC
"$RAMPARTD" --check-config --config "$WORK/pcap.conf"
# A packet read before the tables are published would be dropped: the pcap PMD
# starts reading at port start, so give the input a head start of nothing and
# rely on rampartd publishing the config before launching the workers.
rp_exec box timeout 60 "$RAMPARTD" --config "$WORK/pcap.conf" --socket "$WORK/sock" --exit-when-idle 1 -- \
    -l 0-1 --no-huge --no-pci -m 1024 --no-telemetry --file-prefix "rampart-pcap-$$" >"$WORK/log" 2>&1 || {
    echo "rampartd failed:"; cat "$WORK/log"; exit 1; }
grep -q "exiting" "$WORK/log" || { echo "rampartd did not exit on idle input"; cat "$WORK/log"; exit 1; }
/usr/bin/python3 "$HERE/pcap_replay.py" check "$WORK"
