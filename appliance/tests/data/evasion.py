#!/usr/bin/env python3
"""Adversarial evasion suite against the accumulation proxy (run inside acp-client, as root).

  evasion.py --family v4|v6 [--server-log PATH] [--only NAME[,NAME]] [--wait SECS]

For each technique: a TCP handshake by hand (scapy, sent at layer 2 so that netfilter and the
kernel's IP stack do not touch the crafted frames), the attack's segments, then a wait for the
server's answer. One JSON line per technique:

  name, class, family, denied_delivered, server_answered, server_snis,
  allowed_control_ok (null when no control run), control_expected, note

denied_delivered is true when the server received a ClientHello carrying the denied SNI
(`x.blocked.test`): seen in the s_server log (`Hostname in TLS extension: "..."`, s_server run
with -servername so that it prints every SNI it parses), or, without a log, a ServerHello
echoing the session id of the denied hello. Techniques run one connection at a time because
s_server serves one connection at a time; each connection is reset at the end.

The kernel's own RSTs for the test's source ports are dropped by an iptables/ip6tables rule
added here and removed on exit. Only test addresses (198.18.0.0/15, 2001:2::/48) are used."""
import argparse, json, os, random, subprocess, sys, threading, time

from scapy.all import (Ether, IP, IPv6, IPv6ExtHdrFragment, TCP, Raw, AsyncSniffer, conf,
                       get_if_hwaddr, raw)
from client_hello import hello

conf.verb = 0
IFACE = "eth0"
ADDR = {"v4": ("198.18.0.1", "198.18.0.2"), "v6": ("2001:2::1", "2001:2::2")}
PORT = 443
DENIED, DENIED_TWIN = "x.blocked.test", "x.allowed.test"   # same length: byte-for-byte twins
ALLOWED, ALLOWED_TWIN = "ok.allowed.test", "zz.allowed.test"
SPORT_LO, SPORT_HI = 40000, 44999

# ---------------------------------------------------------------------------------------------
# ClientHellos




def session_id(h):
    n = h[43]
    return h[44:44 + n]


def sni_span(h, sni):
    """(start, end) of the server_name extension (type .. last name byte) in a hello record."""
    i = h.index(sni.encode())
    return i - 9, i + len(sni)


def exts_offset(h):
    p = 5 + 4 + 2 + 32
    p += 1 + h[p]
    p += 2 + int.from_bytes(h[p:p + 2], "big")
    p += 1 + h[p]
    return p  # the 2-byte extensions length


def insert_exts(h, blob):
    """Insert raw extension bytes at the front of the extension list, fixing every length."""
    p = exts_offset(h)
    el = int.from_bytes(h[p:p + 2], "big") + len(blob)
    body = h[9:p] + el.to_bytes(2, "big") + blob + h[p + 2:]
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return h[:3] + len(hs).to_bytes(2, "big") + hs


def multi_record(h, size):
    hs = h[5:]
    out = b""
    for i in range(0, len(hs), size):
        c = hs[i:i + size]
        out += h[:3] + len(c).to_bytes(2, "big") + c
    return out


class Hellos:
    """The hello the attacker wants delivered (`real`) and an allowed decoy twin that differs
    only in the SNI bytes (same length, same session id)."""

    def __init__(self, sni, twin):
        self.sni, self.twin_sni = sni, twin
        self.real = hello(sni)
        self.decoy = self.real.replace(sni.encode(), twin.encode())
        assert len(self.decoy) == len(self.real)
        self.span = sni_span(self.real, sni)


# ---------------------------------------------------------------------------------------------
# Raw TCP


