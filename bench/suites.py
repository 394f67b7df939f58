"""The measurements: fan-out per design, latency, capture cost, stalled viewers.

Each function takes a started `Stack` and a `Plan` (durations and viewer counts) and
returns plain dicts for the JSON file and the report. Every server under test is
started fresh for each measurement point and stopped by PID after it, so memory and
CPU readings never carry over from one point to the next.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from bench.loadgen import LoadRun
from bench.procs import system_cpu
from bench.stack import LABELS, NAMESPACE, CameraSpec, Stack
from framebus.names import Names

PART_MARK = b"Content-Type: image/jpeg"
COLLAPSED_FPS = 10.0  # a design below this median is not run at larger N
GOOD_FPS, GOOD_P10 = 14.0, 13.0


@dataclass
class Plan:
    """Durations and sizes of one run (`--quick` shrinks everything)."""

    duration: float = 10.0  # measurement window per fan-out point
    warmup: float = 2.0
    viewers: tuple[int, ...] = (100, 250, 500, 1000, 2000)
    # When two compared designs (the floor aside) both hold at the largest N, one more point
    # tells them apart: a tie at the top of the list says nothing about who scales further.
    tiebreak_viewers: int = 3000
    latency_viewers: int = 200
    capture_counts: tuple[int, ...] = (1, 4, 8, 16)
    capture_duration: float = 10.0
    stalled_seconds: float = 60.0
    stalled_count: int = 50
    stalled_normal: int = 20
    scenarios: list[dict] = field(
        default_factory=lambda: [
            {
                "name": "1 camera, 1 web process",
                "key": "1cam-1proc",
                "cameras": 1,
                "workers": 1,
                "designs": ["floor", "nvr", "seed-gevent", "seed-anchor", "seed-flask"],
            },
            {
                "name": "16 cameras, 1 web process",
                "key": "16cam-1proc",
                "cameras": 16,
                "workers": 1,
                "designs": ["nvr", "seed-gevent", "seed-flask"],
            },
            {
                "name": "16 cameras, 4 web processes",
                "key": "16cam-4proc",
                "cameras": 16,
                "workers": 4,
                "designs": ["nvr", "seed-gevent"],
            },
        ]
    )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            duration=3.0,
            warmup=1.0,
            viewers=(200,),
            latency_viewers=100,
            capture_counts=(1, 4),
            capture_duration=3.0,
            stalled_seconds=8.0,
            stalled_count=20,
            stalled_normal=10,
            scenarios=[
                {
                    "name": "1 camera, 1 web process",
                    "key": "1cam-1proc",
                    "cameras": 1,
                    "workers": 1,
                    "designs": ["floor", "nvr", "seed-gevent", "seed-anchor", "seed-flask"],
                },
            ],
        )


def test_cameras(count: int) -> list[CameraSpec]:
    return [CameraSpec(f"bench-{i:02d}") for i in range(count)]


def prime(port: int, path: str, timeout: float = 20.0) -> None:
    """Read until two parts arrived on a plain socket: the server is warm and its feed live."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        tail, parts = b"", 0
        while parts < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no frames from port {port}{path.split('?')[0]} within {timeout}s")
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"port {port} closed the stream: {tail[:200]!r}")
            text = tail + chunk
            parts += text.count(PART_MARK) - tail.count(PART_MARK)  # every design's parts carry it
            tail = text[-len(PART_MARK) :]


def _sleep_until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        time.sleep(delay)


def fanout_point(
    stack: Stack, design: str, viewers: int, cameras: list[CameraSpec], plan: Plan, *, workers: int = 1
) -> dict:
    """N viewers spread over `cameras` on a fresh server of `design`: fps, latency, CPU, memory."""
    web = stack.web(design, workers=workers)
    try:
        for camera in cameras[: 4 if workers > 1 else 1]:
            prime(web.port, stack.stream_path(camera.slug, design))
        time.sleep(0.3)
        rss_before = web.rss_bytes()
        paths = [stack.stream_path(cameras[i % len(cameras)].slug, design) for i in range(viewers)]
        ramp = max(1.0, viewers / 600)
        run = LoadRun(
            "127.0.0.1", web.port, paths, ramp=ramp, warmup=plan.warmup + viewers / 1000, duration=plan.duration
        )
        try:
            _sleep_until(run.window_start)
            cpu_start, sys_start = web.cpu_seconds(), system_cpu()
            _sleep_until(run.window_end)
            cpu_end, sys_end = web.cpu_seconds(), system_cpu()
            rss_after = web.rss_bytes()
            result = run.collect()
        finally:
            run.terminate()
    finally:
        web.stop()
    summary = result.summary()
    window = result.window
    web_cpu = cpu_end - cpu_start
    busy = (sys_end[0] - sys_start[0]) / max(sys_end[1] - sys_start[1], 1)
    steal = (sys_end[2] - sys_start[2]) / max(sys_end[1] - sys_start[1], 1)
    summary.update(
        design=design,
        label=LABELS[design],
        cameras=len(cameras),
        workers=workers,
        web_cpu_pct=round(web_cpu / window * 100, 1),
        web_us_per_frame=round(web_cpu / result.frames * 1e6, 1) if result.frames else None,
        web_rss_mb=round(rss_after / 2**20, 1),
        kb_per_viewer=round((rss_after - rss_before) / 1024 / viewers, 1),
        machine_busy_pct=round(busy * 100, 1),
        machine_steal_pct=round(steal * 100, 1),
    )
    return summary


