"""Single sign-on against a real OpenID provider (django-oauth-toolkit in its own process, tests/support/).

One provider and one nvr (uvicorn, as in production) serve every phase: a sign-in that maps the
provider's groups onto Django groups (and so onto cameras), local sign-in turned off with the first
superuser kept as a break-glass account, and refusals of a token with a bad signature or a bad issuer.
"""

from __future__ import annotations

import json
import re
import sys
import time

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from audit.models import AuditEntry, Kind
from audit.writer import get_writer
from tests.factories import make_camera, make_user
from tests.support.processes import LOG_DIR, ManagedProcess, web_server
from tests.support.waiting import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLIENT_ID, CLIENT_SECRET = "nvr-test-client", "nvr-test-secret-0123456789"


def csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def sso_sign_in(base: str, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """A browser's sign-in through the provider: nvr's button, the provider's form, back to nvr."""
    client = httpx.Client(base_url=base, timeout=15, follow_redirects=False)
    page = client.get("/accounts/login/")
    assert "Sign in with Acme" in page.text, page.text[:500]
    response = client.post("/accounts/oidc/sso/login/?process=login", data={"csrfmiddlewaretoken": csrf(page.text)})
    for _ in range(10):  # nvr -> provider's authorize -> its login -> authorize -> nvr's callback -> nvr
        if response.status_code not in (301, 302):
            break
        location = str(response.headers["location"])
        url = httpx.URL(location) if location.startswith("http") else response.url.join(location)
        if url.port == httpx.URL(base).port and not url.path.startswith("/accounts/oidc/"):
            break  # back at nvr: signed in (or not)
        if url.path == "/login/":  # the provider asks who this is
            response = client.post(url, data={"username": username, "password": password})
            continue
        response = client.get(url)
    return client, response


def test_single_sign_on_maps_groups_to_cameras_and_refuses_bad_tokens(redis_url, tmp_path):
    yard, gate = make_camera("yard"), make_camera("gate")
    watchers = Group.objects.create(name="yard-watchers")
    yard.allowed_groups.add(watchers)
    gate.allowed_groups.add(Group.objects.create(name="gate-watchers"))
    root = make_user("root", password="root-pass-1", is_superuser=True, is_staff=True)  # the break-glass account
    make_user("local-op", password="local-pass-1", is_superuser=True, is_staff=True)
    port = free_port()
    op_port = free_port()
    config = tmp_path / "provider.json"
    config.write_text(
        json.dumps(
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uri": f"http://127.0.0.1:{port}/accounts/oidc/sso/login/callback/",
                "users": [
                    {
                        "username": "alice",
                        "password": "alice-pw",
                        "email": "a@example.org",
                        "groups": ["yard-watchers", "hr"],
                    },
                    {"username": "mallory", "password": "mallory-pw", "groups": ["gate-watchers"]},
                ],
            }
        )
    )
    provider = ManagedProcess(
        "oidc-provider",
        [sys.executable, "-m", "tests.support.oidc_provider", str(op_port), str(config)],
        {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        op_port,
        log_path=LOG_DIR / f"oidc-provider-{op_port}.log",
    ).start()
    nvr = web_server(
        redis_url,
        port=port,
        NVR_OIDC_ISSUER=f"http://127.0.0.1:{op_port}/o",
        NVR_OIDC_CLIENT_ID=CLIENT_ID,
        NVR_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        NVR_OIDC_NAME="Acme",
        NVR_OIDC_GROUPS_CLAIM="groups",
        NVR_LOCAL_LOGIN="off",
    ).start()
    try:
        # 1. A sign-in through the provider: an account made on first sign-in, groups from the claim.
        started = time.monotonic()
        alice, done = sso_sign_in(nvr.url, "alice", "alice-pw")
        took = time.monotonic() - started
        assert done.status_code == 302 and done.headers["location"] == "/", (done.status_code, done.text[:800])
        cameras = alice.get("/api/cameras/").json()
        assert [c["slug"] for c in cameras["cameras"]] == ["yard"], cameras  # the provider's group decides
        user = get_user_model().objects.get(username="alice")
        assert list(user.groups.values_list("name", flat=True)) == ["yard-watchers"]  # "hr" has no Django group
        assert not user.has_usable_password()
        assert alice.get("/cameras/gate/snapshot.jpg").status_code == 404
        alice.close()

        # 2. Local sign-in is off: a local password opens nothing, except the first superuser's.
        with httpx.Client(base_url=nvr.url, timeout=10) as local:
            page = local.get("/accounts/login/")
            assert "break-glass" in page.text
            refused = local.post(
                "/accounts/login/",
                data={"username": "local-op", "password": "local-pass-1", "csrfmiddlewaretoken": csrf(page.text)},
            )
            assert refused.status_code == 200 and "sessionid" not in local.cookies
            page = local.get("/accounts/login/")
            allowed = local.post(
                "/accounts/login/",
                data={"username": root.username, "password": "root-pass-1", "csrfmiddlewaretoken": csrf(page.text)},
            )
            assert allowed.status_code == 302 and "sessionid" in local.cookies

        # 3. A token signed with a key the provider does not publish, then one naming another issuer: refused.
        for mode in ("wrong-key", "wrong-issuer"):
            assert httpx.get(f"http://127.0.0.1:{op_port}/test/mode/{mode}").text == mode
            client, done = sso_sign_in(nvr.url, "mallory", "mallory-pw")
            assert done.status_code != 302 or done.headers["location"] != "/", mode
            assert client.get("/api/cameras/").status_code == 401, mode
            client.close()
        assert not get_user_model().objects.filter(username="mallory").exists()
    finally:
        nvr.stop()
        provider.stop()
    get_writer().flush()
    signed_in = AuditEntry.objects.get(kind=Kind.SIGN_IN, username="alice")
    assert signed_in.detail["method"] == "oidc" and signed_in.address == "127.0.0.1"
    failures = list(AuditEntry.objects.filter(kind=Kind.SIGN_IN_FAILED, detail__method="oidc"))
    reasons = " | ".join(entry.detail.get("reason", "") for entry in failures)
    assert len(failures) == 2 and "Invalid id_token" in reasons, reasons
    print(f"\nsign-in through the provider: {took:.2f} s; refusals: {reasons}")
