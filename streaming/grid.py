"""The dashboard's one stream: the newest frame of many cameras, interleaved on one connection.

Over HTTP/1.1 a browser opens at most 6 connections per host (docs/facts.md), so a grid with one
MJPEG `<img>` per camera leaves all tiles past the sixth blank and starves every other
request to the site. The grid page instead reads this single multipart stream with
`fetch()`: each part is one camera's JPEG at the tile size, tagged `X-Camera: <slug>`.

Per connection the stream holds one hub Feed per camera (shared with every other viewer
of that camera and size), one asyncio.Event that any of those feeds sets when a frame
arrives (`Feed.listeners`), and the feed version last sent per camera. Nothing queues:
a camera that got two frames while the socket was busy simply has a newer version, and
only its newest frame goes out. A per-tile fps cap bounds what one connection costs.
The stream lives inside the hub's viewer lifecycle (`Hub.viewer`), like every stream: its
access to every camera on it is re-checked on the same schedule, and the write deadline
drops it exactly like a single-camera stream whose client stopped reading. Under nvr.asgi
it is served by streaming.fastpath, without Django's request machinery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from audit.log import ViewAudit
from framebus import BUS_ERRORS, variant_width
from framebus.status import CameraStatus
from streaming import multipart
from streaming.auth import Access, actor_of
from streaming.errors import NO_STORE, refusals_as_responses
from streaming.hub import AccessCheck, ClosingStream, Feed, Hub, Viewer, always_allowed, get_hub
from streaming.views import authorize, number_option

log = logging.getLogger(__name__)

DEFAULT_TILE_WIDTH = 320
MAX_TILES = 64  # one connection carries at most this many cameras
NATIVE_CHECK_SECONDS = 5.0  # how often a tile that never got a variant frame re-checks the camera's size
# A frame may go this fraction of the fps interval early: capture paces frames at the same cap
# with jitter, and waiting out a few milliseconds would arm a timer per frame per viewer.
EARLY = 0.2


@dataclass(frozen=True, slots=True)
class TileSpec:
    """What the stream needs to know of one camera (read from the registry before streaming)."""

    slug: str
    name: str
    max_fps: int
    max_width: int | None = None


@dataclass(eq=False)
class _Tile:
    spec: TileSpec
    width: int
    interval: float
    feed: Feed = None  # type: ignore[assignment]
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    sent: int = 0  # feed version last sent
    next_at: float = 0.0


# The newest frame of a feed as a part tagged with its camera, built once per frame per
# process however many grids show it (docs/design.md, invariant 1).
_tagged: weakref.WeakKeyDictionary[Feed, tuple[int, bytes]] = weakref.WeakKeyDictionary()


def tagged_part(feed: Feed) -> bytes:
    """`feed`'s newest frame as a multipart part with an `X-Camera` header."""
    cached = _tagged.get(feed)
    if cached is not None and cached[0] == feed.version:
        return cached[1]
    frame = feed.frame
    assert frame is not None, "only feeds holding a frame are drawn"
    part = multipart.part(frame.jpeg, frame.ts, camera=feed.slug)
    _tagged[feed] = (feed.version, part)
    return part


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            await event.wait()
    except TimeoutError:
        pass


async def grid_parts(
    hub: Hub,
    specs: Iterable[TileSpec],
    *,
    width: int,
    fps: float | None = None,
    native_widths: dict[str, int] | None = None,
    still_allowed: AccessCheck = always_allowed,
    audit: ViewAudit | None = None,
) -> AsyncGenerator[bytes, None]:
    """Multipart bytes interleaving the newest frame of every camera in `specs`.

    `width` is the tile width asked for (snapped to a variant per camera); `fps` caps each
    tile (never above the camera's own cap). Runs until cancelled, closed, or access is
    withdrawn (`still_allowed`, re-checked by the hub); every Feed is released and the
    viewer removed on the way out.
    """
    native_widths = native_widths or {}
    wake = asyncio.Event()
    tiles = [
        _Tile(
            spec,
            variant_width(width, native_widths.get(spec.slug) or spec.max_width),
            1.0 / min(fps or spec.max_fps, spec.max_fps),
        )
        for spec in specs
    ]
    async with hub.viewer("grid", still_allowed, audit=audit) as viewer, contextlib.AsyncExitStack() as stack:
        for tile in tiles:
            stack.push_async_callback(_release, tile)  # the tile's stack at exit: a fallback replaces it
            await _watch(hub, tile, wake, viewer)
        yield multipart.STREAM_START
        next_check = time.monotonic() + NATIVE_CHECK_SECONDS
        while not viewer.revoked.is_set():
            wake.clear()  # before the scan: a frame pushed from here on wakes the wait below
            sent_any = False
            soonest = None
            for tile in tiles:
                feed = tile.feed
                if feed.version == tile.sent or feed.frame is None:
                    continue
                now = time.monotonic()
                if tile.next_at - now > tile.interval * EARLY:
                    soonest = tile.next_at if soonest is None else min(soonest, tile.next_at)
                    continue
                tile.next_at = max(tile.next_at + tile.interval, now)
                if tile.sent and feed.version > tile.sent + 1:
                    viewer.skip(feed.version - tile.sent - 1, hub.counters)
                tile.sent = feed.version
                part = tagged_part(feed)
                viewer.sending_since = time.monotonic()
                yield part
                viewer.sending_since = None
                viewer.count(part, hub.counters)
                sent_any = True
            now = time.monotonic()
            if now >= next_check:
                next_check = now + NATIVE_CHECK_SECONDS
                await _fall_back_to_native(hub, tiles, wake, viewer)
            if sent_any:
                continue
            if soonest is None:
                await wake.wait()  # no timer: even a silent feed gets an offline frame every second
            else:
                await _wait(wake, soonest - now)