def good(point: dict) -> bool:
    return point["fps_median"] >= GOOD_FPS and point["failed"] == 0


def collapsed(point: dict) -> bool:
    return point["fps_median"] < COLLAPSED_FPS or point["failed"] > point["viewers"] / 2


def fanout_scenario(
    stack: Stack, scenario: dict, designs: list[str], plan: Plan, log, deadline: float | None = None
) -> dict:
    """Every design of the scenario at growing N, each until it collapses; then a tie-break point.

    Points are skipped (and said so) rather than run past `deadline` (time.monotonic()).
    """
    cameras = test_cameras(scenario["cameras"])
    stack.set_cameras(cameras)
    if stack.capture is None:
        stack.start_capture()
    stack.wait_online()
    time.sleep(1.0)
    frame_bytes = stack.frame_size(cameras[0].slug)
    out = {
        "name": scenario["name"],
        "cameras": scenario["cameras"],
        "workers": scenario["workers"],
        "frame_bytes": frame_bytes,
        "points": {},
        "skipped": {},
    }
    for design in designs:
        points = []
        for n in plan.viewers:
            log(f"  {scenario['key']} {design:12} N={n:5d} ...")
            try:
                point = fanout_point(stack, design, n, cameras, plan, workers=scenario["workers"])
            except Exception as error:  # noqa: BLE001 - one broken point must not end the run
                log(f"    failed: {error}")
                point = {"viewers": n, "error": str(error)[:500], "fps_median": 0.0, "failed": n}
                points.append(point)
                break
            points.append(point)
            log(
                f"    median {point['fps_median']:5.1f} fps, p10 {point['fps_p10']:5.1f}, "
                f"lat p50 {point['latency_p50_ms']} ms, web {point['web_cpu_pct']}% CPU, "
                f"{point['web_us_per_frame']} us/frame, {point['kb_per_viewer']} KB/viewer, failed {point['failed']}, "
                f"loadgen {point['loadgen_cpu_pct']}%"
            )
            if collapsed(point):
                rest = [m for m in plan.viewers if m > n]
                if rest:
                    out["skipped"][design] = f"not run at N={', '.join(map(str, rest))}: collapsed at N={n}"
                break
        out["points"][design] = points
    _tiebreak(stack, out, designs, cameras, plan, log, scenario, deadline)
    return out


def tied_designs(points: dict[str, list[dict]], designs: list[str], plan: Plan) -> list[str]:
    """The compared designs (not the floor) that all held at the largest N, when two or more did."""
    top = max(plan.viewers)
    if plan.tiebreak_viewers <= top:
        return []
    held = [
        d
        for d in designs
        if d != "floor" and any(p["viewers"] == top and "error" not in p and good(p) for p in points.get(d, []))
    ]
    return held if len(held) >= 2 else []


def _tiebreak(
    stack: Stack, out: dict, designs: list[str], cameras, plan: Plan, log, scenario: dict, deadline: float | None
) -> None:
    """Run `plan.tiebreak_viewers` for the compared designs that all held at the largest N."""
    n = plan.tiebreak_viewers
    tied = tied_designs(out["points"], designs, plan)
    if not tied:
        return
    needed = len(tied) * (6 + max(1.0, n / 600) + plan.warmup + n / 1000 + plan.duration)
    if deadline is not None and time.monotonic() + needed > deadline:
        out["skipped"]["tiebreak"] = f"tie-break N={n} not run: it would end after the time budget"
        return
    out["tiebreak"] = {"viewers": n, "designs": tied, "why": f"{' and '.join(tied)} all held at N={max(plan.viewers)}"}
    for design in tied:
        log(f"  {scenario['key']} {design:12} N={n:5d} (tie-break) ...")
        try:
            point = fanout_point(stack, design, n, cameras, plan, workers=scenario["workers"])
        except Exception as error:  # noqa: BLE001
            log(f"    failed: {error}")
            point = {"viewers": n, "error": str(error)[:500], "fps_median": 0.0, "failed": n}
        else:
            log(
                f"    median {point['fps_median']:5.1f} fps, p10 {point['fps_p10']:5.1f}, "
                f"lat p50 {point['latency_p50_ms']} ms, web {point['web_cpu_pct']}% CPU, "
                f"{point['web_us_per_frame']} us/frame, failed {point['failed']}, loadgen {point['loadgen_cpu_pct']}%"
            )
        out["points"][design].append(point)


