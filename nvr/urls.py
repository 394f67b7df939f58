"""URLs: the admin, login, operations (health, metrics), and the streaming app (dashboard, streams, snapshots)."""
from django.contrib import admin
from django.urls import include, path

from nvr import ops

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("streaming.urls")),
]
