"""The application tier: a bare process between the frontend and the notes database.

GET /?note=TEXT stores TEXT in the database (a POST to it), then answers with every note
the database holds and how many requests this tier has served since it was first deployed
(a counter kept in its own directory, so it survives restarts).

Khutulun passes the port to listen on in PORT, the database's address in DB_HOST/DB_PORT
(the `connection` requirement to `db`) and the state directory in APP_DATA_DIR (the
`directory` requirement to `app-data`).
"""
import json
import os
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

DB = f"http://{os.environ['DB_HOST']}:{os.environ['DB_PORT']}/cgi-bin/notes"
COUNTER = os.path.join(os.environ["APP_DATA_DIR"], "requests")
counter_lock = Lock()


def count_request():
    with counter_lock:
        try:
            with open(COUNTER) as f:
                served = int(f.read().strip() or 0)
        except FileNotFoundError:
            served = 0
        served += 1
        with open(COUNTER + ".tmp", "w") as f:
            f.write(f"{served}\n")
        os.replace(COUNTER + ".tmp", COUNTER)
        return served


def call_db(note):
    data = note.encode() if note is not None else None
    request = urllib.request.Request(DB, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return [line for line in answer.read().decode().splitlines() if line]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        note = query.get("note", [None])[0]
        try:
            notes = call_db(note)
            status, body = 200, {"tier": "app", "pid": os.getpid(), "notes": notes,
                                 "requests": count_request()}
        except OSError as error:
            status, body = 502, {"tier": "app", "error": f"cannot reach the database at {DB}: {error}"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        print("app:", fmt % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"app {os.getpid()} on port {port}, database at {DB}", flush=True)
    # 0.0.0.0: the frontend reaches this process from the container bridge.
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
