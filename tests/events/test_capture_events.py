"""A capture worker turns the test pattern's passing bar into an event, with a snapshot, a signed
webhook (a real HTTP server here) and MQTT with Home Assistant discovery (a real mosquitto).

The test pattern's bar crosses the picture during the first 4 s of every 30 s; with a 1 s gap the
first crossing is one event of about 4 s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cameras.status import camera_status
from events.models import Event, Webhook
from events.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.conftest import require
from tests.factories import make_camera
from tests.reliability.helpers import wait_until
from tests.support.servers import MosquittoServer, have_mosquitto

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker():
    ok, reason = have_mosquitto()
    require(ok, reason)
    with MosquittoServer() as server:
        yield server


def subscribe(broker: MosquittoServer) -> tuple[mqtt.Client, list[tuple[str, bytes, bool]]]:
    messages: list[tuple[str, bytes, bool]] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-subscriber")
    client.on_connect = lambda c, *_: c.subscribe([("nvr/#", 1), ("homeassistant/#", 1)])
    client.on_message = lambda c, u, m: messages.append((m.topic, m.payload, m.retain))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, messages


def test_the_passing_bar_is_an_event_with_snapshot_webhook_and_mqtt(
    supervisor_thread, settings, tmp_path, receiver, broker
):
    url, received = receiver.url, receiver.received
    settings.RECORDINGS_DIR = str(tmp_path)
    settings.MQTT_URL = broker.url
    client, messages = subscribe(broker)
    camera = make_camera("yard", motion=True, event_gap_seconds=1.0, max_fps=10)
    Webhook.objects.create(name="siren", url=url, secret="hook-secret-1")  # no owner: made outside the admin
    supervisor_thread()

    # The bar crosses in the first 4 s of every 30 s of capture: a slow start waits for the next crossing.
    seen_motion = wait_until(lambda: camera_status(camera).motion, 40, what="the motion flag in the status")
    assert seen_motion
    event = wait_until(lambda: Event.objects.filter(camera=camera, end__isnull=False).first(), 20,
                       what="the first event to end")  # fmt: skip
    took = (event.end - event.start).total_seconds()
    print(f"\nevent: {event.start:%H:%M:%S.%f} - {event.end:%H:%M:%S.%f} ({took:.1f} s), peak {event.peak_score:.3f}")
    assert 2.5 <= took <= 4.5, took  # the bar crosses for 4 s
    assert event.peak_score > 0
    for name in (event.snapshot, event.thumbnail):
        data = (Path(settings.RECORDINGS_DIR) / name).read_bytes()
        assert data[:2] == b"\xff\xd8", name  # JPEG
    # Its JSON beside the snapshot, for `manage.py recordings rebuild` (tests/recordings/test_rebuild.py).
    record = json.loads((Path(settings.RECORDINGS_DIR) / event.record).read_text())
    assert (record["id"], record["camera_uid"], record["snapshot"]) == (event.pk, str(camera.uid), event.snapshot)
    assert record["end"] == event.end.isoformat() and record["zones"] == event.zones
    wait_until(lambda: not camera_status(camera).motion, 5, what="the motion flag to clear")

    # The webhook: a start and an end, JSON, signed with the secret over "timestamp.body".
    wait_until(lambda: len(received) >= 2, 10, what="two webhook POSTs")
    kinds = []
    for headers, body in received[:2]:
        timestamp = headers[TIMESTAMP_HEADER.lower()]
        assert abs(int(timestamp) - time.time()) < 60
        expected = "sha256=" + hmac.new(b"hook-secret-1", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)
        payload = json.loads(body)
        assert payload["camera"] == "yard" and payload["id"] == event.pk
        kinds.append(payload["type"])
    assert kinds == ["start", "end"]

    # MQTT: Home Assistant discovery (retained) and the motion state ON then OFF.
    wait_until(lambda: any(t == "nvr/yard/motion" and p == b"OFF" for t, p, _ in messages[1:]), 10,
               what="motion OFF over MQTT")  # fmt: skip
    config = next(json.loads(p) for t, p, _ in messages if t == "homeassistant/binary_sensor/nvr_yard/motion/config")
    assert config["device_class"] == "motion" and config["state_topic"] == "nvr/yard/motion"
    assert config["unique_id"] == "nvr_yard_motion" and config["device"]["name"] == "Yard"
    states = [p for t, p, _ in messages if t == "nvr/yard/motion"]
    assert b"ON" in states and states.index(b"ON") < len(states) - 1 - states[::-1].index(b"OFF")
    assert any(t == "nvr/yard/event" and json.loads(p)["type"] == "end" for t, p, _ in messages)
    client.loop_stop()
    client.disconnect()

    # A late subscriber (Home Assistant starting after nvr) still finds the sensor: the config is retained.
    late, late_messages = subscribe(broker)
    time.sleep(1.0)
    late.loop_stop()
    late.disconnect()
    assert any(t.endswith("nvr_yard/motion/config") and retained for t, _, retained in late_messages)
