"""MQTT for events (optional, MQTT_URL): motion ON/OFF per camera, the event JSON, and Home Assistant
discovery, so every camera appears in Home Assistant as a motion sensor without configuration.

Topics (prefix `nvr`):
- `nvr/<slug>/motion`: "ON" when an event starts, "OFF" when it ends (retained);
- `nvr/<slug>/event`: the event's JSON, as webhooks get it;
- `homeassistant/binary_sensor/nvr_<slug>/motion/config`: discovery (retained), sent when a
  capture worker takes the camera;
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

from events.tracker import Change
from outbound import Purpose, check, resolve

log = logging.getLogger(__name__)

TOPIC_PREFIX = "nvr"
DISCOVERY_PREFIX = "homeassistant"
QUEUE_LIMIT = 1000  # messages paho keeps while the broker is away


def motion_topic(slug: str) -> str:
    return f"{TOPIC_PREFIX}/{slug}/motion"


def discovery(slug: str, name: str) -> tuple[str, dict]:
    """The Home Assistant discovery topic and config of a camera's motion sensor."""
    topic = f"{DISCOVERY_PREFIX}/binary_sensor/nvr_{slug}/motion/config"
    return topic, {
        "name": "Motion",
        "unique_id": f"nvr_{slug}_motion",
        "object_id": f"nvr_{slug}_motion",
        "device_class": "motion",
        "state_topic": motion_topic(slug),
        "payload_on": "ON",
        "payload_off": "OFF",
        "json_attributes_topic": f"{TOPIC_PREFIX}/{slug}/event",
        "device": {"identifiers": [f"nvr_{slug}"], "name": name, "manufacturer": "nvr", "model": "camera"},
    }


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
        self._announced: dict[str, str] = {}
        self._labels: dict[str, tuple[str, tuple[str, ...]]] = {}  # slug -> (name, labels announced)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def announce(self, slug: str, name: str) -> None:
        self._announced[slug] = name
        self._discover(slug, name)
        self.client.publish(motion_topic(slug), "OFF", qos=1, retain=True)  # no event is open yet

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
        labels = message.get("labels") or []
        if message.get("type") != "count":
            self.client.publish(f"{TOPIC_PREFIX}/{slug}/event", json.dumps(message), qos=1)
        state = "OFF" if message.get("type") == Change.END else "ON"
        if not labels:
            self.client.publish(motion_topic(slug), state, qos=1, retain=True)
        for label in labels:
            self.client.publish(label_topic(slug, label), state, qos=1, retain=True)
            self.client.publish(label_topic(slug, label) + "/count", str(message.get("count", 0)), qos=1, retain=True)

    def _discover(self, slug: str, name: str) -> None:
        topic, config = discovery(slug, name)
        self.client.publish(topic, json.dumps(config), qos=1, retain=True)

    def _check_address(self, client: mqtt.Client, userdata: object) -> None:
        """Before every connection: the broker's addresses under the outbound policy (Refused is an OSError)."""
        resolve(self.host, self.port)

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.warning("mqtt: the broker refused the connection (%s)", reason_code)
            return
        log.info("mqtt: connected to %s:%s", self.host, self.port)
        for slug, name in list(self._announced.items()):  # a broker that restarted lost them
            self._discover(slug, name)
        for slug, (name, labels) in list(self._labels.items()):
            for label in labels:
                topic, config = label_discovery(slug, name, label)
                self.client.publish(topic, json.dumps(config), qos=1, retain=True)
