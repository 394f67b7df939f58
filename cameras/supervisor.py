"""The capture supervisor: keeps one capture loop running per enabled camera it holds.

Every tick it reads the camera registry, stops loops of cameras that were removed,
disabled or changed, renews its leases, and claims unowned cameras up to its fair
share (cameras / live supervisors), so several supervisors on several hosts split the
cameras without capturing one twice, and take over a dead one's within a lease.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections

from cameras.config import CameraConfig
from cameras.live import LivePublisher
from cameras.outputs import CaptureOutput
from cameras.relay import H264Relay
from cameras.sources import SOURCES
from cameras.workers import CaptureLoop
from events.feed import DetectorFeed
from events.health import CameraHealth, Problems, open_problems
from events.notify import Notifier
from events.watcher import MotionWatcher
from framebus import BUS_ERRORS, LiveStream, SyncBus
from framebus.status import State
from recordings.keeper import Keeper
from recordings.models import RecordMode
from recordings.recorder import Recorder
from recordings.store import Store, get_store

log = logging.getLogger(__name__)

STALL_SECONDS = 30.0  # a loop that made no progress this long is abandoned and replaced


def outputs_for(
    config: CameraConfig, *, bus: SyncBus, store: Store, notifier: Notifier | None = None
) -> list[CaptureOutput]:
    """A camera's capture outputs, from its fields: the one place that names them (cameras.outputs).

    A camera with a sub stream gets two live publishers: the grid's sizes from the sub stream, the camera's
    own size (and wider ones) from the main stream; motion takes its pictures from the sub stream too. It
    gets two H.264 relays too: the main stream's (the camera page, live.mp4) and the sub stream's (the grid).
    The H.264 relay comes before the recorder: it sees each packet as the camera sent it.
    """
    outputs: list[CaptureOutput]
    if config.sub_source:
        grid = LivePublisher(config, bus, variants_only=True)
        outputs = [LivePublisher(config, bus, defers_to=grid), grid]
    else:
        outputs = [LivePublisher(config, bus)]
    kind = SOURCES.get(config.kind)  # an unknown kind fails in the loop, with its message
    if kind and kind.delivers_packets:
        outputs.append(H264Relay(config, bus))
        if config.sub_source:  # the grid's H.264: the sub stream's own packets, under names of its own
            outputs.append(H264Relay(config, bus, stream=LiveStream.SUB))
    if config.record != RecordMode.OFF:
        # Only the lease holder runs the loop, so only it records; a takeover starts a new segment.
        outputs.append(Recorder(config, from_packets=bool(kind and kind.delivers_packets), store=store))
    if config.motion:
        feed = None
        if settings.DETECTOR_MODEL and json.loads(config.objects_json):  # object detection: crops around motion
            feed = DetectorFeed(config, bus, rate=settings.DETECTOR_CROPS_PER_SECOND)
        outputs.append(MotionWatcher(config, store, notifier.publish if notifier is not None else None, feed))
    return outputs


def load_enabled_configs() -> dict[str, CameraConfig]:
    """The enabled cameras, read fresh from the database."""
    from cameras.models import Camera

    close_old_connections()
    return {c.slug: CameraConfig.from_camera(c) for c in Camera.objects.filter(enabled=True)}


class Supervisor:
    """Run with run(); stop() from a signal handler or another thread."""

    def __init__(
        self,
        bus: SyncBus,
        *,
        poll_seconds: float = 2.0,
        lease_seconds: float = 8.0,
        owner: str | None = None,
        load_configs: Callable[[], dict[str, CameraConfig]] = load_enabled_configs,
        backoff_cap: float = 30.0,
        keep_recordings: bool = True,
    ) -> None:
        self.bus = bus
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.load_configs = load_configs
        self.backoff_cap = backoff_cap
        self.keep_recordings = keep_recordings  # reconcile and retention (one supervisor at a time, by lease)
        self.loops: dict[str, CaptureLoop] = {}
        self.configs: dict[str, CameraConfig] = {}
        self.stop_event = threading.Event()
        self.notifier: Notifier | None = None  # made in run(): webhooks and MQTT for this process's events
        self.health: dict[str, CameraHealth] = {}  # the cameras this supervisor holds: offline, recording failing

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        log.info("supervisor %s started", self.owner)
        problem = get_store().problem()
        if problem:  # live view goes on; each recording camera shows the error until it is fixed
            log.error("recordings: %s; recording is stopped until it is fixed", problem)
        self.notifier = Notifier.from_settings().start()
        keeper = Keeper(self.bus, self.owner, notify=self.notifier.publish) if self.keep_recordings else None
        if keeper is not None:
            keeper.start()
        try:
            while not self.stop_event.is_set():
                self.tick()
                self.stop_event.wait(self.poll_seconds)
        finally:
            if keeper is not None:
                keeper.stop()
            self.shutdown()
            self.notifier.stop()

    def tick(self) -> None:
        """One round: read config, stop what must stop, renew, claim."""
        self._refresh_configs()
        try:
            alive = self.bus.heartbeat(self.owner, self.lease_seconds)
        except BUS_ERRORS as error:
            log.warning("supervisor: Redis unavailable (%s); capture continues", type(error).__name__)
            return
        for slug in list(self.loops):
            config = self.configs.get(slug)
            if config is None:
                self._stop_loop(slug, final_state=State.DISABLED)
            elif config != self.loops[slug].config:
                log.info("camera %s changed: restarting its capture", slug)
                self._stop_loop(slug)
        self._renew_leases()
        self._replace_stalled()
        self._claim(alive)
        self._decide_health()

    def shutdown(self) -> None:
        """Stop every loop and release leases at once, so another supervisor takes over."""
        for slug in list(self.loops):
            self._stop_loop(slug, final_state=State.OFFLINE)
        try:
            self.bus.leave(self.owner)
        except BUS_ERRORS:
            pass
        log.info("supervisor %s stopped", self.owner)

    # Steps ------------------------------------------------------------------------
    def _refresh_configs(self) -> None:
        try:
            self.configs = self.load_configs()
        except Exception as error:  # noqa: BLE001 - keep capturing known cameras
            log.warning(
                "supervisor: camera registry unavailable (%s); keeping %d cameras",
                type(error).__name__,
                len(self.configs),
            )

    def _renew_leases(self) -> None:
        for slug in list(self.loops):
            try:
                still_ours = self.bus.renew_lease(slug, self.owner, self.lease_seconds)
            except BUS_ERRORS:
                return  # Redis away: keep capturing; leases are settled when it returns
            if not still_ours:
                log.warning("camera %s: lease lost to another supervisor", slug)
                self._stop_loop(slug, release=False)

    def _replace_stalled(self) -> None:
        now = time.monotonic()
        for slug, loop in list(self.loops.items()):
            if not loop.is_alive() or now - loop.last_progress > STALL_SECONDS:
                log.warning("camera %s: capture loop stalled or died; replacing it", slug)
                loop.stop()
                self.loops[slug] = self._start_loop(self.configs.get(slug, loop.config))

    def _decide_health(self) -> None:
        """Offline and recording problems of the cameras held here (this supervisor is their one decider)."""
        now = time.time()
        for slug, loop in list(self.loops.items()):
            health = self.health.get(slug)
            if health is None or health.camera != loop.config:
                problems = Problems(self.notifier.publish if self.notifier is not None else None)
                health = self.health[slug] = CameraHealth(loop.config, problems)
            status = loop.status()
            health.update(
                status.state.value,
                status.error,
                status.recording,
                status.recording_error,
                now,
                clock_offset=status.clock_offset,
            )
        for slug in set(self.health) - set(self.loops):
            del self.health[slug]  # handed over: its next holder decides (open problems are in the database)

    def _claim(self, alive: int) -> None:
        fair_share = math.ceil(len(self.configs) / max(alive, 1))
        # Hand back cameras beyond the fair share, one per tick, so a new supervisor gets work.
        if len(self.loops) > fair_share:
            slug = sorted(self.loops)[-1]
            log.info("camera %s: handed back to balance %d supervisors", slug, alive)
            self._stop_loop(slug)
            return
        for slug in sorted(self.configs):
            if len(self.loops) >= fair_share:
                break
            if slug in self.loops:
                continue
            try:
                if not self.bus.acquire_lease(slug, self.owner, self.lease_seconds):
                    continue
            except BUS_ERRORS:
                return
            self.loops[slug] = self._start_loop(self.configs[slug])

    def _start_loop(self, config: CameraConfig) -> CaptureLoop:
        log.info("camera %s: capture starting (%s)", config.slug, config.kind)
        outputs = outputs_for(config, bus=self.bus, store=get_store(), notifier=self.notifier)
        loop = CaptureLoop(config, self.bus, outputs, backoff_cap=self.backoff_cap)
        if self.notifier is not None:
            self.notifier.camera_started(
                config.slug, config.name, motion=config.motion, problems=open_problems(config.id)
            )
        loop.start()
        return loop

    def _stop_loop(self, slug: str, *, final_state: State | None = None, release: bool = True) -> None:
        loop = self.loops.pop(slug)
        loop.stop()
        loop.join(timeout=6.0)
        if final_state:
            loop.write_final_status(final_state)
        health = self.health.pop(slug, None)
        if health is not None and final_state is State.DISABLED:
            health.stopped(time.time())
        if release:
            try:
                self.bus.release_lease(slug, self.owner)
            except BUS_ERRORS:
                pass
        log.info("camera %s: capture stopped", slug)
