"""Every routed URL, asked by someone who should not get it: nothing is served that should not be.

The URLs come from the resolver itself, so a route added later is crawled too (or the test
says which sample value it needs). Three callers: anonymous, an operator who may watch one
camera but not the secret one, and someone with a bad token or bad Basic credentials.
Allowed answers: a redirect to a login page, 401, 403, 404, 405 (or 400), or a 200 that is
public by design or shows the operator only what is theirs. The secret camera's slug and
name must appear in no answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from websockets.asyncio.client import connect

from cameras.models import Camera
from events.models import Event, PushSubscription
from exports.models import Export
from tests.factories import make_camera, make_token, make_user
from tests.support.processes import web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SECRET_SLUG, SECRET_NAME = "vault-cam-7q", "Vault Camera QX"
PUBLIC = {  # 200 for anyone, by design
    "login",
    "account_login",
    "healthz",
    "admin:login",
    # Sign-in steps that show no camera and nothing of an account: a single-sign-on error or cancel
    # page, "account inactive", and a passkey sign-in's challenge (JSON the browser signs).
    "socialaccount_login_error",
    "socialaccount_login_cancelled",
    "account_inactive",
    "mfa_login_webauthn",
    # The installable app: its manifest, service worker and offline page hold nothing of anyone (a browser
    # fetches the manifest without cookies; the worker must be reachable to update itself).
    "manifest",
    "service-worker",
    "offline",
}
DENIED = {400, 401, 403, 404, 405}
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")


def _arguments(pattern) -> list[str]:
    return list(getattr(pattern, "converters", {}) or pattern.regex.groupindex)


def routes(resolver=None, prefix: str = "", namespace: str = "", outer: tuple[str, ...] = ()):
    """(full name or None, route text, argument names) of every URL pattern, depth first."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from routes(entry, prefix + str(entry.pattern), inner, (*outer, *_arguments(entry.pattern)))
        elif isinstance(entry, URLPattern):
            names = [*outer, *_arguments(entry.pattern)]
            yield (f"{namespace}{entry.name}" if entry.name else None), prefix + str(entry.pattern), names


def sample_urls(camera: Camera) -> dict[str, str]:
    """One concrete URL per route, pointing at the secret camera wherever a route takes an object."""
    samples = {
        "slug": camera.slug,
        "object_id": str(camera.pk),
        "app_label": "cameras",
        "pk": str(camera.pk),
        "content_type_id": str(ContentType.objects.get_for_model(Camera).pk),
        "uidb64": "MQ",
        "token": "set-password",
        "url": "nonexistent/",
        "id": str(camera.pk),
        "segment_id": "1",
        "archive_id": "1",
        "part": "init",
        "provider_id": "sso",  # the single-sign-on provider's id (accounts/sso/)
        # An event of the secret camera: its pictures must be refused like the camera's stream.
        "event_id": str(Event.objects.create(camera=camera, start=timezone.now(), snapshot="x/1.jpg").pk),
        # Someone else's push subscription: only its owner may remove it.
        "subscription_id": str(
            PushSubscription.objects.create(
                user=make_user("push-owner", is_superuser=True), endpoint="https://push.example/1", p256dh="k", auth="a"
            ).pk
        ),
        # A signed export of the secret camera, made by someone else: its progress and file are refused too.
        "export_id": str(_export_of(camera).pk),
    }
    urls, unreachable = {}, []
    for name, route, args in routes():
        missing = [a for a in args if a not in samples]
        assert not missing, f"no sample value for {missing} in route {route!r}: add one to sample_urls()"
        if name is None:
            unreachable.append(route)
            continue
        urls[f"{name} {route}"] = reverse(name, kwargs={a: samples[a] for a in args})
    # Unnamed routes (the admin's catch-all): reached with a path of our own.
    assert all(r.startswith("admin/") for r in unreachable), unreachable
    urls["admin catch-all"] = "/admin/nonexistent/page/"
    return urls


def _export_of(camera: Camera) -> Export:
    chief = make_user("chief", is_superuser=True)
    export = Export.objects.create(user=chief, username="chief", camera_slugs=[camera.slug], start=timezone.now(),
                                   end=timezone.now(), state=Export.State.DONE, progress=1.0)  # fmt: skip
    export.cameras.set([camera])
    return export


