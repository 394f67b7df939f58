"""`/audit/`: the audit trail for superusers, with filters (user, camera, kind, time), and its CSV export.

"Who watched camera X on Tuesday, and who exported it?" is one filter: camera X, Tuesday; live
views, playback and clips are listed with who, from where and for how long.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import user_passes_test
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.models import AuditEntry, Kind
from audit.selectors import CSV_COLUMNS, AuditFilter, scoped
from cameras.models import Camera

PAGE_SIZE = 100
CSV_CHUNK = 2000


def _superuser(user: object) -> bool:
    return bool(getattr(user, "is_superuser", False))


@require_GET
@user_passes_test(_superuser)
def audit_page(request: HttpRequest) -> HttpResponse:
    chosen = AuditFilter.from_query(request.GET)
    entries = chosen.apply(scoped(AuditEntry.objects.all(), request.user))
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    keep = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(
        request,
        "audit/audit.html",
        {
            "page": page,
            "filters": keep,
            "query": urlencode(keep),
            "kinds": Kind.choices,
            "cameras": Camera.objects.order_by("slug").values_list("slug", flat=True),
        },
    )


def _csv_line(values: list) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def _cell(name: str, value: object) -> object:
    if name == "detail":
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "isoformat"):
        return timezone.localtime(value).isoformat()  # type: ignore[arg-type]
    return "" if value is None else value


@require_GET
@user_passes_test(_superuser)
def audit_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered entries as CSV, oldest first, streamed in chunks as they are read."""
    chosen = AuditFilter.from_query(request.GET)
    entries = chosen.apply(scoped(AuditEntry.objects.all(), request.user)).order_by("seq")

    def read(after: int) -> list[tuple]:
        return list(entries.filter(seq__gt=after).values_list(*CSV_COLUMNS)[:CSV_CHUNK])

    async def rows() -> AsyncIterator[str]:
        yield _csv_line(CSV_COLUMNS)
        last = 0
        while True:
            chunk = await sync_to_async(read)(last)
            for values in chunk:
                yield _csv_line([_cell(name, value) for name, value in zip(CSV_COLUMNS, values, strict=True)])
            if len(chunk) < CSV_CHUNK:
                return
            last = chunk[-1][0]

    name = f"nvr-audit-{timezone.localtime():%Y%m%dT%H%M%S}.csv"
    return StreamingHttpResponse(
        rows(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
