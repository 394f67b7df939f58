"""Segment grants: what a playlist puts in its segment URIs instead of the caller's credential.

A playlist fetched with `?token=` used to carry that token into every segment URI, so a playlist
copied from a proxy log or a player's cache was the token itself (issue #22). Each segment URI now
carries a grant instead: signed with SECRET_KEY (an HMAC-SHA256, cut to 128 bits: a 7-day playlist
names it 120,960 times, so its length is the playlist's size), scoped to one camera (its id),
the playlist's span and the principal that fetched it, and expiring GRANT_SLACK after the playlist's
own length. A grant is never enough on its own: every segment request re-checks its principal through
streaming.auth's memoised lookups, so a revoked token, a deactivated user or an ended session stops
playback within streaming.auth.ACCESS_MEMO_SECONDS (1 s), as it did with the token in the URI.

Principals: a stream token (by its id, never its secret), or a user whose segment requests carry a
credential of theirs: the session that fetched the playlist (named by an HMAC of its key) or HTTP
Basic. ffmpeg and VLC resolve the relative segment URIs with their grants, so a playlist URL with
`?token=` plays as it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac

from cameras.models import Camera
from recordings.models import Segment
from streaming.auth import Access, request_access, token_id_access
from streaming.errors import Unauthorized

GRANT_SALT = "nvr.review.segment-grant"
GRANT_SLACK = dt.timedelta(hours=1)  # a grant outlives its playlist's span by this much (pauses, slow players)
_SESSION_SALT = "nvr.review.grant-session"


class Principal(StrEnum):
    """Who fetched the playlist, and so whose credential each segment request is checked against."""

    TOKEN = "t"  # a stream token, by id
    SESSION = "s"  # a logged-in user, in the session that fetched the playlist
    BASIC = "b"  # a user by HTTP Basic (VLC with user:password@)


def _session_mark(session_key: str) -> str:
    return salted_hmac(_SESSION_SALT, session_key, algorithm="sha256").hexdigest()[:20]


def _signature(payload: str) -> str:
    digest = salted_hmac(GRANT_SALT, payload, algorithm="sha256").digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Grant:
    """What one signed grant says (times are Unix seconds)."""

    camera_id: int
    start: int
    end: int
    expires: int
    principal: Principal
    subject: int  # the token's id, or the user's
    session: str = ""  # for Principal.SESSION: an HMAC of the session key

    def encode(self) -> str:
        """`camera.start.end.expires.<principal><subject>[-session].<signature>`, numbers in hex."""
        who = f"{self.principal}{self.subject:x}" + (f"-{self.session}" if self.session else "")
        payload = f"{self.camera_id:x}.{self.start:x}.{self.end:x}.{self.expires:x}.{who}"
        return f"{payload}.{_signature(payload)}"

    @classmethod
    def decode(cls, raw: str) -> Grant:
        """The grant in `raw`; PermissionDenied when it was not made here, was altered, or expired."""
        payload, _, signature = raw.rpartition(".")
        if not constant_time_compare(signature, _signature(payload)):
            raise PermissionDenied("This segment's grant is not valid: fetch the playlist again.")
        try:
            camera, start, end, expires, who = payload.split(".")
            subject, _, session = who[1:].partition("-")
            grant = cls(
                int(camera, 16), int(start, 16), int(end, 16), int(expires, 16), Principal(who[:1]), int(subject, 16),
                session,
            )  # fmt: skip
        except ValueError:
            raise PermissionDenied("This segment's grant is not valid: fetch the playlist again.") from None
        if time.time() > grant.expires:
            raise PermissionDenied("This playlist has expired: fetch it again.")
        return grant

    def covers(self, segment: Segment) -> bool:
        """Whether `segment` lies in the grant's span (it may overlap its ends)."""
        return segment.start.timestamp() < self.end and segment.end.timestamp() > self.start


def issue(camera: Camera, access: Access, start: dt.datetime, end: dt.datetime) -> str:
    """A grant for the segments of `camera` in [start, end), to the principal of `access`."""
    expires = int(time.time() + (end - start + GRANT_SLACK).total_seconds())
    span = (camera.pk, int(start.timestamp()), int(end.timestamp()) + 1, expires)
    if access.token_id is not None:
        return Grant(*span, Principal.TOKEN, access.token_id).encode()
    assert access.user is not None  # a session or Basic access always has its user
    if access.session_key:
        return Grant(*span, Principal.SESSION, access.user.pk, _session_mark(access.session_key)).encode()
    return Grant(*span, Principal.BASIC, access.user.pk).encode()


async def granted_camera(request: HttpRequest, raw: str, slug: str) -> tuple[Camera, Grant]:
    """The camera a segment request's grant opens, after re-checking its principal now.

    Unauthorized when the principal's credential is gone (a revoked token, a deactivated user, an
    ended session) or absent; Http404 when the camera is not the grant's or no longer visible to it.
    """
    grant = Grant.decode(raw)
    access = await _principal_access(request, grant)
    if access is None:
        raise Unauthorized("The credential that fetched this playlist is no longer valid.")
    camera = await access.camera(slug)
    if camera is None or camera.pk != grant.camera_id:
        raise Http404("No such camera.")
    return camera, grant


async def _principal_access(request: HttpRequest, grant: Grant) -> Access | None:
    if grant.principal is Principal.TOKEN:
        return await token_id_access(grant.subject)
    access = await request_access(request)
    if access is None or access.user is None or access.user.pk != grant.subject or access.token_id is not None:
        return None
    if grant.principal is Principal.SESSION:
        same = bool(access.session_key) and constant_time_compare(_session_mark(access.session_key), grant.session)
        return access if same else None
    return access if access.password and not access.session_key else None
