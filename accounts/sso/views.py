"""The OpenID Connect login and callback, refusing what allauth alone lets through.

Measured in allauth 65.22 (docs/facts.md): in the authorization-code flow it skips the ID token's
signature (the token came straight from the token endpoint, which OpenID Connect Core 3.1.3.7
allows over TLS), and it checks the token's issuer against the discovery document only, never
against the issuer it was configured with. A misconfigured or hostile discovery URL, or a token
endpoint reached over plain HTTP, would then be believed. Here the signature is always checked
against the provider's published keys, and the discovery document must name the configured issuer
(OpenID Connect Discovery 1.0, section 4.3).
"""

from __future__ import annotations

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest, HttpResponseBase


def same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class VerifiedOIDCAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's adapter with the ID token's signature always verified and the issuer pinned."""

    @property
    def openid_config(self) -> dict:
        config = super().openid_config
        configured = self.get_provider().app.settings["server_url"].split("/.well-known/")[0]
        if not same_issuer(str(config.get("issuer", "")), configured):
            raise OAuth2Error(
                f"the provider's discovery document names issuer {config.get('issuer')!r}, not {configured!r}"
            )
        return config

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


def login(request: HttpRequest, provider_id: str) -> HttpResponseBase:
    try:
        return OAuth2LoginView.adapter_view(VerifiedOIDCAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


def callback(request: HttpRequest, provider_id: str) -> HttpResponseBase:
    try:
        return OAuth2CallbackView.adapter_view(VerifiedOIDCAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None
