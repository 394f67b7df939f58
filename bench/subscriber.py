"""CPU per frame message received: nvr's frame subscriber against a bare hiredis protocol.

    .venv/bin/python -m bench.subscriber          (starts its own redis-server)

A publisher in another process sends 18 KB frames at about 1,000 messages/s; each reader
counts the CPU time of its own process over 3,000 messages, twice, alternating. The bare
reader is the floor: an `asyncio.Protocol` feeding `hiredis.Reader`, with none of what the
client gives (AUTH, TLS, reconnect, health checks).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path

MESSAGES = 3000
SIZE = 18_000
CHANNEL = "bench:subscriber"


def _publish(url: str, stop) -> None:
    import redis

    from framebus import Frame

    client = redis.Redis.from_url(url)
    jpeg, seq = os.urandom(SIZE), 0
    while not stop.is_set():
        seq += 1
        client.publish(CHANNEL, Frame(seq=seq, ts=time.time(), width=640, height=480, jpeg=jpeg).pack())
        time.sleep(1 / 1000)


async def _framebus(url: str) -> tuple[float, float]:
    from framebus import FrameSubscriber

    got, done = 0, asyncio.Event()

    def on_frame(channel, frame) -> None:
        nonlocal got
        got += 1
        if got == MESSAGES:
            done.set()

    subscriber = FrameSubscriber(url, on_frame, namespace="bench-subscriber")
    subscriber.want(CHANNEL)
    await asyncio.sleep(0.5)
    got = 0
    cpu, wall = time.process_time(), time.time()
    await done.wait()
    cpu, wall = time.process_time() - cpu, time.time() - wall
    await subscriber.aclose()
    return cpu / MESSAGES * 1e6, MESSAGES / wall


class _BareReader(asyncio.Protocol):
    def __init__(self, done: asyncio.Future) -> None:
        import hiredis

        self.reader, self.got, self.until, self.done = hiredis.Reader(), 0, 10**12, done

    def connection_made(self, transport) -> None:
        name = CHANNEL.encode()
        transport.write(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%b\r\n" % (len(name), name))

    def data_received(self, data: bytes) -> None:
        from framebus import Frame

        self.reader.feed(data)
        while (message := self.reader.gets()) is not False:
            if message[0] == b"message":
                Frame.unpack(message[2])
                self.got += 1
                if self.got >= self.until and not self.done.done():
                    self.done.set_result(None)


async def _bare(url: str) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    host, port = url.split("//")[1].split("/")[0].split(":")
    transport, protocol = await loop.create_connection(lambda: _BareReader(done), host, int(port))
    await asyncio.sleep(0.5)
    protocol.until = protocol.got + MESSAGES
    cpu, wall = time.process_time(), time.time()
    await done
    cpu, wall = time.process_time() - cpu, time.time() - wall
    transport.close()
    return cpu / MESSAGES * 1e6, MESSAGES / wall


def main() -> int:
    import uvloop

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.servers import RedisServer

    server = RedisServer()
    server.start()
    stop = multiprocessing.Event()
    publisher = multiprocessing.Process(target=_publish, args=(server.url, stop), daemon=True)
    publisher.start()
    try:
        for name, reader in (("framebus", _framebus), ("bare", _bare)) * 2:
            us, rate = uvloop.run(reader(server.url))
            print(f"{name:9} {us:6.1f} µs CPU per message ({rate:.0f} messages/s)", flush=True)
    finally:
        stop.set()
        publisher.join(5)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
