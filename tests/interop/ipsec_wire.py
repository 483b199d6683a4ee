#!/usr/bin/python3
"""ESP tunnel mode for ipsec.sh: scapy's SecurityAssociation (scapy.layers.ipsec,
python3-cryptography underneath) is the peer gateway. It decrypts what rampartd
puts on the wire and encrypts what rampartd must decrypt; tshark's ESP
dissector is asked for a second opinion.

  ipsec_wire.py config TRANSFORM OUTER ESN STATE SETUP TEARDOWN [NATT]
      fresh random keys and SPIs for one SA pair: STATE (json) for the other
      commands, SETUP the rampart-cli lines that create the SAs and the two
      policies, TEARDOWN the lines that remove them again.
      TRANSFORM one of TRANSFORMS below; OUTER 4|6; ESN 0|1; NATT 0 (plain
      ESP, the default) or the peer's UDP port P: both SAs get
      "nat-traversal [remote-port P]" and the ESP travels in UDP (RFC 3948),
      rampartd's port 4500 <-> the peer's port P.
  ipsec_wire.py run STATE LAN_NS WAN_NS OUTDIR
      one exchange (about a second): the LAN host (its kernel) sends a UDP
      datagram to 192.0.2.55 and one to 2001:db8:c::55, which must leave
      rampartd encrypted; then the peer sends an encrypted ICMP echo request
      from 192.0.2.55 and one from 2001:db8:c::55 to the host, whose kernel
      answers, and the replies must come back encrypted. Writes
      OUTDIR/{out4,out6,in4,in6}.txt (first line "ok" or "fail", then what was
      seen) and OUTDIR/esp.pcap (every ESP frame on the wan link).
      Under NAT-T the same exchange runs ESP in UDP; the outer UDP header of
      what rampartd sends is checked too (4500 -> P, length, checksum 0 over
      IPv4 and a valid one over IPv6, RFC 3948 §2.1 / RFC 8200 §8.1).
  ipsec_wire.py fragments STATE LAN_NS WAN_NS LIMIT OUT
      with "encapsulated-ip-mtu LIMIT" on rampartd's outbound SA: large
      datagrams leave as ESP fragments of at most LIMIT bytes that scapy
      reassembles and decrypts; scapy's fragmented ESP (last fragment first)
      is reassembled by rampartd before decryption. OUT as for kernel.
  ipsec_wire.py kernel WAN_NS RTR_NS OUT
      NAT-T datagrams rampartd must hand to its kernel (RFC 3948 §2.2): an IKE
      message after the 4-byte zero non-ESP marker and a NAT keepalive (one
      0xFF byte), from the peer's port 61000 to 203.0.113.1:4500 and to
      [2001:db8:b::1]:4500. A UDP socket on port 4500 inside RTR_NS (rampartd's
      kernel, the TAP twins) must receive each, byte for byte. OUT: "ok" or
      "fail", then what was seen.
  ipsec_wire.py mismatch STATE LAN_NS WAN_NS OUT
      for a NAT-T SA pair over IPv4: an ESP echo request sent as plain ESP
      (no UDP) must not reach the host; the same request in UDP right after
      must (the SA was alive). The caller checks rampartd's
      esp_encapsulation_mismatch counter.
  ipsec_wire.py tshark STATE PCAP
      tshark decrypts PCAP with the SA pair in an esp_sa UAT; each frame must
      pass tshark's ICV check and decrypt to the inner packet scapy found.

The process runs in the root namespace and opens its sockets inside LAN_NS and
WAN_NS (setns), so one run does both sides without a second interpreter.

Scapy 2.5 limitations worked around here:
  * for ESP with an HMAC, scapy's AuthAlgo.sign/verify leave the ESN high half
    out of the ICV (only AH appends it). RFC 4303 §2.2.1/§3.3.2.1 says the ICV
    covers SPI | seq | IV | payload | padding | pad length | next header |
    seq-high; under ESN this script computes and checks that ICV itself with
    python3-cryptography's HMAC, and scapy only does the AES-CBC/NULL part.
  * scapy's _ESPPlain.padding after decrypt is taken from the wrong offset;
    the RFC 4303 padding (1, 2, 3, ...) is checked on the plaintext here.
  * with nat_t_header over IPv4, scapy's encrypt rebuilds the IP header
    before the ESP is attached and so freezes the UDP length at 8; over IPv6
    it leaves the UDP checksum 0, which RFC 8200 forbids. PeerSa.encrypt
    fixes both (UDP length recomputed, checksum 0 over IPv4, computed over IPv6).
"""
import ctypes
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
PACKET_OUTGOING = 4
CLONE_NEWNET = 0x40000000

MAC_HOST, MAC_PEER = "02:aa:00:00:00:0a", "02:cc:00:00:00:02"
MAC_PORT_LAN, MAC_PORT_WAN = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
HOST4, HOST6 = "198.51.100.10", "2001:db8:a::10"
REMOTE4, REMOTE6 = "192.0.2.55", "2001:db8:c::55"
NATT_PORT = 4500  # RFC 3948: rampartd's end of ESP in UDP
TUNNEL = {"4": ("203.0.113.1", "203.0.113.2"), "6": ("2001:db8:b::1", "2001:db8:b::2")}  # (rampartd, peer)

