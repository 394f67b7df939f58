"""No page is reachable without a second factor once the policy requires one (accounts.policy).

A covered user without one is sent to enrol (allauth's two-factor page) from every page but the
account pages themselves (sign-in, sign-out, enrolment, re-authentication) and static files.
Streams and snapshots are served without this middleware (streaming.fastpath) and check the same
policy in streaming.auth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import sync_and_async_middleware

from accounts import policy

OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/metrics")
ENROL_MESSAGE = "Your account needs a second factor: add an authenticator app or a passkey to go on."


def _exempt(request: HttpRequest) -> bool:
    """Requests never checked (no database needed to tell)."""
    return policy.mfa_policy() == policy.MfaPolicy.OFF or request.path.startswith(OPEN_PREFIXES)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """The redirect to enrolment, or None when the request may go on."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if policy.mfa_satisfied(user, request.session.get(policy.SESSION_METHODS_KEY)):
        return None
    messages.warning(request, ENROL_MESSAGE, fail_silently=True)
    return HttpResponseRedirect(reverse("mfa_index"))


@sync_and_async_middleware
def require_second_factor(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> Any:
            refused = None if _exempt(request) else await sync_to_async(_refusal)(request)
            return refused if refused is not None else await get_response(request)

        return middleware

    def sync_middleware(request: HttpRequest) -> Any:
        refused = None if _exempt(request) else _refusal(request)
        return refused if refused is not None else get_response(request)

    return sync_middleware
