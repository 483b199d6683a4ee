#!/usr/bin/env python3
"""Synthetic full BGP table as MRT TABLE_DUMP_V2 (RFC 6396), for scripts/bgp-bench.

Deterministic from --seed. One collector peer, one RIB entry per prefix, the
shapes of a real table from one full-feed peer:
  * prefix lengths: IPv4 mostly /24, then /22, /23, /21, /20, /16 ... (the
    CIDR report / RIPE RIS length histograms of 2024, rounded); IPv6 mostly
    /48, then /32, /44, /40, /36, /29 ...
  * origin ASes: Zipf-distributed (a few ASes originate thousands of
    prefixes, most originate a handful), about one origin AS per 13 prefixes
    (≈75,000 origins for 1,000,000 prefixes as in the real table);
  * AS paths of 1..10 ASes (mode 4-5), an origin's prefixes spread over about
    one attribute set per three prefixes (paths and communities differ), so
    prefixes share attribute sets as in real tables (≈2.5 prefixes per set:
    the UPDATE packing a speaker sees);
  * ORIGIN mostly IGP, some INCOMPLETE; communities on a third of the sets.
Addresses avoid the special-purpose ranges (RFC 6890) and so the lab's own
documentation prefixes. The probe prefixes (the last IPv4 and IPv6 prefix of
the file) are printed on stdout as JSON with the counts, for the benchmark.

usage: bgp_bench_table.py --prefixes N --v6 N [--seed S] OUT.mrt
"""
import argparse
import bisect
import ipaddress
import json
import random
import struct
import sys

# Share of each prefix length (percent; normalised below).
V4_LENGTHS = {8: 0.002, 9: 0.002, 10: 0.004, 11: 0.01, 12: 0.03, 13: 0.06, 14: 0.12, 15: 0.2, 16: 1.3,
              17: 0.7, 18: 1.2, 19: 2.5, 20: 4.0, 21: 4.5, 22: 11.0, 23: 10.0, 24: 60.0}
V6_LENGTHS = {28: 0.3, 29: 3.0, 30: 0.3, 31: 0.2, 32: 12.0, 33: 0.8, 34: 0.9, 35: 0.6, 36: 3.0, 37: 0.3,
              38: 0.8, 39: 0.4, 40: 6.0, 41: 0.4, 42: 1.2, 43: 0.4, 44: 8.0, 45: 1.0, 46: 2.0, 47: 2.0,
              48: 45.0}
# Where the addresses come from: IPv4 unicast minus special purpose, IPv6 2000::/3.
V4_RESERVED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3")]
V6_RESERVED = [ipaddress.ip_network(n) for n in ("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")]
TAIL_PADDING = 4096  # records repeated at the end, see main()
PATH_LENGTHS = {1: 2, 2: 9, 3: 20, 4: 26, 5: 20, 6: 11, 7: 6, 8: 3, 9: 2, 10: 1}  # percent

MRT_TABLE_DUMP_V2, PEER_INDEX_TABLE, RIB_IPV4_UNICAST, RIB_IPV6_UNICAST = 13, 1, 2, 4
PEER_AS, PEER_V4, PEER_V6, PEER_ID = 65010, "192.0.2.254", "2001:db8::fe", "192.0.2.254"
TIMESTAMP = 1765152000  # fixed: the file is byte-identical for a seed


def weighted(rng, table):
    keys, weights = list(table), list(table.values())
    return lambda k: rng.choices(keys, weights, k=k)


def reserved_overlap(first, last, reserved):
    return any(first <= r_last and r_first <= last for r_first, r_last in reserved)


def make_prefixes(rng, count, lengths, bits, base, span_bits, reserved):
    """`count` distinct prefixes, lengths by the histogram, inside base/(bits-span_bits)."""
    out, seen = [], set()
    draw = weighted(rng, lengths)
    reserved = [(int(r.network_address), int(r.broadcast_address)) for r in reserved]
    while len(out) < count:
        for length in draw(min(65536, 2 * (count - len(out)) + 16)):
            host = rng.getrandbits(span_bits)
            addr = (base | host) & ~((1 << (bits - length)) - 1) & ((1 << bits) - 1)
            key = (addr, length)
            if key in seen:
                continue
            if reserved_overlap(addr, addr | ((1 << (bits - length)) - 1), reserved):
                continue
            seen.add(key)
            out.append(key)
            if len(out) == count:
                break
    out.sort()
    return out


def asn_of(rank):
    """Origin/transit ASNs: public 16- and 32-bit ranges, never the lab's 64496-65535."""
    return 1000 + (rank * 7919) % 60000 if rank % 3 else 131072 + (rank * 104729) % 270000


