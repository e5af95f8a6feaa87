#!/usr/bin/env python3
"""Kernel cost of relaying a bulk stream between two loopback TCP connections.

A sender thread (CPU 1) pushes MiB blocks into connection A, the relay (CPU 0) moves them to
connection B, a receiver thread (CPU 1) drains B: the shape of the `large` scenario without HTTP.
Prints the relay thread's CPU time per MiB, so a proxy's way of moving bytes (read size, write
size, splice) can be priced apart from everything else a proxy does.

    python3 bench/probes/relay.py copy 2000          # recv 64 KiB, send it
    CHUNK=1048576 python3 bench/probes/relay.py copy 2000
    python3 bench/probes/relay.py splice 2000        # socket -> pipe -> socket, no user copy
"""
import fcntl
import os
import socket
import sys
import threading
import time

F_SETPIPE_SZ = 1031
MIB = 1 << 20


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def sender(port, mib):
    os.sched_setaffinity(0, {1})
    with socket.create_connection(("127.0.0.1", port)) as c:
        block = b"x" * MIB
        for _ in range(mib):
            c.sendall(block)


def receiver(port, received):
    os.sched_setaffinity(0, {1})
    with socket.create_connection(("127.0.0.1", port)) as c:
        n = 0
        while True:
            b = c.recv(MIB)
            if not b:
                break
            n += len(b)
    received.append(n)


def relay_copy(a, b, chunk):
    buf = bytearray(chunk)
    view = memoryview(buf)
    moved = 0
    while True:
        n = a.recv_into(buf)
        if n == 0:
            return moved
        b.sendall(view[:n])
        moved += n


def relay_splice(a, b):
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, MIB)
    moved = 0
    while True:
        n = os.splice(a.fileno(), w, MIB)
        if n == 0:
            return moved
        left = n
        while left:
            left -= os.splice(r, b.fileno(), left)
        moved += n


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("copy", "splice"):
        sys.exit("usage: relay.py copy|splice MIB")
    mode, mib = sys.argv[1], int(sys.argv[2])
    chunk = int(os.environ.get("CHUNK", 64 << 10))
    la, lb = listener(), listener()
    received = []
    rx = threading.Thread(target=receiver, args=(lb.getsockname()[1], received))
    tx = threading.Thread(target=sender, args=(la.getsockname()[1], mib))
    rx.start()
    b, _ = lb.accept()
    tx.start()
    a, _ = la.accept()
    b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    os.sched_setaffinity(0, {0})
    t0 = time.thread_time()
    moved = relay_copy(a, b, chunk) if mode == "copy" else relay_splice(a, b)
    t1 = time.thread_time()
    b.close()
    rx.join()
    tx.join()
    label = f"copy {chunk >> 10} KiB" if mode == "copy" else "splice"
    print(f"{label}: {moved // MIB} MiB relayed ({received[0] // MIB} received), "
          f"relay CPU {(t1 - t0) * 1e6 / (moved / MIB):.0f} us/MiB")


if __name__ == "__main__":
    main()
