"""The frame subscriber keeps what the Redis client gives, though it reads replies itself.

framebus.FrameSubscriber lets redis-py open the connection and send commands but takes each
reply straight from the parser (about half the CPU per frame message: docs/facts.md). Each test
runs a real redis-server configured one way and checks that frames arrive: a password, TLS
(`rediss://` with a CA), a unix socket, a restart of Redis, and a Redis that stops answering
without closing the connection (only the subscriber's own health check notices that).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import redis

import framebus
from framebus import Frame, FrameSubscriber
from tests.support.waiting import free_port

CHANNEL = "nvr:bus-test:frames:bus-test:0"  # FrameSubscriber takes any channel it is given


@contextmanager
def redis_server(url: str, *args: str):
    """redis-server with `args`, until a client of `url` gets PONG; stopped on exit."""
    process = subprocess.Popen(
        ["redis-server", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client = redis.Redis.from_url(url, socket_timeout=1)
                client.ping()
                client.close()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGCONT)  # a test may have paused it
            process.terminate()
            process.wait(5)


async def frames_arrive(url: str, count: int = 5, *, subscriber: FrameSubscriber | None = None) -> FrameSubscriber:
    """Publish frames on `url` until `count` reach a subscriber (a new one unless given); return it."""
    got: list[Frame] = []
    arrived = asyncio.Event()

    def on_frame(channel: str, frame: Frame) -> None:
        assert channel == CHANNEL
        got.append(frame)
        if len(got) >= count:
            arrived.set()

    if subscriber is None:
        subscriber = FrameSubscriber(url, on_frame, namespace="bus-test")
    else:
        subscriber.on_frame = on_frame
    subscriber.want(CHANNEL)
    publisher = redis.asyncio.Redis.from_url(url)
    try:
        seq = 0
        async with asyncio.timeout(20):
            while not arrived.is_set():
                seq += 1
                try:
                    await publisher.publish(CHANNEL, Frame(seq, time.time(), 64, 48, b"\xff\xd8jpeg%d" % seq).pack())
                except (redis.RedisError, OSError):
                    pass  # Redis is away: keep trying until the deadline
                await asyncio.sleep(0.05)
    finally:
        await publisher.aclose()
    assert got[-1].jpeg.startswith(b"\xff\xd8jpeg")
    return subscriber


def test_a_password_protected_redis():
    port = free_port()
    url = f"redis://:s3cret-pass@127.0.0.1:{port}/0"
    with redis_server(url, "--port", str(port), "--requirepass", "s3cret-pass"):

        async def run():
            subscriber = await frames_arrive(url)
            await subscriber.aclose()

        asyncio.run(run())


def test_tls_with_a_certificate_authority(tmp_path: Path):
    ca, key, cert = tmp_path / "ca.crt", tmp_path / "server.key", tmp_path / "server.crt"

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", str(ca), "-days", "1",
            "-subj", "/CN=nvr test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", str(ca), "-CAkey", "ca.key", "-CAcreateserial",
            "-out", str(cert), "-days", "1", "-extfile", "ext")  # fmt: skip
    port = free_port()
    url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    tls = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    with redis_server(url, *tls, "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"):

        async def run():
            subscriber = await frames_arrive(url)
            await subscriber.aclose()

        asyncio.run(run())


def test_a_unix_socket(tmp_path: Path):
    path = tmp_path / "redis.sock"
    url = f"unix://{path}?db=0"
    with redis_server(url, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"):

        async def run():
            subscriber = await frames_arrive(url)
            await subscriber.aclose()

        asyncio.run(run())


def test_frames_resume_after_redis_restarts():
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    async def first(subscriber=None):
        return await frames_arrive(url, subscriber=subscriber)

    loop = asyncio.new_event_loop()
    try:
        with redis_server(url, "--port", str(port)):
            subscriber = loop.run_until_complete(first())
        with redis_server(url, "--port", str(port)):
            loop.run_until_complete(first(subscriber))
            assert subscriber.reconnects >= 1
        loop.run_until_complete(subscriber.aclose())
    finally:
        loop.close()


def test_a_silent_redis_is_noticed_by_the_health_check(monkeypatch):
    """SIGSTOP: the connection stays open but nothing comes back; only the PING deadline notices."""
    monkeypatch.setattr(framebus, "HEALTH_CHECK_S", 0.5)
    monkeypatch.setattr(framebus, "HEALTH_DEADLINE_S", 1.5)
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    async def run(process):
        subscriber = await frames_arrive(url)
        assert subscriber.reconnects == 0
        os.killpg(process.pid, signal.SIGSTOP)
        await asyncio.sleep(3.0)  # past the deadline: the subscriber drops the connection
        assert subscriber.reconnects >= 1, "a silent connection was not dropped"
        os.killpg(process.pid, signal.SIGCONT)
        await frames_arrive(url, subscriber=subscriber)  # and frames come again
        await subscriber.aclose()

    with redis_server(url, "--port", str(port)) as process:
        asyncio.run(run(process))


def test_a_malformed_message_is_dropped_and_the_next_frame_arrives():
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_server(url, "--port", str(port)):

        async def run():
            client = redis.asyncio.Redis.from_url(url)
            subscriber = await frames_arrive(url)
            await client.publish(CHANNEL, b"not a frame")
            await frames_arrive(url, subscriber=subscriber)
            await client.aclose()
            await subscriber.aclose()

        asyncio.run(run())
