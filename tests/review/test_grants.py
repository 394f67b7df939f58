"""Playlists name short-lived grants, not the caller's token (issue #22), against a real uvicorn:

- the segment URIs carry a signed grant scoped to the camera, the span and the principal; the token is
  nowhere in the playlist, which is `Cache-Control: private, no-store`;
- a grant opens its own camera's segments of its span, nothing else, and not once altered or expired;
- revoking the token ends playback by grant within 2 s; a session's grant needs that session;
- the timeline's hover preview is the recorded keyframe nearest the time asked.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import httpx
import pytest
from django.utils.timezone import now as django_now

from review.grants import Grant, Principal
from streaming.models import StreamToken
from tests.factories import make_camera, make_token, make_user
from tests.review.test_review import span
from tests.support.processes import web_server
from tests.support.recorded import T0, record_camera

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "pw-grants-1"


@pytest.fixture
def web(redis_url, settings, recordings, segment_files):
    record_camera("gate", segment_files, settings.RECORDINGS_DIR)
    server = web_server(redis_url, RECORDINGS_DIR=settings.RECORDINGS_DIR).start()
    yield server
    server.stop()


def segment_uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_a_playlist_names_grants_not_the_token(web, recordings):
    owner = make_user("reviewer", is_superuser=True, is_staff=True)
    row, token = make_token(user=owner)
    response = httpx.get(f"{web.url}/cameras/yard/recordings.m3u8?{span(0, 30)}&token={token}", timeout=10)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    text = response.text
    assert token not in text
    uris = segment_uris(text) + re.findall(r'URI="([^"]+)"', text)
    assert len(uris) == 6 and all("?grant=" in uri for uri in uris), uris
    grant = Grant.decode(httpx.URL(f"http://x/{uris[0]}").params["grant"])
    camera, _ = recordings
    assert (grant.camera_id, grant.principal, grant.subject) == (camera.pk, Principal.TOKEN, row.pk)
    assert grant.start == int((T0).timestamp()) and grant.end == int((T0 + dt.timedelta(seconds=30)).timestamp()) + 1
    lasts = grant.expires - time.time()
    assert 3600 + 30 - 5 < lasts <= 3600 + 30, "the playlist's length plus an hour"

    # The grant alone opens the segments (as ffmpeg and VLC fetch them), with Range as before.
    base = f"{web.url}/cameras/yard/"
    assert httpx.get(base + uris[0], timeout=10).status_code == 200
    assert httpx.get(base + uris[0], headers={"Range": "bytes=0-99"}, timeout=10).status_code == 206

    # ...of its own camera and span only, and not once altered.
    _, rows = recordings
    outside = uris[0].replace(f"recordings/{rows[0].pk}/", f"recordings/{rows[4].pk}/")  # T0+60 s: not in [0, 30)
    assert httpx.get(base + outside, timeout=10).status_code == 404
    assert httpx.get(f"{web.url}/cameras/gate/{uris[0]}", timeout=10).status_code == 404
    tampered = uris[0].replace("grant=", "grant=9")
    assert httpx.get(base + tampered, timeout=10).status_code == 403
    expired = Grant(camera.pk, grant.start, grant.end, int(time.time()) - 1, Principal.TOKEN, row.pk).encode()
    refused = httpx.get(base + f"recordings/{rows[0].pk}/media.mp4", params={"grant": expired}, timeout=10)
    assert refused.status_code == 403 and "expired" in refused.text

    # Revoking the token ends playback by grant within 2 s (streaming.auth's 1 s memo), as before.
    StreamToken.objects.filter(pk=row.pk).update(revoked_at=django_now())
    revoked = time.monotonic()
    while httpx.get(base + uris[1], timeout=10).status_code == 200:
        assert time.monotonic() - revoked < 2.0, "a revoked token's grant still plays"
        time.sleep(0.1)
    assert httpx.get(base + uris[1], timeout=10).status_code == 401


def test_a_sessions_grant_needs_that_session(web):
    make_user("chief", password=PASSWORD, is_superuser=True, is_staff=True)
    make_user("other", password=PASSWORD, is_superuser=True, is_staff=True)

    def logged_in(username: str) -> httpx.Client:
        client = httpx.Client(base_url=web.url, timeout=10)
        client.get("/accounts/login/")
        form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"]}
        assert client.post("/accounts/login/", data=form).status_code == 302
        return client

    chief, other = logged_in("chief"), logged_in("other")
    try:
        text = chief.get(f"/cameras/yard/recordings.m3u8?{span(0, 30)}").text
        uri = "/cameras/yard/" + segment_uris(text)[0]
        grant = Grant.decode(httpx.URL(f"http://x{uri}").params["grant"])
        assert grant.principal is Principal.SESSION and grant.session
        assert chief.get(uri).status_code == 200
        assert other.get(uri).status_code == 401, "another session (even one that may see the camera)"
        assert httpx.get(f"{web.url}{uri}", timeout=10).status_code == 401, "no session at all"
        chief.post("/accounts/logout/", data={"csrfmiddlewaretoken": chief.cookies["csrftoken"]})
        ended = time.monotonic()
        while chief.get(uri).status_code == 200:
            assert time.monotonic() - ended < 2.0, "an ended session's grant still plays"
            time.sleep(0.1)
    finally:
        chief.close()
        other.close()


def test_the_hover_preview_is_the_nearest_keyframe(web):
    import cv2
    import numpy as np

    owner = make_user("reviewer", is_superuser=True, is_staff=True)
    _, token = make_token(user=owner)
    at = (T0 + dt.timedelta(seconds=3.4)).timestamp()
    response = httpx.get(f"{web.url}/cameras/yard/preview.jpg?t={at}&width=240&token={token}", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, max-age=86400"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 240 and image.shape[0] == 136  # 640x360, scaled
    gap = (T0 + dt.timedelta(seconds=50)).timestamp()
    assert httpx.get(f"{web.url}/cameras/yard/preview.jpg?t={gap}&token={token}", timeout=10).status_code == 404
    missing = httpx.get(f"{web.url}/cameras/yard/preview.jpg?token={token}", timeout=10)
    assert missing.status_code == 400 and "t (the time to preview) is required" in missing.text
    make_camera("secret")
    outsider = make_user("outsider")
    _, theirs = make_token(user=outsider)
    assert httpx.get(f"{web.url}/cameras/yard/preview.jpg?t={at}&token={theirs}", timeout=10).status_code == 404
