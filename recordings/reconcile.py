"""Make the index and the store agree after any crash (run by a capture supervisor at start).

- A row whose file is gone is removed.
- A complete file without a row is indexed (its facts read from the file, its start from its name).
- A `.part` left by a killed writer is salvaged: its complete fragments are copied (remuxed, not
  re-encoded) into a complete file, which is indexed; a `.part` with no complete fragment is removed.
  A `.part` written to in the last PART_QUIET_SECONDS may belong to a live writer (another
  supervisor) and is left alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import av
from django.conf import settings

from recordings.models import Segment
from recordings.writer import MUXER_OPTIONS, codec_string

log = logging.getLogger(__name__)

PART_QUIET_SECONDS = 30.0  # a writer adds a fragment every keyframe (seconds): quiet this long, it is dead


@dataclass
class Repairs:
    rows_removed: int = 0
    files_indexed: int = 0
    parts_salvaged: int = 0
    parts_removed: int = 0

    def __str__(self) -> str:
        return (
            f"{self.rows_removed} rows without a file removed, {self.files_indexed} files indexed, "
            f"{self.parts_salvaged} interrupted segments salvaged, {self.parts_removed} removed"
        )


def start_from_name(path: Path) -> dt.datetime | None:
    """The segment's start from its file name (YYYYMMDDTHHMMSS.ffffffZ.mp4), or None."""
    stem = path.name.split(".mp4")[0]
    try:
        return dt.datetime.strptime(stem, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def probe(path: Path) -> tuple[float, str, int, int] | None:
    """(duration, codec, width, height) of a segment file from its packets, or None if unreadable."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            first = last = None
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                first = packet.pts if first is None else min(first, packet.pts)
                end = packet.pts + (packet.duration or 0)
                last = end if last is None else max(last, end)
            if first is None or last is None:
                return None
            context = stream.codec_context
            duration = float((last - first) * (stream.time_base or 0))
            return duration, codec_string(context.name, context.extradata), context.width, context.height
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def salvage(part: Path) -> Path | None:
    """Copy the readable packets of an interrupted `.part` into the complete file; None if none were."""
    target = part.with_name(part.name.removesuffix(".part"))
    temporary = part.with_name(part.name + ".salvage")
    copied = 0
    try:
        with (
            av.open(str(part)) as source,
            av.open(str(temporary), "w", format="mp4", options=MUXER_OPTIONS) as out,
        ):
            stream = source.streams.video[0]
            out_stream = out.add_stream_from_template(stream)
            try:
                for packet in source.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.stream = out_stream
                    out.mux(packet)
                    copied += 1
            except av.error.FFmpegError:
                pass  # the cut-off fragment: everything before it is kept
    except (av.error.FFmpegError, IndexError, OSError):
        copied = 0
    if not copied:
        temporary.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        return None
    os.replace(temporary, target)
    part.unlink(missing_ok=True)
    return target


def _camera_ids() -> dict[str, int]:
    from django.apps import apps

    camera = apps.get_model("cameras", "Camera")  # named lazily: recordings sits below cameras
    return dict(camera.objects.values_list("slug", "pk"))


def reconcile(store: Path | None = None, *, quiet_seconds: float = PART_QUIET_SECONDS) -> Repairs:
    """One pass over the whole store and index (`.part` files quiet for `quiet_seconds` count as dead)."""
    store = Path(store or settings.RECORDINGS_DIR)
    repairs = Repairs()
    known = dict(Segment.objects.values_list("path", "pk"))
    missing = [pk for path, pk in known.items() if not (store / path).is_file()]
    if missing:
        Segment.objects.filter(pk__in=missing).delete()
        repairs.rows_removed = len(missing)
    if not store.is_dir():
        return repairs
    cameras = _camera_ids()
    now = time.time()
    for part in sorted(store.rglob("*.mp4.part")):
        try:
            if now - part.stat().st_mtime < quiet_seconds:
                continue  # maybe a live writer's
        except FileNotFoundError:
            continue
        if salvage(part) is None:
            repairs.parts_removed += 1
        else:
            repairs.parts_salvaged += 1
    for path in sorted(store.rglob("*.mp4")):
        relative = str(path.relative_to(store))
        if relative in known:
            continue
        slug = relative.split("/", 1)[0]
        start = start_from_name(path)
        facts = probe(path)
        if slug not in cameras or start is None or facts is None:
            log.warning("reconcile: %s is not a readable segment of a known camera; left alone", relative)
            continue
        duration, codec, width, height = facts
        Segment.objects.create(
            camera_id=cameras[slug],
            start=start,
            end=start + dt.timedelta(seconds=duration),
            duration=round(duration, 3),
            bytes=path.stat().st_size,
            codec=codec,
            width=width,
            height=height,
            path=relative,
        )
        repairs.files_indexed += 1
    if repairs.rows_removed or repairs.files_indexed or repairs.parts_salvaged or repairs.parts_removed:
        log.info("reconcile: %s", repairs)
    return repairs
