#!/usr/bin/python3
"""HTTP/2 client cases the usual clients cannot make: floods, malformed frame sequences, a client
that never opens its window, request bodies without a length. Run by http2_test.cc with Debian's
python3 (python3-h2, python3-hyperframe, python3-hpack).

    h2_client.py SCENARIO PORT [ARG...]
    h2_client.py serve reset|refuse|cut   (an origin that misbehaves: see serve())

Prints one `key=value` line per fact observed (the test asserts on them); exit 0 unless the
client itself failed (no connection).
"""

import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def say(key, value):
    print(f"{key}={value}", flush=True)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def client(sock, settings=None):
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    sock.sendall(conn.data_to_send())
    return conn


def request_headers(port, path, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", f"127.0.0.1:{port}"),
            (":path", path)] + list(extra)


def read_frames(sock, seconds):
    """Raw frames from the server for up to `seconds` (or until it closes): (type, flags, stream,
    payload) tuples, and whether the connection closed."""
    buf = b""
    frames = []
    closed = False
    deadline = time.monotonic() + seconds
    sock.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        while len(buf) >= 9:
            length = int.from_bytes(buf[0:3], "big")
            if len(buf) < 9 + length:
                break
            ftype, flags = buf[3], buf[4]
            stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            frames.append((ftype, flags, stream, buf[9:9 + length]))
            buf = buf[9 + length:]
    return frames, closed


DATA, HEADERS, RST_STREAM, GOAWAY = 0x0, 0x1, 0x3, 0x7


def report_goaway(frames, closed, started):
    """Prints the first GOAWAY's error code, when it came, and whether the connection closed."""
    for ftype, _flags, _stream, payload in frames:
        if ftype == GOAWAY:
            say("goaway", int.from_bytes(payload[4:8], "big"))
            break
    else:
        say("goaway", "none")
    say("closed", int(closed))
    say("elapsed_ms", int((time.monotonic() - started) * 1000))


def rapid_reset(port, count):
    """HEADERS then RST_STREAM CANCEL at once, `count` times as fast as the socket takes them."""
    sock = connect(port)
    conn = client(sock)
    encoder = hpack.Encoder()
    started = time.monotonic()
    sent = 0
    try:
        stream = 1
        batch = b""
        for i in range(count):
            block = encoder.encode(request_headers(port, "/hello"))
            h = HeadersFrame(stream, block)
            h.flags.add("END_HEADERS")
            h.flags.add("END_STREAM")
            r = RstStreamFrame(stream)
            r.error_code = 8  # CANCEL
            batch += h.serialize() + r.serialize()
            stream += 2
            if len(batch) > 16384 or i == count - 1:
                sock.sendall(batch)
                sent = i + 1
                batch = b""
    except (BrokenPipeError, ConnectionResetError):
        pass
    say("resets_sent", sent)
    frames, closed = read_frames(sock, 3)
    report_goaway(frames, closed, started)
    del conn


def continuation_flood(port, count):
    """A HEADERS frame without END_HEADERS, then `count` CONTINUATION frames, none ending it."""
    sock = connect(port)
    client(sock)
    encoder = hpack.Encoder()
    started = time.monotonic()
    block = encoder.encode(request_headers(port, "/hello"))
    frames = HeadersFrame(1, block).serialize()
    for i in range(count):
        c = ContinuationFrame(1, encoder.encode([(f"x-filler-{i}", "y" * 16)]))
        frames += c.serialize()
    try:
        sock.sendall(frames)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got, closed = read_frames(sock, 3)
    report_goaway(got, closed, started)


def stalled_head(port):
    """A HEADERS frame without END_HEADERS and nothing after it: the head never completes."""
    sock = connect(port)
    client(sock)
    encoder = hpack.Encoder()
    started = time.monotonic()
    sock.sendall(HeadersFrame(1, encoder.encode(request_headers(port, "/hello"))).serialize())
    got, closed = read_frames(sock, 6)
    report_goaway(got, closed, started)


