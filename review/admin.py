"""The recordings index and the events in the admin, read-only (the recorder, retention and the capture
worker own the rows), limited to the cameras the staff user may see, filters included; archives of footage
no live camera owns, for superusers only.

It lives in review, which stands on cameras, recordings and events (webhooks have their admin in events).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from cameras.selectors import visible_cameras
from events.models import Event
from recordings.footage import delete_archive
from recordings.models import Archive, Segment
from recordings.store import get_store


class VisibleCameraFilter(admin.RelatedFieldListFilter):
    """The camera filter, naming only the cameras the user may see (Django's own lists every camera)."""

    def field_choices(self, field, request, model_admin):
        return [(camera.pk, str(camera)) for camera in visible_cameras(request.user)]


class ReadOnlyPerCamera(admin.ModelAdmin):
    """Rows the capture worker owns (segments, events): read-only, and only those of cameras the user may see
    (superusers also see archived segments, which no camera owns)."""

    list_filter = [("camera", VisibleCameraFilter)]
    date_hierarchy = "start"
    list_select_related = ["camera"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        """Staff see the rows of the cameras they may see (superusers all)."""
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(camera__in=visible_cameras(request.user))


@admin.register(Segment)
class SegmentAdmin(ReadOnlyPerCamera):
    list_display = ["camera", "start", "duration", "size", "codec", "resolution", "play"]
    ordering = ["-start"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """An archive's segments (the archive list links here) are for superusers, like archives."""
        if lookup == "archive__id__exact":
            return request is not None and request.user.is_superuser
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="size")
    def size(self, segment: Segment) -> str:
        return f"{segment.bytes / 1e6:.1f} MB"

    @admin.display(description="resolution")
    def resolution(self, segment: Segment) -> str:
        return f"{segment.width} × {segment.height}"

    @admin.display(description="")
    def play(self, segment: Segment) -> str:
        if segment.camera is None:  # archived: downloaded from its archive (superusers only)
            url = reverse("admin:recordings_archive_segment", args=[segment.archive_id, segment.pk])
            return format_html('<a href="{}">download</a>', url)
        url = reverse("camera-page", args=[segment.camera.slug]) + f"?t={int(segment.start.timestamp())}"
        return format_html('<a href="{}">play</a>', url)


@admin.register(Archive)
class ArchiveAdmin(admin.ModelAdmin):
    """Footage no live camera owns (kept when its camera was deleted, or found without one): superusers only.

    Each segment downloads as the MP4 it is; deleting an archive deletes its rows, then its files.
    """

    list_display = ["name", "origin", "created_at", "segment_count", "size", "span", "segments_link"]
    list_filter = ["origin"]
    readonly_fields = ["name", "owner", "origin", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Archive]:
        return (
            super()
            .get_queryset(request)
            .annotate(count=Count("segments"), total=Sum("segments__bytes"))
            .annotate(first=Min("segments__start"), last=Max("segments__end"))
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    @admin.display(description="segments")
    def segment_count(self, archive: Any) -> int:
        return archive.count

    @admin.display(description="size")
    def size(self, archive: Any) -> str:
        return f"{(archive.total or 0) / 1e9:.2f} GB"

    @admin.display(description="recorded")
    def span(self, archive: Any) -> str:
        return f"{archive.first:%Y-%m-%d %H:%M} to {archive.last:%Y-%m-%d %H:%M}" if archive.first else "-"

    @admin.display(description="")
    def segments_link(self, archive: Archive) -> str:
        url = reverse("admin:recordings_segment_changelist") + f"?archive__id__exact={archive.pk}"
        return format_html('<a href="{}">segments</a>', url)

    def delete_model(self, request: HttpRequest, obj: Archive) -> None:
        freed = delete_archive(obj)
        self.message_user(request, f"Deleted {freed / 1e9:.2f} GB of archived recordings.", messages.SUCCESS)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Archive]) -> None:
        freed = sum(delete_archive(archive) for archive in queryset)
        self.message_user(request, f"Deleted {freed / 1e9:.2f} GB of archived recordings.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        download = self.admin_site.admin_view(self.download_segment)
        return [
            path("<int:archive_id>/segments/<int:segment_id>.mp4", download, name="recordings_archive_segment"),
            *super().get_urls(),
        ]

    def download_segment(self, request: HttpRequest, archive_id: int, segment_id: int) -> FileResponse:
        """One archived segment as the MP4 file it is (superusers only, like the archive)."""
        if not self.has_view_permission(request):
            raise Http404("No such recording.")
        segment = Segment.objects.filter(pk=segment_id, archive_id=archive_id).first()
        if segment is None:
            raise Http404("No such recording.")
        try:
            file = get_store().open(segment.key)
        except FileNotFoundError:
            raise Http404("The recording was deleted.") from None
        name = f"{segment.archive.owner}-{segment.start:%Y%m%dT%H%M%SZ}.mp4" if segment.archive else "segment.mp4"
        return FileResponse(file, as_attachment=True, filename=name, content_type="video/mp4")


@admin.register(Event)
class EventAdmin(ReadOnlyPerCamera):
    list_display = ["camera", "kind", "start", "end", "label", "best_score", "peak_score", "zones", "detail", "play"]
    list_filter = [("camera", VisibleCameraFilter), "kind"]

    @admin.display(description="")
    def play(self, event: Event) -> str:
        if event.camera is None:
            return ""
        return format_html('<a href="{}">play</a>', reverse("events") + f"?camera={event.camera.slug}")
