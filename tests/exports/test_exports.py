"""Signed exports, built from real recorded segments and checked as a stranger would check them.

- the ZIP holds a clip per camera, a manifest (cameras, span, SHA-256 of every file, the recorder, who
  and when) and an Ed25519 signature; scripts/verify_export.py (run isolated from nvr) and
  `manage.py verify-export` pass it;
- one changed byte (in a clip, in the manifest, or in the raw ZIP), one removed or one added file fails,
  naming the file; a key other than the recorder's fails;
- the signing key is a 0600 file made once, outside the database;
- a staff user limited to one camera can export only it, sees and downloads only their own exports,
  and every export is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from audit.models import AuditEntry, Kind
from exports import builder
from exports.models import Export
from tests.factories import make_user
from tests.reliability.helpers import wait_until
from tests.support.recorded import SEGMENT_SECONDS, T0, record_camera

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_export.py"


@pytest.fixture
def sites(settings, tmp_path, segment_files):  # type: ignore[no-untyped-def]
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    settings.NVR_EXPORTS_DIR = str(tmp_path / "exports")
    settings.NVR_EXPORT_KEY_FILE = str(tmp_path / "keys" / "signing.key")
    settings.NVR_RECORDER_NAME = "recorder-under-test"
    from exports.signing import _key

    _key.cache_clear()
    yard, _ = record_camera("yard", segment_files, settings.RECORDINGS_DIR)
    gate, _ = record_camera("gate", segment_files, settings.RECORDINGS_DIR)
    return yard, gate


def built(cameras, user) -> Path:  # type: ignore[no-untyped-def]
    export = Export.objects.create(
        user=user, username=user.username, camera_slugs=[c.slug for c in cameras],
        start=T0, end=T0 + dt.timedelta(seconds=4 * SEGMENT_SECONDS),
    )  # fmt: skip
    export.cameras.set(cameras)
    builder.build(export.pk)
    export.refresh_from_db()
    assert export.state == Export.State.DONE, export.error
    return builder.path_of(export)


def standalone(path: Path, *extra: str) -> subprocess.CompletedProcess:
    """The script as a stranger runs it: isolated (-I), from another folder, nothing of nvr importable."""
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path), *extra],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip


def rewritten(source: Path, target: Path, *, change: str = "", drop: str = "", add: str = "") -> Path:
    """A copy of the export with one member's middle byte changed, one member left out, or one added (a valid ZIP)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename == drop:
                continue
            data = old.read(info.filename)
            if info.filename == change:
                data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1 :]
            new.writestr(info, data)
        if add:
            new.writestr(add, b"planted")
    return target


def test_an_export_verifies_and_any_change_fails_naming_the_file(sites, tmp_path):
    yard, gate = sites
    chief = make_user("chief", is_superuser=True, is_staff=True)
    path = built([yard, gate], chief)

    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = archive.namelist()
    clips = [entry["name"] for entry in manifest["files"]]
    assert sorted(names) == sorted([*clips, "manifest.json", "manifest.sig"]) and len(clips) == 2
    assert [c["slug"] for c in manifest["cameras"]] == ["gate", "yard"]
    assert manifest["exported_by"] == "chief" and manifest["recorder"]["name"] == "recorder-under-test"
    assert manifest["span"]["start"] == T0.isoformat()
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    key_file = Path(str(builder.settings.NVR_EXPORT_KEY_FILE))
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and b"PRIVATE KEY" in key_file.read_bytes()

    ok = standalone(path)
    assert ok.returncode == 0 and "VERIFIED" in ok.stdout, ok.stdout + ok.stderr
    out = io.StringIO()
    call_command("verify-export", str(path), stdout=out)
    assert "VERIFIED" in out.getvalue()

    changed = standalone(rewritten(path, tmp_path / "changed.zip", change=clips[1]))
    assert changed.returncode == 1 and f"FAILED  {clips[1]}: changed" in changed.stdout, changed.stdout
    assert f"OK      {clips[0]}" in changed.stdout
    removed = standalone(rewritten(path, tmp_path / "removed.zip", drop=clips[0]))
    assert removed.returncode == 1 and f"FAILED  {clips[0]}: missing" in removed.stdout, removed.stdout
    added = standalone(rewritten(path, tmp_path / "added.zip", add="clips/extra.mp4"))
    assert added.returncode == 1 and "FAILED  clips/extra.mp4: not listed" in added.stdout
    forged = standalone(rewritten(path, tmp_path / "forged.zip", change="manifest.json"))
    assert forged.returncode == 1 and "FAILED  manifest.json" in forged.stdout, forged.stdout
    with pytest.raises(CommandError, match=clips[1]):
        call_command("verify-export", str(tmp_path / "changed.zip"), stdout=io.StringIO())

    # One byte flipped in the raw ZIP, inside a clip's data: the ZIP's own CRC names it.
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(clips[0])
    raw[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # past the local header, into the data
    (tmp_path / "flipped.zip").write_bytes(bytes(raw))
    flipped = standalone(tmp_path / "flipped.zip")
    assert flipped.returncode == 1 and f"FAILED  {clips[0]}: changed" in flipped.stdout, flipped.stdout

    # Pinned to another recorder's key, a genuine export fails.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "other.pem").write_bytes(other)
    pinned = standalone(path, "--key", str(tmp_path / "other.pem"))
    assert pinned.returncode == 1 and "FAILED  manifest.json" in pinned.stdout


def test_the_clips_hold_the_span(sites, tmp_path):
    yard, _ = sites
    path = built([yard], make_user("chief", is_superuser=True))
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".mp4"))
        (tmp_path / "clip.mp4").write_bytes(archive.read(name))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", str(tmp_path / "clip.mp4")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert abs(float(json.loads(probe.stdout)["format"]["duration"]) - 4 * SEGMENT_SECONDS) <= 1.0


