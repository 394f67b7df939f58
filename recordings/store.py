"""Where footage lives: the only module that knows (invariant 14 in docs/design.md).

Everything else names a file by its *key*, a relative name such as
`<camera uid>/2026/12/02/03/20261202T030000.000000Z.mp4`, and reads, writes, lists and deletes it
through a `Store`. The index (recordings.models) keeps keys, never paths, so a segment can move
between backends (a local disk today, an S3-compatible bucket next: write one more `Store` class)
without its row changing.

Keys are made here too: a segment's and an event picture's key start with the camera's `uid`, which
never repeats, so a deleted camera's footage can never be taken for that of a new camera with its slug.
Installs from before keys had uids have rows whose keys are their old relative paths (`<slug>/...`):
those keys stay valid, and only rows ever tie such a file to a camera.

Writing a segment: the recorder muxes into `staging(key)` (a local file, `*.part`) and calls
`commit(key, staged)` when the file is complete; a crash leaves the staged file, which the
reconcile salvages (`staged()`). A missing key raises FileNotFoundError, whatever the backend.

With RECORDINGS_S3_URL set the store is a `TieredStore`: the local folder, then a bucket
(recordings.bucket) that segments older than RECORDINGS_TIER_AFTER move to (recordings.tier).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from recordings.bucket import Bucket, BucketConfig, BucketError

PICTURES = "event.snapshots"  # the first part of event picture keys (a slug or uid never has a dot)
STAGED_SUFFIX = ".part"
WRITE_PROBE = ".nvr-write-test"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file in the store: its key, size and when it was last written (Unix seconds)."""

    key: str
    bytes: int
    modified: float


@dataclass(frozen=True, slots=True)
class Space:
    """Free and total bytes where the store writes."""

    free: int
    total: int


def segment_key(camera_uid: str, start: dt.datetime) -> str:
    """The key of a camera's segment starting at `start` (UTC dated folders, the start in the name)."""
    start = start.astimezone(dt.UTC)
    return f"{camera_uid}/{start:%Y/%m/%d/%H}/{start:%Y%m%dT%H%M%S.%fZ}.mp4"


