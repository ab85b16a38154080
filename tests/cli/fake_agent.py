#!/usr/bin/env python3
"""A stand-in for the agent's API on a unix socket, for CLI tests that need
no root: GET /v1/flows, /v1/alerts and /v1/status answer with the files of
DIR (flows.jsonl, alerts.jsonl, status.json), POST /v1/apply and /v1/delete
with DIR/apply.json, keeping the body in DIR/posted.json; every request's
path+query is appended to DIR/requests.log. Usage: fake_agent.py SOCKET DIR"""
import http.server
import os
import socketserver
import sys

sock, data = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def address_string(self):
        return "fake"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(os.path.join(data, "posted.json"), "wb") as f:
            f.write(body)
        self.do_GET("apply.json")

    def do_GET(self, answer=None):
        with open(os.path.join(data, "requests.log"), "a") as log:
            log.write(self.path + "\n")
        name = {"/v1/flows": "flows.jsonl", "/v1/alerts": "alerts.jsonl",
                "/v1/status": "status.json"}.get(self.path.split("?")[0], answer)
        path = os.path.join(data, name) if name else ""
        if not path or not os.path.exists(path):
            body, status = b'{"error":"not here"}', 404
        else:
            body, status = open(path, "rb").read(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(sock):
    os.unlink(sock)
with Server(sock, Handler) as server:
    server.serve_forever()
