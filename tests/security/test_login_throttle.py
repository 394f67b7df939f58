"""Guessing passwords is slowed down (accounts.throttle), and secrets are compared in constant time."""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
import statistics
import time

import httpx
import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import RequestFactory

from accounts import throttle
from accounts.login import LoginView
from nvr.metrics import metrics_allowed
from streaming import auth
from streaming.models import StreamToken, hash_token
from tests.factories import make_camera, make_token, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


def login(client: httpx.Client, path: str, username: str, password: str) -> httpx.Response:
    """A browser's login: fetch the form (CSRF cookie and token), post it."""
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return client.post(
        path, data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"}
    )


def test_repeated_failures_lock_the_account_on_the_real_server(live_web):
    make_user("boss", password="boss-pass-1", is_superuser=True, is_staff=True)
    make_user("op", password="op-pass-1")
    with httpx.Client(base_url=live_web.url, timeout=10) as client:
        for attempt in range(throttle.MAX_FAILURES):
            assert login(client, "/accounts/login/", "boss", f"guess-{attempt}").status_code == 200
        started = time.monotonic()
        locked = login(client, "/accounts/login/", "boss", "boss-pass-1")  # the right password, too late
        took = time.monotonic() - started
        assert locked.status_code != 302 and "sessionid" not in client.cookies, "a locked account logged in"
        # The page says why (nvr.login.LoginView routed at /accounts/login/ in nvr/urls.py).
        assert locked.status_code == 429, locked.status_code
        assert "Too many failed logins" in locked.text
        assert 0 < int(locked.headers["retry-after"]) <= throttle.LOCK_SECONDS
        # The admin's login door is locked too (the check sits in the authentication backend).
        admin = login(client, "/admin/login/?next=/admin/", "boss", "boss-pass-1")
        assert admin.status_code == 200 and "sessionid" not in client.cookies
    with httpx.Client(base_url=live_web.url, timeout=10) as other:
        assert login(other, "/accounts/login/", "op", "op-pass-1").status_code == 302  # others are unaffected
    print(f"\nlogin locked after {throttle.MAX_FAILURES} failures; the refused attempt took {took * 1000:.0f} ms")


def test_lockout_rules(settings):
    settings.NVR_LOGIN_MAX_FAILURES = 3
    settings.NVR_LOGIN_ACCOUNT_MAX_FAILURES = 6
    settings.NVR_LOGIN_LOCK_SECONDS = 1.0
    make_user("boss", password="boss-pass-1")
    make_user("op", password="op-pass-1")

    def attempt(username: str, password: str, address: str = "10.0.0.1") -> bool:
        request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=address)
        return authenticate(request, username=username, password=password) is not None

    for _ in range(3):
        assert not attempt("boss", "wrong")
    assert not attempt("boss", "boss-pass-1")  # locked from this address
    assert attempt("boss", "boss-pass-1", "10.0.0.2")  # not from another one
    assert attempt("op", "op-pass-1")  # nor for another account
    time.sleep(1.1)
    assert attempt("boss", "boss-pass-1")  # the lock expires

    # Spread over many addresses, the account-wide count locks it everywhere.
    for i in range(6):
        assert not attempt("boss", "wrong", f"10.1.0.{i}")
    assert not attempt("boss", "boss-pass-1", "10.2.0.1")
    # Usernames with no account are counted alike: a lockout does not reveal which accounts exist.
    for _ in range(3):
        assert not attempt("nobody", "wrong")
    assert throttle.locked_for("nobody", "10.0.0.1") > 0

    # HTTP Basic on streams goes through the same backend.
    cache.clear()
    for _ in range(3):
        assert auth._check_password("op", "wrong") is None
    assert auth._check_password("op", "op-pass-1") is None
    time.sleep(1.1)
    assert auth._check_password("op", "op-pass-1") is not None


def test_the_login_view_says_the_account_is_locked(settings):
    settings.NVR_LOGIN_MAX_FAILURES = 2
    make_user("boss", password="boss-pass-1")

    def post(password: str):
        request = RequestFactory().post("/accounts/login/", {"username": "boss", "password": password})
        request.session = SessionStore()
        request.user = AnonymousUser()  # as AuthenticationMiddleware leaves it (allauth's view reads it)
        request._messages = FallbackStorage(request)
        request._dont_enforce_csrf_checks = True
        return LoginView.as_view()(request)

    for _ in range(2):
        assert post("wrong").status_code == 200
    response = post("boss-pass-1")
    response.render()
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert b"Too many failed logins" in response.content


def test_tokens_are_stored_hashed_and_compared_in_constant_time(monkeypatch, settings):
    user = make_user("boss", is_superuser=True)
    camera = make_camera("front")
    row, token = make_token(user=user, camera=camera)
    # Only a SHA-256 is stored: looking a token up by it leaks nothing about the token through timing.
    stored = StreamToken.objects.filter(pk=row.pk).values().get()
    assert token not in str(stored) and stored["key_hash"] == hash_token(token)

    compared: list[tuple] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    access = asyncio.run(auth.token_access(token))
    assert access is not None and access.camera_id == camera.pk
    assert compared, "stream tokens must be compared with hmac.compare_digest"
    compared.clear()
    assert asyncio.run(auth.token_access(token[:-1] + ("A" if token[-1] != "A" else "B"))) is None

    settings.NVR_METRICS_TOKEN = "metrics-secret-1"
    settings.NVR_METRICS_NETWORKS = []
    request = RequestFactory().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-1")
    assert metrics_allowed(request)
    assert any(b"metrics-secret-1" in (a, b) or "metrics-secret-1" in (a, b) for a, b in compared), (
        "the metrics token must be compared with hmac.compare_digest"
    )


