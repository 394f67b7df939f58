"""Audit rows are written by one thread per process, in batches, never by the caller.

A live view ends on the event loop, a sign-in in a request thread, a change in the admin: each only
appends to a bounded buffer here (a lock and a deque append, microseconds), and this thread writes
what has gathered every FLUSH_SECONDS in one transaction, with its own database connection. So the
event loop and asgiref's one ORM thread, which live viewing needs, never wait for the audit trail.

Nothing is lost silently: a database error keeps the rows and retries (backing off to
RETRY_MAX_SECONDS), the process's exit flushes what is left, and a buffer over BUFFER_LIMIT (a
database down for a long while) drops the newest rows with an error in the log and counts them
(`dropped`, exported by /metrics).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F

from audit import chain

log = logging.getLogger(__name__)

BUFFER_LIMIT = 100_000  # rows waiting for the database (a few tens of MB at most)
BATCH = 1000  # rows per transaction
FLUSH_SECONDS = 0.5  # how long a row waits for its batch
RETRY_MAX_SECONDS = 30.0
PRUNE_EVERY_SECONDS = 3600.0  # retention (AUDIT_RETENTION_DAYS) runs this often in each process


@dataclass
class Pending:
    """One row to append: its fields (chain.FIELDS but seq), and whether to skip it when one like it exists."""

    fields: dict[str, Any]
    once: tuple[str, ...] = ()  # field names: append only if no entry of this kind has the same values
    done: threading.Event | None = field(default=None, repr=False)  # set once written (a flush's marker)


class AuditWriter:
    """The process's audit writer: `put()` from anywhere, a daemon thread appends to the chain."""

    def __init__(self) -> None:
        self._rows: deque[Pending] = deque()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._prune_at = time.monotonic() + 60.0  # not while the process starts
        self.held = False
        self._writing = False  # a batch was taken and is not written yet

    def put(self, row: Pending) -> None:
        """Queue a row; never blocks (see the module's docstring for a full buffer)."""
        with self._lock:
            if len(self._rows) >= BUFFER_LIMIT:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error("audit: %d rows dropped: the buffer is full (is the database down?)", self.dropped)
                return
            self._rows.append(row)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="nvr-audit-writer", daemon=True)
                self._thread.start()
            if len(self._rows) >= BATCH:
                self._lock.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row queued so far is written (tests, exit); False if it took longer."""
        done = threading.Event()
        with self._lock:
            if not self._rows and not self._writing:
                return True
            self._rows.append(Pending({}, done=done))  # a marker: set when everything before it is written
            self._lock.notify()
        return done.wait(timeout)

    def hold(self) -> None:
        """Write nothing until release() (tests whose database is one transaction no other connection sees)."""
        self.held = True

    def release(self, *, discard: bool = False) -> None:
        with self._lock:
            if discard:
                self._rows.clear()
            self.held = False
            self._lock.notify()

    def _take(self) -> list[Pending]:
        with self._lock:
            if self.held or (not self._rows and not self._stopping):
                self._lock.wait(FLUSH_SECONDS)
            if self.held:
                return []
            taken = [self._rows.popleft() for _ in range(min(BATCH, len(self._rows)))]
            self._writing = bool(taken)
            return taken

    def _give_back(self, rows: list[Pending]) -> None:
        with self._lock:
            self._rows.extendleft(reversed(rows))

    def _prune_when_due(self) -> None:
        if time.monotonic() < self._prune_at:
            return
        self._prune_at = time.monotonic() + PRUNE_EVERY_SECONDS
        from audit.services import prune

        try:
            prune(flush=False)
        except Exception:  # retention is retried at the next hour; writing goes on
            log.warning("audit: retention failed", exc_info=True)

    def _run(self) -> None:
        delay = 1.0
        while True:
            rows = self._take()
            if not rows:
                if not self.held:
                    self._prune_when_due()
                continue
            real = [row for row in rows if row.fields]  # not a flush's markers
            try:
                if real:
                    append(real)
            except Exception:  # the database is down or locked: keep the rows and try again
                self.failures += 1
                log.warning("audit: could not write %d rows; retrying in %.0fs", len(rows), delay, exc_info=True)
                self._give_back(rows)  # (still "writing": a flush waits for them)
                connection.close()
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            delay = 1.0
            self.written += len(real)
            with self._lock:
                self._writing = False
            for row in rows:
                if row.done is not None:
                    row.done.set()
            close_old_connections()


def append(rows: list[Pending]) -> None:
    """Append `rows` to the chain in one transaction, holding the chain head (one chain, many processes)."""
    from audit.models import AuditEntry, ChainHead

    for attempt in range(3):
        try:
            with transaction.atomic():
                # The UPDATE takes the lock before anything is read (SQLite: the write lock; PostgreSQL: the row).
                if not ChainHead.objects.filter(pk=1).update(last_seq=F("last_seq")):
                    ChainHead.objects.create(pk=1)
                head = ChainHead.objects.get(pk=1)
                seq, previous = head.last_seq, head.last_hash or chain.GENESIS
                entries = []
                for row in rows:
                    if row.once and AuditEntry.objects.filter(**{name: row.fields[name] for name in row.once}).exists():
                        continue
                    seq += 1
                    values = {"seq": seq, "until": None, **row.fields}
                    digest = chain.entry_hash(previous, values)
                    entries.append(AuditEntry(**values, previous_hash=previous, hash=digest))
                    previous = digest
                AuditEntry.objects.bulk_create(entries)
                head.last_seq, head.last_hash = seq, previous
                head.save(update_fields=["last_seq", "last_hash"])
            return
        except IntegrityError:  # two processes created the head at once: the next attempt finds it
            if attempt == 2:
                raise


_writer = AuditWriter()
EXIT_FLUSH_SECONDS = 10.0


def get_writer() -> AuditWriter:
    return _writer


def flush_at_exit() -> None:
    """Write what is queued when the process exits normally (manage.py, the capture supervisor)."""
    atexit.register(_writer.flush, EXIT_FLUSH_SECONDS)


async def lifespan(
    scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
) -> None:
    """The ASGI lifespan (nvr.asgi): at shutdown, write what is queued before the server exits.

    atexit is not enough under uvicorn: it ends a graceful stop by raising the signal it caught again
    with the handler it found (uvicorn 0.55, server.py `signal.raise_signal`), so the process dies of
    SIGTERM without running atexit, and the rows of views that ended during the stop were lost.
    """
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await asyncio.to_thread(_writer.flush, EXIT_FLUSH_SECONDS)
            await send({"type": "lifespan.shutdown.complete"})
            return
