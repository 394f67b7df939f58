"""A camera's stored password never follows it to a server of someone else's choosing.

Before, whoever could edit a camera could point its source at their own host and receive the
password from the capture worker's next connection.
"""

from __future__ import annotations

import pytest
from django.test import Client

from cameras.models import Camera
from cameras.services import import_cameras
from tests.factories import make_camera, make_user

pytestmark = pytest.mark.django_db


def edit(client: Client, camera: Camera, **changes: str) -> None:
    data = {
        "name": camera.name, "slug": camera.slug, "kind": camera.kind, "source": camera.source,
        "username": camera.username, "password": "", "max_fps": camera.max_fps, "jpeg_quality": camera.jpeg_quality,
        "rtsp_transport": camera.rtsp_transport, "position": camera.position, "enabled": "on",
        "record": camera.record, "retention_days": camera.retention_days, **changes,
    }  # fmt: skip
    response = client.post(f"/admin/cameras/camera/{camera.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]


def test_a_new_host_in_the_admin_clears_the_password_unless_one_is_given():
    admin = make_user("boss", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    camera = make_camera("gate", kind="rtsp", source="rtsp://10.0.0.5:554/live", username="u", password="MARKER-pw")
    edit(client, camera, source="rtsp://10.0.0.5:554/other")  # same server, other path: kept
    camera.refresh_from_db()
    assert camera.password == "MARKER-pw"
    edit(client, camera, source="rtsp://attacker.example:554/live")  # another host: forgotten
    camera.refresh_from_db()
    assert camera.password == ""
    edit(client, camera, source="rtsp://10.0.0.9:8554/live", password="new-pw")  # given with the change: kept
    camera.refresh_from_db()
    assert camera.password == "new-pw"
    edit(client, camera, source="rtsps://10.0.0.9:8554/live")  # another scheme: forgotten
    camera.refresh_from_db()
    assert camera.password == ""


def test_a_new_port_by_import_clears_the_password():
    make_camera("gate", kind="rtsp", source="rtsp://10.0.0.5:554/live", username="u", password="MARKER-pw")
    import_cameras([{"slug": "gate", "name": "Gate", "kind": "rtsp", "source": "rtsp://10.0.0.5:8554/live"}])
    assert Camera.objects.get(slug="gate").password == ""
