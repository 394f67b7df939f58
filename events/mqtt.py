"""MQTT for events (optional, MQTT_URL): motion ON/OFF per camera, the event JSON, each camera's health,
and Home Assistant discovery, so every camera appears in Home Assistant as a motion sensor, a connectivity
sensor and a problem sensor without configuration.

Topics (prefix `nvr`):
- `nvr/<slug>/motion`: "ON" when an event starts, "OFF" when it ends (retained);
- `nvr/<slug>/event`: the motion event's JSON, as webhooks get it;
- `nvr/<slug>/connectivity`: "ON" while the camera is online, "OFF" once it is offline (retained);
- `nvr/<slug>/problem`: "ON" while any health problem of the camera is open (retained);
- `nvr/<slug>/health`: a health event's JSON (kind offline, recording, tamper...), as webhooks get it;
- `nvr/.store/problem`, `nvr/.store/health`: the same for the store (low space, over budget);
- `homeassistant/binary_sensor/nvr_<slug>/{motion,connectivity,problem}/config`: discovery
  (retained), sent when a capture worker takes the camera;
- with object detection (detection/): `nvr/<slug>/<label>` "ON" while an object of that label is there,
  "OFF" after (retained), `nvr/<slug>/<label>/count` how many (retained), and a discovery config per
  tracked label, `homeassistant/binary_sensor/nvr_<slug>/<label>/config`, sent by the detector.

paho-mqtt's own thread connects, reconnects and queues; publishing never blocks capture. The
broker's address passes the outbound policy before every connection paho makes (`on_pre_connect`:
a refusal is a failed connection, retried with paho's backoff); paho then resolves the name itself.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from events.kinds import EventKind
from events.tracker import Change
from outbound import Purpose, check, resolve

log = logging.getLogger(__name__)

TOPIC_PREFIX = "nvr"
DISCOVERY_PREFIX = "homeassistant"
QUEUE_LIMIT = 1000  # messages paho keeps while the broker is away


STORE = ".store"  # the topic level of what concerns the whole store (a camera slug never has a dot)


def motion_topic(slug: str) -> str:
    return f"{TOPIC_PREFIX}/{slug}/motion"


def topic(slug: str | None, leaf: str) -> str:
    """`nvr/<slug>/<leaf>`; the store's own (slug None) under `nvr/.store/`."""
    return f"{TOPIC_PREFIX}/{slug or STORE}/{leaf}"


def _sensor(slug: str, name: str, sensor: str, device_class: str, attributes: str) -> tuple[str, dict]:
    return f"{DISCOVERY_PREFIX}/binary_sensor/nvr_{slug}/{sensor}/config", {
        "name": sensor.title(),
        "unique_id": f"nvr_{slug}_{sensor}",
        "object_id": f"nvr_{slug}_{sensor}",
        "device_class": device_class,
        "state_topic": topic(slug, sensor),
        "payload_on": "ON",
        "payload_off": "OFF",
        "json_attributes_topic": topic(slug, attributes),
        "device": {"identifiers": [f"nvr_{slug}"], "name": name, "manufacturer": "nvr", "model": "camera"},
    }


def discovery(slug: str, name: str) -> tuple[str, dict]:
    """The Home Assistant discovery topic and config of a camera's motion sensor."""
    return _sensor(slug, name, "motion", "motion", "event")


def health_discovery(slug: str, name: str) -> list[tuple[str, dict]]:
    """Discovery of a camera's connectivity sensor (on: online) and problem sensor (on: a health problem is open)."""
    return [
        _sensor(slug, name, "connectivity", "connectivity", "health"),
        _sensor(slug, name, "problem", "problem", "health"),
    ]


def label_topic(slug: str, label: str) -> str:
    """A label's state topic (spaces in a label, "traffic light", become underscores)."""
    return f"{TOPIC_PREFIX}/{slug}/{label.replace(' ', '_')}"


def label_discovery(slug: str, name: str, label: str) -> tuple[str, dict]:
    """The Home Assistant discovery topic and config of a camera's sensor for one tracked label."""
    key = label.replace(" ", "_")
    topic = f"{DISCOVERY_PREFIX}/binary_sensor/nvr_{slug}/{key}/config"
    return topic, {
        "name": label.capitalize(),
        "unique_id": f"nvr_{slug}_{key}",
        "object_id": f"nvr_{slug}_{key}",
        "device_class": "occupancy",
        "state_topic": label_topic(slug, label),
        "payload_on": "ON",
        "payload_off": "OFF",
        "json_attributes_topic": f"{TOPIC_PREFIX}/{slug}/event",
        "device": {"identifiers": [f"nvr_{slug}"], "name": name, "manufacturer": "nvr", "model": "camera"},
    }


