"""The provider's process: settings, URLs and views in one module (see the package's docstring)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import django
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings


def _private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


PORT = int(sys.argv[1])
CONFIG = json.loads(Path(sys.argv[2]).read_text())
ISSUER = f"http://127.0.0.1:{PORT}/o"
DATA = Path(tempfile.mkdtemp(prefix="nvr-oidc-provider-"))
MODE = {"now": "normal"}

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-provider-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "oauth2_provider",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA / "op.sqlite3")}},
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    USE_TZ=True,
    LOGIN_URL="/login/",
    # Both servers live on 127.0.0.1, where cookies ignore the port: the provider's have names of their own.
    SESSION_COOKIE_NAME="op_session",
    CSRF_COOKIE_NAME="op_csrftoken",
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    OAUTH2_PROVIDER={
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": _private_pem(),
        "OAUTH2_VALIDATOR_CLASS": f"{__name__}.Validator",
        "SCOPES": {"openid": "OpenID Connect", "profile": "Profile", "email": "E-mail"},
        "PKCE_REQUIRED": False,
    },
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
)
django.setup()

from django.contrib.auth import authenticate, login  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils.html import escape  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from jwcrypto import jwk  # noqa: E402
from oauth2_provider.models import get_application_model  # noqa: E402
from oauth2_provider.oauth2_validators import OAuth2Validator  # noqa: E402
from oauth2_provider.views import JwksInfoView  # noqa: E402

OTHER_KEY = jwk.JWK.from_pem(_private_pem().encode())


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim below, whatever the scopes

    def get_additional_claims(self, request):
        user = request.user
        return {
            "preferred_username": user.username,
            "email": user.email,
            "groups": sorted(group.name for group in user.groups.all()),
        }

    def get_oidc_issuer_endpoint(self, request):
        return "http://issuer.invalid/o" if MODE["now"] == "wrong-issuer" else super().get_oidc_issuer_endpoint(request)


def jwks(request):
    response = JwksInfoView.as_view()(request)
    if MODE["now"] != "wrong-key":
        return response
    keys = json.loads(response.content)["keys"]
    public = json.loads(OTHER_KEY.export_public())
    return JsonResponse({"keys": [{**key, "n": public["n"], "e": public["e"]} for key in keys]})


@csrf_exempt
def sign_in(request):
    """The provider's own login: a form; a right password signs in and goes on to `next`."""
    next_url = request.GET.get("next") or request.POST.get("next") or "/"
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
        if user is not None:
            login(request, user)
            return HttpResponseRedirect(next_url)
    return HttpResponse(
        f'<form method="post"><input name="username"><input name="password" type="password">'
        f'<input type="hidden" name="next" value="{escape(next_url)}"><button>Sign in</button></form>'
    )


def mode(request, name):
    MODE["now"] = name
    return HttpResponse(name)


urlpatterns = [
    path("o/.well-known/jwks.json", jwks),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login/", sign_in),
    path("test/mode/<str:name>", mode),
]


def setup() -> None:
    call_command("migrate", verbosity=0)
    owner = None
    for spec in CONFIG["users"]:
        user = User.objects.create_user(spec["username"], email=spec.get("email", ""), password=spec["password"])
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in spec.get("groups", [])])
        owner = owner or user
    get_application_model().objects.create(
        name="nvr",
        client_id=CONFIG["client_id"],
        client_secret=CONFIG["client_secret"],
        hash_client_secret=False,
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris=CONFIG["redirect_uri"],
        algorithm="RS256",
        skip_authorization=True,
        user=owner,
    )


if __name__ == "__main__":
    setup()
    from django.core.servers.basehttp import WSGIServer, run
    from django.core.wsgi import get_wsgi_application

    os.environ.setdefault("DJANGO_COLORS", "nocolor")
    print(f"OpenID provider at {ISSUER}", flush=True)
    run("127.0.0.1", PORT, get_wsgi_application(), threading=True, server_cls=WSGIServer)
