"""Live camera status for the dashboard over a WebSocket (`/ws/status/`).

How a status reaches a page: capture workers PUBLISH every camera's status once a second
on one Redis channel (framebus.names: `Names.status_channel`). Each web process reads that channel once
(`StatusRelay`: one pub/sub connection per event loop, opened with the first dashboard and
closed with the last) and hands each status to the connections showing that camera.

Why not the alternatives: a Redis subscription per WebSocket, or polling Redis once a
second per WebSocket, both make Redis load grow with viewers (docs/design.md, invariant 3); a
channel-layer group queues without bound per consumer (docs/facts.md). Here the cost per viewer
is a dict update and an Event.set per status, and what waits for a slow connection is a
dict keyed by camera: it gets the newest status of each camera, never a backlog.

A camera whose worker stopped reporting (capture process gone) is sent as offline once
its last status is framebus.status.STATUS_STALE_AFTER seconds old, so a tile never stays
"live" by omission. The viewer count is every web process's (framebus: each hub reports its
own each second), read by the relay at most once a second for all its connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts import policy
from cameras.selectors import visible_cameras
from cameras.status import status_from
from framebus import BUS_ERRORS, RawStatus, status_updates
from framebus.status import STATUS_STALE_AFTER, WORKER_GONE, CameraStatus, State
from streaming.auth import Access, token_access
from streaming.hub import AccessCheck, Viewer, get_hub

log = logging.getLogger(__name__)

TICK = 1.0  # how often a connection checks for stale cameras
VIEWER_COUNTS_EVERY = 1.0  # seconds between the relay's reads of the viewer counts
REVOKED_CLOSE_CODE = 4403  # the socket closes with this code when the user's access is withdrawn


async def viewer_counts(slugs: set[str]) -> dict[str, int]:
    """Live viewers of each camera over every web process; this process's alone when Redis is away."""
    hub = get_hub()
    try:
        return await hub.bus.viewer_counts(slugs)
    except BUS_ERRORS:
        return hub.viewer_counts()


def public_status(slug: str, status: CameraStatus, viewers: int) -> dict:
    """What a dashboard shows of a camera's status (no secrets, nothing the page must not see)."""
    return {
        "slug": slug,
        "state": status.state.value,
        "label": status.label,
        "fps": round(status.fps, 1),
        "motion": status.motion,
        "objects": [label for label in status.objects.split(",") if label],
        "error": status.error,
        "viewers": viewers,
        "width": status.width or None,
        "height": status.height or None,
    }


class StatusListener:
    """One connection's pending statuses: newest per camera, bounded by its number of cameras."""

    def __init__(self, slugs: set[str]) -> None:
        self.slugs = slugs
        self.pending: dict[str, dict] = {}
        self.ready = asyncio.Event()

    def offer(self, item: dict) -> None:
        self.pending[item["slug"]] = item
        self.ready.set()

    def take(self) -> list[dict]:
        items, self.pending = self.pending, {}
        self.ready.clear()
        return list(items.values())


class StatusRelay:
    """The web process's one reader of the status channel, fanning statuses out to listeners."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url, self.namespace = url, namespace
        self.listeners: set[StatusListener] = set()
        self.seen: dict[str, float] = {}  # camera -> monotonic time of its last status
        self.viewers: dict[str, int] = {}  # camera -> live viewers in every web process
        self._counted_at = 0.0
        self._task: asyncio.Task | None = None

    def add(self, listener: StatusListener) -> None:
        self.listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="nvr-status-relay")

    def remove(self, listener: StatusListener) -> None:
        """Forget `listener`; the last one out closes the subscription."""
        self.listeners.discard(listener)
        if not self.listeners and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        updates = status_updates(self.url, namespace=self.namespace)
        try:
            async for status in updates:
                slug = status["slug"]
                self.seen[slug] = time.monotonic()
                if self.seen[slug] - self._counted_at >= VIEWER_COUNTS_EVERY:
                    self._counted_at = self.seen[slug]
                    self.viewers = await viewer_counts(set().union(*(listener.slugs for listener in self.listeners)))
                item = None
                for listener in list(self.listeners):
                    if slug in listener.slugs:
                        # built once, shared
                        item = item or public_status(slug, CameraStatus.from_fields(status), self.viewers.get(slug, 0))
                        listener.offer(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("status relay failed")
        finally:
            await updates.aclose()


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StatusRelay] = weakref.WeakKeyDictionary()


def get_relay() -> StatusRelay:
    """The status relay of the running event loop, created on first use (never at import time)."""
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None:
        relay = _relays[loop] = StatusRelay(settings.REDIS_URL, settings.NVR_REDIS_NAMESPACE)
    return relay


async def _second_factor_ok(scope: dict) -> bool:
    """The session's user meets NVR_REQUIRE_MFA (accounts.policy), as every stream requires."""
    if policy.mfa_policy() == policy.MfaPolicy.OFF:
        return True
    methods = await sync_to_async(scope["session"].get)(policy.SESSION_METHODS_KEY)
    return await policy.amfa_satisfied(scope["user"], methods)


class StatusConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/status/[?camera=<slug>]`: the status of the user's cameras, then every change.

    Messages to the page: `{"type": "status", "cameras": [{slug, state, fps, error,
    viewers, width, height}, ...]}`; the first lists every camera, later ones only those
    that changed. Anonymous users are refused during the handshake (HTTP 403).
    """

    listener: StatusListener | None = None
    sender: asyncio.Task | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        user = self.scope.get("user")
        if query.get("token"):  # a kiosk's token: its cameras (a group's), re-checked like its streams
            access = await token_access(query["token"][0])
            if access is None or access.user is None:
                await self.close()
                return
            user, visible = access.user, access.cameras()
        elif user is None or not user.is_authenticated or not user.is_active or not await _second_factor_ok(self.scope):
            await self.close()  # before accept(): the handshake is refused
            return
        else:
            access, visible = Access(user=user), visible_cameras(user)
        only = query.get("camera")
        if only:
            visible = visible.filter(slug__in=only)
        cameras = [c async for c in visible]
        await self.accept()
        # Listen before reading the initial statuses, so no change falls between the two.
        self.listener = StatusListener({c.slug for c in cameras})
        relay = get_relay()
        relay.add(self.listener)
        try:
            statuses: dict[str, RawStatus] | None
            try:
                statuses = await get_hub().bus.statuses(c.slug for c in cameras)
            except BUS_ERRORS:
                statuses = None  # every camera's state is unknown, not offline
            viewers = await viewer_counts({c.slug for c in cameras})
            initial = [
                public_status(
                    c.slug,
                    status_from(c, None if statuses is None else statuses.get(c.slug, {})),
                    viewers.get(c.slug, 0),
                )
                for c in cameras
            ]
            await self.send_json({"type": "status", "cameras": initial})
        except BaseException:
            await self.disconnect(1011)  # never leave a listener behind
            raise
        live = {item["slug"] for item in initial if item["state"] == State.ONLINE}
        slugs = [c.slug for c in cameras]

        async def still_allowed() -> bool:
            return all(await asyncio.gather(*(access.still_allows(slug) for slug in slugs)))

        self.sender = asyncio.get_running_loop().create_task(self._send_updates(relay, live, still_allowed))

    async def disconnect(self, code: int) -> None:
        if self.listener is not None:
            get_relay().remove(self.listener)
            self.listener = None
        if self.sender is not None:
            self.sender.cancel()
            self.sender = None

    async def receive_json(self, content: object, **kwargs: object) -> None:
        """The page sends nothing we act on; "ping" gets a "pong" (for clients that check liveness)."""
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def _send_updates(self, relay: StatusRelay, live: set[str], still_allowed: AccessCheck) -> None:
        """Send changes until the socket closes; inside the hub's viewer lifecycle, so the user's
        access is re-checked like every stream's, and the socket is closed (4403) when it is gone."""
        listener = self.listener
        assert listener is not None
        connected_at = time.monotonic()
        try:
            async with get_hub().viewer("status", still_allowed) as viewer:
                await self._relay_changes(relay, listener, live, viewer, connected_at)
            if viewer.revoked.is_set():
                await self.close(code=REVOKED_CLOSE_CODE)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("status updates ended", exc_info=True)

    async def _relay_changes(
        self, relay: StatusRelay, listener: StatusListener, live: set[str], viewer: Viewer, connected_at: float
    ) -> None:
        while not viewer.revoked.is_set():
            try:
                async with asyncio.timeout(TICK):
                    await listener.ready.wait()
            except TimeoutError:
                pass
            items = listener.take()
            for item in items:
                (live.add if item["state"] == State.ONLINE else live.discard)(item["slug"])
            now = time.monotonic()
            for slug in list(live):
                if now - max(relay.seen.get(slug, 0.0), connected_at) > STATUS_STALE_AFTER:
                    live.discard(slug)
                    gone = CameraStatus(State.OFFLINE, error=WORKER_GONE)
                    items.append(public_status(slug, gone, relay.viewers.get(slug, 0)))
            if items:
                viewer.sending_since = time.monotonic()  # a socket that stops draining meets the hub's write deadline
                await self.send_json({"type": "status", "cameras": items})
                viewer.sending_since = None
