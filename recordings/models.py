"""The index of recorded segments: one row per closed segment file in RECORDINGS_DIR.

A row is written when its file is complete (renamed from `*.part`), and removed before its
file when retention deletes it, so every row names a whole file (the reconcile at start
repairs what a crash left between the two).
"""

from __future__ import annotations

from django.db import models


class Segment(models.Model):
    """One fragmented MP4 file of one camera: wall-clock span, media facts, and where it lies."""

    camera = models.ForeignKey("cameras.Camera", on_delete=models.CASCADE, related_name="segments")
    start = models.DateTimeField(help_text="Wall clock (capture host) when its first packet arrived.")
    end = models.DateTimeField(help_text="start + duration.")
    duration = models.FloatField(help_text="Seconds, from the media timestamps.")
    bytes = models.BigIntegerField()
    codec = models.CharField(max_length=64, help_text="RFC 6381 codec string, e.g. avc1.64001f.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    path = models.CharField(max_length=500, unique=True, help_text="Relative to RECORDINGS_DIR.")

    class Meta:
        ordering = ["camera", "start"]
        indexes = [models.Index(fields=["camera", "start"]), models.Index(fields=["start"])]

    def __str__(self) -> str:
        return f"{self.camera_id} {self.start:%Y-%m-%d %H:%M:%S} ({self.duration:.1f} s)"
