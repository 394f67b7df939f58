"""Footage belongs to a camera, not to a slug (#23, item 3), end to end with a real recording.

- deleting a camera in the admin: the confirmation says how much footage it has, then deletes it
  (rows and files), or keeps it as an archive of no live camera that only superusers see;
- a new camera given a deleted camera's slug never gets the old camera's footage, not even after the
  reconcile at start;
- footage of no camera counts toward the byte budget, is reported (/metrics, nvr_status), and is the
  first to go when the budget is reached.

Each test fails on the code before this change (where footage was filed and found by slug).
"""

from __future__ import annotations

import re
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from cameras.models import Camera
from tests.factories import make_camera, make_user
from tests.reliability.helpers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def footage_files(settings) -> set[str]:  # type: ignore[no-untyped-def]
    root = Path(settings.RECORDINGS_DIR)
    return {p.relative_to(root).as_posix() for p in root.rglob("*.mp4")}


def files_of(settings, camera: Camera) -> set[str]:  # type: ignore[no-untyped-def]
    """The camera's files, by the folder they are filed in (its uid; before #23, its slug)."""
    folders = {camera.slug, str(getattr(camera, "uid", ""))}
    return {name for name in footage_files(settings) if name.split("/")[0] in folders}


def record(supervisor_thread, *cameras: Camera, segments: int = 2) -> None:  # type: ignore[no-untyped-def]
    """Capture the cameras (test patterns) until each has `segments` closed segments, then stop."""
    supervisor = supervisor_thread(keep_recordings=False)
    for camera in cameras:
        wait_until(lambda c=camera: c.segments.count() >= segments, 30, f"{camera.slug}'s segments")
    supervisor.stop()
    # Until every capture thread has ended: the last one closes (and indexes) its open segment.
    wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("capture-")], 15, "capture to stop")


@pytest.fixture
def recording(settings, tmp_path, redis_url):  # type: ignore[no-untyped-def]
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    settings.RECORDINGS_SEGMENT_SECONDS = 1.0
    settings.RECORDINGS_MAX_SIZE = 0

    def make(slug: str) -> Camera:
        return make_camera(slug, source="160x120", max_fps=5, record="continuous")

    return make


def test_deleting_a_camera_says_how_much_then_deletes_its_footage_or_keeps_an_archive(
    recording, supervisor_thread, settings, admin_client
):
    front, back = recording("front"), recording("back")
    record(supervisor_thread, front, back)
    stored = footage_files(settings)
    front_count = front.segments.count()

    page = admin_client.get(f"/admin/cameras/camera/{front.pk}/delete/").content.decode()
    assert f"{front_count} recorded segment" in page, page  # how much, before anything is deleted
    assert re.search(r"\d+(\.\d+)?\s(bytes|KB|MB)", page)
    assert 'value="delete"' in page and 'value="keep"' in page

    response = admin_client.post(f"/admin/cameras/camera/{front.pk}/delete/", {"post": "yes", "footage": "delete"})
    assert response.status_code == 302
    left = footage_files(settings)
    assert len(stored) - len(left) == front_count, (len(stored), len(left), front_count)  # its files are gone

    response = admin_client.post(f"/admin/cameras/camera/{back.pk}/delete/", {"post": "yes", "footage": "keep"})
    assert response.status_code == 302
    assert footage_files(settings) == left  # kept...
    archives = admin_client.get("/admin/recordings/archive/").content.decode()
    assert "Back" in archives  # ... as an archive a superuser sees
    staff = make_user("staffer", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.set(Permission.objects.all())  # every permission, but not a superuser
    other = Client()
    other.force_login(staff)
    assert other.get("/admin/recordings/archive/").status_code == 403
    assert "Back" not in other.get("/admin/recordings/segment/").content.decode()


def test_a_new_camera_with_a_deleted_cameras_slug_never_gets_its_footage(recording, supervisor_thread, settings):
    from recordings.reconcile import reconcile

    old = recording("front")
    record(supervisor_thread, old)
    files = footage_files(settings)
    old.delete()  # outside the admin: nothing asked, nothing lost
    assert footage_files(settings) == files
    new = recording("front")  # a different camera, the same slug
    reconcile()  # what every capture worker runs when it takes the store
    assert new.segments.count() == 0
    admin = make_user("boss", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    spans = client.get("/api/cameras/front/recordings").json()["spans"]
    assert spans == [], spans


def test_footage_of_no_camera_counts_toward_the_budget_is_reported_and_goes_first(
    recording, supervisor_thread, settings, redis_url
):
    from recordings.reconcile import reconcile
    from recordings.retention import enforce

    gone, kept = recording("gone"), recording("kept")
    record(supervisor_thread, gone, kept, segments=3)
    gone_files, kept_files = files_of(settings, gone), files_of(settings, kept)
    assert gone_files and kept_files
    gone.delete()
    reconcile()
    admin = make_user("boss", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    metrics = client.get("/metrics").content.decode()
    counted = re.findall(r"^nvr_recordings_(?:archived|orphaned)_bytes (\S+)$", metrics, re.M)
    assert sum(float(value) for value in counted) > 0, metrics[-2000:]
    out = StringIO()
    call_command("nvr_status", stdout=out)
    assert "deleted cameras" in out.getvalue() or "without a camera" in out.getvalue(), out.getvalue()

    # A budget the live camera's footage alone fits in: what no camera owns goes first, all of it.
    root = Path(settings.RECORDINGS_DIR)
    settings.RECORDINGS_MAX_SIZE = sum((root / name).stat().st_size for name in kept_files) + 1
    result = enforce()
    assert result.over_budget == len(gone_files), (result.over_budget, len(gone_files))
    assert footage_files(settings) == kept_files
    assert kept.segments.count() == len(kept_files)
