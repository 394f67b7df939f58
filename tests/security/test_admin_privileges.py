"""Least privilege in the admin, as a view-only staff user and as a staff user who may only add tokens.

Each of these failed on the code before: a view-only staff user could switch every camera off and
grab a frame of a camera they may not watch; a token-only staff user could issue a token for the
superuser or for any camera, and change a token's owner afterwards; tokens made on the camera page
had no owner and outlived their maker; a new token travelled in the readable messages cookie.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import Client

from cameras.models import Camera
from streaming.auth import request_access
from streaming.models import StreamToken
from tests.factories import make_camera, make_token, make_user

pytestmark = pytest.mark.django_db


def staff(username: str, *codenames: str):  # type: ignore[no-untyped-def]
    user = make_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_view_only_staff_can_neither_disable_cameras_nor_grab_frames(redis_url):
    watched = make_camera("watched", enabled=True)
    hidden = make_camera("hidden", enabled=True)
    viewer = staff("viewer", "view_camera")
    watched.allowed_users.add(viewer)
    client = client_for(viewer)
    changelist = client.get("/admin/cameras/camera/")
    assert changelist.status_code == 200
    body = changelist.content.decode()
    assert "Disable selected cameras" not in body and "Enable selected cameras" not in body
    assert str(hidden.pk) not in re.findall(r'name="_selected_action" value="(\d+)"', body)
    for action in ("disable_cameras", "enable_cameras"):
        client.post(
            "/admin/cameras/camera/",
            {"action": action, "_selected_action": [watched.pk, hidden.pk], "index": 0},
        )
    assert Camera.objects.filter(enabled=True).count() == 2  # nothing was switched off
    # The connection test is for who may change cameras (issue #23): view-only staff cannot run it at all.
    assert "Test connection" not in body
    for camera in (watched, hidden):
        grab = client.post("/admin/cameras/camera/", {"action": "test_connection", "_selected_action": [camera.pk]})
        assert b"Reachable" not in grab.content and b"Not reachable" not in grab.content
    assert b"Hidden" not in grab.content  # no frame of it was grabbed, nor its name shown
    assert client.get(f"/admin/cameras/camera/{hidden.pk}/change/").status_code in (302, 404)


def test_token_only_staff_issue_tokens_for_themselves_and_their_cameras_only():
    boss = make_user("boss", is_superuser=True, is_staff=True)
    mine = make_camera("mine")
    theirs = make_camera("theirs")
    issuer = staff("issuer", "add_streamtoken", "view_streamtoken", "change_streamtoken")
    mine.allowed_users.add(issuer)
    client = client_for(issuer)
    form = client.get("/admin/streaming/streamtoken/add/").content.decode()
    assert ">boss<" not in form and ">Theirs<" not in form and ">Mine<" in form
    for data in (
        {"name": "for the boss", "user": boss.pk, "camera": mine.pk},
        {"name": "for their camera", "user": issuer.pk, "camera": theirs.pk},
        {"name": "no owner", "camera": mine.pk},
    ):
        response = client.post("/admin/streaming/streamtoken/add/", data)
        assert response.status_code == 200, data  # the form is shown again with an error
    assert not StreamToken.objects.exists()
    done = client.post("/admin/streaming/streamtoken/add/", {"name": "mine", "user": issuer.pk, "camera": mine.pk})
    assert done.status_code == 302
    token = StreamToken.objects.get()
    assert (token.user, token.camera) == (issuer, mine)
    # Owner and camera cannot be changed afterwards.
    client.post(f"/admin/streaming/streamtoken/{token.pk}/change/", {"name": "x", "user": boss.pk, "camera": theirs.pk})
    token.refresh_from_db()
    assert (token.user, token.camera) == (issuer, mine)
    # The new token never travelled in a cookie (messages are stored in the session).
    assert "nvr_" not in str(done.cookies)
    assert not any("messages" in name for name in done.cookies)


def test_a_token_without_an_owner_is_impossible():
    camera = make_camera("cam")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_token(camera=camera)


@pytest.mark.django_db(transaction=True)
def test_a_token_covers_what_its_owner_may_see_and_dies_with_the_owner(rf):
    import asyncio

    camera = make_camera("cam")
    owner = make_user("owner")
    camera.allowed_users.add(owner)
    _, token = make_token(user=owner, camera=camera)

    def allowed() -> bool:
        from streaming.auth import forget_cached_credentials

        forget_cached_credentials()
        request = rf.get("/cameras/cam/snapshot.jpg", {"token": token})

        async def check() -> bool:
            access = await request_access(request)
            return access is not None and await access.camera("cam") is not None

        return asyncio.run(check())

    assert allowed()
    camera.allowed_users.remove(owner)  # the owner loses the camera: so does the token
    assert not allowed()
    camera.allowed_users.add(owner)
    assert allowed()
    owner.is_active = False  # the owner is deactivated: the token dies
    owner.save()
    assert not allowed()


def test_tokens_made_on_the_camera_page_belong_to_their_maker(redis_url):
    camera = make_camera("cam")
    maker = staff("maker", "add_streamtoken")
    camera.allowed_users.add(maker)
    client = client_for(maker)
    response = client.post("/cameras/cam/token/", {"name": "Home Assistant"})
    assert response.status_code == 200
    assert StreamToken.objects.get().user == maker
