"""The audit trail: a hash chain that `manage.py audit verify` checks, one row per live view (never per
frame) from the real server, and what an auditor reads (page, filters, CSV) under camera access."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from audit import services
from audit.log import Actor, Kind, record
from audit.models import AuditEntry, ChainHead
from audit.writer import get_writer
from framebus import Frame
from tests.factories import make_camera, make_token, make_user
from tests.support.frames import sync_bus
from tests.support.processes import web_server
from tests.support.recorded import recordings, segment_files  # noqa: F401 - fixtures
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_edited_or_removed_entry_breaks_the_chain_and_verify_says_where():
    for i in range(20):
        record(
            Kind.SIGN_IN, actor=Actor(user_id=i, username=f"user{i}", address="10.0.0.1"), detail={"method": "password"}
        )
    assert get_writer().flush()
    call_command("audit", "verify")  # intact
    assert services.verify() == (20, None)

    # Someone edits what an entry says (who signed in): its hash no longer matches.
    AuditEntry.objects.filter(seq=7).update(username="someone-else")
    checked, broken = services.verify()
    assert broken is not None and broken.seq == 7 and "changed" in broken.reason and checked == 6
    with pytest.raises(CommandError, match="entry #7"):
        call_command("audit", "verify")
    AuditEntry.objects.filter(seq=7).update(username="user6")
    assert services.verify() == (20, None)

    # Someone removes an entry, then the newest two.
    AuditEntry.objects.filter(seq=12).delete()
    assert services.verify()[1].seq == 13
    AuditEntry.objects.filter(seq__gte=12).delete()
    _, broken = services.verify()
    assert broken is not None and "#12-#20 were removed" in broken.reason

    # Someone rewrites a row and its hash to fit: the next row's link gives it away.
    intact = AuditEntry.objects.get(seq=5)
    from audit import chain

    forged = {name: getattr(intact, name) for name in chain.FIELDS}
    forged["username"] = "forged"
    AuditEntry.objects.filter(seq=5).update(username="forged", hash=chain.entry_hash(intact.previous_hash, forged))
    assert services.verify()[1].seq == 6


def test_retention_removes_the_oldest_entries_and_the_chain_still_verifies(settings):
    import datetime as dt

    from django.utils import timezone

    old = timezone.now() - dt.timedelta(days=400)
    for i in range(5):
        record(Kind.SIGN_IN, actor=Actor(username=f"old{i}"), at=old)
    for i in range(3):
        record(Kind.SIGN_IN, actor=Actor(username=f"new{i}"))
    assert get_writer().flush()
    assert services.prune() == 5  # AUDIT_RETENTION_DAYS: 365
    assert get_writer().flush()
    head = ChainHead.objects.get(pk=1)
    assert head.pruned_seq == 5
    assert services.verify() == (4, None)  # the three new ones and the retention entry itself
    assert AuditEntry.objects.get(kind=Kind.RETENTION).detail["removed"] == 5


def _publish(redis_url: str, slug: str, stop: threading.Event) -> None:
    bus = sync_bus(redis_url)
    jpeg = b"\xff\xd8" + b"x" * 2000 + b"\xff\xd9"
    seq = 0
    while not stop.is_set():
        seq += 1
        bus.publish_frame(slug, Frame(seq, time.time(), 64, 48, jpeg))
        stop.wait(0.05)  # 20 fps
    bus.close()


async def _watch(port: int, path: str, parts: int, local: str = "127.0.0.1") -> int:
    """One viewer: open the stream, read `parts` frames' worth of boundaries, leave."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    seen = 0
    data = b""
    try:
        async with asyncio.timeout(30):
            while seen < parts:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data = data[-16:] + chunk
                seen += chunk.count(b"--frame")
    finally:
        writer.close()
    return seen


@pytest.mark.slow
def test_a_thousand_live_views_make_a_thousand_rows_not_one_per_frame(redis_url):
    camera = make_camera("front")
    owner = make_user("wall", password="wall-pass-1")
    camera.allowed_users.add(owner)
    row, token = make_token(user=owner, camera=camera, name="wall")
    stop = threading.Event()
    threading.Thread(target=_publish, args=(redis_url, "front", stop), daemon=True).start()
    server = web_server(redis_url).start()
    try:

        async def crowd() -> list[int]:
            results: list[int] = []
            for _ in range(10):  # 10 waves of 100 viewers at once, each reading 5 frames
                wave = [_watch(server.port, f"/cameras/front/stream.mjpg?token={token}", 6) for _ in range(100)]
                results += await asyncio.gather(*wave)
            results.append(await _watch(server.port, f"/cameras/front/stream.mjpg?token={token}", 2, "127.0.0.2"))
            return results

        started = time.monotonic()
        seen = asyncio.run(crowd())
        took = time.monotonic() - started
        assert min(seen) >= 2, "every viewer got a frame"
        views = AuditEntry.objects.filter(kind=Kind.LIVE_VIEW, camera="front")
        wait_until(lambda: views.count() >= 1001, 30, "1,001 live-view rows")
        time.sleep(1.0)  # nothing more comes: one row per view
    finally:
        stop.set()
        server.stop()
    assert views.count() == 1001
    frames = sum(entry.detail["frames"] for entry in views)
    assert frames >= 5000, frames  # each row counts its view's frames (the first boundary opens the stream)
    entry = views.first()
    assert entry.username == "wall" and entry.token_id == row.pk and entry.address in ("127.0.0.1", "127.0.0.2")
    assert entry.until is not None and entry.until >= entry.at
    # A token's first use from each address, once (across 1,001 requests).
    new_addresses = AuditEntry.objects.filter(kind=Kind.TOKEN_NEW_ADDRESS, token_id=row.pk)
    assert sorted(new_addresses.values_list("address", flat=True)) == ["127.0.0.1", "127.0.0.2"]
    assert services.verify() == (AuditEntry.objects.count(), None)
    print(f"\n1,001 live views in {took:.1f} s: {views.count()} rows for {frames} frames sent")


