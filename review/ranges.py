"""Serving a byte window of a file with HTTP Range (RFC 9110 section 14): 206 for one range, 416 when none fits.

Players fetch segments whole or in ranges; VLC and Safari probe with ranges. One range per request
(multipart/byteranges is not used by media players). The file is read in chunks off the event
loop; a file removed by retention while it is being served stays readable through the open
handle (POSIX), so a reader never gets half a file.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from typing import BinaryIO

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

CHUNK = 256 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range` header within `size`; None for no (or an ignored) range.

    Raises ValueError when the range cannot be satisfied (416).
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or "," in header:
        return None  # not a single byte range: serve the whole file, as RFC 9110 allows
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # a suffix: the last N bytes
        length = int(last_text)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        raise ValueError("range not satisfiable")
    return first, last


async def _chunks(file: BinaryIO, first: int, length: int) -> AsyncGenerator[bytes, None]:
    try:
        await asyncio.to_thread(file.seek, first)
        left = length
        while left > 0:
            data = await asyncio.to_thread(file.read, min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        file.close()


def serve_window(
    request: HttpRequest, file: BinaryIO, *, offset: int, length: int, content_type: str, headers: dict[str, str]
) -> HttpResponse | StreamingHttpResponse:
    """Serve `length` bytes of the open `file` from `offset` as a whole resource, honouring a Range header.

    The response owns `file` and closes it when it ends (or at once, for a 416)."""
    try:
        window = parse_range(request.headers.get("Range"), length)
    except ValueError:
        file.close()
        return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{length}"})
    first, last = window if window is not None else (0, length - 1)
    response = StreamingHttpResponse(
        _chunks(file, offset + first, last - first + 1),
        status=206 if window is not None else 200,
        content_type=content_type,
        headers={**headers, "Accept-Ranges": "bytes", "Content-Length": str(last - first + 1)},
    )
    if window is not None:
        response["Content-Range"] = f"bytes {first}-{last}/{length}"
    return response
