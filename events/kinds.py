"""The kinds of event: motion, and the health problems (events.health). No model here: capture code imports it
before Django's apps are ready."""

from __future__ import annotations

from django.db import models


class EventKind(models.TextChoices):
    """What an event is about; the value travels in webhooks, MQTT and the API as `kind`.

    A health problem is one event from the moment it is decided (start) to the moment it is over (end):
    offline until back online, recording failing until it resumes, and so on (events.health decides).
    """

    MOTION = "motion", "Motion"
    OFFLINE = "offline", "Camera offline"
    RECORDING = "recording", "Recording failing"
    LOW_SPACE = "low_space", "Store low on space"
    OVER_BUDGET = "over_budget", "Store over budget"
    TAMPER = "tamper", "Tampering"
    CLOCK = "clock", "Camera clock off"

    @property
    def is_health(self) -> bool:
        return self is not EventKind.MOTION


class PushKind(models.TextChoices):
    """What a push subscription asks for: motion, health problems, objects (events with labels, detection/)."""

    MOTION = "motion", "Motion"
    HEALTH = "health", "Health (offline, recording, storage, tampering, clock)"
    OBJECTS = "objects", "Objects (object detection's labels)"
