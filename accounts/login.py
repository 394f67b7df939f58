"""The sign-in pages: allauth's login (passwords, passkeys, the identity provider) and the admin's form,
both throttled (accounts.throttle) and both saying when an account is locked or an address over its cap.

The backend already refuses a locked account (with a generic "didn't match"); these forms check
first, so the person is told to wait and for how long, and the login view answers 429 with
Retry-After so scripts can tell too. The login form keeps the field names `username` and `password`
of /accounts/login/ (scripts and tests post them). The admin's form checks only a password, so it
refuses accounts that need a second factor (accounts.policy) and sends them to /accounts/login/.

Wiring (nvr/urls.py): `path("accounts/login/", LoginView.as_view(), name="login")` before allauth's
URLs, and `admin.site.login_form = AdminLoginForm`.
"""

from __future__ import annotations

import math
from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.views import LoginView as AllauthLoginView
from django import forms
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

from accounts import policy, throttle

LOCKED_MESSAGE = "Too many failed logins for this account. Try again in %(seconds)d seconds."
RATE_MESSAGE = "Too many logins from your address. Try again in %(seconds)d seconds."
SECOND_FACTOR_MESSAGE = "This account signs in with a second factor: use the main login page, %(url)s."


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


class LoginForm(ThrottledLoginMixin, AllauthLoginForm):
    """allauth's login form (its second-factor and passkey stages follow), with the field named `username`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields = {"username": self.fields.pop("login"), **self.fields}

    def clean(self) -> dict[str, Any]:
        if "username" in self.cleaned_data:
            self.cleaned_data["login"] = self.cleaned_data["username"].strip()
        return super().clean()


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's password form: only for accounts a password alone may open (accounts.policy)."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not policy.password_only_allowed(user):
            url = reverse("login") + "?next=/admin/"
            raise ValidationError(SECOND_FACTOR_MESSAGE, code="second_factor", params={"url": url})


class LoginView(AllauthLoginView):
    """allauth's login view with the throttled form; a locked account gets 429 and Retry-After."""

    form_class = LoginForm

    def get_form_class(self) -> type[LoginForm]:
        return LoginForm

    def form_invalid(self, form: Any) -> Any:
        seconds = getattr(form, "locked_seconds", None)
        if seconds:  # shown with the page's messages, which every template renders
            messages.error(self.request, form.locked_message % {"seconds": seconds}, fail_silently=True)
        response = super().form_invalid(form)
        if seconds:
            response.status_code = 429
            response["Retry-After"] = str(seconds)
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["local_login"] = policy.local_login() == policy.LocalLogin.ON
        return context
