"""The one place that frames MJPEG parts.

Every part carries exactly `Content-Type: image/jpeg` and a `Content-Length` (what
ffmpeg's mpjpeg demuxer needs) and ends with the next boundary, so browsers paint
a frame as soon as it arrives instead of when the following one does (see docs/facts.md).
Parts are built once per frame and shared by every viewer.
"""

from __future__ import annotations

BOUNDARY = "frame"
CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
STREAM_START = b"--" + BOUNDARY.encode() + b"\r\n"
_PART_END = b"\r\n--" + BOUNDARY.encode() + b"\r\n"


def part(jpeg: bytes, ts: float, *, camera: str | None = None, seq: int | None = None) -> bytes:
    """One part: headers, JPEG, and the boundary that closes it."""
    headers = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\nX-Timestamp: {ts:.6f}\r\n"
    if camera is not None:
        headers += f"X-Camera: {camera}\r\n"
    if seq is not None:
        headers += f"X-Sequence: {seq}\r\n"
    return b"".join((headers.encode(), b"\r\n", jpeg, _PART_END))
