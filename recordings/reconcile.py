"""Make the index and the store agree after any crash (run by the keeper when it takes the store).

- A row whose file is gone is removed.
- A staged file (`.part`) left by a killed writer is salvaged: its complete fragments are copied
  (remuxed, not re-encoded) into a complete file, which is committed and indexed; a `.part` with no
  complete fragment is removed. One written to in the last PART_QUIET_SECONDS may belong to a live
  writer (another supervisor) and is left alone.
- A complete file without a row is indexed (its facts read from the file, its start from its name)
  under whoever owns the folder it is filed in: the live camera with that uid, or the archive of that
  folder. Never by a slug: a file in any other folder (a camera deleted without its footage, an install
  from before keys had uids) is indexed into an archive "found without a camera", which only superusers
  see, which counts toward the byte budget, and which retention empties first when space is needed.
- A file that is not a readable segment is left alone and counted; a picture cut off while being written is removed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import av
from django.db import IntegrityError

from recordings.models import Archive, Location, Segment
from recordings.store import PICTURES, Store, StoredFile, age, get_store, owner_of, start_of
from recordings.writer import MUXER_OPTIONS, media_facts, sha256_of

log = logging.getLogger(__name__)

PART_QUIET_SECONDS = 30.0  # a writer adds a fragment every keyframe (seconds): quiet this long, it is dead


@dataclass
class Repairs:
    rows_removed: int = 0
    files_indexed: int = 0
    parts_salvaged: int = 0
    parts_removed: int = 0
    orphans_found: int = 0  # files indexed into a "found without a camera" archive
    unreadable: int = 0  # files left alone: not a segment nvr can read
    moved_copies_removed: int = 0  # local copies of segments already moved to the bucket

    def __str__(self) -> str:
        return (
            f"{self.rows_removed} rows without a file removed, {self.files_indexed} files indexed "
            f"({self.orphans_found} without a camera), {self.parts_salvaged} interrupted segments salvaged, "
            f"{self.parts_removed} removed, {self.unreadable} unreadable files left alone, "
            f"{self.moved_copies_removed} local copies of segments in the bucket removed"
        )


def probe(store: Store, key: str) -> tuple[float, str, int, int] | None:
    """(duration, codec, width, height) of a segment from its packets, or None if unreadable."""
    try:
        with store.open(key) as file, av.open(file, "r") as container:
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
            duration = float((last - first) * (stream.time_base or 0))
            return (duration, *media_facts(container))
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def salvage(store: Store, key: str, part: Path) -> bool:
    """Copy the readable packets of an interrupted staged file into `key`; False (and the file removed) if none were."""
    temporary = part.with_name(part.name + ".salvage")
    copied = 0
    try:
        with (
            av.open(str(part)) as source,
            av.open(str(temporary), "w", format="mp4", options=MUXER_OPTIONS) as out,
        ):
            stream = source.streams.video[0]
            audio = source.streams.audio[0] if source.streams.audio else None  # the camera's sound, if recorded
            out_stream = out.add_stream_from_template(stream)
            out_audio = out.add_stream_from_template(audio) if audio is not None else None
            try:
                for packet in source.demux(*(s for s in (stream, audio) if s is not None)):
                    if packet.dts is None:
                        continue
                    audible = out_audio is not None and packet.stream.type == "audio"
                    packet.stream = out_audio if audible and out_audio is not None else out_stream
                    out.mux(packet)
                    copied += 1
            except av.error.FFmpegError:
                pass  # the cut-off fragment: everything before it is kept
    except (av.error.FFmpegError, IndexError, OSError):
        copied = 0
    if not copied:
        temporary.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        return False
    store.commit(key, temporary)
    part.unlink(missing_ok=True)
    return True


class _Owners:
    """Who a folder of the store belongs to: a live camera (by uid), an archive, or nobody yet."""

    def __init__(self) -> None:
        from django.apps import apps

        camera = apps.get_model("cameras", "Camera")  # named lazily: recordings sits below cameras
        self.cameras = {str(uid): pk for uid, pk in camera.objects.values_list("uid", "pk")}
        self.archives = dict(Archive.objects.values_list("owner", "pk"))

    def of(self, folder: str) -> dict[str, int]:
        """The row fields that attach a file of `folder`: its camera, or an archive (made when needed)."""
        if folder in self.cameras:
            return {"camera_id": self.cameras[folder]}
        if folder not in self.archives:
            archive, _ = Archive.objects.get_or_create(
                owner=folder,
                defaults={"name": f"Found without a camera: {folder}", "origin": Archive.Origin.FOUND},
            )
            self.archives[folder] = archive.pk
        return {"archive_id": self.archives[folder]}


def _index(store: Store, stored: StoredFile, owners: _Owners, repairs: Repairs) -> None:
    start, facts = start_of(stored.key), probe(store, stored.key)
    if start is None or facts is None:
        log.warning("reconcile: %s is not a readable segment; left alone", stored.key)
        repairs.unreadable += 1
        return
    duration, codec, width, height = facts
    with store.open(stored.key) as file:  # the checksum the bucket tier verifies a move against
        sha256 = sha256_of(file)
    owner = owners.of(owner_of(stored.key))
    try:
        Segment.objects.create(
            **owner,
            start=start,
            end=start + dt.timedelta(seconds=duration),
            duration=round(duration, 3),
            bytes=stored.bytes,
            codec=codec,
            width=width,
            height=height,
            key=stored.key,
            sha256=sha256,
        )
    except IntegrityError:
        return  # its writer indexed it meanwhile
    repairs.files_indexed += 1
    if "archive_id" in owner:
        repairs.orphans_found += 1


def reconcile(store: Store | None = None, *, quiet_seconds: float = PART_QUIET_SECONDS) -> Repairs:
    """One pass over the whole store and index (staged files quiet for `quiet_seconds` count as dead)."""
    store = store or get_store()
    repairs = Repairs()
    for key, part, modified in list(store.staged()):
        if age(modified) < quiet_seconds:
            continue  # maybe a live writer's
        if key.startswith(f"{PICTURES}/"):  # half an event picture: its event keeps the previous one, or none
            part.unlink(missing_ok=True)
            repairs.parts_removed += 1
            continue
        if salvage(store, key, part):
            repairs.parts_salvaged += 1
        else:
            repairs.parts_removed += 1
    # The index first, then the store: a row is only ever written after its file is committed, so every
    # row read here names a file the walk below sees (unless it is really gone).
    # Segments in the bucket (recordings.tier) are not in the walk: only a local row needs its local file,
    # and a local copy of a segment already in the bucket is what a mover left before its delete.
    rows = list(Segment.objects.values_list("key", "pk", "location"))
    known = {key: pk for key, pk, _ in rows}
    files = {f.key: f for f in store.walk() if f.key.endswith(".mp4") and not f.key.startswith(f"{PICTURES}/")}
    missing = [pk for key, pk, where in rows if where == Location.LOCAL and key not in files]
    if missing:
        Segment.objects.filter(pk__in=missing).delete()
        repairs.rows_removed = len(missing)
    for key, _, where in rows:
        if where == Location.BUCKET and key in files:
            store.local_copy_moved(key)
            repairs.moved_copies_removed += 1
    owners = _Owners()
    for key in sorted(files.keys() - known.keys()):
        _index(store, files[key], owners, repairs)
    if any(vars(repairs).values()):
        log.info("reconcile: %s", repairs)
    return repairs