# name: rampartd cipher, cipher key bytes (AEAD: key + 4-byte salt), rampartd integrity, its key bytes,
#       scapy crypt_algo, scapy auth_algo, hash, ICV bytes, tshark encryption, tshark authentication
TRANSFORMS = {
    "aes-gcm-128": ("aes-gcm-128", 20, None, 0, "AES-GCM", None, None, 16,
                    "AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    "aes-gcm-256": ("aes-gcm-256", 36, None, 0, "AES-GCM", None, None, 16,
                    "AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    "chacha20-poly1305": ("chacha20-poly1305", 36, None, 0, "CHACHA20-POLY1305", None, None, 16, None, None),
    "aes-cbc-128+hmac-sha-256": ("aes-cbc-128", 16, "hmac-sha-256", 32, "AES-CBC", "SHA2-256-128", "sha256", 16,
                                 "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"),
    "aes-cbc-256+hmac-sha-384": ("aes-cbc-256", 32, "hmac-sha-384", 48, "AES-CBC", "SHA2-384-192", "sha384", 24,
                                 "AES-CBC [RFC3602]", "HMAC-SHA-384-192 [RFC4868]"),
    "aes-cbc-256+hmac-sha-512": ("aes-cbc-256", 32, "hmac-sha-512", 64, "AES-CBC", "SHA2-512-256", "sha512", 32,
                                 "AES-CBC [RFC3602]", "HMAC-SHA-512-256 [RFC4868]"),
    "null+hmac-sha-256": ("null", 0, "hmac-sha-256", 32, "NULL", "SHA2-256-128", "sha256", 16,
                          "NULL", "HMAC-SHA-256-128 [RFC4868]"),
}


# --- config ------------------------------------------------------------------
def cmd_config(transform, outer, esn, state_path, setup_path, teardown_path, natt="0"):
    cipher, ckey_len, integrity, ikey_len = TRANSFORMS[transform][:4]
    local, remote = TUNNEL[outer]
    tag = os.urandom(3).hex()
    state = {"transform": transform, "outer": outer, "esn": esn == "1", "natt": int(natt), "sas": {}}
    setup, teardown = [], []
    spis = set()
    for role, direction in (("out", "outbound"), ("in", "inbound")):
        spi = 0
        while spi < 0x1000 or spi in spis:
            spi = int.from_bytes(os.urandom(4), "big")
        spis.add(spi)
        name = f"{role}-{tag}"
        sa = {"name": name, "spi": spi, "ckey": os.urandom(ckey_len).hex(), "ikey": os.urandom(ikey_len).hex()}
        state["sas"][role] = sa
        ident = f"ipsec sa {name} {direction} spi {spi} tunnel {local} {remote}"
        setup.append(ident)
        setup.append(f"ipsec sa {name} encryption {cipher} key {sa['ckey']}" if ckey_len
                     else f"ipsec sa {name} encryption null")
        if integrity:
            setup.append(f"ipsec sa {name} integrity {integrity} key {sa['ikey']}")
        if state["esn"]:
            setup.append(f"ipsec sa {name} esn")
        if state["natt"]:
            setup.append(f"ipsec sa {name} nat-traversal" + (f" remote-port {state['natt']}"
                                                              if state["natt"] != NATT_PORT else ""))
        teardown.append("no " + ident)
    out, inn = state["sas"]["out"]["name"], state["sas"]["in"]["name"]
    policies = [f"ipsec policy 10 local 198.51.100.0/24 remote 192.0.2.0/24 protect {out} inbound {inn}",
                f"ipsec policy 20 local 2001:db8:a::/64 remote 2001:db8:c::/48 protect {out} inbound {inn}"]
    setup += policies
    teardown = ["no " + p for p in policies] + teardown
    with open(state_path, "w") as f:
        json.dump(state, f)
    with open(setup_path, "w") as f:
        f.write("\n".join(setup) + "\n")
    with open(teardown_path, "w") as f:
        f.write("\n".join(teardown) + "\n")
    return 0


# --- scapy's side of the SA pair -------------------------------------------------
def scapy_imports():
    global Ether, IP, IPv6, UDP, ICMP, ICMPv6EchoRequest, ICMPv6EchoReply, Raw, ESP, SecurityAssociation
    global IPSecIntegrityError, wrpcap, hmac, hashes
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import IP, UDP, ICMP
    from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest, ICMPv6EchoReply
    from scapy.layers.ipsec import ESP, SecurityAssociation, IPSecIntegrityError
    from scapy.packet import Raw
    from scapy.utils import wrpcap
    from cryptography.hazmat.primitives import hmac, hashes


class PeerSa:
    """One SA as the peer has it: scapy does the ESP, except the ESN ICV of an HMAC transform."""

    def __init__(self, state, role, natt=True):
        t = TRANSFORMS[state["transform"]]
        sa = state["sas"][role]
        self.spi, self.esn = sa["spi"], state["esn"]
        self.hash, self.icv_len = t[6], t[7]
        self.aead = t[6] is None
        self.ikey = bytes.fromhex(sa["ikey"])
        rampartd, peer = TUNNEL[state["outer"]]
        # role "out" is rampartd's outbound SA: the peer decrypts with it; "in": the peer encrypts.
        src, dst = (rampartd, peer) if role == "out" else (peer, rampartd)
        outer = IP(src=src, dst=dst) if state["outer"] == "4" else IPv6(src=src, dst=dst)
        self.own_icv = self.esn and not self.aead  # see the module docstring
        # NAT-T: the peer's port is P (state["natt"]), rampartd's 4500; natt=False: plain ESP regardless.
        self.natt = state.get("natt", 0) if natt else 0
        nat_t = None
        if self.natt:
            nat_t = UDP(sport=NATT_PORT, dport=self.natt) if role == "out" else UDP(sport=self.natt, dport=NATT_PORT)
        self.sa = SecurityAssociation(ESP, spi=self.spi, crypt_algo=t[4],
                                      crypt_key=bytes.fromhex(sa["ckey"]) if t[1] else None,
                                      auth_algo=None if self.own_icv else t[5],
                                      auth_key=None if self.own_icv else self.ikey,
                                      tunnel_header=outer, nat_t_header=nat_t, esn_en=self.esn, esn=0)
        self.crypt = self.sa.crypt_algo

    def _icv(self, esp_bytes):
        h = hmac.HMAC(self.ikey, {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                                  "sha512": hashes.SHA512()}[self.hash])
        h.update(esp_bytes + struct.pack("!L", 0))  # seq-high: 0, the first 2^32 packets
        return h.finalize()[:self.icv_len]

    def encrypt(self, inner, seq=None):
        p = self.sa.encrypt(inner, seq_num=seq)
        if self.own_icv:
            p[ESP].data += self._icv(bytes(p[ESP]))
        if self.own_icv or self.natt:
            p = p.__class__(bytes(fix_lengths(p)))
        return p

    def decrypt(self, outer):
        """(inner packet, trailer problems) or raises on a bad ICV."""
        esp = outer[ESP]
        raw_esp = bytes(esp)
        if self.own_icv:
            body, icv = raw_esp[:-self.icv_len], raw_esp[-self.icv_len:]
            if self._icv(body) != icv:
                raise IPSecIntegrityError("ICV (with the ESN high half) does not match")
            outer = outer.copy()
            outer[ESP].data = esp.data[:-self.icv_len]
            outer = outer.__class__(bytes(fix_lengths(outer)))
        inner = self.sa.decrypt(outer.copy())  # checks the ICV; scapy strips the ESP layer off its argument
        return inner, self.trailer_problems(outer)

    def trailer_problems(self, outer):
        """RFC 4303 §2.4: padding 1, 2, 3, ...; the payload ends on a 4-byte (CBC: 16-byte) boundary."""
        esp = outer[ESP]
        data = bytes(esp.data)
        icv = 0 if self.own_icv else self.icv_len  # own_icv: already stripped by decrypt()
        iv_len = self.crypt.iv_size
        iv, body = data[:iv_len], data[iv_len:len(data) - icv]
        if not self.crypt.cipher:
            plain = body
        elif self.aead:
            aad = struct.pack("!LLL", esp.spi, 0, esp.seq) if self.esn else struct.pack("!LL", esp.spi, esp.seq)
            plain = self.crypt.cipher(self.sa.crypt_key).decrypt(self.sa.crypt_salt + iv, data[iv_len:], aad)
        else:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
            d = Cipher(algorithms.AES(self.sa.crypt_key), modes.CBC(iv)).decryptor()
            plain = d.update(body) + d.finalize()
        padlen, nh = plain[-2], plain[-1]
        pad = plain[len(plain) - 2 - padlen:len(plain) - 2]
        problems = []
        if (8 + iv_len + len(plain)) % 4:
            problems.append(f"ESP header, IV, payload and trailer: {8 + iv_len + len(plain)} bytes, not a multiple of 4")
        if self.crypt.cipher and not self.aead and len(plain) % 16:
            problems.append(f"CBC ciphertext of {len(plain)} bytes is not a multiple of the block size")
        if pad != bytes(range(1, padlen + 1)):
            problems.append(f"padding {pad.hex()} is not 01 02 03 ... ({padlen} bytes)")
        if nh not in (4, 41):
            problems.append(f"next header {nh}, not 4 or 41")
        return problems


def fix_lengths(p):
    """Lengths and checksums recomputed; a UDP (NAT-T) checksum is 0 over IPv4, computed over IPv6."""
    if IP in p and not isinstance(p, IPv6):
        del p[IP].len
        del p[IP].chksum
    else:
        del p[IPv6].plen
    if UDP in p:
        del p[UDP].len
        if isinstance(p, IPv6):
            del p[UDP].chksum
        else:
            p[UDP].chksum = 0
    return p


# --- namespaces and sockets -------------------------------------------------------
libc = ctypes.CDLL(None, use_errno=True)


def in_namespace(ns, make):
    """make() with the calling thread inside network namespace ns, then back."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        return make()
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


def packet_socket(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((iface, 0))
    s.setblocking(False)
    return s


def drain(s):
    while True:
        try:
            s.recvfrom(65535)
        except BlockingIOError:
            return


def collect(socks, done, seconds):
    """Frames per socket as (pkttype, bytes) until done(frames) or the deadline."""
    frames = {name: [] for name in socks}
    deadline = time.monotonic() + seconds
    while not done(frames):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(socks.values()), [], [], min(left, 0.05))
        for name, s in socks.items():
            if s not in ready:
                continue
            while True:
                try:
                    data, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[0] == "eth0":
                    frames[name].append((addr[2], data))
    return frames


# --- helpers on packets -------------------------------------------------------------
def is_esp(data):
    """Plain ESP, or ESP in UDP from port 4500 (RFC 3948: not a zero non-ESP marker, not a keepalive)."""
    et = struct.unpack("!H", data[12:14])[0]
    if et == ETH_P_IP:
        proto, l4 = data[23], 14 + (data[14] & 0xf) * 4
    elif et == ETH_P_IPV6:
        proto, l4 = data[20], 54
    else:
        return False
    if proto == 50:
        return True
    return (proto == 17 and len(data) >= l4 + 16 and struct.unpack("!H", data[l4:l4 + 2])[0] == NATT_PORT
            and data[l4 + 8:l4 + 12] != bytes(4))


def with_ttl(ip_bytes, delta=-1):
    p = (IP if ip_bytes[0] >> 4 == 4 else IPv6)(ip_bytes)
    if isinstance(p, IPv6):
        p.hlim += delta
    else:
        p.ttl += delta
        del p.chksum
    return bytes(p)


def inner_ip(frame):
    """The IP packet of a LAN frame (Ethernet padding trimmed)."""
    p = Ether(frame)
    if IPv6 in p:
        return bytes(p[IPv6])[:40 + p[IPv6].plen]
    if IP in p:
        return bytes(p[IP])[:p[IP].len]
    return b""


def outer_problems(state, p, family_inner, inner_sent):
    """Ethernet and outer IP of a frame rampartd sent to the peer."""
    rampartd, peer = TUNNEL[state["outer"]]
    problems = []
    if (p[Ether].src, p[Ether].dst) != (MAC_PORT_WAN, MAC_PEER):
        problems.append(f"Ethernet {p[Ether].src} -> {p[Ether].dst}, expected {MAC_PORT_WAN} -> {MAC_PEER}")
    if state["outer"] == "4":
        o = p[IP]
        if (o.src, o.dst, o.ttl) != (rampartd, peer, 64):
            problems.append(f"outer IPv4 {o.src} -> {o.dst} TTL {o.ttl}, expected {rampartd} -> {peer} TTL 64")
        check = IP(bytes(o))
        del check.chksum
        if IP(bytes(check)).chksum != o.chksum:
            problems.append("outer IPv4 header checksum wrong")
        if o.flags.MF or o.frag:
            problems.append("outer IPv4 is a fragment")
    else:
        o = p[IPv6]
        if (o.src, o.dst, o.hlim) != (rampartd, peer, 64):
            problems.append(f"outer IPv6 {o.src} -> {o.dst} hop limit {o.hlim}, expected {rampartd} -> {peer} 64")
    # ESP in UDP 4500 -> P under NAT-T (RFC 3948 §2.1), plain ESP otherwise.
    proto = o.proto if state["outer"] == "4" else o.nh
    natt = state.get("natt", 0)
    if not natt:
        if proto != 50:
            problems.append(f"outer protocol {proto}, expected 50 (plain ESP: the SA has no NAT traversal)")
    elif proto != 17 or UDP not in p:
        problems.append(f"outer protocol {proto}, expected 17 (ESP in UDP, RFC 3948)")
    else:
        u = p[UDP]
        ip_payload = o.len - o.ihl * 4 if state["outer"] == "4" else o.plen
        if (u.sport, u.dport) != (NATT_PORT, natt):
            problems.append(f"UDP {u.sport} -> {u.dport}, expected {NATT_PORT} -> {natt}")
        if u.len != ip_payload:
            problems.append(f"UDP length {u.len}, the IP payload is {ip_payload} bytes")
        if state["outer"] == "4":
            if u.chksum != 0:
                problems.append(f"UDP checksum {u.chksum:#06x} over IPv4, expected 0 (RFC 3948 §2.1)")
        else:
            check = o.__class__(bytes(o))
            del check[UDP].chksum
            want = o.__class__(bytes(check))[UDP].chksum
            if u.chksum != want or u.chksum == 0:
                problems.append(f"UDP checksum {u.chksum:#06x} over IPv6, expected {want:#06x}")
    # DSCP and ECN copied from the inner header (RFC 4301 §5.1.2.1); DF too for IPv4 in IPv4.
    tos_in = inner_sent[1] if family_inner == 4 else ((inner_sent[0] & 0xf) << 4 | inner_sent[1] >> 4)
    tos_out = o.tos if state["outer"] == "4" else o.tc
    if tos_in != tos_out:
        problems.append(f"outer DSCP/ECN {tos_out:#04x}, inner {tos_in:#04x}")
    if state["outer"] == "4" and family_inner == 4:
        df_in = bool(inner_sent[6] & 0x40)
        if bool(o.flags.DF) != df_in:
            problems.append(f"outer DF {bool(o.flags.DF)}, inner DF {df_in}")
    return problems


# --- run -------------------------------------------------------------------------------
def cmd_run(state_path, lan_ns, wan_ns, outdir):
    scapy_imports()
    state = json.load(open(state_path))
    out_sa, in_sa = PeerSa(state, "out"), PeerSa(state, "in")
    other_esn = PeerSa(dict(state, esn=not state["esn"]), "out")
    spi_out = state["sas"]["out"]["spi"]
    tag = os.urandom(4).hex()

    def lan_sockets():
        raw = packet_socket("eth0")
        u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u4.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
        u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x2a)
        return raw, u4, u6

    lan, u4, u6 = in_namespace(lan_ns, lan_sockets)
    wan = in_namespace(wan_ns, lambda: packet_socket("eth0"))
    drain(lan)
    drain(wan)
    results = {}
    esp_frames = []

    def incoming_esp(frames):
        return [d for t, d in frames["wan"] if t != PACKET_OUTGOING and is_esp(d)]

    def udp_note(p):
        if not state.get("natt") or UDP not in p:
            return ""
        u = p[UDP]
        return f", ESP in UDP {u.sport} -> {u.dport} checksum {u.chksum:#06x}"

    def decrypt(frame, sa):
        p = Ether(frame)
        outer = p[IP] if state["outer"] == "4" else p[IPv6]
        if p[ESP].spi != sa.spi:
            raise ValueError(f"SPI {p[ESP].spi:#x}, expected {sa.spi:#x}")
        inner, trailer = sa.decrypt(outer.__class__(bytes(outer)))
        return p, inner, trailer

    # 1. out: the host's kernel sends; rampartd encrypts with its outbound SA.
    payload = {4: b"rampart-ipsec-out4-" + tag.encode() + bytes(range(20)),
               6: b"rampart-ipsec-out6-" + tag.encode() + bytes(range(20, 45))}
    u4.sendto(payload[4], (REMOTE4, 4001))
    u6.sendto(payload[6], (REMOTE6, 4001))

    def sent_by_host(frames):
        got = {}
        for t, d in frames["lan"]:
            if t != PACKET_OUTGOING:
                continue
            ip = inner_ip(d)
            for fam, pl in payload.items():
                if ip and pl in ip:
                    got[fam] = ip
        return got

    frames = collect({"lan": lan, "wan": wan},
                     lambda f: len(sent_by_host(f)) == 2 and len(incoming_esp(f)) >= 2, 3.0)
    sent = sent_by_host(frames)
    esp_out = incoming_esp(frames)
    esp_frames += incoming_esp(frames)
    decrypted = []  # (frame, inner bytes, seq, trailer problems) or error strings
    errors = []
    for d in esp_out:
        try:
            p, inner, trailer = decrypt(d, out_sa)
            # The ESN setting really is in effect: with the other one the ICV must fail.
            try:
                decrypt(d, other_esn)
                trailer = trailer + [f"the ICV also verifies with ESN {'off' if state['esn'] else 'on'}"]
            except IPSecIntegrityError:
                pass
            decrypted.append((p, bytes(inner), p[ESP].seq, trailer))
        except Exception as e:  # noqa: BLE001 — reported
            errors.append(f"frame {Ether(d).summary()}: {type(e).__name__}: {e}")
    for fam in (4, 6):
        lines, ok = [], True
        if fam not in sent:
            ok = False
            lines.append(f"the LAN host's IPv{fam} datagram was not seen leaving it")
        else:
            want = with_ttl(sent[fam])
            mine = [x for x in decrypted if payload[fam] in x[1]]
            if len(mine) != 1:
                ok = False
                lines.append(f"{len(mine)} ESP frame(s) decrypted to the IPv{fam} datagram, expected 1 "
                             f"({len(esp_out)} ESP frame(s) on the wan link)")
                lines += errors
            else:
                p, inner, seq, trailer = mine[0]
                if inner != want:
                    ok = False
                    lines.append(f"decrypted inner {inner.hex()}")
                    lines.append(f"expected (sent, TTL-1) {want.hex()}")
                problems = outer_problems(state, p, fam, sent[fam]) + trailer
                if seq not in (1, 2):
                    problems.append(f"sequence number {seq}: the SA's first two packets must be 1 and 2")
                ok &= not problems
                lines += problems
                i = (IP if fam == 4 else IPv6)(inner)
                lines.append(f"scapy decrypted SPI {spi_out:#010x} seq {seq}: {i.summary()} "
                             f"{'TTL' if fam == 4 else 'hop limit'} {i.ttl if fam == 4 else i.hlim} "
                             f"(sent {sent[fam][8] if fam == 4 else sent[fam][7]}), {len(p)}-byte frame"
                             + udp_note(p) + (": byte-exact" if ok else ""))
        results[f"out{fam}"] = (ok, lines)

    # 2. in: the peer encrypts echo requests with rampartd's inbound SA; the host answers.
    ping_id, ping_seq = int(tag[:4], 16), 7
    data = {4: b"rampart-ipsec-in4-" + tag.encode() + bytes(range(30)),
            6: b"rampart-ipsec-in6-" + tag.encode() + bytes(range(30, 60))}
    requests = {4: IP(src=REMOTE4, dst=HOST4, ttl=64, id=0x4321, tos=0x48) /
                ICMP(type=8, id=ping_id, seq=ping_seq) / Raw(data[4]),
                6: IPv6(src=REMOTE6, dst=HOST6, hlim=64, tc=0x48) /
                ICMPv6EchoRequest(id=ping_id, seq=ping_seq, data=data[6])}
    requests = {f: r.__class__(bytes(r)) for f, r in requests.items()}  # checksums filled in
    for fam in (4, 6):
        frame = bytes(Ether(src=MAC_PEER, dst=MAC_PORT_WAN) / in_sa.encrypt(requests[fam]))
        esp_frames.append(frame)  # a packet socket does not see what it sends itself
        wan.send(frame)

    def delivered(frames):
        got = {}
        for t, d in frames["lan"]:
            if t == PACKET_OUTGOING:
                continue
            for fam in (4, 6):
                if data[fam] in d:
                    got[fam] = d
        return got

    frames = collect({"lan": lan, "wan": wan},
                     lambda f: len(delivered(f)) == 2 and len(incoming_esp(f)) >= 2, 3.0)
    at_host = delivered(frames)
    esp_back = incoming_esp(frames)
    esp_frames += incoming_esp(frames)
    replies, errors = [], []
    for d in esp_back:
        try:
            p, inner, trailer = decrypt(d, out_sa)
            replies.append((p, bytes(inner), p[ESP].seq, trailer))
        except Exception as e:  # noqa: BLE001
            errors.append(f"frame {Ether(d).summary()}: {type(e).__name__}: {e}")
    for fam in (4, 6):
        lines, ok = [], True
        want_at_host = bytes(Ether(src=MAC_PORT_LAN, dst=MAC_HOST, type=ETH_P_IP if fam == 4 else ETH_P_IPV6)) + \
            with_ttl(bytes(requests[fam]))
        got = at_host.get(fam)
        if got is None:
            ok = False
            lines.append(f"the decrypted IPv{fam} echo request never reached the LAN host")
        elif got[:len(want_at_host)] != want_at_host or any(got[len(want_at_host):]):
            ok = False
            lines.append(f"at the host: {got.hex()}")
            lines.append(f"expected:    {want_at_host.hex()}")
        else:
            lines.append(f"at the LAN host byte-exact: {Ether(got).summary()}, "
                         f"{'TTL' if fam == 4 else 'hop limit'} 63")
        mine = [x for x in replies if data[fam] in x[1]]
        if len(mine) != 1:
            ok = False
            lines.append(f"{len(mine)} encrypted IPv{fam} echo repl(ies) decrypted, expected 1 "
                         f"({len(esp_back)} ESP frame(s) back on the wan link)")
            lines += errors
        else:
            p, inner, seq, trailer = mine[0]
            i = (IP if fam == 4 else IPv6)(inner)
            if fam == 4:
                r = i[ICMP] if ICMP in i else None
                seen = (i.src, i.dst, i.ttl, r.type if r else None, r.id if r else None, r.seq if r else None,
                        bytes(r.payload) if r else None)
                want = (HOST4, REMOTE4, 63, 0, ping_id, ping_seq, data[4])
            else:
                r = i[ICMPv6EchoReply] if ICMPv6EchoReply in i else None
                seen = (i.src, i.dst, i.hlim, 129 if r else None, r.id if r else None, r.seq if r else None,
                        bytes(r.data) if r else None)
                want = (HOST6, REMOTE6, 63, 129, ping_id, ping_seq, data[6])
            problems = outer_problems(state, p, fam, inner) + trailer
            if seen != want:
                problems.append(f"reply (src, dst, ttl, type, id, seq, data) {seen}, expected {want}")
            if seq not in (3, 4):
                problems.append(f"sequence number {seq}: the SA's third and fourth packets must be 3 and 4")
            ok &= not problems
            lines += problems
            lines.append(f"scapy decrypted the reply: SPI {spi_out:#010x} seq {seq}: {i.summary()} "
                         f"id {ping_id:#x} seq {ping_seq}" + udp_note(p))
        results[f"in{fam}"] = (ok, lines)

    wrpcap(os.path.join(outdir, "esp.pcap"), [Ether(d) for d in esp_frames])
    for name, (ok, lines) in results.items():
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            f.write(("ok" if ok else "fail") + "\n" + "\n".join(lines) + "\n")
    print(" ".join(f"{n}:{'ok' if ok else 'FAIL'}" for n, (ok, _) in results.items()))
    return 0


# --- NAT-T datagrams for the kernel; plain ESP for a NAT-T SA ---------------------------
def report(path, ok, lines):
    with open(path, "w") as f:
        f.write(("ok" if ok else "fail") + "\n" + "\n".join(lines) + "\n")
    print(("ok" if ok else "FAIL") + ": " + "; ".join(lines))
    return 0 if ok else 1


def cmd_kernel(wan_ns, rtr_ns, out_path):
    scapy_imports()
    peer_port = 61000
    tag = os.urandom(4)
    ike = bytes(4) + os.urandom(8) + bytes(8) + b"\x2e\x20\x23\x08" + struct.pack("!L", 0) + \
        struct.pack("!L", 28 + 12) + b"rampart-" + tag  # marker, an IKE_AUTH-like header, a body
    keepalive = b"\xff"

    def sockets():
        s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s4.bind(("0.0.0.0", NATT_PORT))
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s6.bind(("::", NATT_PORT))
        return s4, s6

    s4, s6 = in_namespace(rtr_ns, sockets)
    wan = in_namespace(wan_ns, lambda: packet_socket("eth0"))
    sent = []
    for fam in ("4", "6"):
        rampartd, peer = TUNNEL[fam]
        for what, payload in (("IKE (non-ESP marker)", ike), ("NAT keepalive", keepalive)):
            ip = IP(src=peer, dst=rampartd) if fam == "4" else IPv6(src=peer, dst=rampartd)
            frame = Ether(src=MAC_PEER, dst=MAC_PORT_WAN) / ip / UDP(sport=peer_port, dport=NATT_PORT) / Raw(payload)
            wan.send(bytes(frame))  # UDP checksums computed (the kernel checks them)
            sent.append((fam, what, payload))
    got = []
    deadline = time.monotonic() + 2.0
    while len(got) < len(sent) and time.monotonic() < deadline:
        ready, _, _ = select.select([s4, s6], [], [], 0.05)
        for s in ready:
            data, addr = s.recvfrom(65535)
            got.append(("4" if s is s4 else "6", data, addr[0], addr[1]))
    ok, lines = True, []
    for fam, what, payload in sent:
        peer = TUNNEL[fam][1]
        mine = [g for g in got if g[0] == fam and g[1] == payload]
        if len(mine) != 1 or (mine[0][2], mine[0][3]) != (peer, peer_port):
            ok = False
            lines.append(f"IPv{fam} {what}: {len(mine)} received by the kernel's UDP socket on port {NATT_PORT} "
                         f"(from {[(g[2], g[3]) for g in mine]}), expected 1 from {peer}:{peer_port}")
        else:
            lines.append(f"IPv{fam} {what}: the kernel's socket on {TUNNEL[fam][0]} port {NATT_PORT} got it "
                         f"from {peer}:{peer_port}, {len(payload)} bytes byte-exact")
    strays = [g for g in got if not any(g[0] == f and g[1] == pl for f, _, pl in sent)]
    if strays:
        ok = False
        lines.append(f"{len(strays)} unexpected datagram(s) on the kernel's port {NATT_PORT}")
    return report(out_path, ok, lines)


def cmd_mismatch(state_path, lan_ns, wan_ns, out_path):
    scapy_imports()
    state = json.load(open(state_path))
    assert state["natt"] and state["outer"] == "4"
    plain, natt = PeerSa(state, "in", natt=False), PeerSa(state, "in")
    lan = in_namespace(lan_ns, lambda: packet_socket("eth0"))
    wan = in_namespace(wan_ns, lambda: packet_socket("eth0"))
    drain(lan)
    tag = os.urandom(4).hex()
    ok, lines = True, []
    # Sequence numbers well above the exchange's (1, 2): fresh for the replay window.
    for seq, sa, what in ((100, plain, "plain ESP (IP protocol 50)"), (101, natt, f"ESP in UDP {state['natt']} -> 4500")):
        data = f"rampart-ipsec-encap-{seq}-{tag}".encode()
        req = IP(src=REMOTE4, dst=HOST4, ttl=64) / ICMP(type=8, id=0x4e41, seq=seq) / Raw(data)
        wan.send(bytes(Ether(src=MAC_PEER, dst=MAC_PORT_WAN) / sa.encrypt(req.__class__(bytes(req)), seq=seq)))
        frames = collect({"lan": lan}, lambda f: any(data in d for t, d in f["lan"] if t != PACKET_OUTGOING), 0.6)
        arrived = any(data in d for t, d in frames["lan"] if t != PACKET_OUTGOING)
        want = seq == 101
        if arrived != want:
            ok = False
        lines.append(f"{what} to the NAT-T SA, seq {seq}: {'reached' if arrived else 'did not reach'} the LAN host"
                     f"{'' if arrived == want else ' (expected the opposite)'}")
    return report(out_path, ok, lines)


# --- fragmentation after encryption and reassembly before decryption ------------------
def cmd_fragments(state_path, lan_ns, wan_ns, limit, out_path):
    """rampartd's outbound SA has encapsulated-ip-mtu LIMIT: a large datagram from the
    LAN host must leave as ESP fragments of at most LIMIT bytes that scapy reassembles
    and decrypts; the peer's large echo request, encrypted and then fragmented by
    scapy (sent last fragment first), must reach the host, and the host's large reply
    come back fragmented the same way."""
    scapy_imports()
    from scapy.layers.inet import fragment, defragment
    from scapy.layers.inet6 import IPv6ExtHdrFragment, fragment6, defragment6
    state = json.load(open(state_path))
    limit = int(limit)
    v6 = state["outer"] == "6"
    rampartd, peer = TUNNEL[state["outer"]]
    out_sa, in_sa = PeerSa(state, "out"), PeerSa(state, "in")
    tag = os.urandom(4).hex().encode()

    def lan_sockets():
        return (packet_socket("eth0"), socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))

    lan, u4, u6 = in_namespace(lan_ns, lan_sockets)
    wan = in_namespace(wan_ns, lambda: packet_socket("eth0"))
    drain(lan)
    drain(wan)
    ok, lines = True, []

    def is_fragment(d):
        p = Ether(d)
        if v6:
            return IPv6ExtHdrFragment in p
        return IP in p and (p[IP].flags.MF or p[IP].frag > 0)

    def reassemble(frames):
        """Decrypted inner packets of the ESP datagrams in `frames` (outer fragments), and problems."""
        pkts = [Ether(d) for t, d in frames if t != PACKET_OUTGOING and is_fragment(d)]
        problems = [f"a {len(p) - 14}-byte fragment exceeds encapsulated-ip-mtu {limit}" for p in pkts
                    if len(p) - 14 > limit]
        if v6:
            by_id = {}
            for p in pkts:
                by_id.setdefault(p[IPv6ExtHdrFragment].id, []).append(p[IPv6])
            whole = [defragment6(group) for group in by_id.values()]
        else:
            whole = [p for p in defragment([p[IP] for p in pkts]) if not (p.flags.MF or p.frag)]
        inners = []
        for w in whole:
            try:
                inner, trailer = out_sa.decrypt(w.__class__(bytes(w)))
                inners.append(bytes(inner))
                problems += trailer
            except Exception as e:  # noqa: BLE001 — reported
                problems.append(f"a reassembled datagram does not decrypt: {type(e).__name__}: {e}")
        return len(pkts), inners, problems

    # Out: 1400-byte UDP datagrams (IPv4 and IPv6 inside) from the host.
    payload = {4: b"rampart-frag-out4-" + tag + bytes(1400), 6: b"rampart-frag-out6-" + tag + bytes(1400)}
    u4.sendto(payload[4], (REMOTE4, 4002))
    u6.sendto(payload[6], (REMOTE6, 4002))
    frames = collect({"wan": wan}, lambda f: len(reassemble(f["wan"])[1]) >= 2, 3.0)
    n, inners, problems = reassemble(frames["wan"])
    for fam in (4, 6):
        found = [i for i in inners if payload[fam] in i]
        if len(found) != 1:
            ok = False
            lines.append(f"out: {len(found)} reassembled, decrypted IPv{fam} datagram(s) with the host's payload "
                         f"({n} fragments, {len(inners)} datagrams decrypted)")
    if not problems and ok:
        lines.append(f"out: {n} ESP fragments of at most {limit} bytes, reassembled by scapy, decrypt to the "
                     "host's IPv4 and IPv6 datagrams")
    ok &= not problems
    lines += problems

    # In: the peer's 1400-byte echo requests, ESP fragmented by scapy, last fragment first.
    ping_id = int(tag[:4], 16)
    data = {4: b"rampart-frag-in4-" + tag + os.urandom(1380), 6: b"rampart-frag-in6-" + tag + os.urandom(1380)}
    requests = {4: IP(src=REMOTE4, dst=HOST4, ttl=64) / ICMP(type=8, id=ping_id, seq=1) / Raw(data[4]),
                6: IPv6(src=REMOTE6, dst=HOST6, hlim=64) / ICMPv6EchoRequest(id=ping_id, seq=1, data=data[6])}
    for seq, fam in ((300, 4), (301, 6)):
        esp = in_sa.encrypt(requests[fam].__class__(bytes(requests[fam])), seq=seq)
        if v6:
            body = IPv6(src=peer, dst=rampartd, hlim=64) / IPv6ExtHdrFragment(nh=esp.nh, id=0x5150 + seq) / \
                Raw(bytes(esp.payload))
            pieces = fragment6(body, 800)
        else:
            pieces = fragment(IP(bytes(esp)), fragsize=600)
        for piece in reversed(pieces):
            wan.send(bytes(Ether(src=MAC_PEER, dst=MAC_PORT_WAN) / piece))

    def delivered(f):
        return {fam for fam in (4, 6) if any(data[fam][:40] in d for t, d in f["lan"] if t != PACKET_OUTGOING)}

    frames = collect({"lan": lan, "wan": wan},
                     lambda f: len(delivered(f)) == 2 and len(reassemble(f["wan"])[1]) >= 2, 3.0)
    got = delivered(frames)
    for fam in (4, 6):
        if fam not in got:
            ok = False
            lines.append(f"in: the fragmented ESP echo request (IPv{fam} inside) did not reach the host")
    n, inners, problems = reassemble(frames["wan"])
    for fam in (4, 6):
        if not any(data[fam] in i for i in inners):
            ok = False
            lines.append(f"in: no fragmented, encrypted IPv{fam} echo reply carrying the request's data "
                         f"({n} fragments, {len(inners)} datagrams decrypted)")
    ok &= not problems
    lines += problems
    if ok:
        lines.append("in: scapy's ESP fragments (reversed) reassembled by rampartd and decrypted to the host; "
                     "its 1400-byte replies came back as ESP fragments that decrypt")
    return report(out_path, ok, lines)


# --- tshark ----------------------------------------------------------------------------
def cmd_tshark(state_path, pcap):
    scapy_imports()
    from scapy.utils import rdpcap
    state = json.load(open(state_path))
    t = TRANSFORMS[state["transform"]]
    if t[8] is None:
        print(f"tshark 4.0 has no ESP decryption for {state['transform']}")
        return 1
    rampartd, peer = TUNNEL[state["outer"]]
    proto = "IPv4" if state["outer"] == "4" else "IPv6"
    opts = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]
    for role, (src, dst) in (("out", (rampartd, peer)), ("in", (peer, rampartd))):
        sa = state["sas"][role]
        ckey = "0x" + sa["ckey"] if sa["ckey"] else ""
        ikey = "0x" + sa["ikey"] if sa["ikey"] else ""
        opts += ["-o", f'uat:esp_sa:"{proto}","{src}","{dst}","{sa["spi"]:#010x}","{t[8]}","{ckey}","{t[9]}","{ikey}"']
    fields = ["esp.spi", "esp.sequence", "esp.icv_good", "esp.icv_bad", "esp.pad_len", "esp.protocol",
              "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "icmp.type", "icmpv6.type", "udp.dstport"]
    cmd = ["tshark", "-n", "-r", pcap, *opts, "-T", "fields", "-E", "separator=|", "-E", "occurrence=l"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        print(f"tshark failed ({r.returncode}): {r.stderr.strip()}")
        return 1
    rows = [line.split("|") for line in r.stdout.splitlines() if line.strip()]
    frames = list(rdpcap(pcap))
    if len(rows) != len(frames) or not frames:
        print(f"tshark dissected {len(rows)} frame(s), the capture has {len(frames)}")
        return 1
    sas = {state["sas"][role]["spi"]: PeerSa(state, role) for role in ("out", "in")}
    ok = True
    for i, (p, row) in enumerate(zip(frames, rows)):
        v = dict(zip(fields, row))
        spi = p[ESP].spi
        outer = p[IP] if state["outer"] == "4" else p[IPv6]
        inner, _ = sas[spi].decrypt(outer.__class__(bytes(outer)))
        fam = 4 if isinstance(inner, IP) else 6
        kind = (str(inner[ICMP].type) if ICMP in inner else "") if fam == 4 else \
            ("128" if ICMPv6EchoRequest in inner else "129" if ICMPv6EchoReply in inner else "")
        want = {"esp.spi": str(spi), "esp.sequence": str(p[ESP].seq), "esp.icv_good": "1",
                "esp.protocol": "4" if fam == 4 else "41",
                "ip.src" if fam == 4 else "ipv6.src": inner.src, "ip.dst" if fam == 4 else "ipv6.dst": inner.dst,
                "icmp.type" if fam == 4 else "icmpv6.type": kind,
                # occurrence=l: the inner UDP port, else the outer one (ESP in UDP)
                "udp.dstport": "4001" if UDP in inner else str(p[UDP].dport) if UDP in p else ""}
        got = dict(v)
        for k in ("esp.spi", "esp.protocol"):  # tshark prints these in hex
            if got[k]:
                got[k] = str(int(got[k], 0))
        bad = {k: (got.get(k), w) for k, w in want.items() if got.get(k) != w}
        who = "rampartd" if spi == state["sas"]["out"]["spi"] else "scapy"
        if bad:
            ok = False
            print(f"frame {i + 1} (from {who}): tshark disagrees (tshark, scapy): {bad}")
        else:
            print(f"frame {i + 1} (from {who}): tshark: SPI {spi:#010x} seq {v['esp.sequence']} ICV good, "
                  f"pad length {v['esp.pad_len']}, inner {want['ip.src' if fam == 4 else 'ipv6.src']} -> "
                  f"{want['ip.dst' if fam == 4 else 'ipv6.dst']}"
                  + (f" ICMP type {kind}" if kind else " UDP"))
    return 0 if ok else 1


def main(argv):
    cmds = {("config", 7): cmd_config, ("config", 8): cmd_config, ("run", 5): cmd_run, ("tshark", 3): cmd_tshark,
            ("kernel", 4): cmd_kernel, ("mismatch", 5): cmd_mismatch,
            ("fragments", 6): cmd_fragments}
    if len(argv) < 2 or (argv[1], len(argv) - 1) not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[(argv[1], len(argv) - 1)](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
