"""WebSocket routes (live status for the dashboard)."""

from django.urls import path

from streaming.consumers import StatusConsumer

websocket_urlpatterns: list = [
    path("ws/status/", StatusConsumer.as_asgi(), name="ws-status"),
]