class Net:
    def __init__(self, family):
        self.family = family
        self.src, self.dst = ADDR[family]
        self.smac = get_if_hwaddr(IFACE)
        self.dmac = self.resolve()
        self.sock = conf.L2socket(iface=IFACE)
        self.lock = threading.Lock()
        self.rx = {}  # dport -> [TCP packets from the server]
        flt = f"{'ip' if family == 'v4' else 'ip6'} and tcp and src port {PORT}"
        self.sniffer = AsyncSniffer(iface=IFACE, filter=flt, prn=self.on_rx, store=False)
        self.sniffer.start()
        time.sleep(0.5)

    def resolve(self):
        ping = "ping" if self.family == "v4" else "ping -6"
        for _ in range(10):
            subprocess.run(f"{ping} -c1 -W1 {self.dst}", shell=True, capture_output=True)
            o = subprocess.run(["ip", "neigh", "show", self.dst], capture_output=True, text=True).stdout
            w = o.split()
            if "lladdr" in w:
                return w[w.index("lladdr") + 1]
            time.sleep(0.3)
        raise SystemExit(f"cannot resolve the MAC of {self.dst} (is the appliance running?)")

    def on_rx(self, p):
        if TCP in p:
            with self.lock:
                self.rx.setdefault(p[TCP].dport, []).append(p)

    def got(self, sport):
        with self.lock:
            return list(self.rx.get(sport, []))

    def ip(self, **kw):
        if self.family == "v4":
            ttl = kw.pop("ttl", 64)
            return IP(src=self.src, dst=self.dst, ttl=ttl, **kw)
        hl = kw.pop("ttl", 64)
        kw.pop("id", None)
        return IPv6(src=self.src, dst=self.dst, hlim=hl, **kw)

    def send(self, pkts):
        for p in pkts if isinstance(pkts, list) else [pkts]:
            if isinstance(p, (bytes, bytearray)):
                p = Ether(src=self.smac, dst=self.dmac) / Raw(bytes(p))
            elif not p.haslayer(Ether):
                p = Ether(src=self.smac, dst=self.dmac) / p
            self.sock.send(p)


def badsum(pkt):
    """The packet with a TCP checksum that is wrong (two bits flipped)."""
    p = pkt.copy()
    p[TCP].chksum = None
    c = p.__class__(raw(p))[TCP].chksum
    p[TCP].chksum = c ^ 0x0101
    return p


