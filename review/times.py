"""Times and spans in review URLs: ISO 8601 (with an offset; without one, in TIME_ZONE) or Unix seconds.

A bad value is a BadRequest with a message that names the option and says what was expected, never a
500: a time outside EARLIEST..LATEST (`1e20`, year 9999, year 1, `nan`) is refused before any
arithmetic, where it overflowed datetime (OverflowError, issue #22).
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest
from django.utils import timezone

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # the first time a URL may name
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # and the last: spans added to it stay far from datetime.max


def parse_time(raw: str, *, name: str = "time") -> dt.datetime:
    """An aware datetime from ISO 8601 or Unix seconds (`name` is the option, for the message)."""
    text = raw.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or not (EARLIEST.timestamp() <= seconds <= LATEST.timestamp()):
            raise _out_of_range(name)
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text.replace(" ", "+") if text.count(" ") == 1 and "T" in text else text)
    except ValueError:
        raise BadRequest(
            f"{name} must be ISO 8601 (2026-12-02T03:00:00+01:00; without an offset it is in {settings.TIME_ZONE}) "
            "or Unix seconds"
        ) from None
    if not EARLIEST.year <= moment.year <= LATEST.year:  # before comparing: year 1 with an offset overflows
        raise _out_of_range(name)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
    if not EARLIEST <= moment <= LATEST:
        raise _out_of_range(name)
    return moment


def _out_of_range(name: str) -> BadRequest:
    return BadRequest(f"{name} is out of range: times must be between {EARLIEST.year} and {LATEST.year}")


def parse_span(
    request: HttpRequest, *, default: dt.timedelta, longest: dt.timedelta | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """(start, end) from `start` and `end` query options; by default the last `default` up to now.

    `end` before `start`, an empty span, or one longer than `longest` is a BadRequest that says so.
    """
    raw_start, raw_end = request.GET.get("start"), request.GET.get("end")
    end = parse_time(raw_end, name="end") if raw_end else None
    start = parse_time(raw_start, name="start") if raw_start else None
    if end is None:
        end = start + default if start is not None else timezone.now()
    if start is None:
        start = end - default
    if end < start:
        raise BadRequest("end is before start")
    if end == start:
        raise BadRequest("the span is empty: end equals start")
    if longest is not None and end - start > longest:
        raise BadRequest(f"the span is longer than the maximum of {_human(longest)}")
    return start, end


def _human(span: dt.timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:g} days"
    return f"{hours:g} hours" if hours >= 1 else f"{span.total_seconds() / 60:g} minutes"
