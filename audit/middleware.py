"""Remember the request being served, so a change saved while serving it names who made it (audit.tracking)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from audit.tracking import current_request


class RequestActor:
    """Sets audit.tracking.current_request for the duration of each request (sync and async alike)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)

    async def _acall(self, request: Any) -> Any:
        token = current_request.set(request)
        try:
            response: Awaitable[Any] = self.get_response(request)
            return await response
        finally:
            current_request.reset(token)
