"""`/metrics` for Prometheus: capture facts per camera, streaming facts of this web process.

It lives in the project package, not in an app, because it looks across all of it: the camera
registry, Redis and this process's streaming hub. It never blocks the event loop: Redis is asked
through the hub's ViewBus under a short timeout, so a hung Redis is a missing sample, not a stuck
worker.

Capture facts come from the status hashes capture workers write to Redis, so every web
process reports the same values. Streaming facts belong to the web process that answers
and carry its pid: with WEB_CONCURRENCY > 1 each scrape sees one worker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import os
from collections.abc import Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from audit.writer import get_writer
from cameras.models import Camera
from cameras.status import camera_facts, status_from
from framebus import BUS_ERRORS, RawStatus
from framebus.status import State, SubStream
from recordings.recorder import RecordingState
from recordings.selectors import CameraUsage, StoreUsage, camera_usage, store_usage
from streaming.errors import NO_STORE
from streaming.hub import Hub, get_hub

CHECK_TIMEOUT = 2.0  # seconds Redis may take before camera samples are left out


def metrics_allowed(request: HttpRequest) -> bool:
    """The metrics token (Bearer header or ?token=), or a client address in NVR_METRICS_NETWORKS.

    Behind a TLS proxy (BEHIND_TLS_PROXY) every request comes from the proxy's address, so an
    address proves nothing there: only the token opens /metrics.
    """
    token = settings.NVR_METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else request.GET.get("token", "")
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return True
    if settings.SECURE_PROXY_SSL_HEADER:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.NVR_METRICS_NETWORKS)


@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: capture facts per camera, streaming facts of this process."""
    if not metrics_allowed(request):
        return HttpResponse(
            "Forbidden: send the metrics token, or scrape from NVR_METRICS_NETWORKS.\n",
            status=403,
            content_type="text/plain",
        )
    cameras = [
        camera
        async for camera in Camera.objects.only(
            "slug", "name", "kind", "enabled", "position", "record", "motion", "updated_at", "sub_source", "audio"
        )
    ]
    hub = get_hub()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            statuses: dict[str, RawStatus] | None = await hub.bus.statuses([c.slug for c in cameras])
    except BUS_ERRORS:  # TimeoutError is an OSError
        statuses = None
    registry = CollectorRegistry(auto_describe=False)
    usage, store = await sync_to_async(lambda: (camera_usage(), store_usage()))()
    registry.register(Snapshot(cameras, statuses, hub, usage, store))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4, headers=NO_STORE)


