"""Several supervisors share cameras through Redis leases: no camera captured twice, takeover on death."""

from __future__ import annotations

import itertools
import signal
import time

import pytest
import redis

from tests.factories import make_camera
from tests.support.frames import collect_frames, names, wait_for_status
from tests.support.processes import capture_supervisor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SLUGS = [f"cam-{i}" for i in range(4)]


def lease_owners(url: str) -> dict[str, str | None]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {slug: client.get(names().lease(slug)) for slug in SLUGS}
    finally:
        client.close()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def assert_single_publisher(url: str, slug: str) -> None:
    """Two loops on one camera would interleave two sequences: seqs must rise strictly."""
    seqs = [frame.seq for _, frame in collect_frames(url, slug, 1.0)]
    assert seqs, f"no frames for {slug}"
    assert all(b == a + 1 for a, b in itertools.pairwise(seqs)), (slug, seqs)


def test_two_supervisors_split_cameras_and_take_over(redis_url):
    for slug in SLUGS:
        make_camera(slug, source="160x120", max_fps=5)
    first = capture_supervisor(redis_url, name="capture-a").start()
    second = capture_supervisor(redis_url, name="capture-b").start()
    try:

        def balanced():
            owners = list(lease_owners(redis_url).values())
            return None not in owners and sorted(owners.count(o) for o in set(owners)) == [2, 2]

        wait_until(balanced, 20, "the two supervisors to hold two cameras each")
        for slug in SLUGS:
            assert_single_publisher(redis_url, slug)

        # SIGKILL one: no cleanup, its leases expire (4 s in tests) and the other takes over.
        killed_pid = str(first.pid)
        first.kill()
        started = time.monotonic()
        wait_until(
            lambda: all(o and f":{killed_pid}:" not in o for o in lease_owners(redis_url).values()),
            15,
            "takeover of the killed supervisor's cameras",
        )
        takeover = time.monotonic() - started
        for slug in SLUGS:
            wait_for_status(redis_url, slug, lambda s: s["state"] == "online", 10)
            assert_single_publisher(redis_url, slug)
        print(f"takeover after SIGKILL: {takeover:.1f} s (lease 4 s, poll 0.5 s)")
        assert takeover < 10
    finally:
        first.stop()
        second.stop()


def test_sigterm_stops_cleanly_and_releases_leases_at_once(redis_url):
    make_camera("cam-0", source="160x120", max_fps=5)
    supervisor = capture_supervisor(redis_url).start()
    try:
        wait_until(lambda: lease_owners(redis_url)["cam-0"], 15, "the lease")
        supervisor.signal(signal.SIGTERM)
        assert supervisor.proc.wait(10) == 0
        assert lease_owners(redis_url)["cam-0"] is None
        assert "supervisor" in supervisor.log() and "stopped" in supervisor.log()
    finally:
        supervisor.stop()
