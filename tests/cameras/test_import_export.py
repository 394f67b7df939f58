"""`manage.py cameras import|export`: all or nothing, validated like the admin, passwords never exported."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from django.core.management import CommandError, call_command

from cameras.models import Camera
from tests.factories import make_camera

pytestmark = pytest.mark.django_db


def run_import(tmp_path, content: str) -> str:
    path = tmp_path / "cameras.yaml"
    path.write_text(content)
    from io import StringIO

    out = StringIO()
    call_command("cameras", "import", str(path), stdout=out)
    return out.getvalue()


def test_import_creates_and_updates_by_slug(tmp_path):
    make_camera("gate", name="Old name", max_fps=5)
    out = run_import(
        tmp_path,
        """
- {name: Gate, slug: gate, kind: rtsp, source: "rtsp://u:pw@10.0.0.9/live", max_fps: 12}
- {name: Lab, slug: lab, kind: test_pattern, source: 640x480}
""",
    )
    assert "1 created, 1 updated" in out
    gate = Camera.objects.get(slug="gate")
    assert (gate.name, gate.kind, gate.max_fps, gate.password) == ("Gate", "rtsp", 12, "pw")
    assert gate.source == "rtsp://10.0.0.9/live"
    assert Camera.objects.get(slug="lab").enabled is True


def test_json_import(tmp_path):
    run_import(tmp_path, json.dumps([{"name": "A", "slug": "a", "kind": "test_pattern"}]))
    assert Camera.objects.filter(slug="a").exists()


def test_one_bad_entry_imports_nothing_and_names_position_and_field(tmp_path):
    with pytest.raises(CommandError) as info:
        run_import(
            tmp_path,
            """
- {name: Good, slug: good, kind: test_pattern}
- {name: Bad, slug: bad, kind: rtsp, source: "http://wrong/scheme"}
""",
        )
    assert "entry 2 (bad)" in str(info.value) and "source" in str(info.value)
    assert not Camera.objects.exists()


@pytest.mark.parametrize(
    "content,expected",
    [
        ("- {name: X, slug: x, kind: test_pattern, max_fps: 100}", "max_fps"),
        ("- {name: X, slug: x, colour: red}", "unknown field(s) colour"),
        ("- {name: X, slug: x}\n- {name: Y, slug: x}", "appears twice"),
        ("just text", "expected a list"),
        ("- [unclosed", "not valid YAML"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, content, expected):
    with pytest.raises(CommandError) as info:
        run_import(tmp_path, content)
    assert expected in str(info.value)
    assert not Camera.objects.exists()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("cameras", "import", str(tmp_path / "nope.yaml"))


def test_export_leaves_passwords_out_and_round_trips(tmp_path):
    make_camera("door", kind="rtsp", source="rtsp://cam/live", username="admin", password="MARKER-secret")
    from io import StringIO

    out = StringIO()
    call_command("cameras", "export", stdout=out)
    text = out.getvalue()
    assert "MARKER-secret" not in text and "password" not in text
    rows = yaml.safe_load(text)
    assert rows[0]["slug"] == "door" and rows[0]["username"] == "admin"
    # Re-importing the export changes nothing and keeps the stored password.
    run_import(tmp_path, text)
    assert Camera.objects.get(slug="door").password == "MARKER-secret"


def test_motion_settings_zones_and_masks_import_export_and_refuse_bad_polygons(tmp_path):
    run_import(
        tmp_path,
        """
- name: Yard
  slug: yard
  source: 640x480
  record: motion
  motion_sensitivity: 70
  motion_min_size: 1.5
  event_gap_seconds: 3
  event_retention_days: 60
  motion_zones: {door: [[0.1, 0.2], [0.4, 0.2], [0.4, 0.9]]}
  motion_masks: [[[0.7, 0.0], [1.0, 0.0], [1.0, 0.3]]]
""",
    )
    yard = Camera.objects.get(slug="yard")
    assert (yard.record, yard.motion, yard.motion_sensitivity, yard.motion_min_size) == ("motion", True, 70, 1.5)
    assert yard.motion_zones == {"door": [[0.1, 0.2], [0.4, 0.2], [0.4, 0.9]]} and len(yard.motion_masks) == 1
    assert (yard.event_gap_seconds, yard.event_retention_days) == (3.0, 60)
    out = io.StringIO()
    call_command("cameras", "export", "--format", "json", stdout=out)
    exported = next(c for c in json.loads(out.getvalue()) if c["slug"] == "yard")
    assert exported["motion_zones"] == yard.motion_zones and exported["motion_masks"] == yard.motion_masks
    # An import that leaves the motion fields out keeps them; clearing the zones is explicit.
    run_import(tmp_path, "- {slug: yard, name: Yard, source: 640x480}\n")
    assert Camera.objects.get(slug="yard").motion_zones == yard.motion_zones
    run_import(tmp_path, "- {slug: yard, name: Yard, source: 640x480, motion_zones: {}}\n")
    assert Camera.objects.get(slug="yard").motion_zones == {}
    for bad, said in [
        ("motion_zones: {door: [[0.1, 0.2], [0.4, 0.2]]}", "3 to 64 corners"),
        ("motion_zones: {door: [[0.1, 0.2], [1.4, 0.2], [0.4, 0.9]]}", "between 0 and 1"),
        ("motion_zones: {'<script>': [[0, 0], [1, 0], [1, 1]]}", "letters, digits"),
        ("motion_masks: {a: 1}", "list of at most 32 polygons"),
        ("motion_sensitivity: 0", "greater than or equal to 1"),
    ]:
        with pytest.raises(CommandError, match=said):
            run_import(tmp_path, f"- {{slug: yard, name: Yard, source: 640x480, {bad}}}\n")
    assert Camera.objects.get(slug="yard").motion_sensitivity == 70  # nothing imported
