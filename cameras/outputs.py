"""What a capture loop feeds: its outputs, known only through this protocol (docs/design.md, invariant 13).

A capture loop reads one connection per camera and hands every packet and the decoded frames to a
list of outputs the supervisor built from the camera's fields (cameras.supervisor.outputs_for):
the live JPEG publisher (cameras.live), the recorder (recordings.recorder) and the motion watcher
(events.watcher) today; an H.264 live relay, a detector feed or health checks next. The loop names
none of them. To add a kind of output, write one class with these five methods and add it in
`outputs_for`; recordings and events match the protocol by shape, since they sit below cameras.

Decoding is paid for by the outputs that ask for it: each says, before every frame, how often it
wants a decoded picture (`frame_interval`), and a camera whose outputs all say None decodes nothing
(an RTSP camera recorded but neither watched nor watched for motion: bench capture measures it).
Sources without compressed video (test pattern, webcam, MJPEG, file, Pi) deliver pictures only.
Outputs run on the capture thread: they must never block for long and never raise.

A camera may have a sub stream (`sub_source`, a second connection at low resolution). An output whose
class or instance says `pictures_from_sub_stream = True` (motion, the grid's JPEGs) is handed the sub
stream's pictures while it is live, and the main stream's while it is not (connecting, failed); all
other outputs get the main stream (packets for recording and relaying, pictures). Either way an
output is handed pictures by one thread at a time. An output that says `packets_from_sub_stream = True`
(the grid's H.264 relay) is handed the sub stream's video packets instead of the main stream's, and the
main stream's while the sub stream has failed (told `disconnected` at each switch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class CaptureOutput(Protocol):
    """One consumer of a camera's capture."""

    def frame_interval(self) -> float | None:
        """Seconds between the decoded frames this output wants now; None for none (asked before each frame)."""

    def packet(self, packet: Any) -> None:
        """A compressed packet as the camera sent it (an av.Packet; `packet.stream` says which stream), its
        timestamps already checked (cameras.timestamps). Leave it as it came: other outputs get it next.
        Video packets go to every output; the camera's audio packets only to those that say
        `takes_audio = True` (the recorder)."""

    def frame(self, image: np.ndarray, ts: float) -> None:
        """A decoded BGR picture (downscaled to the camera's max_width) captured at `ts` (Unix seconds),
        at most as often as `frame_interval` asked."""

    def disconnected(self, reason: str) -> None:
        """The camera went away or the loop stops (`reason` in an operator's words): close what is open."""

    def status(self) -> Mapping[str, object]:
        """What this output adds to its camera's status (framebus.status.CameraStatus field names). Text and
        yes/no values are states, written as soon as they change; numbers are measurements, written every second."""
