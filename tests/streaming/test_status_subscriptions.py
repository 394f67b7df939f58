"""Status WebSockets share one Redis subscription per web process, however many are open (invariant 3).

A channel layer (channels_redis, configured until #24 though nothing used it) subscribed once more for
every socket: 20 sockets held 21 channels (on a second connection). Counted here on the Redis server
itself (CLIENT LIST: connections, and the channels they hold), for 50 sockets on one web process, then on two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.client import connect

from tests.factories import make_camera, make_user
from tests.streaming.test_grid import log_in
from tests.support.frames import names
from tests.support.processes import web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOCKETS = 50


def subscribers(redis_client) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The clients of the Redis server holding a subscription (channels or patterns)."""
    clients = []
    for line in redis_client.execute_command("CLIENT", "LIST").decode().splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if int(fields.get("sub", 0)) or int(fields.get("psub", 0)):
            clients.append(fields)
    return clients


async def open_sockets(url: str, origin: str, headers: dict[str, str], count: int, stack) -> None:  # type: ignore[no-untyped-def]
    for _ in range(count):
        socket = await stack.enter_async_context(connect(url, origin=origin, additional_headers=headers))
        first = json.loads(await asyncio.wait_for(socket.recv(), 5))  # accepted, and its cameras' statuses sent
        assert first["type"] == "status"


def test_fifty_status_sockets_hold_one_subscription_per_web_process(live_web, redis_url, redis_client):
    make_camera("front")
    make_user("op", password="pw-op-1", is_superuser=True)
    second = web_server(redis_url).start()
    try:
        servers = [live_web, second]
        headers = [{"Cookie": f"sessionid={log_in(s.url, 'op', 'pw-op-1')['sessionid']}"} for s in servers]

        def count() -> tuple[int, int, int]:
            """(connections subscribed, channels they hold, subscribers of the status channel)."""
            held = subscribers(redis_client)
            channels = sum(int(c.get("sub", 0)) + int(c.get("psub", 0)) for c in held)
            return len(held), channels, redis_client.pubsub_numsub(names().status_channel)[0][1]

        async def scenario() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
            async with contextlib.AsyncExitStack() as stack:
                url = live_web.url.replace("http://", "ws://") + "/ws/status/"
                await open_sockets(url, live_web.url, headers[0], SOCKETS, stack)
                one = count()
                url = second.url.replace("http://", "ws://") + "/ws/status/"
                await open_sockets(url, second.url, headers[1], SOCKETS, stack)
                return one, count()

        one, two = asyncio.run(scenario())
    finally:
        second.stop()
    assert one == (1, 1, 1), one  # 50 sockets, one web process: one connection, one channel
    assert two == (2, 2, 2), two  # and one more for the second process