class Snapshot(Collector):
    """The facts gathered for one scrape, as metric families (a fresh registry per request)."""

    def __init__(
        self,
        cameras: list[Camera],
        statuses: dict[str, RawStatus] | None,
        hub: Hub,
        usage: dict[int, CameraUsage],
        store: StoreUsage,
    ) -> None:
        self.store = store
        self.facts = [
            camera_facts(
                c,
                status_from(c, None if statuses is None else statuses.get(c.slug, {})),
                usage.get(c.pk),
            )
            for c in cameras
        ]
        self.redis_up = statuses is not None
        self.hub = hub
        self.pid = str(os.getpid())

    def collect(self) -> Iterator[Metric]:
        yield from self._cameras()
        yield from self._process()

    def _cameras(self) -> Iterator[Metric]:
        redis_up = GaugeMetricFamily("nvr_redis_up", "1 when this web process could read camera status from Redis.")
        redis_up.add_metric([], 1 if self.redis_up else 0)
        yield redis_up
        info = GaugeMetricFamily(
            "nvr_camera_info", "Camera registry entry (always 1).", labels=["camera", "name", "kind"]
        )
        enabled = _gauge("nvr_camera_enabled", "1 when the camera is enabled in the registry.")
        state = GaugeMetricFamily(
            "nvr_camera_state", "Capture state: 1 for the current state.", labels=["camera", "state"]
        )
        fps = _gauge("nvr_camera_capture_fps", "Frames per second captured over the last seconds.")
        frames = CounterMetricFamily(
            "nvr_camera_frames_captured", "Frames captured by the current capture loop.", labels=["camera"]
        )
        reconnects = CounterMetricFamily(
            "nvr_camera_reconnects", "Reconnects of the current capture loop.", labels=["camera"]
        )
        age = _gauge("nvr_camera_last_frame_age_seconds", "Seconds since the newest captured frame.")
        encode = _gauge("nvr_camera_encode_seconds", "JPEG encode time per live frame while watched (moving average).")
        decoded = CounterMetricFamily(
            "nvr_camera_frames_decoded",
            "Pictures the current capture loop decoded (none while none is needed).",
            labels=["camera"],
        )
        repaired = CounterMetricFamily(
            "nvr_camera_timestamps_repaired",
            "Packets whose timestamps were repaired where they entered.",
            labels=["camera"],
        )
        dropped = CounterMetricFamily(
            "nvr_camera_packets_dropped",
            "Packets dropped where they entered (no or backward timestamps).",
            labels=["camera"],
        )
        recording = GaugeMetricFamily(
            "nvr_camera_recording", "Recording state: 1 for the current state.", labels=["camera", "state"]
        )
        sub_stream = GaugeMetricFamily(
            "nvr_camera_sub_stream",
            "Where a camera with a sub stream takes its pictures: 1 for the current state (fallback: the main stream).",
            labels=["camera", "state"],
        )
        motion = _gauge("nvr_camera_motion", "1 while motion is detected (an event is open); cameras with motion on.")
        stored = _gauge("nvr_recordings_bytes", "Bytes of recordings stored for the camera.")
        stored_seconds = _gauge("nvr_recordings_seconds", "Seconds of video stored for the camera.")
        oldest = _gauge(
            "nvr_recordings_oldest_timestamp_seconds", "Start of the camera's oldest recording (Unix time)."
        )
        for fact in self.facts:
            slug = [fact["slug"]]
            info.add_metric([fact["slug"], fact["name"], fact["kind"]], 1)
            enabled.add_metric(slug, 1 if fact["enabled"] else 0)
            for name in State:
                state.add_metric([fact["slug"], name.value], 1 if fact["state"] == name else 0)
            fps.add_metric(slug, fact["fps"] or 0.0)
            if fact["frames"] is not None:
                frames.add_metric(slug, fact["frames"])
            if fact["reconnects"] is not None:
                reconnects.add_metric(slug, fact["reconnects"])
            if fact["last_frame_age"] is not None:
                age.add_metric(slug, fact["last_frame_age"])
            if fact["encode_ms"]:
                encode.add_metric(slug, fact["encode_ms"] / 1000)
            if fact["frames"] is not None:
                decoded.add_metric(slug, fact["decoded"])
                repaired.add_metric(slug, fact["timestamps_repaired"])
                dropped.add_metric(slug, fact["packets_dropped"])
            for recording_state in RecordingState:
                recording.add_metric([fact["slug"], recording_state.value], int(fact["recording"] == recording_state))
            if fact["motion"]:
                motion.add_metric(slug, int(fact["motion_now"]))
            if fact["sub_source"]:
                for sub_state in SubStream:
                    if sub_state is not SubStream.NONE:
                        sub_stream.add_metric([fact["slug"], sub_state.value], int(fact["sub_stream"] == sub_state))
            stored.add_metric(slug, fact["stored_bytes"])
            stored_seconds.add_metric(slug, fact["stored_hours"] * 3600)
            if fact["oldest_recording"]:
                oldest.add_metric(slug, dt.datetime.fromisoformat(fact["oldest_recording"]).timestamp())
        yield from (
            info,
            enabled,
            state,
            fps,
            frames,
            reconnects,
            age,
            encode,
            decoded,
            repaired,
            dropped,
            recording,
            motion,
            sub_stream,
            stored,
            stored_seconds,
            oldest,
        )
        yield from self._store()

    def _store(self) -> Iterator[Metric]:
        store = self.store
        for name, help_text, value in (
            ("nvr_recordings_store_bytes", "Bytes of all recordings in the store.", store.bytes),
            ("nvr_recordings_budget_bytes", "RECORDINGS_MAX_SIZE (0: no byte budget).", store.budget),
            ("nvr_recordings_free_bytes", "Free bytes on the store's filesystem.", store.free),
            ("nvr_recordings_free_floor_bytes", "Free space retention keeps (RECORDINGS_MIN_FREE).", store.floor),
            ("nvr_recordings_store_writable", "1 when this process can write to the store.", int(store.writable)),
            (
                "nvr_recordings_archived_bytes",
                "Bytes kept from deleted cameras (archives only superusers see; counted in the budget).",
                store.archived_bytes,
            ),
            (
                "nvr_recordings_orphaned_bytes",
                "Bytes found in the store without a camera (counted in the budget, deleted first).",
                store.orphaned_bytes,
            ),
            ("nvr_recordings_orphaned_files", "Files found in the store without a camera.", store.orphaned_files),
        ):
            if value is not None:
                gauge = GaugeMetricFamily(name, help_text)
                gauge.add_metric([], value)
                yield gauge

    def _process(self) -> Iterator[Metric]:
        hub, pid = self.hub, [self.pid]
        counters = hub.counters  # counted as it happens: never goes down while the process lives
        totals = {
            "frames_sent": counters.frames_sent,
            "frames_skipped": counters.frames_skipped,
            "deadline_drops": counters.deadline_drops,
            "revoked": counters.revoked,
            "bytes_sent": counters.bytes_sent,
            "bus_reconnects": sum(s.reconnects for s in hub.subscribers),
        }
        viewers = GaugeMetricFamily(
            "nvr_stream_viewers", "Open streams per camera in this web process.", labels=["camera", "pid"]
        )
        missed = GaugeMetricFamily(
            "nvr_stream_bus_frames_missed",
            "Frames this process's open feeds never received from Redis (per feed lifetime).",
            labels=["camera", "pid"],
        )
        per_camera: dict[str, list[int]] = {fact["slug"]: [0, 0] for fact in self.facts}
        for feed in list(hub.feeds.values()):
            counts = per_camera.setdefault(feed.slug, [0, 0])
            counts[0] += feed.viewers
            counts[1] += feed.gaps
        for slug, (count, gaps) in per_camera.items():
            viewers.add_metric([slug, self.pid], count)
            missed.add_metric([slug, self.pid], gaps)
        yield viewers
        yield missed
        for name, help_text in (
            ("frames_sent", "Frames written to viewers by this web process."),
            ("frames_skipped", "Frames slow viewers never got (the newest frame won)."),
            ("deadline_drops", "Viewers dropped because a write made no progress within the deadline."),
            ("revoked", "Open streams ended because their access was withdrawn (token revoked, user removed)."),
            ("bytes_sent", "Stream bytes written to viewers by this web process."),
            ("bus_reconnects", "Reconnects of this process's Redis frame subscriptions."),
        ):
            counter = CounterMetricFamily(f"nvr_stream_{name}", help_text, labels=["pid"])
            counter.add_metric(pid, totals[name])
            yield counter
        subscriptions = GaugeMetricFamily(
            "nvr_stream_subscriptions", "Redis frame channels this process subscribes to.", labels=["pid"]
        )
        subscriptions.add_metric(pid, hub.subscription_count())
        yield subscriptions
        # What a stream leaves behind if it is not ended properly (counted by tests/reliability/test_load.py).
        for name, help_text, count in (
            (
                "nvr_stream_open_streams",
                "Streams open in this web process (single cameras and grids).",
                len(hub.viewers),
            ),
            ("nvr_stream_feeds", "Camera feeds (one per camera and size) this web process holds.", len(hub.feeds)),
            ("nvr_web_asyncio_tasks", "asyncio tasks alive in this web process.", len(asyncio.all_tasks())),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=["pid"])
            gauge.add_metric(pid, count)
            yield gauge
        writer = get_writer()  # the audit trail's rows (audit/writer.py): a dropped row is an alarm
        for name, help_text, total in (
            ("written", "Audit rows this process wrote.", writer.written),
            (
                "dropped",
                "Audit rows this process dropped because its buffer was full (the database was away).",
                writer.dropped,
            ),
            ("write_failures", "Failed attempts to write audit rows (they are kept and retried).", writer.failures),
        ):
            counter = CounterMetricFamily(f"nvr_audit_rows_{name}", help_text, labels=["pid"])
            counter.add_metric(pid, total)
            yield counter
        rss = _resident_bytes()
        if rss is not None:
            memory = GaugeMetricFamily(
                "nvr_web_resident_memory_bytes", "Resident memory of this web process.", labels=["pid"]
            )
            memory.add_metric(pid, rss)
            yield memory


def _gauge(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["camera"])


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