class Conn:
    next_port = None

    def __init__(self, net, tfo_data=None, syn_opts=None):
        self.net = net
        self.sport = Conn.next_port
        Conn.next_port += 1
        self.isn = random.randrange(1 << 31)
        self.srv = None
        self.ok = False
        self.tfo_data = tfo_data
        opts = syn_opts if syn_opts is not None else [("MSS", 1460)]
        syn = net.ip() / TCP(sport=self.sport, dport=PORT, flags="S", seq=self.isn, window=64240,
                              options=opts)
        if tfo_data is not None:
            syn = syn / Raw(tfo_data)
        net.send(syn)
        deadline = time.time() + 2
        while time.time() < deadline:
            for p in net.got(self.sport):
                if p[TCP].flags & 0x12 == 0x12:
                    self.srv = p[TCP].seq
                    self.syn_acked = p[TCP].ack
                    break
            if self.srv is not None:
                break
            time.sleep(0.01)
        if self.srv is None:
            return
        self.ok = True
        self.data_base = self.isn + 1 + (len(tfo_data) if tfo_data else 0)
        if tfo_data is not None and self.syn_acked == self.isn + 1:
            self.data_base = self.isn + 1  # data in SYN not accepted: it must be resent
        net.send(self.seg(0, b"", flags="A"))

    def seg(self, off, data, flags="PA", seq=None, ack=None, ip=None, **tcp):
        ipkw = dict(ip or {})
        s = self.data_base + off if seq is None else seq
        a = (self.srv + 1) if ack is None else ack
        t = TCP(sport=self.sport, dport=PORT, flags=flags, seq=s & 0xFFFFFFFF,
                ack=a & 0xFFFFFFFF, window=64240, **tcp)
        p = self.net.ip(**ipkw) / t
        if data:
            p = p / Raw(data)
        return p

    def server_stream(self):
        """Bytes the server sent, reassembled from its ISN (first copy of each byte wins)."""
        if self.srv is None:
            return b""
        buf = {}
        for p in self.net.got(self.sport):
            pl = bytes(p[TCP].payload)
            if not pl or p[TCP].flags & 0x04:
                continue
            off = (p[TCP].seq - self.srv - 1) & 0xFFFFFFFF
            if off > 1 << 20:
                continue
            for i, b in enumerate(pl):
                buf.setdefault(off + i, b)
        out = bytearray()
        while len(out) in buf:
            out.append(buf[len(out)])
        return bytes(out)

    def server_hello(self):
        s = self.server_stream()
        if len(s) >= 44 and s[0] == 0x16 and s[1] == 0x03 and s[5] == 0x02:
            n = s[43]
            return s[44:44 + n] if len(s) >= 44 + n else b""
        return None

    def reset_seen(self):
        return any(p[TCP].flags & 0x04 for p in self.net.got(self.sport))

    def close(self, extra_seqs=()):
        """Reset the connection on the server (s_server serves one connection at a time): RST
        at every plausible rcv_nxt, then at what the server's (challenge) ACKs say."""
        if self.srv is None:
            return
        seen = set()
        cands = [self.data_base + x for x in extra_seqs] + [self.data_base, self.isn + 1]
        for p in self.net.got(self.sport):
            cands.append(p[TCP].ack)
        for round_ in range(2):
            for s in cands:
                s &= 0xFFFFFFFF
                if s in seen:
                    continue
                seen.add(s)
                self.net.send(self.net.ip() / TCP(sport=self.sport, dport=PORT, flags="R", seq=s))
            time.sleep(0.05)
            cands = [p[TCP].ack for p in self.net.got(self.sport)]


# ---------------------------------------------------------------------------------------------
# Techniques: each takes (net, Hellos) and returns the list of connections it used (all
# already sent). `ends` lists, per connection, the stream length to reset at.

TECHS = []


def tech(name, cls, control=True, families=("v4", "v6"), note="", refused=False):
    """`refused`: the appliance drops the attack's SYN by design (fail closed), so its TCP
    handshake is expected to fail."""
    def reg(f):
        TECHS.append(dict(name=name, cls=cls, control=control, families=families, fn=f, note=note,
                          refused=refused))
        return f
    return reg


def decoy_then_real(net, H, mutate, decoy_first=True):
    c = Conn(net)
    if not c.ok:
        return [c]
    d = mutate(c, c.seg(0, H.decoy))
    r = c.seg(0, H.real)
    c.net.send([d, r] if decoy_first else [r, d])
    return [c]


def mk_decoy(name, mutate, control=True, note="", decoy_first=True, families=("v4", "v6")):
    tech(name, "decoy", control, families, note)(
        lambda net, H: decoy_then_real(net, H, mutate, decoy_first))


def m_badsum(c, p):
    return badsum(p)


def m_ttl1(c, p):
    return c.seg(0, bytes(p[TCP].payload), ip={"ttl": 1})


def m_doff(c, p):
    p = p.copy()
    p[TCP].dataofs = 4
    p[TCP].chksum = None
    return p


def m_noack(c, p):
    return c.seg(0, bytes(p[TCP].payload), flags="P")


def m_flag(f):
    return lambda c, p: c.seg(0, bytes(p[TCP].payload), flags=f)


def m_md5(c, p):
    return c.seg(0, bytes(p[TCP].payload), options=[(19, b"\x00" * 16)])


def m_badack(c, p):
    return c.seg(0, bytes(p[TCP].payload), ack=c.srv + 1 + 200000)


