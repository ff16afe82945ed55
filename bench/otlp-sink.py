#!/usr/bin/env python3
"""A local OTLP/HTTP receiver for benchmarks: accepts `POST /v1/traces`
(protobuf), answers 200 with an empty ExportTraceServiceResponse, and
counts requests and bytes; `GET /stats` returns them as JSON. It does not
decode spans (the integration tests do, with opentelemetry-proto): here it
only has to take what the server sends as a collector would.

    bench/otlp-sink.py PORT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

stats = {"requests": 0, "bytes": 0}
lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        with lock:
            stats["requests"] += 1
            stats["bytes"] += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            body = json.dumps(stats).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
