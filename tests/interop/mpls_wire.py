#!/usr/bin/python3
"""MPLS frames for mpls.sh: scapy (scapy.contrib.mpls) builds what the peers
send and what rampartd must put on the wire, and dissects what it did; tshark
is asked for a second opinion. The kernel has no MPLS: the peers P1 and P2 are
this program on raw packet sockets inside their namespaces.

The MAC addresses come from the environment, set by mpls.sh:
  MAC_CE MAC_P1 MAC_P2              the hosts' ends of the veths
  MAC_PORT_CE MAC_PORT_CORE1 MAC_PORT_CORE2   rampartd's ports

  mpls_wire.py capture IFACE PCAP READY SECONDS COUNT mpls|ip|mplsip|data
      write the frames IFACE receives (not those it sends) of that EtherType
      to PCAP (mplsip: MPLS and IPv4; data: and IPv6 UDP); READY is created once listening;
      stops after COUNT frames or SECONDS
  mpls_wire.py send SCENARIO
      send SCENARIO's input frames (run in the sender's namespace)
  mpls_wire.py verify SCENARIO PCAP [PCAP2]
      compare what was captured with what SCENARIO expects; exit 1 if not
  mpls_wire.py frr-recv IFACE OUT READY SECONDS
  mpls_wire.py frr-send IFACE OUT PPS SECONDS DOWN_AT UP_AT DOWN_CMD UP_CMD
  mpls_wire.py frr-report SENDER P1 P2 [MAX_GAP_MS]
      fast reroute under a real link failure, see frr_* below
"""
import json
import os
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time

from scapy.config import conf
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.sendrecv import AsyncSniffer, sendp
from scapy.utils import rdpcap, wrpcap

ETH_P_ALL = 0x0003
ETH_P_IP, ETH_P_IPV6, ETH_P_MPLS = 0x0800, 0x86DD, 0x8847
PACKET_OUTGOING = 4

CE_IP, REMOTE_IP = "198.51.100.10", "192.0.2.1"
TRANSPORT, VPN = 16001, 1000  # route vrf blue 192.0.2.0/24 ... labels 16001/1000
FRR_DST = "192.0.2.130"       # route vrf blue 192.0.2.128/25 ... with a backup via P2
FRR_PRIMARY, FRR_REPAIR = [TRANSPORT, VPN], [24002, TRANSPORT, VPN]


def mac(name):
    return os.environ["MAC_" + name]


def stack(*lses):
    """MPLS headers from (label, ttl, tc) tuples, bottom of stack on the last."""
    out = None
    for i, (label, ttl, tc) in enumerate(lses):
        h = MPLS(label=label, ttl=ttl, cos=tc, s=1 if i == len(lses) - 1 else 0)
        out = h if out is None else out / h
    return out


def udp4(src, dst, ttl, payload=b"rampart-mpls-interop-0123456789", ident=0x4242, tos=0):
    return IP(src=src, dst=dst, ttl=ttl, id=ident, tos=tos) / UDP(sport=4000, dport=4001) / Raw(payload)


def with_ttl(ip_packet, ttl):
    """The same IPv4/IPv6 packet with another TTL / hop limit, checksum recomputed."""
    p = ip_packet.copy()
    if IPv6 in p:
        p[IPv6].hlim = ttl
    else:
        p[IP].ttl = ttl
        del p[IP].chksum
    return p


def from_peer(peer, port):  # what a peer sends a port of rampartd
    return Ether(dst=mac("PORT_" + port), src=mac(peer))


def to_peer(peer, port):  # what rampartd sends a peer
    return Ether(dst=mac(peer), src=mac("PORT_" + port))


# Each scenario: the interface it is sent on, the frames, and the frames
# expected (exactly, in order) on the capture given to verify.
PING_ID, PING_SEQ = 0x5250, 7
PING_DATA = b"rampart-vpn-ingress-" + bytes(range(24))


def vpn_ingress_request(ttl):
    return IP(src=REMOTE_IP, dst=CE_IP, ttl=ttl, id=0x1111) / ICMP(type=8, id=PING_ID, seq=PING_SEQ) / Raw(PING_DATA)


