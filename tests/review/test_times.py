"""Times out of range are a 400 naming the option, wherever review and events parse a time (issue #22).

`start=1e20`, year 9999, year 1, `nan`, `inf` and negative seconds used to overflow datetime (500s in
review/times.py and the events' selectors); a span longer than the limit is a 400 that names the limit.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import BadRequest
from django.test import Client

from review.times import EARLIEST, LATEST, parse_time
from tests.factories import make_camera, make_user

OUT_OF_RANGE = ["1e20", "-5", "nan", "inf", "-inf", "253402300799", "9999-12-31T23:59:59", "0001-01-01T00:00:00+01:00",
                "1969-12-31T23:59:59Z", "2100-01-01T00:00:01Z", "4102444801"]  # fmt: skip


@pytest.mark.parametrize("raw", OUT_OF_RANGE)
def test_a_time_out_of_range_is_refused_by_name(raw):
    with pytest.raises(BadRequest, match=r"^since is out of range: times must be between 1970 and 2100$"):
        parse_time(raw, name="since")


def test_the_range_ends_are_accepted():
    assert parse_time("0", name="t") == EARLIEST
    assert parse_time("2100-01-01T00:00:00Z", name="t") == LATEST
    assert parse_time("2026-12-02T03:00:00+01:00", name="t") == dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC)


@pytest.fixture
def logged_in(db):
    make_camera("yard")
    client = Client()
    client.force_login(make_user("chief", is_superuser=True, is_staff=True))
    return client


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/cameras/yard/recordings.m3u8?start={}", "start"),
        ("/cameras/yard/recordings.m3u8?end={}", "end"),
        ("/cameras/yard/clip.mp4?start={}", "start"),
        ("/api/cameras/yard/recordings?end={}", "end"),
        ("/cameras/yard/preview.jpg?t={}", "t"),
        ("/api/events?since={}", "since"),
        ("/api/events?until={}", "until"),
        ("/events/?since={}", "since"),
    ],
)
@pytest.mark.parametrize("raw", ["1e20", "9999-01-01T00:00:00", "nan"])
def test_every_url_answers_400_naming_the_option(logged_in, path, name, raw):
    response = logged_in.get(path.format(raw))
    assert response.status_code == 400, (path, raw, response.status_code)
    assert f"{name} is out of range" in response.content.decode()


def test_spans_longer_than_the_limit_are_a_clear_400(logged_in):
    week = logged_in.get("/cameras/yard/recordings.m3u8?start=2026-01-01T00:00:00Z&end=2026-01-08T00:00:01Z")
    assert week.status_code == 400 and "longer than the maximum of 7 days" in week.content.decode()
    month = logged_in.get("/api/cameras/yard/recordings?start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:01Z")
    assert month.status_code == 400 and "longer than the maximum of 31 days" in month.content.decode()
