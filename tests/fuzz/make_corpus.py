#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_http_request into corpus/http_request/.

Each file is: byte 0 = k (number of split bytes), k split bytes (piece lengths, 0 = the rest),
then the byte stream a client sends. Re-run after editing; inputs found by fuzzing are added as
found-*.bin files by hand and are left alone here.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "http_request")


def req(method="GET", target="/", headers=(("Host", "example.com"),), body=b"", version="1.1"):
    head = f"{method} {target} HTTP/{version}\r\n"
    for name, value in headers:
        head += f"{name}: {value}\r\n"
    return head.encode() + b"\r\n" + body


GET = req(target="/api/v1/orders?id=42&x=y", headers=(
    ("Host", "example.com:8080"), ("User-Agent", "curl/7.88.1"), ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate, br"), ("Connection", "keep-alive"),
    ("X-Request-Id", "5f1c2d3e-aaaa-bbbb-cccc-0123456789ab")))

seeds = {
    # valid requests
    "get_minimal": req(),
    "get_typical": GET,
    "get_http10": b"GET /old HTTP/1.0\r\n\r\n",
    "get_http10_keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "get_close": req(headers=(("Host", "h"), ("Connection", "close"))),
    "head": req("HEAD", "/hello"),
    "options_star": req("OPTIONS", "*"),
    "connect_authority": req("CONNECT", "example.com:443"),
    "absolute_form": req(target="http://example.com/a/b?c=d"),
    "host_ipv6": req(headers=(("Host", "[::1]:8080"),)),
    "ows_values": b"GET / HTTP/1.1\r\nHost:   h  \r\nX-A:\tv\t\r\nX-Empty:\r\n\r\n",
    "upgrade_websocket": req(headers=(("Host", "h"), ("Connection", "Upgrade"),
                                      ("Upgrade", "websocket"))),
    "leading_crlf": b"\r\n\r\n" + req(),
    # pipelining
    "pipelined_3": req(target="/a") + req(target="/b") + req(target="/c"),
    "pipelined_16": b"".join(req(target=f"/p/{i}") for i in range(16)),
    "pipelined_post_get": req("POST", "/p", (("Host", "h"), ("Content-Length", "5")), b"hello") + req(),
    # bodies
    "post_content_length": req("POST", "/submit", (("Host", "h"), ("Content-Type", "application/json"),
                                                   ("Content-Length", "17")), b'{"a":1,"b":[1,2]}'),
    "post_cl_zero": req("POST", "/z", (("Host", "h"), ("Content-Length", "0"))),
    "post_chunked": req("POST", "/c", (("Host", "h"), ("Transfer-Encoding", "chunked")),
                        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"),
    "post_chunked_trailers": req("POST", "/c", (("Host", "h"), ("Transfer-Encoding", "chunked")),
                                 b"3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n") + req(),
    "post_chunked_hex_upper": req("PUT", "/c", (("Host", "h"), ("Transfer-Encoding", "chunked")),
                                  b"A\r\n0123456789\r\n0\r\n\r\n"),
    "expect_100": req("POST", "/up", (("Host", "h"), ("Expect", "100-continue"),
                                      ("Content-Length", "4")), b"data"),
    "expect_other": req("POST", "/up", (("Host", "h"), ("Expect", "200-ok"), ("Content-Length", "1")), b"x"),
    "body_over_limit_cl": req("POST", "/big", (("Host", "h"), ("Content-Length", "5000")), b"x" * 100),
    "body_over_limit_chunked": req("POST", "/big", (("Host", "h"), ("Transfer-Encoding", "chunked")),
                                   b"1000\r\n" + b"y" * 1500),
    # framing attacks (request smuggling)
    "smuggle_cl_te": req("POST", "/", (("Host", "h"), ("Content-Length", "6"),
                                       ("Transfer-Encoding", "chunked")), b"0\r\n\r\nG") + req(),
    "smuggle_te_cl": req("POST", "/", (("Host", "h"), ("Transfer-Encoding", "chunked"),
                                       ("Content-Length", "4")), b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"),
    "smuggle_double_cl": req("POST", "/", (("Host", "h"), ("Content-Length", "3"),
                                           ("Content-Length", "10")), b"abcdefghij"),
    "smuggle_cl_list": req("POST", "/", (("Host", "h"), ("Content-Length", "3, 3")), b"abc"),
    "smuggle_te_obfuscated": req("POST", "/", (("Host", "h"), ("Transfer-Encoding", "xchunked")), b"0\r\n\r\n"),
    "smuggle_te_gzip_chunked": req("POST", "/", (("Host", "h"), ("Transfer-Encoding", "gzip, chunked")), b"0\r\n\r\n"),
    "smuggle_te_chunked_gzip": req("POST", "/", (("Host", "h"), ("Transfer-Encoding", "chunked, gzip")), b"0\r\n\r\n"),
    "obs_fold": b"GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",
    "obs_fold_te": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: h\n\n",
    "bare_lf_in_value": b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\nb\r\n\r\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "space_in_name": b"GET / HTTP/1.1\r\nHost: h\r\nTransfer Encoding: chunked\r\n\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
    "double_host": req(headers=(("Host", "a"), ("Host", "b"))),
    "missing_host": b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
    "bad_chunk_size": req("POST", "/", (("Host", "h"), ("Transfer-Encoding", "chunked")), b"zz\r\nabc\r\n0\r\n\r\n"),
    "chunk_size_overflow": req("POST", "/", (("Host", "h"), ("Transfer-Encoding", "chunked")),
                               b"fffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
    "chunk_missing_crlf": req("POST", "/", (("Host", "h"), ("Transfer-Encoding", "chunked")), b"3\r\nabcX0\r\n\r\n"),
    "negative_cl": req("POST", "/", (("Host", "h"), ("Content-Length", "-1"))),
    "cl_plus_sign": req("POST", "/", (("Host", "h"), ("Content-Length", "+3")), b"abc"),
    "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "http09": b"GET /\r\n",
    "bad_version": b"GET / HTTP/1.7\r\nHost: h\r\n\r\n",
    "bad_method": b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
    "ctl_in_target": b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n",
    # limits
    "long_url_ok": req(target="/" + "a" * 200),
    "long_url_414": req(target="/" + "a" * 300),
    "many_headers_ok": req(headers=[("Host", "h")] + [(f"X-H{i}", str(i)) for i in range(15)]),
    "many_headers_431": req(headers=[("Host", "h")] + [(f"X-H{i}", str(i)) for i in range(20)]),
    "big_head_431": req(headers=(("Host", "h"), ("Cookie", "c" * 1100))),
    "head_near_limit": req(headers=(("Host", "h"), ("Cookie", "c" * 980))),
}

# Split patterns cycled over the files: whole, byte by byte, small odd pieces, mixed.
SPLITS = [b"\x00", b"\x01\x01", b"\x01\x07", b"\x02\x0d\xc8", b"\x03\x03\x40\x00", b"\x01\x40"]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if not name.startswith("found-"):
            os.remove(os.path.join(OUT, name))
    for i, (name, stream) in enumerate(sorted(seeds.items())):
        data = SPLITS[i % len(SPLITS)] + stream
        assert len(data) < 2048, name
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
