#!/usr/bin/env python3
"""Opens N keep-alive connections that each make one request, read the whole response and then stay
open and idle. Prints "ready OPEN FAILED" once all are done, then holds them until killed.
Used by `bench/run idle` to measure a server's memory per idle connection."""

import argparse
import resource
import selectors
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--conns", type=int, default=8000)
    ap.add_argument("--path", default="/bench")
    ap.add_argument("--parallel", type=int, default=256, help="connections being set up at once")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--sources", type=int, default=0,
                    help="local addresses 127.0.0.2.. to connect from (0: one per 20,000 "
                         "connections to a loopback server; one source address has ~28,000 "
                         "ephemeral ports)")
    args = ap.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.conns + 64:
        sys.exit(f"idle_client: RLIMIT_NOFILE hard limit {hard} is too low for {args.conns}")

    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    sources = args.sources
    if sources == 0 and args.host.startswith("127."):
        sources = (args.conns + 19999) // 20000
    sel = selectors.DefaultSelector()
    held = []  # idle sockets, kept referenced so they stay open
    state = {}  # socket -> bytearray of the response so far (None while connecting)
    started = failed = 0
    deadline = time.monotonic() + args.timeout

    def start_one():
        nonlocal started
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if sources > 1:
            s.bind((f"127.0.0.{2 + started % sources}", 0))
        s.connect_ex((args.host, args.port))
        state[s] = None
        sel.register(s, selectors.EVENT_WRITE)
        started += 1

    def drop(s):
        nonlocal failed
        failed += 1
        sel.unregister(s)
        del state[s]
        s.close()

    def response_complete(buf):
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        length = 0
        for line in bytes(buf[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return len(buf) >= end + 4 + length

    while len(held) + failed < args.conns:
        while started < args.conns and len(state) < args.parallel:
            start_one()
        if time.monotonic() > deadline:
            sys.exit(f"idle_client: timed out with {len(held)} open, {failed} failed")
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            buf = state[s]
            if buf is None:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    drop(s)
                    continue
                s.sendall(request)  # tiny, fits the empty send buffer
                state[s] = bytearray()
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except OSError:
                drop(s)
                continue
            if not data:
                drop(s)
                continue
            buf += data
            if response_complete(buf):
                if not buf.startswith(b"HTTP/1.1 200"):
                    drop(s)
                    continue
                sel.unregister(s)
                del state[s]
                held.append(s)

    print(f"ready {len(held)} {failed}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:  # hold the connections until killed
            signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