def basic(username: str, password: str, scheme: str = "Basic") -> str:
    return f"{scheme} " + base64.b64encode(f"{username}:{password}".encode()).decode()


def snapshot_status(base_url: str, address: str, header: str) -> int:
    """The status of one snapshot request with `header`, from the loopback `address`."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=base_url, transport=transport, timeout=10) as client:
        return client.get("/cameras/front/snapshot.jpg", headers={"Authorization": header}).status_code


def test_basic_guesses_from_one_address_do_not_lock_out_the_others(live_web):
    """Five wrong Basic passwords from 127.0.0.2 lock that address only: 127.0.0.1's VLC keeps watching."""
    make_user("op", password="op-pass-1", is_superuser=True)
    make_camera("front")
    refused = {401}
    # Every request below uses a spelling of the header not verified before in that process
    # ("Basic", "basic", "BASIC"), so each is a fresh password check rather than a remembered one.
    assert snapshot_status(live_web.url, "127.0.0.1", basic("op", "op-pass-1")) not in refused
    for attempt in range(throttle.MAX_FAILURES + 1):
        assert snapshot_status(live_web.url, "127.0.0.2", basic("op", f"guess-{attempt}")) == 401
    assert snapshot_status(live_web.url, "127.0.0.2", basic("op", "op-pass-1", "basic")) == 401  # locked there
    assert snapshot_status(live_web.url, "127.0.0.1", basic("op", "op-pass-1", "BASIC")) not in refused
    # The counts are in Redis, shared with every web process (and this one): not per process.
    assert throttle.locked_for("op", "127.0.0.2") > 0
    assert throttle.locked_for("op", "127.0.0.1") == 0


def test_a_verified_basic_credential_passes_a_lock_that_a_new_one_does_not(settings):
    make_user("op", password="op-pass-1")
    known = basic("op", "op-pass-1")
    assert asyncio.run(auth._basic_user_id(known, "10.0.0.1")) is not None
    # A guesser spread over many addresses locks the account everywhere...
    for i in range(throttle.ACCOUNT_MAX_FAILURES):
        assert asyncio.run(auth._basic_user_id(basic("op", f"guess-{i}"), f"10.1.0.{i}")) is None
    assert throttle.locked_for("op", "10.0.0.1") > 0
    auth.forget_cached_credentials()  # nothing remembered in this process: a restart, another worker
    # ...but the client that holds the password keeps working, from its address or a new one,
    assert asyncio.run(auth._basic_user_id(known, "10.0.0.1")) is not None
    assert asyncio.run(auth._basic_user_id(known, "10.9.9.9")) is not None
    # while the same password never verified in this spelling is held at the lock.
    assert asyncio.run(auth._basic_user_id(basic("op", "op-pass-1", "basic"), "10.0.0.1")) is None


def test_unknown_locked_and_wrong_basic_answers_take_the_same_time(settings):
    settings.NVR_LOGIN_MAX_FAILURES = 2
    make_user("op", password="op-pass-1")
    make_user("locked", password="locked-pass-1")
    for i in range(2):
        asyncio.run(auth._basic_user_id(basic("locked", f"guess-{i}"), "10.0.0.1"))
    assert throttle.locked_for("locked", "10.0.0.1") > 0

    def took(header: str) -> float:
        auth.forget_cached_credentials()
        started = time.monotonic()
        assert asyncio.run(auth._basic_user_id(header, "10.0.0.1")) is None
        return time.monotonic() - started

    times = {
        "unknown": statistics.median(took(basic("nobody", f"x{i}")) for i in range(3)),
        "locked": statistics.median(took(basic("locked", "locked-pass-1")) for _ in range(3)),
        "wrong": statistics.median(took(basic("op", f"wrong-{i}")) for i in range(1)),
    }
    print("\nBasic refusals, median seconds:", {k: round(v, 3) for k, v in times.items()})
    assert max(times.values()) - min(times.values()) < 0.05, times


def test_the_login_form_caps_posts_per_address(settings):
    settings.NVR_LOGIN_ADDRESS_MAX = 3

    def post(address: str, username: str):
        request = RequestFactory().post(
            "/accounts/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=address
        )
        request.session = SessionStore()
        request.user = AnonymousUser()
        request._messages = FallbackStorage(request)
        request._dont_enforce_csrf_checks = True
        response = LoginView.as_view()(request)
        response.render()
        return response

    for i in range(3):  # different accounts: no account lock, only the address's count
        assert post("10.0.0.1", f"user{i}").status_code == 200
    capped = post("10.0.0.1", "user9")
    assert capped.status_code == 429 and b"Too many logins from your address" in capped.content
    assert post("10.0.0.2", "user9").status_code == 200  # another address is not affected
