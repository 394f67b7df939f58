"""A camera's stored password never follows it to a server of someone else's choosing.

Before, whoever could edit a camera could point its source at their own host and receive the
password from the capture worker's next connection.
"""

from __future__ import annotations

import importlib
import io
import tempfile
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from cameras.config import CameraConfig
from cameras.models import Camera
from cameras.services import import_cameras
from encryption.fields import PasswordKeyError
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


def stored_password(camera: Camera) -> str:
    """The password column as the database holds it (what a dump or a stolen disk shows)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM cameras_camera WHERE id = %s", [camera.pk])
        return cursor.fetchone()[0]


def test_passwords_are_encrypted_at_rest_and_a_dump_does_not_reveal_them(settings):
    settings.FIELD_ENCRYPTION_KEY = ["key-one-" + "x" * 40]
    camera = make_camera("gate", kind="rtsp", source="rtsp://10.0.0.5/live", username="u", password="MARKER-pw")
    raw = stored_password(camera)
    assert "MARKER" not in raw and raw.startswith("enc1:")
    assert Camera.objects.get(pk=camera.pk).password == "MARKER-pw"  # the code sees it
    assert CameraConfig.from_camera(Camera.objects.get(pk=camera.pk)).password == "MARKER-pw"  # capture too
    dump = io.StringIO()
    call_command("dumpdata", "cameras", stdout=dump)
    assert "MARKER" not in dump.getvalue()
    # The dump loads back to the same password (not encrypted twice).
    Camera.objects.all().delete()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        file.write(dump.getvalue())
        file.flush()
        call_command("loaddata", file.name, verbosity=0)
    assert Camera.objects.get(slug="gate").password == "MARKER-pw"


def test_keys_rotate_and_a_missing_key_is_a_clear_error_that_changes_nothing(settings):
    settings.FIELD_ENCRYPTION_KEY = ["old-key-" + "x" * 40]
    camera = make_camera("gate", kind="rtsp", source="rtsp://10.0.0.5/live", username="u", password="MARKER-pw")
    settings.FIELD_ENCRYPTION_KEY = ["new-key-" + "y" * 40, "old-key-" + "x" * 40]
    before = stored_password(camera)
    assert Camera.objects.get(pk=camera.pk).password == "MARKER-pw"  # the old key still decrypts
    out = io.StringIO()
    call_command("cameras", "rekey", stdout=out)
    assert "1 passwords" in out.getvalue() and stored_password(camera) != before
    settings.FIELD_ENCRYPTION_KEY = ["new-key-" + "y" * 40]  # the old key retired
    assert Camera.objects.get(pk=camera.pk).password == "MARKER-pw"

    settings.FIELD_ENCRYPTION_KEY = ["some-other-key-" + "z" * 40]
    kept = stored_password(camera)
    with pytest.raises(PasswordKeyError, match="FIELD_ENCRYPTION_KEY=new,old"):
        Camera.objects.get(pk=camera.pk)
    with pytest.raises(CommandError, match="not in FIELD_ENCRYPTION_KEY"):
        call_command("cameras", "rekey")
    assert stored_password(camera) == kept  # nothing lost


def test_the_migration_encrypts_passwords_stored_before_it_and_back(settings):
    camera = make_camera("gate", kind="rtsp", source="rtsp://10.0.0.5/live", username="u", password="x")
    with connection.cursor() as cursor:  # as a row written before encryption looks
        cursor.execute("UPDATE cameras_camera SET password = 'MARKER-pw' WHERE id = %s", [camera.pk])
    assert Camera.objects.get(pk=camera.pk).password == "MARKER-pw"  # readable before the migration runs
    migration = importlib.import_module("cameras.migrations.0003_encrypted_passwords")
    editor = SimpleNamespace(connection=connection)
    migration.encrypt_passwords(None, editor)
    assert stored_password(camera).startswith("enc1:") and "MARKER" not in stored_password(camera)
    assert Camera.objects.get(pk=camera.pk).password == "MARKER-pw"
    migration.decrypt_passwords(None, editor)
    assert stored_password(camera) == "MARKER-pw"