def start_of(key: str) -> dt.datetime | None:
    """A segment's start from its key's name (YYYYMMDDTHHMMSS.ffffffZ.mp4), or None when it has none."""
    stem = key.rsplit("/", 1)[-1].split(".mp4")[0]
    try:
        return dt.datetime.strptime(stem, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def owner_of(key: str) -> str:
    """The folder a key is filed under: a camera's uid (or, before uids, its slug)."""
    return key.split("/", 1)[0]


def picture_keys(camera_uid: str, event_id: int, at: dt.datetime) -> tuple[str, str]:
    """(snapshot, thumbnail) keys of an event's pictures (the thumbnail is named after the snapshot)."""
    snapshot = f"{PICTURES}/{camera_uid}/{at.astimezone(dt.UTC):%Y/%m/%d}/{event_id}.jpg"
    return snapshot, snapshot.removesuffix(".jpg") + ".thumb.jpg"


_FAILURES = {
    errno.ENOSPC: "the recordings disk is full",
    errno.EDQUOT: "the recordings disk quota is exceeded",
    errno.EROFS: "the recordings store is read-only",
    errno.EACCES: "no permission to write to the recordings store",
    errno.EPERM: "no permission to write to the recordings store",
    errno.ENOENT: "the recordings store does not exist",
}


def describe_failure(error: BaseException) -> str:
    """A failed write in an operator's words (never a path: paths hold nothing secret, but say nothing useful)."""
    code = getattr(error, "errno", None)
    if code in _FAILURES:
        return _FAILURES[code]
    return f"writing a recording failed ({type(error).__name__})"


class Store(ABC):
    """Footage by key: write, read (whole or by range, as a file object), delete, list, and space."""

    def picture_keys(self, camera_uid: str, event_id: int, at: dt.datetime) -> tuple[str, str]:
        """(snapshot, thumbnail) keys of an event's pictures (events.watcher writes through this)."""
        return picture_keys(camera_uid, event_id, at)

    # Writing -------------------------------------------------------------------------------------
    @abstractmethod
    def staging(self, key: str) -> Path:
        """A local file to write `key` into before commit (folders made); the reconcile finds it after a crash."""

    @abstractmethod
    def commit(self, key: str, staged: Path) -> int:
        """Make the complete `staged` file the content of `key`; its size in bytes."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write a small file (an event picture) at once: readers see the old content or the new, never half."""

    # Reading ---------------------------------------------------------------------------------------
    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable, seekable file object of `key` (HTTP Range and PyAV read through it); close it after."""

    @abstractmethod
    def size(self, key: str) -> int: ...

    # Deleting, listing, space ----------------------------------------------------------------------
    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove `key`; False when it was already gone. A reader holding it open may finish reading."""

    @abstractmethod
    def walk(self) -> Iterator[StoredFile]:
        """Every committed file (not staged ones, not the write probe)."""

    def local_copy_moved(self, key: str) -> None:  # noqa: B027 - a no-op unless the store has an elsewhere
        """Remove a local copy of `key`, which lives elsewhere now (only a tiered store has an elsewhere)."""

    @abstractmethod
    def staged(self) -> Iterator[tuple[str, Path, float]]:
        """(key, staged file, last written) of every file staged and never committed."""

    @abstractmethod
    def space(self) -> Space | None:
        """Free and total bytes where the store writes; None when it cannot be read."""

    @abstractmethod
    def problem(self) -> str:
        """Why the store cannot be written now, in an operator's words; "" when it can."""

    @abstractmethod
    def readable(self) -> bool:
        """Whether this process can read the store (web processes may mount it read-only)."""

    @abstractmethod
    def writable(self) -> bool:
        """Whether this process may write to the store (a cheap check, unlike problem())."""


class LocalStore(Store):
    """A folder on a local or mounted filesystem (RECORDINGS_DIR): a key is a relative path in it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = self.root / key
        if not key or key.startswith("/") or ".." in Path(key).parts:
            raise ValueError(f"not a store key: {key!r}")
        return path

    def staging(self, key: str) -> Path:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(path.name + STAGED_SUFFIX)

    def commit(self, key: str, staged: Path) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)  # the same filesystem: atomic, a reader sees no half file
        return target.stat().st_size

    def put(self, key: str, data: bytes) -> None:
        staged = self.staging(key)
        staged.write_bytes(data)
        self.commit(key, staged)

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def walk(self) -> Iterator[StoredFile]:
        return self.walk_under("")

    def walk_under(self, folder: str) -> Iterator[StoredFile]:
        """Committed files under one folder of the store (the event pictures: PICTURES), or all of them."""
        top = self._path(folder) if folder else self.root
        if not top.is_dir():
            return
        for folder, _, names in os.walk(top):
            for name in names:
                if name.endswith(STAGED_SUFFIX) or name == WRITE_PROBE:
                    continue
                path = Path(folder) / name
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue  # deleted while listing
                yield StoredFile(path.relative_to(self.root).as_posix(), info.st_size, info.st_mtime)

    def staged(self) -> Iterator[tuple[str, Path, float]]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob(f"*{STAGED_SUFFIX}")):
            try:
                modified = path.stat().st_mtime
            except FileNotFoundError:
                continue
            key = path.relative_to(self.root).as_posix().removesuffix(STAGED_SUFFIX)
            yield key, path, modified

    def space(self) -> Space | None:
        try:
            usage = shutil.disk_usage(self.root)
        except OSError:
            return None
        return Space(usage.free, usage.total)

    def problem(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / WRITE_PROBE
            probe.write_bytes(b"ok")
            probe.unlink()
        except PermissionError:
            return f"RECORDINGS_DIR ({self.root}) is not writable by this user"
        except OSError as error:
            return f"RECORDINGS_DIR ({self.root}) cannot be written: {error.strerror or type(error).__name__}"
        return ""

    def readable(self) -> bool:
        return self.root.is_dir() and os.access(self.root, os.R_OK | os.X_OK)

    def writable(self) -> bool:
        return self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK)


class TieredStore(Store):
    """The local folder first, then a bucket (RECORDINGS_S3_URL): old footage moves there (recordings.tier).

    Writes go to the local folder, as without a bucket. A key is read from the local file while it is
    there and from the bucket after it moved, by ranged GETs through a seekable file object, so HLS,
    clips, previews and event pictures do not care where it lives. Listing, space and the write checks
    are the local folder's: the index (Segment.location) says what lives in the bucket.
    """

    def __init__(self, local: LocalStore, bucket: Bucket) -> None:
        self.local, self.bucket = local, bucket

    def __repr__(self) -> str:
        return f"TieredStore({self.local!r}, {self.bucket!r})"

    @property
    def root(self) -> Path:
        return self.local.root

    def staging(self, key: str) -> Path:
        return self.local.staging(key)

    def commit(self, key: str, staged: Path) -> int:
        return self.local.commit(key, staged)

    def put(self, key: str, data: bytes) -> None:
        self.local.put(key, data)

    def open(self, key: str) -> BinaryIO:
        try:
            return self.local.open(key)
        except FileNotFoundError:
            return self.bucket.open(key)

    def size(self, key: str) -> int:
        try:
            return self.local.size(key)
        except FileNotFoundError:
            return self.bucket.size(key)

    def delete(self, key: str) -> bool:
        """Both copies go (a moved segment has only the object; one caught mid-move may have both).

        With the bucket away, deleting a local file still succeeds (retention keeps the local budget
        during an outage); deleting what lives only in the bucket raises BucketError."""
        here = self.local.delete(key)
        try:
            self.bucket.delete(key)  # S3 answers a delete of a missing key with success
        except FileNotFoundError:
            return here
        except BucketError:
            if here:
                return True
            raise
        return True

    def walk(self) -> Iterator[StoredFile]:
        return self.local.walk()

    def local_copy_moved(self, key: str) -> None:
        """Remove the local copy of a segment the index says is in the bucket (a mover stopped before its delete)."""
        self.local.delete(key)

    def staged(self) -> Iterator[tuple[str, Path, float]]:
        return self.local.staged()

    def space(self) -> Space | None:
        return self.local.space()

    def problem(self) -> str:
        return self.local.problem()

    def readable(self) -> bool:
        return self.local.readable()

    def writable(self) -> bool:
        return self.local.writable()


_stores: dict[tuple[str, str], Store] = {}


def get_store() -> Store:
    """The store the settings name (RECORDINGS_DIR, and RECORDINGS_S3_URL when set), one instance per location."""
    root, url = str(settings.RECORDINGS_DIR), settings.RECORDINGS_S3_URL
    store = _stores.get((root, url))
    if store is None:
        local = LocalStore(root)
        if url:
            bucket = Bucket(
                BucketConfig.from_url(url),
                access_key=settings.RECORDINGS_S3_ACCESS_KEY_ID,
                secret_key=settings.RECORDINGS_S3_SECRET_ACCESS_KEY,
            )
            store = TieredStore(local, bucket)
        else:
            store = local
        _stores[(root, url)] = store
    return store


def bucket_of(store: Store) -> Bucket | None:
    """The bucket behind `store`, or None when footage stays on the local folder."""
    return store.bucket if isinstance(store, TieredStore) else None


def age(modified: float) -> float:
    """Seconds since a file was last written."""
    return time.time() - modified
