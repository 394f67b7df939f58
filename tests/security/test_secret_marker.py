"""A camera password goes to the camera and nowhere else (docs/design.md, invariant 6).

Every camera password is a unique marker: one that works (an RTSP camera with auth, its
credentials typed into the URL), one the camera refuses, one for an unreachable HTTP
camera and one for a camera that never answers. Then every page, API, stream, snapshot,
admin list, form, action and history page, the status WebSocket, the management commands,
every Redis key and every log line of the web and capture processes is searched for it.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import redis
from django.test import Client
from websockets.asyncio.client import connect

from cameras.models import Camera
from tests.factories import make_camera, make_token, make_user
from tests.reliability.helpers import full_log
from tests.support.frames import wait_for_status
from tests.support.processes import ROOT, child_env
from tests.support.servers import RtspServer, SilentTcpServer, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MARKER = f"Pw{uuid.uuid4().hex}"


@pytest.fixture
def rtsp(rtsp_available):
    server = RtspServer(mounts=("/gate",), width=320, height=240, fps=10, user="viewer", password=MARKER)
    server.start()
    yield server
    server.stop()


def csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def read_for(port: int, path: str, cookie: str, seconds: float = 1.5) -> bytes:
    """Whatever a GET returns within `seconds` (streams never end)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n".encode()
        )
        deadline = time.monotonic() + seconds
        data = b""
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
    return data


def redis_dump(url: str) -> bytes:
    """Every key and value in Redis, as bytes."""
    client = redis.Redis.from_url(url)
    try:
        out = []
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"string":
                value = client.get(key)
            elif kind == b"hash":
                value = client.hgetall(key)
            elif kind == b"zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == b"set":
                value = client.smembers(key)
            else:
                value = client.lrange(key, 0, -1) if kind == b"list" else b""
            out.append(key + b" " + repr(value).encode())
        return b"\n".join(out)
    finally:
        client.close()


