"""Every bad camera input gets a clear error on its field; credentials leave the URL."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cameras.forms import CameraForm
from cameras.models import Camera
from tests.factories import make_camera

pytestmark = pytest.mark.django_db


def form_errors(**data) -> dict:
    base = {
        "name": "Cam",
        "slug": "cam",
        "kind": "test_pattern",
        "source": "",
        "max_fps": 15,
        "jpeg_quality": 80,
        "rtsp_transport": "tcp",
        "position": 0,
        "enabled": "on",
    }
    base.update(data)
    form = CameraForm(data=base)
    form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    "kind,source,message",
    [
        ("rtsp", "http://cam.local/stream", "rtsp://"),
        ("rtsp", "ftp://cam.local/x", "rtsp://"),
        ("http_mjpeg", "rtsp://cam.local/stream", "http://"),
        ("rtsp", "", "Enter the camera's URL"),
        ("rtsp", "rtsp:///nohost", "no host"),
        ("rtsp", "rtsp://cam.local:99999/x", "valid URL"),
        ("webcam", "front", "device index"),
        ("webcam", "-1", "device index"),
        ("file", "no/such/video.mp4", "No such file"),
        ("file", "/etc/passwd", "only from the media folder"),
        ("file", "../../etc/passwd", "only from the media folder"),
        ("file", "", "path of a video file"),
        ("test_pattern", "big", "size such as 640x480"),
        ("test_pattern", "99999x10", "size such as 640x480"),
        ("pi", "camera0", "Pi camera number"),
    ],
)
def test_bad_source_is_a_field_error(kind, source, message):
    errors = form_errors(kind=kind, source=source)
    assert "source" in errors, errors
    assert message in " ".join(errors["source"])


@pytest.mark.parametrize(
    "field,value",
    [("max_fps", 0), ("max_fps", 61), ("jpeg_quality", 9), ("jpeg_quality", 96), ("max_width", 8), ("max_fps", "fast")],
)
def test_out_of_range_numbers_are_field_errors(field, value):
    assert field in form_errors(**{field: value})


def test_duplicate_slug_is_a_field_error():
    make_camera("cam")
    assert "slug" in form_errors(slug="cam")


def test_good_sources_are_accepted(tmp_path, settings):
    settings.NVR_MEDIA_DIR = str(tmp_path)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    for kind, source in [
        ("rtsp", "rtsp://10.0.0.5:554/stream1"),
        ("rtsp", "rtsps://cam/x"),
        ("http_mjpeg", "https://cam.local/video.mjpg"),
        ("webcam", "0"),
        ("webcam", "/dev/video2"),
        ("file", str(video)),
        ("pi", ""),
        ("test_pattern", "1280x720"),
        ("test_pattern", ""),
    ]:
        assert form_errors(kind=kind, source=source) == {}, (kind, source)


def test_url_credentials_are_split_into_their_fields():
    camera = make_camera("door", kind="rtsp", source="rtsp://admin:s%40cret@10.0.0.5:554/live")
    camera.refresh_from_db()
    assert camera.source == "rtsp://10.0.0.5:554/live"
    assert (camera.username, camera.password) == ("admin", "s@cret")


def test_save_without_clean_still_splits_credentials():
    camera = Camera.objects.create(name="x", slug="x", kind="http_mjpeg", source="http://u:p@cam/x.mjpg")
    assert camera.source == "http://cam/x.mjpg" and camera.password == "p"


def test_password_is_write_only_in_the_form():
    camera = make_camera("door", kind="rtsp", source="rtsp://cam/live", username="admin", password="MARKER-pw")
    form = CameraForm(instance=camera)
    assert "MARKER-pw" not in str(form)
    # Saving without a password keeps the stored one; clear_password removes it.
    data = {
        **{
            f: getattr(camera, f)
            for f in [
                "name",
                "slug",
                "kind",
                "source",
                "username",
                "max_fps",
                "jpeg_quality",
                "rtsp_transport",
                "position",
            ]
        },
        "enabled": "on",
    }
    form = CameraForm(data={**data, "password": ""}, instance=camera)
    assert form.is_valid(), form.errors
    form.save()
    camera.refresh_from_db()
    assert camera.password == "MARKER-pw"
    form = CameraForm(data={**data, "password": "", "clear_password": "on"}, instance=camera)
    assert form.is_valid()
    form.save()
    camera.refresh_from_db()
    assert camera.password == ""


def test_model_clean_rejects_bad_source_directly():
    with pytest.raises(ValidationError) as info:
        Camera(name="x", slug="x", kind="webcam", source="abc").full_clean()
    assert "source" in info.value.message_dict


def test_a_link_out_of_the_media_folder_is_refused(tmp_path, settings):
    media = tmp_path / "media"
    media.mkdir()
    settings.NVR_MEDIA_DIR = str(media)
    (media / "inside.mp4").write_bytes(b"x")
    (media / "escape.mp4").symlink_to("/etc/hostname")
    assert form_errors(kind="file", source="inside.mp4") == {}
    assert "only from the media folder" in str(form_errors(kind="file", source="escape.mp4"))