class AttributeSets:
    """Origin AS (Zipf) -> 1..3 AS paths; each (origin, variant) one shared attribute blob."""

    def __init__(self, rng, prefixes_total):
        self.rng = rng
        self.origins = max(10, prefixes_total // 13)
        # Zipf(s=1.05) over the origin ranks, by inverse CDF on the cumulative weights.
        cumulative, total = [], 0.0
        for r in range(1, self.origins + 1):
            total += r ** -1.05
            cumulative.append(total)
        self.cumulative, self.total = cumulative, total
        self.transit = [asn_of(r) for r in range(1, 400)]  # tier-1/2 ASes appear on most paths
        self.prefixes_total = prefixes_total
        self.cache = {}

    def pick(self):
        rank = bisect.bisect_left(self.cumulative, self.rng.random() * self.total)
        # a big origin's prefixes differ in communities and paths: about one
        # set per three of its prefixes, so ≈2.5 prefixes per set overall
        expected = self.prefixes_total * (rank + 1) ** -1.05 / self.total
        variant = self.rng.randrange(1 + int(expected / 3))
        key = (rank, variant)
        if key not in self.cache:
            self.cache[key] = self.build(rank, variant)
        return self.cache[key]

    def build(self, rank, variant):
        r = random.Random(rank * 1000003 + variant)  # per set, so the set is the same whatever the order
        length = r.choices(list(PATH_LENGTHS), list(PATH_LENGTHS.values()))[0]
        origin = asn_of(self.origins + rank)
        path = [self.transit[r.randrange(len(self.transit))] for _ in range(length - 1)] + [origin]
        # consecutive duplicates (prepending) are fine; a loop is not
        cleaned = []
        for a in path:
            if a in cleaned and cleaned[-1] != a:
                continue
            cleaned.append(a)
        if r.random() < 0.05:  # some prepending on the origin
            cleaned += [origin] * r.randint(1, 3)
        attrs = attr(0x40, 1, bytes([2 if r.random() < 0.04 else 0]))  # ORIGIN: IGP or INCOMPLETE
        attrs += attr(0x40, 2, bytes([2, len(cleaned)]) + b"".join(struct.pack("!I", a) for a in cleaned))
        if r.random() < 0.33:
            comms = [(cleaned[0] & 0xFFFF) << 16 | r.randrange(65536) for _ in range(r.randint(1, 4))]
            attrs += attr(0xC0, 8, b"".join(struct.pack("!I", c) for c in comms))
        return attrs


def attr(flags, code, value):
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def mrt(subtype, body):
    return struct.pack("!IHHI", TIMESTAMP, MRT_TABLE_DUMP_V2, subtype, len(body)) + body


def prefix_bytes(addr, length, bits):
    n = (length + 7) // 8
    return bytes([length]) + addr.to_bytes(bits // 8, "big")[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefixes", type=int, default=20000, help="IPv4 prefixes")
    ap.add_argument("--v6", type=int, default=4000, help="IPv6 prefixes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    v4 = make_prefixes(rng, a.prefixes, V4_LENGTHS, 32, 0, 8 + 24, V4_RESERVED) if a.prefixes else []
    v6 = make_prefixes(rng, a.v6, V6_LENGTHS, 128, 0x2 << 124, 128 - 3, V6_RESERVED) if a.v6 else []
    sets = AttributeSets(rng, a.prefixes + a.v6)

    with open(a.out, "wb") as f:
        peers = struct.pack("!I", int(ipaddress.IPv4Address(PEER_ID)))
        peers += struct.pack("!H", 0) + struct.pack("!H", 1)  # no view name; one peer
        # peer type 0x02: IPv4 address, 4-byte AS
        peers += bytes([0x02]) + ipaddress.IPv4Address(PEER_ID).packed + ipaddress.IPv4Address(PEER_V4).packed
        peers += struct.pack("!I", PEER_AS)
        f.write(mrt(PEER_INDEX_TABLE, peers))
        nh4 = attr(0x40, 3, ipaddress.IPv4Address(PEER_V4).packed)
        # RFC 6396 4.3.4 abbreviates MP_REACH_NLRI to the next hop, but GoBGP's
        # reader (3.10) parses the full form only: AFI, SAFI, next hop, no NLRI.
        nh6 = attr(0x80, 14, struct.pack("!HBB", 2, 1, 16) + ipaddress.IPv6Address(PEER_V6).packed + b"\0")
        seq = 0
        head = []  # the first records again at the end (below)
        for family, prefixes, bits, subtype, nh in ((4, v4, 32, RIB_IPV4_UNICAST, nh4),
                                                    (6, v6, 128, RIB_IPV6_UNICAST, nh6)):
            chunk = []
            for addr, length in prefixes:
                attrs = sets.pick() + nh
                body = struct.pack("!I", seq) + prefix_bytes(addr, length, bits) + struct.pack("!H", 1)
                body += struct.pack("!HIH", 0, TIMESTAMP, len(attrs)) + attrs
                chunk.append(mrt(subtype, body))
                if len(head) < TAIL_PADDING:
                    head.append((subtype, body))
                seq += 1
                if len(chunk) == 4096:
                    f.write(b"".join(chunk))
                    chunk = []
            f.write(b"".join(chunk))
        # `gobgp mrt inject` (3.10) loses the last few dozen paths of a file
        # (its last batch is not flushed): end with a copy of the first
        # records, so what it loses re-announces routes it already has.
        for subtype, body in head:
            f.write(mrt(subtype, struct.pack("!I", seq) + body[4:]))
            seq += 1

    def probe(prefixes, cls):
        if not prefixes:
            return None
        addr, length = prefixes[-1]
        return str(cls((addr, length)))

    json.dump({"ipv4": len(v4), "ipv6": len(v6), "attribute_sets": len(sets.cache),
               "origins_used": len({k[0] for k in sets.cache}),
               "probe_v4": probe(v4, ipaddress.IPv4Network), "probe_v6": probe(v6, ipaddress.IPv6Network),
               "seed": a.seed}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
