"""Single sign-on through the company's OpenID Connect provider (allauth's openid_connect, verified harder).

Configured from .env (NVR_OIDC_*; nvr/settings.py builds allauth's SOCIALACCOUNT_PROVIDERS from them).
"""
