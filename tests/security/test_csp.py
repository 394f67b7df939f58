"""Every page carries a Content-Security-Policy that allows no inline code, and none of our markup needs it.

The browser test (tests/browser/test_csp.py) loads the pages under the policy; this one covers
the header itself and pages a browser test does not reach (the admin's connection test).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.factories import make_camera, make_user

pytestmark = pytest.mark.django_db

INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "inline script"),
    (re.compile(r"\sstyle=\"", re.I), "inline style attribute"),
    (re.compile(r"<style", re.I), "inline style element"),
    (re.compile(r"\son[a-z]+=\"", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_pages_carry_a_policy_without_inline_code_and_their_markup_has_none():
    boss = make_user("boss", is_superuser=True, is_staff=True)
    camera = make_camera("front")
    client = Client()
    assert "script-src" in policy(client.get("/accounts/login/"))
    client.force_login(boss)
    pages = {
        path: client.get(path)
        for path in ["/", "/cameras/front/", "/review/?cameras=front", "/admin/", "/admin/cameras/camera/",
                     f"/admin/cameras/camera/{camera.pk}/change/", "/admin/streaming/streamtoken/add/", "/events/",
                     "/admin/events/webhook/add/", "/admin/events/event/", "/audit/", "/accounts/2fa/",
                     "/admin/audit/auditentry/"]
    }  # fmt: skip
    pages["connection test"] = client.post(
        "/admin/cameras/camera/", {"action": "test_connection", "_selected_action": [camera.pk]}
    )
    for name, response in pages.items():
        assert response.status_code == 200, name
        directives = policy(response)
        assert directives["default-src"] == ["'self'"], name
        assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"], name
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"], name
        html = response.content.decode()
        for pattern, what in INLINE:
            found = pattern.search(html)
            assert found is None, f"{what} on {name}: {html[found.start() - 80 : found.end() + 80] if found else ''}"
    assert "connection-ok" in pages["connection test"].content.decode()
