"""What the reliability and security tests share: viewers that log what they see, counts, waits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.support.mjpeg import iter_parts
from tests.support.waiting import wait_until  # noqa: F401 - one copy, re-exported for the tests


def is_offline_card(jpeg: bytes) -> bool:
    """True for the hub's offline frame (a flat dark grey card), False for a camera picture.

    The card's background is (32, 32, 32); the test pattern's top-left corner is blue
    (B=128) and GStreamer's ball pattern is black there.
    """
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
    assert image is not None, "not a JPEG"
    corner = image[:4, :4].reshape(-1, 3).mean(axis=0)
    return bool(all(22 <= c <= 42 for c in corner) and corner.max() - corner.min() < 6)


@dataclass
class Seen:
    """One part as a viewer got it."""

    received: float  # time.time() at receipt
    ts: float  # the part's X-Timestamp
    offline: bool


@dataclass
class StreamLog:
    """Everything one viewer received; filled by `watch()`."""

    status: int = 0
    parts: list[Seen] = field(default_factory=list)
    error: str = ""

    def live(self) -> list[Seen]:
        return [p for p in self.parts if not p.offline]

    def between(self, start: float, end: float, *, live_only: bool = True) -> list[Seen]:
        parts = self.live() if live_only else self.parts
        return [p for p in parts if start <= p.received < end]

    def fps(self, start: float, end: float) -> float:
        return len(self.between(start, end)) / (end - start)

    def first_after(self, moment: float, *, offline: bool | None = False) -> Seen | None:
        """The first part received after `moment` (live, offline, or either with None)."""
        for part in self.parts:
            if part.received > moment and (offline is None or part.offline == offline):
                return part
        return None


async def watch(client: httpx.AsyncClient, url: str, log: StreamLog, until: float, *, classify: bool = True) -> None:
    """Read the stream into `log` until time.time() passes `until` (or the stream fails)."""
    try:
        async with client.stream("GET", url) as response:
            log.status = response.status_code
            if response.status_code != 200:
                await response.aread()
                return
            async for part in iter_parts(response):
                log.parts.append(Seen(time.time(), part.timestamp, classify and is_offline_card(part.jpeg)))
                if time.time() >= until:
                    return
    except (httpx.HTTPError, AssertionError) as error:
        log.error = f"{type(error).__name__}: {error}"


def numsub(url: str, channel: str) -> int:
    """Subscribers of a Redis channel (PUBSUB NUMSUB): web processes, never viewers."""
    client = redis.Redis.from_url(url)
    try:
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])
    finally:
        client.close()


def scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of the web process's /metrics as {(name, labels): value}."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def metric_total(samples: dict, name: str) -> float:
    """The sum of every sample of `name`; fails when the process does not export it."""
    values = [v for (n, _), v in samples.items() if n == name]
    assert values, f"/metrics has no {name}"
    return sum(values)


def established_connections(port: int) -> dict[str, int]:
    """TCP sockets on this machine whose local port is `port`, by state (from /proc/net/tcp*)."""
    names = {
        "01": "established",
        "06": "time_wait",
        "08": "close_wait",
        "04": "fin_wait1",
        "05": "fin_wait2",
        "09": "last_ack",
        "0B": "closing",
    }
    counts: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != "0A":  # 0A: the listening socket itself
                state = names.get(fields[3], fields[3])
                counts[state] = counts.get(state, 0) + 1
    return counts


def server_errors(log_text: str) -> list[str]:
    """Lines of a server log that show an unhandled error."""
    markers = ("Traceback", "level=error", "level=critical", "Internal Server Error", "Exception in ASGI")
    return [line for line in log_text.splitlines() if any(m in line for m in markers)]


def full_log(process) -> str:
    """The whole log file of a ManagedProcess (its log() keeps only the tail)."""
    try:
        return Path(process.log_path).read_text(errors="replace")
    except OSError:
        return ""


async def gather_bounded(coroutines, limit: int):
    """Run coroutines with at most `limit` at once; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine):
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(run(c) for c in coroutines))
