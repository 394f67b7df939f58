"""Webhooks: a dead endpoint costs nothing but its own retries; a flaky one gets the message after retries.

Real HTTP servers on loopback: one that answers, one that accepts and never answers (a hung
receiver), one that fails twice before it answers.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from events.notify import QUEUE_LIMIT, Notifier, Target
from tests.reliability.helpers import wait_until
from tests.support.servers import SilentTcpServer


@pytest.fixture
def receiver():
    """An HTTP server keeping every POSTed body; `failures` POSTs are answered 500 first."""
    received: list[dict] = []
    state = {"failures": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state["failures"] > 0:
                state["failures"] -= 1
                self.send_response(500)
            else:
                received.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, state
    server.shutdown()
    server.server_close()


def message(number: int, camera: str = "yard") -> dict:
    return {"id": number, "camera": camera, "type": "start"}


def test_a_hung_receiver_delays_nobody_else(receiver):
    url, received, _ = receiver
    silent = SilentTcpServer()
    targets = [Target(1, silent.url("http", "/hook"), "", frozenset()), Target(2, url, "k", frozenset())]
    notifier = Notifier(load=lambda: targets).start()
    try:
        for number in range(50):
            notifier.publish("start", message(number))
        wait_until(lambda: len(received) == 50, 15, what="all 50 messages at the live receiver")
        assert [m["id"] for m in received] == list(range(50))  # in order
        assert silent.accepted >= 1 and notifier.deliveries[1].delivered == 0  # still stuck on its first
    finally:
        notifier.stop()
        silent.stop()


def test_publishing_never_blocks_and_a_full_queue_drops_the_oldest():
    silent = SilentTcpServer()
    notifier = Notifier(load=lambda: [Target(1, silent.url("http", "/hook"), "", frozenset())]).start()
    try:
        for number in range(QUEUE_LIMIT * 3):
            notifier.publish("start", message(number))  # the capture thread's call: appends, never waits
        wait_until(lambda: 1 in notifier.deliveries, 5, what="the webhook's delivery thread")
        delivery = notifier.deliveries[1]
        wait_until(lambda: delivery.queue.dropped + notifier.inbox.dropped >= QUEUE_LIMIT, 10,
                   what="the oldest messages dropped, not piled up")  # fmt: skip
        assert len(delivery.queue._items) <= QUEUE_LIMIT
    finally:
        notifier.stop()
        silent.stop()


def test_a_failing_receiver_gets_the_message_after_retries_and_filters_apply(receiver):
    url, received, state = receiver
    state["failures"] = 2  # 500, 500, then 204: retried after 1 s and 2 s
    notifier = Notifier(load=lambda: [Target(1, url, "", frozenset({"yard"}))]).start()
    try:
        notifier.publish("start", message(1, camera="gate"))  # not one of the webhook's cameras
        notifier.publish("start", message(2))
        wait_until(lambda: received, 10, what="the message after two failures")
        assert [m["id"] for m in received] == [2]
        assert notifier.deliveries[1].delivered == 1 and notifier.deliveries[1].failed == 0
    finally:
        notifier.stop()
