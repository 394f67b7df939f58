"""The recordings' housekeeper beside each capture supervisor: reconcile once, then retention, one at a time.

Several supervisors may run (on several hosts sharing one store); a Redis lease makes one of them
the keeper at a time, and a keeper that dies is replaced within a lease. The work runs in its own
thread, so deleting many files never delays the supervisor's own lease renewals.

With a bucket (RECORDINGS_S3_URL), each keeper also runs a mover (recordings.tier) on its host, lease or
not: per-segment claims keep hosts from uploading the same segment, and a long catch-up never delays
the lease renewals either.
"""

from __future__ import annotations

import logging
import threading

from django.db import DatabaseError, close_old_connections

from events.health import Notify, Problems
from recordings.reconcile import reconcile
from recordings.retention import RETENTION_INTERVAL, enforce
from recordings.space import check_space
from recordings.store import bucket_of, get_store
from recordings.tier import Mover

log = logging.getLogger(__name__)

LEASE_NAME = ":recordings"  # a lease key no camera slug can take (slugs have no colon)
LEASE_SECONDS = RETENTION_INTERVAL * 3


class Keeper(threading.Thread):
    """Runs until stop(): holds the keeper lease when it can, reconciles once per lease, enforces retention."""

    def __init__(self, bus, owner: str, *, interval: float = RETENTION_INTERVAL, notify: Notify | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(name="recordings-keeper", daemon=True)
        self.bus, self.owner, self.interval = bus, owner, interval
        self.problems = Problems(notify)  # the store's health: the keeper is its one decider
        self.stop_event = threading.Event()
        self.holding = False

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        mover = Mover(self.bus, self.owner) if bucket_of(get_store()) is not None else None
        if mover is not None:
            mover.start()
        try:
            self._keep()
        finally:
            if mover is not None:
                mover.stop()
                mover.join(timeout=10)

    def _keep(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.step()
            except DatabaseError as error:  # the database is away: one line, the next pass tries again
                log.warning("recordings keeper: database unavailable (%s); retrying", type(error).__name__)
            except Exception:  # the keeper must outlive a bad pass (a full disk, a bug)
                log.exception("recordings keeper: pass failed; retrying")
            self.stop_event.wait(self.interval)
        if self.holding:
            try:
                self.bus.release_lease(LEASE_NAME, self.owner)
            except Exception:  # noqa: BLE001 - Redis away: the lease expires by itself
                pass

    def step(self) -> None:
        if self.holding:
            self.holding = self.bus.renew_lease(LEASE_NAME, self.owner, LEASE_SECONDS)
        if not self.holding:
            self.holding = self.bus.acquire_lease(LEASE_NAME, self.owner, LEASE_SECONDS)
            if not self.holding:
                return
            close_old_connections()
            repairs = reconcile()
            log.info("recordings keeper: this supervisor keeps the store; reconcile: %s", repairs)
        close_old_connections()
        enforce()
        check_space(self.problems)
