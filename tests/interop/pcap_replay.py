#!/usr/bin/python3
"""Builds the input pcap for pcap_replay.sh and checks rampartd's output pcaps
against packets built independently with scapy (its own checksums, its own
ICMP construction).  usage: pcap_replay.py make DIR | check DIR"""
import sys
from scapy.all import (Ether, IP, IPv6, UDP, ICMP, ICMPv6TimeExceeded, ICMPv6PacketTooBig, raw, rdpcap,
                       wrpcap, defragment, Raw)

P0, P1 = "02:70:63:61:70:00", "02:70:63:61:70:01"  # net_pcap's MACs for ports 0 and 1
HOST_A, ROUTER = "02:aa:00:00:00:0a", "02:cc:00:00:00:02"


def from_a(l3):
    return Ether(dst=P0, src=HOST_A) / l3


def inputs():
    return [
        from_a(IP(src="198.51.100.10", dst="192.0.2.55", ttl=64, id=1) / UDP(sport=4000, dport=53) / Raw(b"a" * 18)),
        from_a(IPv6(src="2001:db8:a::10", dst="2001:db8:c::55", hlim=64) / UDP(sport=4000, dport=53) / Raw(b"b" * 18)),
        from_a(IP(src="198.51.100.10", dst="192.0.2.55", ttl=1, id=3) / UDP(sport=4000, dport=53) / Raw(b"c" * 18)),
        from_a(IP(src="198.51.100.10", dst="192.0.2.55", ttl=64, id=4, chksum=0x1234) / UDP() / Raw(b"d" * 8)),
        from_a(IP(src="198.51.100.10", dst="192.0.2.55", ttl=64, id=5, flags="DF") / UDP() / Raw(b"e" * 1200)),
        from_a(IP(src="198.51.100.10", dst="192.0.2.55", ttl=64, id=6) / UDP(sport=7, dport=9) / Raw(b"f" * 1400)),
        from_a(IPv6(src="2001:db8:a::10", dst="2001:db8:c::55", hlim=1) / UDP() / Raw(b"g" * 8)),
        from_a(IPv6(src="2001:db8:a::10", dst="2001:db8:c::55", hlim=64) / UDP() / Raw(b"h" * 1200)),
    ]


def expected(inp):
    fwd4 = inp[0].copy()
    fwd4[Ether].dst, fwd4[Ether].src = ROUTER, P1
    fwd4[IP].ttl = 63
    del fwd4[IP].chksum
    fwd6 = inp[1].copy()
    fwd6[Ether].dst, fwd6[Ether].src = ROUTER, P1
    fwd6[IPv6].hlim = 63
    quote = lambda p, n: raw(p[Ether].payload)[:n]
    icmp_err = lambda orig, t, c, **kw: Ether(dst=HOST_A, src=P0) / IP(
        src="198.51.100.1", dst="198.51.100.10", ttl=64, tos=0xC0, id=0) / ICMP(type=t, code=c, **kw) / Raw(quote(orig, 548))
    back = [
        icmp_err(inp[2], 11, 0),
        icmp_err(inp[4], 3, 4, nexthopmtu=1000),
        Ether(dst=HOST_A, src=P0) / IPv6(src="2001:db8:a::1", dst="2001:db8:a::10", hlim=64) /
        ICMPv6TimeExceeded(code=0) / Raw(quote(inp[6], 1232)),
        Ether(dst=HOST_A, src=P0) / IPv6(src="2001:db8:a::1", dst="2001:db8:a::10", hlim=64) /
        ICMPv6PacketTooBig(mtu=1000) / Raw(quote(inp[7], 1232)),
    ]
    return [raw(fwd4), raw(fwd6)], [raw(p) for p in back]


def main():
    mode, d = sys.argv[1], sys.argv[2]
    inp = inputs()
    if mode == "make":
        wrpcap(f"{d}/in0.pcap", inp)
        wrpcap(f"{d}/in1.pcap", [])
        return 0
    # The kernels behind the TAP twins send their own IPv6 multicast (MLD, ND)
    # on both ports: legitimate local output, not part of this check.
    out1 = [raw(p) for p in rdpcap(f"{d}/out1.pcap") if not p[Ether].dst.startswith("33:33:")]
    out0 = [raw(p) for p in rdpcap(f"{d}/out0.pcap") if not p[Ether].dst.startswith("33:33:")]
    want1, want0 = expected(inp)
    failures = []
    for i, w in enumerate(want1):
        if i >= len(out1) or out1[i] != w:
            failures.append(f"port1 packet {i}: expected {w.hex()} got {out1[i].hex() if i < len(out1) else 'nothing'}")
    frags = [Ether(p) for p in out1[len(want1):]]
    if len(frags) != 2:
        failures.append(f"expected 2 fragments of the 1428-byte datagram, got {len(frags)}")
    else:
        for f in frags:
            if f[IP].ttl != 63 or len(f[IP]) > 1000 or f[Ether].dst != ROUTER:
                failures.append(f"bad fragment {f.summary()}")
        whole = defragment([f[IP] for f in frags])[0]
        if raw(whole[IP].payload) != raw(inp[5][IP].payload):
            failures.append("fragments do not reassemble to the original payload")
    if out0 != want0:
        for i, w in enumerate(want0):
            got = out0[i].hex() if i < len(out0) else "nothing"
            if got != w.hex():
                failures.append(f"port0 packet {i}: expected {w.hex()}\n got {got}")
        if len(out0) > len(want0):
            failures.append(f"{len(out0) - len(want0)} unexpected packets on port0")
    for f in failures:
        print("MISMATCH", f)
    print(f"port1: {len(out1)} packets, port0: {len(out0)} packets, {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
