"""The stream URLs as a bare ASGI endpoint in front of Django.

Django runs each request in its own thread-sensitive context: the first sync call of a
request (the session or token lookup) starts a thread that lives, with its database
connection, until the response ends, which for a stream is as long as the viewer
watches. Measured (bench/README.md): 100 viewers held 107 threads and 100 database
connections, about 260 KB per viewer, and cost 1.5-2x the CPU per frame. Here the
same plan as the Django view (same authentication, permissions, options and refusals)
is made, the database connection is closed after the lookups, and the body is streamed
inside the hub's viewer lifecycle. The project's middleware (settings.MIDDLEWARE, the one
list) runs for every stream request too: its request and response hooks, on the event loop,
in Django's order, except the few NOT_FOR_STREAMS names with the reason they do not apply. Under nvr's uvicorn protocol (a
streaming.directwrite.DirectWrite in the scope) a camera's feed writes every part to the
connection itself, so a frame costs one loop over the viewers rather than one task
wake-up and `send` per viewer; elsewhere, and for the grid, each part goes out in one `send`.

Long downloads that other apps register (`serve_downloads`: review's clips) come this way too,
for the same reason: under Django each open download held a thread of its own for as long as it
lasted (20 stalled clips, +20 threads). They are planned by the app (or refused) inside the same
middleware, then sent in pieces of at most WRITE_PIECE bytes, each within NVR_DOWNLOAD_WRITE_DEADLINE;
one cut short ends without its last chunk, a broken transfer. Everything else is Django's.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, Protocol

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from streaming.directwrite import DIRECT_WRITE, DirectWrite, connection_of, reset

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Whole-path patterns (fullmatch: `$` would also match before a trailing newline, `%0A`).
STREAM_PATH = re.compile(r"/cameras/(?P<slug>[-a-zA-Z0-9_]+)/stream\.mjpg")
LIVE_PATH = re.compile(r"/cameras/(?P<slug>[-a-zA-Z0-9_]+)/live\.mp4")
GRID_PATH = re.compile(r"/grid/stream\.mjpg")
WRITE_PIECE = 64 * 1024  # a download is sent in pieces of this size, each under the write deadline (as Django's)


class Download(Protocol):
    """A finite response an app serves through the fast path: its head, then its body."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response head's headers, Content-Type included."""
        ...

    def body(self, transport: asyncio.Transport | None) -> AsyncGenerator[bytes, None]:
        """The bytes, inside the hub's viewer lifecycle (`transport`: the connection to reset when cut)."""
        ...


Planner = Callable[..., Awaitable[Download]]  # (request, **the path's named groups) -> Download, or a refusal raised
_downloads: list[tuple[re.Pattern[str], Planner]] = []


def serve_downloads(path: re.Pattern[str], planner: Planner) -> None:
    """Serve GETs whose whole path matches `path` by the fast path, planned by `planner` (an app's ready())."""
    _downloads.append((path, planner))


def stream_fast_path(django_app: ASGIApp) -> ASGIApp:
    """Wrap the Django ASGI app so GET stream and download URLs skip Django's request machinery."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            if match := STREAM_PATH.fullmatch(scope["path"]):
                return await serve(scope, receive, send, slug=match["slug"])
            if match := LIVE_PATH.fullmatch(scope["path"]):
                return await serve(scope, receive, send, slug=match["slug"], live=True)
            if GRID_PATH.fullmatch(scope["path"]):
                return await serve(scope, receive, send, slug=None)
            for path, planner in _downloads:
                if match := path.fullmatch(scope["path"]):
                    return await serve_download(scope, receive, send, planner, match.groupdict())
        await django_app(scope, receive, send)

    return app


# Middleware of settings.MIDDLEWARE that stream requests do not go through, each with the reason it
# does not apply. Every other one does: a middleware added to MIDDLEWARE later reaches streams with no
# change here, or, if it could only run on a thread, stops the server at its first stream request with a
# clear error (tests/streaming/test_stream_middleware.py).
NOT_FOR_STREAMS = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "it serves files under STATIC_URL, and no stream URL is one",
    "accounts.middleware.require_second_factor": "streams apply the same policy in streaming.auth, as a refusal "
    "(a player cannot follow a redirect to enrol), without a database lookup on a thread per request",
}

Handler = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class _Hooks:
    """A MiddlewareMixin middleware in the stream chain: its hooks called on the event loop.

    Django calls them through sync_to_async in an async request, a hop onto the ORM's one thread per
    hook (docs/facts.md), which is what the fast path exists to avoid. These hooks read headers, the
    session cookie and settings; none touches the database on a stream request.
    """

    def __init__(self, middleware_class: type, get_response: Handler) -> None:
        self.middleware = middleware_class(get_response)
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self.middleware, "process_request"):
            response = self.middleware.process_request(request)
        if response is None:
            response = await self.get_response(request)
        if hasattr(self.middleware, "process_response"):
            response = self.middleware.process_response(request, response)
        return response


def _answer_errors(handler: Handler) -> Handler:
    """An exception becomes its response at the layer it was raised in, as Django's handler does it."""

    async def layer(request: HttpRequest) -> HttpResponseBase:
        try:
            return await handler(request)
        except Exception as error:  # noqa: BLE001 - e.g. a bad Host (DisallowedHost): Django turns it into a 400
            return await sync_to_async(response_for_exception)(request, error)

    return layer


