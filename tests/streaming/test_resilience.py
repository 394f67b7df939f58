"""Streams survive a Redis restart; HTTP Basic crowds cost one password check, not hundreds."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from django.contrib.auth.hashers import check_password, make_password

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
    _, token = make_token(user=user)
    make_camera("front", source="320x240")
    # What one password check costs on this machine, so the test compares, never assumes a speed.
    started = time.process_time()
    assert check_password("crowd-pass-1", user.password)
    one_check = time.process_time() - started
    server = web_server(redis_url, NVR_TEST_REAL_HASHER="1").start()
    try:

        async def crowd(**kwargs) -> tuple[float, float, list]:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=60, limits=limits, **kwargs) as client:
                started = time.monotonic()
                cpu_before = server.cpu_seconds()
                responses = await asyncio.gather(*[client.get(f"{server.url}/api/cameras/") for _ in range(150)])
                return time.monotonic() - started, server.cpu_seconds() - cpu_before, responses

        async def run():
            await crowd(params={"token": token})  # warm the fresh server up
            plain = await crowd(params={"token": token})
            basic = await crowd(auth=("crowd", "crowd-pass-1"))
            return plain, basic

        (_, plain_cpu, plain), (elapsed, basic_cpu, responses) = asyncio.run(run())
        assert all(r.status_code == 200 for r in responses + plain)
        extra = basic_cpu - plain_cpu
        print(
            f"150 concurrent requests: {basic_cpu:.2f} s server CPU with Basic, {plain_cpu:.2f} s with a token; "
            f"one password check costs {one_check:.2f} s here ({elapsed:.2f} s wall with Basic)"
        )
        # 150 checks would cost 150 x one_check; sharing one verification costs about one.
        assert extra < 5 * one_check, (extra, one_check)
        assert elapsed < 20 * one_check + 5, (elapsed, one_check)
    finally:
        server.stop()
