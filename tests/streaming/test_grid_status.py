"""Live status over the WebSocket (streaming.consumers), through the real server (uvicorn + channels).

Statuses are written with the capture side's SyncBus, exactly as capture workers do.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.factories import make_camera, make_user
from tests.streaming.test_grid import log_in
from tests.support.frames import names, sync_bus

pytestmark = pytest.mark.slow


def ws_url(live_web) -> str:
    return live_web.url.replace("http://", "ws://") + "/ws/status/"


def session_headers(live_web, username: str, password: str) -> dict[str, str]:
    return {"Cookie": f"sessionid={log_in(live_web.url, username, password)['sessionid']}"}


async def next_status(socket, timeout: float = 3.0) -> dict[str, dict]:
    message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
    assert message["type"] == "status"
    return {item["slug"]: item for item in message["cameras"]}


def test_anonymous_users_are_refused(live_web):
    async def scenario():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(live_web), origin=live_web.url):
                pass
        return refused.value.response.status_code

    assert asyncio.run(scenario()) == 403


def test_status_of_visible_cameras_only_pushed_once_per_process(live_web, redis_url, redis_client):
    cameras = [make_camera(slug, position=i) for i, slug in enumerate(["st-a", "st-b", "st-hidden"])]
    operator = make_user("op-status", password="pw-op-status-1")
    cameras[0].allowed_users.add(operator)
    cameras[1].allowed_users.add(operator)
    bus = sync_bus(redis_url)
    bus.write_status("st-a", {"state": "online", "fps": 10.0, "width": 320, "height": 240})
    headers = session_headers(live_web, "op-status", "pw-op-status-1")

    async def scenario():
        async with (
            connect(ws_url(live_web), origin=live_web.url, additional_headers=headers) as first,
            connect(ws_url(live_web), origin=live_web.url, additional_headers=headers) as second,
        ):
            initial = await next_status(first)
            await next_status(second)
            for _ in range(50):  # the relay subscribes in its own task, just after the first dashboard
                subscribers = redis_client.pubsub_numsub(names().status_channel)[0][1]
                if subscribers:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            subscribers = redis_client.pubsub_numsub(names().status_channel)[0][1]

            await asyncio.to_thread(bus.write_status, "st-hidden", {"state": "online", "fps": 3.0})
            await asyncio.to_thread(bus.write_status, "st-a", {"state": "online", "fps": 7.5, "width": 320})
            update = await next_status(first)

            await asyncio.to_thread(bus.write_status, "st-b", {"state": "online", "fps": 5.0})
            began = time.monotonic()
            stale = {}
            while "st-a" not in stale:  # st-a's worker "stops reporting" now
                stale = await next_status(first, timeout=8)
                assert "st-hidden" not in stale
            went_offline_after = time.monotonic() - began
        await asyncio.sleep(0.5)
        after_close = redis_client.pubsub_numsub(names().status_channel)[0][1]
        return initial, subscribers, update, stale, went_offline_after, after_close

    try:
        initial, subscribers, update, stale, went_offline_after, after_close = asyncio.run(scenario())
    finally:
        bus.close()
    assert set(initial) == {"st-a", "st-b"}, "only the cameras this user may see"
    assert initial["st-a"]["state"] == "online" and initial["st-a"]["fps"] == 10.0
    assert initial["st-b"]["state"] == "connecting", "no worker has claimed st-b yet (just added)"
    assert set(initial["st-a"]) == {
        "slug",
        "state",
        "label",
        "fps",
        "motion",
        "error",
        "viewers",
        "width",
        "height",
        "objects",
    }
    assert subscribers == 1, "one status subscription per web process, however many dashboards"
    assert set(update) == {"st-a"} and update["st-a"]["fps"] == 7.5
    assert stale["st-a"]["state"] == "offline" and went_offline_after < 6
    assert after_close == 0, "the last dashboard out closes the subscription"
