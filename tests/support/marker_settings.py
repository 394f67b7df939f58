"""The test settings with one more middleware at the end of the list (tests/streaming/test_stream_middleware.py)."""

from django.utils.deprecation import MiddlewareMixin

from nvr.test_settings import *  # noqa: F403 - these settings, plus:
from nvr.test_settings import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "tests.support.marker_settings.MarkerMiddleware"]


class MarkerMiddleware(MiddlewareMixin):
    """A middleware a later change adds: it marks every response it sees and the request it saw first."""

    def process_request(self, request):  # type: ignore[no-untyped-def]
        request.marked = True

    def process_response(self, request, response):  # type: ignore[no-untyped-def]
        response["X-Marker"] = "request seen" if getattr(request, "marked", False) else "response only"
        return response
