#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_http_response into corpus/http_response/.

Each file is: byte 0 = flags (bit 0: the request was HEAD; bits 2-3: k, the number of split
bytes), k split bytes (piece lengths, 0 = the rest), then the bytes an upstream sends. Re-run
after editing; inputs found by fuzzing are added by hand and left alone here.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "http_response")

NGINX = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 04:58:00 GMT\r\n"
         b"Content-Type: application/json\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
         b'{"items":[]}')

SEEDS = {
    "nginx": NGINX,
    "nginx-twice": NGINX + NGINX,
    "empty-length": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    "no-content": b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n" + NGINX,
    "not-modified-length": b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\nContent-Length: 7\r\n\r\n",
    "close": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    "until-close": b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil close",
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                b"X-Sum: 1\r\n\r\n"),
    "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "length-and-chunked": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "upgrade": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n"),
    "empty-values": b"HTTP/1.1 200 OK\r\nA:\r\nB: \r\nContent-Length: 1\r\nC:\r\n\r\nz",
    "tab-and-utf8": b"HTTP/1.1 200 Fine\tthanks\r\nX-T: a\tb\r\nX-U: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
    "long-value": (b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 40 + b"\r\nX-Name-Longer-Than-Sixteen: 1"
                   b"\r\nContent-Length: 0\r\n\r\n"),
    "obs-fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
}


def write(name, stream, flags=0, splits=()):
    k = len(splits)
    data = bytes([flags | (k << 2)]) + bytes(splits) + stream
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, stream in SEEDS.items():
        write(name, stream)
        write(name + "-split", stream, splits=(7, 0, 3))
    write("nginx-head-request", NGINX, flags=1)


if __name__ == "__main__":
    main()
