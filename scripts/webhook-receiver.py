"""A webhook receiver for the tests: it checks Gatehouse's deliveries with the
`standardwebhooks` library from PyPI (an implementation independent of ours) and
remembers what it got.

    python webhook-receiver.py   # prints "port <n>" once listening on 127.0.0.1

POST /_config/<name>  {"secrets": ["whsec_…"], "statuses": [500, 200],
                       "delay_ms": 0, "redirect": null}
    the signing secrets to accept for endpoint <name>, the answers to give, in turn
    (the last one repeats; default 200), a delay before answering, and a URL to
    redirect to (307) instead of answering
POST /hook/<name>     a delivery: recorded, answered with the next configured status
GET  /_received/<name> the deliveries so far: [{"headers", "body", "verified",
    "signature_ok", "status"}], where `verified` is the library's full check (headers,
    signature, timestamp within its tolerance of this machine's clock) and
    `signature_ok` the signature alone, checked with the library's own `sign` at the
    delivery's timestamp (tests that move the server's clock cannot pass the tolerance).
"""
import json
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
CONFIG = {}
RECEIVED = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _json(self, code, value):
        body = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n)

    def do_GET(self):
        if self.path.startswith("/_received/"):
            name = self.path[len("/_received/"):]
            with LOCK:
                self._json(200, RECEIVED.get(name, []))
        else:
            self._json(404, {})

    def do_POST(self):
        body = self._body()
        if self.path.startswith("/_config/"):
            name = self.path[len("/_config/"):]
            with LOCK:
                CONFIG[name] = json.loads(body)
            self._json(200, {})
            return
        if not self.path.startswith("/hook/"):
            self._json(404, {})
            return
        name = self.path[len("/hook/"):]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            cfg = CONFIG.setdefault(name, {})
            secrets = cfg.get("secrets", [])
            statuses = cfg.get("statuses") or [200]
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            cfg["statuses"] = statuses
            delay_ms = cfg.get("delay_ms") or 0
            redirect = cfg.get("redirect")
        verified = False
        signature_ok = False
        for secret in secrets:
            wh = Webhook(secret)
            try:
                wh.verify(body, headers)
                verified = True
            except WebhookVerificationError:
                pass
            try:
                ts = datetime.fromtimestamp(int(headers.get("webhook-timestamp", "0")), tz=timezone.utc)
                expected = wh.sign(headers.get("webhook-id", ""), ts, body)
                if expected in headers.get("webhook-signature", "").split(" "):
                    signature_ok = True
            except (ValueError, OverflowError):
                pass
        with LOCK:
            RECEIVED.setdefault(name, []).append(
                {
                    "headers": headers,
                    "body": body.decode("utf-8", "replace"),
                    "verified": verified,
                    "signature_ok": signature_ok,
                    "status": status,
                }
            )
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if redirect:
            self.send_response(307)
            self.send_header("Location", redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._json(status, {"ok": status < 300})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
