"""A crowd sharing one credential costs one lookup, and a revoked token stops opening streams soon."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from streaming import auth
from tests.factories import make_camera, make_token, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_crowd_with_one_token_costs_one_lookup_of_each_kind():
    admin = make_user("boss", is_superuser=True)
    make_camera("front")
    _, token = make_token(user=admin)

    async def viewer():
        access = await auth.token_access(token)
        camera = await access.camera("front")
        return camera is not None and await access.still_allows("front")

    async def crowd():
        return await asyncio.gather(*[viewer() for _ in range(200)])

    # async_to_sync runs the ORM's thread-sensitive calls on this thread, so its connection sees them.
    with CaptureQueriesContext(connection) as queries:
        answers = async_to_sync(crowd)()
    assert answers == [True] * 200
    # One token lookup, one camera lookup, one re-check (three EXISTS), not 200 of each.
    assert 1 <= len(queries) <= 6, [q["sql"] for q in queries]


def session_request(cookie: str):
    """A stream request carrying the session cookie, with the session and lazy user the fast path gives it."""
    import functools
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth.middleware import auser
    from django.test import RequestFactory

    request = RequestFactory().get("/cameras/front/stream.mjpg")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(cookie)
    request.auser = functools.partial(auser, request)
    return request


def test_a_crowd_with_one_session_costs_one_lookup_and_a_logout_ends_it_soon():
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(make_user("boss", is_superuser=True))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    async def crowd():
        return await asyncio.gather(*[auth.request_access(session_request(cookie)) for _ in range(200)])

    with CaptureQueriesContext(connection) as queries:
        answers = async_to_sync(crowd)()
    assert all(a is not None and a.user.username == "boss" and a.session_key == cookie for a in answers)
    assert 1 <= len(queries) <= 3, [q["sql"] for q in queries]  # the session row and the user, once

    client.logout()
    time.sleep(auth.ACCESS_MEMO_SECONDS + 0.1)
    assert async_to_sync(auth.request_access)(session_request(cookie)) is None


def test_a_revoked_token_opens_nothing_after_the_memo_expires():
    admin = make_user("boss", is_superuser=True)
    row, token = make_token(user=admin)
    assert asyncio.run(auth.token_access(token)) is not None
    row.revoked_at = timezone.now()
    row.save()
    time.sleep(auth.ACCESS_MEMO_SECONDS + 0.1)
    assert asyncio.run(auth.token_access(token)) is None


def test_a_failing_lookup_is_not_remembered():
    memo = auth.SingleFlightCache(60)
    calls = []

    async def broken():
        calls.append(1)
        raise ConnectionError("database away")

    async def run():
        for _ in range(2):
            with pytest.raises(ConnectionError):
                await memo.get("key", broken)

    asyncio.run(run())
    assert len(calls) == 2
