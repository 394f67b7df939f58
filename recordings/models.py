"""The index of recorded footage: one row per closed segment in the store (recordings.store), and archives.

A row is written when its file is complete (committed from its `*.part`), and removed before its
file when retention deletes it, so every row names a whole file (the reconcile at start repairs
what a crash left between the two). A row refers to its file by `key`, the store's name for it,
never by a path: the store decides where a key lives (a local folder today, a bucket later).

Footage belongs to a camera, never to a slug: keys start with the camera's `uid`, which never repeats.
When a camera is deleted its footage is deleted with it, or kept as an `Archive` that no live camera
owns and only superusers see (recordings.footage); files the reconcile finds without a camera become
an archive too, so they count toward the byte budget and are reported.
"""

from __future__ import annotations

from django.db import models


class RecordMode(models.TextChoices):
    """What a camera keeps (the camera model's `record` field uses these choices)."""

    OFF = "off", "Off"
    CONTINUOUS = "continuous", "Continuous (around the clock)"
    MOTION = "motion", "Motion (keep only the video around events)"
    OBJECTS = "objects", "Objects (keep only the video around object events)"


class Archive(models.Model):
    """Footage attached to no live camera: kept when its camera was deleted, or found without one."""

    class Origin(models.TextChoices):
        DELETED_CAMERA = "deleted_camera", "Kept when its camera was deleted"
        FOUND = "found", "Found in the store without a camera"

    name = models.CharField(max_length=200, help_text="The deleted camera's name, or the folder it was found in.")
    owner = models.CharField(
        max_length=64,
        unique=True,
        help_text="The store folder of this footage (the deleted camera's uid): files found there belong here.",
    )
    origin = models.CharField(max_length=20, choices=Origin.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Location(models.TextChoices):
    """Where a segment's bytes are: the local folder (RECORDINGS_DIR), or the bucket (RECORDINGS_S3_URL)."""

    LOCAL = "local", "Local disk"
    BUCKET = "bucket", "Bucket"


class Segment(models.Model):
    """One fragmented MP4 file of one camera (or of an archive): wall-clock span, media facts, and its key."""

    camera = models.ForeignKey(
        "cameras.Camera", null=True, blank=True, on_delete=models.SET_NULL, related_name="segments"
    )
    archive = models.ForeignKey(Archive, null=True, blank=True, on_delete=models.CASCADE, related_name="segments")
    start = models.DateTimeField(help_text="Wall clock (capture host) when its first packet arrived.")
    end = models.DateTimeField(help_text="start + duration.")
    duration = models.FloatField(help_text="Seconds, from the media timestamps.")
    bytes = models.BigIntegerField()
    codec = models.CharField(max_length=64, help_text="RFC 6381 codec string, e.g. avc1.64001f.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    key = models.CharField(max_length=500, unique=True, help_text="The store's name for the file (recordings.store).")
    sha256 = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 of the file (hex), computed when it was written."
    )
    location = models.CharField(
        max_length=10,
        choices=Location.choices,
        default=Location.LOCAL,
        help_text="Where its bytes are: moved to the bucket once verified there (recordings.tier).",
    )

    class Meta:
        ordering = ["camera", "start"]
        indexes = [
            models.Index(fields=["camera", "start"]),
            models.Index(fields=["start"]),
            models.Index(fields=["location", "end"]),
        ]

    def __str__(self) -> str:
        return f"{self.camera_id or self.archive_id} {self.start:%Y-%m-%d %H:%M:%S} ({self.duration:.1f} s)"
