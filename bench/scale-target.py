#!/usr/bin/env python3
"""The target of the scale benches: a threaded HTTP server on 127.0.0.1
answering 200 to everything (with FAIL_EVERY, 500 to `/svc/{i}` when
i % FAIL_EVERY == 7, so a large page has something to list), and the
config of N services probing it, in groups of 1,000 ("Region k").

    bench/scale-target.py serve PORT_FILE [FAIL_EVERY]   # writes its port there
    bench/scale-target.py config FILE N PORT INTERVAL_S TITLE
"""
import http.server
import socketserver
import sys


FAIL_EVERY = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        number = self.path[5:]
        failing = FAIL_EVERY and self.path.startswith("/svc/") and number.isdigit() and int(number) % FAIL_EVERY == 7
        self.send_response(500 if failing else 200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve(port_file):
    server = Server(("127.0.0.1", 0), Handler)
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


def config(path, n, port, interval, title):
    with open(path, "w") as f:
        f.write(f'[page]\ntitle = "{title}"\n\n[defaults]\ninterval = "{interval}s"\ntimeout = "10s"\n\n')
        for i in range(int(n)):
            f.write(
                f'[[services]]\nslug = "svc-{i}"\nname = "Service {i}"\ngroup = "Region {i // 1000}"\n[services.check]\n'
                f'kind = "http"\nurl = "http://127.0.0.1:{port}/svc/{i}"\n\n'
            )


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        if len(sys.argv) > 3:
            FAIL_EVERY = int(sys.argv[3])
        serve(sys.argv[2])
    else:
        config(*sys.argv[2:7])
