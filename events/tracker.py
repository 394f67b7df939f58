"""Detections in, events out: motion closer together than the camera's gap is one event.

An event starts at the first detection with motion and ends at the last one; the gap that
merges motion and any playback padding are not part of it. The tracker only decides; saving
events, snapshots and notifications is the caller's (events.watcher).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_GAP_SECONDS = 5.0  # cameras.Camera.event_gap_seconds' default


class Change(StrEnum):
    """What a detection did to the open event; START and END are also the webhook's and MQTT's `type`."""

    START = "start"
    PEAK = "peak"  # the open event has a new highest score (the caller takes a new snapshot)
    END = "end"


@dataclass
class OpenEvent:
    start: float  # epoch seconds of the first detection with motion
    end: float  # of the last one so far
    peak_score: float = 0.0
    zones: set[str] = field(default_factory=set)


@dataclass
class EventTracker:
    gap_seconds: float = DEFAULT_GAP_SECONDS
    current: OpenEvent | None = None

    def update(self, at: float, score: float, zones: tuple[str, ...] = ()) -> tuple[Change, OpenEvent] | None:
        """Feed one detection; returns (what changed, event) when something happened."""
        event = self.current
        if score > 0:
            if event is not None and at - event.end > self.gap_seconds:
                self.current = None  # the gap passed between two detections (a stalled feed)
                return Change.END, event
            if event is None:
                self.current = OpenEvent(start=at, end=at, peak_score=score, zones=set(zones))
                return Change.START, self.current
            event.end = at
            event.zones.update(zones)
            if score > event.peak_score:
                event.peak_score = score
                return Change.PEAK, event
            return None
        if event is not None and at - event.end > self.gap_seconds:
            self.current = None
            return Change.END, event
        return None

    def finish(self) -> OpenEvent | None:
        """Close the open event (the camera stopped); it ends at its last motion."""
        event, self.current = self.current, None
        return event
