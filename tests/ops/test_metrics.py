"""/metrics against real uvicorn, capture and Redis: parses as Prometheus text, moves with frames, guarded."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import httpx
import pytest
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from nvr.metrics import metrics_allowed
from tests.factories import make_camera, make_token, make_user
from tests.support.frames import wait_for_status, want_frames
from tests.support.mjpeg import PartParser
from tests.support.processes import web_server

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(base_url: str, **kwargs) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics as {(name, labels): value}, parsed by prometheus-client's parser."""
    response = httpx.get(f"{base_url}/metrics", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, metric: str, **labels: str) -> float:
    matches = [v for (n, ls), v in samples.items() if n == metric and set(labels.items()) <= ls]
    assert len(matches) == 1, (metric, labels, matches)
    return matches[0]


@pytest.fixture
def stack(live_web, capture_process, redis_url):
    """One 320x240 camera at 10 fps, captured and served; a stream token for it."""
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("front", source="320x240", max_fps=10)
    make_camera("spare", source="320x240", enabled=False)
    _, token = make_token(user=admin)
    want_frames(redis_url, "front")  # someone watches: capture encodes live JPEGs (and times them) only then
    wait_for_status(redis_url, "front", lambda s: s["state"] == "online" and s["fps"] > 0 and s["encode_ms"] > 0, 15)
    return live_web, token


def test_capture_facts_per_camera(stack):
    web, _ = stack
    samples = scrape(web.url)
    assert value(samples, "nvr_redis_up") == 1
    assert value(samples, "nvr_camera_info", camera="front", name="Front", kind="test_pattern") == 1
    assert value(samples, "nvr_camera_state", camera="front", state="online") == 1
    assert value(samples, "nvr_camera_state", camera="front", state="offline") == 0
    assert value(samples, "nvr_camera_state", camera="spare", state="disabled") == 1
    assert value(samples, "nvr_camera_enabled", camera="spare") == 0
    assert 3 <= value(samples, "nvr_camera_capture_fps", camera="front") <= 11
    assert 0 <= value(samples, "nvr_camera_last_frame_age_seconds", camera="front") < 2
    assert 0 < value(samples, "nvr_camera_encode_seconds", camera="front") < 0.5
    assert value(samples, "nvr_camera_reconnects_total", camera="front") == 0
    first = value(samples, "nvr_camera_frames_captured_total", camera="front")
    time.sleep(1.0)
    assert value(scrape(web.url), "nvr_camera_frames_captured_total", camera="front") >= first + 5


def test_streaming_facts_move_when_frames_flow(stack):
    web, token = stack
    before = scrape(web.url)
    pid = str(web.pid)
    assert value(before, "nvr_stream_viewers", camera="front", pid=pid) == 0
    sent_before = value(before, "nvr_stream_frames_sent_total", pid=pid)
    bytes_before = value(before, "nvr_stream_bytes_sent_total", pid=pid)

    async def watch_and_scrape() -> tuple[int, dict]:
        url = f"{web.url}/cameras/front/stream.mjpg?token={token}"
        async with httpx.AsyncClient(timeout=10) as client, client.stream("GET", url) as response:
            assert response.status_code == 200
            parser, parts = PartParser(), []
            async for chunk in response.aiter_raw():  # leaving this loop closes the stream
                parts += parser.feed(chunk)
                if len(parts) >= 8:
                    return len(parts), await asyncio.to_thread(scrape, web.url)
        raise AssertionError("the stream ended early")

    received, during = asyncio.run(watch_and_scrape())
    assert value(during, "nvr_stream_viewers", camera="front", pid=pid) == 1
    assert value(during, "nvr_stream_subscriptions", pid=pid) >= 1
    assert value(during, "nvr_stream_bytes_sent_total", pid=pid) > bytes_before + 8 * 1000
    assert value(during, "nvr_stream_frames_sent_total", pid=pid) >= sent_before + received

    deadline = time.monotonic() + 10
    after = scrape(web.url)
    while value(after, "nvr_stream_viewers", camera="front", pid=pid) and time.monotonic() < deadline:
        time.sleep(0.2)
        after = scrape(web.url)
    assert value(after, "nvr_stream_viewers", camera="front", pid=pid) == 0
    assert value(after, "nvr_stream_frames_sent_total", pid=pid) >= sent_before + received
    for name in (
        "nvr_stream_frames_skipped_total",
        "nvr_stream_deadline_drops_total",
        "nvr_stream_bus_reconnects_total",
        "nvr_web_resident_memory_bytes",
    ):
        assert value(after, name, pid=pid) >= 0
    assert value(after, "nvr_stream_bus_frames_missed", camera="front", pid=pid) >= 0


def test_guarded_by_token_or_network(redis_url):
    """Loopback is not in the configured networks here: only the token opens /metrics."""
    web = web_server(redis_url, NVR_METRICS_TOKEN="metrics-t0ken", NVR_METRICS_NETWORKS="192.0.2.0/24")
    with web:
        url = f"{web.url}/metrics"
        assert httpx.get(url, timeout=10).status_code == 403
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 403
        assert httpx.get(url, params={"token": "wrong"}, timeout=10).status_code == 403
        scrape(web.url, headers={"Authorization": "Bearer metrics-t0ken"})
        scrape(web.url, params={"token": "metrics-t0ken"})
    assert "metrics-t0ken" not in web.log()


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.1.2.3", True),
        ("fd00::7", True),
        ("10.2.0.1", False),
        ("192.0.2.9", False),
        ("2001:db8::1", False),
        ("", False),
        ("not-an-ip", False),
    ],
)
def test_networks(settings, address, allowed):
    import ipaddress

    settings.NVR_METRICS_TOKEN = ""
    networks = ("127.0.0.0/8", "::1/128", "10.1.0.0/16", "fd00::/8")
    settings.NVR_METRICS_NETWORKS = [ipaddress.ip_network(n) for n in networks]
    request = RequestFactory().get("/metrics", REMOTE_ADDR=address)
    assert metrics_allowed(request) is allowed


def test_an_empty_token_opens_nothing(settings):
    settings.NVR_METRICS_TOKEN = ""
    settings.NVR_METRICS_NETWORKS = []
    factory = RequestFactory()
    assert not metrics_allowed(factory.get("/metrics?token=", REMOTE_ADDR="10.0.0.1"))
    assert not metrics_allowed(factory.get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="10.0.0.1"))


def test_still_answers_while_redis_is_stopped(live_web, redis_server):
    """Prometheus keeps the process facts, and sees Redis down instead of a failed scrape."""
    make_camera("front", source="320x240")
    redis_server.stop()
    try:
        samples = scrape(live_web.url)
    finally:
        redis_server.start()
    assert value(samples, "nvr_redis_up") == 0
    assert value(samples, "nvr_camera_state", camera="front", state="unknown") == 1
    assert value(samples, "nvr_stream_viewers", camera="front", pid=str(live_web.pid)) == 0


def test_behind_a_tls_proxy_only_the_token_opens_metrics(settings):
    """Every request comes from the proxy there: a trusted address proves nothing (it was enough before)."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.NVR_METRICS_TOKEN = "metrics-secret-1"
    settings.NVR_METRICS_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    factory = RequestFactory()
    assert not metrics_allowed(factory.get("/metrics", REMOTE_ADDR="127.0.0.1"))
    assert metrics_allowed(
        factory.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-1", REMOTE_ADDR="127.0.0.1")
    )
