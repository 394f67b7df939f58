"""Camera status for sync code (admin, commands): read from the bus, briefly cached."""

from __future__ import annotations

import time
from functools import lru_cache

from django.conf import settings

from framebus import BUS_ERRORS, SyncBus

_CACHE_SECONDS = 1.0
_cache: dict[str, object] = {"at": 0.0, "statuses": {}}


@lru_cache(maxsize=1)
def sync_bus() -> SyncBus:
    return SyncBus(settings.REDIS_URL)


def all_statuses(slugs: list[str]) -> dict[str, dict]:
    """Statuses of `slugs`; {} for each when Redis is away (the page still renders)."""
    now = time.monotonic()
    cached: dict[str, dict] = _cache["statuses"]  # type: ignore[assignment]
    if now - _cache["at"] > _CACHE_SECONDS or not set(slugs) <= cached.keys():
        try:
            cached = sync_bus().statuses(slugs)
        except BUS_ERRORS:
            cached = {slug: {"state": "unknown", "last_error": "Redis unavailable"} for slug in slugs}
        _cache.update(at=now, statuses=cached)
    return {slug: cached.get(slug, {}) for slug in slugs}


def describe(status: dict, *, enabled: bool = True) -> dict:
    """Status fields as people read them: state, fps, frame age in seconds."""
    if not enabled:
        return {"state": "disabled", "fps": 0.0, "age": None, "error": ""}
    if not status:
        return {"state": "offline", "fps": 0.0, "age": None, "error": "no capture worker reports this camera"}
    last = status.get("last_frame_ts") or 0.0
    return {
        "state": status.get("state", "offline"),
        "fps": status.get("fps", 0.0),
        "age": round(time.time() - last, 1) if last else None,
        "error": status.get("last_error", ""),
    }
