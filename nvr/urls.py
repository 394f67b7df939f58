"""URLs: the admin, sign-in (allauth), the audit trail, operations (health, metrics), review and streaming."""

from allauth.account import views as account_views
from allauth.socialaccount import views as social_views
from allauth.urls import build_provider_urlpatterns
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.login import AdminLoginForm, LoginView
from nvr import health, metrics

admin.site.login_form = AdminLoginForm  # the admin's login is throttled like /accounts/login/

# Sign-in: /accounts/login/ is a public URL (allauth's login, throttled, its field names kept). Only the
# parts of allauth nvr uses are routed: no self-service sign-up, e-mail or password reset by e-mail
# (nvr sends no mail; admins reset passwords), no linking of accounts by their owners. allauth names
# some of them itself (account_login, account_logout): the same views answer under both names.
accounts = [
    path("login/", LoginView.as_view(), name="login"),
    path("login/", LoginView.as_view(), name="account_login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("logout/", account_views.logout, name="account_logout"),
    path("inactive/", account_views.account_inactive, name="account_inactive"),
    path("reauthenticate/", account_views.reauthenticate, name="account_reauthenticate"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("2fa/", include("allauth.mfa.urls")),  # second factors: TOTP, recovery codes, passkeys
    path("3rdparty/signup/", social_views.signup, name="socialaccount_signup"),
    path("3rdparty/login/cancelled/", social_views.login_cancelled, name="socialaccount_login_cancelled"),
    path("3rdparty/login/error/", social_views.login_error, name="socialaccount_login_error"),
    *build_provider_urlpatterns(),  # single sign-on: /accounts/oidc/sso/login/ and its callback (accounts/sso/)
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("audit/", include("audit.urls")),
    path("exports/", include("exports.urls")),
    path("", include("review.urls")),
    path("", include("streaming.urls")),
]
