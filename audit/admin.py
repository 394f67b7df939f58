"""The audit trail in the admin: read-only, and only the entries of cameras the staff user may see."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.models import AuditEntry
from audit.selectors import scoped
from cameras.selectors import visible_cameras


class CameraFilter(admin.SimpleListFilter):
    """Cameras the user may see (never the names of others)."""

    title = "camera"
    parameter_name = "camera"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(camera.slug, camera.name) for camera in visible_cameras(request.user)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        return queryset.filter(camera=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["seq", "at", "kind", "username", "camera", "address"]
    list_filter = ["kind", CameraFilter]
    search_fields = ["username", "address"]
    date_hierarchy = "at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        return scoped(super().get_queryset(request), request.user)

    # Append-only: nobody adds, edits or deletes an entry here (retention removes old ones).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
