"""Clips cannot pin the server (issue #23, finding 4): a write deadline, no thread per clip, revocation that bites.

Against a real uvicorn with NVR_DOWNLOAD_WRITE_DEADLINE=5 (30 by default), with raw sockets as clients:
a stalled reader asks for a clip and never reads; a slow one reads 80 KB/s. Before, 20 stalled clip
downloads added 41 threads and 135 MB to the web process and never gave them back; a revoked token
left a stalled clip open; and a clip cut short by revocation ended with a clean last chunk, so the
client believed it had the whole span.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from review.clips import CLIP_WORKERS
from tests.factories import make_token, make_user
from tests.reliability.helpers import wait_until
from tests.review.test_review import span
from tests.support.processes import web_server
from tests.support.recorded import STARTS, make_segment, record_camera
from tests.support.sockets import held

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class ClipClient:
    """A clip request on a plain socket with a small receive buffer; reads only when told to."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        self.server_port, self.port = port, self.sock.getsockname()[1]
        self.received = b""

    def open(self) -> bool:
        """Whether the web server still holds the connection (from the kernel's table: nothing is read)."""
        return held(self.server_port, self.port)

    def read_slowly(self, rate: int, ended: threading.Event) -> None:
        """Read about `rate` bytes a second until the server ends the response or the connection."""
        self.sock.settimeout(10)
        try:
            while not self.clean_end():
                data = self.sock.recv(rate // 10)
                if not data:
                    break
                self.received += data
                time.sleep(0.1)
        except OSError:
            pass  # reset: the server aborted the connection
        ended.set()

    def clean_end(self) -> bool:
        """Whether the chunked body ended with its terminating chunk (a complete response)."""
        return self.received.endswith(b"\r\n0\r\n\r\n")

    def close(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


@pytest.fixture(scope="module")
def grainy_segment(tmp_path_factory):
    """One 10 s segment of a few megabytes (moving grain), as a real camera's are; made once."""
    path = tmp_path_factory.mktemp("grainy") / "grainy.mp4"
    make_segment(path, noise=40)
    return path


@pytest.fixture
def grainy_recordings(settings, tmp_path, grainy_segment):
    """Camera "yard" recorded like tests.support.recorded's, each segment a few megabytes."""
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    return record_camera("yard", [grainy_segment] * len(STARTS), settings.RECORDINGS_DIR)


@pytest.fixture
def web(redis_url, settings, grainy_recordings):
    server = web_server(redis_url, RECORDINGS_DIR=settings.RECORDINGS_DIR, NVR_DOWNLOAD_WRITE_DEADLINE="5").start()
    yield server
    server.stop()


@pytest.fixture
def token_row(grainy_recordings):
    return make_token(user=make_user("reviewer", is_superuser=True, is_staff=True))


def test_stalled_clip_readers_hold_no_thread_and_are_let_go_at_the_deadline(web, token_row):
    path = f"/cameras/yard/clip.mp4?{span(0, 70)}&token={token_row[1]}"

    async def warm_up() -> list[int]:  # the clip pool's threads are made on first use, then kept: make them all
        async with httpx.AsyncClient(timeout=30) as client:
            answers = await asyncio.gather(*(client.get(web.url + path) for _ in range(CLIP_WORKERS)))
        return [len(answer.content) for answer in answers if answer.status_code == 200]

    sizes = asyncio.run(warm_up())
    assert len(sizes) == CLIP_WORKERS and min(sizes) > 10_000_000, sizes  # far more than socket buffers hold
    slow, ended = ClipClient(web.port, path), threading.Event()  # and a clip long enough for access re-checks
    threading.Thread(target=slow.read_slowly, args=(2_000_000, ended), daemon=True).start()
    time.sleep(2.5)
    slow.close()
    time.sleep(1.0)
    threads, rss = web.threads(), web.rss_bytes()
    clients = [ClipClient(web.port, path) for _ in range(20)]
    try:
        time.sleep(2.0)
        during = web.threads(), web.rss_bytes()
        assert all(client.open() for client in clients)  # stalled, not refused
        wait_until(lambda: not any(client.open() for client in clients), 20,
                   what="every stalled clip let go by the 5 s write deadline")  # fmt: skip
        let_go = time.monotonic()
        seen: list[tuple[int, float]] = []

        def back_to_baseline() -> bool:
            seen.append((web.threads(), web.rss_bytes() / 2**20))
            return seen[-1][0] <= threads and seen[-1][1] < rss / 2**20 + 8

        try:
            wait_until(back_to_baseline, 60, what="threads and memory back to where they were", interval=1.0)
        except AssertionError:
            names = [Path(f"/proc/{pid}/task/{t}/comm").read_text().strip() for pid in web.pids()
                     for t in os.listdir(f"/proc/{pid}/task")]  # fmt: skip
            raise AssertionError(
                f"baseline {threads} threads, {rss / 2**20:.1f} MB; then {seen[-3:]}; threads {names}"
            ) from None
        back = time.monotonic() - let_go
    finally:
        for client in clients:
            client.close()
    print(
        f"\n20 stalled clips: threads {threads} -> {during[0]} -> {web.threads()}, "
        f"RSS {rss / 2**20:.1f} -> {during[1] / 2**20:.1f} -> {web.rss_bytes() / 2**20:.1f} MB "
        f"(back {back:.1f} s after the last was let go)"
    )
    assert during[0] <= threads, during  # no thread per clip: the pool's, made at the warm-up, serve them all
    assert "dropped (no write progress for 5s)" in web.log()


def test_a_revoked_token_cuts_a_stalled_and_a_slow_clip_within_2_s_as_broken_transfers(web, token_row):
    row, token = token_row
    path = f"/cameras/yard/clip.mp4?{span(0, 70)}&token={token}"
    stalled, slow = ClipClient(web.port, path), ClipClient(web.port, path)
    ended = threading.Event()
    reader = threading.Thread(target=slow.read_slowly, args=(80_000, ended), daemon=True)
    reader.start()
    try:
        wait_until(lambda: len(slow.received) > 100_000, 10, what="the slow client reading")
        row.revoked_at = timezone.now()
        row.save()
        revoked = time.monotonic()
        wait_until(lambda: not stalled.open(), 5, what="the stalled clip ended")
        stalled_took = time.monotonic() - revoked
        assert ended.wait(5)
        slow_took = time.monotonic() - revoked
    finally:
        stalled.close()
        slow.close()
    print(f"\nrevoked: the stalled clip ended after {stalled_took:.2f} s, the slow one after {slow_took:.2f} s")
    assert stalled_took <= 2.0, stalled_took
    assert slow_took <= 2.0 + 0.2, slow_took  # (the reader notices at its next read, 0.1 s apart)
    assert not slow.clean_end()  # a broken transfer: no terminating chunk
    assert b"200 OK" in slow.received[:100]


def test_a_stalled_recording_download_is_let_go_at_the_deadline(web, token_row, grainy_recordings):
    """Every response Django sends has the write deadline too (streaming.deadline): a recorded segment of a few
    megabytes asked for and never read is let go after 5 s (before, it held its request until TCP gave up)."""
    _, rows = grainy_recordings
    client = ClipClient(web.port, f"/cameras/yard/recordings/{rows[0].pk}/media.mp4?token={token_row[1]}")
    try:
        time.sleep(1.0)
        assert client.open()
        asked = time.monotonic()
        wait_until(lambda: not client.open(), 15, what="the stalled download let go")
        print(f"\nstalled segment download let go {time.monotonic() - asked + 1:.1f} s after it was asked for")
    finally:
        client.close()
    assert "response to /cameras/yard/recordings/" in web.log() and "dropped (no write progress for 5s)" in web.log()
