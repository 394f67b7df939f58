"""Grab one frame from a camera directly (the admin's "test connection")."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cameras.config import CameraConfig
from cameras.sources import SourceError, source_for
from imaging import encode_jpeg, fit_width


@dataclass
class GrabResult:
    ok: bool
    message: str
    jpeg: bytes = b""
    width: int = 0
    height: int = 0
    seconds: float = 0.0


def grab_one_frame(config: CameraConfig) -> GrabResult:
    """Open the camera, grab one frame and close it; errors are operator-readable, credential-free."""
    started = time.monotonic()
    source = source_for(config)
    try:
        source.open()
        source.grab()
        image = source.retrieve()
    except SourceError as error:
        return GrabResult(False, str(error), seconds=time.monotonic() - started)
    except Exception as error:  # noqa: BLE001
        return GrabResult(False, f"internal error ({type(error).__name__})", seconds=time.monotonic() - started)
    finally:
        source.close()
    height, width = image.shape[:2]
    preview = fit_width(image, 640)
    return GrabResult(
        True, f"got a {width}x{height} frame", encode_jpeg(preview, 80), width, height, time.monotonic() - started
    )
