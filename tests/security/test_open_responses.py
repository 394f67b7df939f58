"""Every open response is re-checked on one schedule, and the stream fast path obeys Django's security settings.

Against a real uvicorn with NVR_STREAM_ACCESS_RECHECK=1. Before the viewer lifecycle, the
status WebSocket was never re-checked (a deactivated user kept receiving camera states), and
the fast path served stream URLs over plain HTTP although SECURE_SSL_REDIRECT was on.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.factories import make_camera, make_token, make_user
from tests.streaming.test_grid import log_in
from tests.support.processes import web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_status_websocket_closes_when_the_user_loses_access(redis_url):
    camera = make_camera("front")
    operator = make_user("op-ws", password="pw-op-ws-1")
    camera.allowed_users.add(operator)
    server = web_server(redis_url, NVR_STREAM_ACCESS_RECHECK="1").start()
    try:
        cookie = log_in(server.url, "op-ws", "pw-op-ws-1")["sessionid"]

        async def scenario() -> tuple[int | None, float]:
            url = server.url.replace("http://", "ws://") + "/ws/status/"
            async with connect(url, origin=server.url, additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert [c["slug"] for c in first["cameras"]] == ["front"]
                await camera.allowed_users.aremove(operator)
                removed = time.monotonic()
                try:
                    while time.monotonic() - removed < 10:
                        await asyncio.wait_for(ws.recv(), 10)
                except ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None, time.monotonic() - removed
                return None, time.monotonic() - removed

        code, after = asyncio.run(scenario())
    finally:
        server.stop()
    assert code == 4403, code
    assert after < 4.0, after


def test_stream_fast_path_follows_the_https_redirect(redis_url):
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("front")
    _, token = make_token(user=admin)
    server = web_server(redis_url, SECURE_SSL_REDIRECT="1").start()
    try:
        for path in ("/cameras/front/stream.mjpg", "/grid/stream.mjpg"):
            response = httpx.get(f"{server.url}{path}?token={token}", timeout=5)
            assert response.status_code == 301, (path, response.status_code)
            assert response.headers["location"].startswith("https://"), response.headers["location"]
    finally:
        server.stop()
