"""`/healthz` for probes and proxies: 200 when the database and Redis answer, else 503.

No authentication and nothing secret in the answer. Async, and it never blocks the event loop:
the database is asked through Django's sync thread, Redis through the hub's ViewBus, each under
CHECK_TIMEOUT, so a hung dependency is a 503 instead of a stuck worker.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from streaming.hub import get_hub

CHECK_TIMEOUT = 2.0  # seconds a dependency may take before it counts as down
NO_STORE = {"Cache-Control": "no-store"}


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _check(probe: Callable[[], Awaitable[object]]) -> dict:
    """Run one probe under the timeout; the result names the failure, never its details."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe()
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:g}s"}
    except Exception as error:  # noqa: BLE001 - any failure is the answer; messages may hold hosts
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _recordings() -> dict:
    """The store as this process sees it. Not a reason for 503: the web service may mount it read-only,
    and live view works without it; an unwritable store makes the status "degraded"."""
    store = Path(settings.RECORDINGS_DIR)
    if not store.is_dir():
        return {"ok": False, "error": "the recordings store does not exist"}
    writable = os.access(store, os.W_OK | os.X_OK)
    free = shutil.disk_usage(store).free
    return {"ok": writable, "writable": writable, "free_bytes": free, **({} if writable else {"error": "not writable"})}


@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis answer, else 503, with one entry per check.

    The recordings store is reported too: an unwritable or missing store gives `"status": "degraded"`
    (still 200: live view and review of what is stored still work).
    """
    database, redis = await asyncio.gather(_check(sync_to_async(_select_one)), _check(get_hub().bus.ping))
    recordings = await asyncio.to_thread(_recordings)
    healthy = database["ok"] and redis["ok"]
    status = ("ok" if recordings["ok"] else "degraded") if healthy else "unavailable"
    body = {"status": status, "checks": {"database": database, "redis": redis, "recordings": recordings}}
    return JsonResponse(body, status=200 if healthy else 503, headers=NO_STORE)
