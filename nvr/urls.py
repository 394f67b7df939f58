"""URLs: the admin, login, operations (health, metrics), and the streaming app (dashboard, streams, snapshots)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from nvr import health, metrics
from nvr.login import AdminLoginForm, LoginView

admin.site.login_form = AdminLoginForm  # the admin's login is throttled like /accounts/login/

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # Password reset by e-mail is left out: nvr sends no mail (closed networks); admins reset passwords.
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("", include("review.urls")),
    path("", include("streaming.urls")),
]
