"""The frontend: calls the backend and includes its answer in its own.

Khutulun passes the frontend's own port in PORT and the backend's address in BACKEND_HOST
and BACKEND_PORT (from the `connection` requirement to the node named `backend`).
"""
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKEND = f"http://{os.environ['BACKEND_HOST']}:{os.environ['BACKEND_PORT']}/"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with urllib.request.urlopen(BACKEND, timeout=5) as answer:
                backend = json.load(answer)
            status = 200
        except OSError as error:
            backend = {"error": f"cannot reach the backend at {BACKEND}: {error}"}
            status = 502
        body = json.dumps({
            "service": "frontend",
            "pid": os.getpid(),
            "backend": backend,
        }).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("frontend:", fmt % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"frontend {os.getpid()} listening on port {port}, backend at {BACKEND}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
