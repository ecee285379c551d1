#!/usr/bin/python3
"""guestd: the command server of a UML guest of the NFS lab.

The harness (crates/khutulun/tests/common/uml.rs) connects over TCP on the guest's control
network, sends one JSON line and reads one JSON line back (for "run", the command's stdout
and stderr follow as raw bytes, their lengths given in the reply). One request per
connection; requests are served concurrently.

  {"op": "ping"}                                   -> {"ok": true, "uptime": 3.1}
  {"op": "run", "cmd": SH, "timeout": SECS}        -> {"code": 0, "signal": null,
                                                       "timed_out": false,
                                                       "stdout_len": N, "stderr_len": M}
                                                      then N + M bytes
  {"op": "spawn", "cmd": SH, "log": PATH}          -> {"pid": PID, "log": PATH}
  {"op": "status", "pid": PID}                     -> {"running": bool, "code": int|null}
  {"op": "pids", "pattern": REGEX}                 -> {"pids": [PID, ...]}
  {"op": "pids", "patterns": [REGEX, ...]}         -> {"pids": [[PID, ...], ...]}
  any failure                                      -> {"error": "..."}

"run" runs `/bin/sh -c SH` in a session of its own, stdin /dev/null, and waits for it (and
for every process holding its stdout/stderr open); after the timeout the whole session is
SIGKILLed. "spawn" starts `/bin/sh -c SH` in a session of its own with stdin /dev/null and
stdout+stderr appended to PATH (default /tmp/lab/spawn-<n>.log) and answers at once; PID is
the shell's (write `exec PROGRAM ...` to make it the program's). "pids" matches REGEX
against every process's command line (arguments joined by spaces, as `pgrep -f` does),
leaving out guestd itself and zombies.

Started by init with --init as PID 1: it forks the server and stays behind as the reaper of
every orphan in the guest, restarting the server if it ever dies.
"""

import argparse
import itertools
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

SPAWN_DIR = "/tmp/lab"
spawned = {}  # pid -> Popen
spawned_lock = threading.Lock()
spawn_counter = itertools.count(1)


def reply(wfile, obj, payload=b""):
    wfile.write(json.dumps(obj).encode() + b"\n" + payload)
    wfile.flush()


def run(req, wfile):
    timeout = float(req.get("timeout") or 60)
    proc = subprocess.Popen(
        ["/bin/sh", "-c", req["cmd"]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    code = proc.returncode
    reply(
        wfile,
        {
            "code": code if code >= 0 else None,
            "signal": -code if code < 0 else None,
            "timed_out": timed_out,
            "stdout_len": len(out),
            "stderr_len": len(err),
        },
        out + err,
    )


def spawn(req, wfile):
    log = req.get("log") or f"{SPAWN_DIR}/spawn-{next(spawn_counter)}.log"
    os.makedirs(os.path.dirname(log) or "/", exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", req["cmd"]],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with spawned_lock:
        spawned[proc.pid] = proc
    threading.Thread(target=proc.wait, daemon=True).start()
    reply(wfile, {"pid": proc.pid, "log": log})


def status(req, wfile):
    with spawned_lock:
        proc = spawned.get(int(req["pid"]))
    if proc is None:
        reply(wfile, {"error": f"pid {req['pid']} was not spawned by guestd"})
        return
    code = proc.poll()
    reply(wfile, {"running": code is None, "code": code})


def pids(req, wfile):
    """One pattern ("pattern": REGEX -> "pids": [PID, ...]) or several at once, for the
    100 ms samplers ("patterns": [REGEX, ...] -> "pids": [[PID, ...], ...])."""
    many = "patterns" in req
    patterns = [re.compile(p) for p in (req["patterns"] if many else [req["pattern"]])]
    me = os.getpid()
    found = [[] for _ in patterns]
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in (me, 1):
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if not cmdline or state in (b"Z", b"X"):
            continue
        text = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
        for i, pattern in enumerate(patterns):
            if pattern.search(text):
                found[i].append(pid)
    reply(wfile, {"pids": found if many else found[0]})


OPS = {"run": run, "spawn": spawn, "status": status, "pids": pids}


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            line = self.rfile.readline()
            if not line:
                return
            req = json.loads(line)
            op = req.get("op")
            if op == "ping":
                with open("/proc/uptime") as f:
                    uptime = float(f.read().split()[0])
                reply(self.wfile, {"ok": True, "uptime": uptime})
            elif op in OPS:
                OPS[op](req, self.wfile)
            else:
                reply(self.wfile, {"error": f"unknown op {op!r}"})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # the harness shows this; guestd keeps serving
            try:
                reply(self.wfile, {"error": f"{type(e).__name__}: {e}"})
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


def serve(host, port):
    os.makedirs(SPAWN_DIR, exist_ok=True)
    with Server((host, port), Handler) as server:
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print(f"guestd: listening on {host}:{port}", flush=True)
        server.serve_forever()


def reap_forever(host, port):
    """PID 1: serve in a child, reap every process that ends up here."""
    while True:
        server = os.fork()
        if server == 0:
            try:
                serve(host, port)
            finally:
                os._exit(1)
        while True:
            try:
                pid, _ = os.wait()
            except ChildProcessError:
                time.sleep(0.5)
                continue
            if pid == server:
                print("guestd: the server exited; restarting it", flush=True)
                time.sleep(1)
                break


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--init", action="store_true")
    args = parser.parse_args()
    if args.init and os.getpid() == 1:
        reap_forever(args.listen, args.port)
    else:
        serve(args.listen, args.port)


if __name__ == "__main__":
    sys.exit(main())
