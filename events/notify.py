"""Telling other systems about events: signed webhooks, MQTT (with Home Assistant discovery), Web Push.

Capture never waits on a receiver: `Notifier.publish` only appends to a bounded queue
(QUEUE_LIMIT; when full the oldest message is dropped and counted). One router thread fans
each message out to every webhook's own bounded queue, and to the MQTT client, whose own thread
reconnects by itself. A fixed pool of DELIVERY_THREADS threads delivers: each takes the next
webhook whose first message is due, one message in flight per webhook (so each receiver gets its
messages in order), and a failed attempt is retried after RETRY_DELAYS without holding a thread
meanwhile. So a dead endpoint costs nothing but its own retries, and a hundred webhooks cost
DELIVERY_THREADS threads, not a hundred.

Every delivery goes through the outbound policy at connect time (outbound.opener: the receiver's
name is resolved and every address checked when the connection is made, redirects are not
followed), and is signed with a timestamp (sign()), so a captured delivery cannot be replayed later.
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

from events.access import visible_cameras
from events.mqtt import MqttPublisher
from events.push import PushTarget, forget, load_push_targets, send
from outbound import Purpose, Refused, check, opener

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # messages waiting, per queue
RETRY_DELAYS = (1.0, 2.0, 5.0, 15.0, 60.0)  # seconds between the attempts of one webhook delivery
WEBHOOK_TIMEOUT = 5.0
WEBHOOK_REFRESH = 10.0  # how often the webhook list is read from the database
DELIVERY_THREADS = 4  # every webhook of the process shares these (one message in flight per webhook)
SIGNATURE_HEADER = "X-NVR-Signature"
TIMESTAMP_HEADER = "X-NVR-Timestamp"


@dataclass(frozen=True)
class Target:
    """A webhook as the delivery threads need it (no ORM there): its cameras as its owner may see them now."""

    id: int
    url: str
    secret: str
    cameras: frozenset[str]  # empty: every camera


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `timestamp.body`: the scheme Stripe's and GitHub's receivers know.

    The timestamp travels in X-NVR-Timestamp; a receiver that refuses old ones (README: 5 minutes)
    cannot be fed a captured delivery again.
    """
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


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

    def peek(self) -> object | None:
        """The oldest item, left in the queue (None when empty)."""
        with self._ready:
            return self._items[0] if self._items else None

    def remove(self, item: object) -> None:
        """Take `item` out if it is still the oldest (a full queue may have dropped it meanwhile)."""
        with self._ready:
            if self._items and self._items[0] is item:
                self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class WebhookDelivery:
    """One webhook's queue and delivery state; the pool's threads deliver its messages in order."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.queue = BoundedQueue()
        self.retired = False  # the webhook was changed or removed: nothing more is sent
        self.busy = False  # a pool thread is attempting its oldest message
        self.attempts = 0  # failed attempts of the oldest message so far
        self.due = 0.0  # monotonic time of its next attempt
        self.delivered = 0
        self.failed = 0
        self.gone = False  # the receiver said it will never take one (a forgotten push subscription)

    def attempt(self, message: dict) -> str:
        """POST `message` once; "" when the receiver took it, else what went wrong (for the log)."""
        body = json.dumps(message, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "nvr-webhook",
            "X-NVR-Event": str(message.get("type", "")),
            "X-NVR-Delivery": uuid.uuid4().hex,
        }
        if self.target.secret:
            timestamp = int(time.time())  # per attempt: a retry is signed when it is sent
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(self.target.secret, timestamp, body)
        try:
            check(self.target.url, Purpose.WEBHOOK)
            request = urllib.request.Request(self.target.url, data=body, headers=headers, method="POST")
            with opener().open(request, timeout=WEBHOOK_TIMEOUT) as response:
                return "" if 200 <= response.status < 300 else f"answered {response.status}"
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                return f"answered {error.code} (a redirect: not followed)"
            return f"answered {error.code}"
        except Refused as refusal:
            return f"refused by the outbound policy: {refusal}"
        except urllib.error.URLError as error:
            if isinstance(error.reason, Refused):
                return f"refused by the outbound policy: {error.reason}"
            return type(error.reason).__name__ if isinstance(error.reason, BaseException) else "unreachable"
        except (OSError, ValueError) as error:
            return type(error).__name__


class PushDelivery(WebhookDelivery):
    """One push subscription's queue: the same pool, bounds and retries as a webhook's (events.push sends)."""

    def __init__(self, target: PushTarget) -> None:
        super().__init__(target)  # type: ignore[arg-type]
        self.push = target

    def attempt(self, message: dict) -> str:
        problem = send(self.push, message)
        if problem == "gone":
            forget(self.push.id)
            self.gone = True
            return ""
        return problem


class DeliveryPool:
    """DELIVERY_THREADS threads delivering every webhook's messages: one in flight per webhook, retries scheduled."""

    def __init__(self, stop: threading.Event, threads: int = DELIVERY_THREADS) -> None:
        self.stop_event = stop
        self.deliveries: list[WebhookDelivery] = []  # in turn order: the next one served goes to the back
        self._changed = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"webhooks-{n}", daemon=True) for n in range(threads)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def add(self, delivery: WebhookDelivery) -> None:
        with self._changed:
            self.deliveries.append(delivery)

    def retire(self, delivery: WebhookDelivery) -> None:
        """Send nothing more for it (an attempt under way finishes, unretried)."""
        with self._changed:
            delivery.retired = True
            if delivery in self.deliveries:
                self.deliveries.remove(delivery)

    def submit(self, delivery: WebhookDelivery, message: dict) -> None:
        delivery.queue.put(message)
        with self._changed:
            self._changed.notify()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _next(self) -> WebhookDelivery | None:
        """Claim the next webhook whose oldest message is due, waiting until one is (None when stopping)."""
        with self._changed:
            while not self.stop_event.is_set():
                now = time.monotonic()
                due_next = now + 0.5
                for index, delivery in enumerate(self.deliveries):
                    if delivery.busy or not len(delivery.queue):
                        continue
                    if delivery.due > now:
                        due_next = min(due_next, delivery.due)
                        continue
                    delivery.busy = True
                    self.deliveries.append(self.deliveries.pop(index))  # the others go first next time
                    return delivery
                self._changed.wait(max(due_next - now, 0.01))
        return None

    def _work(self) -> None:
        while (delivery := self._next()) is not None:
            message = delivery.queue.peek()
            problem = delivery.attempt(message) if isinstance(message, dict) else None
            with self._changed:
                delivery.busy = False
                if problem is not None:
                    self._settle(delivery, message, problem)
                if delivery.gone:
                    delivery.retired = True
                    if delivery in self.deliveries:
                        self.deliveries.remove(delivery)
                self._changed.notify_all()

    def _settle(self, delivery: WebhookDelivery, message: object, problem: str) -> None:
        """Count the attempt: done, or retried after its delay, or given up after the last one."""
        hook = delivery.target.id
        if not problem:
            delivery.queue.remove(message)
            delivery.attempts, delivery.due = 0, 0.0
            delivery.delivered += 1
            return
        if delivery.retired:
            return
        delivery.attempts += 1
        kind = message.get("type") if isinstance(message, dict) else None
        log.info("webhook %s: attempt %d failed (%s)", hook, delivery.attempts, problem)
        if delivery.attempts > len(RETRY_DELAYS):
            delivery.queue.remove(message)
            delivery.attempts, delivery.due = 0, 0.0
            delivery.failed += 1
            log.warning("webhook %s: gave up on a %s message after %d attempts", hook, kind, len(RETRY_DELAYS) + 1)
            return
        delivery.due = time.monotonic() + RETRY_DELAYS[delivery.attempts - 1]


