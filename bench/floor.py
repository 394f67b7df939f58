"""The physical floor: a bare asyncio server writing the same parts to the same viewers.

No framework, no per-viewer task: one Redis subscription delivers each camera's frames
(the same frames nvr serves), each part is framed once (with nvr's own
streaming/multipart.py) and chunk-encoded once, and every viewer of that camera gets
one `transport.write` of it, or nothing when its previous part has not left the
process yet (newest frame wins, memory bounded). Sockets are set up as nvr's server
sets them (SO_SNDBUF, write-buffer limit). What this costs per delivered frame is
what any Python server must pay; the report shows how far each design is from it.

    python -m bench.floor --port 8100 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket

from framebus import PUBSUB_PROTOCOL, Frame
from framebus.names import Names
from streaming import multipart

SEND_BUFFER_BYTES = int(os.environ.get("NVR_STREAM_SNDBUF", str(64 * 1024)))
WRITE_BUFFER_HIGH = int(os.environ.get("NVR_STREAM_WRITE_BUFFER", str(16 * 1024)))
RESPONSE_HEAD = f"HTTP/1.1 200 OK\r\nContent-Type: {multipart.CONTENT_TYPE}\r\nCache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
START = b"%x\r\n%s\r\n" % (len(multipart.STREAM_START), multipart.STREAM_START)


class Floor:
    def __init__(self) -> None:
        self.viewers: dict[str, set[asyncio.Transport]] = {}
        self.frames = 0
        self.skipped = 0

    def publish(self, slug: str, frame: Frame) -> None:
        viewers = self.viewers.get(slug)
        if not viewers:
            return
        part = multipart.part(frame.jpeg, frame.ts)
        chunk = b"%x\r\n%s\r\n" % (len(part), part)
        for transport in viewers:
            if transport.get_write_buffer_size():
                self.skipped += 1  # the previous part is still queued: skip to the newest
            else:
                transport.write(chunk)
        self.frames += 1


class Connection(asyncio.Protocol):
    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.request = b""
        self.slug: str | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and SEND_BUFFER_BYTES > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.slug is not None:
            return
        self.request += data
        if b"\r\n\r\n" not in self.request:
            if len(self.request) > 8192:
                self.transport.close()
            return
        # GET /cameras/<slug>/stream.mjpg?token=... HTTP/1.1
        path = self.request.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0]
        pieces = path.strip("/").split("/")
        if len(pieces) != 3 or pieces[0] != "cameras":
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            return
        self.slug = pieces[1]
        self.transport.write(RESPONSE_HEAD + START)
        self.floor.viewers.setdefault(self.slug, set()).add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.slug is not None:
            self.floor.viewers.get(self.slug, set()).discard(self.transport)


async def subscribe(floor: Floor, redis_url: str, namespace: str) -> None:
    """Every camera's frames from the nvr bus (pattern subscription, main size only)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, protocol=PUBSUB_PROTOCOL)  # as nvr subscribes (framebus)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    names = Names(namespace)
    await pubsub.psubscribe(names.all_frames())
    while True:
        message = await pubsub.get_message(timeout=1.0)
        if message and message["type"] == "pmessage":
            slug = names.slug_of(message["channel"].decode())
            floor.publish(slug, Frame.unpack(message["data"]))


async def serve(port: int, redis_url: str, host: str = "127.0.0.1", ready=None, namespace: str = "") -> None:
    """Serve until SIGTERM/SIGINT; `ready(port, stop)` is called once listening (stop() ends it, thread-safe).

    Frames are those published in `namespace` (default: NVR_REDIS_NAMESPACE, as nvr's own processes read it).
    """
    namespace = namespace or os.environ.get("NVR_REDIS_NAMESPACE", "bench")
    floor = Floor()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(floor), host, port, backlog=4096)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (RuntimeError, ValueError):
            pass  # not the main thread (tests)
    reader = loop.create_task(subscribe(floor, redis_url, namespace))
    if ready is not None:
        ready(server.sockets[0].getsockname()[1], lambda: loop.call_soon_threadsafe(stop.set))
    try:
        await stop.wait()
    finally:
        reader.cancel()
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.port, args.redis))


if __name__ == "__main__":
    main()
