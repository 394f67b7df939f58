"""What the rest of nvr calls to record something; every call only queues a row (audit.writer).

Imports nothing of ours: sign-ins (accounts), live views (streaming.hub), playback and clips
(review) and changes (audit.tracking) all call down to it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from audit.models import Kind
from audit.writer import Pending, get_writer

__all__ = ["Actor", "Kind", "ViewAudit", "record", "record_view", "token_used"]

TOKEN_ADDRESSES_REMEMBERED = 100_000  # (token, address) pairs this process knows were recorded


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, a user's token, or nobody known (a failed sign-in names the username tried)."""

    user_id: int | None = None
    username: str = ""
    token_id: int | None = None
    address: str = ""

    @classmethod
    def of(cls, user: Any, *, address: str = "", token_id: int | None = None) -> Actor:
        """The actor for a user model instance (or None / an anonymous user)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(address=address, token_id=token_id)
        return cls(user_id=user.pk, username=user.get_username(), token_id=token_id, address=address)


SYSTEM = Actor(username="(system)")


def _fields(kind: Kind, actor: Actor, camera: tuple[int, str] | None, detail: dict | None, at: dt.datetime) -> dict:
    return {
        "at": at,
        "kind": kind.value,
        "user_id": actor.user_id,
        "username": actor.username[:150],
        "token_id": actor.token_id,
        "camera_id": camera[0] if camera else None,
        "camera": camera[1] if camera else "",
        "address": actor.address[:45],
        "detail": detail or {},
    }


def record(
    kind: Kind,
    *,
    actor: Actor = SYSTEM,
    camera: tuple[int, str] | None = None,
    detail: dict | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Queue one entry. `camera` is (id, slug); `detail` must be JSON (strings, numbers, lists, dicts)."""
    get_writer().put(Pending(_fields(kind, actor, camera, detail, at or timezone.now())))


@dataclass(frozen=True)
class ViewAudit:
    """What a long response shows and to whom, for its row when it ends (streaming.hub.Hub.viewer)."""

    actor: Actor
    cameras: tuple[tuple[int, str], ...]  # (id, slug) of each camera shown
    stream: str = "live"  # what it was: "live", "grid"


def record_view(view: ViewAudit, *, started: dt.datetime, ended: dt.datetime, frames: int) -> None:
    """One row per camera shown, written when the view ends: never one per frame."""
    detail = {"stream": view.stream, "seconds": round((ended - started).total_seconds(), 3), "frames": frames}
    for camera in view.cameras:
        fields = _fields(Kind.LIVE_VIEW, view.actor, camera, detail, started)
        get_writer().put(Pending({**fields, "until": ended}))


_token_addresses: set[tuple[int, str]] = set()
_token_lock = threading.Lock()


def token_used(actor: Actor) -> None:
    """Note a token's use; the first use from an address is recorded (once, across processes and restarts)."""
    if actor.token_id is None:
        return
    pair = (actor.token_id, actor.address)
    with _token_lock:
        if pair in _token_addresses:
            return
        if len(_token_addresses) >= TOKEN_ADDRESSES_REMEMBERED:
            _token_addresses.clear()
        _token_addresses.add(pair)
    fields = _fields(Kind.TOKEN_NEW_ADDRESS, actor, None, {}, timezone.now())
    get_writer().put(Pending(fields, once=("kind", "token_id", "address")))


def forget_token_addresses() -> None:
    """Forget which (token, address) pairs were seen (tests)."""
    with _token_lock:
        _token_addresses.clear()


def cameras_of(rows: Iterable[Any]) -> tuple[tuple[int, str], ...]:
    """(id, slug) of camera rows, for ViewAudit."""
    return tuple((row.pk, row.slug) for row in rows)
