"""Writes to the camera registry: bulk import/export and the first-run setup."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Field

from cameras.forms import CAMERA_FIELDS, CameraForm
from cameras.models import Camera

EXPORT_FIELDS = [f for f in CAMERA_FIELDS if f != "password"]
DEMO_CAMERAS = [
    {"name": "Demo front door", "slug": "demo-front-door", "source": "640x480", "position": 1},
    {"name": "Demo yard", "slug": "demo-yard", "source": "640x480", "position": 2},
    {"name": "Demo workshop", "slug": "demo-workshop", "source": "1280x720", "position": 3, "max_fps": 10},
    {"name": "Demo lab", "slug": "demo-lab", "source": "320x240", "position": 4, "max_fps": 5},
]


class CameraFileError(Exception):
    """An import was refused; the message names the entry and field. Nothing was imported."""


def parse_camera_file(text: str) -> list[dict]:
    """A YAML or JSON list of cameras (a `cameras:` key around the list is accepted too)."""
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as error:
        raise CameraFileError(f"not valid YAML or JSON: {error}") from None
    if isinstance(data, dict) and "cameras" in data:
        data = data["cameras"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise CameraFileError("expected a list of cameras, each a mapping of field names to values")
    return data


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0


def import_cameras(entries: list[dict]) -> ImportResult:
    """Create or update cameras by slug, validated like the admin form; all or nothing."""
    result = ImportResult()
    seen: set[str] = set()
    forms = []
    for position, entry in enumerate(entries, start=1):
        unknown = sorted(set(entry) - set(CAMERA_FIELDS))
        label = f"entry {position}" + (f" ({entry.get('slug')})" if entry.get("slug") else "")
        if unknown:
            raise CameraFileError(f"{label}: unknown field(s) {', '.join(unknown)}")
        slug = entry.get("slug")
        if slug in seen:
            raise CameraFileError(f"{label}: slug: the slug appears twice in the file")
        seen.add(str(slug))
        instance = Camera.objects.filter(slug=slug).first() if slug else None
        data = _form_data(entry, instance)
        form = CameraForm(data=data, instance=instance)
        if not form.is_valid():
            field, messages = next(iter(form.errors.items()))
            where = "" if field == "__all__" else f"{field}: "
            raise CameraFileError(f"{label}: {where}{' '.join(str(m) for m in messages)}")
        forms.append((form, instance is None))
    with transaction.atomic():
        for form, is_new in forms:
            form.save()
            if is_new:
                result.created += 1
            else:
                result.updated += 1
    return result


def _default(name: str) -> Any:
    field = Camera._meta.get_field(name)
    return field.get_default() if isinstance(field, Field) else None


def _form_data(entry: dict, instance: Camera | None) -> dict:
    """Form data: the file's values over the existing camera's (a missing field keeps its value)."""
    if instance is not None:
        data = {f: getattr(instance, f) for f in EXPORT_FIELDS}
    else:
        data = {f: _default(f) for f in EXPORT_FIELDS}
    data.update(entry)
    for key, value in list(data.items()):
        if value is None:
            data[key] = ""
        elif isinstance(value, bool):
            data[key] = "on" if value else ""
        elif isinstance(value, (dict, list)):  # zones and masks: as the admin's form sends them
            data[key] = json.dumps(value)
    return data


def export_cameras(fmt: str = "yaml") -> str:
    """Every camera in the import format, passwords left out."""
    rows = [{f: getattr(c, f) for f in EXPORT_FIELDS} for c in Camera.objects.order_by("position", "slug")]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    return yaml.safe_dump(rows, sort_keys=False, allow_unicode=True)


def reencrypt_passwords() -> int:
    """Encrypt every stored camera password again with the first key (all or nothing); how many."""
    with transaction.atomic():
        cameras = list(Camera.objects.select_for_update().exclude(password=""))
        for camera in cameras:  # reading decrypts with any key, saving encrypts with the first
            Camera.objects.filter(pk=camera.pk).update(password=camera.password)
    return len(cameras)


def ensure_first_admin(username: str, password: str) -> str | None:
    """Create a superuser when there is no user at all; return the generated password, if any."""
    User = get_user_model()
    if User.objects.exists():
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username or "admin", email="", password=password)
    return generated


def ensure_demo_cameras() -> int:
    """Test-pattern cameras when the registry is empty, so something moves without hardware."""
    if Camera.objects.exists():
        return 0
    for fields in DEMO_CAMERAS:
        Camera.objects.create(kind=Camera.Kind.TEST_PATTERN, **fields)
    return len(DEMO_CAMERAS)
