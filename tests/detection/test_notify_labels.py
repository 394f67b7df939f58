"""Object events leave as motion events do, with their label: signed webhooks (a real HTTP server) and
MQTT with Home Assistant discovery (a real mosquitto): `nvr/<slug>/<label>` ON then OFF, and a count."""

from __future__ import annotations

import json

import pytest

from events.models import Webhook
from events.notify import Notifier
from tests.detection.conftest import play
from tests.detection.scene import Yard
from tests.events.conftest import receiver  # noqa: F401 - the fixture, reused
from tests.events.test_capture_events import broker, subscribe  # noqa: F401 - the fixture, reused
from tests.factories import make_camera
from tests.reliability.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_webhooks_and_mqtt_carry_the_label(bus, open_model, settings, tmp_path, receiver, broker):  # noqa: F811
    settings.RECORDINGS_DIR = str(tmp_path)
    settings.MQTT_URL = broker.url
    client, messages = subscribe(broker)
    camera = make_camera("yard", motion=True, event_gap_seconds=1.0, object_min_score=0.2)
    Webhook.objects.create(name="siren", url=receiver.url, secret="hook-secret-1")
    notifier = Notifier.from_settings().start()
    try:
        wait_until(lambda: notifier.mqtt is not None and notifier.mqtt.client.is_connected(), 10, what="MQTT")
        play(camera, Yard("red"), bus, open_model(), notifier)
        wait_until(lambda: len(receiver.received) >= 2, 15, what="two webhook POSTs")
        wait_until(lambda: any(t == "nvr/yard/person" and p == b"OFF" for t, p, _ in messages[3:]), 10,
                   what="person OFF over MQTT")  # fmt: skip
    finally:
        notifier.stop()
        client.loop_stop()
        client.disconnect()

    payloads = [json.loads(body) for _, body in receiver.received]
    assert [(p["type"], p["labels"], p["camera"]) for p in payloads] == [
        ("start", ["person"], "yard"),
        ("end", ["person"], "yard"),
    ]
    assert payloads[0]["best_score"] > 0.2 and payloads[0]["count"] == 1
    assert {"id", "start", "end", "peak_score", "zones", "camera_name"} <= set(payloads[0])  # fields kept

    config = next(json.loads(p) for t, p, _ in messages if t == "homeassistant/binary_sensor/nvr_yard/person/config")
    assert config["state_topic"] == "nvr/yard/person" and config["unique_id"] == "nvr_yard_person"
    assert config["device"]["identifiers"] == ["nvr_yard"]  # the same device as the camera's motion sensor
    states = [p for t, p, _ in messages if t == "nvr/yard/person"]
    assert states[0] == b"OFF" and b"ON" in states and states[-1] == b"OFF"  # announced, seen, gone
    counts = [p for t, p, _ in messages if t == "nvr/yard/person/count"]
    assert b"1" in counts and counts[-1] == b"0"
    assert not any(t == "nvr/yard/car" for t, _, _ in messages)  # not tracked: no sensor, no state
