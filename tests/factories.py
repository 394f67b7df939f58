"""Model factories in one place: cameras, users, tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from cameras.models import Camera
from streaming.models import StreamToken, new_token


def make_camera(slug: str = "cam", **fields) -> Camera:
    # Recording and motion detection are off unless a test asks for them: they would only cost CPU.
    defaults = {
        "name": slug.replace("-", " ").title(),
        "kind": "test_pattern",
        "source": "320x240",
        "max_fps": 10,
        "record": "off",
        "motion": False,
    }
    defaults.update(fields)
    camera = Camera(slug=slug, **defaults)
    camera.full_clean()
    camera.save()
    return camera


def make_user(username: str = "operator", password: str = "pw-operator-1", **fields):
    return get_user_model().objects.create_user(username=username, password=password, **fields)


def make_token(*, user=None, camera=None, name: str = "test") -> tuple[StreamToken, str]:
    token = new_token()
    row = StreamToken(name=name, user=user, camera=camera)
    row.set_token(token)
    row.save()
    return row, token
