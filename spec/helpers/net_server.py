#!/usr/bin/env python3
"""Host-side stand-in servers for spec/network_spec.lua.

usage: net_server.py PORTFILE LOGFILE SPEC...
SPEC: tcp:ADDR:PORT | udp:ADDR:PORT | abstract:NAME   (PORT 0 = a free port)
Writes "KIND PORT" per SPEC (in order) to PORTFILE once every socket listens, then serves:
a TCP client gets "hello PORT\n" and is logged "tcp PORT"; a datagram is answered the same
and logged "udp PORT DATA";
an abstract unix client is logged "abstract NAME". Runs until killed.
"""
import os
import select
import socket
import sys


def main():
    portfile, logfile, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    socks = []
    lines = []
    for spec in specs:
        kind, rest = spec.split(":", 1)
        if kind == "abstract":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind("\0" + rest)
            s.listen(16)
            socks.append((s, kind, rest))
            lines.append("abstract " + rest)
            continue
        host, _, port = rest.rpartition(":")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port or 0)))
        if kind == "tcp":
            s.listen(128)
        p = s.getsockname()[1]
        socks.append((s, kind, str(p)))
        lines.append("%s %d" % (kind, p))
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, portfile)
    log = open(logfile, "a", buffering=1)
    by_fd = {s.fileno(): (s, kind, name) for s, kind, name in socks}
    while True:
        ready, _, _ = select.select(list(by_fd), [], [])
        for fd in ready:
            s, kind, name = by_fd[fd]
            if kind == "udp":
                data, peer = s.recvfrom(2048)
                log.write("udp %s %s\n" % (name, data.decode(errors="replace")))
                try:
                    s.sendto(("hello %s\n" % name).encode(), peer)
                except OSError:
                    pass
                continue
            try:
                c, _ = s.accept()
            except OSError:
                continue
            log.write("%s %s\n" % (kind, name))
            try:
                c.sendall(("hello %s\n" % name).encode())
            except OSError:
                pass
            c.close()


main()
