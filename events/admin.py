"""Webhooks in the admin, under camera access (issue #23): what staff may see and change is what their cameras allow.

- Staff see and edit only webhooks whose cameras they may all see; a webhook for every camera (no
  cameras chosen) only if they see every camera. Superusers see all.
- The list shows where a webhook posts (scheme and host), never its whole address, which often
  carries a receiver's API key; the address is shown to those who may change the webhook.
- The secret is made by nvr and shown once. A new address always gets a new secret, so a receiver
  never gets bodies signed with a secret meant for another; the user who set the address becomes
  the webhook's owner, and deliveries carry only events of cameras the owner may see (events.notify).

Camera access comes from events.access (the registry's rule, through the model events names).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from events.access import camera_model, sees_every_camera, visible_cameras
from events.models import Webhook

SECRET_BYTES = 32


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(SECRET_BYTES)


def receiver(url: str) -> str:
    """Where a webhook posts, without its path, query or credentials: `https://host:port/…`."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "(not a valid URL)"
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{parts.scheme}://{host}{rest}"


class WebhookForm(forms.ModelForm):
    url = forms.URLField(
        assume_scheme="https", max_length=500, label="URL", help_text=Webhook._meta.get_field("url").help_text
    )
    new_secret = forms.BooleanField(
        required=False,
        label="Make a new secret",
        help_text="The old secret stops working at once; the new one is shown once. A new URL always gets one.",
    )
    unsigned = forms.BooleanField(
        required=False,
        label="Send unsigned",
        help_text="No secret and no signature: a receiver cannot tell these POSTs from anyone else's.",
    )

    user: Any = None  # who is editing (set per request by WebhookAdmin.get_form)

    class Meta:
        model = Webhook
        fields = ["name", "url", "enabled", "cameras"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "unsigned" in self.fields:
            self.fields["unsigned"].initial = not self.instance.secret

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "cameras" in self.fields and not data.get("cameras") and not sees_every_camera(self.user):
            self.add_error(
                "cameras", "Choose its cameras: a webhook for every camera is for users who see every camera."
            )
        return data


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "posts_to", "camera_list", "owner", "enabled"]
    list_select_related = ["owner"]
    filter_horizontal = ["cameras"]
    fields = ["name", "url", "new_secret", "unsigned", "enabled", "cameras"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Webhook]:
        """Webhooks whose every camera the user may see; "every camera" ones only for who sees every camera."""
        queryset = super().get_queryset(request).prefetch_related("cameras")
        user = request.user
        if user.is_superuser:
            return queryset
        hidden = camera_model().objects.exclude(pk__in=visible_cameras(user).values("pk"))
        queryset = queryset.exclude(cameras__in=hidden)
        if not sees_every_camera(user):
            queryset = queryset.filter(cameras__isnull=False).distinct()
        return queryset

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form: Any = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user  # a class made for this request by modelform_factory
        return form

    def get_fields(self, request: HttpRequest, obj: Webhook | None = None) -> Any:
        if obj is not None and not self.has_change_permission(request, obj):
            return ["name", "posts_to", "enabled", "camera_list"]  # view only: no address, no secret choices
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Webhook | None = None) -> list[str]:
        if obj is not None and not self.has_change_permission(request, obj):
            return ["name", "posts_to", "enabled", "camera_list"]
        return []

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "cameras":  # only cameras this user may see
            kwargs["queryset"] = visible_cameras(request.user).order_by("position", "name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="posts to")
    def posts_to(self, hook: Webhook) -> str:
        return receiver(hook.url)

    @admin.display(description="cameras")
    def camera_list(self, hook: Webhook) -> str:
        return ", ".join(camera.name for camera in hook.cameras.all()) or "every camera"

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        new_address = not change or "url" in form.changed_data
        if new_address:
            obj.owner = request.user  # type: ignore[assignment] # who chose the receiver: it gets what they may see
        secret = ""
        if form.cleaned_data.get("unsigned"):
            obj.secret = ""
        elif new_address or form.cleaned_data.get("new_secret") or not obj.secret:
            secret = obj.secret = new_secret()
        super().save_model(request, obj, form, change)
        if secret:
            messages.warning(
                request,
                f"Secret for “{obj.name}”: {secret} — copy it into the receiver now, it will not be shown again. "
                "Receivers check X-NVR-Signature: sha256=HMAC-SHA256(secret, X-NVR-Timestamp + '.' + body).",
            )