class StreamMiddleware:
    """settings.MIDDLEWARE around stream requests, built as Django builds its chain, all on the event loop.

    A MiddlewareMixin middleware runs as its hooks (_Hooks); one that handles async requests itself runs
    as it is; one that could only run on a thread must be in NOT_FOR_STREAMS with its reason.
    """

    def __init__(self, paths: list[str]) -> None:
        self.applied: list[str] = []
        handler: Handler = _answer_errors(_view)
        for path in reversed(paths):
            if path in NOT_FOR_STREAMS:
                continue
            factory = import_string(path)
            if isinstance(factory, type) and issubclass(factory, MiddlewareMixin):
                handler = _Hooks(factory, handler)
            elif getattr(factory, "async_capable", False):
                handler = factory(handler)
            else:
                raise ImproperlyConfigured(
                    f"{path} can only run on a thread: the stream fast path (streaming.fastpath) runs middleware on "
                    "the event loop. Give it process_request/process_response hooks (MiddlewareMixin) or async "
                    "support, or add it to NOT_FOR_STREAMS with the reason."
                )
            handler = _answer_errors(handler)
            self.applied.insert(0, path)
        self.chain = handler

    async def __call__(self, request: HttpRequest, view: Handler) -> HttpResponseBase:
        """Run `view` inside the chain (what the middleware answer instead of it, a refusal, or its head)."""
        request.stream_view = view  # type: ignore[attr-defined]
        return await self.chain(request)


async def _view(request: HttpRequest) -> HttpResponseBase:
    view: Handler = request.stream_view  # type: ignore[attr-defined]
    return await view(request)


@functools.cache
def _late() -> tuple[Any, ...]:
    """What imports models, once Django is set up."""
    from streaming import grid, multipart, views
    from streaming.errors import NO_STORE, REFUSALS, refusal_response
    from streaming.hub import get_hub

    return views, grid, get_hub, multipart, NO_STORE, REFUSALS, refusal_response


@functools.cache
def stream_middleware() -> StreamMiddleware:
    return StreamMiddleware(list(settings.MIDDLEWARE))