def scenario(name):
    if name == "ingress":  # P1 -> VPN label 1000 -> vrf blue -> CE; TTL min(64, 60 - 1) = 59
        sent = [from_peer("P1", "CORE1") / stack((VPN, 60, 0)) / vpn_ingress_request(64)]
        return sent, [to_peer("CE", "CE") / vpn_ingress_request(59)]
    if name == "swap":  # label 100 swap 200/201; TC kept, TTL - 1 on every pushed label; label below kept
        ip1, ip2 = udp4("198.51.100.10", "192.0.2.55", 30), udp4("198.51.100.11", "192.0.2.56", 40, ident=7)
        sent = [from_peer("P1", "CORE1") / stack((100, 64, 5)) / ip1,
                from_peer("P1", "CORE1") / stack((100, 20, 1), (999, 77, 0)) / ip2]
        expected = [to_peer("P2", "CORE2") / stack((200, 63, 5), (201, 63, 5)) / ip1,
                    to_peer("P2", "CORE2") / stack((200, 19, 1), (201, 19, 1), (999, 77, 0)) / ip2]
        return sent, expected
    if name == "php":  # label 102 pop: uniform model, IP TTL = min(IP TTL, label TTL - 1)
        a, b = udp4("198.51.100.10", "192.0.2.55", 64), udp4("198.51.100.10", "192.0.2.56", 20, ident=9)
        c = IPv6(src="2001:db8:a::10", dst="2001:db8:c::55", hlim=64) / UDP(sport=4000, dport=4001) / Raw(b"v6-php-payload")
        sent = [from_peer("P1", "CORE1") / stack((102, 10, 0)) / a,
                from_peer("P1", "CORE1") / stack((102, 64, 0)) / b,
                from_peer("P1", "CORE1") / stack((102, 10, 0)) / c]
        expected = [to_peer("P2", "CORE2") / with_ttl(a, 9),
                    to_peer("P2", "CORE2") / b,
                    to_peer("P2", "CORE2") / with_ttl(c, 9)]
        return sent, expected
    if name == "mpls-from-ce":  # a labelled frame from the customer: MPLS is not enabled on ce
        return [from_peer("CE", "CE") / stack((100, 64, 0)) / udp4(CE_IP, "192.0.2.55", 64)], []
    if name == "unknown-label":
        return [from_peer("P1", "CORE1") / stack((5000, 64, 0)) / udp4(REMOTE_IP, CE_IP, 64)], []
    if name == "no-bos":  # three labels, none the bottom of the stack, nothing after
        return [from_peer("P1", "CORE1") / MPLS(label=100, ttl=64, s=0) / MPLS(label=200, ttl=64, s=0)
                / MPLS(label=300, ttl=64, s=0)], []
    if name == "none":  # for verify: nothing at all
        return [], []
    raise SystemExit(f"unknown scenario {name}")


SENDERS = {"ingress": "P1", "swap": "P1", "php": "P1", "mpls-from-ce": "CE", "unknown-label": "P1", "no-bos": "P1"}


def labels_of(p):
    """[(label, tc, bos, ttl)] of a frame's label stack, as scapy dissects it."""
    out, m = [], p.getlayer(MPLS)
    while isinstance(m, MPLS):
        out.append((m.label, m.cos, m.s, m.ttl))
        m = m.payload
    return out


def show(p):
    return p.summary() + " | " + bytes(p).hex()


def cmd_capture(iface, pcap, ready, seconds, count, kind):
    types = {"mpls": {ETH_P_MPLS}, "ip": {ETH_P_IP}, "mplsip": {ETH_P_MPLS, ETH_P_IP},
             "data": {ETH_P_MPLS, ETH_P_IP, ETH_P_IPV6}}[kind]

    def wanted(p):  # "data": IPv6 only with UDP, not the twin kernels' ND/MLD
        return (Ether in p and p[Ether].type in types
                and (p[Ether].type != ETH_P_IPV6 or (IPv6 in p and UDP in p)))

    # conf.L2socket (not L2listen) leaves out what this end sends itself.
    sniffer = AsyncSniffer(iface=iface, L2socket=conf.L2socket, store=True, count=int(count), lfilter=wanted,
                           started_callback=lambda: open(ready, "w").close())
    sniffer.start()
    sniffer.join(timeout=float(seconds))
    if sniffer.running:
        sniffer.stop()
    got = list(sniffer.results or [])
    wrpcap(pcap, got)
    print(f"captured {len(got)} frame(s) on {iface}")
    return 0


