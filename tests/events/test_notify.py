"""Webhooks: a dead endpoint costs nothing but its own retries; a flaky one gets the message after retries.

Real HTTP servers on loopback: one that answers, one that accepts and never answers (a hung
receiver), one that fails twice before it answers.
"""

from __future__ import annotations

import json

from events.notify import QUEUE_LIMIT, Notifier, Target
from tests.reliability.helpers import wait_until
from tests.support.servers import SilentTcpServer


def bodies(receiver) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(body) for _, body in receiver.received]


def message(number: int, camera: str = "yard") -> dict:
    return {"id": number, "camera": camera, "type": "start"}


def test_a_hung_receiver_delays_nobody_else(receiver):
    url = receiver.url
    silent = SilentTcpServer()
    targets = [Target(1, silent.url("http", "/hook"), "", frozenset()), Target(2, url, "k", frozenset())]
    notifier = Notifier(load=lambda: targets).start()
    try:
        for number in range(50):
            notifier.publish("start", message(number))
        wait_until(lambda: len(bodies(receiver)) == 50, 15, what="all 50 messages at the live receiver")
        assert [m["id"] for m in bodies(receiver)] == list(range(50))  # in order
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
    receiver.failures = 2  # 500, 500, then 204: retried after 1 s and 2 s
    url = receiver.url
    notifier = Notifier(load=lambda: [Target(1, url, "", frozenset({"yard"}))]).start()
    try:
        notifier.publish("start", message(1, camera="gate"))  # not one of the webhook's cameras
        notifier.publish("start", message(2))
        wait_until(lambda: bodies(receiver), 10, what="the message after two failures")
        assert [m["id"] for m in bodies(receiver)] == [2]
        # The receiver keeps the body before it answers: the count follows the answer.
        wait_until(lambda: notifier.deliveries[1].delivered == 1, 5, what="the delivery counted")
        assert notifier.deliveries[1].failed == 0
    finally:
        notifier.stop()
