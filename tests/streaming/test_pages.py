"""The dashboard, camera and login pages (streaming.pages): who sees what, layouts, tokens."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from streaming.models import DashboardPreference, StreamToken, hash_token
from tests.factories import make_camera, make_user

TILE = re.compile(r'<a class="tile" href="/cameras/([\w-]+)/')


@pytest.fixture(autouse=True)
def plain_static_files(settings, redis_url):
    """{% static %} without a collectstatic manifest; Redis for the pages' initial status."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def sixteen(db):
    # Positions run against slug order, so the grid's order is provably the position's.
    return [make_camera(f"cam-{i:02d}", position=16 - i) for i in range(16)]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_the_login_page(db):
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/")
    login = Client().get("/accounts/login/")
    assert login.status_code == 200
    html = login.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing may load from outside (closed networks)"


def test_superuser_sees_every_camera_in_position_order(sixteen):
    admin = make_user("boss", is_superuser=True, is_staff=True)
    html = logged_in(admin).get("/").content.decode()
    assert TILE.findall(html) == [f"cam-{i:02d}" for i in range(15, -1, -1)]
    assert 'data-layout="auto"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_operator_with_3_of_16_cameras_sees_exactly_those_and_404_for_the_rest(sixteen):
    operator = make_user("op3")
    mine = [sixteen[3], sixteen[7], sixteen[12]]
    for camera in mine:
        camera.allowed_users.add(operator)
    client = logged_in(operator)

    html = client.get("/").content.decode()
    assert TILE.findall(html) == ["cam-12", "cam-07", "cam-03"]

    assert client.get("/cameras/cam-07/").status_code == 200
    for other in ("cam-00", "cam-08", "cam-15", "no-such-camera"):
        assert client.get(f"/cameras/{other}/").status_code == 404
        assert client.get(f"/cameras/{other}/stream.mjpg").status_code == 404
        assert client.get(f"/cameras/{other}/snapshot.jpg").status_code == 404
        assert client.post(f"/cameras/{other}/token/", {"name": "x"}).status_code == 404


def test_layout_is_remembered_per_user_and_pages_the_grid(sixteen):
    admin = make_user("boss", is_superuser=True)
    client = logged_in(admin)
    assert client.post("/layout/", {"layout": "3"}).status_code == 302
    assert DashboardPreference.objects.get(user=admin).layout == "3"

    other_device = logged_in(admin)  # a second session: the choice follows the user
    html = other_device.get("/").content.decode()
    assert 'data-layout="3"' in html and 'aria-pressed="true"' in html
    assert TILE.findall(html) == [f"cam-{i:02d}" for i in range(15, 6, -1)]
    assert "Page 1 of 2" in html
    page_two = other_device.get("/?page=2").content.decode()
    assert TILE.findall(page_two) == [f"cam-{i:02d}" for i in range(6, -1, -1)]
    assert TILE.findall(other_device.get("/?page=99").content.decode()) == TILE.findall(page_two)

    client.post("/layout/", {"layout": "bogus"})
    assert DashboardPreference.objects.get(user=admin).layout == "3"
    assert 'data-layout="auto"' in logged_in(make_user("newcomer", is_superuser=True)).get("/").content.decode()


def test_camera_page_shows_urls_and_only_token_creators_get_a_token(sixteen):
    camera = sixteen[0]
    operator = make_user("viewer")
    camera.allowed_users.add(operator)
    page = logged_in(operator).get(f"/cameras/{camera.slug}/").content.decode()
    assert f'src="/cameras/{camera.slug}/stream.mjpg"' in page, "full resolution: no width option"
    assert f'value="http://testserver/cameras/{camera.slug}/stream.mjpg"' in page
    assert f'value="http://testserver/cameras/{camera.slug}/snapshot.jpg"' in page
    assert "Create token" not in page
    response = logged_in(operator).post(f"/cameras/{camera.slug}/token/", {"name": "HA"})
    assert response.status_code == 403 and not StreamToken.objects.exists()

    admin = make_user("boss", is_superuser=True, is_staff=True)
    client = logged_in(admin)
    assert "Create token" in client.get(f"/cameras/{camera.slug}/").content.decode()
    response = client.post(f"/cameras/{camera.slug}/token/", {"name": "Home Assistant"})
    html = response.content.decode()
    token = re.search(r"stream\.mjpg\?token=(nvr_[\w-]+)", html).group(1)
    row = StreamToken.objects.get()
    assert row.key_hash == hash_token(token) and row.camera == camera and row.user == admin  # owned by its maker
    assert row.name == "Home Assistant"
    assert response["Cache-Control"] == "no-store"
    assert token not in client.get(f"/cameras/{camera.slug}/").content.decode(), "shown once"
    anonymous = Client()
    assert anonymous.get(f"/cameras/{camera.slug}/snapshot.jpg?token={token}").status_code == 503, (
        "the token opens this camera (no frame in this test, hence 503 rather than 401)"
    )
    assert anonymous.get(f"/cameras/{sixteen[1].slug}/snapshot.jpg?token={token}").status_code == 404
