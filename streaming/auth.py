"""Who is asking for a stream or snapshot: a session, a stream token, or HTTP Basic.

Stream clients reconnect often and in crowds, and Django's password hasher costs
about 0.2 s of CPU per check (docs/facts.md), so a Basic credential is verified once and the
result remembered briefly, keyed by an HMAC of the header (never the password), and
concurrent checks of the same header share one verification. A username with no
account is refused without a hash, and accounts.throttle refuses an account after repeated
failures from one address, so a burst of wrong credentials cannot queue hashes ahead of other
users; every refusal takes as long as a real check, so timing tells no one which accounts
exist or are locked. A credential verified before passes a lock (accounts.throttle), so a stranger
guessing cannot cut off the stream clients that hold the password.
Tokens cost one indexed lookup of a SHA-256.

Second factors (accounts.policy): a session of a user the policy covers opens nothing until the user
has one, and Basic, which can carry only a password, is refused for accounts that have a second factor
or that the policy covers (they use a stream token, which is unaffected). Basic sign-ins, their
failures, and a token's first use from a new address go to the audit trail (audit.log).

Crowds of stream clients share a credential (a wall of displays, a reconnect storm after
a restart, every viewer's re-check every 15 s): token lookups, session lookups, camera lookups
and re-checks are answered once per ACCESS_MEMO_SECONDS for all of them (bench/README.md: 2,000 viewers
connecting kept the one ORM thread busy for seconds and starved the frame writes). So a
revoked token or an ended session opens no new stream after at most that long, in every web process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import policy, throttle
from audit.log import Actor, Kind, record, token_used
from audit.tracking import sign_in_method
from cameras.models import Camera
from cameras.selectors import visible_cameras
from streaming.models import StreamToken, hash_token

BASIC_OK_SECONDS = 60.0
BASIC_FAIL_SECONDS = 5.0
MAX_CONCURRENT_PASSWORD_CHECKS = 2  # a burst of wrong passwords cannot take every core
REAL_CHECK_SECONDS = 0.01  # a check that took longer computed a hash (a locked account takes no time)
ACCESS_MEMO_SECONDS = 1.0  # how long a token lookup, camera lookup or re-check answers for everyone


class SingleFlightCache:
    """Recent answers of an async lookup by key; concurrent callers of one key share one lookup.

    The one cache of this module: token lookups, camera lookups, re-checks and Basic verifications.
    `seconds` is how long an answer stands, a number or a function of the answer (a verified Basic
    credential stands longer than a refused one).
    """

    def __init__(self, seconds: float | Callable[[Any], float], limit: int = 10_000) -> None:
        self.seconds, self.limit = seconds, limit
        self._values: dict = {}
        self._pending: dict = {}

    def peek(self, key: Any) -> Any:
        """The standing answer for `key`, or None (no lookup)."""
        hit = self._values.get(key)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def forget(self, key: Any) -> None:
        self._values.pop(key, None)

    async def get(self, key: Any, lookup: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._values.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await lookup()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: nobody may be waiting
            raise
        finally:
            del self._pending[key]
        if len(self._values) >= self.limit:
            self._values.clear()
        seconds = self.seconds(value) if callable(self.seconds) else self.seconds
        self._values[key] = (value, time.monotonic() + seconds)
        future.set_result(value)
        return value

    def clear(self) -> None:
        self._values.clear()


_tokens = SingleFlightCache(ACCESS_MEMO_SECONDS)
_cameras = SingleFlightCache(ACCESS_MEMO_SECONDS)
_rechecks = SingleFlightCache(ACCESS_MEMO_SECONDS)
_sessions = SingleFlightCache(ACCESS_MEMO_SECONDS)  # by session key: the session's and its user's rows
_token_ids = SingleFlightCache(ACCESS_MEMO_SECONDS)  # by token id: a playlist's segment grants (review.grants)
# Basic verifications: (user id, the password hash it matched) or None, keyed by an HMAC of the header.
_basic = SingleFlightCache(lambda verified: BASIC_OK_SECONDS if verified else BASIC_FAIL_SECONDS)


@dataclass(frozen=True)
class Access:
    """What a request may watch: a user's cameras, or a token limited to one camera."""

    user: Any | None = None  # a user model instance
    camera_id: int | None = None  # set for a per-camera token
    group_id: int | None = None  # set for a camera group's token (a wall screen's kiosk)
    token_id: int | None = None  # set when granted by a stream token
    # For a session or HTTP Basic: the user's password hash when access was granted (a password change
    # ends the access) and the session's key (logging out ends it).
    password: str = ""
    session_key: str = ""

    def cameras(self) -> QuerySet[Camera]:
        """The cameras this access may watch, in grid order (none without a user: never "all cameras")."""
        cameras = visible_cameras(self.user) if self.user is not None else Camera.objects.none()
        if self.camera_id is not None:
            cameras = cameras.filter(pk=self.camera_id)
        if self.group_id is not None:  # the group's cameras, in its order (a group never grants one)
            cameras = cameras.filter(memberships__group_id=self.group_id).order_by("memberships__position")
        return cameras

    @property
    def key(self) -> tuple:
        """Who this access is, for memoised lookups."""
        user = self.user.pk if self.user is not None else None
        return (user, self.camera_id, self.group_id, self.token_id, self.session_key, self.password)

    async def camera(self, slug: str) -> Camera | None:
        """The camera if this access may watch it, else None (unknown and forbidden look alike)."""
        return await _cameras.get((self.key, slug), lambda: self.cameras().filter(slug=slug).afirst())

    async def still_allows(self, slug: str, *, fresh: bool = False) -> bool:
        """Re-check an open stream: a revoked token, a deactivated user or a removed permission ends it.

        `fresh` asks the database now instead of sharing the answer of the last ACCESS_MEMO_SECONDS
        (clips: a revoked token ends a download within 2 s; there are few of them, not crowds).
        """
        if fresh:
            return await self._still_allows(slug)
        return await _rechecks.get((self.key, slug), lambda: self._still_allows(slug))

    async def _still_allows(self, slug: str) -> bool:
        if (
            self.token_id is not None
            and not await StreamToken.objects.filter(pk=self.token_id, revoked_at__isnull=True).aexists()
        ):
            return False
        if self.user is not None:
            password = await (
                get_user_model().objects.filter(pk=self.user.pk, is_active=True).values_list("password", flat=True)
            ).afirst()
            if password is None or (self.password and password != self.password):
                return False  # deactivated, deleted, or the password changed
        if self.session_key and not await sync_to_async(_session_exists)(self.session_key):
            return False  # logged out (or the session expired)
        return await self.cameras().filter(slug=slug).aexists()


