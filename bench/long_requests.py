"""Long requests beside live viewing (`python -m bench long`, issue #22): nothing a user asks for may
make the live wall stutter.

The index holds 60,480 segments of one camera (7 days at 10 s, hard links to one segment file).
100 viewers watch a live test-pattern camera (15 fps) while 4 clients fetch the 7-day playlist and 4
fetch the 31-day recorded spans (`/api/cameras/<slug>/recordings`), all at once and again as soon as
each answer is read, for the whole window; `/healthz` is asked every HEALTH_EVERY seconds. Reported:
the longest gap between two frames any viewer received, the slowest and the median `/healthz`, and the
long requests' own times.

"Before" is the code this fix replaced (BEFORE_REF, exported with `git archive` into var/bench/) run
in the same way, in the same run, against the same database and store; it is skipped (and said so)
where git or that commit is not at hand. Targets: longest live gap ≤ 250 ms, `/healthz` ≤ 200 ms.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.procs import ROOT
from bench.review import SEGMENT_SECONDS, _base_tree, _index, _iso, _segment
from bench.stack import CameraSpec, Stack
from bench.suites import prime

BEFORE_REF = "64c810e"  # before issue #22 (and #24): the playlist built on the event loop, rows read on the ORM thread
SEGMENTS = 7 * 24 * 3600 // SEGMENT_SECONDS  # 60,480
VIEWERS = 100
CLIENTS = 4  # of each: 7-day playlists and 31-day spans
WINDOW_S = 12.0
HEALTH_EVERY = 0.1
TARGETS = {"live_gap_max_ms": 250.0, "healthz_max_ms": 200.0}


def poll_health(url: str, until: float, results) -> None:  # type: ignore[no-untyped-def]
    """Ask `url` every HEALTH_EVERY seconds until the wall-clock time `until`; send the durations."""
    health: list[float] = []
    with httpx.Client(timeout=30) as client:
        while time.time() < until:
            began = time.perf_counter()
            client.get(url)
            health.append(time.perf_counter() - began)
            time.sleep(HEALTH_EVERY)
    results.send(health)


# What the code before the change finds in its own database (its schema: rows named by `path`): the bench
# user and its token, the cameras, and the same 60,480 files `bench.review._index` made (the same names).
BEFORE_SETUP = """
import datetime as dt, os
from django.contrib.auth import get_user_model
from cameras.models import Camera
from recordings.models import Segment
from streaming.models import StreamToken
user = get_user_model().objects.create_superuser("bench", password=None)
token = StreamToken(name="bench", user=user)
token.set_token(os.environ["NVR_BENCH_TOKEN"])
token.save()
Camera.objects.create(slug="live", name="live", kind="test_pattern", source="640x480", max_fps=15, record="off",
                      motion=False)
week = Camera.objects.create(slug="week", name="week", enabled=False, record="off", motion=False)
start, size = dt.datetime.fromisoformat(os.environ["NVR_BENCH_START"]), int(os.environ["NVR_BENCH_SIZE"])
rows = []
for index in range(int(os.environ["NVR_BENCH_COUNT"])):
    begin = start + dt.timedelta(seconds=index * 10)
    rows.append(Segment(camera=week, start=begin, end=begin + dt.timedelta(seconds=10), duration=10.0, bytes=size,
                        codec="avc1.640020", width=640, height=360, path=f"week/{begin:%Y%m%dT%H%M%SZ}-{index}.mp4"))
