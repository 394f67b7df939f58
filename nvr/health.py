"""`/healthz` for probes and proxies: 200 when the database and Redis answer, else 503.

No authentication and nothing secret in the answer. Async, and it never blocks the event loop:
the database is asked through Django's sync thread, Redis through the hub's ViewBus, each under
CHECK_TIMEOUT, so a hung dependency is a 503 instead of a stuck worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from cameras.models import Camera
from framebus.crops import DetectorState
from framebus.status import CameraStatus
from recordings import tier
from recordings.models import RecordMode
from recordings.store import get_store
from streaming.errors import NO_STORE
from streaming.hub import get_hub

CHECK_TIMEOUT = 2.0  # seconds a dependency may take before it counts as down


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


def _store() -> dict:
    """The store as this process sees it: there, and readable (the web service mounts it read-only)."""
    store = get_store()
    space = store.space()
    if not store.readable() or space is None:
        return {"ok": False, "error": "the recordings store is missing or unreadable here"}
    return {"ok": True, "free_bytes": space.free}


async def _recordings() -> dict:
    """The store here, and what the capture workers report of writing to it (an unwritable store shows
    there as a camera's recording error). Not a reason for 503: live view works without it."""
    result = await asyncio.to_thread(_store)
    try:
        recorded = Camera.objects.exclude(record=RecordMode.OFF).values_list("slug", flat=True)
        slugs = [slug async for slug in recorded]
        async with asyncio.timeout(CHECK_TIMEOUT):
            statuses = await get_hub().bus.statuses(slugs)
    except Exception:  # noqa: BLE001 - the database or Redis checks say what is wrong
        return result
    problems = (CameraStatus.from_fields(raw).recording_error for raw in statuses.values())
    errors = sorted({problem for problem in problems if problem})
    if settings.RECORDINGS_S3_URL:
        result["upload"] = upload = await _upload()
        if not upload["ok"]:
            errors.append(upload["error"])
    if errors:
        result.update(ok=False, error="; ".join(errors))
    return result


async def _detection() -> dict:
    """Object detection: off without a model; else what the detector reports (its model's error, word for
    word: a file name at most). Not a reason for 503: motion events go on without it."""
    if not settings.DETECTOR_MODEL:
        return {"ok": True, "state": DetectorState.OFF.value}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            status = await get_hub().bus.detector_status()
    except Exception:  # noqa: BLE001 - the Redis check says what is wrong
        return {"ok": False, "state": DetectorState.NOT_RUNNING.value}
    if status is None:
        return {"ok": False, "state": DetectorState.NOT_RUNNING.value, "error": "no detector process reports"}
    result = {"ok": status.healthy, "state": status.state.value}
    if status.message:
        result["error"] = status.message
    if status.provider:
        result["provider"] = status.provider
    return result


async def _upload() -> dict:
    """How far behind the move to the bucket is (recordings.tier): due segments still local, and how long
    the oldest has waited past RECORDINGS_TIER_AFTER; behind past tier.BEHIND_LIMIT (a bucket outage)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            backlog = await sync_to_async(tier.backlog)()
    except Exception as error:  # noqa: BLE001 - the database check says what is wrong
        return {"ok": False, "error": f"upload backlog unknown ({type(error).__name__})"}
    answer: dict[str, object] = {
        "ok": not backlog.behind,
        "pending_segments": backlog.segments,
        "pending_bytes": backlog.bytes,
        "seconds_behind": round(backlog.seconds_behind, 1),
    }
    if backlog.behind:
        answer["error"] = f"the upload to the bucket is {backlog.seconds_behind / 3600:.1f} h behind"
    return answer


@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis answer, else 503, with one entry per check.

    Object detection is reported too (a model that cannot be used, or no detector running: "degraded").
    The recordings store is reported too: missing here, or a recording error reported by the capture
    workers (a full, read-only or unwritable store), gives `"status": "degraded"` (still 200: live view
    and review of what is stored still work).
    """
    database, redis = await asyncio.gather(_check(sync_to_async(_select_one)), _check(get_hub().bus.ping))
    recordings, detection = await asyncio.gather(_recordings(), _detection())
    healthy = database["ok"] and redis["ok"]
    status = ("ok" if recordings["ok"] and detection["ok"] else "degraded") if healthy else "unavailable"
    checks = {"database": database, "redis": redis, "recordings": recordings, "detection": detection}
    body = {"status": status, "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503, headers=NO_STORE)
