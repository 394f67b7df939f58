"""The benchmark's load generator still parses streams: 5 viewers, ~2 s, against the bare floor server.

Not a timed test: it asserts that frames were parsed, never how fast (make test stays
independent of machine speed; `make bench` measures).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bench import floor
from bench.loadgen import run_load
from framebus import Frame, SyncBus
from tests.support.frames import names

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def floor_server(redis_server):
    """bench.floor in a thread, fed 15 fps of 20 KB frames through the real Redis."""
    import uvloop

    started: list = []
    ready = threading.Event()
    thread = threading.Thread(
        target=lambda: uvloop.run(
            floor.serve(
                0, redis_server.url, ready=lambda *a: (started.extend(a), ready.set()), namespace=names().namespace
            )
        ),
        daemon=True,
    )
    thread.start()
    assert ready.wait(10), "floor server did not start"
    port, stop = started
    bus = SyncBus(redis_server.url, namespace=names().namespace)
    publishing = threading.Event()
    publishing.set()

    def publish() -> None:
        seq = 0
        while publishing.is_set():
            seq += 1
            bus.publish_frame("cam", Frame(seq, time.time(), 640, 480, b"\xff\xd8" + bytes(20_000) + b"\xff\xd9"))
            time.sleep(1 / 15)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    yield port
    publishing.clear()
    publisher.join(2)
    stop()
    thread.join(5)
    bus.close()


def test_load_generator_parses_frames_from_the_floor_server(floor_server):
    result = run_load(
        "127.0.0.1",
        floor_server,
        ["/cameras/cam/stream.mjpg?token=x"] * 5,
        ramp=0.2,
        warmup=0.5,
        duration=1.5,
        processes=1,
    )
    summary = result.summary()
    assert result.failed == 0, summary["failures"]
    assert len(result.fps) == 5
    assert result.frames >= 5 and min(result.fps) > 0, summary
    assert summary["latency_p50_ms"] is not None and summary["latency_p50_ms"] >= 0
    assert summary["mbytes_per_s"] > 0


def parse_stream(data: bytes, step: int) -> int:
    """How many parts a load-generator viewer finds in `data` (a response) fed `step` bytes at a time."""
    from bench.loadgen import Viewer, _Stats

    async def parse() -> int:
        stats = _Stats(0, 2e9)
        stats.in_window = True
        buffer = bytearray(1024)
        viewer = Viewer(b"", stats, buffer)
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            buffer[: len(piece)] = piece
            viewer.buffer_updated(len(piece))
        assert viewer.error is None, viewer.error
        return viewer.count

    return asyncio.run(parse())


def test_load_generator_dechunks_and_reads_plain_bodies():
    """Chunked (uvicorn) and unchunked (HTTP/1.0-style) responses parse to the same parts, split anywhere."""
    from streaming import multipart

    parts = [multipart.part(bytes([n]) * (100 + n), 1.5 + n) for n in range(3)]
    body = multipart.STREAM_START + b"".join(parts)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [multipart.STREAM_START, *parts])
    head = b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n"
    for step in (1, 7, 1000):
        assert parse_stream(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked, step) == 3
        assert parse_stream(head + b"\r\n" + body, step) == 3


def test_load_generator_reads_the_seed_codes_parts_without_a_length():
    """The seed's own code sends parts with no Content-Length: they end at the next boundary, split anywhere."""
    jpegs = [bytes([n]) * (100 + n) + b"\r\n--fram" for n in range(4)]  # a near-boundary inside a JPEG
    body = b"--frame\r\n" + b"".join(b"Content-Type: image/jpeg\r\n\r\n" + j + b"\r\n--frame\r\n" for j in jpegs)
    chunked = b"%x\r\n%s\r\n" % (len(body), body)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n"
    for step in (1, 5, 12, 13, 1000):
        assert parse_stream(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked, step) == 4
        assert parse_stream(head + b"\r\n" + body, step) == 4


def test_a_tie_at_the_largest_n_asks_for_one_more_point_and_the_report_says_why():
    from bench import report
    from bench.report import scenario_summary
    from bench.suites import Plan, tied_designs

    def point(design: str, n: int, fps: float) -> dict:
        return {
            "viewers": n,
            "fps_median": fps,
            "fps_p10": fps,
            "failed": 0,
            "design": design,
            "gap_p99_ms": 70,
            "latency_p50_ms": 5,
            "latency_p99_ms": 9,
            "first_frame_p99_ms": 50,
            "web_cpu_pct": 10,
            "web_us_per_frame": 20,
            "kb_per_viewer": 20,
            "loadgen_cpu_pct": [10],
            "machine_steal_pct": 0.2,
        }

    plan = Plan(viewers=(100, 200))
    designs = ["floor", "nvr", "seed-gevent"]
    points = {d: [point(d, 100, 15), point(d, 200, 15)] for d in designs}
    assert tied_designs(points, designs, plan) == ["nvr", "seed-gevent"]
    points["seed-gevent"][-1]["fps_median"] = 9.0
    assert tied_designs(points, designs, plan) == []  # nvr alone held: no tie to break

    points["seed-gevent"][-1]["fps_median"] = 15.0
    points["nvr"].append(point("nvr", plan.tiebreak_viewers, 14.5))
    points["seed-gevent"].append(point("seed-gevent", plan.tiebreak_viewers, 8.0))
    scenario = {
        "name": "1 camera, 1 web process",
        "cameras": 1,
        "workers": 1,
        "frame_bytes": 18000,
        "points": points,
        "skipped": {},
        "tiebreak": {
            "viewers": plan.tiebreak_viewers,
            "designs": ["nvr", "seed-gevent"],
            "why": "nvr and seed-gevent all held at N=200",
        },
    }
    scenario["summary"] = scenario_summary(scenario)
    assert scenario["summary"]["largest_good"]["nvr"] == plan.tiebreak_viewers
    assert scenario["summary"]["largest_good"]["seed-gevent"] == 200
    text = report.markdown(
        {
            "date": "today",
            "machine": {"host": "h", "cpu": "c", "cores": 2, "memory_gb": 1, "kernel": "k", "python": "3"},
            "load_before": [0, 0, 0],
            "load_after": [0, 0, 0],
            "plan": {"viewers": [100, 200], "duration": 1},
            "fanout": {"1cam-1proc": scenario},
            "notes": [],
        }
    )
    assert f"tie-break: N={plan.tiebreak_viewers} was run because nvr and seed-gevent" in text
    assert "CPU steal" in text
