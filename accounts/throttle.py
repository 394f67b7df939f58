"""Login throttling: an account that keeps failing to log in is refused for a while.

Django checks a password but never slows down whoever guesses it. Here repeated failures
lock the account for LOCK_SECONDS, counted in two buckets:

- per account and client address: MAX_FAILURES failures (5) lock that account from that
  address; the same account from elsewhere, and every other account, are unaffected;
- per account from anywhere: ACCOUNT_MAX_FAILURES failures (20) lock the account everywhere,
  which slows a guesser spread over many addresses.

There is no bucket per address alone: behind a reverse proxy or a NAT every user shares one
address, and one guesser would lock all of them out.

The check sits in the authentication backend (`ThrottledModelBackend`), so every way in is
covered by one rule: the login page, the admin login, and HTTP Basic on streams (counted by
the client's address like the others). A refused attempt costs no password hash, so a burst
of guesses cannot queue hashes ahead of other users. The login forms (nvr.login) check first
and say how long to wait.

A lock must not cut off the clients that already hold the password: a Basic credential that
was verified once (remembered by an HMAC of its header, never the password) is still checked
during a lock, so VLC, ffmpeg and Home Assistant keep their streams while a stranger guesses.

The login forms also cap POSTs per address (ADDRESS_MAX_LOGINS a minute, generous: a whole
office behind one NAT logs in at once), since every POST costs a full password hash.

Counters live in Django's cache, which settings point at Redis: every web process shares the
counts and a restart keeps them. If the cache fails, logins are let through (and logged): an
unreachable cache must not lock every operator out.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.policy import local_login_allows

log = logging.getLogger(__name__)

MAX_FAILURES = 5
ACCOUNT_MAX_FAILURES = 20
LOCK_SECONDS = 60.0
ADDRESS_MAX_LOGINS = 30  # login form POSTs per address per ADDRESS_WINDOW_SECONDS
ADDRESS_WINDOW_SECONDS = 60.0
VERIFIED_SECONDS = 30 * 86400.0  # how long a verified Basic credential passes a lock
_PREFIX = "nvr:login"


def client_address(request: HttpRequest | None) -> str:
    """The address a request came from ("" without a request)."""
    if request is None:
        return ""
    return str(getattr(request, "META", {}).get("REMOTE_ADDR", ""))


def _limits() -> tuple[int, int, float]:
    return (
        int(getattr(settings, "NVR_LOGIN_MAX_FAILURES", MAX_FAILURES)),
        int(getattr(settings, "NVR_LOGIN_ACCOUNT_MAX_FAILURES", ACCOUNT_MAX_FAILURES)),
        float(getattr(settings, "NVR_LOGIN_LOCK_SECONDS", LOCK_SECONDS)),
    )


def _bucket(*parts: str) -> str:
    # Hashed: usernames may be long or hold characters some cache backends refuse in keys.
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _buckets(username: str, address: str) -> list[tuple[str, str, int]]:
    """(what, cache key part, failure limit) of each bucket a login attempt counts in."""
    pair_limit, account_limit, _ = _limits()
    return [
        ("from one address", _bucket("pair", username, address), pair_limit),
        ("from any address", _bucket("account", username), account_limit),
    ]


def locked_for(username: str, address: str) -> float:
    """Seconds until `username` may try again from `address` (0 when it may now)."""
    keys = [f"{_PREFIX}:lock:{bucket}" for _, bucket, _ in _buckets(username, address)]
    try:
        until = [value for value in cache.get_many(keys).values() if value]
    except Exception:  # fail open: a broken cache must not lock everyone out
        log.warning("login throttle: cache unavailable; not throttling", exc_info=True)
        return 0.0
    remaining = max(until, default=0.0) - time.time()
    return remaining if remaining > 0 else 0.0


def record_failure(username: str, address: str) -> None:
    """Count a failed login; lock the bucket that reached its limit."""
    _, _, lock_seconds = _limits()
    for what, bucket, limit in _buckets(username, address):
        key = f"{_PREFIX}:fail:{bucket}"
        try:
            failures = _count(key, lock_seconds)  # the window starts at the first failure
        except Exception:  # a cache outage must not break logins
            log.warning("login throttle: cache unavailable; failure not counted", exc_info=True)
            return
        if failures >= limit:
            cache.set(f"{_PREFIX}:lock:{bucket}", time.time() + lock_seconds, timeout=math.ceil(lock_seconds))
            cache.delete(key)
            # No username in the log: a password typed into the username field would land there.
            log.warning(
                "login throttle: an account is locked for %.0fs after %d failed logins %s", lock_seconds, failures, what
            )


def _count(key: str, window: float) -> int:
    """Add one to a counter whose window starts at its first count."""
    try:
        cache.add(key, 0, timeout=window)
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def login_rate_wait(address: str) -> float:
    """Count a login form POST from `address`; seconds it must wait when over the cap (0: go on)."""
    limit = int(getattr(settings, "NVR_LOGIN_ADDRESS_MAX", ADDRESS_MAX_LOGINS))
    return rate_wait("address", address, limit=limit, window=ADDRESS_WINDOW_SECONDS)


def rate_wait(what: str, who: str, *, limit: int, window: float, cost: int = 1) -> float:
    """Count `cost` uses of `what` by `who`; seconds to wait when that goes over `limit` per `window` (0: go on).

    Shared by every web process (the cache is Redis). A cache outage lets the use through: a
    broken cache must not lock operators out.
    """
    try:
        key = f"{_PREFIX}:rate:{_bucket(what, who)}"
        used = 0
        for _ in range(cost):
            used = _count(key, window)
        if used <= limit:
            return 0.0
    except Exception:  # fail open, as above
        log.warning("rate limit: cache unavailable; not limiting", exc_info=True)
        return 0.0
    return window


def remember_verified(credential: str) -> None:
    """Note that a credential (an HMAC of a Basic header, never the password) was verified."""
    try:
        cache.set(f"{_PREFIX}:verified:{credential}", 1, timeout=VERIFIED_SECONDS)
    except Exception:
        log.warning("login throttle: cache unavailable", exc_info=True)


def was_verified(credential: str) -> bool:
    try:
        return bool(cache.get(f"{_PREFIX}:verified:{credential}"))
    except Exception:
        log.warning("login throttle: cache unavailable", exc_info=True)
        return False


def record_success(username: str, address: str) -> None:
    """A good login clears its own address's count (not the account-wide one)."""
    try:
        cache.delete(f"{_PREFIX}:fail:{_buckets(username, address)[0][1]}")
    except Exception:  # a cache outage must not break logins
        log.warning("login throttle: cache unavailable", exc_info=True)


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend, refusing locked accounts before any password hash is computed.

    `credential` (HTTP Basic: an HMAC of the header) lets a credential verified before through a lock.
    With local sign-in off (accounts.policy.LocalLogin) only the break-glass superuser's password works.
    """

    def authenticate(self, request, username=None, password=None, credential=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        username = str(username)
        address = client_address(request)
        if locked_for(username, address) and not (credential and was_verified(credential)):
            raise PermissionDenied("too many failed logins")  # authenticate() stops at this backend
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not local_login_allows(user):
            user = None  # a right password that may not sign in here counts like a wrong one
        if user is None:
            record_failure(username, address)
        else:
            record_success(username, address)
            if credential:
                remember_verified(credential)
        return user
