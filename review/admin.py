"""The recordings index in the admin: read-only, by camera and time (the recorder and retention own the rows).

It lives in review, which stands on both cameras and recordings: recordings itself never imports cameras.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from cameras.selectors import visible_cameras
from recordings.models import Segment


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["camera", "start", "duration", "size", "codec", "resolution", "play"]
    list_filter = ["camera"]
    date_hierarchy = "start"
    ordering = ["-start"]
    list_select_related = ["camera"]

    @admin.display(description="size")
    def size(self, segment: Segment) -> str:
        return f"{segment.bytes / 1e6:.1f} MB"

    @admin.display(description="resolution")
    def resolution(self, segment: Segment) -> str:
        return f"{segment.width} × {segment.height}"

    @admin.display(description="")
    def play(self, segment: Segment) -> str:
        url = reverse("camera-page", args=[segment.camera.slug]) + f"?t={int(segment.start.timestamp())}"
        return format_html('<a href="{}">play</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Segment | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        """Staff see the segments of the cameras they may see (superusers all)."""
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(camera__in=visible_cameras(request.user))
