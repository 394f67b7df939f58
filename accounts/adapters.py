"""How allauth behaves here: no self-service sign-up, nvr's throttle instead of allauth's, local sign-in
policy (accounts.policy), and users from the identity provider created on first sign-in with their groups.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import policy
from accounts.sso.groups import sync_groups
from audit.log import Actor, Kind, record

log = logging.getLogger(__name__)

LOCAL_OFF_MESSAGE = "Sign in through your organisation's single sign-on."


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Accounts are made by an administrator, or by the identity provider on first sign-in."""
        return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """Nothing: the authentication backend throttles every way in alike (accounts.throttle)."""

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """Not within REAUTHENTICATION_TIMEOUT of signing in: a user led to enrol a second factor right after
        signing in is not asked for the password again; later, changing one needs a fresh proof, as allauth asks."""
        request = context.request
        records = request.session.get(policy.SESSION_METHODS_KEY, []) if request is not None else []
        if records and time.time() - float(records[-1].get("at", 0)) < account_settings.REAUTHENTICATION_TIMEOUT:
            return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def pre_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse | None:
        through_sso = bool((kwargs.get("signal_kwargs") or {}).get("sociallogin"))
        if not through_sso and not policy.local_login_allows(user):  # a passkey, with local sign-in off
            record(Kind.SIGN_IN_FAILED, actor=Actor.of(user), detail={"method": "local", "reason": "local sign-in off"})
            messages.error(request, LOCAL_OFF_MESSAGE)
            return HttpResponseRedirect(reverse("login"))
        return super().pre_login(request, user, **kwargs)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        """Whoever the identity provider signs in gets an account (seeing what their groups allow)."""
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        if sociallogin.is_existing:
            sync_groups(sociallogin.user, sociallogin.account.extra_data)

    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        sync_groups(user, sociallogin.account.extra_data)
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        # The reason goes to the log and the audit trail, never to the page (it may name the provider's setup).
        reason = f"{error}: {exception}" if exception else str(error)
        log.warning("sso: sign-in through %s refused: %s", getattr(provider, "id", provider), reason)
        address = str(request.META.get("REMOTE_ADDR", ""))
        record(Kind.SIGN_IN_FAILED, actor=Actor(address=address), detail={"method": "oidc", "reason": reason[:300]})
        super().on_authentication_error(request, provider, error, exception, extra_context)
