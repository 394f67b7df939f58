"""`python -m bench detection`: what object detection costs, and how soon an object reaches MQTT.

Three figures, measured in the same run on this machine:
- inference per picture, YOLOv8n and YOLOv9-t at 320 and 640 input (ONNX Runtime, CPU): untrained
  graphs of the real architectures (bench/yolo_graphs.py: weights change no operation, so the cost is
  the real one), median of INFERENCES runs each, nvr's own pre- and post-processing included; wall time
  and the process's CPU time (every ONNX Runtime thread: steadier than wall time on a shared machine);
- the detector's CPU per camera for 16 cameras of the scripted scene (tests/events/scene.py, 90 s, an
  object crossing for 15 s of it): motion-gated (the crops events.feed sends through Redis, as many
  as it sends) against detecting every frame the motion watcher gets (5/s, the whole 1280x720 frame),
  with YOLOv8n at 320; process CPU seconds (every ONNX Runtime thread) per camera-second of scene;
- end to end, from an object's first frame handed to the motion watcher to its `nvr/<slug>/person ON`
  at an MQTT subscriber (mosquitto on loopback): the feed, Redis, the detector thread, the event row,
  its snapshot, the notifier, the broker. Median of WALKS walks, real time, YOLOv8n at 320.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

INFERENCES = 15
WALKS = 5
CAMERAS = 16


def _model(build, size: int, folder: Path):  # type: ignore[no-untyped-def]
    import onnx

    from detection.model import load

    graph, params = build(size)
    path = folder / f"{graph.graph.name}-{size}.onnx"
    onnx.save(graph, str(path))
    return load(str(path)), params


def inference_cost(folder: Path, log) -> list[dict]:  # type: ignore[no-untyped-def]
    from bench.yolo_graphs import ARCHITECTURES
    from tests.events.scene import Scene

    frames = [frame for index, (_, frame) in enumerate(Scene().frames()) if index % 20 == 0][: INFERENCES + 1]
    rows = []
    for name, build in ARCHITECTURES.items():
        for size in (320, 640):
            model, params = _model(build, size, folder)
            model.detect(frames[0], 0.25)  # the first run allocates
            took, cpu = [], []
            for frame in frames[1:]:
                started, started_cpu = time.perf_counter(), time.process_time()
                model.detect(frame, 0.25)
                took.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            row = {
                "model": name,
                "input": size,
                "parameters": params,
                "median_ms": round(statistics.median(took) * 1000, 1),
                "median_cpu_ms": round(statistics.median(cpu) * 1000, 1),  # every ONNX Runtime thread's CPU
            }
            rows.append(row)
            log(f"  {name} at {size}: {row['median_ms']} ms per picture, {row['median_cpu_ms']} ms of CPU "
                f"(medians of {len(took)}), {params:,} parameters")  # fmt: skip
    return rows


def gated_against_every_frame(folder: Path, stack, log) -> dict:  # type: ignore[no-untyped-def]
    """Detector CPU for CAMERAS cameras: crops around motion (through Redis) against every frame."""
    from bench.yolo_graphs import yolov8n
    from events.detector import DETECTIONS_PER_SECOND, MotionDetector
    from events.feed import DETECTOR_CROPS_PER_SECOND, DetectorFeed
    from framebus import SyncBus
    from tests.events.scene import DURATION, MASK, Scene

    model, _ = _model(yolov8n, 320, folder)
    bus = SyncBus(stack.redis.url, namespace="bench-detect")
    frames = list(Scene().frames())  # every camera sees the scripted scene, shifted so their motions differ
    detected, cpu = 0, 0.0
    for camera in range(CAMERAS):
        config = _config(camera)
        detector, feed = MotionDetector(masks=[MASK]), DetectorFeed(config, bus)
        shift = camera * len(frames) // CAMERAS
        for index in range(len(frames)):
            _, frame = frames[(index + shift) % len(frames)]
            detection = detector.detect(frame)
            feed.offer(frame, index / DETECTIONS_PER_SECOND, detection.boxes)
            while bus.crops_waiting():
                crop = bus.pop_crop(0.1)
                if crop is None:
                    continue
                picture = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
                started = time.process_time()
                model.detect(picture, 0.5)
                cpu += time.process_time() - started
                detected += 1
    seconds = CAMERAS * DURATION
    every = []
    for _, frame in frames[:: len(frames) // INFERENCES][:INFERENCES]:
        started = time.process_time()
        model.detect(frame, 0.5)
        every.append(time.process_time() - started)
    every_cpu = statistics.median(every) * DETECTIONS_PER_SECOND  # CPU seconds per camera-second
    gated_cpu = cpu / seconds
    out = {
        "cameras": CAMERAS,
        "scene_seconds": DURATION,
        "crops": detected,
        "crops_per_camera_second": round(detected / seconds, 3),
        "crop_rate_cap": DETECTOR_CROPS_PER_SECOND,
        "gated_core_pct_per_camera": round(gated_cpu * 100, 2),
        "every_frame_core_pct_per_camera": round(every_cpu * 100, 1),
        "every_frame_rate": DETECTIONS_PER_SECOND,
        "ratio": round(every_cpu / gated_cpu, 1) if gated_cpu else None,
    }
    log(f"  {CAMERAS} cameras, YOLOv8n 320: motion-gated {out['gated_core_pct_per_camera']} % of a core per camera "
        f"({detected} crops), every frame {out['every_frame_core_pct_per_camera']} %: {out['ratio']}x")  # fmt: skip
    bus.close()
    return out


def _config(index: int):  # type: ignore[no-untyped-def]
    from cameras.config import CameraConfig

    return CameraConfig(
        slug=f"det-{index:02d}", name=f"det {index}", kind="test_pattern", id=index + 1, uid=f"u{index}"
    )


def mqtt_delay(folder: Path, stack, log) -> dict:  # type: ignore[no-untyped-def]
    """From the first frame with the object to `nvr/<slug>/person ON` at a subscriber, WALKS times."""
    import paho.mqtt.client as mqtt
    from django.conf import settings

    from bench.yolo_graphs import yolov8n
    from cameras.config import CameraConfig
    from cameras.models import Camera
    from detection.worker import DetectorWorker
    from events.feed import DetectorFeed
    from events.mqtt import MqttPublisher
    from events.notify import Notifier
    from events.watcher import MotionWatcher
    from framebus import SyncBus
    from recordings.store import get_store
    from tests.detection.scene import COLOURS, LANE, SIDE, Yard
    from tests.support.servers import MosquittoServer

    settings.RECORDINGS_DIR = str(folder / "recordings")
    model, _ = _model(yolov8n, 320, folder)
    # An untrained model finds nothing: the test model (red = person) stands in for its answers, and the
    # untrained YOLOv8n runs beside it on each crop, so the delay includes a real inference's cost.
    from tests.detection.models import save, yolo_model

    stand_in = _load(save(yolo_model(), folder, "red-person.onnx"))
    real_detect = stand_in.detect

    def detect(picture, min_score):  # type: ignore[no-untyped-def]
        model.detect(picture, min_score)
        return real_detect(picture, min_score)

    stand_in.detect = detect  # type: ignore[method-assign]
    camera, _ = Camera.objects.update_or_create(
        slug="det-mqtt", defaults={"name": "det mqtt", "kind": "test_pattern", "motion": True, "enabled": False,
                                   "event_gap_seconds": 1.0, "object_min_score": 0.3, "record": "off"},
    )  # fmt: skip
    config = CameraConfig.from_camera(camera)
    broker = MosquittoServer().start()
    bus = SyncBus(stack.redis.url, namespace="bench-detect")
    arrivals: list[float] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-subscriber")
    client.on_connect = lambda c, *_: c.subscribe("nvr/det-mqtt/person", 1)
    client.on_message = lambda c, u, m: arrivals.append(time.time()) if m.payload == b"ON" and not m.retain else None
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    notifier = Notifier(mqtt=MqttPublisher(broker.url), load=list).start()
    stop = threading.Event()
    worker = DetectorWorker(bus, stand_in, pictures=get_store(), notifier=notifier)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    watcher = MotionWatcher(config, get_store(), None, DetectorFeed(config, bus))
    background = next(Yard("red").frames())[1]
    delays = []
    try:
        time.sleep(1.0)
        for walk in range(WALKS):
            seen = len(arrivals)
            first = 0.0
            for index in range(25):  # 1 s quiet, 2 s walking, 2 s gone, at 5 frames a second
                frame = background.copy()
                if 5 <= index < 15:  # each walk a little lower and further right: people never retrace pixels
                    x, y = 40 + walk * 13 + (index - 5) * 40, LANE[0] - 60 + walk * 25
                    frame[y : y + SIDE, x : x + SIDE] = COLOURS["red"]
                now = time.time()
                if index == 5:
                    first = now
                watcher.frame(frame, now)
                time.sleep(max(0.0, 0.2 - (time.time() - now)))
            deadline = time.time() + 10  # let the detector catch up before the next walk
            while (bus.crops_waiting() or len(arrivals) == seen) and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(1.5)  # and the event end (its gap is 1 s)
            if len(arrivals) > seen:
                delays.append(arrivals[seen] - first)
                log(f"  walk {walk + 1}: ON after {delays[-1] * 1000:.0f} ms")
            else:
                log(f"  walk {walk + 1}: no ON (detector counts {worker.counts})")
    finally:
        stop.set()
        thread.join(5)
        notifier.stop()
        client.loop_stop()
        client.disconnect()
        broker.stop()
        bus.close()
    return {
        "walks": WALKS,
        "arrived": len(delays),
        "delays_ms": [round(d * 1000) for d in delays],
        "median_ms": round(statistics.median(delays) * 1000) if delays else None,
        "detector_counts": dict(worker.counts),
    }


def _load(path: Path):  # type: ignore[no-untyped-def]
    from detection.model import load

    return load(str(path))


def detection_cost(stack, plan, log) -> dict:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory(prefix="nvr-bench-detect-") as name:
        folder = Path(name)
        out: dict = {"inference": inference_cost(folder, log)}
        out["gating"] = gated_against_every_frame(folder, stack, log)
        out["mqtt"] = mqtt_delay(folder, stack, log)
        log(f"  object's first frame to MQTT ON: median {out['mqtt']['median_ms']} ms of {out['mqtt']['delays_ms']}")
    return out


def markdown(result: dict) -> list[str]:
    """The object detection section of the report."""
    lines = ["## Object detection", "", "| measurement | figure |", "| --- | --- |"]
    for row in result.get("inference", []):
        lines.append(f"| {row['model']} (untrained, real architecture) at {row['input']}, one picture, CPU | "
                     f"{row['median_ms']} ms ({row.get('median_cpu_ms')} ms of CPU), medians |")  # fmt: skip
    gating = result.get("gating", {})
    lines += [
        f"| Detector CPU per camera, {gating.get('cameras')} cameras, motion-gated (YOLOv8n 320) | "
        f"{gating.get('gated_core_pct_per_camera')} % of a core ({gating.get('crops')} crops) |",
        f"| The same detecting every frame ({gating.get('every_frame_rate')}/s) | "
        f"{gating.get('every_frame_core_pct_per_camera')} % of a core ({gating.get('ratio')}x) |",
        f"| Object's first frame to MQTT ON (median of {result.get('mqtt', {}).get('walks')}) | "
        f"{result.get('mqtt', {}).get('median_ms')} ms |",
        "",
    ]
    return lines
