"""Review URLs against a real uvicorn, read by real clients: ffmpeg, ffprobe, httpx.

- ffmpeg reads the playlist URL with a token (its segments by their grants) and gets the requested duration;
- the clip keeps the source's codec parameters and matches the request within one GOP;
- Range requests on segments return the right bytes (206), an impossible one is 416;
- a camera the caller may not see is a 404 on every URL; bad spans are 400 with a message.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import httpx
import pytest

from review.mp4 import init_length
from tests.factories import make_camera, make_token, make_user
from tests.support.processes import web_server
from tests.support.recorded import T0

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def web(redis_url, settings, recordings):
    server = web_server(redis_url, RECORDINGS_DIR=settings.RECORDINGS_DIR).start()
    yield server
    server.stop()


@pytest.fixture
def token(recordings):
    owner = make_user("reviewer", is_superuser=True, is_staff=True)
    return make_token(user=owner)[1]


def span(start_s: float, end_s: float) -> str:
    start = (T0 + dt.timedelta(seconds=start_s)).isoformat()
    end = (T0 + dt.timedelta(seconds=end_s)).isoformat()
    return f"start={start.replace('+', '%2B')}&end={end.replace('+', '%2B')}"


def probe(target: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", target],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_playlist_has_maps_times_gaps_and_grants(web, token):
    text = httpx.get(f"{web.url}/cameras/yard/recordings.m3u8?{span(0, 80)}&token={token}", timeout=10).text
    assert text.startswith("#EXTM3U\n") and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 5
    assert text.count("#EXT-X-MAP:") == 5
    assert text.count("#EXT-X-DISCONTINUITY") == 1  # the gap between 40 s and 60 s
    assert f"#EXT-X-PROGRAM-DATE-TIME:{T0:%Y-%m-%dT%H:%M:%S}.000Z" in text
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    # Segment URIs carry a grant, never the caller's token (issue #22; tests/review/test_grants.py).
    assert len(uris) == 5 and all("?grant=" in uri and token not in uri for uri in uris)


def test_ffmpeg_plays_the_playlist_url_with_a_token(web, token, tmp_path):
    out = tmp_path / "copy.mp4"
    url = f"{web.url}/cameras/yard/recordings.m3u8?{span(0, 30)}&token={token}"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", url, "-c", "copy", str(out)], check=True, timeout=120)
    duration = float(probe(str(out))["format"]["duration"])
    assert abs(duration - 30) <= 10, duration  # within one segment of the requested span


def test_segment_ranges_return_the_right_bytes(web, token, recordings, settings):
    _, rows = recordings
    from recordings.store import get_store

    with get_store().open(rows[0].key) as file:
        data = file.read()
        boundary = init_length(file, len(data))
    base = f"{web.url}/cameras/yard/recordings/{rows[0].pk}"
    init = httpx.get(f"{base}/init.mp4?token={token}", timeout=10)
    assert init.status_code == 200 and init.content == data[:boundary]
    part = httpx.get(f"{base}/media.mp4?token={token}", headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(data) - boundary}"
    assert part.content == data[boundary + 100 : boundary + 200]
    tail = httpx.get(f"{base}/media.mp4?token={token}", headers={"Range": "bytes=-50"}, timeout=10)
    assert tail.status_code == 206 and tail.content == data[-50:]
    beyond = httpx.get(f"{base}/media.mp4?token={token}", headers={"Range": f"bytes={len(data)}-"}, timeout=10)
    assert beyond.status_code == 416


def test_clip_is_a_remux_of_the_span(web, token, tmp_path, segment_files):
    response = httpx.get(f"{web.url}/cameras/yard/clip.mp4?{span(5.5, 25)}&token={token}", timeout=60)
    assert response.status_code == 200, response.text[:200]
    assert response.headers["content-disposition"].startswith("attachment;")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(response.content)
    info = probe(str(clip))
    video = info["streams"][0]
    source = probe(str(segment_files[0]))["streams"][0]
    facts = ("codec_name", "profile", "level", "width", "height", "pix_fmt")
    assert (
        [video[k] for k in facts] == [source[k] for k in facts] == ["h264", "High", video["level"], 640, 360, "yuv420p"]
    )
    # It starts at the keyframe at or before 5.5 s (keyframes every second: 5 s) and ends at 25 s.
    assert abs(float(info["format"]["duration"]) - 20.0) <= 1.0, info["format"]["duration"]


def test_a_forbidden_camera_is_404_everywhere(web, recordings):
    _, rows = recordings
    make_camera("other")
    operator = make_user("outsider")
    other = make_camera("mine")
    other.allowed_users.add(operator)
    _, token = make_token(user=operator)
    for path in (
        f"/cameras/yard/recordings.m3u8?{span(0, 30)}",
        f"/cameras/yard/recordings/{rows[0].pk}/init.mp4",
        f"/cameras/yard/recordings/{rows[0].pk}/media.mp4",
        f"/cameras/yard/clip.mp4?{span(0, 10)}",
        f"/api/cameras/yard/recordings?{span(0, 30)}",
    ):
        response = httpx.get(f"{web.url}{path}{'&' if '?' in path else '?'}token={token}", timeout=10)
        assert response.status_code == 404, (path, response.status_code)


def test_bad_spans_are_400_with_a_message(web, token):
    for query, message in (
        (span(20, 10), "end is before start"),
        (span(10, 10), "empty"),
        ("start=yesterday", "ISO 8601"),
        (span(0, 3 * 24 * 3600), "longer than the maximum"),
    ):
        response = httpx.get(f"{web.url}/cameras/yard/clip.mp4?{query}&token={token}", timeout=10)
        assert response.status_code == 400, (query, response.status_code)
        assert message in response.text, response.text


def test_recorded_spans_merge_segments_and_keep_gaps(web, token):
    data = httpx.get(f"{web.url}/api/cameras/yard/recordings?{span(0, 120)}&token={token}", timeout=10).json()

    def at(seconds: int) -> str:
        return (T0 + dt.timedelta(seconds=seconds)).isoformat()

    assert data["spans"] == [{"start": at(0), "end": at(40)}, {"start": at(60), "end": at(70)}]
    assert data["codec"] == "avc1.64001e"
