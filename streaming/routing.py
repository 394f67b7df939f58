"""WebSocket routes (live status for the dashboard)."""

from django.urls import path

from streaming.consumers import StatusConsumer
from streaming.livesocket import LiveConsumer

websocket_urlpatterns: list = [
    path("ws/status/", StatusConsumer.as_asgi(), name="ws-status"),
    path("ws/live/<slug:slug>/", LiveConsumer.as_asgi(), name="ws-live"),
]