class MqttPublisher:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("MQTT_URL must look like mqtt://user:password@host:1883")
        destination = check(url, Purpose.MQTT)  # Refused: a link-local, metadata... broker is never contacted
        self.host, self.port = destination.host, destination.port
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"nvr-{id(self):x}")
        self.client.max_queued_messages_set(QUEUE_LIMIT)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            self.client.tls_set()
        self.client.reconnect_delay_set(1, 30)
        self.client.on_pre_connect = self._check_address
        self.client.on_connect = self._connected
        self._announced: dict[str, tuple[str, bool]] = {}
        self._labels: dict[str, tuple[str, tuple[str, ...]]] = {}  # slug -> (name, labels announced)
        self._open: dict[str | None, set[str]] = {}  # the health problems open per camera (None: the store)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def announce(self, slug: str, name: str, *, motion: bool = True, problems: frozenset[str] = frozenset()) -> None:
        """A capture worker took the camera: its sensors, and the states known now (`problems`: kinds open)."""
        self._announced[slug] = (name, motion)
        self._discover(slug, name, motion)
        if motion:
            self.client.publish(motion_topic(slug), "OFF", qos=1, retain=True)  # no event is open yet
        self._open[slug] = set(problems)
        self._publish_health_state(slug)

    def announce_labels(self, slug: str, name: str, labels: list[str]) -> None:
        """The detector met a camera (or its tracked labels changed): a sensor per label, OFF until seen."""
        if self._labels.get(slug) == (name, tuple(labels)):
            return
        self._labels[slug] = (name, tuple(labels))
        for label in labels:
            topic, config = label_discovery(slug, name, label)
            self.client.publish(topic, json.dumps(config), qos=1, retain=True)
            self.client.publish(label_topic(slug, label), "OFF", qos=1, retain=True)
            self.client.publish(label_topic(slug, label) + "/count", "0", qos=1, retain=True)

    def event(self, message: dict) -> None:
        slug = message["camera"]
        kind = message.get("kind", EventKind.MOTION)
        if kind != EventKind.MOTION:
            self._health(slug, kind, message)
            return
        labels = message.get("labels") or []
        if message.get("type") != "count":
            self.client.publish(f"{TOPIC_PREFIX}/{slug}/event", json.dumps(message), qos=1)
        state = "OFF" if message.get("type") == Change.END else "ON"
        if not labels:
            self.client.publish(motion_topic(slug), state, qos=1, retain=True)
        for label in labels:
            self.client.publish(label_topic(slug, label), state, qos=1, retain=True)
            self.client.publish(label_topic(slug, label) + "/count", str(message.get("count", 0)), qos=1, retain=True)

    def _health(self, slug: str | None, kind: str, message: dict) -> None:
        self.client.publish(topic(slug, "health"), json.dumps(message), qos=1)
        problems = self._open.setdefault(slug, set())
        if message.get("type") == Change.END:
            problems.discard(kind)
        else:
            problems.add(kind)
        self._publish_health_state(slug)

    def _publish_health_state(self, slug: str | None) -> None:
        problems = self._open.get(slug, set())
        self.client.publish(topic(slug, "problem"), "ON" if problems else "OFF", qos=1, retain=True)
        if slug is not None:
            online = EventKind.OFFLINE not in problems
            self.client.publish(topic(slug, "connectivity"), "ON" if online else "OFF", qos=1, retain=True)

    def _discover(self, slug: str, name: str, motion: bool = True) -> None:
        sensors = ([discovery(slug, name)] if motion else []) + health_discovery(slug, name)
        for sensor_topic, config in sensors:
            self.client.publish(sensor_topic, json.dumps(config), qos=1, retain=True)

    def _check_address(self, client: mqtt.Client, userdata: object) -> None:
        """Before every connection: the broker's addresses under the outbound policy (Refused is an OSError)."""
        resolve(self.host, self.port)

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.warning("mqtt: the broker refused the connection (%s)", reason_code)
            return
        log.info("mqtt: connected to %s:%s", self.host, self.port)
        for slug, (name, motion) in list(self._announced.items()):  # a broker that restarted lost them
            self._discover(slug, name, motion)
        for slug, (name, labels) in list(self._labels.items()):
            for label in labels:
                topic, config = label_discovery(slug, name, label)
                self.client.publish(topic, json.dumps(config), qos=1, retain=True)
