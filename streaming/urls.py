"""Public, stable URLs: streams and snapshots per camera, the status API, the dashboard."""
from django.urls import path

from streaming import views

urlpatterns = [
    path("cameras/<slug:slug>/stream.mjpg", views.stream, name="camera-stream"),
    path("cameras/<slug:slug>/snapshot.jpg", views.snapshot, name="camera-snapshot"),
    path("api/cameras/", views.camera_status, name="api-cameras"),
]
