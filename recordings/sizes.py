"""Human sizes in settings ("50GB", "500 MiB", "5%"): parsed once at start, with a clear error for nonsense.

Decimal units are powers of 1000 (GB), binary ones powers of 1024 (GiB), as disks and `df -h --si`
count; a bare number is bytes. A percentage (only where a setting allows one) is of the store's
filesystem size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")


class SizeError(ValueError):
    """A size setting that means nothing; the message names the setting and shows valid examples."""


def parse_size(text: str, *, name: str) -> int:
    """Bytes for `text` ("0" or "" is 0)."""
    if not text.strip():
        return 0
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise SizeError(f"{name}={text!r} is not a size: write e.g. 500GB, 2TiB, 750MB or a number of bytes")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class Floor:
    """A free-space floor: a fixed number of bytes, or a fraction of the filesystem."""

    bytes: int = 0
    fraction: float = 0.0

    def of(self, filesystem_bytes: int) -> int:
        return max(self.bytes, int(self.fraction * filesystem_bytes))


def parse_floor(text: str, *, name: str) -> Floor:
    """A size or a percentage ("5%")."""
    match = _PERCENT.fullmatch(text)
    if match:
        percent = float(match.group(1))
        if not 0 <= percent < 100:
            raise SizeError(f"{name}={text!r}: a percentage must be from 0 to under 100")
        return Floor(fraction=percent / 100)
    try:
        return Floor(bytes=parse_size(text, name=name))
    except SizeError:
        raise SizeError(f"{name}={text!r} is not a size or a percentage: write e.g. 5%, 20GB or 500MiB") from None


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, *, name: str) -> float:
    """Seconds for `text` ("2d", "12h", "90m", "30s", or a number of seconds)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise SizeError(f"{name}={text!r} is not a duration: write e.g. 2d, 12h, 90m or a number of seconds")
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]
