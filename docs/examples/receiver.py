#!/usr/bin/env python3
"""A local webhook receiver for trying alert-ledger's delivery by hand.

Prints every request it gets (headers that matter and the JSON body), checks the
HMAC-SHA256 signature when SECRET is set, and answers 500 to the first FAIL_FIRST
requests so you can watch the ledger retry.

    SECRET=dev-secret FAIL_FIRST=1 python3 docs/examples/receiver.py 9000
"""
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ.get("SECRET", "").encode()
FAIL_FIRST = int(os.environ.get("FAIL_FIRST", "0"))
seen = 0


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        seen += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        timestamp = self.headers.get("X-Ledger-Timestamp", "")
        signature = self.headers.get("X-Ledger-Signature", "")
        verified = "unsigned"
        if SECRET and signature:
            expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            verified = "valid" if hmac.compare_digest("v1=" + expected, signature) else "INVALID"
        status = 500 if seen <= FAIL_FIRST else 200
        print(f"#{seen} {self.path} message={self.headers.get('X-Ledger-Message-Id')} "
              f"signature={verified} -> {status}", flush=True)
        try:
            print(json.dumps(json.loads(body), indent=2), flush=True)
        except ValueError:
            print(body.decode(errors="replace"), flush=True)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
