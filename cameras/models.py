"""The camera registry: what to capture, how, and who may watch it."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from cameras.kinds import Kind, Transport
from cameras.validation import (
    default_objects,
    split_credentials,
    validate_labels,
    validate_masks,
    validate_object_zones,
    validate_source,
    validate_sub_source,
    validate_zones,
)
from encryption.fields import EncryptedPasswordField
from recordings.models import RecordMode


class CameraQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> CameraQuerySet:
        """The cameras `user` may watch: superusers all, others those assigned to them or their groups.

        The one camera-access rule (cameras.selectors.visible_cameras is its name for the rest of
        the house). It lives on the model's manager so that apps below cameras (events: webhooks)
        can apply it through the model they name lazily, without importing cameras.
        """
        if not user or not user.is_authenticated or not user.is_active:
            return self.none()
        if getattr(user, "is_superuser", False):
            return self
        return self.filter(Q(allowed_users=user) | Q(allowed_groups__user=user)).distinct()


class Camera(models.Model):
    """One camera. Field names are public: the import/export format and the docs use them."""

    Kind = Kind
    Transport = Transport
    Record = RecordMode

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    # Footage is stored under this, never under the slug: a slug can be given to a new camera, a uid never repeats.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="Names this camera's footage.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TEST_PATTERN)
    source = models.CharField(
        max_length=500,
        blank=True,
        help_text="Device index or path, URL (without credentials), file path, or WIDTHxHEIGHT for a test pattern.",
    )
    # The camera's low-resolution stream: the grid's pictures and motion come from it, the main stream is
    # recorded (one connection per stream: at most two per camera). Same credentials as `source`.
    sub_source = models.CharField(
        max_length=500,
        blank=True,
        help_text="RTSP cameras: the low-resolution sub stream's URL (without credentials), for the grid and motion "
        "detection; the main stream is recorded. Empty: the main stream does everything.",
    )
    username = models.CharField(max_length=150, blank=True)
    # Encrypted at rest (encryption/fields.py); reads and writes here see the plain password.
    password = EncryptedPasswordField(max_length=150, blank=True)
    enabled = models.BooleanField(default=True)
    max_fps = models.PositiveSmallIntegerField(default=15, validators=[MinValueValidator(1), MaxValueValidator(60)])
    max_width = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(16), MaxValueValidator(7680)],
        help_text="Downscale wider frames to this width (keeps aspect). Empty: native size.",
    )
    jpeg_quality = models.PositiveSmallIntegerField(
        default=80, validators=[MinValueValidator(10), MaxValueValidator(95)]
    )
    rtsp_transport = models.CharField(max_length=3, choices=Transport.choices, default=Transport.TCP)
    position = models.IntegerField(default=0, help_text="Order in the grid (smallest first).")
    record = models.CharField(
        max_length=16,
        choices=Record.choices,
        default=Record.CONTINUOUS,
        help_text="Keep the video: the camera's own packets as they are (RTSP), or H.264 encoded once (other kinds).",
    )
    audio = models.BooleanField(
        default=True,
        help_text="Record the camera's sound with its video (AAC as it comes; G.711 and others converted to AAC).",
    )
    retention_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Recordings older than this are deleted (the disk budget may delete sooner).",
    )
    # Motion detection and events (events/): what the capture worker looks for, and how events merge.
    motion = models.BooleanField(default=True, help_text="Detect motion in the picture and record events.")
    motion_sensitivity = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="1-100: higher reacts to smaller differences in brightness.",
    )
    motion_min_size = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.01), MaxValueValidator(50.0)],
        help_text="Smallest moving object counted, in percent of the picture.",
    )
    motion_zones = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_zones],
        help_text='Named areas events report, e.g. {"door": [[0.1, 0.2], [0.4, 0.2], [0.4, 0.9]]} '
        "(corners as fractions of the width and height).",
    )
    motion_masks = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_masks],
        help_text="Areas where motion is ignored (a tree, a busy road): a list of polygons like the zones'.",
    )
    event_gap_seconds = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(600.0)],
        help_text="Motion closer together than this is one event.",
    )
    # Object detection (detection/): what the detector reports as events, fed from motion.
    object_labels = models.JSONField(
        default=default_objects,
        blank=True,
        validators=[validate_labels],
        help_text='Labels of the objects to track, e.g. ["person", "car"] (the model\'s labels; empty: none).',
    )
    object_min_score = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text="Smallest detection score an object needs to count (0-1).",
    )
    object_min_area = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="Smallest object counted, its box in percent of the picture.",
    )
    object_zones = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_object_zones],
        help_text='Labels counted only inside some zones, e.g. {"car": ["driveway"]} (where the box stands).',
    )
    event_retention_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Events, and the recordings they overlap, are kept this long.",
    )
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="cameras", help_text="Operators who may watch it."
    )
    allowed_groups = models.ManyToManyField(
        Group, blank=True, related_name="cameras", help_text="Groups whose members may watch it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CameraQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Validate `source` (and `sub_source`) for the kind and move URL credentials into their fields."""
        self._move_url_credentials()
        try:
            self.source = validate_source(self.kind, self.source)
        except ValidationError as error:
            raise ValidationError({"source": error.messages}) from None
        try:
            self.sub_source = validate_sub_source(self.kind, self.sub_source)
        except ValidationError as error:
            raise ValidationError({"sub_source": error.messages}) from None
        zones = self.motion_zones if isinstance(self.motion_zones, dict) else {}
        unknown = sorted({z for names in (self.object_zones or {}).values() for z in names} - set(zones))
        if unknown:
            raise ValidationError({"object_zones": f"No such zone: {', '.join(unknown)} (zones are motion_zones)."})

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Credentials never stay in the URL, even when code skips full_clean().
        self._move_url_credentials()
        self._forget_password_for_a_new_server()
        super().save(*args, **kwargs)

    def _forget_password_for_a_new_server(self) -> None:
        """A stored password never follows the camera to another scheme, host or port.

        Whoever may edit a camera could otherwise point it at a server of their own and receive
        the password from the capture worker. A password given together with the new address is kept.
        The camera's servers are those of its main and its sub stream: a new one among them forgets it too.
        """
        if not self.pk or not self.password:
            return
        old = Camera.objects.filter(pk=self.pk).values_list("source", "sub_source", "password").first()
        if old is None or old[2] != self.password:
            return  # new camera, or a new password given with the change
        moved = server_address(self.source) != server_address(old[0])  # main stream: any change, to empty too
        if moved or not servers_of(self.sub_source) <= servers_of(old[0], old[1]):
            self.password = ""

    def _move_url_credentials(self) -> None:
        """Credentials typed into a URL are the newest intent: they go to the camera's fields (one account
        for both streams), and the URLs keep none."""
        if self.kind not in (Kind.RTSP, Kind.HTTP_MJPEG):
            return
        for field in ("source", "sub_source"):
            url = getattr(self, field)
            if not url:
                continue
            clean_url, user, password = split_credentials(url.strip())
            if user or password:
                setattr(self, field, clean_url)
                self.username = user
                self.password = password


