#!/usr/bin/python3
"""Clients of purple's egress proxy for spec/egress_spec.lua, run inside the sandbox. Each prints
one line saying what happened. Usage: egress_client.py CASE ARGS..."""
import socket
import ssl
import sys
import time

PROXY = ("127.0.0.1", 3128)
case, args = sys.argv[1], sys.argv[2:]


def connect_tunnel(name, port):
    s = socket.create_connection(PROXY)
    s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (name.encode(), port, name.encode(), port))
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(4096)
        if not d:
            break
        head += d
    return s, head


def read_all(s):
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except OSError as e:
            return out, e
        if not d:
            return out, None
        out += d


if case == "sni":  # CONNECT to args[0] but TLS naming args[2]
    name, port, sni, ca = args[0], int(args[1]), args[2], args[3]
    s, head = connect_tunnel(name, port)
    print(head.split(b"\r\n")[0].decode())
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    try:
        t = ctx.wrap_socket(s, server_hostname=sni)
        t.sendall(b"GET /index.html HTTP/1.0\r\nHost: %s\r\n\r\n" % sni.encode())
        print("tls ok", read_all(t)[0][-13:].decode(), end="")
    except (ssl.SSLError, OSError):
        print("tls failed")
elif case == "big_head":  # a request head over 16 KiB
    s = socket.create_connection(PROXY)
    s.sendall(b"GET http://%s/ HTTP/1.1\r\nHost: %s\r\nX-Pad: %s\r\n\r\n" % (args[0].encode(), args[0].encode(), b"a" * 17000))
    print(read_all(s)[0].split(b"\r\n")[0].decode())
elif case == "idle":  # connects and sends nothing (or one byte at a time): the proxy must cut it
    s = socket.create_connection(PROXY)
    s.settimeout(60)  # a safety net for a broken proxy, not a timing assertion
    if args and args[0] == "drip":
        try:
            for c in b"GET http://x/ HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 600:
                s.send(bytes([c]))
                time.sleep(0.05)
        except OSError:
            pass
    data, err = read_all(s)
    print("cut", data.split(b"\r\n")[0].decode() if data else "(no answer)")
elif case == "many":  # N plain HTTP requests open at once through the proxy
    name, port, n = args[0], int(args[1]), int(args[2])
    socks = []
    for _ in range(n):
        s = socket.create_connection(PROXY)
        s.sendall(b"GET http://%s:%d/index.html HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (name.encode(), port, name.encode(), port))
        socks.append(s)
    ok = sum(1 for s in socks if read_all(s)[0].endswith(b"hello-egress\n"))
    print("ok %d of %d" % (ok, n))
elif case == "halfclose":  # a plain GET whose client ends its upload at once, then reads late
    name, port, path = args[0], int(args[1]), args[2]
    s = socket.create_connection(PROXY)
    s.sendall(b"GET http://%s:%d%s HTTP/1.0\r\nHost: %s:%d\r\n\r\n" % (name.encode(), port, path.encode(), name.encode(), port))
    s.shutdown(socket.SHUT_WR)
    data, err = b"", None
    while True:  # slowly: the server's EOF reaches the proxy while it still holds reply bytes
        try:
            d = s.recv(32768)
        except OSError as e:
            err = e
            break
        if not d:
            break
        data += d
        time.sleep(0.002)
    body = data.split(b"\r\n\r\n", 1)[-1]
    print("body %d bytes%s" % (len(body), " (%s)" % err if err else ""))
elif case == "raw":  # a direct connection, no proxy
    host, port = args[0], int(args[1])
    try:
        socket.create_connection((host, port), timeout=5)
        print("connected")
    except OSError as e:
        print("failed", e.strerror)
elif case == "udp":
    try:
        socket.getaddrinfo(args[0], 80)
        print("resolved")
    except OSError as e:
        print("resolve failed")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b"x", (args[1], 53))
        print("sent")
    except OSError as e:
        print("send failed", e.strerror)
elif case == "pipelined":  # CONNECT (or SOCKS5) and the ClientHello in one write, before any answer
    via, name, port, ca = args[0], args[1], int(args[2]), args[3]
    ctx = ssl.create_default_context(cafile=ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    if via == "connect":
        s = socket.create_connection(PROXY)
        s.sendall(b"CONNECT %s:%d HTTP/1.1\r\n\r\n" % (name.encode(), port) + hello)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        head, rest = head.split(b"\r\n\r\n", 1)
    else:
        s = socket.create_connection(("127.0.0.1", 1080))
        s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00\x03" + bytes([len(name)]) + name.encode() + port.to_bytes(2, "big") + hello)
        head = b""
        while len(head) < 12:
            head += s.recv(4096)
        rest = head[12:]
    inc.write(rest)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            s.sendall(out.read())
            d = s.recv(65536)
            if not d:
                print("closed during the handshake")
                sys.exit(0)
            inc.write(d)
    s.sendall(out.read())
    tls.write(b"GET /index.html HTTP/1.0\r\nHost: %s\r\n\r\n" % name.encode())
    s.sendall(out.read())
    body = b""
    while True:
        try:
            body += tls.read(65536)
        except ssl.SSLWantReadError:
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
    print(via, "ok" if body.endswith(b"hello-egress\n") else "failed")
elif case == "idle_tunnel":  # an established TLS tunnel that carries nothing: the proxy must close it
    name, port, ca = args[0], int(args[1]), args[2]
    s, head = connect_tunnel(name, port)
    t = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname=name)
    t.settimeout(60)  # a safety net for a broken proxy, not a timing assertion
    try:
        print("tunnel cut" if t.recv(1) == b"" else "data")
    except (ssl.SSLError, OSError) as e:
        print("tunnel cut" if not isinstance(e, socket.timeout) else "not cut")
