"""Packet timestamps checked once, where packets enter, so every capture output sees a clean stream.

Cameras send timestamps that go backwards (a clock reset, a reconnect inside the camera), repeat,
jump hours ahead, or are missing. A muxer refuses a decreasing DTS (the segment being written is
lost) and a jump ahead stretches a segment over time nobody recorded. The model is Home Assistant's
stream worker (`TimestampValidator` in homeassistant/components/stream/worker.py), which drops
non-increasing packets; here a large jump is repaired instead of ending the stream:

- no DTS: dropped (a missing PTS is taken from the DTS); MISSING_LIMIT in a row and the source
  reconnects (cameras.sources);
- a DTS at or below the previous one by at most MAX_JUMP_SECONDS: a repeat or reordered packet, dropped;
- further back (the camera's clock was reset), or ahead of the previous one by more than the wall
  time that passed plus MAX_JUMP_SECONDS: the stream goes on from the previous packet by the wall
  time that really passed (at least one frame), and every later packet is shifted by the same offset;
- a PTS below its DTS is raised to it.

Counts of repaired and dropped packets go into the camera's status (framebus.status.CameraStatus).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

MAX_JUMP_SECONDS = 5.0  # media time may run this far ahead of the wall clock between two packets
MISSING_LIMIT = 30  # packets in a row without a DTS (2 s at 15 fps) before the camera counts as broken
DEFAULT_FRAME_SECONDS = 1 / 15  # a frame's duration until one was seen


@dataclass
class _Track:
    """What one stream (video, later audio) has shown so far, on its own time base."""

    last_dts: int
    last_wall: float
    offset: int = 0  # added to every packet's timestamps since the last repair
    step: int = 0  # the last regular DTS increment: one frame


@dataclass
class TimestampValidator:
    """One per connection: `check(packet)` repairs the packet's timestamps in place, or says to drop it."""

    clock: Callable[[], float] = time.monotonic
    repaired: int = 0
    dropped: int = 0
    missing: int = 0  # packets in a row without a DTS
    _tracks: dict[int, _Track] = field(default_factory=dict)

    def check(self, packet: Any) -> bool:
        """True to pass the packet on (its timestamps now clean), False to drop it."""
        if packet.dts is None:
            self.missing += 1
            self.dropped += 1
            return False
        self.missing = 0
        now = self.clock()
        base: Fraction = packet.time_base
        index = packet.stream_index
        track = self._tracks.get(index)
        original = (packet.pts, packet.dts)
        repaired = False
        dts = packet.dts + (track.offset if track else 0)
        pts = (packet.pts if packet.pts is not None else packet.dts) + (track.offset if track else 0)
        if track is None:
            self._tracks[index] = track = _Track(dts, now)
        else:
            step = track.step or max(1, round(DEFAULT_FRAME_SECONDS / base))
            behind, ahead = (track.last_dts - dts) * base, (dts - track.last_dts) * base
            shift = 0
            if dts <= track.last_dts:
                if behind <= MAX_JUMP_SECONDS:
                    self.dropped += 1  # a repeat or a reordered packet
                    return False
                shift = track.last_dts + step - dts  # the camera's clock went back: carry on from where it was
            elif ahead > now - track.last_wall + MAX_JUMP_SECONDS:
                passed = round((now - track.last_wall) / base)
                shift = track.last_dts + max(step, passed) - dts  # a jump ahead: only the time that passed
            if shift:
                track.offset += shift
                dts, pts = dts + shift, pts + shift
                repaired = True
            else:
                track.step = dts - track.last_dts
            track.last_dts, track.last_wall = dts, now
        if pts < dts:
            pts, repaired = dts, True
        if (pts, dts) != original:
            packet.pts, packet.dts = pts, dts  # a shifted clock (or a PTS taken from the DTS: not a repair)
        self.repaired += repaired
        return True