def server_address(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a camera URL; ports left out count as the scheme's default."""
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return ("", url, None)


def servers_of(*urls: str) -> set[tuple[str, str, int | None]]:
    """The servers a camera's URLs name (empty ones left out)."""
    return {server_address(url) for url in urls if url}


class CameraGroup(models.Model):
    """A named, ordered set of cameras for a wall screen ("Gates", "Warehouse").

    It never grants a camera: a user sees a group's cameras only where they may see the camera
    itself (cameras.selectors.group_cameras). Who may pick the group: its users and groups, and superusers.
    """

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True, help_text="In the URL: /?group=<slug>.")
    cameras: models.ManyToManyField = models.ManyToManyField(
        Camera, through="GroupMember", related_name="camera_groups", blank=True
    )
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="camera_groups", help_text="Who may use this group."
    )
    allowed_groups = models.ManyToManyField(
        Group, blank=True, related_name="camera_groups", help_text="User groups whose members may use it."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GroupMember(models.Model):
    """One camera in a camera group, at a position (the order its tiles take)."""

    group = models.ForeignKey(CameraGroup, on_delete=models.CASCADE, related_name="members")
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="memberships")
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["group", "camera"], name="one_membership_per_camera")]

    def __str__(self) -> str:
        return f"{self.group}: {self.camera}"
