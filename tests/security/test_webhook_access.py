"""Webhooks and admin lists under camera access, as staff who may see one camera of two (issue #23, findings 1 and 6).

Each of these failed on the code before: such staff saw every webhook and its address (often holding a
receiver's API key), could add a webhook with no cameras and so receive every camera's events, turned a
webhook into an all-cameras one by editing it, kept the old secret when they pointed it at a new receiver,
and the segment and event lists offered a filter naming every camera.
"""

from __future__ import annotations

import re

import pytest

from events.models import Webhook
from tests.factories import make_camera, make_user
from tests.security.test_admin_privileges import client_for, staff

pytestmark = pytest.mark.django_db

HOOKS = "/admin/events/webhook/"


@pytest.fixture
def site():  # type: ignore[no-untyped-def]
    """Cameras front (seen by the scoped staff) and back (not), and a webhook of each kind."""
    front, back = make_camera("front", name="Front"), make_camera("back", name="Back")
    scoped = staff("scoped", "add_webhook", "change_webhook", "view_webhook", "delete_webhook")
    front.allowed_users.add(scoped)
    hooks = {
        "front": Webhook.objects.create(name="front-hook", url="http://127.0.0.1:9/front?key=FRONTKEY"),
        "back": Webhook.objects.create(name="back-hook", url="http://127.0.0.1:9/back?key=BACKKEY"),
        "both": Webhook.objects.create(name="both-hook", url="http://127.0.0.1:9/both?key=BOTHKEY"),
        "every": Webhook.objects.create(name="every-hook", url="http://127.0.0.1:9/every?key=EVERYKEY"),
    }
    hooks["front"].cameras.set([front])
    hooks["back"].cameras.set([back])
    hooks["both"].cameras.set([front, back])
    return {"front": front, "back": back, "scoped": scoped, "hooks": hooks}


def test_staff_see_and_open_only_webhooks_of_their_cameras(site):
    client = client_for(site["scoped"])
    page = client.get(HOOKS).content.decode()
    assert "front-hook" in page
    for hidden in ("back-hook", "both-hook", "every-hook", "BACKKEY", "BOTHKEY", "EVERYKEY"):
        assert hidden not in page, hidden
    assert "FRONTKEY" not in page  # the list shows where a hook posts, never its query
    for name in ("back", "both", "every"):
        response = client.get(f"{HOOKS}{site['hooks'][name].pk}/change/")
        assert response.status_code in (302, 404), name
        assert b"KEY" not in response.content


def test_staff_cannot_make_a_webhook_for_every_camera_or_for_cameras_they_cannot_see(site):
    client = client_for(site["scoped"])
    form = client.get(f"{HOOKS}add/").content.decode()
    assert ">Front<" in form and ">Back<" not in form
    for cameras in ([], [site["back"].pk], [site["front"].pk, site["back"].pk]):
        response = client.post(f"{HOOKS}add/", {"name": "mine", "url": "http://127.0.0.1:9/mine", "cameras": cameras,
                                                "enabled": "on"})  # fmt: skip
        assert response.status_code == 200, cameras  # the form again, with the error
    assert not Webhook.objects.filter(name="mine").exists()


def test_a_new_webhook_gets_a_secret_shown_once_and_its_maker_as_owner(site):
    client = client_for(site["scoped"])
    response = client.post(f"{HOOKS}add/", {"name": "mine", "url": "http://127.0.0.1:9/mine",
                                            "cameras": [site["front"].pk], "enabled": "on"}, follow=True)  # fmt: skip
    hook = Webhook.objects.get(name="mine")
    assert hook.owner == site["scoped"] and hook.secret.startswith("whsec_")
    assert hook.secret in response.content.decode()  # shown once, in the message
    again = client.get(f"{HOOKS}{hook.pk}/change/").content.decode()
    assert hook.secret not in again  # and never again


