#!/usr/bin/python3
"""Tagged ARP frames for vlan.sh on kernels without 802.1Q devices, where no
VLAN interface can send or receive them for us.

  vlan_frames.py send IFACE VID OP SRC_MAC SRC_IP DST_MAC DST_IP
      send one ARP (OP: request|reply) tagged with VID out of IFACE
  vlan_frames.py expect IFACE VID OP SRC_IP DST_IP READY_FILE SECONDS
      wait for such a frame on IFACE (creates READY_FILE once listening);
      prints it and exits 0, or exits 1 after SECONDS
"""
import os
import sys

from scapy.all import ARP, AsyncSniffer, Dot1Q, Ether, sendp  # noqa: E402

OPS = {"request": 1, "reply": 2}


def send(iface, vid, op, src_mac, src_ip, dst_mac, dst_ip):
    frame = Ether(src=src_mac, dst=dst_mac) / Dot1Q(vlan=int(vid)) / ARP(
        op=OPS[op], hwsrc=src_mac, psrc=src_ip,
        hwdst="00:00:00:00:00:00" if op == "request" else dst_mac, pdst=dst_ip)
    sendp(frame, iface=iface, verbose=False)


def expect(iface, vid, op, src_ip, dst_ip, ready_file, seconds):
    def wanted(p):
        return (p.haslayer(Dot1Q) and p[Dot1Q].vlan == int(vid) and p.haslayer(ARP)
                and p[ARP].op == OPS[op] and p[ARP].psrc == src_ip and p[ARP].pdst == dst_ip)

    # Packet sockets give the tag back from the kernel's auxiliary data.
    sniffer = AsyncSniffer(iface=iface, lfilter=wanted, count=1, store=True,
                           started_callback=lambda: open(ready_file, "w").close())
    sniffer.start()
    sniffer.join(timeout=float(seconds))
    if sniffer.running:
        sniffer.stop()
    got = sniffer.results or []
    if not got:
        print(f"no tagged ARP {op} {src_ip} -> {dst_ip} on vlan {vid} seen on {iface}")
        return 1
    print(f"seen on {iface}: {got[0].summary()}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "send":
        send(*sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) == 9 and sys.argv[1] == "expect":
        sys.exit(expect(*sys.argv[2:]))
    sys.stderr.write(__doc__)
    sys.exit(2)
