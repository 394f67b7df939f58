"""Admin fuzz: generated camera forms are saved valid or refused with a field error, never a 500.

Hypothesis writes add and change forms the way a hurried operator or a hostile one might:
URLs with credentials, ports and IPv6 hosts gone wrong, numbers far out of range or not
numbers at all, unicode and control characters in names. Django's test client re-raises
any exception a view lets escape, so a would-be 500 fails the test with its traceback.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cameras.models import Camera, server_address
from tests.factories import make_camera

pytestmark = pytest.mark.django_db

KINDS = [choice for choice, _ in Camera.Kind.choices]

hosts = st.one_of(
    st.sampled_from(
        [
            "127.0.0.1",
            "cam.local",
            "[::1]",
            "[fe80::1%25eth0]",
            "[::1",
            "::1]",
            "",
            "h\u00f6st.example",
            "user@",
            "a" * 300,
            "1.2.3.4.5",
            "0",
            "-",
        ]
    ),
    st.text(min_size=0, max_size=20),
)
ports = st.one_of(
    st.none(),
    st.sampled_from(["0", "554", "65535", "65536", "99999", "-1", "abc", "", "1e3"]),
    st.integers(-10, 10**6).map(str),
)
userinfo = st.one_of(
    st.none(),
    st.tuples(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=12))).map(
        lambda t: t[0] + ("" if t[1] is None else ":" + t[1])
    ),
    st.sampled_from(["u:p", "u:p:q", "u%3Ap:x", "@", "u:p@x", "%zz:%"]),
)
schemes = st.sampled_from(["rtsp", "rtsps", "http", "https", "RTSP", "ftp", "", "rtsp:/", "javascript"])
paths = st.one_of(
    st.sampled_from(["", "/", "/live", "/a b", "/%00", "/\u00e9", "?x=1", "#frag", "/../../etc"]), st.text(max_size=20)
)


@st.composite
def urls(draw) -> str:
    auth = draw(userinfo)
    port = draw(ports)
    netloc = (f"{auth}@" if auth is not None else "") + draw(hosts) + (f":{port}" if port is not None else "")
    return f"{draw(schemes)}://{netloc}{draw(paths)}"


sources = st.one_of(
    urls(),
    st.sampled_from(
        [
            "",
            "0",
            "/dev/video0",
            "/dev/",
            "640x480",
            "99999x99999",
            "0x0",
            "16x16",
            "3840x2160",
            "x",
            "README.md",
            "../../etc/passwd",
            "/etc/passwd",
            "\x00",
            "1",
            "-1",
            " 320x240 ",
        ]
    ),
    st.text(max_size=60),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(-5, 100).map(str),
    st.sampled_from(["", "abc", "1.5", "1e3", "nan", "inf", "-0", "0x10", "\u0661", " 15 ", "9" * 50]),
)
names = st.one_of(st.text(max_size=120), st.sampled_from(["<script>alert(1)</script>", "\u202e", "a" * 101, " "]))
slugs = st.one_of(st.from_regex(r"\A[-a-zA-Z0-9_]{1,50}\Z"), st.text(max_size=60))
PLAUSIBLE_SOURCES = {
    "rtsp": urls(),
    "http_mjpeg": urls(),
    "webcam": st.sampled_from(["0", "1", "/dev/video0", "/dev/video9"]),
    "file": st.sampled_from(["README.md", "missing.mp4"]),
    "pi": st.sampled_from(["", "0", "1"]),
    "test_pattern": st.builds(lambda w, h: f"{w}x{h}", st.integers(1, 5000), st.integers(1, 5000)),
}


def mostly(plausible, junk):
    """Plausible values most of the time (so forms get saved too), anything at all otherwise."""
    return st.integers(0, 9).flatmap(lambda roll: junk if roll == 9 else plausible)


@st.composite
def forms(draw) -> dict[str, str]:
    kind = draw(mostly(st.sampled_from(KINDS), st.text(max_size=12)))
    return {
        "name": draw(mostly(st.text(st.characters(codec="utf-8"), min_size=1, max_size=100), names)),
        "slug": draw(mostly(st.from_regex(r"\A[-a-zA-Z0-9_]{1,50}\Z"), slugs)),
        "kind": kind,
        "source": draw(mostly(PLAUSIBLE_SOURCES.get(kind, sources), sources)),
        "username": draw(st.text(max_size=160)),
        "password": draw(st.text(max_size=160)),
        "clear_password": draw(st.sampled_from(["", "on"])),
        "enabled": draw(st.sampled_from(["", "on"])),
        "max_fps": draw(mostly(st.integers(1, 60).map(str), numbers)),
        "max_width": draw(mostly(st.one_of(st.just(""), st.integers(16, 7680).map(str)), numbers)),
        "jpeg_quality": draw(mostly(st.integers(10, 95).map(str), numbers)),
        "rtsp_transport": draw(mostly(st.sampled_from(["tcp", "udp"]), st.text(max_size=5))),
        "position": draw(mostly(st.integers(-1000, 1000).map(str), numbers)),
    }


def no_nul(data: dict) -> dict:
    # The test client cannot put NUL into a form body, and neither can a browser.
    return {key: value.replace("\x00", "\\0") for key, value in data.items()}


def assert_valid(camera: Camera) -> None:
    """A saved camera passes its own validation and keeps no credentials in its URL."""
    camera.full_clean()
    if "://" in camera.source:
        parts = urlsplit(camera.source)
        assert not parts.username and not parts.password, "credentials left in the URL"


def check(response, data: dict) -> None:
    event("saved" if response.status_code == 302 else "refused")
    if response.status_code == 302:  # saved
        assert_valid(Camera.objects.get(slug=data["slug"].strip()))
        return
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    assert form.errors, "refused without saying why"
    assert set(form.errors) - {"__all__"}, f"only non-field errors: {form.errors}"


FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=forms())
def test_generated_add_forms_save_valid_cameras_or_name_the_field(admin_client, data):
    Camera.objects.all().delete()  # every example starts alike, so a failure replays
    data = no_nul(data)
    response = admin_client.post("/admin/cameras/camera/add/", {**data, "_save": "Save"})
    check(response, data)


@FUZZ
@given(data=forms())
def test_generated_change_forms_keep_the_camera_valid_or_name_the_field(admin_client, data):
    Camera.objects.all().delete()  # every example starts alike, so a failure replays
    camera = make_camera("existing", kind="rtsp", source="rtsp://10.0.0.5/live", username="u", password="keep-me")
    data = no_nul(data)
    response = admin_client.post(f"/admin/cameras/camera/{camera.pk}/change/", {**data, "_save": "Save"})
    if response.status_code == 302:
        event("saved")
        saved = Camera.objects.get(pk=camera.pk)
        assert_valid(saved)
        same_server = server_address(saved.source) == server_address(camera.source)
        if not data["password"] and not data["clear_password"] and "@" not in data["source"] and same_server:
            assert saved.password == camera.password  # empty keeps the stored one (write-only field)
        if not same_server and not data["password"] and "@" not in data["source"]:
            assert saved.password == ""  # never sent to another server
        return
    check(response, data)
