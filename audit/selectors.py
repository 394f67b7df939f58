"""Reading the audit trail for its page, CSV export and admin: one place for filters and camera access.

Anyone who is not a superuser sees only entries of cameras they may see (cameras.selectors.visible_cameras,
the function streams use), and no entry without a camera (sign-ins, user changes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import BadRequest
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.models import AuditEntry, Kind
from cameras.selectors import visible_cameras


def scoped(entries: QuerySet[AuditEntry], user: Any) -> QuerySet[AuditEntry]:
    """The entries `user` may read."""
    if getattr(user, "is_superuser", False):
        return entries
    return entries.filter(camera_id__in=visible_cameras(user).values("pk"))


def _time(value: str, name: str) -> dt.datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise BadRequest(f"{name} must be a date and time, e.g. 2026-12-01T08:00")
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@dataclass(frozen=True)
class AuditFilter:
    """The page's filters: user name, camera slug, kind, and a time span (entries overlapping it)."""

    user: str = ""
    camera: str = ""
    kind: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @classmethod
    def from_query(cls, query: Any) -> AuditFilter:
        kind = query.get("kind", "")
        if kind and kind not in Kind.values:
            raise BadRequest(f"kind must be one of {', '.join(Kind.values)}")
        since, until = _time(query.get("since", ""), "since"), _time(query.get("until", ""), "until")
        if since and until and until <= since:
            raise BadRequest("until must be after since")
        return cls(
            user=query.get("user", "").strip()[:150],
            camera=query.get("camera", "").strip()[:50],
            kind=kind,
            since=since,
            until=until,
        )

    def apply(self, entries: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        if self.user:
            entries = entries.filter(username=self.user)
        if self.camera:
            entries = entries.filter(camera=self.camera)
        if self.kind:
            entries = entries.filter(kind=self.kind)
        if self.since is not None:  # a live view counts while it lasted
            entries = entries.filter(Q(until__gte=self.since) | Q(until__isnull=True, at__gte=self.since))
        if self.until is not None:
            entries = entries.filter(at__lt=self.until)
        return entries


CSV_COLUMNS = [
    "seq",
    "at",
    "until",
    "kind",
    "username",
    "user_id",
    "token_id",
    "camera",
    "camera_id",
    "address",
    "detail",
    "hash",
]