def test_an_edit_never_widens_a_webhook_and_a_new_address_gets_a_new_secret(site):
    hook = site["hooks"]["front"]
    hook.secret = "whsec_old-secret"
    hook.save()
    client = client_for(site["scoped"])
    change = f"{HOOKS}{hook.pk}/change/"
    widened = client.post(change, {"name": "front-hook", "url": hook.url, "cameras": [], "enabled": "on"})
    assert widened.status_code == 200  # refused: "every camera" is not theirs to give
    hook.refresh_from_db()
    assert list(hook.cameras.all()) == [site["front"]]
    moved = client.post(change, {"name": "front-hook", "url": "http://127.0.0.1:9/elsewhere",
                                 "cameras": [site["front"].pk], "enabled": "on"}, follow=True)  # fmt: skip
    hook.refresh_from_db()
    assert hook.url == "http://127.0.0.1:9/elsewhere"
    assert hook.secret != "whsec_old-secret" and hook.secret.startswith("whsec_")  # the old one never goes there
    assert hook.owner == site["scoped"]  # who chose the new receiver
    assert hook.secret in moved.content.decode()
    assert list(hook.cameras.all()) == [site["front"]]


def test_a_superuser_may_make_a_webhook_for_every_camera(site):
    boss = make_user("boss", is_superuser=True, is_staff=True)
    client = client_for(boss)
    response = client.post(f"{HOOKS}add/", {"name": "all", "url": "https://127.0.0.1:9/all", "enabled": "on"})
    assert response.status_code == 302
    hook = Webhook.objects.get(name="all")
    assert hook.owner == boss and not hook.cameras.exists()
    page = client.get(HOOKS).content.decode()
    assert all(f"{name}-hook" in page for name in ("front", "back", "both", "every"))


def test_view_only_staff_see_where_a_webhook_posts_but_not_its_address(site):
    viewer = staff("viewer", "view_webhook")
    site["front"].allowed_users.add(viewer)
    client = client_for(viewer)
    hook = site["hooks"]["front"]
    page = client.get(f"{HOOKS}{hook.pk}/change/").content.decode()
    assert "http://127.0.0.1:9/…" in page
    assert "FRONTKEY" not in page and "/front" not in page


def test_segment_and_event_filters_name_only_the_users_cameras(site):
    viewer = staff("filters", "view_segment", "view_event")
    site["front"].allowed_users.add(viewer)
    make_camera("side", name="Side").allowed_users.add(viewer)  # two cameras: a filter worth showing
    client = client_for(viewer)
    for path in ("/admin/recordings/segment/", "/admin/review/event/", "/admin/events/event/"):
        response = client.get(path)
        if response.status_code == 404:
            continue  # the event admin lives under one of the two apps
        assert response.status_code == 200, path
        options = re.findall(r"camera__id__exact=\d+\">([^<]+)<", response.content.decode())
        assert options == ["Front", "Side"], (path, options)


def test_camera_groups_count_and_show_only_the_users_cameras_and_keep_the_others(site):
    from cameras.models import CameraGroup, GroupMember

    editor = staff("grouper", "view_cameragroup", "change_cameragroup")
    site["front"].allowed_users.add(editor)
    group = CameraGroup.objects.create(name="Gates", slug="gates")
    GroupMember.objects.create(group=group, camera=site["front"], position=1)
    GroupMember.objects.create(group=group, camera=site["back"], position=2)
    client = client_for(editor)
    listing = client.get("/admin/cameras/cameragroup/").content.decode()
    assert re.search(r'<td class="field-size">1</td>', listing), listing  # not 2: the back camera is not theirs
    change = client.get(f"/admin/cameras/cameragroup/{group.pk}/change/").content.decode()
    assert "Back" not in change
    form = {"name": "Gates", "slug": "gates", "members-TOTAL_FORMS": "1", "members-INITIAL_FORMS": "1",
            "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000", "members-0-id": str(group.members.get(
                camera=site["front"]).pk), "members-0-group": str(group.pk), "members-0-camera": str(site["front"].pk),
            "members-0-position": "1"}  # fmt: skip
    saved = client.post(f"/admin/cameras/cameragroup/{group.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert set(group.members.values_list("camera__slug", flat=True)) == {"front", "back"}  # untouched