def test_camera_passwords_appear_nowhere(rtsp, redis_url, live_web, capture_process):
    silent = SilentTcpServer()
    closed_port = free_port()
    try:
        boss = make_user("boss", is_superuser=True, is_staff=True)
        gate = make_camera("gate", kind="rtsp", source=f"rtsp://viewer:{MARKER}@127.0.0.1:{rtsp.port}/gate", max_fps=5)
        assert gate.password == MARKER and MARKER not in gate.source  # moved out of the URL on save
        make_camera("badpw", kind="rtsp", source=rtsp.url("/gate"), username="viewer", password=MARKER + "x")
        make_camera(
            "deadhttp",
            kind="http_mjpeg",
            source=f"http://127.0.0.1:{closed_port}/video.mjpg",
            username="u",
            password=MARKER,
        )
        make_camera("mute", kind="rtsp", source=silent.url("rtsp", "/mute"), username="u", password=MARKER)
        _, token = make_token(user=boss)
        wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 20)  # the marker opened the camera
        wait_for_status(redis_url, "badpw", lambda s: s["state"] == "error", 20)
        wait_for_status(redis_url, "deadhttp", lambda s: s["last_error"], 20)
        wait_for_status(redis_url, "mute", lambda s: s["last_error"], 20)

        session = Client()
        session.force_login(boss)
        cookie = f"sessionid={session.cookies['sessionid'].value}"
        seen: dict[str, bytes] = {}
        ids = {c.slug: c.pk for c in Camera.objects.all()}
        with httpx.Client(
            base_url=live_web.url, timeout=30, cookies={"sessionid": session.cookies["sessionid"].value}
        ) as client:
            pages = [
                "/",
                "/?page=2",
                "/api/cameras/",
                f"/api/cameras/?token={token}",
                "/metrics",
                "/healthz",
                "/admin/",
                "/admin/cameras/camera/",
                "/admin/cameras/camera/?q=viewer",
                "/admin/streaming/streamtoken/",
                "/admin/streaming/streamtoken/add/",
                "/admin/cameras/camera/add/",
            ]
            for slug, pk in ids.items():
                pages += [
                    f"/cameras/{slug}/",
                    f"/cameras/{slug}/snapshot.jpg",
                    f"/admin/cameras/camera/{pk}/change/",
                    f"/admin/cameras/camera/{pk}/history/",
                ]
            for path in pages:
                response = client.get(path)
                seen[f"GET {path}"] = response.content + repr(response.headers).encode()
            for slug in ids:
                seen[f"stream {slug}"] = read_for(live_web.port, f"/cameras/{slug}/stream.mjpg", cookie)
            seen["grid stream"] = read_for(live_web.port, "/grid/stream.mjpg", cookie, 3.0)

            # Forms: a token for a camera; the connection test; a save that leaves the password empty (kept);
            # a new camera typed with its credentials in the URL.
            page = client.get("/cameras/gate/")
            seen["POST token"] = client.post("/cameras/gate/token/", data={"csrfmiddlewaretoken": csrf(page)}).content
            listing = client.get("/admin/cameras/camera/")
            action = client.post(
                "/admin/cameras/camera/",
                data={
                    "csrfmiddlewaretoken": csrf(listing),
                    "action": "test_connection",
                    "_selected_action": [ids["gate"], ids["badpw"], ids["deadhttp"]],
                },
            )
            assert "Reachable: a 320×240 frame" in action.text  # the connection test used the marker, and said so
            seen["POST test_connection"] = action.content
            change = client.get(f"/admin/cameras/camera/{ids['gate']}/change/")
            form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', change.text))
            saved = client.post(
                f"/admin/cameras/camera/{ids['gate']}/change/",
                data={
                    **form,
                    "name": "Gate",
                    "slug": "gate",
                    "kind": "rtsp",
                    "source": rtsp.url("/gate"),
                    "username": "viewer",
                    "password": "",
                    "max_fps": "5",
                    "jpeg_quality": "80",
                    "rtsp_transport": "tcp",
                    "position": "0",
                    "enabled": "on",
                    "_save": "Save",
                },
            )
            assert saved.status_code == 302, saved.text[:2000]
            assert Camera.objects.get(slug="gate").password == MARKER  # empty kept the stored password
            add = client.get("/admin/cameras/camera/add/")
            added = client.post(
                "/admin/cameras/camera/add/",
                data={
                    "csrfmiddlewaretoken": csrf(add),
                    "name": "Typed",
                    "slug": "typed",
                    "kind": "rtsp",
                    "source": f"rtsp://viewer:{MARKER}@127.0.0.1:{rtsp.port}/gate",
                    "max_fps": "5",
                    "jpeg_quality": "80",
                    "rtsp_transport": "tcp",
                    "position": "1",
                    "enabled": "on",
                    "_save": "Save",
                },
            )
            assert added.status_code == 302, added.text[:2000]
            typed = Camera.objects.get(slug="typed")
            assert typed.password == MARKER
            for path in [
                f"/admin/cameras/camera/{typed.pk}/change/",
                f"/admin/cameras/camera/{typed.pk}/history/",
                "/admin/",
                "/admin/cameras/camera/",
            ]:
                seen[f"GET {path} (after saves)"] = client.get(path).content
        seen["websocket"] = asyncio.run(websocket_messages(live_web, cookie))
        env = child_env(redis_url)
        for command in (["cameras", "export"], ["cameras", "export", "--format", "json"], ["nvr_status"]):
            result = subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, timeout=60, check=False
            )
            seen[f"manage.py {' '.join(command)}"] = result.stdout + result.stderr
        time.sleep(1.0)  # a status round after the saves
        seen["redis"] = redis_dump(redis_url)
        seen["web log"] = full_log(live_web).encode()
        seen["capture log"] = full_log(capture_process).encode()
    finally:
        silent.stop()
    leaks = [where for where, data in seen.items() if MARKER.encode() in data]
    print(
        f"\nsearched {len(seen)} answers, dumps and logs ({sum(map(len, seen.values())) / 1024:.0f} KB) "
        f"for the camera password: found in {len(leaks)}"
    )
    assert not leaks, leaks
    assert b"refused the username or password" in seen["redis"]  # the refused camera's error was there to see


async def websocket_messages(live_web, cookie: str) -> bytes:
    url = live_web.url.replace("http://", "ws://") + "/ws/status/"
    received = []
    async with connect(url, origin=live_web.url, additional_headers={"Cookie": cookie}) as socket_:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                received.append(await asyncio.wait_for(socket_.recv(), deadline - time.monotonic()))
            except TimeoutError:
                break
    return "\n".join(m if isinstance(m, str) else m.decode() for m in received).encode()
