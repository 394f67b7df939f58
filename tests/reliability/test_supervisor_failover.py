"""A dead capture supervisor's cameras are taken over within about 10 s; a stopped one's at once.

With the production lease (8 s) and poll (2 s), measured as what viewers care about: the
longest gap between two frames of each camera on the frame bus, across the takeover.
(tests/cameras/test_supervisors.py checks the leases themselves with short test values.)
"""

from __future__ import annotations

import signal
import threading
import time
from itertools import pairwise

import pytest
import redis

from framebus import Frame
from tests.factories import make_camera
from tests.reliability.helpers import wait_until
from tests.support.frames import names, sync_bus
from tests.support.processes import capture_supervisor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SLUGS = ["cam-a", "cam-b", "cam-c", "cam-d"]
LEASE, POLL = 8.0, 2.0  # the production defaults (settings.NVR_LEASE_SECONDS, NVR_SUPERVISOR_POLL_SECONDS)


class FrameRecorder(threading.Thread):
    """Receive times and sequence numbers of every camera's frames, from one pattern subscription."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(names().all_frames())
        self.frames: dict[str, list[tuple[float, int]]] = {slug: [] for slug in SLUGS}
        self.stopping = threading.Event()

    def run(self) -> None:
        watching = sync_bus(self.url)
        renew = 0.0
        while not self.stopping.is_set():
            if time.monotonic() >= renew:  # a viewer of every camera: capture publishes only what is watched
                for slug in SLUGS:
                    watching.want_width(slug, 0)
                renew = time.monotonic() + 2.0
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                slug = names().slug_of(message["channel"].decode())
                self.frames.setdefault(slug, []).append((time.monotonic(), Frame.unpack(message["data"]).seq))

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.pubsub.close()
        self.client.close()

    def longest_gap(self, slug: str, start: float, end: float) -> float:
        """The longest wait between frames of `slug` within [start, end] (edges count as frames)."""
        times = [start] + [t for t, _ in self.frames[slug] if start < t < end] + [end]
        return max(b - a for a, b in pairwise(times))

    def single_publisher(self, slug: str, since: float) -> bool:
        seqs = [seq for t, seq in self.frames[slug] if t > since]
        return len(seqs) > 3 and all(b == a + 1 for a, b in pairwise(seqs))


def owners(url: str) -> dict[str, str | None]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {slug: client.get(names().lease(slug)) for slug in SLUGS}
    finally:
        client.close()


def alive_supervisors(url: str) -> list[str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return client.zrangebyscore(names().supervisors, time.time(), "+inf")
    finally:
        client.close()


def test_sigkill_takeover_within_about_10s_and_sigterm_handover_at_once(redis_url):
    for slug in SLUGS:
        make_camera(slug, source="160x120", max_fps=5)
    recorder = FrameRecorder(redis_url)
    recorder.start()
    first = capture_supervisor(redis_url, poll=POLL, lease=LEASE, name="capture-a").start()
    second = capture_supervisor(redis_url, poll=POLL, lease=LEASE, name="capture-b").start()
    third = None
    try:

        def split() -> bool:
            held = list(owners(redis_url).values())
            return None not in held and sorted(held.count(o) for o in set(held)) == [2, 2]

        wait_until(split, 30, "two supervisors holding two cameras each", interval=0.2)

        # SIGKILL: nothing is released; the leases run out and the survivor claims them.
        killed = time.monotonic()
        first.kill()
        wait_until(
            lambda: all(o and f":{first.pid}:" not in o for o in owners(redis_url).values()),
            LEASE + 8,
            "the survivor to hold every camera",
        )
        time.sleep(1.0)
        taken = time.monotonic()
        kill_gaps = {slug: recorder.longest_gap(slug, killed, taken) for slug in SLUGS}

        # SIGTERM: leases released and the heartbeat withdrawn at once; the newcomer claims them next poll.
        third = capture_supervisor(redis_url, poll=POLL, lease=LEASE, name="capture-c").start()
        wait_until(
            lambda: any(f":{third.pid}:" in s for s in alive_supervisors(redis_url)),
            20,
            "the third supervisor's heartbeat",
        )
        stopped = time.monotonic()
        second.signal(signal.SIGTERM)
        assert second.proc.wait(10) == 0
        wait_until(
            lambda: all(o and f":{third.pid}:" in o for o in owners(redis_url).values()),
            POLL + 8,
            "the third supervisor to hold every camera",
        )
        time.sleep(1.0)
        handed = time.monotonic()
        term_gaps = {slug: recorder.longest_gap(slug, stopped, handed) for slug in SLUGS}
        assert all(recorder.single_publisher(slug, handed - 0.8) for slug in SLUGS), "a camera captured twice"
    finally:
        recorder.stop()
        for process in (first, second, third):
            if process is not None:
                process.stop()
    print(
        f"\nfailover with lease {LEASE:g} s, poll {POLL:g} s: longest frame gap after SIGKILL "
        f"{max(kill_gaps.values()):.2f} s; after SIGTERM {max(term_gaps.values()):.2f} s"
    )
    assert max(kill_gaps.values()) < LEASE + POLL + 1.0  # "about 10 s"
    assert max(term_gaps.values()) < POLL + 1.5  # the next poll of the other supervisor