def cmd_send(name):
    sent, _ = scenario(name)
    iface = "eth0"
    for p in sent:
        sendp(p, iface=iface, verbose=False)
    print(f"sent {len(sent)} {name} frame(s) from {SENDERS[name]}")
    return 0


def compare_exact(expected, got):
    ok = len(expected) == len(got)
    if not ok:
        print(f"expected {len(expected)} frame(s), captured {len(got)}")
    for i, e in enumerate(expected):
        g = got[i] if i < len(got) else None
        if g is not None and bytes(g) == bytes(e):
            print(f"frame {i}: as expected: {Ether(bytes(e)).summary()} labels {labels_of(Ether(bytes(e)))}")
            continue
        ok = False
        print(f"frame {i}: expected {show(Ether(bytes(e)))}")
        print(f"frame {i}: captured {show(g) if g is not None else '(nothing)'}")
    for g in got[len(expected):]:
        print(f"unexpected: {show(g)}")
    return ok


def checksums_ok(ip):
    a = IP(bytes(ip))
    b = a.copy()
    del b[IP].chksum
    if ICMP in b:
        del b[ICMP].chksum
    b = IP(bytes(b))
    return a[IP].chksum == b[IP].chksum and (ICMP not in a or a[ICMP].chksum == b[ICMP].chksum)


def vpn_stack_ok(p, ip_ttl_before, what):
    """Labels [16001, 1000], BoS on 1000 only, uniform TTL (IP TTL - 1), TC 0, to P1."""
    problems = []
    if p[Ether].dst != mac("P1") or p[Ether].src != mac("PORT_CORE1") or p[Ether].type != ETH_P_MPLS:
        problems.append(f"Ethernet {p[Ether].src} -> {p[Ether].dst} type {p[Ether].type:#06x}")
    want = [(TRANSPORT, 0, 0, ip_ttl_before - 1), (VPN, 0, 1, ip_ttl_before - 1)]
    if labels_of(p) != want:
        problems.append(f"stack {labels_of(p)} (label, tc, bos, ttl), expected {want}")
    if IP not in p:
        problems.append("no IPv4 under the stack")
    else:
        if p[IP].ttl != ip_ttl_before - 1:
            problems.append(f"inner IP TTL {p[IP].ttl}, expected {ip_ttl_before - 1}")
        if not checksums_ok(p[IP]):
            problems.append("IP/ICMP checksum wrong after the TTL change")
    for line in problems:
        print(f"{what}: {line}: {show(p)}")
    return not problems


def tshark_view(pcap):
    out = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=|",
                          "-e", "mpls.label", "-e", "mpls.bottom", "-e", "mpls.ttl", "-e", "ip.src", "-e", "ip.ttl",
                          "-e", "icmp.type"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line.strip()]


def tshark_agrees(pcap):
    """tshark's label stacks (label, TC, BoS, TTL) against scapy's, frame by frame."""
    got = list(rdpcap(pcap))
    out = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=|",
                          "-e", "mpls.label", "-e", "mpls.exp", "-e", "mpls.bottom", "-e", "mpls.ttl"],
                         capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
    if len(out) != len(got):
        print(f"tshark dissected {len(out)} frame(s) in {pcap}, scapy {len(got)}")
        return False
    ok = True
    for i, (p, line) in enumerate(zip(got, out)):
        mine = labels_of(p)
        want = "|".join(",".join(str(m[k]) for m in mine) for k in (0, 1, 2, 3))
        if line != want:
            ok = False
            print(f"frame {i}: tshark says label|tc|bottom|ttl {line!r}, scapy {want!r}")
    if ok:
        print(f"tshark agrees on the label stacks of all {len(got)} frame(s) in {os.path.basename(pcap)}")
    return ok


