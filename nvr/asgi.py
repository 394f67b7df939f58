"""ASGI entry point: Django for HTTP (camera streams and long downloads by a lean path, streaming.fastpath;
everything else under a write deadline, streaming.deadline), channels for WebSockets, and the lifespan: at
shutdown, once the server has closed every connection, the audit rows still queued (the views that just
ended) are written before the process ends (audit.writer)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nvr.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from audit.writer import lifespan  # noqa: E402
from streaming.deadline import write_deadline  # noqa: E402
from streaming.fastpath import stream_fast_path  # noqa: E402
from streaming.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": stream_fast_path(write_deadline(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": lifespan,
    }
)
