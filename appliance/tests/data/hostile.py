#!/usr/bin/env python3
"""Write one interleaved pcap of valid and adversarial traffic (both directions) for the
hostile-traffic e2e test; replayed on the appliance's client-side port.

usage: hostile.py OUT.pcap  -- prints JSON: indices of the valid frames, and expected counts.
Only test addresses (198.18.0.0/15) are used."""
import json, random, sys
from scapy.all import Ether, IP, TCP, UDP, Raw, wrpcap
from client_hello import hello

random.seed(5)
C, S = "02:00:00:00:00:01", "02:00:00:00:00:02"
CA, SA = "198.18.0.1", "198.18.0.2"
frames, valid = [], []
expect = {"malformed": 0}

def add(p, ok=False):
    if ok:
        valid.append(len(frames))
    frames.append(p)


def c2s(sp, dp, flags, seq, ack, data=b"", opts=None):
    return Ether(src=C, dst=S)/IP(src=CA, dst=SA)/TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, window=64240, options=opts or [])/Raw(data)
def s2c(sp, dp, flags, seq, ack, data=b"", opts=None):
    return Ether(src=S, dst=C)/IP(src=SA, dst=CA)/TCP(sport=dp, dport=sp, flags=flags, seq=seq, ack=ack, window=64240, options=opts or [])/Raw(data)

def handshake(sp, dp, ok):
    add(c2s(sp, dp, "S", 1000, 0, opts=[("MSS", 1460)]), ok)
    add(s2c(sp, dp, "SA", 5000, 1001, opts=[("MSS", 1460)]), ok)
    add(c2s(sp, dp, "A", 1001, 5001), ok)

def close(sp, dp, cseq, sseq, ok):
    add(c2s(sp, dp, "FA", cseq, sseq), ok)
    add(s2c(sp, dp, "FA", sseq, cseq + 1), ok)
    add(c2s(sp, dp, "A", cseq + 1, sseq + 1), ok)

# Valid TLS sessions with one-segment ClientHellos, and plain TCP on port 80.
for i in range(5):
    sp = 30000 + i
    h = hello(f"valid{i}.test")
    handshake(sp, 443, True)
    add(c2s(sp, 443, "PA", 1001, 5001, h), True)
    add(s2c(sp, 443, "A", 5001, 1001 + len(h)), True)
    close(sp, 443, 1001 + len(h), 5001, True)
for i in range(5):
    sp = 31000 + i
    handshake(sp, 80, True)
    add(c2s(sp, 80, "PA", 1001, 5001, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), True)
    close(sp, 80, 1001 + 27, 5001, True)
for i in range(5):
    add(Ether(src=C, dst=S)/IP(src=CA, dst=SA)/UDP(sport=5353, dport=53)/Raw(b"q" * 30), True)

# Malformed frames: truncated at every offset, IHL < 5, data offset < 5 or past the end,
# option lengths 0 / 1 / overrunning.
syn = bytes(c2s(32000, 443, "S", 1, 0, opts=[("MSS", 1460), ("NOP", None), ("WScale", 7)]))
for cut in range(14, len(syn)):
    add(Ether(syn[:cut])); expect["malformed"] += 1
for pos, val in [(14, 0x43), (46, 0x30), (46, 0xf0), (55, 0), (55, 1), (55, 40)]:
    b = bytearray(syn); b[pos] = val; add(Ether(bytes(b))); expect["malformed"] += 1

# TLS sessions with hostile record/handshake lengths, non-TLS and SSLv2 on 443.
tls_cases = {
    "record_len_0": bytes([0x16, 3, 1, 0, 0]) + b"\x01",
    "handshake_len_max": bytes([0x16, 3, 1, 0, 9, 1, 0xff, 0xff, 0xff]) + b"\x03\x03\x00\x00\x00",
    "hello_beyond_max_bytes": bytes([0x16, 3, 1, 0x40, 0, 1, 0x00, 0x4e, 0x20]) + b"\x00" * 1000,
    "non_tls": b"GET / HTTP/1.1\r\n\r\n",
    "sslv2": bytes([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15]),
}
for i, (name, data) in enumerate(tls_cases.items()):
    sp = 33000 + i
    handshake(sp, 443, False)
    add(c2s(sp, 443, "PA", 1001, 5001, data))
    close(sp, 443, 1001 + len(data), 5001, False)

# Overlapping ClientHello segments with different contents (an evasion attempt).
h = hello("overlap.test")
sp = 34000
handshake(sp, 443, False)
half = len(h) // 2
add(c2s(sp, 443, "PA", 1001, 5001, h[:half]))
evil = bytes(b ^ 0xff for b in h[half - 50:half + 50])
add(c2s(sp, 443, "PA", 1001 + half - 50, 5001, evil))
add(c2s(sp, 443, "PA", 1001 + half, 5001, h[half:]))

# A spoofed RST with a wrong sequence number on a valid session, which then closes normally.
sp = 35000
handshake(sp, 80, True)
add(c2s(sp, 80, "R", 1001 + 10_000_000, 0), True)
add(c2s(sp, 80, "PA", 1001, 5001, b"still alive"), True)
close(sp, 80, 1012, 5001, True)

# A SYN flood, with and without MSS.
for i in range(300):
    opts = [("MSS", 1460)] if i % 2 else []
    add(Ether(src=C, dst=S)/IP(src=f"198.18.{100 + i // 250}.{i % 250 + 1}", dst=SA)/TCP(sport=40000 + i, dport=443, flags="S", seq=random.getrandbits(32), options=opts))

wrpcap(sys.argv[1], frames, linktype=1)
expect.update({"valid": valid, "frames": len(frames), "syn_flood": 300})
print(json.dumps(expect))
