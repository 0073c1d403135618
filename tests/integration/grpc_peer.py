#!/usr/bin/python3
"""A gRPC origin and a gRPC client for http2_test.cc, on Debian's python3-grpcio (generic
handlers over raw bytes: no protobuf, no generated code).

    grpc_peer.py serve                 listens on 127.0.0.1:0, prints "listening 127.0.0.1:PORT"
    grpc_peer.py call PORT CASE [...]  one call through the gateway on PORT; prints key=value facts

Service test.Echo:
    Unary(bytes) -> the bytes reversed; metadata x-echo is sent back as initial metadata
    Stream(bytes N) -> N messages "msg-0".."msg-(N-1)" (server streaming)
    Fail(bytes) -> aborts with NOT_FOUND, details "no such thing"
    Slow(bytes MS) -> answers after MS milliseconds
"""

import sys
import time
from concurrent import futures

import grpc


def serve():
    def unary(request, context):
        for key, value in context.invocation_metadata():
            if key == "x-echo":
                context.send_initial_metadata((("x-echo", value),))
        return request[::-1]

    def stream(request, context):
        for i in range(int(request.decode() or "0")):
            yield f"msg-{i}".encode()

    def fail(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def slow(request, context):
        time.sleep(int(request.decode()) / 1000)
        return b"late"

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


def say(key, value):
    print(f"{key}={value}", flush=True)


def call(port, case, args):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    method = {"unary": "Unary", "stream": "Stream", "fail": "Fail", "slow": "Slow",
              "missing": "Missing"}[case]
    path = f"/test.Echo/{method}"
    try:
        if case == "stream":
            rpc = channel.unary_stream(path)
            got = [m.decode() for m in rpc(args[0].encode(), timeout=10)]
            say("count", len(got))
            say("last", got[-1] if got else "")
            say("code", "OK")
            return
        rpc = channel.unary_unary(path)
        timeout = float(args[1]) if case == "slow" and len(args) > 1 else 10
        response, call_info = rpc.with_call(args[0].encode() if args else b"hello",
                                            timeout=timeout, metadata=(("x-echo", "back"),))
        say("response", response.decode())
        for key, value in call_info.initial_metadata():
            if key == "x-echo":
                say("x-echo", value)
        say("code", "OK")
    except grpc.RpcError as e:
        say("code", e.code().name)
        say("details", e.details())


def main():
    if sys.argv[1] == "serve":
        serve()
    else:
        call(int(sys.argv[2]), sys.argv[3], sys.argv[4:])


if __name__ == "__main__":
    main()
