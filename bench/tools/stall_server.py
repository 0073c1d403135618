#!/usr/bin/python3
"""An HTTP/1.1 keep-alive server that answers every request at once ("ok"), except that every
--every seconds it stops for --stall milliseconds (its event loop blocked, as a garbage
collection or a disk stall would). Used to check that bench/load measures what users see:
the requests due during a stall all wait for it. Prints "port N" once it listens."""

import argparse
import asyncio
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def stall(every, stall_ms):
    while True:
        await asyncio.sleep(every)
        time.sleep(stall_ms / 1000.0)  # blocks the whole loop: nothing is answered meanwhile


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--stall", type=float, default=100.0, help="milliseconds")
    args = ap.parse_args()
    server = await asyncio.start_server(serve, "127.0.0.1", args.port)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    asyncio.get_running_loop().create_task(stall(args.every, args.stall))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
