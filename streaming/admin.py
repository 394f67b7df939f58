"""Stream tokens in the admin: created with the token shown once, revoked with one action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from streaming.models import StreamToken, new_token


@admin.register(StreamToken)
class StreamTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "camera", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    fields = ["name", "user", "camera"]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: StreamToken, form: Any, change: bool) -> None:
        if not change:
            token = new_token()
            obj.set_token(token)
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                f"Token for “{obj.name}”: {token} — copy it now, it will not be shown again. "
                f"Use it as ?token=… on stream and snapshot URLs.",
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[StreamToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
