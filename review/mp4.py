"""The few facts about a fragmented MP4 file that review needs, read from its top-level box headers.

A recorded segment is one fMP4 file: an init section (ftyp, moov) and then fragments (moof,
mdat). HLS wants the two apart: EXT-X-MAP names the init section and the media segment is the
rest. Reading box headers costs a few small reads per file, only when a segment is requested.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

_HEADER = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")


class NotFragmented(ValueError):
    """The file has no movie fragment (not an fMP4 segment, or cut before its first fragment)."""


def top_level_boxes(file: BinaryIO, file_size: int) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level box of an open file of `file_size` bytes, in file order."""
    boxes = []
    offset = 0
    while offset + 8 <= file_size:
        file.seek(offset)
        size, kind = _HEADER.unpack(file.read(8))
        if size == 1:
            size = _LARGE.unpack(file.read(8))[0]
        elif size == 0:
            size = file_size - offset
        if size < 8:
            break  # corrupt: stop at what was readable
        boxes.append((kind.decode("latin-1"), offset, size))
        offset += size
    return boxes


def init_length(file: BinaryIO, file_size: int) -> int:
    """Bytes before the first movie fragment: the init section (ftyp + moov)."""
    for kind, offset, _ in top_level_boxes(file, file_size):
        if kind == "moof":
            return offset
    raise NotFragmented("the file has no movie fragment")