def test_a_staff_user_limited_to_one_camera_exports_only_it(sites, settings):
    yard, gate = sites
    staff = make_user("yardkeeper", password="pw-yard-keeper-1", is_staff=True)
    yard.allowed_users.add(staff)
    other = make_user("gatekeeper", password="pw-gate-keeper-1", is_staff=True)
    gate.allowed_users.add(other)
    client, stranger = Client(), Client()
    client.force_login(staff)
    stranger.force_login(other)
    span = {"start": T0.isoformat(), "end": (T0.replace(microsecond=0) + dt.timedelta(seconds=20)).isoformat()}

    page = client.get("/exports/").content.decode()
    assert 'value="yard"' in page and 'value="gate"' not in page
    refused = client.post("/exports/", {"cameras": ["yard", "gate"], **span})
    assert refused.status_code == 403 and not Export.objects.exists()
    assert client.post("/exports/", {"cameras": ["gate"], **span}).status_code == 403

    assert client.post("/exports/", {"cameras": ["yard"], **span}).status_code == 302
    export = Export.objects.get()
    status = wait_until(lambda: (s := client.get(f"/exports/{export.pk}.json").json())["state"] == "done" and s, 60,
                        "the export built in the background")  # fmt: skip
    assert status["progress"] == 1.0
    download = client.get(status["download"])
    assert download.status_code == 200
    body = async_to_sync(_read)(download)
    assert zipfile.ZipFile(io.BytesIO(body)).testzip() is None

    # The other staff user sees neither the export nor its file.
    assert stranger.get(f"/exports/{export.pk}.json").status_code == 404
    assert stranger.get(status["download"]).status_code == 404
    assert "yard" not in stranger.get("/exports/").content.decode().split("export-list")[-1]
    # Taking the camera away takes the download with it.
    yard.allowed_users.remove(staff)
    from streaming.auth import forget_cached_credentials

    forget_cached_credentials()
    assert client.get(status["download"]).status_code == 404

    from audit.writer import get_writer

    assert get_writer().flush(10)
    entry = AuditEntry.objects.get(kind=Kind.EXPORT)
    assert (entry.username, entry.camera, entry.detail["export"]) == ("yardkeeper", "yard", export.pk)

    # Old exports go, with their files (the audit trail keeps that they were made).
    assert builder.expire(now=export.created_at + dt.timedelta(days=6)) == 0
    assert builder.expire(now=export.created_at + dt.timedelta(days=8)) == 1
    assert not builder.path_of(export).exists() and not Export.objects.exists()


async def _read(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join([chunk async for chunk in response.streaming_content])


@pytest.mark.slow
def test_a_download_is_cut_when_its_camera_is_taken_away(sites, settings, tmp_path, redis_url):
    """Through uvicorn: the download is a long response in the viewer lifecycle, its access asked again while it runs."""
    from tests.support.processes import web_server

    yard, _ = sites
    staff = make_user("yardkeeper", password="pw-yard-keeper-1", is_staff=True)
    yard.allowed_users.add(staff)
    export = Export.objects.create(user=staff, username="yardkeeper", camera_slugs=["yard"], start=T0,
                                   end=T0 + dt.timedelta(seconds=10), state=Export.State.DONE, progress=1.0)  # fmt: skip
    export.cameras.set([yard])
    path = builder.path_of(export)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(64 << 20))  # larger than every buffer between the server and a slow reader
    client = Client()
    client.force_login(staff)
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    web = web_server(redis_url, RECORDINGS_DIR=settings.RECORDINGS_DIR, NVR_EXPORTS_DIR=settings.NVR_EXPORTS_DIR,
                     NVR_EXPORT_KEY_FILE=settings.NVR_EXPORT_KEY_FILE).start()  # fmt: skip
    received, began, ended_cleanly = 0, time.monotonic(), False
    try:
        import httpx

        with httpx.stream("GET", f"{web.url}/exports/{export.pk}/download", cookies=cookies, timeout=30) as response:
            assert response.status_code == 200
            chunks = response.iter_raw(65536)
            received += len(next(chunks))
            yard.allowed_users.remove(staff)  # taken away while the download runs
            try:
                for chunk in chunks:
                    received += len(chunk)
                    time.sleep(0.05)  # a slow reader: about 1.3 MB/s
                    if time.monotonic() - began > 30:
                        break
                ended_cleanly = True
            except httpx.HTTPError:
                pass
    finally:
        web.stop()
    took = time.monotonic() - began
    assert not ended_cleanly and received < 64 << 20, (received, took)
    assert took < 15, took  # re-checked every 5 s
