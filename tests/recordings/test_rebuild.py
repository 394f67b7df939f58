"""`manage.py recordings rebuild` after a database loss: the segments (on the local disk and in a real S3
bucket, moto over HTTP) and the events (their JSON beside their snapshots) all come back as they were."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from events.models import Event
from recordings import tier
from recordings.models import Location, Segment
from recordings.reconcile import probe
from tests.recordings.test_tier import moto, tiered, yard  # noqa: F401 - fixtures
from tests.support.recorded import T0

pytestmark = pytest.mark.django_db(transaction=True)


def spans() -> list[tuple]:
    rows = Segment.objects.order_by("key")
    return [
        (r.camera_id, r.key, r.start, round(r.duration, 1), r.codec, r.width, r.height, r.bytes, r.sha256, r.location)
        for r in rows
    ]


def events() -> list[tuple]:
    return [
        (e.pk, e.camera_id, e.start, e.end, e.peak_score, e.zones, e.snapshot) for e in Event.objects.order_by("pk")
    ]


def test_rebuild_restores_every_span_and_event(tiered, yard):  # noqa: F811 - fixtures
    camera, rows = yard
    real = probe(tiered, rows[0].key)  # the fixture's rows name a codec; the files say which it really is
    assert real is not None
    Segment.objects.update(codec=real[1])
    Segment.objects.filter(pk__in=[r.pk for r in rows[3:]]).update(end=timezone.now())  # these stay local
    assert tier.move_due(store=tiered).moved == 3
    for number, offset in enumerate((5, 62)):  # two events, as the watcher leaves them (tests/events checks it)
        start = T0 + dt.timedelta(seconds=offset)
        event = Event.objects.create(camera=camera, start=start, end=start + dt.timedelta(seconds=3),
                                     peak_score=0.2 + number / 10, zones=["drive"])  # fmt: skip
        snapshot, thumbnail = tiered.picture_keys(str(camera.uid), event.pk, start)
        tiered.put(snapshot, b"\xff\xd8 picture")
        tiered.put(thumbnail, b"\xff\xd8 thumb")
        record = {"id": event.pk, "camera_uid": str(camera.uid), "start": start.isoformat(),
                  "end": event.end.isoformat(), "peak_score": event.peak_score, "zones": ["drive"], "snapshot": snapshot}  # fmt: skip
        tiered.put(snapshot.removesuffix(".jpg") + ".json", json.dumps(record).encode())
        Event.objects.filter(pk=event.pk).update(snapshot=snapshot)
        if number == 0:  # the first event's pictures and record are old enough for the bucket
            for key in (snapshot, thumbnail, snapshot.removesuffix(".jpg") + ".json"):
                os.utime(tiered.local.root / key, (time.time() - 3 * 86400,) * 2)
    assert tier.move_due(store=tiered).pictures == 3
    Segment.objects.filter(pk=rows[4].pk).update(end=rows[4].start + dt.timedelta(seconds=10))
    before_spans, before_events = spans(), events()
    assert [s[-1] for s in before_spans].count(Location.BUCKET) == 3

    Segment.objects.all().delete()
    Event.objects.all().delete()
    out = io.StringIO()
    call_command("recordings", "rebuild", stdout=out)

    assert spans() == before_spans, out.getvalue()
    assert events() == before_events
    assert "3 segments indexed" in out.getvalue() and "2 restored" in out.getvalue()
    later = Event.objects.create(camera=camera, start=timezone.now())  # new ids come after the restored ones
    assert later.pk > max(e[0] for e in before_events)
    call_command("recordings", "rebuild", stdout=io.StringIO())  # again: nothing doubles
    assert len(spans()) == 5 and Event.objects.count() == 3
