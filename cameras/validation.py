"""Checks of a camera's `source` per kind, and the split of credentials out of URLs.

Kept apart from the model so the admin form, the import command and the tests all
apply exactly the same rules.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from cameras.kinds import Kind
from outbound import Purpose, Refused, check_now

URL_SCHEMES: dict[str, tuple[str, str]] = {Kind.RTSP: ("rtsp", "rtsps"), Kind.HTTP_MJPEG: ("http", "https")}
RESOLUTION_RE = re.compile(r"^(\d{2,4})x(\d{2,4})$")


def split_credentials(url: str) -> tuple[str, str, str]:
    """Return (url without user:pass, username, password); credentials live in their own fields.

    Never raises: the host and port are kept as typed (a bad port is validate_source's to
    report), and a URL that cannot be parsed at all is returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return url, "", ""
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, "", ""
    username, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(username), unquote(password)


class OutsideMediaDir(ValueError):
    """A file source that resolves outside NVR_MEDIA_DIR."""


def resolve_file_path(source: str) -> Path:
    """A file source: relative to NVR_MEDIA_DIR, or absolute inside it; never outside (no `..`, no escaping link).

    Whoever may edit a camera could otherwise have the capture worker read any file it can.
    """
    media = Path(settings.NVR_MEDIA_DIR).resolve()
    path = Path(source)
    resolved = (path if path.is_absolute() else media / path).resolve()
    if not resolved.is_relative_to(media):
        raise OutsideMediaDir(source)
    return resolved


def parse_resolution(source: str) -> tuple[int, int]:
    """Test pattern size from `WIDTHxHEIGHT`, 640x480 when empty."""
    if not source:
        return 640, 480
    match = RESOLUTION_RE.match(source.strip())
    if not match:
        raise ValueError(source)
    return int(match.group(1)), int(match.group(2))


def validate_source(kind: str, source: str) -> str:
    """Return the normalised source for `kind`, or raise ValidationError naming the problem."""
    source = (source or "").strip()
    if kind in URL_SCHEMES:
        return _validate_url(kind, source)
    if kind == Kind.WEBCAM:
        if source.isdigit() or (source.startswith("/dev/") and len(source) > 5):
            return source
        raise ValidationError("Enter a device index (0, 1, ...) or a device path such as /dev/video0.")
    if kind == Kind.FILE:
        if not source:
            raise ValidationError("Enter the path of a video file.")
        try:
            resolved = resolve_file_path(source)
        except OutsideMediaDir:
            raise ValidationError(
                "Video files are read only from the media folder (NVR_MEDIA_DIR, %(media)s): "
                "give a path inside it, relative to it, without '..'.",
                params={"media": settings.NVR_MEDIA_DIR},
            ) from None
        if not resolved.is_file():
            raise ValidationError("No such file: %(path)s", params={"path": source})
        return source
    if kind == Kind.PI:
        if source and not source.isdigit():
            raise ValidationError("Enter the Pi camera number (0, 1) or leave empty for the first camera.")
        return source
    if kind == Kind.TEST_PATTERN:
        try:
            width, height = parse_resolution(source)
        except ValueError:
            raise ValidationError("Enter a size such as 640x480, or leave empty.") from None
        if not (16 <= width <= 3840 and 16 <= height <= 2160):
            raise ValidationError("The test pattern size must be between 16x16 and 3840x2160.")
        return source
    raise ValidationError("Unknown camera kind.")


def validate_sub_source(kind: str, sub_source: str) -> str:
    """A sub stream is an RTSP camera's second URL, checked like its main one; empty means none."""
    sub_source = (sub_source or "").strip()
    if not sub_source:
        return ""
    if kind != Kind.RTSP:
        raise ValidationError("Only RTSP cameras have a sub stream: leave this empty.")
    return _validate_url(kind, sub_source)


def _validate_url(kind: str, source: str) -> str:
    schemes = URL_SCHEMES[kind]
    if not source:
        raise ValidationError("Enter the camera's URL.")
    try:
        parts = urlsplit(source)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValidationError("Enter a valid URL.") from None
    if parts.scheme.lower() not in schemes:
        raise ValidationError(
            "A %(kind)s camera needs a URL starting with %(schemes)s.",
            params={"kind": kind.replace("_", " "), "schemes": " or ".join(f"{s}://" for s in schemes)},
        )
    if not parts.hostname:
        raise ValidationError("The URL has no host.")
    if any(c.isspace() for c in source):
        raise ValidationError("The URL must not contain spaces.")
    try:  # the outbound policy, now; the capture worker checks again before every connection
        check_now(source, Purpose.CAMERA)
    except Refused as refusal:
        raise ValidationError("This address is not allowed: %(reason)s.", params={"reason": refusal}) from None
    except OSError:
        pass  # a name that does not resolve yet: the camera may come up later (its status will say)
    return source


def _polygon(value: object, what: str) -> None:
    if not isinstance(value, list) or len(value) < 3 or len(value) > 64:
        raise ValidationError(f"{what}: a polygon is a list of 3 to 64 corners [x, y].")
    for corner in value:
        if (
            not isinstance(corner, list)
            or len(corner) != 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in corner)
        ):
            raise ValidationError(f"{what}: each corner is [x, y] with x and y between 0 and 1 (got {corner!r}).")


def validate_zones(value: object) -> None:
    """Named polygons: {"name": [[x, y], ...]}, corners as fractions of the picture."""
    if not isinstance(value, dict):
        raise ValidationError('Zones are an object of named polygons, e.g. {"door": [[0, 0], [1, 0], [1, 1]]}.')
    if len(value) > 32:
        raise ValidationError("At most 32 zones.")
    for name, polygon in value.items():
        if not re.fullmatch(r"[\w .-]{1,40}", name):
            raise ValidationError(f"Zone name {name!r}: 1-40 letters, digits, spaces, dots or dashes.")
        _polygon(polygon, f"zone {name!r}")


def validate_masks(value: object) -> None:
    """A list of polygons where motion is ignored."""
    if not isinstance(value, list) or len(value) > 32:
        raise ValidationError("Masks are a list of at most 32 polygons, e.g. [[[0, 0], [0.3, 0], [0.3, 0.2]]].")
    for index, polygon in enumerate(value, 1):
        _polygon(polygon, f"mask {index}")


LABEL = re.compile(r"[\w .-]{1,50}")


def default_objects() -> list[str]:
    """What a camera tracks unless told otherwise (a callable: a list default must not be shared)."""
    return ["person"]


def validate_labels(value: object) -> None:
    """Object labels to track: a list of names as the model's labels file spells them."""
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationError('Objects are a list of labels, e.g. ["person", "car"].')
    for label in value:
        if not isinstance(label, str) or not LABEL.fullmatch(label):
            raise ValidationError(f"Label {label!r}: 1-50 letters, digits, spaces, dots or dashes.")


def validate_object_zones(value: object) -> None:
    """Per-label zone filters: {"car": ["driveway"]}, zone names from the camera's zones."""
    if not isinstance(value, dict) or len(value) > 100:
        raise ValidationError('Object zones are an object of labels and zone names, e.g. {"car": ["driveway"]}.')
    for label, zones in value.items():
        validate_labels([label])
        if not isinstance(zones, list) or not zones or not all(isinstance(z, str) for z in zones):
            raise ValidationError(f"Object zones of {label!r}: a list of zone names.")