def _session_exists(key: str) -> bool:
    engine = import_module(settings.SESSION_ENGINE)
    return bool(engine.SessionStore().exists(key))


_password_checks: asyncio.Semaphore | None = None
_check_seconds = 0.2  # how long a password check takes here (moving average; docs/facts.md: ~0.2 s for PBKDF2)


def _cache_key(header: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), header.encode(), hashlib.sha256).digest()


BASIC = "http-basic"


def _check_password(username: str, password: str, address: str = "", credential: str = "") -> tuple[int, str] | None:
    """The throttled backend's check, counted against the client's address (accounts.throttle).

    A right password of an account that needs a second factor is refused like a wrong one (and audited).
    """
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = address
    sign_in_method.set(BASIC)  # this thread's context only: the failure signal names the method
    user = authenticate(request, username=username, password=password, credential=credential or None)
    if user is None or not user.is_active:
        return None
    actor = Actor.of(user, address=address)
    if not policy.password_only_allowed(user):
        record(Kind.SIGN_IN_FAILED, actor=actor, detail={"method": BASIC, "reason": "second factor required"})
        return None
    record(Kind.SIGN_IN, actor=actor, detail={"method": BASIC})
    return (user.pk, user.password)


async def _account_exists(username: str) -> bool:
    model = get_user_model()
    return await model._default_manager.filter(**{model.USERNAME_FIELD: username}).aexists()


async def _basic_user_id(header: str, address: str) -> int | None:
    """The user id for an `Authorization: Basic ...` header, verified at most once per minute."""
    verified = await _basic.get(_cache_key(header), lambda: _verify_basic(header, address))
    return verified[0] if verified else None


async def _verify_basic(header: str, address: str) -> tuple[int, str] | None:
    """One password check: (user id, password hash), or None no sooner than a real check takes."""
    started = time.monotonic()
    checked = await _check_basic(header, address)
    if checked is None:
        # Unknown, locked and wrong answer alike, so timing does not reveal which accounts exist.
        await asyncio.sleep(max(0.0, _check_seconds - (time.monotonic() - started)))
    return checked