def test_the_auditor_page_filters_exports_and_staff_see_only_their_cameras(redis_url):
    make_user("boss", password="boss-pass-1", is_superuser=True, is_staff=True)
    yard, gate, vault = make_camera("yard"), make_camera("gate"), make_camera("vault")
    guard = make_user("guard", password="guard-pass-1", is_staff=True)
    yard.allowed_users.add(guard)
    from django.contrib.auth.models import Permission

    guard.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
    admin = Client()
    assert admin.post("/accounts/login/", {"username": "boss", "password": "boss-pass-1"}).status_code == 302
    # A change through the admin: recorded with who made it and the fields before and after.
    page = admin.get(f"/admin/cameras/camera/{gate.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and not isinstance(value, list)}
    data.update(name="Gate (north)", password="", motion_zones="[]", motion_masks="[]")
    data["allowed_users"] = [guard.pk]
    response = admin.post(f"/admin/cameras/camera/{gate.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    Client().post("/accounts/login/", {"username": "guard", "password": "wrong"})  # a failed sign-in
    assert get_writer().flush()
    change = AuditEntry.objects.get(
        kind=Kind.CHANGE, camera_id=gate.pk, detail__action="changed", detail__changes__has_key="name"
    )
    assert change.username == "boss" and change.detail["changes"]["name"] == ["Gate", "Gate (north)"]
    m2m = AuditEntry.objects.filter(kind=Kind.CHANGE, detail__changes__allowed_users__added=["guard"])
    assert m2m.exists()
    failed = AuditEntry.objects.get(kind=Kind.SIGN_IN_FAILED, username="guard")
    assert failed.address == "127.0.0.1" and failed.detail["method"] == "password"

    # The page: superusers only; filters by user, camera, kind and time; CSV of the same.
    listing = admin.get("/audit/", {"kind": "change", "camera": "gate"}).content.decode()
    assert "Gate (north)" in listing and "guard" in listing
    assert admin.get("/audit/", {"user": "guard", "kind": "sign_in_failed"}).context["page"].paginator.count == 1
    assert (
        admin.get("/audit/", {"since": "2000-01-01T00:00", "until": "2000-01-02T00:00"}).context["page"].paginator.count
        == 0
    )
    csv = b"".join(iter(admin.get("/audit/export.csv", {"user": "guard"}))).decode()  # (served in chunks)
    lines = csv.strip().splitlines()
    assert lines[0].startswith("seq,at,until,kind,username") and len(lines) == 2 and "sign_in_failed" in lines[1]
    assert admin.get("/audit/", {"kind": "nonsense"}).status_code == 400

    staff = Client()
    assert staff.post("/accounts/login/", {"username": "guard", "password": "guard-pass-1"}).status_code == 302
    assert staff.get("/audit/").status_code == 302  # not a superuser: no auditor page
    # In the admin, the entries of cameras they may see only, and no other camera in the filter.
    listing = staff.get("/admin/audit/auditentry/")
    assert listing.status_code == 200
    shown = {entry.camera_id for entry in listing.context["cl"].result_list}
    assert shown == {yard.pk, gate.pk} and vault.pk not in shown, shown  # nor sign-ins (no camera)
    assert "Yard" in listing.content.decode() and "Vault" not in listing.content.decode()
    yard.allowed_users.remove(guard)
    gate.allowed_users.remove(guard)
    assert get_writer().flush()
    assert not staff.get("/admin/audit/auditentry/").context["cl"].result_list


def test_playback_spans_and_clip_exports_are_recorded_with_who_and_what(recordings):  # noqa: F811 - fixture
    import datetime as dt

    from tests.support.recorded import T0

    camera, _ = recordings
    viewer = make_user("reviewer", password="reviewer-pass-1")
    camera.allowed_users.add(viewer)
    client = Client()
    client.force_login(viewer)
    start, end = T0 + dt.timedelta(seconds=5), T0 + dt.timedelta(seconds=25)
    span = {"start": start.isoformat(), "end": end.isoformat()}
    assert client.get("/cameras/yard/recordings.m3u8", span, REMOTE_ADDR="10.9.8.7").status_code == 200
    clip = client.get("/cameras/yard/clip.mp4", span)
    assert clip.status_code == 200
    b"".join(iter(clip))  # the whole export
    assert (
        client.get("/cameras/yard/clip.mp4", {"start": "2000-01-01T00:00Z", "end": "2000-01-01T00:01Z"}).status_code
        == 404
    )
    assert get_writer().flush()
    played = AuditEntry.objects.get(kind=Kind.PLAYBACK)
    exported = AuditEntry.objects.get(kind=Kind.CLIP)  # the refused one (nothing recorded) is not an export
    for entry in (played, exported):
        assert entry.username == "reviewer" and entry.camera == "yard" and entry.camera_id == camera.pk
        assert dt.datetime.fromisoformat(entry.detail["start"]) == start
        assert dt.datetime.fromisoformat(entry.detail["end"]) == end
    assert played.address == "10.9.8.7"
