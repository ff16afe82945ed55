#!/usr/bin/env python3
"""The two ends of the alerts bench on 127.0.0.1, one threaded server:

- `/svc/{i}`: the targets, answering 200 until `POST /flip`, 503 after;
- `/hook`: the webhook receiver, recording when each alert arrived, its
  event and `occurred_at`;
- `GET /stats`: the arrivals as JSON.

    bench/alert-stub.py PORT_FILE
"""
import json
import http.server
import socketserver
import sys
import threading
import time
from datetime import datetime

STATE = {"failing": False, "arrivals": []}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body=b"ok"):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/svc/"):
            self.answer(503 if STATE["failing"] else 200)
        elif self.path == "/stats":
            with LOCK:
                body = json.dumps(STATE["arrivals"]).encode()
            self.answer(200, body)
        else:
            self.answer(404)

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if self.path == "/flip":
            STATE["failing"] = True
            self.answer(200)
        elif self.path == "/hook":
            now = time.time()
            event = json.loads(body)
            occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).timestamp()
            with LOCK:
                STATE["arrivals"].append(
                    {"at": now, "occurred_at": occurred, "event": event["event"],
                     "delivery": self.headers.get("x-upbeat-delivery")})
            self.answer(202)
        else:
            self.answer(404)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    server = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()
