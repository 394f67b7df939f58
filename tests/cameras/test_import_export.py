"""`manage.py cameras import|export`: all or nothing, validated like the admin, passwords never exported."""

from __future__ import annotations

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