def m_iplen(c, p):
    b = bytearray(raw(p))
    if c.net.family == "v4":
        n = int.from_bytes(b[2:4], "big") + 40
        b[2:4] = n.to_bytes(2, "big")
        b[10:12] = b"\x00\x00"
        s = 0
        for i in range(0, 20, 2):
            s += int.from_bytes(b[i:i + 2], "big")
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        b[10:12] = (~s & 0xFFFF).to_bytes(2, "big")
    else:
        n = int.from_bytes(b[4:6], "big") + 40
        b[4:6] = n.to_bytes(2, "big")
    return bytes(b)


mk_decoy("decoy_badsum", m_badsum)
mk_decoy("decoy_badsum_after", m_badsum, decoy_first=False,
         note="the real hello first, then the bad-checksum decoy (last-wins reassembly)")
mk_decoy("decoy_ttl1", m_ttl1, control=False,
         note="L2 testbed: TTL/hop limit 1 still reaches the server, the decoy is a valid copy")
mk_decoy("decoy_bad_doff", m_doff)
mk_decoy("decoy_no_ack_flag", m_noack)
mk_decoy("decoy_flags_syn", m_flag("SPA"))
mk_decoy("decoy_flags_rst", m_flag("RPA"), control=False,
         note="RST+data at rcv_nxt resets the server's connection: no valid stream left")
mk_decoy("decoy_flags_fin", m_flag("FPA"), control=False,
         note="FIN+data is valid for the server: it takes the decoy")
mk_decoy("decoy_md5_option", m_md5)
mk_decoy("decoy_bad_ack", m_badack)
mk_decoy("decoy_ip_total_length", m_iplen)


def teardown_then_hello(net, H, flags, mutate):
    c = Conn(net)
    if not c.ok:
        return [c]
    t = c.seg(0, b"", flags=flags)
    c.net.send([mutate(c, t), c.seg(0, H.real)])
    return [c]


def t_oow(c, p):
    return c.seg(0, b"", flags=p[TCP].flags, seq=c.data_base + 5_000_000)


for fl, fname in (("RA", "rst"), ("FA", "fin")):
    for mname, mut, ctl in (("badsum", m_badsum, True), ("ttl1", m_ttl1, False),
                            ("md5", m_md5, True), ("oow_seq", t_oow, True)):
        def _mut(c, p, mut=mut, fl=fl):
            if mut is m_ttl1:
                return c.seg(0, b"", flags=fl, ip={"ttl": 1})
            if mut is m_md5:
                return c.seg(0, b"", flags=fl, options=[(19, b"\x00" * 16)])
            return mut(c, p)
        tech(f"teardown_{fname}_{mname}", "teardown", ctl,
             note="L2 testbed: TTL 1 reaches the server and really tears down" if mname == "ttl1" else "")(
            lambda net, H, fl=fl, _mut=_mut: teardown_then_hello(net, H, fl, _mut))


def desync(net, H, make):
    c = Conn(net)
    if not c.ok:
        return [c]
    c.net.send(make(c) + [c.seg(0, H.real)])
    return [c]


tech("desync_extra_syn", "desync")(lambda net, H: desync(net, H, lambda c: [
    c.seg(0, b"", flags="S", seq=c.isn + 77777, ack=0, options=[("MSS", 1460)])]))
tech("desync_client_synack_far_seq", "desync")(lambda net, H: desync(net, H, lambda c: [
    c.seg(0, b"", flags="SA", seq=c.isn + 0x40000000, ack=c.srv + 1)]))
tech("desync_oow_data", "desync")(lambda net, H: desync(net, H, lambda c: [
    c.seg(0, H.decoy, seq=c.isn + 100001)]))
tech("desync_bare_ack_far_seq", "desync")(lambda net, H: desync(net, H, lambda c: [
    c.seg(0, b"", flags="A", seq=c.isn + 100001)]))


# Segmentation: one connection per cut; worst case reported.
def seg_every_sni_byte(net, H):
    a, b = H.span
    conns = []
    for cut in range(a, b + 1):
        c = Conn(net)
        c.label = f"cut={cut}"
        if c.ok:
            c.net.send([c.seg(0, H.real[:cut]), c.seg(cut, H.real[cut:])])
        conns.append(c)
        yield c


