"""Grab one frame from a camera directly: the admin's "Test connection".

Whoever may change a camera may point its source anywhere, and a connection test that answered
"connection refused", "not RTSP" or "timed out" (each at its own speed) was a port scanner of the
server's network (issue #23). So the test says only "reachable" (and shows the frame) or "not
reachable", every failure is answered after the same NVR_CONNECTION_TEST_SECONDS whatever its cause,
and the admin limits how many cameras a user may test (cameras.admin). The capture worker's status
still names the cause, for the operators who run the camera.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings

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


def check_connections(configs: list[CameraConfig]) -> list[GrabResult]:
    """Test every camera at once: "reachable" with its frame, or "not reachable" after NVR_CONNECTION_TEST_SECONDS.

    That is longer than a failed open takes (a 5 s open timeout, then a probe), so that a refused port,
    a silent one and a server speaking another protocol all answer at the same moment. A grab still
    running then is left to end by its own timeouts (its thread is not waited for).
    """
    if not configs:
        return []
    answer_after = float(settings.NVR_CONNECTION_TEST_SECONDS)
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=len(configs), thread_name_prefix="nvr-connection-test")
    try:
        futures = [pool.submit(grab_one_frame, config) for config in configs]
        wait(futures, timeout=answer_after)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for future in futures:
        result = future.result() if future.done() else None
        if result is not None and result.ok:
            results.append(GrabResult(True, "reachable", result.jpeg, result.width, result.height))
        else:
            results.append(GrabResult(False, "not reachable"))
    if not all(result.ok for result in results):
        time.sleep(max(0.0, started + answer_after - time.monotonic()))
    return results
