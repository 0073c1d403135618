#!/usr/bin/env python3
"""Keep-alive load through a SIGTERM, for `bench/run faults` (drain under load).

CONNS connections send GET PATH back to back, each as soon as the previous answer is in; after
--term-after seconds the client sends SIGTERM to --pid (the gateway) and keeps going: a
connection answered with Connection: close (or closed) reconnects, until connects are refused
(the listener is closed) and no connection is left. Unlike wrk, it tells the ways a request can
fail apart: wrk reconnects silently on a close with a request outstanding, and counts a refused
connect as a read or a write error, like a reset.

Prints one line in the format of bench/tools/ledger.lua:
  ledger sent=N 1xx=N 2xx=N 3xx=N 4xx=N 5xx=N connect=N read=N write=N timeout=N p99_us=N lost=N
sent: requests written; connect: connects refused (no request sent); read: resets with a
request outstanding; write: failed writes on an open connection; lost: closed (EOF) with a
request outstanding and no answer; timeout: answered after 2 s."""

import argparse
import errno
import os
import selectors
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--path", default="/bench")
    ap.add_argument("--pid", type=int, required=True, help="the gateway, sent SIGTERM")
    ap.add_argument("--term-after", type=float, default=3.0)
    ap.add_argument("--limit", type=float, default=30.0, help="give up after this many seconds")
    args = ap.parse_args()

    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> {"buf": bytes received, "start": send time or None}
    n = {k: 0 for k in ("sent", "1xx", "2xx", "3xx", "4xx", "5xx", "connect", "read", "write",
                        "timeout", "lost")}
    latencies = []
    t0 = time.monotonic()
    termed = False
    refused_once = False

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", args.port))
        conns[s] = {"buf": b"", "start": None}
        sel.register(s, selectors.EVENT_WRITE)

    def drop(s):
        sel.unregister(s)
        del conns[s]
        s.close()

    def reopen():
        if not refused_once:
            open_one()

    def complete(buf):
        """(length, status, close) of the response at the start of buf, or None."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = buf[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and "close" in value:
                close = True
        if len(buf) < end + 4 + length:
            return None
        return end + 4 + length, status, close

    for _ in range(args.conns):
        open_one()
    while conns and time.monotonic() < t0 + args.limit:
        if not termed and time.monotonic() >= t0 + args.term_after:
            os.kill(args.pid, signal.SIGTERM)
            termed = True
        for key, events in sel.select(0.05):
            s = key.fileobj
            c = conns.get(s)
            if c is None:
                continue
            if events & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0 and c["start"] is None and not c.get("used"):
                    n["connect"] += 1  # refused: the listener is closed
                    refused_once = refused_once or termed
                    drop(s)
                    reopen()
                    continue
                try:
                    s.send(request)
                except OSError:
                    n["write"] += 1
                    drop(s)
                    reopen()
                    continue
                n["sent"] += 1
                c["start"] = time.monotonic()
                c["used"] = True
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except OSError as e:
                if c["start"] is not None:
                    n["read"] += 1
                elif e.errno == errno.ECONNREFUSED:
                    n["connect"] += 1
                    refused_once = refused_once or termed
                drop(s)
                reopen()
                continue
            if not data:
                if c["start"] is not None:
                    n["lost"] += 1
                drop(s)
                reopen()
                continue
            c["buf"] += data
            r = complete(c["buf"])
            if r is None:
                continue
            length, status, close = r
            took = time.monotonic() - c["start"]
            latencies.append(took)
            n["timeout"] += took > 2.0
            n[f"{min(status // 100, 5)}xx"] += 1
            c["buf"] = c["buf"][length:]
            c["start"] = None
            if close:
                drop(s)
                reopen()
            else:
                sel.modify(s, selectors.EVENT_WRITE)
    n["lost"] += sum(1 for c in conns.values() if c["start"] is not None)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    print("ledger " + " ".join(f"{k}={v}" for k, v in n.items()) + f" p99_us={p99 * 1e6:.0f}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