def _head_items(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    """A response's headers and cookies as ASGI wants them (as Django's ASGI handler sends them)."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"set-cookie", cookie.output(header="").encode("ascii").strip()))
    return headers


async def _send_response(send: Send, response: HttpResponseBase) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": _head_items(response)})
    body = response.content if isinstance(response, HttpResponse) else b""
    await send({"type": "http.response.body", "body": body})


_release: asyncio.Task | None = None


def _release_database_soon() -> None:
    """Let Django close the lookups' database connection, once for a crowd of requests.

    The ORM's async calls all run on asgiref's one thread-sensitive thread, whose connection
    outlives a request. Closing it (as Django does at a request's end) is a hop onto that
    thread; one hop per stream request made a reconnect storm of 1,000 viewers queue behind
    each other there (first frame p99 542 ms before, 216 ms after: medians of alternating runs,
    bench/README.md), so requests that end while a release is pending share it.
    """
    global _release
    if _release is None or _release.done():
        _release = asyncio.get_running_loop().create_task(sync_to_async(close_old_connections)())


async def serve(scope: Scope, receive: Receive, send: Send, *, slug: str | None, live: bool = False) -> None:
    """One stream request (`live`: the camera's own H.264, live.mp4): plan it (or refuse it), then stream until
    the viewer leaves or loses access."""
    views, grid, get_hub, multipart, no_store, refusals, refusal_response = _late()
    request = ASGIRequest(scope, io.BytesIO())
    content_type = views.LivePlan.content_type if live else multipart.CONTENT_TYPE
    head = StreamingHttpResponse((), content_type=content_type, headers=no_store)
    planned: list[Any] = []

    async def plan_or_refuse(request: HttpRequest) -> HttpResponseBase:
        try:
            if live and slug is not None:
                planned.append(await views.plan_live(request, slug))
            else:
                planned.append(
                    await (views.plan_stream(request, slug) if slug is not None else grid.plan_grid(request))
                )
        except refusals as error:
            return refusal_response(error)
        finally:
            _release_database_soon()
        return head  # a streaming response: no middleware adds a Content-Length to it

    # The middleware may answer instead of the view (a bad Host, the HTTPS redirect), the view may refuse.
    answer = await stream_middleware()(request, plan_or_refuse)
    if not planned or answer is not head:
        return await _send_response(send, answer)
    plan = planned[0]

    watcher = _cancel_on_disconnect(receive)
    direct: DirectWrite | None = scope.get("extensions", {}).get(DIRECT_WRITE)
    if slug is None or not plan.can_write_direct:
        direct = None
    body: AsyncGenerator[bytes, None] | None = None if direct else plan.body(get_hub())
    try:
        await send({"type": "http.response.start", "status": head.status_code, "headers": _head_items(head)})
        if direct is not None:
            from streaming.multipart import STREAM_START

            await send({"type": "http.response.body", "body": STREAM_START, "more_body": True})
            await plan.serve_direct(get_hub(), direct.transport, chunked=direct.chunked)
        else:
            assert body is not None
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        # Access was withdrawn: end the response, but never wait on a peer that stopped reading.
        async with asyncio.timeout(settings.NVR_STREAM_WRITE_DEADLINE):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except TimeoutError:
        # The last write of a revoked stream made no progress: the peer stopped reading. Abort, as the hub
        # does at its deadline: a close would wait for a buffer that never drains.
        connection = connection_of(scope)
        if connection is not None:
            reset(connection)
    except (asyncio.CancelledError, OSError):
        # The viewer left (or vanished right after the response head), or the hub cut it at its
        # deadline: this is the request's boundary, so it ends here, quietly.
        pass
    finally:
        watcher.cancel()
        if body is not None:
            await body.aclose()


def _cancel_on_disconnect(receive: Receive) -> asyncio.Task:
    """A task that cancels the current one when the client disconnects (cancel it when the response ends)."""
    task = asyncio.current_task()
    assert task is not None

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    return asyncio.get_running_loop().create_task(until_disconnect())


async def serve_download(scope: Scope, receive: Receive, send: Send, planner: Planner, groups: dict[str, str]) -> None:
    """One download: planned (or refused) inside the middleware as its Django view would be, then sent piece by
    piece under the write deadline.

    Cut short (the hub cut it: access withdrawn; the client left; a piece missed the deadline), it
    ends without its last chunk, so the client sees a broken transfer and never takes part of a
    clip for the whole span.
    """
    refusals, refusal_response = _late()[5:]
    request = ASGIRequest(scope, io.BytesIO())
    planned: list[tuple[Download, StreamingHttpResponse]] = []

    async def plan_or_refuse(request: HttpRequest) -> HttpResponseBase:
        try:
            download = await planner(request, **groups)
        except refusals as error:
            return refusal_response(error)
        finally:
            _release_database_soon()
        headers = dict(download.headers)
        head = StreamingHttpResponse((), content_type=headers.pop("Content-Type"), headers=headers)
        planned.append((download, head))
        return head

    answer = await stream_middleware()(request, plan_or_refuse)
    if not planned or answer is not planned[0][1]:
        return await _send_response(send, answer)
    download, head = planned[0]
    transport = connection_of(scope)
    seconds = settings.NVR_DOWNLOAD_WRITE_DEADLINE
    watcher = _cancel_on_disconnect(receive)
    body = download.body(transport)
    try:
        async with asyncio.timeout(seconds):
            await send({"type": "http.response.start", "status": head.status_code, "headers": _head_items(head)})
        async for chunk in body:
            for start in range(0, len(chunk), WRITE_PIECE):
                async with asyncio.timeout(seconds):
                    await send(
                        {"type": "http.response.body", "body": chunk[start : start + WRITE_PIECE], "more_body": True}
                    )
        async with asyncio.timeout(seconds):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except TimeoutError:
        log.info("download %s dropped (no write progress for %.0fs)", scope["path"], seconds)
        if transport is not None:
            reset(transport)  # not close(): that waits for a buffer a stalled peer never drains
    except (asyncio.CancelledError, OSError):
        pass  # cut by the hub, or the client left: the request ends here, without its last chunk
    finally:
        watcher.cancel()
        await body.aclose()
