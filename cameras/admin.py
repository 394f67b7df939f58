"""Camera admin: live status columns, enable/disable, and a one-frame connection test."""

from __future__ import annotations

import base64

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as delete_selected_action
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.throttle import rate_wait
from cameras.config import CameraConfig
from cameras.forms import MOTION_FIELDS, OBJECT_FIELDS, CameraForm
from cameras.grab import check_connections
from cameras.models import Camera, CameraGroup, GroupMember
from cameras.selectors import visible_cameras
from cameras.status import camera_status, detector_status, detector_summary, raw_statuses
from framebus.status import CameraStatus, SubStream
from recordings.footage import delete_footage, footage_of
from recordings.selectors import camera_usage


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    form = CameraForm

    class Media:
        css = {"all": ["nvr/admin.css"]}
        js = ["nvr/zones.js"]  # the zone and mask editor over the camera's snapshot

    list_display = [
        "name",
        "slug",
        "kind",
        "enabled",
        "state",
        "fps",
        "frame_age",
        "recorded",
        "last_error",
        "position",
    ]
    list_display_links = ["name"]
    list_editable = ["position"]
    list_filter = ["enabled", "kind"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["allowed_users", "allowed_groups"]
    actions = ["enable_cameras", "disable_cameras", "test_connection", "delete_selected"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "source", "sub_source", "enabled", "position"]}),
        ("Credentials (network cameras)", {"fields": ["username", "password", "clear_password"]}),
        ("Capture", {"fields": ["max_fps", "max_width", "jpeg_quality", "rtsp_transport"]}),
        ("Recording", {"fields": ["record", "audio", "retention_days"]}),
        (
            "Motion and events (draw zones and masks on the picture below the fields)",
            {"fields": tuple(MOTION_FIELDS)},
        ),
        ("Object detection (needs motion; the detector looks where motion is)", {"fields": tuple(OBJECT_FIELDS)}),
        ("Who may watch (superusers see every camera)", {"fields": ["allowed_users", "allowed_groups"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        """The object detection fieldset says what the detector is doing (off, not running, an error, ready)."""
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            if options.get("fields") == tuple(OBJECT_FIELDS):
                options = {**options, "description": detector_summary()}
            fieldsets.append((name, options))
        return fieldsets

    def changelist_view(self, request, extra_context=None):
        detector = detector_status()
        if request.method == "GET" and not detector.healthy:  # a model that cannot be used: said where it is seen
            messages.error(request, detector_summary())
        raw_statuses(list(Camera.objects.values_list("slug", flat=True)))  # one Redis round trip per page
        self._usage = camera_usage()  # one grouped query per page
        return super().changelist_view(request, extra_context)

    def _status(self, camera: Camera) -> CameraStatus:
        return camera_status(camera)

    @admin.display(description="state")
    def state(self, camera: Camera) -> str:
        state = self._status(camera).state  # coloured by static/nvr/admin.css (no inline style: CSP)
        return format_html('<strong class="camera-state camera-state-{}">{}</strong>', state.value, state.label)

    @admin.display(description="fps")
    def fps(self, camera: Camera) -> str:
        return f"{self._status(camera).fps:.1f}"

    @admin.display(description="last frame")
    def frame_age(self, camera: Camera) -> str:
        age = self._status(camera).frame_age()
        return "never" if age is None else f"{age:.1f} s ago"

    @admin.display(description="recorded")
    def recorded(self, camera: Camera) -> str:
        """Recording state, and what is stored (hours, GB, oldest)."""
        status = self._status(camera)
        if status.recording_error:
            return f"error: {status.recording_error}"
        usage = getattr(self, "_usage", None) or camera_usage()
        usage = usage.get(camera.pk)
        stored = (
            f"{usage.hours:.1f} h, {usage.bytes / 1e9:.2f} GB since {usage.oldest:%Y-%m-%d %H:%M}"
            if usage
            else "nothing yet"
        )
        return stored if camera.record != Camera.Record.OFF else f"off ({stored})"

    @admin.display(description="last error")
    def last_error(self, camera: Camera) -> str:
        """The capture's error, and a failed sub stream's (its pictures come from the main stream meanwhile)."""
        status = self._status(camera)
        problems = [status.error] if status.error else []
        if status.sub_stream is SubStream.FALLBACK:
            problems.append(f"{status.sub_stream.label} ({status.sub_stream_error})")
        return "; ".join(problems)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Camera]:
        """Staff act only on the cameras they may see (superusers: all); actions inherit this."""
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=visible_cameras(request.user).values("pk"))

    # Deleting: the confirmation says how much footage there is and asks what becomes of it --------------
    def render_delete_form(self, request: HttpRequest, context: dict) -> HttpResponse:
        context["footage"] = footage_of([context["object"].pk])
        return super().render_delete_form(request, context)

    @admin.action(description="Delete selected cameras", permissions=["delete"])
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Camera]) -> HttpResponse | None:
        response = delete_selected_action(self, request, queryset)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            response.context_data["footage"] = footage_of(queryset.values_list("pk", flat=True))
        return response

    def delete_model(self, request: HttpRequest, obj: Camera) -> None:
        self._release_footage(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        self._release_footage(request, list(queryset))
        super().delete_queryset(request, queryset)

    def _release_footage(self, request: HttpRequest, cameras: list[Camera]) -> None:
        """Delete the footage when the confirmation said so; otherwise deleting the camera keeps it as an
        archive (recordings.footage.camera_deleted), so a form without the choice loses nothing."""
        if request.POST.get("footage") != "delete":
            return
        freed = sum(delete_footage(camera.pk) for camera in cameras)
        if freed:
            self.message_user(request, f"Deleted {freed / 1e9:.2f} GB of recordings.", messages.SUCCESS)

    @admin.action(description="Enable selected cameras", permissions=["change"])
    def enable_cameras(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        for camera in queryset:  # save() so updated_at moves and supervisors notice
            camera.enabled = True
            camera.save(update_fields=["enabled", "updated_at"])
        self.message_user(request, f"Enabled {queryset.count()} camera(s).", messages.SUCCESS)

    @admin.action(description="Disable selected cameras", permissions=["change"])
    def disable_cameras(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        for camera in queryset:
            camera.enabled = False
            camera.save(update_fields=["enabled", "updated_at"])
        self.message_user(request, f"Disabled {queryset.count()} camera(s).", messages.SUCCESS)

    @admin.action(description="Test connection (grab one frame)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Camera]) -> TemplateResponse | None:
        """Reachable (with the frame) or not, and nothing more: for who may change cameras, a few per user.

        Whoever may change a camera may point it anywhere; more than "reachable" would make this a
        scanner of the server's network (cameras.grab). NVR_CONNECTION_TEST_LIMIT cameras per user
        per NVR_CONNECTION_TEST_WINDOW seconds.
        """
        cameras = list(queryset[:10])
        # Every stream is tested (a camera's sub stream too) and counts toward the limit.
        streams: list[tuple[Camera, str, CameraConfig]] = []
        for camera in cameras:
            config = CameraConfig.from_camera(camera)
            streams.append((camera, "", config))
            if (sub := config.sub_stream()) is not None:
                streams.append((camera, "sub stream", sub))
        wait = rate_wait(
            "connection-test",
            str(request.user.pk),
            limit=settings.NVR_CONNECTION_TEST_LIMIT,
            window=settings.NVR_CONNECTION_TEST_WINDOW,
            cost=len(streams),
        )
        if wait:
            self.message_user(
                request,
                f"Too many connection tests: you may test {settings.NVR_CONNECTION_TEST_LIMIT} cameras "
                f"every {settings.NVR_CONNECTION_TEST_WINDOW / 60:.0f} minutes. Try again later.",
                messages.ERROR,
            )
            return None
        results = check_connections([config for _, _, config in streams])
        items = [
            {
                "camera": camera,
                "stream": stream,
                "result": result,
                "image": base64.b64encode(result.jpeg).decode() if result.jpeg else "",
            }
            for (camera, stream, _), result in zip(streams, results, strict=True)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Connection test",
            "results": items,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/cameras/test_connection.html", context)


class GroupMemberInline(admin.TabularInline):
    """A group's cameras the user may see; the others are neither shown nor touched when the group is saved."""

    model = GroupMember
    extra = 3
    fields = ["camera", "position"]
    ordering = ["position"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GroupMember]:
        return super().get_queryset(request).filter(camera__in=visible_cameras(request.user).values("pk"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "camera":  # only cameras this user may see
            kwargs["queryset"] = visible_cameras(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(CameraGroup)
class CameraGroupAdmin(admin.ModelAdmin):
    """Camera groups for wall screens: the cameras in order, and who may use the group (never a camera)."""

    list_display = ["name", "slug", "size", "wall"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["allowed_users", "allowed_groups"]
    inlines = [GroupMemberInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CameraGroup]:
        """Each group with the number of its cameras the user may see (never how many they may not)."""
        visible = visible_cameras(request.user).values("pk")
        return super().get_queryset(request).annotate(seen=Count("members", filter=Q(members__camera__in=visible)))

    @admin.display(description="cameras")
    def size(self, group: CameraGroup) -> int:
        return getattr(group, "seen", 0)

    @admin.display(description="wall screen")
    def wall(self, group: CameraGroup) -> str:
        url = reverse("dashboard") + f"?group={group.slug}&kiosk=1"
        return format_html('<a href="{}">{}</a>', url, url)
