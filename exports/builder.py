"""Build an export's ZIP in the background: each camera's clip, the manifest, its Ed25519 signature.

The ZIP is written to NVR_EXPORTS_DIR as `<id>.zip.part` and renamed when complete; nothing is held in
memory beyond a clip's chunk and a GOP: each clip is remuxed a chunk at a time (review.clips.ClipMaker,
the same remux as /cameras/<slug>/clip.mp4, reading the store, so footage in the bucket is read by
range) straight into its ZIP entry (stored, not compressed: video does not compress), its SHA-256
computed on the way. Progress (bytes written of the segments' bytes) is saved at most twice a second.

One build at a time per web process (a single worker thread): exports are rare and large, and the
remux shares the machine with recording and live view.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from exports import signing
from exports.models import Export
from exports.standalone import verifier
from recordings.models import Segment
from review.clips import ClipMaker, Source

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between progress saves

_pool: ThreadPoolExecutor | None = None


def submit(export_id: int) -> None:
    """Queue the build of an export on this process's export thread."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nvr-export")
    _pool.submit(build, export_id)


def path_of(export: Export) -> Path:
    return Path(settings.NVR_EXPORTS_DIR) / f"{export.pk}.zip"


def expire(now: dt.datetime | None = None) -> int:
    """Delete exports (rows and ZIPs) older than NVR_EXPORT_KEEP_DAYS, so the exports folder stays bounded."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.NVR_EXPORT_KEEP_DAYS)
    old = list(Export.objects.filter(created_at__lt=cutoff))
    for export in old:
        path_of(export).unlink(missing_ok=True)
    Export.objects.filter(pk__in=[export.pk for export in old]).delete()
    return len(old)


def recorder() -> dict[str, str]:
    """Who made the export: the recorder's name, its install and its signing key."""
    return {
        "name": settings.NVR_RECORDER_NAME or socket.gethostname(),
        "install": settings.NVR_REDIS_NAMESPACE,
        "public_key": base64.b64encode(signing.public_key_raw()).decode("ascii"),
        "fingerprint": signing.fingerprint(),
    }


def _sources(camera_id: int, start: dt.datetime, end: dt.datetime) -> list[Source]:
    rows = Segment.objects.filter(camera_id=camera_id, end__gt=start, start__lt=end).order_by("start")
    return [Source(key, begun) for key, begun in rows.values_list("key", "start")]


def build(export_id: int) -> None:
    """Build the export's ZIP; any failure is saved on the row (the page shows it), never raised."""
    close_old_connections()
    export = Export.objects.get(pk=export_id)
    Export.objects.filter(pk=export_id).update(state=Export.State.BUILDING, updated_at=timezone.now())
    target = path_of(export)
    part = target.with_name(target.name + ".part")
    try:
        _write(export, part)
        os.chmod(part, 0o600)
        os.replace(part, target)
    except Exception as error:  # the row says what went wrong; the half file goes
        part.unlink(missing_ok=True)
        log.exception("export %s failed", export_id)
        Export.objects.filter(pk=export_id).update(
            state=Export.State.FAILED, error=f"the export could not be built ({type(error).__name__})"
        )
        return
    finally:
        close_old_connections()
    Export.objects.filter(pk=export_id).update(
        state=Export.State.DONE, progress=1.0, bytes=target.stat().st_size, updated_at=timezone.now()
    )
    log.info("export %s built: %.1f MB", export_id, target.stat().st_size / 1e6)


def _write(export: Export, part: Path) -> None:
    script = verifier()
    cameras = list(export.cameras.order_by("slug"))
    plans = [(camera, _sources(camera.pk, export.start, export.end)) for camera in cameras]
    total = (
        sum(
            Segment.objects.filter(key__in=[s.key for _, sources in plans for s in sources]).values_list(
                "bytes", flat=True
            )
        )
        or 1
    )
    seconds = int((export.end - export.start).total_seconds())
    stamp = f"{export.start.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
    files, written, saved = [], 0, time.monotonic()
    part.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for camera, sources in plans:
            if not sources:
                continue
            name = f"clips/{camera.slug}-{stamp}-{seconds}s.mp4"
            digest, size = hashlib.sha256(), 0
            maker = ClipMaker(sources, export.start, export.end)
            try:
                with archive.open(name, "w", force_zip64=True) as member:
                    while (chunk := maker.step()) is not None:
                        member.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        written += len(chunk)
                        if time.monotonic() - saved >= PROGRESS_EVERY:
                            saved = time.monotonic()
                            Export.objects.filter(pk=export.pk).update(
                                progress=min(0.99, written / total), updated_at=timezone.now()
                            )
            finally:
                maker.close()
            files.append({"name": name, "bytes": size, "sha256": digest.hexdigest(), "camera": str(camera.uid)})
        manifest = {
            "format": script.FORMAT,
            "recorder": recorder(),
            "exported_by": export.username,
            "exported_at": timezone.now().astimezone(dt.UTC).isoformat(),
            "span": {
                "start": export.start.astimezone(dt.UTC).isoformat(),
                "end": export.end.astimezone(dt.UTC).isoformat(),
            },
            "cameras": [{"uid": str(c.uid), "slug": c.slug, "name": c.name} for c in cameras],
            "files": files,
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        archive.writestr(script.MANIFEST, data)
        archive.writestr(script.SIGNATURE, base64.b64encode(signing.sign(data)) + b"\n")
