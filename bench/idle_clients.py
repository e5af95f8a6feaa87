#!/usr/bin/env python3
"""Opens N keep-alive HTTP connections, does one GET on each, then holds them all idle.

Used by the "memory" scenario: bench.py reads the server's RSS before and while these
connections are held. Prints `ready <opened> <failed>` once every connection has had its
response, then waits until stdin closes (or a signal) and exits, closing everything.

Usage: idle_clients.py HOST PORT COUNT
"""

import resource
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle-clients\r\n\r\n"


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def read_response(sock):
    """Reads one response with a Content-Length body; returns True when it was complete."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    raise_fd_limit(count + 64)
    held, failed = [], 0
    for _ in range(count):
        try:
            sock = socket.create_connection((host, port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(REQUEST)
            if read_response(sock):
                held.append(sock)
            else:
                failed += 1
                sock.close()
        except OSError:
            failed += 1
    print(f"ready {len(held)} {failed}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    for sock in held:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