tech("segment_at_every_sni_byte", "segmentation")(seg_every_sni_byte)


def tiny_segments(net, H):
    a, b = H.span
    c = Conn(net)
    if c.ok:
        ps = [c.seg(0, H.real[:a])] + [c.seg(i, H.real[i:i + 1]) for i in range(a, b)]
        ps.append(c.seg(b, H.real[b:]))
        c.net.send(ps)
    return [c]


tech("tiny_segments_over_sni", "segmentation", control=False,
     note="more segments than packetlimit: the appliance resets (controls not expected)")(tiny_segments)


def segments_reversed(net, H):
    a, b = H.span
    c = Conn(net)
    if c.ok:
        c.net.send([c.seg(a, H.real[a:]), c.seg(0, H.real[:a])])
    return [c]


tech("reordered_segments", "overlap")(segments_reversed)


def ooo_overlap(net, H, order):
    """Out of order tails at the SNI, conflicting: the server (Linux) keeps the first of two
    equal ranges, but replaces a range by a later segment that covers it."""
    a, b = H.span
    c = Conn(net)
    if not c.ok:
        return [c]
    s = a - 8
    if order == "allowed_then_covering_denied":
        ps = [c.seg(s, H.decoy[s:]), c.seg(s - 1, H.real[s - 1:]), c.seg(0, H.real[:s - 1])]
    elif order == "denied_then_same_allowed":
        ps = [c.seg(s, H.real[s:]), c.seg(s, H.decoy[s:]), c.seg(0, H.real[:s])]
    elif order == "inorder_allowed_partial_then_denied":
        # in order: allowed bytes up to mid-SNI, then a segment from before that point with
        # the denied bytes (the server keeps what it has and takes the rest)
        m = (a + b) // 2
        ps = [c.seg(0, H.decoy[:m]), c.seg(a, H.real[a:])]
    elif order == "inorder_denied_partial_then_allowed":
        m = (a + b) // 2
        ps = [c.seg(0, H.real[:m]), c.seg(a, H.decoy[a:])]
    c.net.send(ps)
    return [c]


for o in ("allowed_then_covering_denied", "denied_then_same_allowed",
          "inorder_allowed_partial_then_denied", "inorder_denied_partial_then_allowed"):
    tech(f"overlap_{o}", "overlap", control=False,
         note="conflicting data: no single valid stream")(lambda net, H, o=o: ooo_overlap(net, H, o))


