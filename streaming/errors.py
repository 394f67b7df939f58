"""Refusals of stream, snapshot and API requests, and the one place that turns them into responses.

Views and the fast path raise; `refusal_response` answers. Plain text, because the clients of
these URLs are as often ffmpeg, VLC or a script as a browser, and an operator reads the message.
A camera the caller may not see is Http404, exactly like an unknown one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBase

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache", "X-Accel-Buffering": "no"}


class Unauthorized(Exception):
    """No valid credential: 401 with a Basic challenge (what ffmpeg and VLC expect)."""

    def __init__(self, message: str = "Authentication required: log in, add ?token=..., or use HTTP Basic.") -> None:
        super().__init__(message)


class Unavailable(Exception):
    """The thing exists but cannot be had right now (camera offline, Redis away): 503."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


REFUSALS = (Unauthorized, Http404, BadRequest, PermissionDenied, Unavailable)


def _text(message: str, status: int, **headers: str) -> HttpResponse:
    return HttpResponse(message.rstrip("\n") + "\n", status=status, content_type="text/plain", headers=headers)


def refusal_response(error: Exception) -> HttpResponse:
    """The response for one of REFUSALS."""
    if isinstance(error, Unauthorized):
        return _text(str(error), 401, **{"WWW-Authenticate": 'Basic realm="nvr", charset="UTF-8"'})
    if isinstance(error, Http404):
        return _text(str(error) or "Not found.", 404)
    if isinstance(error, BadRequest):
        return _text(str(error) or "Bad request.", 400)
    if isinstance(error, PermissionDenied):
        return _text(str(error) or "Forbidden.", 403)
    if isinstance(error, Unavailable):
        headers = dict(NO_STORE)
        if error.retry_after is not None:
            headers["Retry-After"] = str(error.retry_after)
        return _text(str(error), 503, **headers)
    raise TypeError(f"not a refusal: {type(error).__name__}")


P = ParamSpec("P")


def refusals_as_responses(
    view: Callable[P, Coroutine[Any, Any, HttpResponseBase]],
) -> Callable[P, Coroutine[Any, Any, HttpResponseBase]]:
    """Decorate an async view so that the refusals it raises become plain-text responses."""

    @functools.wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        try:
            return await view(*args, **kwargs)
        except REFUSALS as error:
            return refusal_response(error)

    return wrapper
