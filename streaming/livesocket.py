"""A camera's own H.264 for the browser: fragmented MP4 over a WebSocket (`/ws/live/<slug>/`), played by MSE.

The page (static/nvr/h264.js) is sent one text message first, `{"type": "init", "codec": "avc1.64001f"}`,
so it can ask `MediaSource.isTypeSupported` before it creates anything, then binary messages: the init
segment, the group since the last keyframe, then each fragment as it comes (streaming.livefeed). The
socket closes with RESTART_CLOSE_CODE when the stream restarts in a new format (the page opens it again
at once and re-creates its MediaSource), and with REVOKED_CLOSE_CODE when access is withdrawn.

`?stream=sub` asks for the camera's sub stream (the grid's tiles and the wall; cameras.relay's second relay),
where it has one, else the main stream. The init message says which it carries (`"stream": "sub"` or
`"main"`): while the sub stream has failed, its relay carries the main stream's packets, and the message
says so (`"fallback"`: why), so the tile can tell the person.

One socket per camera (a tile, the camera page): WebSockets are not bound by HTTP/1.1's six connections
per host, and a socket per camera gives each its own flow control, so a camera with a large picture
never holds back the others' (the measured cost per socket is in bench/README.md). It lives inside
the hub's viewer lifecycle like every stream: counted, re-checked, and cut at the write deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from audit.log import Actor, ViewAudit
from framebus import BUS_ERRORS, LiveStream
from framebus.status import CameraStatus, SubStream
from streaming.auth import Access, token_access
from streaming.consumers import REVOKED_CLOSE_CODE, _second_factor_ok
from streaming.hub import Hub, get_hub
from streaming.livefeed import NewGeneration, NotRelayed, live_chunks

log = logging.getLogger(__name__)

RESTART_CLOSE_CODE = 4001  # the stream restarted with a new init segment: open it again
NOT_RELAYED_CLOSE_CODE = 4002  # the camera's video is not H.264: the page falls back to MJPEG


class LiveConsumer(AsyncWebsocketConsumer):
    """`/ws/live/<slug>/[?token=][&stream=sub]`: one camera's H.264 as fMP4 messages (session or a kiosk's token)."""

    sender: asyncio.Task | None = None
    closed = False

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        user = self.scope.get("user")
        access: Access | None
        if query.get("token"):
            access = await token_access(query["token"][0])
        elif user is not None and user.is_authenticated and user.is_active and await _second_factor_ok(self.scope):
            access = Access(user=user)
        else:
            access = None
        camera = await access.camera(slug) if access is not None else None
        if access is None or camera is None:
            await self.close()  # before accept(): the handshake is refused, unknown and forbidden alike
            return
        await self.accept()
        client = self.scope.get("client") or ("", 0)
        actor = Actor.of(access.user, address=client[0] or "", token_id=access.token_id)
        audit = ViewAudit(actor, ((camera.pk, camera.slug),))
        stream = LiveStream.parse(query.get("stream", [""])[0]) if camera.sub_source else LiveStream.MAIN
        self.sender = asyncio.get_running_loop().create_task(self._send(access, slug, audit, stream))

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self.sender is not None:
            self.sender.cancel()
            self.sender = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page sends nothing we act on."""

    async def _send(self, access: Access, slug: str, audit: ViewAudit, stream: LiveStream) -> None:
        hub = get_hub()

        async def still_allowed() -> bool:
            return await access.still_allows(slug)

        code = 1000
        try:
            async with (
                hub.viewer(slug, still_allowed, audit=audit) as viewer,
                hub.watch_live(slug, viewer, stream) as feed,
            ):
                try:
                    sent_codec = False
                    async for data in live_chunks(feed, viewer, hub.counters):
                        if not sent_codec:
                            assert feed.init is not None
                            said = {"type": "init", "codec": feed.init.codec, **await _carried(hub, slug, stream)}
                            await self.send(text_data=json.dumps(said))
                            sent_codec = True
                        await self.send(bytes_data=data)
                except NewGeneration:
                    code = RESTART_CLOSE_CODE
                except NotRelayed as error:
                    await self.send(text_data=json.dumps({"type": "init", "codec": error.codec, "relayed": False}))
                    code = NOT_RELAYED_CLOSE_CODE
            if viewer.revoked.is_set():
                code = REVOKED_CLOSE_CODE
            await self.close(code=code)
        except asyncio.CancelledError:
            if not self.closed:  # cut by the hub (its write deadline): the socket closes too
                asyncio.get_running_loop().create_task(self.close(code=1011))
            raise
        except Exception:
            log.debug("live socket of %s ended", slug, exc_info=True)


async def _carried(hub: Hub, slug: str, asked: LiveStream) -> dict[str, str]:
    """Which stream a feed carries, for its init message: the sub stream's relay carries the main stream's
    packets while the sub stream has failed (the camera's status says so, and why)."""
    if asked is LiveStream.MAIN:
        return {"stream": "main"}
    try:
        raw = (await hub.bus.statuses([slug])).get(slug)
    except BUS_ERRORS:
        raw = None
    status = CameraStatus.from_fields(raw or {})
    if status.sub_stream is SubStream.FALLBACK:
        return {"stream": "main", "fallback": f"the sub stream failed ({status.sub_stream_error or 'no reason given'})"}
    return {"stream": "sub"}
