"""An export: who asked for which cameras and span, how far its ZIP is built, and where it is.

The ZIP itself (NVR_EXPORTS_DIR/<id>.zip, 0600) holds the clips, the manifest and its signature
(exports.builder); the row only tracks it, so the page can show progress and the download can
re-check that its owner still sees every camera in it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

INTERRUPTED_AFTER = 300.0  # seconds without progress after which a building export counts as interrupted


class Export(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        BUILDING = "building", "Building"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, help_text="Who exported it, as named when they did.")
    cameras = models.ManyToManyField("cameras.Camera", related_name="+")
    camera_slugs = models.JSONField(default=list, help_text="The cameras' slugs when exported.")
    start = models.DateTimeField()
    end = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    bytes = models.BigIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.pk} ({', '.join(self.camera_slugs)})"

    @property
    def file_name(self) -> str:
        return f"nvr-export-{self.pk}-{self.start:%Y%m%dT%H%M%SZ}.zip"
