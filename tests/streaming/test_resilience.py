"""Streams survive a Redis restart; HTTP Basic crowds cost one password check, not hundreds."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from django.contrib.auth.hashers import make_password

from tests.factories import make_camera, make_token, make_user
from tests.support.frames import wait_for_status
from tests.support.mjpeg import iter_parts
from tests.support.processes import web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_viewers_resume_by_themselves_after_redis_restarts(redis_server, redis_url, live_web, capture_process):
    admin = make_user("boss", is_superuser=True)
    make_camera("front", source="320x240", max_fps=10)
    _, token = make_token(user=admin)
    wait_for_status(redis_url, "front", lambda s: s["state"] == "online", 15)
    url = f"{live_web.url}/cameras/front/stream.mjpg?token={token}"

    async def viewer(log: list) -> None:
        async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", url) as response:
            async for part in iter_parts(response):
                log.append((time.time(), part.timestamp))
                if log[-1][0] - log[0][0] > 14:
                    return

    async def run():
        logs = [[] for _ in range(5)]
        tasks = [asyncio.create_task(viewer(log)) for log in logs]
        await asyncio.sleep(2)
        await asyncio.to_thread(redis_server.restart, 3.0)  # a 3 s outage on the same port
        back = time.time()
        await asyncio.gather(*tasks)
        return logs, back

    logs, back = asyncio.run(run())
    resumed = []
    for log in logs:
        # The first frame captured after Redis returned, and when this viewer got it.
        first = next((received for received, ts in log if ts > back), None)
        assert first is not None, "no live frame after Redis returned"
        resumed.append(first - back)
    print(f"viewers live again {max(resumed):.2f} s after Redis returned (3 s outage)")
    assert max(resumed) < 5


def test_a_crowd_with_the_same_basic_credentials_costs_one_password_check(redis_url, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = make_user("crowd")
    user.password = make_password("crowd-pass-1", hasher="pbkdf2_sha256")  # the real, slow hasher
    user.is_superuser = True
    user.save()
    make_camera("front", source="320x240")
    server = web_server(redis_url, NVR_TEST_REAL_HASHER="1").start()
    try:
        async def run():
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=60, limits=limits, auth=("crowd", "crowd-pass-1")) as client:
                started = time.monotonic()
                cpu_before = server.cpu_seconds()
                responses = await asyncio.gather(*[client.get(f"{server.url}/api/cameras/") for _ in range(150)])
                return time.monotonic() - started, server.cpu_seconds() - cpu_before, responses

        elapsed, cpu, responses = asyncio.run(run())
        assert all(r.status_code == 200 for r in responses)
        print(f"150 concurrent Basic requests: {elapsed:.2f} s wall, {cpu:.2f} s server CPU "
              "(PBKDF2 costs ~0.2 s per check)")
        assert cpu < 2.0 and elapsed < 6.0
    finally:
        server.stop()
