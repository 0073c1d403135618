#!/usr/bin/env python3
"""Slow-header (slowloris) or silent connections against one port, for `bench/run faults`.

Opens N connections, RATE a second. `headers` mode sends the start of a request head, then one
more header line every INTERVAL seconds, never the blank line that ends the head; `silent`
sends nothing. A connection the server closes (its header timeout) is reopened at the same
rate until --duration ends, so the server sees about N open at a time. Its own CPU time is
small (a heap of due sends, one epoll), unlike slowhttptest, which polls every socket in a
loop.

Prints "ready OPEN" once N are open (or after the ramp, if they never were), and at the end
"done OPENED CLOSED_BY_SERVER FAILED PEAK": connections opened, closed by the server, failed to
connect, the most open at once."""

import argparse
import errno
import heapq
import resource
import select
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--conns", type=int, default=4000)
    ap.add_argument("--rate", type=int, default=400, help="connections opened per second")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between header lines")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--mode", choices=("headers", "silent"), default="headers")
    ap.add_argument("--path", default="/bench")
    args = ap.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.conns + 64:
        sys.exit(f"slow_client: RLIMIT_NOFILE hard limit {hard} is too low for {args.conns}")
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)

    head = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: slow_client\r\n".encode()
    poller = select.epoll()
    socks = {}  # fd -> [socket, header lines sent]
    due = []  # heap of (when, sequence, fd, socket): the next header line due
    opened = closed = failed = peak = lines = seq = 0
    ready = False
    t0 = last = time.monotonic()
    end = t0 + args.duration
    budget = 0.0  # connections the rate allows now

    def close(fd):
        poller.unregister(fd)
        socks.pop(fd)[0].close()

    while not stop and time.monotonic() < end:
        now = time.monotonic()
        budget = min(budget + (now - last) * args.rate, float(args.rate))
        last = now
        while len(socks) < args.conns and budget >= 1:
            budget -= 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((args.host, args.port))
            if rc not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
                continue
            opened += 1
            socks[s.fileno()] = [s, 0]
            # EPOLLIN: the server's answer (a 408 or 503) or its close.
            poller.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            if args.mode == "headers":
                seq += 1
                heapq.heappush(due, (now, seq, s.fileno(), s))
        peak = max(peak, len(socks))
        if not ready and (len(socks) >= args.conns or now - t0 > args.conns / args.rate + 5):
            ready = True
            print(f"ready {len(socks)}", flush=True)
        for fd, _ in poller.poll(0.02):
            if fd not in socks:
                continue
            try:
                data = socks[fd][0].recv(4096)
            except OSError:
                data = b""
            if not data:
                closed += 1
                close(fd)
        while due and due[0][0] <= now:
            _, _, fd, s = heapq.heappop(due)
            entry = socks.get(fd)
            if entry is None or entry[0] is not s:
                continue  # closed meanwhile (the fd may be another connection's by now)
            lines += 1
            data = head if entry[1] == 0 else f"X-Slow-{lines % 1000}: {lines}\r\n".encode()
            try:
                s.send(data)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.ENOTCONN):
                    closed += 1
                    close(fd)
                    continue
                seq += 1
                heapq.heappush(due, (now + 0.1, seq, fd, s))  # still connecting: soon again
                continue
            entry[1] += 1
            seq += 1
            heapq.heappush(due, (now + args.interval, seq, fd, s))
    print(f"done {opened} {closed} {failed} {peak}", flush=True)


if __name__ == "__main__":
    main()