def control_flood(port, kind, count):
    """`count` SETTINGS (or PING) frames back to back."""
    sock = connect(port)
    client(sock)
    started = time.monotonic()
    if kind == "settings":
        one = SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 65535}).serialize()
    else:
        one = PingFrame(0, opaque_data=b"12345678").serialize()
    try:
        sock.sendall(one * count)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got, closed = read_frames(sock, 3)
    report_goaway(got, closed, started)


def events(sock, conn, seconds, finished):
    """The h2 events the server's bytes make, for up to `seconds`, until finished() says so or the
    server closes; what the client owes (acknowledgements, window updates) goes out after each
    read."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.1)
    while time.monotonic() < deadline and not finished():
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            return
        yield from conn.receive_data(data)
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)


def responses(sock, conn, seconds, want):
    """h2 events until `want` streams ended (or were reset) or `seconds` passed: per stream, its
    status, body bytes, reset code and trailers."""
    out = {}
    done = set()
    for ev in events(sock, conn, seconds, lambda: len(done) >= want):
        sid = getattr(ev, "stream_id", None)
        st = out.setdefault(sid, {"status": None, "body": b"", "reset": None, "headers": []})
        if isinstance(ev, h2.events.ResponseReceived):
            st["headers"] = ev.headers
            for name, value in ev.headers:
                if name == ":status":
                    st["status"] = int(value)
        elif isinstance(ev, h2.events.DataReceived):
            st["body"] += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, sid)
        elif isinstance(ev, h2.events.StreamEnded):
            done.add(sid)
        elif isinstance(ev, h2.events.StreamReset):
            st["reset"] = ev.error_code
            done.add(sid)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            say("goaway", ev.error_code)
            done.update(out)
    return out


def big_headers(port, size):
    """One request whose header list is about `size` bytes (fields of 1 KiB)."""
    sock = connect(port)
    conn = client(sock)
    extra = [(f"x-big-{i}", "v" * 1000) for i in range(size // 1000)]
    conn.send_headers(1, request_headers(port, "/hello", extra=extra), end_stream=True)
    sock.sendall(conn.data_to_send())
    st = responses(sock, conn, 5, 1).get(1, {})
    say("status", st.get("status"))
    say("reset", st.get("reset"))
    # The connection goes on: a normal request on it is answered.
    conn.send_headers(3, request_headers(port, "/hello"), end_stream=True)
    sock.sendall(conn.data_to_send())
    st = responses(sock, conn, 5, 1).get(3, {})
    say("next_status", st.get("status"))


def post_unsized(port, path, size):
    """POST with a body of `size` bytes in DATA frames and no content-length."""
    sock = connect(port)
    conn = client(sock)
    conn.send_headers(1, request_headers(port, path, "POST"), end_stream=False)
    body = bytes((i * 7) % 251 for i in range(size))
    sent = 0
    while sent < size:
        window = min(conn.local_flow_control_window(1), conn.max_outbound_frame_size)
        if window <= 0:
            pending = conn.data_to_send()
            if pending:
                sock.sendall(pending)
            sock.settimeout(5)
            data = sock.recv(65536)
            if not data:
                break
            conn.receive_data(data)
            continue
        n = min(window, size - sent)
        conn.send_data(1, body[sent:sent + n], end_stream=sent + n == size)
        sent += n
        sock.sendall(conn.data_to_send())
    st = responses(sock, conn, 10, 1).get(1, {})
    say("status", st.get("status"))
    say("body_bytes", len(st.get("body", b"")))
    # The upstream echoes the request as received: its body, de-chunked, must be ours.
    raw = st.get("body", b"")
    head_end = raw.find(b"\r\n\r\n")
    head = raw[:head_end].decode("latin-1").lower() if head_end >= 0 else ""
    say("upstream_chunked", int("transfer-encoding: chunked" in head))
    payload = raw[head_end + 4:] if head_end >= 0 else b""
    decoded = b""
    while payload:
        line_end = payload.find(b"\r\n")
        n = int(payload[:line_end].split(b";")[0], 16)
        if n == 0:
            break
        decoded += payload[line_end + 2:line_end + 2 + n]
        payload = payload[line_end + 2 + n + 2:]
    say("body_intact", int(decoded == body if "chunked" in head else payload == body))


def closed_window(port, path, seconds):
    """Asks for a large response with an initial window of 0 and never opens it: the gateway must
    give up on the stream (reset) rather than buffer the body, and keep the connection usable."""
    sock = connect(port)
    conn = client(sock, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    conn.send_headers(1, request_headers(port, path), end_stream=True)
    sock.sendall(conn.data_to_send())
    started = time.monotonic()
    st = responses(sock, conn, seconds, 1).get(1, {})
    say("status", st.get("status"))
    say("reset", st.get("reset"))
    say("elapsed_ms", int((time.monotonic() - started) * 1000))


def data_after_end(port):
    """A complete request (END_STREAM on its HEADERS), then DATA on that closed stream."""
    sock = connect(port)
    client(sock)
    encoder = hpack.Encoder()
    h = HeadersFrame(1, encoder.encode(request_headers(port, "/hello")))
    h.flags.add("END_HEADERS")
    h.flags.add("END_STREAM")
    d = DataFrame(1, b"late")
    started = time.monotonic()
    sock.sendall(h.serialize() + d.serialize())
    got, closed = read_frames(sock, 2)
    for ftype, _flags, stream, payload in got:
        if ftype == RST_STREAM and stream == 1:
            say("rst", int.from_bytes(payload[0:4], "big"))
            break
    else:
        say("rst", "none")
    report_goaway(got, closed, started)


def reset_in_flight(port, path):
    """Starts a request the upstream answers slowly, then cancels it."""
    sock = connect(port)
    conn = client(sock)
    conn.send_headers(1, request_headers(port, path), end_stream=True)
    sock.sendall(conn.data_to_send())
    time.sleep(0.3)
    conn.reset_stream(1, 8)
    sock.sendall(conn.data_to_send())
    # The connection stays usable.
    conn.send_headers(3, request_headers(port, "/hello"), end_stream=True)
    sock.sendall(conn.data_to_send())
    st = responses(sock, conn, 5, 1).get(3, {})
    say("next_status", st.get("status"))


def drain(port, path):
    """Opens a slow request; the test signals the gateway meanwhile. Reports the GOAWAY and the
    stream's status and body, read as raw frames (the GOAWAY comes before the stream ends)."""
    sock = connect(port)
    conn = client(sock)
    conn.send_headers(1, request_headers(port, path), end_stream=True)
    sock.sendall(conn.data_to_send())
    started = time.monotonic()
    got, closed = read_frames(sock, 10)
    decoder = hpack.Decoder()
    status, body = None, 0
    for ftype, _flags, stream, payload in got:
        if ftype == HEADERS and stream == 1:
            for name, value in decoder.decode(payload):
                if name in (":status", b":status"):
                    status = int(value)
        elif ftype == DATA and stream == 1:
            body += len(payload)
    say("status", status)
    say("body_bytes", body)
    report_goaway(got, closed, started)


