"""Webhooks: a dead endpoint costs nothing but its own retries; a flaky one gets the message after retries;
deliveries are signed over a timestamp, follow no redirect, share a few threads, and carry only what the
webhook's owner may see.

Real HTTP servers on loopback: one that answers, one that accepts and never answers (a hung
receiver), one that fails twice before it answers, one that redirects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time

import pytest

from events.models import Webhook
from events.notify import (
    DELIVERY_THREADS,
    QUEUE_LIMIT,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Notifier,
    Target,
    load_targets,
    sign,
)
from tests.events.conftest import receiving
from tests.factories import make_camera, make_user
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


def test_deliveries_are_signed_over_their_timestamp(receiver):
    """X-NVR-Timestamp, and a signature of "timestamp.body": a captured delivery cannot be replayed later
    (before, the signature covered the body alone and carried no time)."""
    notifier = Notifier(load=lambda: [Target(1, receiver.url, "hook-secret", frozenset())]).start()
    try:
        notifier.publish("start", message(1))
        wait_until(lambda: bodies(receiver), 10, what="the delivery")
    finally:
        notifier.stop()
    headers, body = receiver.received[0]
    timestamp = headers[TIMESTAMP_HEADER.lower()]
    assert abs(int(timestamp) - time.time()) < 30
    expected = "sha256=" + hmac.new(b"hook-secret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)
    assert headers[SIGNATURE_HEADER.lower()] == sign("hook-secret", int(timestamp), body)
    stale = sign("hook-secret", int(timestamp) - 600, body)
    assert stale != headers[SIGNATURE_HEADER.lower()]  # the time is part of what is signed


def test_a_redirect_is_a_failed_delivery_and_takes_nothing_elsewhere(receiver, caplog):
    """A 3xx is not followed: the signed request never reaches the other address (before, urllib followed
    it and carried X-NVR-Signature along)."""
    with receiving() as elsewhere:
        receiver.redirect_to = elsewhere.url
        notifier = Notifier(load=lambda: [Target(1, receiver.url, "hook-secret", frozenset())]).start()
        try:
            with caplog.at_level(logging.INFO, logger="events.notify"):
                notifier.publish("start", message(1))
                wait_until(lambda: len(receiver.received) >= 2, 10, what="the first attempt and its retry")
            assert elsewhere.methods == []
            assert notifier.deliveries[1].delivered == 0
            assert "answered 302 (a redirect: not followed)" in caplog.text
        finally:
            notifier.stop()


def test_many_webhooks_share_a_few_delivery_threads():
    """Twenty hung receivers hold DELIVERY_THREADS threads, not one each (before: a thread per webhook)."""
    silent = SilentTcpServer()
    before = threading.active_count()
    targets = [Target(n, silent.url("http", f"/hook{n}"), "", frozenset()) for n in range(1, 21)]
    notifier = Notifier(load=lambda: targets).start()
    try:
        notifier.publish("start", message(1))
        wait_until(lambda: len(notifier.deliveries) == 20, 5, what="every webhook's queue")
        wait_until(lambda: silent.accepted >= DELIVERY_THREADS, 5, what="the pool busy with the hung receivers")
        time.sleep(0.5)
        added = threading.active_count() - before
        print(f"threads added by 20 webhooks: {added} (pool {DELIVERY_THREADS}, router 1)")
        assert added <= DELIVERY_THREADS + 1, added
        assert silent.accepted == DELIVERY_THREADS  # one attempt in flight per thread, the rest wait their turn
    finally:
        notifier.stop()
        silent.stop()


@pytest.mark.django_db(transaction=True)  # load_targets closes old connections, as the worker does
def test_a_webhook_carries_only_what_its_owner_may_see():
    """The owner (who chose the receiver) bounds every delivery: staff seeing one camera never receive
    another's events, whatever the webhook's cameras say; an inactive owner's webhook sends nothing."""
    front, back = make_camera("front"), make_camera("back")
    boss = make_user("boss", is_superuser=True, is_staff=True)
    scoped = make_user("scoped", is_staff=True)
    front.allowed_users.add(scoped)
    everything = Webhook.objects.create(name="all", url="http://127.0.0.1:9/a", owner=scoped)
    both = Webhook.objects.create(name="both", url="http://127.0.0.1:9/b", owner=scoped)
    both.cameras.set([front, back])
    bosses = Webhook.objects.create(name="boss", url="http://127.0.0.1:9/c", owner=boss)
    legacy = Webhook.objects.create(name="legacy", url="http://127.0.0.1:9/d")
    targets = {t.id: t.cameras for t in load_targets()}
    assert targets == {
        everything.pk: {"front"},
        both.pk: {"front"},
        bosses.pk: frozenset(),  # every camera
        legacy.pk: frozenset(),  # made outside the admin before owners existed: as configured
    }
    scoped.is_active = False
    scoped.save()
    assert {t.id for t in load_targets()} == {bosses.pk, legacy.pk}
