#!/usr/bin/env python3
"""Builds chrome143-like-mlkem.bin: a hand-made ClientHello shaped like Chrome 143's.

The cipher list, extension order and signature algorithms are those of the Chrome 143
ClientHello whose JA4 values browserleaks.com published (JA4 t13d1516h2_8daaf6152771_d8a2da3f94cd,
JA4_o t13d1516h2_acb858a92679_f96a17c57971, JA3 groups 4588-29-23-24), plus GREASE values where
Chrome puts them. Key material, randoms and the ECH payload are fixed filler bytes, not real keys.
Deterministic: running it again gives the same bytes.
"""
import struct, sys

def u8(v): return struct.pack("!B", v)
def u16(v): return struct.pack("!H", v)
def u24(v): return struct.pack("!I", v)[1:]
def vec8(b): return u8(len(b)) + b
def vec16(b): return u16(len(b)) + b
def ext(t, body): return u16(t) + vec16(body)

G1, G2, G3, G4, G5 = 0x2a2a, 0x8a8a, 0x3a3a, 0xdada, 0x5a5a   # GREASE values (RFC 8701)
ciphers = [G1, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
           0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035]
sigalgs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
sni = b"www.example.com"
mlkem_share = bytes((i * 7 + 3) & 0xff for i in range(1184 + 32))   # X25519MLKEM768: 1216 bytes
x25519_share = bytes((i * 13 + 1) & 0xff for i in range(32))

exts = b"".join([
    ext(G2, b""),                                                     # GREASE
    ext(0x002d, vec8(b"\x01")),                                       # psk_key_exchange_modes: psk_dhe_ke
    ext(0x0033, vec16(u16(G3) + vec16(b"\x00")                        # key_share: GREASE,
                      + u16(0x11ec) + vec16(mlkem_share)              #   X25519MLKEM768,
                      + u16(0x001d) + vec16(x25519_share))),          #   x25519
    ext(0x0010, vec16(vec8(b"h2") + vec8(b"http/1.1"))),              # ALPN
    ext(0xfe0d, u8(0) + u16(0x0001) + u16(0x0001) + u8(0x42)          # ECH outer: HKDF-SHA256, AES-128-GCM
                + vec16(bytes(range(32))) + vec16(bytes(range(208)))),#   enc, payload (filler)
    ext(0x0017, b""),                                                 # extended_master_secret
    ext(0x44cd, vec16(vec8(b"h2"))),                                  # application_settings (ALPS, new codepoint)
    ext(0x0000, vec16(u8(0) + vec16(sni))),                           # server_name
    ext(0x000b, vec8(b"\x00")),                                       # ec_point_formats
    ext(0x000a, vec16(u16(G4) + u16(0x11ec) + u16(0x001d) + u16(0x0017) + u16(0x0018))),  # supported_groups
    ext(0x002b, vec8(u16(G5) + u16(0x0304) + u16(0x0303))),           # supported_versions
    ext(0xff01, b"\x00"),                                             # renegotiation_info
    ext(0x0023, b""),                                                 # session_ticket (empty)
    ext(0x0012, b""),                                                 # signed_certificate_timestamp
    ext(0x0005, b"\x01\x00\x00\x00\x00"),                             # status_request (OCSP)
    ext(0x000d, vec16(b"".join(u16(s) for s in sigalgs))),            # signature_algorithms
    ext(0x001b, vec8(u16(0x0002))),                                   # compress_certificate: brotli
    ext(G1, b"\x00"),                                                 # GREASE (last, 1 byte)
])
body = (u16(0x0303) + bytes(range(0x40, 0x60)) + vec8(bytes(range(0x80, 0xa0)))
        + vec16(b"".join(u16(c) for c in ciphers)) + vec8(b"\x00") + vec16(exts))
hs = u8(1) + u24(len(body)) + body
record = u8(22) + u16(0x0301) + vec16(hs)
open(sys.argv[1] if len(sys.argv) > 1 else "chrome143-like-mlkem.bin", "wb").write(record)
print(len(hs), "handshake bytes")
