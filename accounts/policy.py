"""Who must have a second factor, and who may still sign in with a local password.

- NVR_REQUIRE_MFA (MfaPolicy): `staff` covers staff and superusers, `all` every user. A covered user
  without a second factor (an authenticator app or a passkey/security key) is led to enrol at the
  next sign-in and reaches no page or stream until they have one (accounts.middleware, streaming.auth).
  A session signed in through the identity provider (OIDC) satisfies it: the provider's own
  policy decides how its users prove who they are.
- Password-only ways in (HTTP Basic on streams, the admin's own login form) cannot ask for a second
  factor, so they refuse any account that has one or that the policy covers. Stream tokens are
  unaffected: they are revocable secrets of their own, made for other systems.
- NVR_LOCAL_LOGIN (LocalLogin): `off` leaves sign-in to the identity provider, except for the first
  superuser (the lowest id), kept as a break-glass account for when the provider is down.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]  # recovery codes back these up
SSO_METHOD = "socialaccount"  # allauth's name for a sign-in through the identity provider
SESSION_METHODS_KEY = "account_authentication_methods"  # allauth.account.authentication: how a session signed in


class MfaPolicy(models.TextChoices):
    OFF = "off", "No one is required to have a second factor"
    STAFF = "staff", "Staff and superusers must have a second factor"
    ALL = "all", "Every user must have a second factor"


class LocalLogin(models.TextChoices):
    ON = "on", "Local accounts sign in with their password or passkey"
    OFF = "off", "Only the identity provider signs people in (and the break-glass superuser)"


def mfa_policy() -> MfaPolicy:
    return MfaPolicy(settings.NVR_REQUIRE_MFA)


def local_login() -> LocalLogin:
    return LocalLogin(settings.NVR_LOCAL_LOGIN)


def mfa_covers(user: Any) -> bool:
    """Whether the policy requires `user` to have a second factor."""
    policy = mfa_policy()
    if policy == MfaPolicy.ALL:
        return True
    return policy == MfaPolicy.STAFF and bool(user.is_staff or user.is_superuser)


def has_second_factor(user: Any) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).exists()


async def ahas_second_factor(user: Any) -> bool:
    return await Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).aexists()


def signed_in_by_sso(methods: list[dict] | None) -> bool:
    """Whether a session's sign-in records (allauth's, in the session) include the identity provider."""
    return any(step.get("method") == SSO_METHOD for step in methods or [])


def mfa_satisfied(user: Any, methods: list[dict] | None) -> bool:
    """Whether a session of `user` may use the site under the policy."""
    return not mfa_covers(user) or signed_in_by_sso(methods) or has_second_factor(user)


async def amfa_satisfied(user: Any, methods: list[dict] | None) -> bool:
    return not mfa_covers(user) or signed_in_by_sso(methods) or await ahas_second_factor(user)


def password_only_allowed(user: Any) -> bool:
    """Whether a way in that checks only a password (HTTP Basic, the admin's form) may let `user` in."""
    return not mfa_covers(user) and not has_second_factor(user)


def break_glass_id() -> int | None:
    """The first superuser: the account that signs in locally when local sign-in is off."""
    return get_user_model().objects.filter(is_superuser=True).order_by("pk").values_list("pk", flat=True).first()


def local_login_allows(user: Any) -> bool:
    """Whether `user` may sign in with a local credential (password, passkey) under NVR_LOCAL_LOGIN."""
    return local_login() == LocalLogin.ON or (user.pk is not None and user.pk == break_glass_id())
