"""A plain, immutable snapshot of a camera's capture settings.

Capture threads get this instead of a model instance: no ORM access from threads,
and comparing two snapshots tells the supervisor when a loop must restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from recordings.models import RecordMode

if TYPE_CHECKING:
    from cameras.models import Camera


@dataclass(frozen=True)
class CameraConfig:
    slug: str
    name: str
    kind: str
    id: int | None = None  # the registry's primary key (the recordings index refers to it)
    uid: str = ""  # names the camera's footage in the store (never repeats, unlike a slug)
    source: str = ""
    sub_source: str = ""  # an RTSP camera's low-resolution stream (pictures for the grid and motion), or none
    username: str = ""
    password: str = ""
    max_fps: int = 15
    max_width: int | None = None
    jpeg_quality: int = 80
    rtsp_transport: str = "tcp"
    record: str = RecordMode.OFF
    audio: bool = True  # record the camera's sound with its video
    motion: bool = False
    motion_sensitivity: int = 50
    motion_min_size: float = 0.5  # percent of the picture
    motion_zones_json: str = "{}"  # JSON text: the snapshot stays hashable and comparable
    motion_masks_json: str = "[]"
    event_gap_seconds: float = 5.0
    objects_json: str = '["person"]'  # JSON text, like the zones
    min_score: float = 0.5
    min_area: float = 0.1  # percent of the picture
    object_zones_json: str = "{}"

    @classmethod
    def from_camera(cls, camera: Camera) -> CameraConfig:
        return cls(
            id=camera.pk,
            uid=str(camera.uid),
            slug=camera.slug,
            name=camera.name,
            kind=camera.kind,
            source=camera.source,
            sub_source=camera.sub_source,
            username=camera.username,
            password=camera.password,
            max_fps=camera.max_fps,
            max_width=camera.max_width,
            jpeg_quality=camera.jpeg_quality,
            rtsp_transport=camera.rtsp_transport,
            record=camera.record,
            audio=camera.audio,
            motion=camera.motion,
            motion_sensitivity=camera.motion_sensitivity,
            motion_min_size=camera.motion_min_size,
            motion_zones_json=json.dumps(camera.motion_zones, sort_keys=True),
            motion_masks_json=json.dumps(camera.motion_masks),
            event_gap_seconds=camera.event_gap_seconds,
            objects_json=json.dumps(camera.object_labels),
            min_score=camera.object_min_score,
            min_area=camera.object_min_area,
            object_zones_json=json.dumps(camera.object_zones, sort_keys=True),
        )

    def sub_stream(self) -> CameraConfig | None:
        """The config its sub stream's connection is opened with (the camera's credentials), or None.

        Its sound is not read: the main stream's is the one recorded."""
        return replace(self, source=self.sub_source, sub_source="", audio=False) if self.sub_source else None

    def __repr__(self) -> str:  # never show credentials, even in a traceback
        return f"CameraConfig(slug={self.slug!r}, kind={self.kind!r})"
