#!/usr/bin/env python3
"""The services of one lab workload, in one process: an HTTP server, TCP
echo servers and UDP echo servers, each on IPv4 and IPv6.

    lab_services.py NAME --http 80 --tcp 22,443,5432,8080 --udp 53

HTTP answers every GET with "NAME\\n" (so a probe sees whom it reached);
TCP echo sends back each line; UDP echo each datagram."""
import argparse
import http.server
import socket
import socketserver
import threading


class Dual(socketserver.ThreadingMixIn):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: the probers connect from every
    # workload at once, and a SYN dropped from a full queue comes back only
    # after 1 s, as long as a probe waits (a flaky "fail" under load)
    request_queue_size = 128


def serve(server_cls, handler, port):
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        cls = type("S", (Dual, server_cls), {"address_family": family})
        srv = cls((host, port), handler, bind_and_activate=False)
        if family == socket.AF_INET6:
            srv.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        srv.server_bind()
        srv.server_activate()
        threading.Thread(target=srv.serve_forever, daemon=True).start()


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class UdpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--http", type=int, default=80)
    p.add_argument("--tcp", default="")
    p.add_argument("--udp", default="")
    a = p.parse_args()

    body = (a.name + "\n").encode()

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    serve(socketserver.TCPServer, Hello, a.http)
    for port in filter(None, a.tcp.split(",")):
        serve(socketserver.TCPServer, Echo, int(port))
    for port in filter(None, a.udp.split(",")):
        serve(socketserver.UDPServer, UdpEcho, int(port))
    threading.Event().wait()


if __name__ == "__main__":
    main()