Segment.objects.bulk_create(rows, batch_size=2000)
"""


def _before_database(tree: Path, stack: Stack, store: Path, start: dt.datetime, size: int) -> dict[str, str]:
    """The environment of the code at `tree` on a database of its own, filled like this run's (BEFORE_SETUP)."""
    database = tree / "bench-long.sqlite3"
    database.unlink(missing_ok=True)
    env = {"DATABASE_URL": f"sqlite:///{database}", "RECORDINGS_DIR": str(store)}
    setup = stack.env(
        **env, PYTHONPATH=str(tree), NVR_BENCH_TOKEN=stack.token, NVR_BENCH_START=start.isoformat(),
        NVR_BENCH_SIZE=str(size), NVR_BENCH_COUNT=str(SEGMENTS),
    )  # fmt: skip
    manage = [sys.executable, str(tree / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=setup, cwd=tree, check=True, timeout=300)
    subprocess.run([*manage, "shell", "-c", BEFORE_SETUP], env=setup, cwd=tree, check=True, timeout=300)
    return env


def _measure(stack: Stack, root: Path, store: Path, end: dt.datetime, **env: str) -> dict:
    """One server (the code at `root`): live viewers, long requests and /healthz over one window."""
    from bench.loadgen import LoadRun

    web = stack.web("nvr", root=root, **{"RECORDINGS_DIR": str(store), **env})
    base = f"http://127.0.0.1:{web.port}"
    token = stack.token
    playlist = (
        f"{base}/cameras/week/recordings.m3u8?start={_iso(end - dt.timedelta(days=7))}&end={_iso(end)}&token={token}"
    )
    spans = (
        f"{base}/api/cameras/week/recordings?start={_iso(end - dt.timedelta(days=31))}&end={_iso(end)}&token={token}"
    )
    stop = threading.Event()
    long_times: dict[str, list[float]] = {"playlist": [], "spans": []}
    sizes: dict[str, int] = {}
    failures: list[str] = []

    def fetch(kind: str, url: str) -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                began = time.perf_counter()
                response = client.get(url)
                long_times[kind].append(time.perf_counter() - began)
                sizes[kind] = len(response.content)
                if response.status_code != 200:
                    failures.append(f"{kind}: {response.status_code}")

    try:
        prime(web.port, stack.stream_path("live"))
        run = LoadRun(
            "127.0.0.1", web.port, [stack.stream_path("live")] * VIEWERS, ramp=1.0, warmup=2.0, duration=WINDOW_S
        )
        time.sleep(max(0.0, run.window_start + 1.0 - time.time()))  # the long requests start inside the window
        # /healthz is timed from a process of its own: beside the long requests' clients it would wait for
        # this process's GIL as well (they read 15 MB answers), and time the bench instead of the server.
        receiver, sender = multiprocessing.get_context("spawn").Pipe(duplex=False)
        poller = multiprocessing.get_context("spawn").Process(
            target=poll_health, args=(f"{base}/healthz", run.window_end, sender), daemon=True
        )
        poller.start()
        threads = [threading.Thread(target=fetch, args=("playlist", playlist), daemon=True) for _ in range(CLIENTS)]
        threads += [threading.Thread(target=fetch, args=("spans", spans), daemon=True) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        result = run.collect_beside(stop, threads)
        health = receiver.recv() if receiver.poll(30) else []
        poller.join(5)
    finally:
        web.stop()
    gaps = [float(g) for g in memoryview(result.gaps).cast("d")] if result.gaps else [0.0]
    summary = result.summary()
    return {
        "live_gap_max_ms": round(max(gaps) * 1000, 1),
        "live_gap_p99_ms": summary["gap_p99_ms"],
        "live_fps_median": summary["fps_median"],
        "live_failed": summary["failed"],
        "healthz_max_ms": round(max(health) * 1000, 1) if health else None,
        "healthz_p50_ms": round(statistics.median(health) * 1000, 1) if health else None,
        "healthz_asked": len(health),
        "playlist_s_median": round(statistics.median(long_times["playlist"]), 2) if long_times["playlist"] else None,
        "playlist_mb": round(sizes.get("playlist", 0) / 1e6, 1),
        "playlists_served": len(long_times["playlist"]),
        "spans_s_median": round(statistics.median(long_times["spans"]), 2) if long_times["spans"] else None,
        "spans_served": len(long_times["spans"]),
        "failures": failures[:5],
    }


def long_requests(stack: Stack, log) -> dict:  # type: ignore[no-untyped-def]
    """The long-request figures, before (BEFORE_REF) and after, in one run."""
    work = Path(tempfile.mkdtemp(prefix="nvr-bench-long-"))
    store = work / "store"
    store.mkdir()
    segment = work / "640x360.mp4"
    _segment(segment, "640x360")
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stack.set_cameras([CameraSpec("live", source="640x480")])
    log(f"  long requests: indexing {SEGMENTS} segments (7 days at {SEGMENT_SECONDS} s)")
    start = end - dt.timedelta(seconds=SEGMENTS * SEGMENT_SECONDS)
    _index("week", segment, store, start, SEGMENTS)  # turned off
    stack.start_capture(name="capture-long-requests", RECORDINGS_DIR=str(store))  # its reconcile keeps the rows
    out: dict = {"targets": TARGETS, "segments": SEGMENTS, "viewers": VIEWERS, "clients": CLIENTS, "window_s": WINDOW_S}
    try:
        stack.wait_online(timeout=60)
        old = _base_tree(BEFORE_REF, log)
        if old is not None:
            log(f"  long requests: the code before ({BEFORE_REF}) on a database of its own")
            env = _before_database(old, stack, store, start, segment.stat().st_size)
            out["before"] = _measure(stack, old, store, end, **env)
            out["before_ref"] = BEFORE_REF
            log(f"  before ({BEFORE_REF}): {_line(out['before'])}")
        out["after"] = _measure(stack, ROOT, store, end)
        log(f"  after: {_line(out['after'])}")
    finally:
        stack.stop_capture()
        stack.set_cameras([])
        shutil.rmtree(work, ignore_errors=True)
    return out


def _line(figures: dict) -> str:
    return (
        f"longest live gap {figures['live_gap_max_ms']} ms (p99 {figures['live_gap_p99_ms']} ms, "
        f"{figures['live_fps_median']} fps), /healthz max {figures['healthz_max_ms']} ms "
        f"(p50 {figures['healthz_p50_ms']}), playlist {figures['playlist_s_median']} s "
        f"({figures['playlist_mb']} MB, {figures['playlists_served']} served), spans {figures['spans_s_median']} s "
        f"({figures['spans_served']} served)"
    )


def markdown(long: dict) -> list[str]:
    """The long-requests section of the report."""
    before, after = long.get("before", {}), long.get("after", {})
    lines = [
        "## Long requests beside live viewing",
        "",
        f"{long.get('viewers')} live viewers while {long.get('clients')} clients fetch a 7-day playlist "
        f"({long.get('segments')} segments) and {long.get('clients')} the 31-day spans, over {long.get('window_s')} s.",
        "",
        f"| measurement | before ({long.get('before_ref', 'not run')}) | after | target | met |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for key, name in (("live_gap_max_ms", "longest gap between live frames"), ("healthz_max_ms", "slowest /healthz")):
        target = TARGETS[key]
        met = after.get(key) is not None and after[key] <= target
        lines.append(
            f"| {name} | {before.get(key, '–')} ms | {after.get(key)} ms | ≤ {target:g} ms | {'yes' if met else '**no**'} |"
        )
    for key, name in (
        ("healthz_p50_ms", "median /healthz (ms)"),
        ("live_fps_median", "live fps, median viewer"),
        ("playlist_s_median", "7-day playlist, median request (s)"),
        ("spans_s_median", "31-day spans, median request (s)"),
        ("playlists_served", "playlists served in the window"),
    ):
        lines.append(f"| {name} | {before.get(key, '–')} | {after.get(key)} | reported | – |")
    return [*lines, ""]
