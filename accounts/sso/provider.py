"""allauth's OpenID Connect provider, with its views replaced by ours (accounts.sso.views).

Named in settings as the openid_connect provider's `provider_class`; allauth then builds its URLs
from this package (`package`), so the login and callback run VerifiedOIDCAdapter.
"""

from __future__ import annotations

from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from accounts.sso.views import VerifiedOIDCAdapter


class VerifiedOIDCProvider(OpenIDConnectProvider):
    package = "accounts.sso"
    oauth2_adapter_class = VerifiedOIDCAdapter


provider_classes = [VerifiedOIDCProvider]