def cmd_verify(name, pcap, pcap2=None):
    got = list(rdpcap(pcap))
    if name == "egress":  # ping -t 64 from CE to 192.0.2.1, captured on P1
        requests = [p for p in got if ICMP in p and p[ICMP].type == 8]
        ok = len(requests) >= 3
        if not ok:
            print(f"{len(requests)} echo request(s) captured on P1, expected at least 3")
        for p in got:
            ok &= vpn_stack_ok(p, 64, "egress")
            if IP in p and (p[IP].src, p[IP].dst) != (CE_IP, REMOTE_IP):
                ok = False
                print(f"egress: unexpected inner packet {p[IP].src} -> {p[IP].dst}")
        if ok:
            p = requests[0]
            print(f"scapy: {len(requests)} echo requests {p[IP].src} -> {p[IP].dst}, stack {labels_of(p)}"
                  f" (label, tc, bos, ttl), inner TTL {p[IP].ttl}")
        # tshark, the second dissector, must see the same stacks.
        ts = tshark_view(pcap)
        if len(ts) != len(got):
            print(f"tshark dissected {len(ts)} frame(s), scapy {len(got)}")
            return 1
        for i, (p, fields) in enumerate(zip(got, ts)):
            labels, bottoms, ttls, src, ipttl, icmp_type = fields
            mine = labels_of(p)
            view = (labels, bottoms, ttls, src, ipttl, icmp_type)
            want = (",".join(str(m[0]) for m in mine), ",".join(str(m[2]) for m in mine),
                    ",".join(str(m[3]) for m in mine), p[IP].src, str(p[IP].ttl), str(p[ICMP].type))
            if view != want:
                ok = False
                print(f"frame {i}: tshark says {view}, scapy says {want}")
        if ok:
            print(f"tshark agrees on all {len(ts)} frames: labels {ts[0][0]} bottom {ts[0][1]} ttl {ts[0][2]}")
        return 0 if ok else 1
    if name == "ingress":  # PCAP: what CE received; PCAP2: what came back to P1
        _, expected = scenario(name)
        at_ce = [p for p in got if IP in p and p[IP].src == REMOTE_IP]
        ok = compare_exact(expected, at_ce)
        replies = [p for p in rdpcap(pcap2) if ICMP in p and p[ICMP].type == 0]
        if len(replies) != 1:
            print(f"{len(replies)} echo replies back on P1, expected 1")
            return 1
        r = replies[0]
        ok &= vpn_stack_ok(r, 64, "reply")
        want = (CE_IP, REMOTE_IP, PING_ID, PING_SEQ, PING_DATA)
        seen = (r[IP].src, r[IP].dst, r[ICMP].id, r[ICMP].seq, bytes(r[ICMP].payload))
        if seen != want:
            ok = False
            print(f"reply {seen}, expected {want}")
        else:
            print(f"echo reply {r[IP].src} -> {r[IP].dst} id {r[ICMP].id:#x} seq {r[ICMP].seq}, "
                  f"stack {labels_of(r)} (label, tc, bos, ttl)")
        return 0 if ok and tshark_agrees(pcap2) else 1
    _, expected = scenario(name)
    ok = compare_exact(expected, got)
    return 0 if tshark_agrees(pcap) and ok else 1


# --- fast reroute -----------------------------------------------------------
# CE sends numbered UDP datagrams to 192.0.2.130 at a fixed rate; P1 and P2
# record which numbers arrive, and when (kernel receive timestamps; the clock is
# shared by all namespaces). Halfway, P1's end of the core1 link goes down and later up again.
FRR_MAGIC = b"RPFR"


def frr_frame(seq):
    p = (Ether(dst=mac("PORT_CE"), src=mac("CE")) /
         IP(src=CE_IP, dst=FRR_DST, ttl=64, id=0x7777) / UDP(sport=40000, dport=9, chksum=0) /
         Raw(FRR_MAGIC + struct.pack("!I", seq) + bytes(26)))
    return bytes(p)


