#!/usr/bin/env python3
"""TLS clients for the accumulation e2e tests (run inside acp-client).

  tls_peer.py halves ADDR PORT SNI     real handshake; the ClientHello is sent in two halves
                                       with a one-second pause between them
  tls_peer.py reorder ADDR PORT SNI    raw segments (scapy): handshake, then the ClientHello in
                                       three segments sent last-first; succeeds when the server
                                       answers with a ServerHello
Prints 'ok ...' and exits 0 on success."""
import socket, ssl, sys, time

def client_hello(sni):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out, out.read()

def halves(addr, port, sni):
    obj, inc, out, hello = client_hello(sni)
    s = socket.create_connection((addr, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mid = len(hello) // 2
    s.sendall(hello[:mid])
    time.sleep(1.0)
    s.sendall(hello[mid:])
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                s.sendall(pending)
            data = s.recv(65536)
            if not data:
                raise SystemExit("server closed during handshake")
            inc.write(data)
    pending = out.read()
    if pending:
        s.sendall(pending)
    print("ok", obj.version(), len(hello))

def half(addr, port, sni):
    """Send the first half of a ClientHello and wait: prints how the connection ended."""
    _, _, _, hello = client_hello(sni)
    s = socket.create_connection((addr, port), timeout=20)
    s.sendall(hello[: len(hello) // 2])
    print("sent", flush=True)
    try:
        data = s.recv(100)
        print("closed" if not data else "data")
    except ConnectionResetError:
        print("reset")
    except socket.timeout:
        print("timeout")

def reorder(addr, port, sni):
    from scapy.all import IP, TCP, sr1, send, AsyncSniffer, conf
    conf.verb = 0
    _, _, _, hello = client_hello(sni)
    sport = 47000 + int(time.time()) % 1000
    sniffer = AsyncSniffer(filter=f"tcp and src port {port} and dst port {sport}", iface="eth0")
    sniffer.start()
    time.sleep(0.3)
    ip = IP(dst=addr)
    synack = sr1(ip / TCP(sport=sport, dport=port, flags="S", seq=1000), timeout=3)
    if synack is None:
        raise SystemExit("no SYN-ACK")
    ack = synack[TCP].seq + 1
    send(ip / TCP(sport=sport, dport=port, flags="A", seq=1001, ack=ack))
    n = len(hello)
    cuts = [0, n // 3, 2 * n // 3, n]
    segs = [(cuts[i], hello[cuts[i]:cuts[i + 1]]) for i in range(3)]
    for off, data in reversed(segs):
        send(ip / TCP(sport=sport, dport=port, flags="PA", seq=1001 + off, ack=ack) / data)
        time.sleep(0.2)
    time.sleep(1.5)
    pkts = sniffer.stop()
    got = [bytes(p[TCP].payload) for p in pkts if p.haslayer(TCP) and len(p[TCP].payload) > 5]
    if not any(g[0] == 0x16 and g[5] == 0x02 for g in got):
        raise SystemExit(f"no ServerHello from the server ({len(pkts)} packets seen)")
    send(ip / TCP(sport=sport, dport=port, flags="R", seq=1001 + n))
    print("ok reordered", n)

if __name__ == "__main__":
    mode, addr, port, sni = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    {"halves": halves, "reorder": reorder, "half": half}[mode](addr, port, sni)