def call(port, method, path, fields):
    """One request with extra fields ("name:value" arguments; a gRPC call sends one message, empty
    or "msg:TEXT"): prints the status, every response field and trailer as `h.NAME` / `t.NAME`,
    the body size and whether the response was a single HEADERS frame (Trailers-Only)."""
    sock = connect(port)
    conn = client(sock)
    extra = []
    message = b""
    for f in fields:
        name, _, value = f.partition(":")
        if name == "msg":
            message = value.encode()  # the gRPC message's bytes
        else:
            extra.append((name, value))
    grpc = any(n == "content-type" and v.startswith("application/grpc") for n, v in extra)
    body = b"\x00" + len(message).to_bytes(4, "big") + message if grpc else b""
    started = time.monotonic()
    conn.send_headers(1, request_headers(port, path, method, extra), end_stream=not body)
    if body:
        conn.send_data(1, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    body_bytes = 0
    ended = False
    for ev in events(sock, conn, 10, lambda: ended):
        if isinstance(ev, h2.events.ResponseReceived):
            for name, value in ev.headers:
                if name == ":status":
                    say("status", value)
                else:
                    say("h." + name, value)
            if ev.stream_ended is not None:
                say("trailers_only", 1)
        elif isinstance(ev, h2.events.TrailersReceived):
            for name, value in ev.headers:
                say("t." + name, value)
        elif isinstance(ev, h2.events.DataReceived):
            body_bytes += len(ev.data)
            conn.acknowledge_received_data(ev.flow_controlled_length, 1)
        elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
            ended = True
            if isinstance(ev, h2.events.StreamReset):
                say("reset", ev.error_code)
    say("body_bytes", body_bytes)
    say("ended", int(ended))
    say("elapsed_ms", int((time.monotonic() - started) * 1000))


def allocations(port, path, count_file, warm, measured):
    """`warm` requests for `path` on one connection, 8 at a time, then three rounds of `measured`
    more on it: the gateway's heap allocations in each round (the fewest is reported too), from
    the count file of perf/alloc_count.c's shim. Pools trim what a quiet second did not need, so
    on a loaded machine one round may have to refill them; not all three do."""
    sock = connect(port)
    conn = client(sock)
    statuses = {}

    def batch(n):
        for _ in range(0, n, 8):
            ids = []
            for _ in range(8):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, request_headers(port, path), end_stream=True)
                ids.append(sid)
            sock.sendall(conn.data_to_send())
            got = responses(sock, conn, 10, len(ids))
            for sid in ids:
                status = got.get(sid, {}).get("status")
                statuses[status] = statuses.get(status, 0) + 1

    def count():
        with open(count_file, "rb") as f:
            return int.from_bytes(f.read(8), sys.byteorder)

    batch(warm)
    rounds = []
    for _ in range(3):
        before = count()
        batch(measured)
        rounds.append(count() - before)
    say("allocations", min(rounds))
    say("rounds", ",".join(map(str, rounds)))
    say("streams", measured)
    say("statuses", ",".join(f"{k}:{v}" for k, v in sorted(statuses.items(), key=str)))


