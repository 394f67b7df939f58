"""Camera groups on the dashboard: a group never grants a camera, layouts per group, kiosk and cycling options."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from django.test import Client
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from cameras.models import CameraGroup, GroupMember
from streaming.auth import forget_cached_credentials
from streaming.models import DashboardPreference
from tests.factories import make_camera, make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def wall():
    operator = make_user("op")
    cameras = {slug: make_camera(slug, position=i) for i, slug in enumerate(["yard", "gate", "door", "shed"])}
    for slug in ("gate", "yard", "shed"):
        cameras[slug].allowed_users.add(operator)
    gates = CameraGroup.objects.create(name="Gates", slug="gates")
    for position, slug in enumerate(["shed", "door", "gate", "yard"]):  # the group's own order
        GroupMember.objects.create(group=gates, camera=cameras[slug], position=position)
    gates.allowed_users.add(operator)
    CameraGroup.objects.create(name="Secret", slug="secret")  # not given to the operator
    client = Client()
    client.force_login(operator)
    return operator, client, cameras, gates


def tiles(html: str) -> list[str]:
    return re.findall(r'data-camera="([^"]+)"', html)


def test_a_group_shows_its_cameras_in_its_order_but_never_grants_one(wall):
    _, client, _, _ = wall
    page = client.get("/?group=gates").content.decode()
    assert tiles(page) == ["shed", "gate", "yard"]  # door is in the group, but not the operator's
    assert client.get("/").content.decode().count('class="tile"') == 3
    assert client.get("/?group=secret").status_code == 404  # a group they may not use: like an unknown one
    assert client.get("/?group=nope").status_code == 404
    picker = re.search(r'<select name="group".*?</select>', client.get("/").content.decode(), re.S).group(0)
    assert "gates" in picker and "secret" not in picker


def test_layout_and_hiding_turned_off_cameras_are_remembered_per_group(wall):
    operator, client, cameras, gates = wall
    assert client.post("/layout/", {"layout": "5", "group": "gates"})["Location"] == "/?group=gates"
    client.post("/layout/", {"layout": "2"})
    assert DashboardPreference.objects.get(user=operator, group=gates).layout == "5"
    assert DashboardPreference.objects.get(user=operator, group=None).layout == "2"
    assert 'data-layout="5"' in client.get("/?group=gates").content.decode()
    cameras["gate"].enabled = False
    cameras["gate"].save()
    assert "gate" in tiles(client.get("/?group=gates").content.decode())  # shown, saying "Turned off"
    client.post("/layout/", {"hide_off": "1", "group": "gates"})
    assert tiles(client.get("/?group=gates").content.decode()) == ["shed", "yard"]
    assert "gate" in tiles(client.get("/").content.decode())  # the other view keeps its own choice
    assert client.post("/layout/", {"layout": "2", "group": "secret"}).status_code == 404


def test_kiosk_and_cycling_options(wall):
    operator, client, _, gates = wall
    DashboardPreference.objects.create(user=operator, group=gates, layout="1")  # 3 cameras: 3 pages
    kiosk = client.get("/?group=gates&kiosk=1").content.decode()
    assert re.search(r'<body class="[^"]*\bkiosk\b', kiosk) and "data-kiosk" in kiosk
    assert 'data-cycle="20"' in kiosk and 'data-pages="3"' in kiosk  # kiosks turn pages by default
    assert 'href="?group=gates&amp;kiosk=1&amp;page=2"' in kiosk  # paging keeps the group and the mode
    assert 'data-cycle="5"' in client.get("/?group=gates&cycle=5").content.decode()
    assert 'data-cycle="0"' in client.get("/?group=gates").content.decode()  # not a kiosk: no cycling unless asked
    assert client.get("/?group=gates&cycle=soon").status_code == 400
    assert client.get("/?group=gates&cycle=99999").status_code == 400


@pytest.fixture
def kiosk_token(wall):
    operator, _, cameras, gates = wall
    lab = make_camera("lab", position=9)  # the operator's, but not in the group
    lab.allowed_users.add(operator)
    row, token = make_token(user=operator, name="Gate screen")
    row.group = gates
    row.save()
    return row, token, cameras


def test_a_kiosk_token_shows_its_group_and_nothing_else(wall, kiosk_token, redis_url):
    row, token, _ = kiosk_token
    anonymous = Client()
    page = anonymous.get(f"/?token={token}&kiosk=1")
    assert page.status_code == 200
    html = page.content.decode()
    assert tiles(html) == ["shed", "gate", "yard"]  # the group, in its order, as far as the owner may see
    assert f'data-token="{token}"' in html and f"/ws/status/?token={token}" in html
    assert anonymous.get(f"/cameras/lab/snapshot.jpg?token={token}").status_code == 404  # not in the group
    assert anonymous.get(f"/cameras/yard/snapshot.jpg?token={token}").status_code in (200, 503)  # in it
    assert anonymous.get("/?token=nvr_not-a-real-token").status_code == 401
    assert anonymous.get("/").status_code == 302  # no token, no session: the login page
    row.revoked_at = timezone.now()
    row.save()
    forget_cached_credentials()
    assert anonymous.get(f"/?token={token}&kiosk=1").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_kiosk_token_opens_the_status_socket_for_its_group_only(wall, kiosk_token, live_web):
    _, token, _ = kiosk_token
    url = live_web.url.replace("http://", "ws://") + f"/ws/status/?token={token}"

    async def first_message() -> dict:
        async with connect(url, origin=live_web.url) as socket:
            return json.loads(await asyncio.wait_for(socket.recv(), 10))

    message = asyncio.run(first_message())
    assert sorted(item["slug"] for item in message["cameras"]) == ["gate", "shed", "yard"]

    async def refused() -> int:
        try:
            async with connect(url.replace(token, "nvr_wrong-token-123"), origin=live_web.url):
                return 101
        except InvalidStatus as error:
            return error.response.status_code

    assert asyncio.run(refused()) == 403