async def _release(tile: _Tile) -> None:
    await tile.stack.aclose()


async def _watch(hub: Hub, tile: _Tile, wake: asyncio.Event, viewer: Viewer) -> None:
    """Hold the tile's feed at `tile.width` and be woken by its frames until `tile.stack` closes."""
    tile.feed = await tile.stack.enter_async_context(hub.watch(tile.spec.slug, tile.width, tile.spec.name, viewer))
    tile.feed.listeners.add(wake)
    tile.stack.callback(tile.feed.listeners.discard, wake)
    tile.sent = 0
    wake.set()  # the feed may already hold a frame


async def _fall_back_to_native(hub: Hub, tiles: list[_Tile], wake: asyncio.Event, viewer: Viewer) -> None:
    """Switch tiles that never got a variant frame to the native size if the camera is not wider.

    At connect time an offline camera's size is unknown; when it comes online smaller than
    the tile, capture never encodes the variant, so the tile would stay on the offline frame.
    """
    waiting = [t for t in tiles if t.width and t.feed.frames == 0]
    if not waiting:
        return
    try:
        statuses = await hub.bus.statuses(t.spec.slug for t in waiting)
    except BUS_ERRORS:
        return
    for tile in waiting:
        native = CameraStatus.from_fields(statuses.get(tile.spec.slug, {})).width
        if native and variant_width(tile.width, native) == 0:
            await tile.stack.aclose()
            tile.stack = contextlib.AsyncExitStack()
            tile.width = 0
            await _watch(hub, tile, wake, viewer)


def _slugs(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [s for s in dict.fromkeys(part.strip() for part in raw.split(",")) if s]


@dataclass(frozen=True)
class GridPlan:
    """One dashboard's stream: the cameras, tile width and fps cap, checked before the first byte."""

    access: Access
    specs: list[TileSpec]
    width: int
    fps: float | None
    native_widths: dict[str, int]
    audit: ViewAudit | None = None  # who watches which cameras, for the audit trail (a row per camera)

    async def still_allowed(self) -> bool:
        """Every camera on the stream is still allowed (lookups are shared by every viewer of one credential)."""
        answers = await asyncio.gather(*(self.access.still_allows(spec.slug) for spec in self.specs))
        return all(answers)

    def body(self, hub: Hub) -> AsyncGenerator[bytes, None]:
        return grid_parts(
            hub,
            self.specs,
            width=self.width,
            fps=self.fps,
            native_widths=self.native_widths,
            still_allowed=self.still_allowed,
            audit=self.audit,
        )


async def plan_grid(request: HttpRequest) -> GridPlan:
    """Authorise a grid stream request and parse its options (refusals are raised)."""
    access = await authorize(request)
    fps = number_option(request, "fps", 0.1, 60)
    width = number_option(request, "width", 16, 7680)
    wanted = _slugs(request.GET.get("cameras"))
    cameras = access.cameras()
    if wanted is not None:
        if len(wanted) > MAX_TILES:
            raise BadRequest(f"at most {MAX_TILES} cameras per stream")
        cameras = cameras.filter(slug__in=wanted)
    rows = [c async for c in cameras[:MAX_TILES]]
    specs = [TileSpec(c.slug, c.name, c.max_fps, c.max_width) for c in rows]
    if wanted is not None:
        order = {slug: i for i, slug in enumerate(wanted)}
        specs.sort(key=lambda spec: order[spec.slug])
    if not specs:
        raise Http404("No cameras to show.")
    try:
        statuses = await get_hub().bus.statuses(spec.slug for spec in specs)
    except BUS_ERRORS:
        statuses = {}
    widths = {slug: CameraStatus.from_fields(raw).width for slug, raw in statuses.items()}
    native = {slug: width for slug, width in widths.items() if width}
    audit = ViewAudit(actor_of(access, request), tuple((c.pk, c.slug) for c in rows), stream="grid")
    return GridPlan(access, specs, int(width or DEFAULT_TILE_WIDTH), fps, native, audit)


@require_GET
@refusals_as_responses
async def stream(request: HttpRequest) -> StreamingHttpResponse:
    """`/grid/stream.mjpg`: the caller's cameras (or `cameras=a,b,c` of them) on one multipart stream.

    Options: `width` (tile width in pixels, default 320) and `fps` (cap per tile). Cameras the
    caller may not see are left out, exactly like unknown ones. Under nvr.asgi the fast path
    serves this URL from the same plan; this view serves it anywhere else.
    """
    plan = await plan_grid(request)
    return StreamingHttpResponse(
        ClosingStream(plan.body(get_hub())), content_type=multipart.CONTENT_TYPE, headers=NO_STORE
    )