def frr_send(iface, out, pps, seconds, down_at, up_at, down_cmd, up_cmd):
    """Paced by sleeping (no busy wait: the CPUs are shared with rampartd's
    polling worker); every send time is recorded (CLOCK_REALTIME, like the
    receivers' kernel timestamps)."""
    pps, seconds, down_at, up_at = int(pps), float(seconds), float(down_at), float(up_at)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    template = bytearray(frr_frame(0))
    off = len(template) - 30  # where the sequence number goes
    events = {}

    def run(what, cmd):
        events[what + "_start"] = time.time()
        r = subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=10)
        events[what] = time.time()
        events[what + "_rc"] = r.returncode
        events[what + "_err"] = r.stderr.strip()

    total = int(pps * seconds)
    interval = 1.0 / pps
    sent_at = [0.0] * total
    t0 = time.time()
    threads = []
    pending = [(down_at, "down", down_cmd), (up_at, "up", up_cmd)]
    errors = 0
    for seq in range(total):
        now = time.time()
        due = t0 + seq * interval
        if due > now:
            time.sleep(due - now)
            now = time.time()
        while pending and now - t0 >= pending[0][0]:
            _, what, cmd = pending.pop(0)
            t = threading.Thread(target=run, args=(what, cmd))
            t.start()
            threads.append(t)
        struct.pack_into("!I", template, off, seq)
        try:
            s.send(template)
        except OSError:
            errors += 1
        sent_at[seq] = now
    t_end = time.time()
    for t in threads:
        t.join(timeout=15)
    late = max(sent_at[i] - (t0 + i * interval) for i in range(total))
    with open(out, "w") as f:
        json.dump({"t0": t0, "t_end": t_end, "sent": total, "pps": pps, "send_errors": errors,
                   "events": events, "sent_at": sent_at}, f)
    print(f"sent {total} frames in {t_end - t0:.2f} s ({errors} send errors, at most {late * 1000:.1f} ms late)")
    return 0


SO_TIMESTAMPNS = 35


