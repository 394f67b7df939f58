"""The recordings index and the events in the admin, read-only (the recorder, retention and the capture
worker own the rows), limited to the cameras the staff user may see; and webhooks, whose secret is
write-only like a camera's password.

It lives in review, which stands on cameras, recordings and events: those never import cameras' views.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from cameras.selectors import visible_cameras
from events.models import Event, Webhook
from recordings.models import Segment


class ReadOnlyPerCamera(admin.ModelAdmin):
    """Rows the capture worker owns (segments, events): read-only, and only those of cameras the user may see."""

    list_filter = ["camera"]
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


@admin.register(Event)
class EventAdmin(ReadOnlyPerCamera):
    list_display = ["camera", "start", "end", "peak_score", "zones", "play"]

    @admin.display(description="")
    def play(self, event: Event) -> str:
        return format_html('<a href="{}">play</a>', reverse("events") + f"?camera={event.camera.slug}")


class WebhookForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored secret. Receivers check the header "
        "X-NVR-Signature: sha256=<hex HMAC-SHA256 of the body>.",
    )
    clear_secret = forms.BooleanField(required=False, help_text="Send unsigned from now on.")

    url = forms.URLField(assume_scheme="https", max_length=500, help_text=Webhook._meta.get_field("url").help_text)

    class Meta:
        model = Webhook
        fields = ["name", "url", "secret", "enabled", "cameras"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("clear_secret"):
            data["secret"] = ""
        elif not data.get("secret") and self.instance.pk:
            data["secret"] = self.instance.secret
        return data


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "url", "enabled"]
    filter_horizontal = ["cameras"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "cameras":  # only cameras this user may see
            kwargs["queryset"] = visible_cameras(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
