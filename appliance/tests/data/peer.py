#!/usr/bin/env python3
"""Real TCP peers for the testbed e2e tests (run inside the namespaces).

  peer.py server PORT                 IPv4+IPv6 server: per connection, reads a line, then
                                      'echo' -> replies and closes; 'reset' -> closes with RST
                                      (SO_LINGER 0); 'hold' -> waits for the client
  peer.py client ADDR PORT MODE N     N connections, MODE fin|abort|server-reset|idle SECS;
                                      prints one JSON line per connection: its local port
"""
import json, socket, struct, sys, threading, time

LINGER0 = struct.pack("ii", 1, 0)

def handle(c):
    try:
        line = b""
        while not line.endswith(b"\n"):
            d = c.recv(4096)
            if not d:
                return
            line += d
        cmd = line.strip()
        if cmd == b"echo":
            c.sendall(b"ok\n")
            c.shutdown(socket.SHUT_WR)
            while c.recv(4096):
                pass
        elif cmd == b"reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        elif cmd == b"hold":
            while c.recv(4096):
                pass
    except OSError:
        pass
    finally:
        c.close()

def serve(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(256)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()

def client(addr, port, mode, n, idle=0.0):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    for _ in range(n):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((addr, port))
        lport = s.getsockname()[1]
        if mode == "fin":
            s.sendall(b"echo\n")
            assert s.recv(100) == b"ok\n"
            s.close()
        elif mode == "abort":
            s.sendall(b"hold\n")
            time.sleep(0.05)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            s.close()
        elif mode == "server-reset":
            s.sendall(b"reset\n")
            try:
                s.recv(100)
            except ConnectionResetError:
                pass
            s.close()
        elif mode == "idle":
            s.sendall(b"hold\n")
            time.sleep(idle)
            # Leave without a FIN (the appliance has forgotten the session): RST only.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            s.close()
        print(json.dumps({"mode": mode, "port": lport}), flush=True)

if __name__ == "__main__":
    if sys.argv[1] == "server":
        port = int(sys.argv[2])
        threading.Thread(target=serve, args=(socket.AF_INET6, "2001:2::2", port), daemon=True).start()
        serve(socket.AF_INET, "198.18.0.2", port)
    else:
        _, _, addr, port, mode, n, *rest = sys.argv
        client(addr, int(port), mode, int(n), float(rest[0]) if rest else 0.0)