async def _check_basic(header: str, address: str) -> tuple[int, str] | None:
    global _password_checks, _check_seconds
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode("utf-8")
        username, password = decoded.split(":", 1)
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if _password_checks is None:
        _password_checks = asyncio.Semaphore(MAX_CONCURRENT_PASSWORD_CHECKS)
    if not await _account_exists(username):
        # Made-up usernames (a spray) cost no hash and queue nothing ahead of real users; they are
        # counted like real ones, so a lockout does not tell which accounts exist either.
        await sync_to_async(throttle.record_failure, thread_sensitive=False)(username, address)
        record(Kind.SIGN_IN_FAILED, actor=Actor(username=username, address=address), detail={"method": BASIC})
        return None
    async with _password_checks:
        started = time.monotonic()
        checked = await sync_to_async(_check_password, thread_sensitive=False)(
            username, password, address, _cache_key(header).hex()
        )
        took = time.monotonic() - started
        if took > REAL_CHECK_SECONDS:
            _check_seconds += (took - _check_seconds) * 0.2
    return checked


async def token_access(token: str) -> Access | None:
    """What a stream token grants (memoised for crowds), or None: unknown, revoked, or its owner gone."""
    if not 8 <= len(token) <= 200:
        return None
    return await _tokens.get(hash_token(token), lambda: _lookup_token(token))


async def _lookup_token(token: str) -> Access | None:
    row = await (
        StreamToken.objects.select_related("user").filter(key_hash=hash_token(token), revoked_at__isnull=True).afirst()
    )
    if row is None or not hmac.compare_digest(row.key_hash, hash_token(token)):
        return None
    return _token_grants(row)


async def token_id_access(token_id: int) -> Access | None:
    """What the stream token with this id grants now (memoised like token_access), or None: revoked, or its
    owner gone. A playlist's segment grants name their token by id, never by its secret (review.grants)."""
    return await _token_ids.get(token_id, lambda: _lookup_token_id(token_id))


async def _lookup_token_id(token_id: int) -> Access | None:
    row = await StreamToken.objects.select_related("user").filter(pk=token_id, revoked_at__isnull=True).afirst()
    return None if row is None else _token_grants(row)


def _token_grants(row: StreamToken) -> Access | None:
    if row.user is not None and not row.user.is_active:
        return None
    return Access(user=row.user, camera_id=row.camera_id, group_id=row.group_id, token_id=row.pk)


async def request_access(request: HttpRequest) -> Access | None:
    """Access granted by the request's session, `?token=`, or Basic header; None if none is valid.

    A token or Basic header that is present but wrong refuses the request even when a
    session exists, so a bad credential never silently falls back.
    """
    token = request.GET.get("token")
    if token is not None:
        access = await token_access(token)
        if access is not None:
            token_used(actor_of(access, request))
        return access
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        if len(header) > 1024:
            return None
        user_id = await _basic_user_id(header, throttle.client_address(request))
        if user_id is None:
            return None
        basic_user = await get_user_model().objects.filter(pk=user_id, is_active=True).afirst()
        if basic_user is None:
            return None
        key = _cache_key(header)
        verified = _basic.peek(key)
        if not verified or verified[1] != basic_user.password:  # the password changed since: this header is stale
            _basic.forget(key)
            return None
        return Access(user=basic_user, password=basic_user.password)
    session_key = getattr(request, "session", None) and request.session.session_key
    if not session_key:
        return None  # no session cookie: nobody to look up
    return await _sessions.get(session_key, lambda: _session_access(request, session_key))


async def _session_access(request: HttpRequest, session_key: str) -> Access | None:
    session_user = await request.auser()
    if not session_user.is_authenticated:
        return None
    if policy.mfa_policy() != policy.MfaPolicy.OFF:
        methods = await request.session.aget(policy.SESSION_METHODS_KEY)
        if not await policy.amfa_satisfied(session_user, methods):
            return None  # no stream until the user has a second factor (the pages lead them to enrol)
    return Access(user=session_user, password=session_user.password, session_key=session_key)


def actor_of(access: Access, request: HttpRequest) -> Actor:
    """Who this access is, for the audit trail: the user (a token's owner), the token, the client's address."""
    return Actor.of(access.user, address=throttle.client_address(request), token_id=access.token_id)


def forget_cached_credentials() -> None:
    """Drop remembered Basic verifications and access lookups (after a password change, and in tests)."""
    for memo in (_tokens, _token_ids, _sessions, _cameras, _rechecks, _basic):
        memo.clear()