def fetch(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One raw request; streams are read for a moment (their first parts), never to the end."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", "Content-Length: 0"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + 2.0
        data = b""
        try:
            while len(data) < 512 * 1024 and (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return int(status_line.split()[1]), response_headers, body


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_crawl_every_route_as_anonymous_operator_and_bad_token(redis_url):
    secret = make_camera(SECRET_SLUG, name=SECRET_NAME, source="320x240")
    mine = make_camera("lobby", name="Lobby", source="320x240")
    operator = make_user("op", password="op-pass-1")
    mine.allowed_users.add(operator)
    _, operator_token = make_token(user=operator)
    session = Client()
    session.force_login(operator)
    cookie = f"sessionid={session.cookies['sessionid'].value}"
    # /metrics answers the loopback by default (allowed networks): here the crawler is outside them.
    server = web_server(redis_url, NVR_METRICS_NETWORKS="192.0.2.0/24").start()
    callers = {
        "anonymous": ({}, ""),
        "bad token": ({}, "token=nvr_not-a-real-token-123456"),
        "bad basic": ({"Authorization": basic("op", "wrong-password")}, ""),
        "operator session": ({"Cookie": cookie}, ""),
        "operator basic": ({"Authorization": basic("op", "op-pass-1")}, ""),
        "operator token": ({}, f"token={operator_token}"),
    }
    urls = sample_urls(secret)
    problems, served = [], 0
    try:
        for label, path in urls.items():
            name = label.split(" ", 1)[0]
            for caller, (headers, query) in callers.items():
                url = path + (("&" if "?" in path else "?") + query if query else "")
                for method in ("GET", "POST"):
                    status, response_headers, body = fetch(server.port, method, url, headers)
                    verdict = judge(caller, name, method, status, response_headers, body)
                    location = response_headers.get("location", "")
                    if verdict.startswith("redirects") and location.startswith("/") and not location.startswith("//"):
                        # A redirect within the site is as good as where it leads (e.g. admin logout -> admin).
                        status, response_headers, body = fetch(server.port, "GET", location, headers)
                        verdict = judge(caller, "", "GET", status, response_headers, body)
                    served += status == 200
                    if verdict:
                        problems.append(f"{caller} {method} {url} -> {status}: {verdict}")
        ws_seen = asyncio.run(websocket_statuses(server, cookie))
    finally:
        server.stop()
    print(
        f"\ncrawled {len(urls)} routes x {len(callers)} callers x GET/POST: {served} answers were 200 "
        f"(public pages, or the operator's own); the websocket showed the operator {sorted(ws_seen)}"
    )
    assert not problems, "\n".join(problems)
    assert SECRET_SLUG not in ws_seen and ws_seen == {"lobby"}


def judge(caller: str, name: str, method: str, status: int, headers: dict[str, str], body: bytes) -> str:
    """Why this answer serves something it should not ("" when it is fine)."""
    if SECRET_SLUG.encode() in body or SECRET_NAME.encode() in body:
        return "the secret camera appears in the answer"
    if status >= 500:
        return "server error"
    if status in DENIED:
        return ""
    if status in (301, 302):
        location = headers.get("location", "")
        return "" if location.startswith(LOGIN_PAGES) else f"redirects to {location}"
    if status == 200 and name in PUBLIC:
        return ""
    if status == 200 and caller.startswith("operator") and method == "GET" and not name.startswith("admin:"):
        return ""  # the operator's own pages, checked above for the secret camera
    return f"served ({status}) to {caller}"


async def websocket_statuses(server, cookie: str) -> set[str]:
    """Slugs the status WebSocket sends the operator, even when asked for the secret camera."""
    url = server.url.replace("http://", "ws://") + f"/ws/status/?camera={SECRET_SLUG}&camera=lobby"
    async with connect(url, origin=server.url, additional_headers={"Cookie": cookie}) as socket_:
        message = json.loads(await asyncio.wait_for(socket_.recv(), 5))
    return {item["slug"] for item in message["cameras"]}