def v4_frags(pkt, size):
    b = raw(pkt)
    ihl = (b[0] & 0xF) * 4
    hdr, pl = b[:ihl], b[ihl:]
    ip = IP(hdr)
    out = []
    for off in range(0, len(pl), size):
        chunk = pl[off:off + size]
        f = IP(src=ip.src, dst=ip.dst, ttl=ip.ttl, proto=6, id=ip.id,
               flags="MF" if off + size < len(pl) else 0, frag=off // 8) / Raw(chunk)
        out.append(f)
    return out


def v6_frags(pkt, size, ident):
    b = raw(pkt)
    pl = b[40:]
    out = []
    for off in range(0, len(pl), size):
        chunk = pl[off:off + size]
        f = IPv6(src=pkt.src, dst=pkt.dst, hlim=pkt.hlim) / IPv6ExtHdrFragment(
            nh=6, id=ident, offset=off // 8, m=1 if off + size < len(pl) else 0) / Raw(chunk)
        out.append(f)
    return out


def fragmented(net, H, overlap):
    c = Conn(net)
    if not c.ok:
        return [c]
    ident = random.randrange(1, 0xFFFF)
    p = c.seg(0, H.real)
    if net.family == "v4":
        p[IP].id = ident
        frs = v4_frags(p, 64)
    else:
        frs = v6_frags(p, 64, ident)
    if overlap:
        # the decoy's fragments first for the SNI region, then the real ones overlapping them
        d = c.seg(0, H.decoy)
        if net.family == "v4":
            d[IP].id = ident
            dfr = v4_frags(d, 64)
        else:
            dfr = v6_frags(d, 64, ident)
        a, _ = H.span
        k = (a + 20) // 64  # the fragment holding the SNI (TCP header is 20 bytes)
        frs = dfr[k:k + 1] + frs
    c.net.send(frs)
    return [c]


tech("ip_fragments", "fragments", control=False,
     note="[flow] fragments = drop (the default): TCP fragments are dropped, fail closed")(
    lambda net, H: fragmented(net, H, False))
tech("ip_fragments_overlapping", "fragments", control=False,
     note="Linux drops overlapping fragments (RFC 5722): nothing reaches the server")(
    lambda net, H: fragmented(net, H, True))


def tfo(net, H):
    c = Conn(net, tfo_data=H.real, syn_opts=[("MSS", 1460), (34, b"\x11" * 8)])
    if c.ok and c.data_base == c.isn + 1:
        c.tfo_rejected = True
    return [c]


tech("tcp_fast_open", "tfo", control=False, refused=True,
     note="a SYN with data is dropped (fail closed); a Linux TFO client resends the SYN without "
          "data, this hand-made one does not (needs net.ipv4.tcp_fastopen 0x602 in acp-server)")(tfo)


def dup_unknown_ext(net, H):
    h = insert_exts(H.real, (b"\x42\x42\x00\x02ab") * 2)
    c = Conn(net)
    if c.ok:
        c.net.send(c.seg(0, h))
    return [c]


tech("duplicate_unknown_extension", "tls")(dup_unknown_ext)


def empty_records(net, H):
    c = Conn(net)
    if c.ok:
        c.net.send(c.seg(0, b"\x16\x03\x01\x00\x00" * 2 + H.real))
    return [c]


tech("empty_handshake_records_first", "tls",
     note="OpenSSL may refuse empty handshake records")(empty_records)


def records(net, H, size):
    c = Conn(net)
    if c.ok:
        c.net.send(c.seg(0, multi_record(H.real, size)))
    return [c]


tech("hello_over_many_records", "tls")(lambda net, H: records(net, H, 40))


def dup_sni(net, H):
    # two server_name extensions: allowed first, denied second (OpenSSL refuses duplicates;
    # any that reaches the server shows in its log)
    a, b = H.span
    h = insert_exts(H.real, H.decoy[a:b])
    c = Conn(net)
    if c.ok:
        c.net.send(c.seg(0, h))
    return [c]


tech("duplicate_sni_extension", "tls", control=False,
     note="OpenSSL refuses duplicate known extensions")(dup_sni)


# ---------------------------------------------------------------------------------------------
# Running


class ServerLog:
    def __init__(self, path):
        self.path = path
        self.pos = os.path.getsize(path) if path and os.path.exists(path) else 0

    def new_snis(self):
        if not self.path or not os.path.exists(self.path):
            return None
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        out = []
        for line in data.decode(errors="replace").splitlines():
            if "Hostname in TLS extension:" in line:
                out.append(line.split('"')[1] if '"' in line else line)
        return out


def run_one(net, t, H, wait, slog):
    """Run technique t with hellos H; returns (answered, sids, snis, details)."""
    res = t["fn"](net, H)
    conns = []
    answered, detail = False, []
    for c in res:  # generator or list
        conns.append(c)
        if not c.ok:
            detail.append(f"{getattr(c, 'label', '')} no SYN-ACK")
            continue
        deadline = time.time() + wait
        rst_at = None
        sid = None
        while time.time() < deadline:
            sid = c.server_hello()
            if sid is not None:
                break
            if c.reset_seen():
                rst_at = rst_at or time.time()
                if time.time() - rst_at > 0.4:
                    break
            time.sleep(0.02)
        c.sid = sid
        if sid is not None:
            answered = True
        c.close(extra_seqs=(len(H.real),))
        c.snis = None
        time.sleep(0.05)
    time.sleep(0.15)
    snis = slog.new_snis() if slog else None
    return answered, conns, snis


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="v4", choices=["v4", "v6"])
    ap.add_argument("--server-log")
    ap.add_argument("--only")
    ap.add_argument("--wait", type=float, default=2.0)
    ap.add_argument("--no-control", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for t in TECHS:
            print(t["name"], t["cls"])
        return
    base = SPORT_LO if a.family == "v4" else SPORT_LO + 2500
    Conn.next_port = base + random.randrange(0, 500)
    ipt = "iptables" if a.family == "v4" else "ip6tables"
    rule = f"OUTPUT -p tcp --tcp-flags RST RST --sport {SPORT_LO}:{SPORT_HI} -j DROP"
    subprocess.run(f"{ipt} -I {rule}", shell=True, check=True)
    try:
        net = Net(a.family)
        slog = ServerLog(a.server_log) if a.server_log else None
        only = set(a.only.split(",")) if a.only else None
        for t in TECHS:
            if only and t["name"] not in only:
                continue
            if a.family not in t["families"]:
                continue
            t0 = time.time()
            Hd = Hellos(DENIED, DENIED_TWIN)
            ans, conns, snis = run_one(net, t, Hd, a.wait, slog)
            sid_hit = any(getattr(c, "sid", None) == session_id(Hd.real) for c in conns)
            if snis is not None:
                delivered = DENIED in snis
            else:
                delivered = sid_hit and t["name"] not in ("decoy_ttl1",)
            handshake_failed = 0 if t["refused"] else sum(1 for c in conns if not c.ok)
            row = dict(name=t["name"], cls=t["cls"], family=a.family,
                       denied_delivered=bool(delivered), server_answered=ans,
                       server_snis=snis, connections=len(conns),
                       handshake_failed=handshake_failed)
            if len(conns) > 1:
                row["delivered_at"] = [getattr(c, "label", "") for c in conns
                                       if getattr(c, "sid", None) is not None]
            if t["name"] == "tcp_fast_open":
                row["tfo_data_in_syn_accepted"] = not any(getattr(c, "tfo_rejected", False)
                                                          for c in conns)
            ctl = None
            if not a.no_control:
                Ha = Hellos(ALLOWED, ALLOWED_TWIN)
                tt = t
                if t["name"] == "segment_at_every_sni_byte":
                    # controls at three cuts only: first, middle and last byte
                    def three(net, H, f=t["fn"]):
                        cs = list(range(H.span[0], H.span[1] + 1))
                        keep = {cs[0], cs[len(cs) // 2], cs[-1]}
                        for c in _cuts(net, H, keep):
                            yield c
                    tt = dict(t, fn=three)
                cans, cconns, csnis = run_one(net, tt, Ha, a.wait, slog)
                sids = [getattr(c, "sid", None) for c in cconns]
                ok = all(s == session_id(Ha.real) for s in sids) and bool(cconns)
                if csnis is not None:
                    ok = ok and ALLOWED in csnis
                ctl = ok
                row["control_snis"] = csnis
            row.update(allowed_control_ok=ctl, control_expected=t["control"],
                       note=t["note"], secs=round(time.time() - t0, 2))
            print(json.dumps(row), flush=True)
    finally:
        subprocess.run(f"{ipt} -D {rule}", shell=True)


def _cuts(net, H, keep):
    for cut in sorted(keep):
        c = Conn(net)
        c.label = f"cut={cut}"
        if c.ok:
            c.net.send([c.seg(0, H.real[:cut]), c.seg(cut, H.real[cut:])])
        yield c


if __name__ == "__main__":
    main()
