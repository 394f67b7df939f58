"""A push service for tests: a real HTTPS server process that records what it receives (one JSON line each).

    python push_service.py --cert c.pem --key k.pem --log received.jsonl

Prints "READY <port>" once listening. A POST to a path under /gone/ is answered 410 Gone (a subscription the
push service forgot), the first two to a path under /flaky/ 500 (a push service having trouble), any other
201 Created, as push services answer.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import json
import ssl
import sys
import threading


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    lock = threading.Lock()
    failures: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            record = {"path": self.path, "headers": dict(self.headers.items()), "body": base64.b64encode(body).decode()}
            with lock, open(args.log, "a") as log:
                log.write(json.dumps(record) + "\n")
            status = 201
            if self.path.startswith("/gone/"):
                status = 410
            elif self.path.startswith("/flaky/"):
                with lock:
                    failures[self.path] = failures.get(self.path, 0) + 1
                    status = 500 if failures[self.path] <= 2 else 201
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"READY {server.server_address[1]}", flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()  # parent gone: stop
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
