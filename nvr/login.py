"""Login forms and view that say when an account is locked or an address over its cap (accounts.throttle).

The backend already refuses a locked account (with Django's generic "didn't match"
message); these forms check first, so the person is told to wait and for how long (a form
error, and on the login page a message too, since its template shows one fixed error
text), and the login view answers 429 with Retry-After so scripts can tell too.
Wiring (nvr/urls.py): `path("accounts/login/", LoginView.as_view(), name="login")` before
the `django.contrib.auth.urls` include, and `admin.site.login_form = AdminLoginForm`.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts import throttle

LOCKED_MESSAGE = "Too many failed logins for this account. Try again in %(seconds)d seconds."
RATE_MESSAGE = "Too many logins from your address. Try again in %(seconds)d seconds."


class ThrottledLoginMixin(forms.Form):
    """Refuse a locked account before checking its password, with a message that says so."""

    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username is not None and self.cleaned_data.get("password") is not None:
            address = throttle.client_address(self.request)
            seconds = throttle.login_rate_wait(address)
            if seconds:
                self.locked_seconds = math.ceil(seconds)
                self.locked_message = RATE_MESSAGE
                raise ValidationError(RATE_MESSAGE, code="rate", params={"seconds": self.locked_seconds})
            seconds = throttle.locked_for(str(username), address)
            if seconds:
                self.locked_seconds = math.ceil(seconds)
                self.locked_message = LOCKED_MESSAGE
                raise ValidationError(LOCKED_MESSAGE, code="locked", params={"seconds": self.locked_seconds})
        return super().clean() or {}


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    """Django's login view with the throttled form; a locked account gets 429 and Retry-After."""

    form_class = LoginForm

    def form_invalid(self, form):
        seconds = getattr(form, "locked_seconds", None)
        if seconds:  # shown with the page's messages, which every template renders
            messages.error(self.request, form.locked_message % {"seconds": seconds}, fail_silently=True)
        response = super().form_invalid(form)
        if seconds:
            response.status_code = 429
            response["Retry-After"] = str(seconds)
        return response
