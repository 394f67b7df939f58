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
covered by one rule: the login page, the admin login, and HTTP Basic on streams (which
authenticates without a request: its failures share the bucket of address ""). A refused
attempt costs no password hash, so a burst of guesses cannot queue hashes ahead of other
users. The login forms (nvr.login) check first and say how long to wait.

Counters live in Django's cache: give several web processes a shared cache (Redis) so they
share the counts. If the cache fails, logins are let through (and logged): an unreachable
cache must not lock every operator out.
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

log = logging.getLogger(__name__)

MAX_FAILURES = 5
ACCOUNT_MAX_FAILURES = 20
LOCK_SECONDS = 60.0
_PREFIX = "nvr:login"


def client_address(request: HttpRequest | None) -> str:
    """The address a request came from ("" without a request, e.g. HTTP Basic on streams)."""
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
            cache.add(key, 0, timeout=lock_seconds)  # the window starts at the first failure
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=lock_seconds)
            failures = 1
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


def record_success(username: str, address: str) -> None:
    """A good login clears its own address's count (not the account-wide one)."""
    try:
        cache.delete(f"{_PREFIX}:fail:{_buckets(username, address)[0][1]}")
    except Exception:  # a cache outage must not break logins
        log.warning("login throttle: cache unavailable", exc_info=True)


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend, refusing locked accounts before any password hash is computed."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        username = str(username)
        address = client_address(request)
        if locked_for(username, address):
            raise PermissionDenied("too many failed logins")  # authenticate() stops at this backend
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(username, address)
        else:
            record_success(username, address)
        return user
