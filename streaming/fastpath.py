"""The stream URLs as a bare ASGI endpoint in front of Django.

Django runs each request in its own thread-sensitive context: the first sync call of a
request (the session or token lookup) starts a thread that lives, with its database
connection, until the response ends, which for a stream is as long as the viewer
watches. Measured (bench/README.md): 100 viewers held 107 threads and 100 database
connections, about 260 KB per viewer, and cost 1.5-2x the CPU per frame. Here the
same plan as the Django view (same authentication, permissions, options and refusals)
is made, the database connection is closed after the lookups, and the body is streamed
inside the hub's viewer lifecycle. Under nvr's uvicorn protocol (a
streaming.directwrite.DirectWrite in the scope) a camera's feed writes every part to the
connection itself, so a frame costs one loop over the viewers rather than one task
wake-up and `send` per viewer; elsewhere, and for the grid, each part goes out in one `send`.
Everything else is Django's.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.db import close_old_connections
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseBase
from django.middleware.security import SecurityMiddleware

from streaming.directwrite import DIRECT_WRITE, DirectWrite

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Whole-path patterns (fullmatch: `$` would also match before a trailing newline, `%0A`).
STREAM_PATH = re.compile(r"/cameras/(?P<slug>[-a-zA-Z0-9_]+)/stream\.mjpg")
GRID_PATH = re.compile(r"/grid/stream\.mjpg")


def stream_fast_path(django_app: ASGIApp) -> ASGIApp:
    """Wrap the Django ASGI app so GET stream URLs skip Django's request machinery."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            if match := STREAM_PATH.fullmatch(scope["path"]):
                return await serve(scope, receive, send, slug=match["slug"])
            if GRID_PATH.fullmatch(scope["path"]):
                return await serve(scope, receive, send, slug=None)
        await django_app(scope, receive, send)

    return app


@functools.cache
def _late() -> tuple[Any, ...]:
    """What imports models, once Django is set up."""
    from django.contrib.auth.middleware import auser

    from streaming import grid, multipart, views
    from streaming.errors import NO_STORE, REFUSALS, refusal_response
    from streaming.hub import get_hub

    headers = [(b"content-type", multipart.CONTENT_TYPE.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in NO_STORE.items()]
    headers.append((b"x-content-type-options", b"nosniff"))
    return auser, views, grid, get_hub, headers, REFUSALS, refusal_response


async def _send_response(send: Send, response: HttpResponseBase) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    body = response.content if isinstance(response, HttpResponse) else b""
    await send({"type": "http.response.body", "body": body})


def _request(scope: Scope) -> ASGIRequest:
    """A Django request with the session and lazy user, as the middleware would give it."""
    auser = _late()[0]
    request = ASGIRequest(scope, io.BytesIO())
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.auser = functools.partial(auser, request)
    return request


def _refused_before_view(request: ASGIRequest) -> HttpResponseBase | None:
    """What Django's middleware would answer before any view: a bad Host, or the HTTPS redirect."""
    try:
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
    except DisallowedHost:
        return HttpResponseBadRequest("Invalid Host header.\n")
    return SecurityMiddleware(lambda _: HttpResponse()).process_request(request)  # SECURE_SSL_REDIRECT


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


async def serve(scope: Scope, receive: Receive, send: Send, *, slug: str | None) -> None:
    """One stream request: plan it (or refuse it), then stream until the viewer leaves or loses access."""
    _, views, grid, get_hub, headers, refusals, refusal_response = _late()
    request = _request(scope)
    refused = _refused_before_view(request)
    if refused is not None:
        return await _send_response(send, refused)
    try:
        plan = await (views.plan_stream(request, slug) if slug is not None else grid.plan_grid(request))
    except refusals as error:
        return await _send_response(send, refusal_response(error))
    except SuspiciousOperation as error:  # e.g. too many query fields: a 400, as Django answers it
        return await _send_response(send, await sync_to_async(response_for_exception)(request, error))
    finally:
        _release_database_soon()

    task = asyncio.current_task()
    assert task is not None

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(until_disconnect())
    direct: DirectWrite | None = scope.get("extensions", {}).get(DIRECT_WRITE)
    if slug is None or not plan.can_write_direct:
        direct = None
    body: AsyncGenerator[bytes, None] | None = None if direct else plan.body(get_hub())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
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
    except (asyncio.CancelledError, TimeoutError, OSError):
        # The viewer left (or vanished right after the response head), or its write missed the
        # hub's deadline: this is the request's boundary, so it ends here, quietly, and the
        # server closes the connection.
        pass
    finally:
        watcher.cancel()
        if body is not None:
            await body.aclose()
