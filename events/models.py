"""The event index: one row per stretch of motion on one camera, per object of one label (detection/), or per
health problem (events.health).

A row is written when motion starts (with `end` empty while it lasts), so the event list and the
API show events as they happen, and completed when it ends. The snapshot at the peak and its
thumbnail are JPEG files in the recordings store (the capture worker writes them through
recordings.store, web processes read them), named by their key `snapshot`; retention deletes them
with the row. Webhooks are where events are sent.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from encryption.fields import EncryptedPasswordField
from events.kinds import EventKind, PushKind
from events.validation import validate_webhook_url

__all__ = ["Event", "EventKind", "PushKind", "PushSubscription", "Webhook"]


class Event(models.Model):
    camera = models.ForeignKey(
        "cameras.Camera",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        help_text="Empty for what concerns the whole store (low space, over budget).",
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices, default=EventKind.MOTION, db_index=True)
    detail = models.CharField(max_length=300, blank=True, help_text="What was seen, in an operator's words.")
    start = models.DateTimeField(help_text="The first moment of detected motion, or when the problem was decided.")
    end = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The last moment of motion, or when the problem was over; empty while it lasts.",
    )
    peak_score = models.FloatField(default=0.0, help_text="Largest moving share of the picture (0-1).")
    zones = models.JSONField(default=list, blank=True, help_text="Names of the zones the motion touched.")
    label = models.CharField(
        max_length=50, blank=True, db_index=True, help_text="The object detected (person, car...); empty: motion."
    )
    best_score = models.FloatField(default=0.0, help_text="An object event's best detection score (0-1).")
    snapshot = models.CharField(
        max_length=500, blank=True, help_text="JPEG at the peak, relative to RECORDINGS_DIR (thumbnail: *.thumb.jpg)."
    )

    class Meta:
        ordering = ["-start"]
        indexes = [models.Index(fields=["camera", "start"]), models.Index(fields=["start"])]

    def __str__(self) -> str:
        return f"{self.camera_id} {self.start:%Y-%m-%d %H:%M:%S}"

    @property
    def labels(self) -> list[str]:
        """What the event is about, as webhooks, MQTT and the API carry it (empty for motion)."""
        return [self.label] if self.label else []

    @property
    def thumbnail(self) -> str:
        return self.snapshot.removesuffix(".jpg") + ".thumb.jpg" if self.snapshot else ""

    @property
    def record(self) -> str:
        """The key of the event's JSON beside its snapshot (what `manage.py recordings rebuild` reads back)."""
        return self.snapshot.removesuffix(".jpg") + ".json" if self.snapshot else ""


class Webhook(models.Model):
    """An address that receives a signed JSON POST when an event starts and when it ends.

    It carries the events of its cameras (none: every camera) that its owner may see, now: the owner
    is who chose the receiver (whoever added the webhook or last changed its address), so a webhook is
    never a way around camera access, and it dies with its owner like a stream token. A webhook made
    before owners existed, and not through the admin, has none and delivers as configured.
    """

    name = models.CharField(max_length=100)
    url = models.URLField(
        max_length=500,
        validators=[validate_webhook_url],
        help_text="http(s) address that receives the POSTs (redirects are not followed).",
    )
    secret = EncryptedPasswordField(
        max_length=200,
        blank=True,
        help_text="Made by nvr and shown once. Signs each POST: X-NVR-Signature: sha256=HMAC-SHA256(secret, "
        "X-NVR-Timestamp + '.' + body), hex. Empty: unsigned. Stored encrypted.",
    )
    enabled = models.BooleanField(default=True)
    cameras = models.ManyToManyField(
        "cameras.Camera", blank=True, related_name="webhooks", help_text="Only these cameras (none: every camera)."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhooks",
        help_text="Who chose the receiver: it gets only events of cameras they may see.",
    )

    def __str__(self) -> str:
        return self.name


def default_push_kinds() -> list[str]:
    return [PushKind.MOTION, PushKind.HEALTH, PushKind.OBJECTS]


class PushSubscription(models.Model):
    """One browser or phone of one user that receives Web Push notifications (events.push sends them).

    It gets the events of its cameras (none: every camera) that its user may see now, of the kinds it
    chose, outside its quiet hours (in the install's TIME_ZONE). A push service that answers 404 or 410
    has forgotten it: it is deleted.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    name = models.CharField(max_length=100, blank=True, help_text="Which browser or phone (from its user agent).")
    endpoint = models.URLField(max_length=1000, unique=True, help_text="The push service's address for it.")
    p256dh = models.CharField(max_length=200, help_text="Its public key (base64url).")
    auth = EncryptedPasswordField(max_length=200, help_text="Its authentication secret. Stored encrypted.")
    cameras = models.ManyToManyField(
        "cameras.Camera", blank=True, related_name="push_subscriptions", help_text="Only these (none: every camera)."
    )
    kinds = models.JSONField(default=default_push_kinds, help_text="Which kinds of event it gets (PushKind).")
    quiet_from = models.TimeField(null=True, blank=True, help_text="Nothing is sent from this time...")
    quiet_until = models.TimeField(null=True, blank=True, help_text="...until this time (may wrap midnight).")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} · {self.name or 'browser'}"
