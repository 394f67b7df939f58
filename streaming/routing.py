"""WebSocket routes (live status for the dashboard)."""
websocket_urlpatterns: list = []
