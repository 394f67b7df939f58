"""Public, stable URLs: streams and snapshots per camera, the status API, the dashboard."""

from django.urls import path

from streaming import grid, pages, pwa, views

urlpatterns = [
    path("cameras/<slug:slug>/stream.mjpg", views.stream, name="camera-stream"),
    path("cameras/<slug:slug>/live.mp4", views.live, name="camera-live"),
    path("cameras/<slug:slug>/snapshot.jpg", views.snapshot, name="camera-snapshot"),
    path("api/cameras/", views.camera_status, name="api-cameras"),
    # The dashboard: the live grid, one camera full size, and the grid's multiplexed stream.
    path("", pages.dashboard, name="dashboard"),
    path("layout/", pages.set_layout, name="dashboard-layout"),
    path("cameras/<slug:slug>/", pages.camera_page, name="camera-page"),
    path("cameras/<slug:slug>/token/", pages.camera_token, name="camera-token"),
    path("grid/stream.mjpg", grid.stream, name="grid-stream"),
    # The installable app: manifest, service worker (at the root: its scope is the site), the offline shell.
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service-worker"),
    path("offline/", pwa.offline, name="offline"),
]
