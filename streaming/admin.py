"""Stream tokens in the admin: created with the token shown once, revoked with one action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from cameras.selectors import visible_cameras, visible_groups
from streaming.models import StreamToken, new_token


@admin.register(StreamToken)
class StreamTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "camera", "group", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    fields = ["name", "user", "camera", "group"]
    actions = ["revoke"]

    # Least privilege: staff who may add tokens issue them only for themselves and for cameras they may
    # see; a token's owner and camera never change after it is made (it would re-target the secret).
    def get_queryset(self, request: HttpRequest) -> QuerySet[StreamToken]:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: StreamToken | None = None) -> list[str]:
        return ["user", "camera", "group"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            if db_field.name == "user":
                kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk or 0)
                kwargs["initial"] = request.user.pk
            elif db_field.name == "camera":
                kwargs["queryset"] = visible_cameras(request.user)
            elif db_field.name == "group":
                kwargs["queryset"] = visible_groups(request.user)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.name == "user":
            field.required = True  # every token has an owner
        return field

    def save_model(self, request: HttpRequest, obj: StreamToken, form: Any, change: bool) -> None:
        if not change:
            token = new_token()
            obj.set_token(token)
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                f"Token for “{obj.name}”: {token} — copy it now, it will not be shown again. "
                f"Use it as ?token=… on stream and snapshot URLs"
                + (f", or on a wall screen: /?group={obj.group.slug}&kiosk=1&token=…" if obj.group else "")
                + ".",
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[StreamToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):  # one save each: the audit trail records each
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
