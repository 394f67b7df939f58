"""Telling other systems about events: signed webhooks and MQTT (with Home Assistant discovery).

Capture never waits on a receiver: `Notifier.publish` only appends to a bounded queue
(QUEUE_LIMIT; when full the oldest message is dropped and counted). One router thread fans
each message out to every webhook's own bounded queue and thread, so a dead endpoint costs
nothing but its own retries (RETRY_DELAYS), and to the MQTT client, whose own thread
reconnects by itself.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections

from events.mqtt import MqttPublisher

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # messages waiting, per queue
RETRY_DELAYS = (1.0, 2.0, 5.0, 15.0, 60.0)  # seconds between the attempts of one webhook delivery
WEBHOOK_TIMEOUT = 5.0
WEBHOOK_REFRESH = 10.0  # how often the webhook list is read from the database
SIGNATURE_HEADER = "X-NVR-Signature"


@dataclass(frozen=True)
class Target:
    """A webhook as the delivery thread needs it (no ORM in that thread)."""

    id: int
    url: str
    secret: str
    cameras: frozenset[str]  # empty: every camera


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class BoundedQueue:
    """A deque of at most `limit` items; a full queue drops its oldest and counts it."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self._items: collections.deque = collections.deque(maxlen=limit)
        self._ready = threading.Condition()
        self.dropped = 0

    def put(self, item: object) -> None:
        with self._ready:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            self._ready.notify()

    def get(self, timeout: float) -> object | None:
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            return self._items.popleft() if self._items else None


class WebhookDelivery(threading.Thread):
    """One webhook's queue and thread: POST each message, retrying with backoff, in order."""

    def __init__(self, target: Target, stop: threading.Event) -> None:
        super().__init__(name=f"webhook-{target.id}", daemon=True)
        self.target = target
        self.queue = BoundedQueue()
        self.stop_event = stop
        self.retired = threading.Event()  # the webhook was changed or removed: finish the current message
        self.delivered = 0
        self.failed = 0

    def run(self) -> None:
        while not (self.stop_event.is_set() or self.retired.is_set()):
            message = self.queue.get(timeout=0.5)
            if message is not None:
                self._deliver(message)  # type: ignore[arg-type]

    def _deliver(self, message: dict) -> None:
        body = json.dumps(message, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "nvr-webhook",
            "X-NVR-Event": str(message.get("type", "")),
            "X-NVR-Delivery": uuid.uuid4().hex,
        }
        if self.target.secret:
            headers[SIGNATURE_HEADER] = sign(self.target.secret, body)
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay and self.stop_event.wait(delay):
                return
            try:
                request = urllib.request.Request(self.target.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:
                    if 200 <= response.status < 300:
                        self.delivered += 1
                        return
                    problem = f"answered {response.status}"
            except urllib.error.HTTPError as error:
                problem = f"answered {error.code}"
            except (OSError, ValueError) as error:
                problem = type(error).__name__
            log.info("webhook %s: attempt %d failed (%s)", self.target.id, attempt + 1, problem)
        self.failed += 1
        log.warning("webhook %s: gave up on a %s message after %d attempts", self.target.id, message.get("type"),
                    len(RETRY_DELAYS) + 1)  # fmt: skip


def load_targets() -> list[Target]:
    from events.models import Webhook

    close_old_connections()
    return [
        Target(hook.pk, hook.url, hook.secret, frozenset(camera.slug for camera in hook.cameras.all()))
        for hook in Webhook.objects.filter(enabled=True).prefetch_related("cameras")
    ]


class Notifier:
    """The capture process's one notifier: publish() from any capture thread, never blocking."""

    def __init__(self, *, mqtt: MqttPublisher | None = None, load: Callable[[], list[Target]] = load_targets) -> None:
        self.inbox = BoundedQueue()
        self.mqtt = mqtt
        self.load = load
        self.stop_event = threading.Event()
        self.deliveries: dict[int, WebhookDelivery] = {}
        self._targets: list[Target] = []
        self._loaded_at = 0.0
        self._router = threading.Thread(target=self._route, name="notifier", daemon=True)

    @classmethod
    def from_settings(cls) -> Notifier:
        url = getattr(settings, "MQTT_URL", "")
        return cls(mqtt=MqttPublisher(url) if url else None)

    def start(self) -> Notifier:
        if self.mqtt is not None:
            self.mqtt.start()
        self._router.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.mqtt is not None:
            self.mqtt.stop()

    def publish(self, kind: str, payload: dict) -> None:
        """An event started or ended (capture thread): queued, never waited on."""
        self.inbox.put(payload)

    def camera_started(self, slug: str, name: str) -> None:
        """A capture loop took a camera: announce it to Home Assistant (retained, idempotent)."""
        if self.mqtt is not None:
            self.mqtt.announce(slug, name)

    def _route(self) -> None:
        while not self.stop_event.is_set():
            message = self.inbox.get(timeout=0.5)
            if message is None:
                continue
            assert isinstance(message, dict)
            if self.mqtt is not None:
                self.mqtt.event(message)
            targets = self._current_targets()
            for gone in set(self.deliveries) - {target.id for target in targets}:
                self.deliveries.pop(gone).retired.set()
            for target in targets:
                if target.cameras and message.get("camera") not in target.cameras:
                    continue
                delivery = self.deliveries.get(target.id)
                if delivery is None or delivery.target != target:
                    if delivery is not None:
                        delivery.retired.set()
                    delivery = self.deliveries[target.id] = WebhookDelivery(target, self.stop_event)
                    delivery.start()
                delivery.queue.put(message)

    def _current_targets(self) -> list[Target]:
        if time.monotonic() - self._loaded_at > WEBHOOK_REFRESH:
            try:
                self._targets = self.load()
            except Exception:
                log.warning("webhooks: could not read the list; using the last one", exc_info=True)
            self._loaded_at = time.monotonic()
        return self._targets