def load_targets() -> list[Target]:
    """Enabled webhooks, each narrowed to the cameras its owner may see now (an inactive owner's: none)."""
    from events.models import Webhook

    close_old_connections()
    targets = []
    for hook in Webhook.objects.filter(enabled=True).select_related("owner").prefetch_related("cameras"):
        cameras = frozenset(camera.slug for camera in hook.cameras.all())
        owner = hook.owner
        if owner is not None and not owner.is_superuser:
            if not owner.is_active:
                continue
            allowed = frozenset(visible_cameras(owner).values_list("slug", flat=True))
            cameras = cameras & allowed if cameras else allowed
            if not cameras:
                continue  # nothing its owner may see: "every camera" must never be what is left
        elif owner is not None and not owner.is_active:
            continue
        targets.append(Target(hook.pk, hook.url, hook.secret, cameras))
    return targets


class Notifier:
    """The capture process's one notifier: publish() from any capture thread, never blocking."""

    def __init__(
        self,
        *,
        mqtt: MqttPublisher | None = None,
        load: Callable[[], list[Target]] = load_targets,
        load_push: Callable[[], list[PushTarget]] = load_push_targets,
    ) -> None:
        self.inbox = BoundedQueue()
        self.mqtt = mqtt
        self.load = load
        self.load_push = load_push
        self.stop_event = threading.Event()
        self.pool = DeliveryPool(self.stop_event)
        self.deliveries: dict[int, WebhookDelivery] = {}  # per webhook id
        self.pushes: dict[int, WebhookDelivery] = {}  # per push subscription id
        self._targets: list[Target] = []
        self._push_targets: list[PushTarget] = []
        self._loaded_at = 0.0
        self._router = threading.Thread(target=self._route, name="notifier", daemon=True)

    @classmethod
    def from_settings(cls) -> Notifier:
        url = getattr(settings, "MQTT_URL", "")
        try:
            mqtt = MqttPublisher(url) if url else None
        except Refused as refusal:
            log.error("mqtt: MQTT_URL is not allowed by the outbound policy (%s): MQTT is off", refusal)
            mqtt = None
        return cls(mqtt=mqtt)

    def start(self) -> Notifier:
        if self.mqtt is not None:
            self.mqtt.start()
        self.pool.start()
        self._router.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.pool.wake()
        if self.mqtt is not None:
            self.mqtt.stop()

    def publish(self, kind: str, payload: dict) -> None:
        """An event started or ended (capture thread): queued, never waited on."""
        self.inbox.put(payload)

    def labels_tracked(self, slug: str, name: str, labels: list[str]) -> None:
        """The detector tracks these labels on a camera: a Home Assistant sensor for each (retained)."""
        if self.mqtt is not None:
            self.mqtt.announce_labels(slug, name, labels)

    def camera_started(
        self, slug: str, name: str, *, motion: bool = True, problems: frozenset[str] = frozenset()
    ) -> None:
        """A capture loop took a camera: announce it to Home Assistant (retained, idempotent), with the
        health problems open now (`problems`: their kinds)."""
        if self.mqtt is not None:
            self.mqtt.announce(slug, name, motion=motion, problems=problems)

    def _route(self) -> None:
        while not self.stop_event.is_set():
            message = self.inbox.get(timeout=0.5)
            if message is None:
                continue
            assert isinstance(message, dict)
            if self.mqtt is not None:
                self.mqtt.event(message)
            if message.get("type") == "count":
                continue  # how many objects are there: MQTT's retained count only, not a webhook delivery
            targets = self._current_targets()
            for deliveries, current in (
                (self.deliveries, {target.id for target in targets}),
                (self.pushes, {push.id for push in self._push_targets}),
            ):
                for gone in set(deliveries) - current:
                    self.pool.retire(deliveries.pop(gone))
            for target in targets:
                if target.cameras and message.get("camera") not in target.cameras:
                    continue
                self._submit(self.deliveries, target.id, target, message, WebhookDelivery)
            for push in self._push_targets:
                if push.wants(message):
                    self._submit(self.pushes, push.id, push, message, PushDelivery)

    def _submit(
        self, deliveries: dict[int, WebhookDelivery], key: int, target: object, message: dict, kind: type
    ) -> None:
        delivery = deliveries.get(key)
        if delivery is None or delivery.target != target or delivery.gone:
            if delivery is not None:
                self.pool.retire(delivery)  # changed: its queued messages were meant for the old one
            delivery = deliveries[key] = kind(target)
            self.pool.add(delivery)
        self.pool.submit(delivery, message)

    def _current_targets(self) -> list[Target]:
        if time.monotonic() - self._loaded_at > WEBHOOK_REFRESH:
            try:
                self._targets = self.load()
            except Exception:
                log.warning("webhooks: could not read the list; using the last one", exc_info=True)
            try:
                self._push_targets = self.load_push()
            except Exception:
                log.warning("push: could not read the subscriptions; using the last ones", exc_info=True)
            self._loaded_at = time.monotonic()
        return self._targets
