#!/usr/bin/python3
"""lock-writer: shows which writes of a cut-off NFS client land after another client fenced it.

  lock-writer.py LOCKED BY_PATH

Takes the flock on LOCKED (opened read-write, as the agent opens lease.json), writes
"first" through that descriptor and flushes it, and prints "held". On SIGUSR1 (sent while
the client is cut off) it writes "stale" twice: to BY_PATH by path (a temporary file renamed
over it, as the state's other records are written), and to LOCKED through the locked
descriptor, flushing it. Each write waits for the server; once the network is back it prints
what happened to each: "by-path: landed" or "by-path: refused errno N", and the same for
"locked". Used by crates/khutulun/tests/nfs_lab.rs.
"""

import fcntl
import os
import signal
import sys


def attempt(name, write):
    try:
        write()
        print(f"{name}: landed", flush=True)
    except OSError as e:
        print(f"{name}: refused errno {e.errno} ({e.strerror})", flush=True)


def main():
    locked, by_path = sys.argv[1], sys.argv[2]
    fd = os.open(locked, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, b"first\n", 0)
    os.fsync(fd)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    print("held", flush=True)
    signal.sigwait([signal.SIGUSR1])

    def write_by_path():
        temp = f"{by_path}.tmp"
        with open(temp, "wb") as f:
            f.write(b"stale\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(temp, by_path)

    def write_locked():
        os.pwrite(fd, b"stale\n", 0)
        os.fsync(fd)

    attempt("by-path", write_by_path)
    attempt("locked", write_locked)


main()
