#!/usr/bin/python3
"""Clients for bench/egress.lua, run inside a sandbox (through purple's egress proxy) or on the
host (direct). Usage:
  egress_probe.py setup URL N        median ms of N requests, each on a new connection (plain HTTP)
  egress_probe.py hold HOST PORT N   N idle TLS tunnels through the proxy; prints how many, waits"""
import os
import socket
import ssl
import statistics
import sys
import time
import urllib.parse

case = sys.argv[1]
if case == "setup":
    url, n = urllib.parse.urlsplit(sys.argv[2]), int(sys.argv[3])
    proxy = os.environ.get("http_proxy")
    target = (url.hostname, url.port) if not proxy else ("127.0.0.1", 3128)
    path = sys.argv[2] if proxy else url.path
    req = b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n" % (path.encode(), url.hostname.encode(), url.port)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        s = socket.create_connection(target)
        s.sendall(req)
        while s.recv(65536):
            pass
        s.close()
        times.append((time.perf_counter() - t) * 1000)
    print("%.3f" % statistics.median(times))
elif case == "hold":
    host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    held = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", 3128))
        s.sendall(b"CONNECT %s:%d HTTP/1.1\r\n\r\n" % (host.encode(), port))
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        held.append(ctx.wrap_socket(s, server_hostname=host))
    print(len(held), flush=True)
    time.sleep(600)
