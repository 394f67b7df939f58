"""Streams go through the project's middleware, declared once (settings.MIDDLEWARE; streaming.fastpath).

The fast path serves stream URLs without Django's request machinery; it used to rebuild two
middleware's checks by hand, so a middleware added later never reached streams. Now:
- every middleware in MIDDLEWARE runs for streams (on the event loop), or is in NOT_FOR_STREAMS with its reason;
- a stream's head carries what each of them adds to a page (the same headers as /healthz's), refusals too;
- a middleware added to the list later reaches streams, request hook and response hook, with no other change;
- one that cannot run as hooks stops the fast path with an error saying what to do.
"""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from streaming.fastpath import NOT_FOR_STREAMS, StreamMiddleware
from tests.factories import make_camera, make_token, make_user
from tests.support.processes import web_server

MIDDLEWARE_HEADERS = (  # what the project's middleware add to a page
    "x-frame-options",
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
)


def head(url: str) -> httpx.Response:
    with httpx.Client(timeout=10) as client, client.stream("GET", url) as response:
        return response  # the head only: the body never ends


def test_every_middleware_runs_for_streams_or_says_why_not():
    paths = list(settings.MIDDLEWARE)
    applied = StreamMiddleware(paths).applied
    assert sorted(applied + list(NOT_FOR_STREAMS)) == sorted(paths)
    assert set(NOT_FOR_STREAMS) <= set(paths) and all(NOT_FOR_STREAMS.values())

    with pytest.raises(ImproperlyConfigured, match="NOT_FOR_STREAMS"):
        StreamMiddleware([*paths, "tests.streaming.test_stream_middleware.new_style_middleware"])


def new_style_middleware(get_response):  # type: ignore[no-untyped-def]
    """A function middleware that handles sync requests only: it could only run on a thread."""
    return get_response


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_stream_carries_what_every_middleware_adds_and_a_later_one_reaches_it(redis_url):
    make_camera("front")
    _, token = make_token(user=make_user("boss", is_superuser=True))
    server = web_server(redis_url, DJANGO_SETTINGS_MODULE="tests.support.marker_settings").start()
    try:
        page = httpx.get(f"{server.url}/healthz", timeout=10)
        stream = head(f"{server.url}/cameras/front/stream.mjpg?token={token}")
        grid = head(f"{server.url}/grid/stream.mjpg?token={token}")
        refused = httpx.get(f"{server.url}/cameras/nowhere/stream.mjpg?token={token}", timeout=10)
    finally:
        server.stop()
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("multipart/x-mixed-replace")
    assert refused.status_code == 404
    for name in MIDDLEWARE_HEADERS:
        assert page.headers.get(name), name  # the middleware set it on a page...
        for response in (stream, grid, refused):  # ... and on every stream response alike
            assert response.headers.get(name) == page.headers[name], (name, response.url)
    for response in (page, stream, grid, refused):
        assert response.headers.get("x-marker") == "request seen", response.url  # the middleware added later
    assert "content-length" not in stream.headers