def largest_good(points: list[dict]) -> int:
    """The largest N at which the design held median >= 14 fps with no failed viewer."""
    return max((p["viewers"] for p in points if "error" not in p and good(p)), default=0)


def latency(stack: Stack, plan: Plan, log) -> dict:
    """nvr at the latency target's load (one camera, one web process)."""
    cameras = test_cameras(1)
    stack.set_cameras(cameras)
    if stack.capture is None:
        stack.start_capture()
    stack.wait_online()
    log(f"  latency nvr N={plan.latency_viewers} ...")
    point = fanout_point(stack, "nvr", plan.latency_viewers, cameras, plan)
    log(f"    p50 {point['latency_p50_ms']} ms, p99 {point['latency_p99_ms']} ms, median {point['fps_median']} fps")
    return point


# Capture ------------------------------------------------------------------------------
class FrameWatcher(threading.Thread):
    """Counts published frames and their age (receive time minus capture stamp) inside a window."""

    def __init__(self, redis_url: str, pattern: str = "") -> None:
        super().__init__(daemon=True, name="frame-watcher")
        import redis

        self.client = redis.Redis.from_url(redis_url, protocol=2)  # RESP3 costs a repr per message (framebus)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(pattern or Names(NAMESPACE).all_frames())
        self.counting = False
        self.frames = 0
        self.ages: list[float] = []
        self.sizes: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        from framebus import Frame

        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage" and self.counting:
                now = time.time()
                frame = Frame.unpack(message["data"])
                self.frames += 1
                self.ages.append(now - frame.ts)
                self.sizes.append(len(frame.jpeg))

    def stop(self) -> None:
        self.stopping.set()
        self.join(2)
        self.pubsub.close()
        self.client.close()


def capture_cost(stack: Stack, plan: Plan, log) -> dict:
    """1..16 RTSP 1280x720 15 fps cameras on one supervisor: CPU, RSS, frames/s, frame age."""
    import numpy as np

    from tests.support.servers import RtspServer, have_rtsp_server

    ok, why = have_rtsp_server()
    if not ok:
        log(f"  capture: skipped ({why})")
        return {"skipped": why}
    stack.stop_capture()
    # One shared mount: one H.264 encoder serves every camera (16 encoders would take the whole
    # machine); the capture side still opens, reads and decodes one RTSP session per camera.
    rtsp = RtspServer(mounts=("/cam",), width=1280, height=720, fps=15).start()
    rows = []
    try:
        for count in plan.capture_counts:
            log(f"  capture {count:2d} RTSP cameras ...")
            cameras = [CameraSpec(f"rtsp-{i:02d}", kind="rtsp", source=rtsp.url("/cam")) for i in range(count)]
            stack.set_cameras(cameras)
            capture = stack.start_capture(name=f"capture-rtsp-{count}")
            watcher = FrameWatcher(stack.redis.url)
            watcher.start()
            try:
                stack.wait_online(timeout=60)
                time.sleep(3.0)
                rtsp_cpu = _cpu(rtsp.pid)
                start = capture.cpu_seconds()
                watcher.counting = True
                began = time.monotonic()
                time.sleep(plan.capture_duration)
                watcher.counting = False
                wall = time.monotonic() - began
                cpu = capture.cpu_seconds() - start
                rtsp_cpu = _cpu(rtsp.pid) - rtsp_cpu
                rss = capture.rss_bytes()
            finally:
                watcher.stop()
                stack.stop_capture()
            ages = np.array(watcher.ages) if watcher.ages else np.array([0.0])
            row = {
                "cameras": count,
                "cpu_pct": round(cpu / wall * 100, 1),
                "rss_mb": round(rss / 2**20, 1),
                "frames_per_s": round(watcher.frames / wall, 1),
                "fps_per_camera": round(watcher.frames / wall / count, 2),
                "age_p50_ms": round(float(np.percentile(ages, 50)) * 1000, 1),
                "age_p99_ms": round(float(np.percentile(ages, 99)) * 1000, 1),
                "jpeg_kb": round(float(np.mean(watcher.sizes)) / 1024, 1) if watcher.sizes else None,
                "rtsp_server_cpu_pct": round(rtsp_cpu / wall * 100, 1),
            }
            rows.append(row)
            log(
                f"    {row['cpu_pct']}% CPU, {row['rss_mb']} MB, {row['frames_per_s']} frames/s, "
                f"age p50 {row['age_p50_ms']} ms p99 {row['age_p99_ms']} ms (test cameras: {row['rtsp_server_cpu_pct']}%)"
            )
    finally:
        rtsp.stop()
        stack.set_cameras([])
    return {
        "rows": rows,
        "source": "GStreamer RTSP server, videotestsrc ball, x264 ultrafast zerolatency, one shared mount",
    }


