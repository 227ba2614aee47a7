#!/usr/bin/env python3
"""Host-side stand-in servers for spec/network_spec.lua.

usage: net_server.py PORTFILE LOGFILE SPEC...
SPEC: tcp:ADDR:PORT | udp:ADDR:PORT | both:ADDR:PORT | udplite:ADDR:PORT | sync:ADDR:PORT |
      abstract:NAME | unix:PATH | unixdgram:PATH   (PORT 0 = a free port; both = tcp and udp on
      one port number)
Writes "KIND PORT" (or "KIND NAME", "KIND PATH") per SPEC (in order) to PORTFILE once every
socket listens, then serves:
a TCP client gets "hello PORT\n" and is logged "tcp PORT"; a datagram is answered the same
and logged "udp PORT DATA" (UDP-Lite: "udplite PORT DATA");
an abstract unix client is logged "abstract NAME"; a unix stream client (the socket is mode 0777)
gets "hello PATH\n" and is logged "unixpeer PATH COMM" (COMM: /proc/PID/comm of its SO_PEERCRED
pid) then "unix PATH"; a unix datagram is logged "unixdgram PATH DATA".
A datagram to a sync socket first drains every other datagram socket (logging what they hold),
then is logged "sync DATA": once that line is there, every datagram sent before it is logged.
Runs until killed.
"""
import os
import select
import socket
import struct
import sys

IPPROTO_UDPLITE = 136
DATAGRAM = ("udp", "udplite", "unixdgram")


def peer_comm(c):
    """The command name of the process that connected the unix socket c (SO_PEERCRED)."""
    pid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip() or "?"
    except OSError:
        return "?"


def both(fam, host, port):
    """A TCP listener and a UDP socket on the same port number (a free one when port is 0)."""
    for _ in range(100):
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((host, port))
        t.listen(128)
        u = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            u.bind((host, t.getsockname()[1]))
        except OSError:
            t.close()
            u.close()
            continue
        u.setblocking(False)
        return t, u
    raise SystemExit("no port free for both tcp and udp")


def main():
    portfile, logfile, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    socks = []
    lines = []
    for spec in specs:
        kind, rest = spec.split(":", 1)
        if kind in ("abstract", "unix", "unixdgram"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if kind == "unixdgram" else socket.SOCK_STREAM)
            s.bind("\0" + rest if kind == "abstract" else rest)
            if kind == "unixdgram":
                s.setblocking(False)
            else:
                s.listen(16)
            if kind != "abstract":
                os.chmod(rest, 0o777)
            socks.append((s, kind, rest))
            lines.append("%s %s" % (kind, rest))
            continue
        host, _, port = rest.rpartition(":")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        if kind == "both":
            t, u = both(fam, host, int(port or 0))
            p = t.getsockname()[1]
            socks += [(t, "tcp", str(p)), (u, "udp", str(p))]
            lines.append("both %d" % p)
            continue
        if kind == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM)
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM, IPPROTO_UDPLITE if kind == "udplite" else 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port or 0)))
        if kind == "tcp":
            s.listen(128)
        else:
            s.setblocking(False)
        p = s.getsockname()[1]
        socks.append((s, kind, str(p)))
        lines.append("%s %d" % (kind, p))
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, portfile)
    log = open(logfile, "a", buffering=1)
    by_fd = {s.fileno(): (s, kind, name) for s, kind, name in socks}

    def datagram(s, kind, name):
        """Logs (and answers) one datagram; False when there was none."""
        try:
            data, peer = s.recvfrom(2048)
        except BlockingIOError:
            return False
        log.write("%s %s %s\n" % (kind, name, data.decode(errors="replace")))
        if kind in ("udp", "udplite"):
            try:
                s.sendto(("hello %s\n" % name).encode(), peer)
            except OSError:
                pass
        return True

    while True:
        ready, _, _ = select.select(list(by_fd), [], [])
        for fd in ready:
            s, kind, name = by_fd[fd]
            if kind in DATAGRAM:
                datagram(s, kind, name)
                continue
            if kind == "sync":
                try:
                    data, _ = s.recvfrom(2048)
                except BlockingIOError:
                    continue
                for o, okind, oname in socks:
                    if okind in DATAGRAM:
                        while datagram(o, okind, oname):
                            pass
                log.write("sync %s\n" % data.decode(errors="replace"))
                continue
            try:
                c, _ = s.accept()
            except OSError:
                continue
            if kind == "unix":
                log.write("unixpeer %s %s\n" % (name, peer_comm(c)))
            log.write("%s %s\n" % (kind, name))
            try:
                c.sendall(("hello %s\n" % name).encode())
            except OSError:
                pass
            c.close()


main()
