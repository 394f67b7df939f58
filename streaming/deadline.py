"""A write deadline on every response Django sends: a client that takes nothing for a while is let go.

Live streams have theirs in the hub, which writes them (NVR_STREAM_WRITE_DEADLINE). Everything Django
sends (clips, recorded segments, playlists, snapshots, pages, JSON) goes out in `send` calls of at most
64 KB (Django's ASGI handler splits bodies so), each of which waits for the socket to drain under
uvicorn. A client that stopped reading held its request, its open file or clip and its buffers until
TCP gave up, which for a vanished peer is hours (issue #23: 20 stalled clip downloads, +41 threads and
+135 MB in the web process, never freed). Here every send must finish within
NVR_DOWNLOAD_WRITE_DEADLINE seconds (30): past it the connection is aborted (through nvr.server's
DirectWrite, when the server gives it; a close would wait for the buffer) and the request cancelled,
as a client disconnect cancels it, so the response ends as a broken transfer, never a clean one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

from streaming.directwrite import connection_of, reset

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def write_deadline(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app so that each of its HTTP sends must complete within NVR_DOWNLOAD_WRITE_DEADLINE."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        seconds = float(settings.NVR_DOWNLOAD_WRITE_DEADLINE)
        transport = connection_of(scope)

        async def send_within(message: Mapping[str, Any]) -> None:
            try:
                async with asyncio.timeout(seconds):
                    await send(message)
            except TimeoutError:
                log.info("response to %s dropped (no write progress for %.0fs)", scope.get("path", "?"), seconds)
                if transport is not None:
                    reset(transport)
                    await asyncio.sleep(0)  # the server hears of the lost connection before the app returns
                raise asyncio.CancelledError() from None  # Django ends the request as it does on a disconnect

        await app(scope, receive, send_within)

    return guarded
