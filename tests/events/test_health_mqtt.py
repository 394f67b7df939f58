"""Home Assistant sees every camera's connectivity and problems through discovery (a real mosquitto)."""

from __future__ import annotations

import json

from events.mqtt import MqttPublisher
from tests.events.test_capture_events import broker, subscribe  # noqa: F401 - the broker fixture
from tests.reliability.helpers import wait_until


def last(messages, topic: str) -> bytes | None:
    found = [payload for t, payload, _ in messages if t == topic]
    return found[-1] if found else None


def test_connectivity_and_problem_sensors_follow_health_events(broker):  # noqa: F811
    client, messages = subscribe(broker)
    publisher = MqttPublisher(broker.url)
    publisher.start()
    try:
        publisher.announce("gate", "Gate", motion=False)
        wait_until(lambda: last(messages, "nvr/gate/connectivity") == b"ON", 10, what="connectivity ON")
        configs = {t: json.loads(p) for t, p, _ in messages if t.startswith("homeassistant/")}
        connectivity = configs["homeassistant/binary_sensor/nvr_gate/connectivity/config"]
        problem = configs["homeassistant/binary_sensor/nvr_gate/problem/config"]
        assert connectivity["device_class"] == "connectivity" and connectivity["state_topic"] == "nvr/gate/connectivity"
        assert problem["device_class"] == "problem" and problem["state_topic"] == "nvr/gate/problem"
        assert (
            connectivity["device"]["identifiers"] == ["nvr_gate"]
            and connectivity["unique_id"] == "nvr_gate_connectivity"
        )
        assert "homeassistant/binary_sensor/nvr_gate/motion/config" not in configs  # motion is off
        assert last(messages, "nvr/gate/problem") == b"OFF"

        offline = {"id": 7, "camera": "gate", "type": "start", "kind": "offline", "detail": "connection refused"}
        publisher.event(offline)
        wait_until(lambda: last(messages, "nvr/gate/connectivity") == b"OFF", 10, what="connectivity OFF")
        assert last(messages, "nvr/gate/problem") == b"ON"
        assert json.loads(last(messages, "nvr/gate/health") or b"{}")["detail"] == "connection refused"
        assert last(messages, "nvr/gate/motion") is None  # a health event is not motion

        publisher.event({"id": 8, "camera": "gate", "type": "start", "kind": "tamper", "detail": "black"})
        publisher.event({**offline, "type": "end"})
        wait_until(lambda: last(messages, "nvr/gate/connectivity") == b"ON", 10, what="back online")
        assert last(messages, "nvr/gate/problem") == b"ON"  # still tampered with
        publisher.event({"id": 8, "camera": "gate", "type": "end", "kind": "tamper", "detail": "black"})
        publisher.event({"id": 9, "camera": None, "type": "start", "kind": "low_space", "detail": "1 MB free"})
        wait_until(lambda: last(messages, "nvr/.store/problem") == b"ON", 10, what="the store's problem")
        assert last(messages, "nvr/gate/problem") == b"OFF"
    finally:
        publisher.stop()
        client.loop_stop()
        client.disconnect()
