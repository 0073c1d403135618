#!/usr/bin/python3
"""Writes the seed inputs of fuzz_h2_session (tests/fuzz/corpus/h2_session): a piece-size byte,
then HTTP/2 frames as a client sends them after its connection preface, encoded by hand (HPACK
static-table fields and literals without Huffman coding)."""

import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "h2_session")


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def literal(index, value):  # literal with incremental indexing, indexed name
    v = value.encode()
    return bytes([0x40 | index, len(v)]) + v


SETTINGS = frame(4, 0, 0)
SETTINGS_ACK = frame(4, 1, 0)
GET = b"\x82\x87\x84" + literal(1, "api.test")  # :method GET, :scheme https, :path /
POST = b"\x83\x87" + literal(4, "/upload") + literal(1, "api.test")
END_STREAM, END_HEADERS = 0x1, 0x4

SEEDS = {
    "get": SETTINGS + frame(1, END_HEADERS | END_STREAM, 1, GET),
    "get-two-streams": SETTINGS + SETTINGS_ACK + frame(1, END_HEADERS | END_STREAM, 1, GET) +
    frame(1, END_HEADERS | END_STREAM, 3, GET),
    "post-body": SETTINGS + frame(1, END_HEADERS, 1, POST) + frame(0, 0, 1, b"x" * 100) +
    frame(0, END_STREAM, 1, b"y" * 10),
    "rapid-reset": SETTINGS + b"".join(
        frame(1, END_HEADERS, 2 * i + 1, GET) + frame(3, 0, 2 * i + 1, struct.pack(">I", 8))
        for i in range(40)),
    "continuation": SETTINGS + frame(1, END_STREAM, 1, GET[:2]) + frame(9, 0, 1, GET[2:3]) +
    frame(9, END_HEADERS, 1, GET[3:]),
    "ping-window-goaway": SETTINGS + frame(6, 0, 0, b"12345678") +
    frame(8, 0, 0, struct.pack(">I", 1000)) + frame(7, 0, 0, struct.pack(">II", 0, 0)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, frames in SEEDS.items():
        for piece in (0, 7, 63):
            with open(os.path.join(OUT, f"{name}-{piece + 1}"), "wb") as f:
                f.write(bytes([piece]) + frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
