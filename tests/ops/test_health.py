"""/healthz against a real uvicorn: each check reported, 503 while Redis or the database is away."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.processes import free_port, web_server

pytestmark = pytest.mark.django_db(transaction=True)


def get_health(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/healthz", timeout=10)


def wait_for_status(base_url: str, status: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = get_health(base_url)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_healthy_stack_answers_200_with_each_check(live_web, redis_url):
    response = get_health(live_web.url)  # no login, no token
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "recordings", "detection"}
    assert body["checks"]["detection"] == {"ok": True, "state": "off"}  # no DETECTOR_MODEL
    assert all(body["checks"][name]["ok"] and body["checks"][name]["ms"] >= 0 for name in ("database", "redis"))
    assert body["checks"]["recordings"]["ok"] is True
    assert redis_url.split("//")[1].split("/")[0] not in response.text  # no addresses, no secrets


def test_flips_to_503_while_redis_is_stopped_and_back(live_web, redis_server):
    assert get_health(live_web.url).status_code == 200
    redis_server.stop()
    try:
        response = wait_for_status(live_web.url, 503, 10)
        assert response.status_code == 503, response.text
        checks = response.json()["checks"]
        assert checks["redis"] == {"ok": False, "error": "ConnectionError"}
        assert checks["database"]["ok"] is True
    finally:
        redis_server.start()
    response = wait_for_status(live_web.url, 200, 15)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_503_when_the_database_does_not_answer(redis_url):
    """PostgreSQL configured, nothing listening: the database check fails, credentials stay hidden."""
    web = web_server(redis_url)
    web.env["DATABASE_URL"] = f"postgres://nvr:db-secret-pw@127.0.0.1:{free_port()}/nvr"
    with web:
        response = get_health(web.url)
    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": False, "error": "OperationalError"}
    assert checks["redis"]["ok"] is True
    assert "db-secret-pw" not in response.text


def test_a_store_the_workers_cannot_write_makes_health_degraded_not_down(live_web, redis_url):
    from framebus.status import CameraStatus, State
    from tests.factories import make_camera
    from tests.support.frames import sync_bus

    make_camera("front", record="continuous")
    bus = sync_bus(redis_url)
    try:
        status = CameraStatus(State.ONLINE, recording="error", recording_error="the recordings disk is full")
        bus.write_status("front", status.to_fields())
        response = get_health(live_web.url)
    finally:
        bus.close()
    assert response.status_code == 200  # live view still works
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["recordings"] == {
        **body["checks"]["recordings"],
        "ok": False,
        "error": "the recordings disk is full",
    }
