"""`manage.py nvr_status`: every camera's capture state in a terminal table (or --json).

The same per-camera facts as /metrics (cameras.status.camera_facts), read from the database and
the status capture workers write to Redis, plus which worker holds each camera's lease.
Streaming facts (viewers, frames sent) live inside each web process: see /metrics.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cameras.models import Camera
from cameras.status import camera_facts, status_from
from framebus import BUS_ERRORS, SyncBus
from recordings.selectors import StoreUsage, camera_usage, store_usage

COLUMNS = [  # (heading, key) in table order
    ("NAME", "name"),
    ("SLUG", "slug"),
    ("KIND", "kind"),
    ("ENABLED", "enabled"),
    ("STATE", "state"),
    ("FPS", "fps"),
    ("RESOLUTION", "resolution"),
    ("AGE", "last_frame_age"),
    ("RECONNECTS", "reconnects"),
    ("ENCODE", "encode_ms"),
    ("REC", "recording"),
    ("STORED", "stored"),
    ("WORKER", "worker"),
    ("LAST ERROR", "last_error"),
]


class Command(BaseCommand):
    help = "Show each camera's capture state, fps, resolution, frame age, reconnects, encode time and last error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        cameras = list(Camera.objects.all())
        rows, redis_error = read_facts(cameras)
        store = store_usage()
        if options["json"]:
            body = {"redis": redis_error or "ok", "cameras": rows, "recordings_store": asdict(store)}
            self.stdout.write(json.dumps(body, indent=2))
            return
        if redis_error:
            self.stderr.write(self.style.ERROR(f"Redis unavailable ({redis_error}): capture state unknown."))
        if not rows:
            self.stdout.write("No cameras. Add some in the admin or with `manage.py cameras import`.")
            return
        self.stdout.write(render_table([[_cell(key, row) for _, key in COLUMNS] for row in rows]))
        self.stdout.write(describe_store(store))


def describe_store(store: StoreUsage) -> str:
    """One line about the recordings store, for operators."""
    budget = f" of a {store.budget / 1e9:.1f} GB budget" if store.budget else " (no byte budget)"
    free = (
        "store missing"
        if store.free is None
        else f"{store.free / 1e9:.1f} GB free (kept above {store.floor / 1e9:.1f} GB)"
    )
    warning = "" if store.writable else "; NOT WRITABLE here"
    kept = ""
    if store.archived_bytes:
        kept += f"; {store.archived_bytes / 1e9:.2f} GB kept from deleted cameras"
    if store.orphaned_files:
        kept += (
            f"; {store.orphaned_files} files ({store.orphaned_bytes / 1e9:.2f} GB) found without a camera"
            " (admin: Recordings > Archives)"
        )
    return f"Recordings: {store.bytes / 1e9:.2f} GB{budget}{kept}; {free}{warning}."


def read_facts(cameras: list[Camera]) -> tuple[list[dict], str]:
    """(one dict per camera, "" or the name of the Redis error)."""
    bus = SyncBus(settings.REDIS_URL, namespace=settings.NVR_REDIS_NAMESPACE)
    try:
        statuses = bus.statuses([c.slug for c in cameras])
        owners = {c.slug: bus.lease_owner(c.slug) for c in cameras}
        error = ""
    except BUS_ERRORS as problem:
        statuses, owners, error = None, {}, type(problem).__name__
    finally:
        bus.close()
    usage = camera_usage()
    rows = []
    for camera in cameras:
        raw = None if statuses is None else statuses.get(camera.slug, {})
        facts = camera_facts(camera, status_from(camera, raw), usage.get(camera.pk))
        facts["worker"] = owners.get(camera.slug)
        rows.append(facts)
    return rows, error


def _cell(key: str, row: dict) -> str:
    value = row.get(key)
    if key == "resolution":
        return f"{row['width']}x{row['height']}" if row.get("width") else "-"
    if key == "enabled":
        return "yes" if value else "no"
    if key == "stored":
        return f"{row['stored_bytes'] / 1e9:.2f} GB, {row['stored_hours']:.1f} h" if row.get("stored_bytes") else "-"
    if key == "recording" and row.get("recording_error"):
        return f"error: {row['recording_error']}"
    if value is None or value == "":
        return "-"
    if key == "fps":
        return f"{value:.1f}"
    if key == "last_frame_age":
        return f"{value:.1f}s"
    if key == "encode_ms":
        return f"{value:.1f}ms" if value else "-"
    return str(value)


def render_table(cells: list[list[str]]) -> str:
    """Aligned columns; the last column (the error) is cut to the terminal's width."""
    headings = [heading for heading, _ in COLUMNS]
    widths = [max(len(row[i]) for row in [headings, *cells]) for i in range(len(headings) - 1)]
    room = max(shutil.get_terminal_size((160, 24)).columns - sum(widths) - 2 * len(widths), 20)
    lines = []
    for row in [headings, *cells]:
        fixed = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        last = row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "…"
        lines.append(f"{fixed}  {last}".rstrip())
    return "\n".join(lines)