def frr_recv(iface, out, ready, seconds):
    """Every frame of the flow with its kernel receive time (SO_TIMESTAMPNS):
    what this process's scheduling does not change."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: nothing lost here
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.settimeout(0.05)
    open(ready, "w").close()
    deadline = time.monotonic() + float(seconds)
    frames, enetdown = [], 0
    while time.monotonic() < deadline:
        try:
            data, anc, _, addr = s.recvmsg(2048, 64)
        except socket.timeout:
            continue
        except OSError:  # ENETDOWN once when the interface goes down
            enetdown += 1
            continue
        if addr[2] == PACKET_OUTGOING or FRR_MAGIC not in data:
            continue
        t = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                t = sec + nsec / 1e9
        frames.append((t, data.hex()))
    with open(out, "w") as f:
        json.dump({"frames": frames, "enetdown": enetdown}, f)
    print(f"{iface}: {len(frames)} frames")
    return 0


def ranges(seqs):
    out, seqs = [], sorted(seqs)
    for s in seqs:
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in out) or "none"


def frr_report(sender, p1, p2, max_ms="1000"):
    tx = json.load(open(sender))
    ev = tx["events"]
    if ev.get("down_rc") != 0 or ev.get("up_rc") != 0:
        print(f"link commands failed: {ev}")
        return 1
    ok = True
    rx = {}  # seq -> (path, receive time)
    dup = 0
    for name, path, want in (("P1", p1, FRR_PRIMARY), ("P2", p2, FRR_REPAIR)):
        bad = 0
        for t, hexdata in json.load(open(path))["frames"]:
            p = Ether(bytes.fromhex(hexdata))
            lses = labels_of(p)
            good = (IP in p and Raw in p and [l for l, _, _, _ in lses] == want
                    and [b for _, _, b, _ in lses] == [0] * (len(want) - 1) + [1]
                    and all(ttl == 63 for *_, ttl in lses) and p[Ether].dst == mac(name)
                    and p[Ether].src == mac("PORT_CORE" + name[1])
                    and p[IP].src == CE_IP and p[IP].dst == FRR_DST and p[IP].ttl == 63)
            if not good:
                bad += 1
                if bad <= 3:
                    print(f"{name}: unexpected frame {show(p)} stack {lses}")
                continue
            seq = struct.unpack("!I", bytes(p[Raw].load)[4:8])[0]
            dup += seq in rx
            rx[seq] = (name, t)
        if bad:
            ok = False
            print(f"{name}: {bad} frame(s) with the wrong encapsulation (expected stack {'/'.join(map(str, want))})")
    sent, pps, sent_at = tx["sent"], tx["pps"], tx["sent_at"]
    on = {n: sorted(s for s, (p, _) in rx.items() if p == n) for n in ("P1", "P2")}
    lost = sorted(set(range(sent)) - set(rx))
    late = max(t - (tx["t0"] + i / pps) for i, t in enumerate(sent_at))
    if late > 0.05:
        print(f"note: the sender fell {late * 1000:.0f} ms behind its schedule (CPU starved): "
              "a burst followed, the timings below are less precise")
    print(f"FRR: {sent} sent at {pps} pps over {tx['t_end'] - tx['t0']:.2f} s; {len(on['P1'])} received on P1 "
          f"(primary, 16001/1000), {len(on['P2'])} on P2 (repair, 24002/16001/1000), {len(lost)} lost "
          f"({ranges(lost)}), {dup} duplicated")
    # Failure: the first frame on P2, and the last one on P1 sent before it.
    after_down = [s for s in on["P2"] if sent_at[s] >= ev["down_start"] - 0.05]
    early = [s for s in on["P2"] if sent_at[s] < ev["down_start"] - 0.05]
    if early:
        ok = False
        print(f"{len(early)} frame(s) on P2 sent before the link went down: {ranges(early)}")
    if not after_down or not on["P1"]:
        print("no traffic on " + ("the repair path" if on["P1"] else "the primary path"))
        return 1
    first_p2 = after_down[0]
    t_first_p2 = rx[first_p2][1]
    # The last frame P1 received before the first repaired one (by receive time:
    # a frame rampartd queued on the dead port can reach P1 once it is back up).
    before = [(t, s) for s, (p, t) in rx.items() if p == "P1" and t < t_first_p2]
    if not before:
        print("no traffic on the primary path before the failure")
        return 1
    t_last_p1, last_p1 = max(before)
    stale = [s for s in on["P1"] if s < first_p2 and rx[s][1] > ev["up_start"]]
    if stale:
        print(f"{len(stale)} frame(s) sent before the failure reached P1 only after the link came back up "
              f"(held on the dead port): {ranges(stale)}")
    lost_fail = [s for s in lost if last_p1 < s < first_p2]
    gap_ms = (t_first_p2 - t_last_p1) * 1000
    switch_ms = (t_first_p2 - ev["down_start"]) * 1000
    missing = len(lost_fail) + len([s for s in stale if last_p1 < s < first_p2])
    print(f"FRR failure: 'ip link set dev eth0 down' in P1 took {(ev['down'] - ev['down_start']) * 1000:.1f} ms; "
          f"last frame on P1 #{last_p1}, first on P2 #{first_p2}; {len(lost_fail)} lost, {missing} lost or held "
          f"(= {missing * 1000 / pps:.0f} ms of traffic); receive gap {gap_ms:.1f} ms; repaired traffic "
          f"{switch_ms:.1f} ms after the link-down command started")
    if switch_ms > float(max_ms):
        ok = False
        print(f"traffic resumed on P2 only after {switch_ms:.1f} ms, more than {max_ms} ms")
    # Recovery: the first frame back on P1 after the link came up.
    back = [s for s in on["P1"] if sent_at[s] >= ev["up_start"] - 0.05]
    lost_back = []
    if not back:
        ok = False
        print("traffic did not come back to P1 after the link came up")
    else:
        first_back = back[0]
        last_p2 = max((s for s in on["P2"] if s < first_back), default=None)
        lost_back = [s for s in lost if last_p2 is not None and last_p2 < s < first_back]
        late = [s for s in on["P2"] if s > first_back]
        print(f"FRR recovery: 'ip link set dev eth0 up' took {(ev['up'] - ev['up_start']) * 1000:.1f} ms; "
              f"first frame back on P1 #{first_back} {(rx[first_back][1] - ev['up_start']) * 1000:.1f} ms after "
              f"the link-up command started; last on P2 #{last_p2}; {len(lost_back)} lost; "
              f"{len(late)} on P2 after that")
        if late:
            ok = False
            print(f"still on the repair path after traffic returned to P1: {ranges(late)}")
    elsewhere = sorted(set(lost) - set(lost_fail) - set(lost_back))
    if elsewhere:
        ok = False
        print(f"lost outside the two switch-overs: {ranges(elsewhere)}")
    return 0 if ok else 1


def main(argv):
    cmds = {
        ("capture", 7): lambda a: cmd_capture(*a),
        ("send", 2): lambda a: cmd_send(*a),
        ("verify", 3): lambda a: cmd_verify(*a),
        ("verify", 4): lambda a: cmd_verify(*a),
        ("frr-recv", 5): lambda a: frr_recv(*a),
        ("frr-send", 9): lambda a: frr_send(*a),
        ("frr-report", 4): lambda a: frr_report(*a),
        ("frr-report", 5): lambda a: frr_report(*a),
    }
    if len(argv) < 2 or (argv[1], len(argv) - 1) not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[(argv[1], len(argv) - 1)](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
