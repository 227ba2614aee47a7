#!/usr/bin/python3
"""Local servers for spec/egress_spec.lua (loopback only): plain HTTP and HTTPS (a certificate the
spec made for its test names) serving one directory, threaded so many clients can be served at
once. Writes "http PORT" and "https PORT" lines to PORTFILE once both listen.
Usage: egress_server.py DIR CERT KEY PORTFILE"""
import functools
import http.server
import ssl
import sys
import os
import threading

root, cert, key, portfile = sys.argv[1:5]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 512  # read by listen(): many clients connect at once
    daemon_threads = True


handler = functools.partial(Quiet, directory=root)
plain = Server(("127.0.0.1", 0), handler)
tls = Server(("127.0.0.1", 0), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
for s in (plain, tls):
    threading.Thread(target=s.serve_forever, daemon=True).start()
with open(portfile + ".tmp", "w") as f:
    f.write("http %d\nhttps %d\n" % (plain.server_address[1], tls.server_address[1]))
os.rename(portfile + ".tmp", portfile)
threading.Event().wait()
