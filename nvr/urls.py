"""URLs: the admin, sign-in (allauth), the audit trail, operations (health, metrics), review and streaming."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.login import AdminLoginForm, LoginView
from nvr import health, metrics

admin.site.login_form = AdminLoginForm  # the admin's login is throttled like /accounts/login/

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # /accounts/login/ is a public URL: allauth's login (throttled, field names kept), then allauth's
    # pages for second factors (/accounts/2fa/), passkeys and single sign-on (/accounts/oidc/).
    # Password reset by e-mail is left out: nvr sends no mail (closed networks); admins reset passwords.
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/", include("allauth.urls")),
    path("audit/", include("audit.urls")),
    path("", include("review.urls")),
    path("", include("streaming.urls")),
]
