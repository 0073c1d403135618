#!/usr/bin/python3
"""Tests of the io_uring floors of bench/run (perf/io_uring_floor.cc): each does the bench's
exchange in full, or the bench's comparison with it would flatter ringgate. The fan-out floor
answers the page `bench/run aggregate` checks ringgate against (the three backends' bodies
spliced into {product, stock, reviews}, stock the inventory's count), keeps answering on one
keep-alive connection, and copes with a response that arrives in pieces; the forwarder hands
bytes through unchanged. FLOOR: the built io_uring_floor (argv[1] or $FLOOR). Skipped (77) where
the kernel gives no io_uring."""

import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

FLOOR = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else \
    os.environ.get("FLOOR", "")

PRODUCT = {"id": "7", "name": "Trail shoe", "price": {"amount": 129.9, "currency": "EUR"},
           "tags": ["trail", "running"]}
INVENTORY = {"product_id": "7", "count": 17, "warehouse": "fra-1", "reserved": 3}
REVIEWS = {"product_id": "7", "rating": 4.4, "count": 2,
           "items": [{"id": "r-1", "text": "Great grip, \"never\" slipped"}, {"id": "r-2"}]}


class Backend(http.server.BaseHTTPRequestHandler):
    """One of the three: its body by path, with NGINX's trailing newline; the reviews body is
    written in two pieces, a pause between them."""
    protocol_version = "HTTP/1.1"
    bodies = {"/products/7": PRODUCT, "/inventory/7": INVENTORY, "/reviews/7": REVIEWS}
    seen = []

    def do_GET(self):
        Backend.seen.append(self.path)
        body = (json.dumps(self.bodies[self.path], separators=(",", ":")) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.startswith("/reviews/"):
            self.wfile.write(body[:20])
            self.wfile.flush()
            time.sleep(0.02)
            self.wfile.write(body[20:])
        else:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


class FloorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.servers = []
        for _ in range(3):
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            cls.servers.append(server)
        cls.procs = []

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            server.shutdown()

    def tearDown(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()
            proc.stderr.close()
        self.procs = []

    def start(self, *args, env=None):
        port = free_port()
        proc = subprocess.Popen([FLOOR, args[0], str(port), *map(str, args[1:])],
                                stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, **(env or {})))
        self.procs.append(proc)
        if not wait_port(port, proc):
            proc.kill()
            err = proc.communicate()[1]
            if "io_uring_queue_init" in err or "needs Linux 6.12" in err:
                raise unittest.SkipTest("not on this kernel: " + err.strip())
            self.fail("io_uring_floor did not listen: " + err)
        return port

    def test_fanout_answers_the_page_again_and_again_on_one_connection(self):
        ports = [s.server_address[1] for s in self.servers]
        port = self.start("fanout", *ports, 7)
        Backend.seen.clear()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(3):
            conn.request("GET", "/bench/products/7")
            response = conn.getresponse()
            raw = response.read()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.getheader("Content-Type"), "application/json")
            self.assertEqual(int(response.getheader("Content-Length")), len(raw))
            page = json.loads(raw)
            self.assertEqual(list(page), ["product", "stock", "reviews"])
            self.assertEqual(page, {"product": PRODUCT, "stock": 17, "reviews": REVIEWS})
        conn.close()
        self.assertEqual(sorted(Backend.seen),
                         sorted(["/products/7", "/inventory/7", "/reviews/7"] * 3))

    def test_forward_passes_bytes_through(self):
        port = self.start("forward", self.servers[0].server_address[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(2):
            conn.request("GET", "/products/7")
            response = conn.getresponse()
            self.assertEqual(response.status, 200)
            self.assertEqual(json.loads(response.read()), PRODUCT)
        conn.close()

    def test_batched_fanout_answers_every_connection(self):
        # Eight clients: each wait asks for four completions, and gets what is there 50 µs
        # after the first when fewer come (here one page at a time is all there is).
        ports = [s.server_address[1] for s in self.servers]
        port = self.start("fanout", *ports, 7, env={"IO_URING_FLOOR_BATCH_US": "50"})
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(8)]
        for _ in range(2):
            for conn in conns:
                conn.request("GET", "/bench/products/7")
                response = conn.getresponse()
                self.assertEqual(response.status, 200)
                self.assertEqual(json.loads(response.read())["stock"], 17)
        for conn in conns:
            conn.close()

    def test_respond_answers_each_head(self):
        port = self.start("respond")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            want = 2 * len(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                           b"Content-Length: 30\r\n\r\nhello from the ringgate bench\n")
            got = b""
            while len(got) < want:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        self.assertEqual(got.count(b"hello from the ringgate bench\n"), 2)
        self.assertEqual(len(got), want)


if __name__ == "__main__":
    if not FLOOR:
        sys.exit("usage: floor_test.py IO_URING_FLOOR (or FLOOR=...)")
    result = unittest.main(exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    sys.exit(77 if result.skipped and not result.testsRun - len(result.skipped) else 0)
