"""The store's health after a retention pass: low on space, or over its byte budget (health events).

Retention deletes the oldest footage to stay under RECORDINGS_MAX_SIZE and above RECORDINGS_MIN_FREE;
what it could not reach (nothing left to delete, another program filling the disk) is a problem an
operator must hear about: one event per problem (events.health), closed when a later pass finds it gone.
The keeper decides it (one per install at a time), never the web processes.
"""

from __future__ import annotations

import time

from django.conf import settings

from events.health import Problems
from events.kinds import EventKind
from recordings.retention import store_bytes
from recordings.store import Store, get_store


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def check_space(problems: Problems, store: Store | None = None) -> None:
    """Open or close the store's low-space and over-budget problems, from what the store says now."""
    store = store or get_store()
    now = time.time()
    space = store.space()
    if space is not None:
        floor = settings.RECORDINGS_MIN_FREE.of(space.total)
        if space.free < floor:
            detail = f"{_megabytes(space.free)} free, under the floor of {_megabytes(floor)}"
            problems.open(EventKind.LOW_SPACE, None, detail, now)
        else:
            problems.close(EventKind.LOW_SPACE, None, now)
    budget = settings.RECORDINGS_MAX_SIZE
    used = store_bytes() if budget else 0
    if budget and used > budget:
        problems.open(
            EventKind.OVER_BUDGET, None, f"{_megabytes(used)} stored, over the budget of {_megabytes(budget)}", now
        )
    else:
        problems.close(EventKind.OVER_BUDGET, None, now)
