"""`python -m bench events`: what motion detection costs, beside the capture cost.

Two figures, measured in the same run:
- per detection: MotionDetector.detect on 1280x720 frames of the scripted scene (tests/events/scene.py),
  quiet and moving, as % of one core at DETECTIONS_PER_SECOND (the issue's target: at most 1 %);
- end to end: one capture supervisor with 4 RTSP 1280x720 15 fps cameras, motion off against on,
  alternated twice; the difference per camera includes the watcher's bookkeeping, not only detect().
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.procs import Proc
from bench.stack import CameraSpec


def detection_cost() -> dict:
    from events.detector import DETECTIONS_PER_SECOND, MotionDetector
    from tests.events.scene import MASK, Scene

    frames = [frame for _, frame in Scene().frames()]

    def timed(detector: MotionDetector) -> list[float]:
        took = []
        for frame in frames:
            started = time.perf_counter()
            detector.detect(frame)
            took.append(time.perf_counter() - started)
        return took

    took = timed(MotionDetector(masks=[MASK]))  # the scripted scene: mostly quiet, motion now and then
    moving = timed(MotionDetector())  # unmasked, the tree moves in every frame: the busiest case
    median_ms = statistics.median(took) * 1000
    tamper = tamper_cost(frames)
    return {
        "frames": len(frames),
        "input": "1280x720 BGR",
        "median_ms": round(median_ms, 3),
        "p90_ms": round(sorted(took)[int(len(took) * 0.9)] * 1000, 3),
        "moving_median_ms": round(statistics.median(moving) * 1000, 3),
        "core_pct_at_rate": round(median_ms * DETECTIONS_PER_SECOND / 10, 2),
        "moving_core_pct_at_rate": round(statistics.median(moving) * 1000 * DETECTIONS_PER_SECOND / 10, 2),
        "rate_per_s": DETECTIONS_PER_SECOND,
        "target_core_pct": 1.0,
        "tamper_median_ms": tamper,
        "tamper_share_of_detection": round(tamper / median_ms, 3) if median_ms else None,
    }


def tamper_cost(frames: list) -> float:
    """Median ms of the tampering check (events.tamper) on the grey pictures detection makes of `frames`."""
    from events.detector import MotionDetector
    from events.tamper import TamperDetector

    detector, tamper, took = MotionDetector(), TamperDetector(), []
    for index, frame in enumerate(frames):
        detector.detect(frame)
        assert detector.grey is not None
        started = time.perf_counter()
        tamper.update(detector.grey, index / 5.0)
        took.append(time.perf_counter() - started)
    return round(statistics.median(took) * 1000, 4)


def events_cost(stack, plan, log) -> dict:  # type: ignore[no-untyped-def]
    from tests.support.servers import RtspServer

    out: dict = {"detection": detection_cost()}
    log(f"  detection on 1280x720: median {out['detection']['median_ms']} ms = "
        f"{out['detection']['core_pct_at_rate']} % of a core at 5/s; with motion in every frame "
        f"{out['detection']['moving_median_ms']} ms = {out['detection']['moving_core_pct_at_rate']} %")  # fmt: skip
    count, seconds = 4, max(plan.capture_duration, 15)
    rtsp = RtspServer(mounts=("/cam",), width=1280, height=720, fps=15).start()
    rounds: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for _ in range(2):
            for mode in ("off", "on"):
                cameras = [
                    CameraSpec(f"ev-{i:02d}", kind="rtsp", source=rtsp.url("/cam"), motion=mode == "on")
                    for i in range(count)
                ]
                stack.set_cameras(cameras)
                stack.stop_capture()
                args = [sys.executable, "manage.py", "capture", "--poll", "0.5", "--lease", "4", "--backoff-cap", "2"]
                capture = Proc(f"capture-motion-{mode}", args, stack.env()).start()
                stack.capture = capture
                try:
                    stack.wait_online(timeout=60)
                    time.sleep(3.0)
                    start, began = capture.cpu_seconds(), time.monotonic()
                    time.sleep(seconds)
                    rounds[mode].append((capture.cpu_seconds() - start) / (time.monotonic() - began) * 100)
                finally:
                    stack.stop_capture()
                log(f"  capture, {count} RTSP 720p cameras, motion {mode:3}: {rounds[mode][-1]:.1f} % CPU")
    finally:
        rtsp.stop()
        stack.set_cameras([])
    off, on = statistics.median(rounds["off"]), statistics.median(rounds["on"])
    out["capture"] = {
        "cameras": count,
        "cpu_pct_motion_off": [round(v, 1) for v in rounds["off"]],
        "cpu_pct_motion_on": [round(v, 1) for v in rounds["on"]],
        "extra_core_pct_per_camera": round((on - off) / count, 2),
    }
    log(f"  motion detection adds {out['capture']['extra_core_pct_per_camera']} % of a core per camera (medians)")
    return out


def markdown(result: dict) -> list[str]:
    """The motion detection section of the report."""
    detection, capture = result.get("detection", {}), result.get("capture", {})
    per_detection = detection.get("core_pct_at_rate")
    end_to_end = capture.get("extra_core_pct_per_camera")
    return [
        "## Motion detection",
        "",
        "| measurement | figure | target | met |",
        "| --- | --- | --- | --- |",
        f"| One detection on 1280x720 (median of {detection.get('frames')} scripted frames) | "
        f"{detection.get('median_ms')} ms = {per_detection} % of a core at {detection.get('rate_per_s')}/s | "
        f"≤ 1 % | {'yes' if (per_detection or 1e9) <= 1 else '**no**'} |",
        f"| The same with motion in every frame | {detection.get('moving_median_ms')} ms = "
        f"{detection.get('moving_core_pct_at_rate')} % | ≤ 1 % | "
        f"{'yes' if (detection.get('moving_core_pct_at_rate') or 1e9) <= 1 else '**no**'} |",
        f"| The tampering check on the same grey picture (median) | {detection.get('tamper_median_ms')} ms = "
        f"{detection.get('tamper_share_of_detection')} x a detection | reported | – |",
        f"| Capture CPU, {capture.get('cameras')} RTSP 720p cameras, motion off (2 rounds) | "
        f"{capture.get('cpu_pct_motion_off')} % | reported | – |",
        f"| Capture CPU, motion on (2 rounds) | {capture.get('cpu_pct_motion_on')} % | reported | – |",
        f"| What detection adds per camera, end to end (medians) | {end_to_end} % of a core | ≤ 1 % | "
        f"{'yes' if (end_to_end if end_to_end is not None else 1e9) <= 1 else '**no**'} |",
        "",
    ]
