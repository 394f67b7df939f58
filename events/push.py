"""Web Push: events to each user's browsers and phones, encrypted for each (RFC 8291), signed (VAPID, RFC 8292).

pywebpush (and http_ece under it) encrypts the message for the subscription's keys; py_vapid signs the
request with the install's key (events.vapid). The request itself goes through the outbound policy
(`outbound.opener`: the push service's name resolved and every address checked when connecting, no
redirects), as webhooks do, on the notifier's delivery pool: bounded queues, one message in flight per
subscription, retried after RETRY_DELAYS. A push service that answers 404 or 410 has forgotten the
subscription: it is deleted and nothing more is tried.

What reaches a subscription: events of the cameras its user may see now (narrowed to those it chose), of
the kinds it chose, outside its quiet hours. A notification says what happened and where, shows the
event's snapshot, and a tap opens the event playing (`/events/?play=<id>`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from pywebpush import WebPusher

from events.access import visible_cameras
from events.kinds import EventKind, PushKind
from events.tracker import Change
from events.vapid import vapid
from outbound import Purpose, Refused, check, opener

log = logging.getLogger(__name__)

PUSH_TIMEOUT = 10.0
TTL = 3600  # s a push service keeps an undelivered notification (a phone that is off gets it when back, within this)
GONE = (404, 410)  # the push service forgot the subscription: it is deleted
TOKEN_LIFETIME = 12 * 3600  # s a VAPID signature is valid for (RFC 8292 allows up to 24 h)


@dataclass(frozen=True)
class PushTarget:
    """A subscription as the delivery threads need it (no ORM there)."""

    id: int
    endpoint: str
    p256dh: str
    auth: str
    cameras: frozenset[str]  # never empty: what its user may see, narrowed to what it chose
    kinds: frozenset[str]
    quiet_from: dt.time | None = None
    quiet_until: dt.time | None = None
    sees_the_store: bool = False  # its user sees every camera and it chose none: the store's own events too

    def wants(self, message: dict, now: dt.datetime | None = None) -> bool:
        """Whether this subscription gets `message` now (camera, kind, type, quiet hours)."""
        kind = message.get("kind", EventKind.MOTION)
        if kind == EventKind.MOTION:
            wanted = PushKind.OBJECTS if message.get("labels") else PushKind.MOTION
            if wanted not in self.kinds or message.get("type") != Change.START:
                return False  # a motion or object event pages once, when it starts
        elif PushKind.HEALTH not in self.kinds:
            return False
        camera = message.get("camera")
        if camera is None:
            if not self.sees_the_store:
                return False
        elif camera not in self.cameras:
            return False
        return not self.quiet(now)

    def quiet(self, now: dt.datetime | None = None) -> bool:
        if self.quiet_from is None or self.quiet_until is None or self.quiet_from == self.quiet_until:
            return False
        local = timezone.localtime(now or timezone.now()).time()
        if self.quiet_from < self.quiet_until:
            return self.quiet_from <= local < self.quiet_until
        return local >= self.quiet_from or local < self.quiet_until  # over midnight


def load_push_targets() -> list[PushTarget]:
    """Every subscription of an active user, narrowed to the cameras that user may see now."""
    from events.access import sees_every_camera
    from events.models import PushSubscription

    close_old_connections()
    targets = []
    for row in PushSubscription.objects.select_related("user").prefetch_related("cameras"):
        if not row.user.is_active:
            continue
        allowed = frozenset(visible_cameras(row.user).values_list("slug", flat=True))
        chosen = frozenset(camera.slug for camera in row.cameras.all())
        cameras = chosen & allowed if chosen else allowed
        every = sees_every_camera(row.user) and not chosen
        if not cameras and not every:
            continue
        kinds = frozenset(row.kinds)
        target = PushTarget(row.pk, row.endpoint, row.p256dh, row.auth, cameras, kinds, sees_the_store=every)
        targets.append(replace(target, quiet_from=row.quiet_from, quiet_until=row.quiet_until))
    return targets


def notification(message: dict) -> dict:
    """What the service worker shows (static/sw.js): title, body, the snapshot, and where a tap goes."""
    kind = message.get("kind", EventKind.MOTION)
    where = message.get("camera_name") or ("Recordings store" if message.get("camera") is None else message["camera"])
    event_id = message.get("id")
    labels = message.get("labels") or []
    if kind == EventKind.MOTION and labels:
        title, body = f"{', '.join(labels).capitalize()}: {where}", ", ".join(message.get("zones") or []) or where
    elif kind == EventKind.MOTION:
        title, body = f"Motion: {where}", ", ".join(message.get("zones") or []) or "Motion detected"
    else:
        label = EventKind(kind).label
        ended = message.get("type") == Change.END
        title = f"{where}: {label}{' is over' if ended else ''}"
        body = message.get("detail") or label
    data = {"title": title, "body": body, "tag": f"nvr-{event_id}", "id": event_id, "kind": kind}
    data["type"] = message.get("type")
    data["url"] = f"/events/?play={event_id}" + (f"&camera={message['camera']}" if message.get("camera") else "")
    if kind == EventKind.MOTION or kind == EventKind.TAMPER:
        data["image"] = f"/events/{event_id}/snapshot.jpg"
    return data


def send(target: PushTarget, message: dict) -> str:
    """Encrypt and POST one notification; "" when the push service took it, "gone" when it forgot the
    subscription, else what went wrong (for the log)."""
    body = json.dumps(notification(message), separators=(",", ":")).encode()
    subscription = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
    try:
        check(target.endpoint, Purpose.PUSH)
        encoded = WebPusher(subscription).encode(body, content_encoding="aes128gcm")
        parts = urlsplit(target.endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "sub": settings.NVR_PUSH_CONTACT,
            "exp": int(time.time()) + TOKEN_LIFETIME,
        }
        headers = {
            **vapid().sign(claims),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL),
            "Urgency": "high",
        }
        request = urllib.request.Request(target.endpoint, data=encoded["body"], headers=headers, method="POST")
        with opener().open(request, timeout=PUSH_TIMEOUT) as response:
            return "" if 200 <= response.status < 300 else f"answered {response.status}"
    except urllib.error.HTTPError as error:
        return "gone" if error.code in GONE else f"answered {error.code}"
    except Refused as refusal:
        return f"refused by the outbound policy: {refusal}"
    except urllib.error.URLError as error:
        if isinstance(error.reason, Refused):
            return f"refused by the outbound policy: {error.reason}"
        return type(error.reason).__name__ if isinstance(error.reason, BaseException) else "unreachable"
    except (OSError, ValueError) as error:
        return type(error).__name__


def forget(subscription_id: int) -> None:
    """The push service forgot it: delete the subscription (the browser subscribes anew on its next visit)."""
    from events.models import PushSubscription

    close_old_connections()
    PushSubscription.objects.filter(pk=subscription_id).delete()
    log.info("push: subscription %s is gone (the push service said so): deleted", subscription_id)
