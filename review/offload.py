"""Reads of unbounded size, run off the event loop and off asgiref's one thread-sensitive ORM thread.

Django's async ORM and `sync_to_async` (thread-sensitive, the default) run every database call of a
web process on one thread. Live viewing needs that thread for its own short lookups (tokens, sessions,
the `/healthz` database check), so a 7-day playlist read there (60,000 rows) held everyone up: four at
once gave `/healthz` 3.1 s and every live stream a 2.2 s gap (issue #22). Such reads, and the work on
their rows (parsing, building a playlist, decoding a preview), run here instead: in a pool of
READ_THREADS threads, so four heavy requests queue for it rather than taking the process's CPU (and
the GIL) from the live streams. Long loops hand the GIL over every YIELD_EVERY rows, and keep no rows
they are done with (review.selectors says why). Django's connections belong to their thread: each job
closes its own when it ends, and sees committed rows only (tests that reach these reads through
Django's test client need `django_db(transaction=True)`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

# Heavy reads at once per web process; more wait their turn. One: measured beside 100 live viewers
# (bench.long_requests, same machine, back to back), two threads gave a longest live gap of 129 ms and
# /healthz 240 ms at worst, one 116 ms and 69 ms, and served the 7-day playlists faster (1.8 against 2.4 s).
READ_THREADS = 1
YIELD_EVERY = 2000  # rows or segments between two `let_others_run()` in a long loop

P = ParamSpec("P")
R = TypeVar("R")

_pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="nvr-read")


async def off_loop(function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`function(*args, **kwargs)` in the read pool, its database connections closed when it returns."""

    def job() -> R:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return await sync_to_async(job, thread_sensitive=False, executor=_pool)()


def let_others_run() -> None:
    """Hand the GIL over now, in a long loop of Python work: a thread waiting for it (the event loop's,
    with the next live frame) otherwise waits for the running one's switch interval (5 ms) every time."""
    time.sleep(0)