def serve(mode):
    """An HTTP/2 origin (prior knowledge) on 127.0.0.1:0 that misbehaves as `mode` says:
    reset: RST_STREAM (INTERNAL_ERROR) on every request, before any response;
    refuse: RST_STREAM (REFUSED_STREAM) on every request: refused unprocessed;
    cut: a 200 head and part of a body with no length, then RST_STREAM.
    Prints "listening 127.0.0.1:PORT"; serves until killed."""
    import threading
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"listening 127.0.0.1:{listener.getsockname()[1]}", flush=True)

    def handle(sock):
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        if mode == "reset":
                            conn.reset_stream(ev.stream_id, 2)
                        elif mode == "refuse":
                            conn.reset_stream(ev.stream_id, 7)  # REFUSED_STREAM
                        elif mode == "cut":
                            conn.send_headers(ev.stream_id, [(":status", "200")])
                            conn.send_data(ev.stream_id, b"x" * 1000)
                            conn.reset_stream(ev.stream_id, 2)
                sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            sock.close()

    while True:
        sock, _ = listener.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


def main():
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
        return
    scenario, port = sys.argv[1], int(sys.argv[2])
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    if scenario == "rapid-reset":
        rapid_reset(port, int(arg or 10000))
    elif scenario == "continuation":
        continuation_flood(port, int(arg or 10000))
    elif scenario in ("settings-flood", "ping-flood"):
        control_flood(port, scenario.split("-")[0], int(arg or 10000))
    elif scenario == "big-headers":
        big_headers(port, int(arg or 65536))
    elif scenario == "post-unsized":
        post_unsized(port, sys.argv[3], int(sys.argv[4]))
    elif scenario == "closed-window":
        closed_window(port, sys.argv[3], float(sys.argv[4]))
    elif scenario == "stalled-head":
        stalled_head(port)
    elif scenario == "data-after-end":
        data_after_end(port)
    elif scenario == "reset-in-flight":
        reset_in_flight(port, sys.argv[3])
    elif scenario == "call":
        call(port, sys.argv[3], sys.argv[4], sys.argv[5:])
    elif scenario == "drain":
        drain(port, sys.argv[3])
    elif scenario == "allocations":
        allocations(port, sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        print(f"unknown scenario {scenario}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
