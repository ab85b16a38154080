#!/usr/bin/env python3
"""A webhook receiver for the tests: each POSTed body, one line in OUT_FILE;
answers 204.

Usage: webhook_receiver.py PORT OUT_FILE [--tls CERT KEY] [--fail-first N]
                           [--port-file FILE] [--headers-out FILE]
PORT 0: any free port, written to --port-file once listening. --tls: serve
https with that certificate and key. --fail-first N: answer the first N
POSTs 503 (and record nothing). --headers-out: each delivered POST's
Authorization header, one line."""
import argparse
import http.server
import ssl

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("out")
ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--port-file")
ap.add_argument("--headers-out")
args = ap.parse_args()
failures_left = [args.fail_first]


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the http.server name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if failures_left[0] > 0:
            failures_left[0] -= 1
            self.send_response(503)
            self.end_headers()
            return
        with open(args.out, "ab") as out:
            out.write(body.replace(b"\n", b" ") + b"\n")
        if args.headers_out:
            with open(args.headers_out, "a") as out:
                out.write(self.headers.get("Authorization", "") + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", args.port), Receiver)
if args.tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*args.tls)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
if args.port_file:
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
server.serve_forever()