def _cpu(pid: int) -> float:
    from bench.procs import cpu_seconds

    return cpu_seconds(pid)


# Stalled viewers ---------------------------------------------------------------------
def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    match = re.search(rf"^{name}(?:{{[^}}]*}})?\s+([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


MEMORY_GUARD = 1536 * 2**20  # stop a server whose memory grew this much (daphne buffers without limit)


def stalled_one(stack: Stack, design: str, plan: Plan, log, **env: str) -> dict:
    cameras = test_cameras(1)
    web = stack.web(design, **env)
    samples: list[tuple[float, float]] = []
    aborted = None
    try:
        prime(web.port, stack.stream_path(cameras[0].slug))
        time.sleep(0.5)
        rss_before = web.rss_bytes()
        count, normal = plan.stalled_count, plan.stalled_normal
        paths = [stack.stream_path(cameras[0].slug)] * (count + normal)
        stalled = [True] * count + [False] * normal
        run = LoadRun(
            "127.0.0.1",
            web.port,
            paths,
            ramp=1.0,
            warmup=1.0,
            duration=plan.stalled_seconds,
            processes=1,
            stalled=stalled,
            probe_stalled=5.0,
        )
        try:
            while time.time() < run.window_end:
                time.sleep(1.0)
                rss = web.rss_bytes()
                samples.append((round(time.time() - run.connect_at, 1), round((rss - rss_before) / 2**20, 1)))
                if rss - rss_before > MEMORY_GUARD and aborted is None:
                    aborted = f"stopped after {samples[-1][0]} s: memory grew by more than {MEMORY_GUARD >> 20} MB"
                    web.stop(timeout=3)
                    break
            drops = _metric(web.port, "nvr_stream_deadline_drops_total") if web.alive() else None
            result = run.collect()
        finally:
            run.terminate()
    finally:
        web.stop()
    summary = result.summary()
    growth = [mb for _, mb in samples]
    return {
        "design": design,
        "label": LABELS[design],
        "env": env,
        "seconds": plan.stalled_seconds,
        "stalled": plan.stalled_count,
        "normal": plan.stalled_normal,
        "growth_peak_mb": max(growth, default=0.0),
        "growth_end_mb": growth[-1] if growth else 0.0,
        "samples": samples,
        "normal_fps_median": summary["fps_median"],
        "normal_fps_p10": summary["fps_p10"],
        "normal_failed": summary["failed"],
        "stalled_dropped": summary["stalled_dropped"],
        "stalled_still_open": summary["stalled_open"],
        "server_deadline_drops": drops,
        "aborted": aborted,
    }


def stalled(stack: Stack, plan: Plan, log) -> list[dict]:
    stack.set_cameras(test_cameras(1))
    if stack.capture is None:
        stack.start_capture()
    stack.wait_online()
    from django.conf import settings

    rows = []
    for design, env in (("nvr", {}), ("nvr", {"NVR_STREAM_WRITE_DEADLINE": "120"}), ("nvr-daphne", {})):
        deadline = env.get("NVR_STREAM_WRITE_DEADLINE", str(settings.NVR_STREAM_WRITE_DEADLINE))
        log(f"  stalled {design} (write deadline {deadline} s) for {plan.stalled_seconds:.0f} s ...")
        row = stalled_one(stack, design, plan, log, **env)
        row["write_deadline_s"] = float(deadline)
        rows.append(row)
        log(
            f"    growth peak {row['growth_peak_mb']} MB, end {row['growth_end_mb']} MB; normal viewers "
            f"{row['normal_fps_median']} fps (p10 {row['normal_fps_p10']}); stalled dropped {row['stalled_dropped']} "
            f"(server says {row['server_deadline_drops']}){'; ' + row['aborted'] if row['aborted'] else ''}"
        )
    return rows


def idle_web(stack: Stack, log, seconds: float = 10.0) -> dict:
    """A web process's CPU with 16 live cameras and no viewer: its fixed cost (status, maintenance)."""
    cameras = test_cameras(16)
    stack.set_cameras(cameras)
    if stack.capture is None:
        stack.start_capture()
    stack.wait_online()
    web = stack.web("nvr")
    try:
        time.sleep(2.0)
        start = web.cpu_seconds()
        time.sleep(seconds)
        cpu = web.cpu_seconds() - start
    finally:
        web.stop()
    row = {"cameras": len(cameras), "seconds": seconds, "web_cpu_pct": round(cpu / seconds * 100, 2)}
    log(f"  idle web process, 16 cameras, no viewers: {row['web_cpu_pct']} % of a core")
    return row
