"""Second factors: TOTP with a real code generator (pyotp), and NVR_REQUIRE_MFA closing every page and
stream until the user has one (on the real server: pages through Django, streams through the fast path)."""

from __future__ import annotations

import base64
import html
import re

import httpx
import pyotp
import pytest
from django.test import Client, override_settings

from accounts import policy
from accounts.login import AdminLoginForm
from audit.models import AuditEntry, Kind
from audit.writer import get_writer
from tests.factories import make_camera, make_token, make_user
from tests.support.processes import web_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "op-pass-1"


def csrf(text: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/accounts/login/")
    return client.post(
        "/accounts/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": csrf(page.text)}
    )


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


PAGES = ["/", "/events/", "/review/?cameras=front", "/cameras/front/", "/api/cameras/", "/admin/"]
STREAMS = ["/cameras/front/stream.mjpg", "/grid/stream.mjpg"]  # the fast path, without Django's middleware
OTHERS = ["/cameras/front/snapshot.jpg", "/cameras/front/recordings.m3u8", "/api/cameras/front/recordings"]


def status(client: httpx.Client, url: str, **kwargs) -> httpx.Response:
    with client.stream("GET", url, **kwargs) as response:  # streams never end: the head is the answer
        return response


@pytest.mark.slow
def test_a_required_second_factor_closes_pages_and_streams_until_the_user_enrols_totp(redis_url):
    camera = make_camera("front")
    operator = make_user("op", password=PASSWORD, is_staff=True)
    camera.allowed_users.add(operator)
    _, token = make_token(user=operator, camera=camera)
    server = web_server(redis_url, NVR_REQUIRE_MFA="all").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as browser:
            signed_in = sign_in(browser, "op", PASSWORD)
            assert signed_in.status_code == 302 and "sessionid" in browser.cookies
            # Led to enrol: every page sends the user to the two-factor page; no stream opens.
            for page in PAGES + OTHERS:
                refused = browser.get(page)
                assert refused.status_code == 302 and refused.headers["location"] == "/accounts/2fa/", page
            for url in STREAMS:
                assert status(browser, url).status_code == 401, url
            enrol = browser.get("/accounts/2fa/")
            assert enrol.status_code == 200 and "needs a second factor" in enrol.text
            # A password alone never opens a stream for a covered account; its stream token still does.
            assert (
                status(
                    httpx.Client(base_url=server.url), "/cameras/front/stream.mjpg", headers=basic("op", PASSWORD)
                ).status_code
                == 401
            )
            assert status(browser, f"/cameras/front/stream.mjpg?token={token}").status_code == 200

            # Enrol an authenticator app: the secret from the page, the code from a real generator.
            page = browser.get("/accounts/2fa/totp/activate/")
            assert page.status_code == 200, (page.status_code, page.headers.get("location"))
            tag = re.search(r'<input[^>]*id="authenticator_secret"[^>]*>', page.text).group(0)
            secret = html.unescape(re.search(r'value="([^"]+)"', tag).group(1))
            done = browser.post(
                "/accounts/2fa/totp/activate/",
                data={"code": pyotp.TOTP(secret).now(), "csrfmiddlewaretoken": csrf(page.text)},
            )
            assert done.status_code == 302, done.text[:500]
            # Session lookups are shared for a second by every request of a session (streaming.auth).
            wait_until(lambda: browser.get("/api/cameras/").status_code == 200, 5, "the enrolled session's access")
            for page in PAGES + OTHERS:
                assert browser.get(page).status_code in (200, 503), page  # 503: the camera sends no frame here
            for url in STREAMS:
                assert status(browser, url).status_code == 200, url
            assert (
                status(
                    httpx.Client(base_url=server.url), "/cameras/front/stream.mjpg", headers=basic("op", PASSWORD)
                ).status_code
                == 401
            )

            # The next sign-in asks for the code: a wrong one is refused, the generator's is let in.
            browser.post("/accounts/logout/", headers={"X-CSRFToken": browser.cookies["csrftoken"]})
            browser.cookies.clear()
            second = sign_in(browser, "op", PASSWORD)
            assert second.status_code == 302 and second.headers["location"] == "/accounts/2fa/authenticate/"
            assert browser.get("/").status_code == 302  # not signed in between the two steps
            form = browser.get("/accounts/2fa/authenticate/")
            wrong = browser.post(
                "/accounts/2fa/authenticate/", data={"code": "000000", "csrfmiddlewaretoken": csrf(form.text)}
            )
            assert wrong.status_code == 200 and browser.get("/").status_code == 302
            right = browser.post(
                "/accounts/2fa/authenticate/",
                data={"code": pyotp.TOTP(secret).now(), "csrfmiddlewaretoken": csrf(form.text)},
            )
            assert right.status_code == 302 and browser.get("/").status_code == 200
            assert status(browser, "/cameras/front/stream.mjpg").status_code == 200
    finally:
        server.stop()
    get_writer().flush()
    methods = list(
        AuditEntry.objects.filter(kind=Kind.SIGN_IN, username="op")
        .order_by("seq")
        .values_list("detail__method", flat=True)
    )
    assert methods == ["password", "password+totp"], methods
    basic_refusals = AuditEntry.objects.filter(kind=Kind.SIGN_IN_FAILED, username="op", detail__method="http-basic")
    assert basic_refusals.count() >= 1 and basic_refusals.first().detail["reason"] == "second factor required"


def test_who_the_policy_covers_and_the_password_only_ways_in(settings):
    staff = make_user("staff", password=PASSWORD, is_staff=True)
    operator = make_user("viewer", password=PASSWORD)
    settings.NVR_REQUIRE_MFA = "staff"
    assert policy.mfa_covers(staff) and not policy.mfa_covers(operator)
    assert not policy.password_only_allowed(staff) and policy.password_only_allowed(operator)
    assert policy.mfa_satisfied(staff, [{"method": "socialaccount"}])  # the identity provider's own policy
    assert not policy.mfa_satisfied(staff, [{"method": "password"}])
    settings.NVR_REQUIRE_MFA = "off"
    assert policy.password_only_allowed(staff)
    # The admin's own form checks only a password: an account with a second factor is sent to /accounts/login/.
    from allauth.mfa.models import Authenticator

    Authenticator.objects.create(user=staff, type=Authenticator.Type.TOTP, data={"secret": "x"})
    assert not policy.password_only_allowed(staff)
    client = Client()
    page = client.post("/admin/login/?next=/admin/", {"username": "staff", "password": PASSWORD, "next": "/admin/"})
    assert page.status_code == 200 and "use the main login page" in page.content.decode()
    assert not client.session.get("_auth_user_id")
    assert AdminLoginForm  # the form nvr/urls.py gives the admin


def test_local_sign_in_off_keeps_only_the_first_superuser(settings):
    first = make_user("first", password=PASSWORD, is_superuser=True, is_staff=True)
    make_user("second", password=PASSWORD, is_superuser=True, is_staff=True)
    make_user("plain", password=PASSWORD)
    with override_settings(NVR_LOCAL_LOGIN="off"):
        assert policy.break_glass_id() == first.pk
        for username, allowed in (("first", True), ("second", False), ("plain", False)):
            client = Client()
            response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
            assert (response.status_code == 302) is allowed, username
