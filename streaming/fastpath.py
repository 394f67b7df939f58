"""The per-camera stream URL as a bare ASGI endpoint in front of Django.

Django runs each request in its own thread-sensitive context: the first sync call of a
request (the session or token lookup) starts a thread that lives, with its database
connection, until the response ends, which for a stream is as long as the viewer
watches. Measured (bench/README.md): 100 viewers held 107 threads and 100 database
connections, about 260 KB per viewer, and cost 1.5-2x the CPU per frame. Here the
same plan (streaming.views.plan_stream: same authentication, permissions, options and
refusals) is made and the database connection is closed after the lookups. Under nvr's
uvicorn protocol (a streaming.directwrite.DirectWrite in the scope) the camera's feed then writes
every part to the connection itself, so a frame costs one loop over the viewers rather
than one task wake-up and `send` per viewer; elsewhere each part goes out in one `send`.
Everything else is Django's.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.db import close_old_connections

from streaming.directwrite import DIRECT_WRITE

STREAM_PATH = re.compile(r"^/cameras/(?P<slug>[-a-zA-Z0-9_]+)/stream\.mjpg$")


def stream_fast_path(django_app):
    """Wrap the Django ASGI app so GET stream URLs skip Django's request machinery."""

    async def app(scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and (match := STREAM_PATH.match(scope["path"])):
            await serve_stream(scope, receive, send, match["slug"])
        else:
            await django_app(scope, receive, send)

    return app


@functools.cache
def _late():
    """What imports models, once Django is set up."""
    from django.contrib.auth.middleware import auser

    from streaming import multipart, views
    from streaming.hub import get_hub

    headers = [(b"content-type", multipart.CONTENT_TYPE.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in views.NO_STORE.items()]
    headers.append((b"x-content-type-options", b"nosniff"))
    return auser, views, get_hub, headers, multipart.STREAM_START


async def _send_response(send, response) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


def _request(scope) -> ASGIRequest:
    """A Django request with the session and lazy user, as the middleware would give it."""
    auser, *_ = _late()
    request = ASGIRequest(scope, io.BytesIO())
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.auser = functools.partial(auser, request)
    return request


async def serve_stream(scope, receive, send, slug: str) -> None:
    _auser, views, get_hub, headers, stream_start = _late()
    request = _request(scope)
    try:
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check
    except DisallowedHost:
        from django.http import HttpResponseBadRequest

        return await _send_response(send, HttpResponseBadRequest("Invalid Host header.\n"))
    try:
        plan = await views.plan_stream(request, slug)
    except SuspiciousOperation as error:  # e.g. too many query fields: a 400, as Django answers it
        plan = await sync_to_async(response_for_exception)(request, error)
    finally:
        await sync_to_async(close_old_connections)()
    if not isinstance(plan, views.StreamPlan):
        return await _send_response(send, plan)

    task = asyncio.current_task()

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(until_disconnect())
    direct = scope.get("extensions", {}).get(DIRECT_WRITE) if plan.can_write_direct else None
    body = None if direct else plan.body(get_hub())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if direct:
            await send({"type": "http.response.body", "body": stream_start, "more_body": True})
            await plan.serve_direct(get_hub(), direct.transport, chunked=direct.chunked)
        else:
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        # Access was revoked: end the response, but never wait on a peer that stopped reading.
        async with asyncio.timeout(settings.NVR_STREAM_WRITE_DEADLINE):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (asyncio.CancelledError, TimeoutError):
        # The viewer left, or its write missed the hub's deadline: this is the request's
        # boundary, so the cancellation ends here and the server closes the connection.
        pass
    finally:
        watcher.cancel()
        if body is not None:
            await body.aclose()
