"""Shared fixtures: a real Redis server per session, our web server and capture supervisor.

Nothing here is mocked: tests talk to redis-server, the RTSP server (GStreamer), uvicorn
and ffmpeg/OpenCV/Chromium as clients. A missing system dependency fails the run in CI
(CI=true) and skips with the reason printed elsewhere; `.ci/run` installs them.
"""

from __future__ import annotations

import os
import threading

import pytest
import redis

from tests.support.processes import capture_supervisor, web_server
from tests.support.recorded import segment_files  # noqa: F401 - fixture: made once a session, for every suite
from tests.support.servers import RedisServer, have_rtsp_server


def require(ok: bool, reason: str) -> None:
    """Skip with the reason on a developer machine; fail in CI, where everything must run."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required test dependency missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _test_redis_only(redis_server, settings) -> None:
    """Every test talks to the suite's own Redis, never to one the machine happens to run."""
    settings.REDIS_URL = redis_server.url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis_server.url}}


@pytest.fixture(autouse=True)
def _no_remembered_access():
    """In-process access lookups are memoised briefly (streaming.auth): never across tests."""
    from streaming.auth import forget_cached_credentials

    forget_cached_credentials()
    yield
    forget_cached_credentials()


@pytest.fixture(autouse=True)
def _audit_rows_written(request):
    """Audit rows are written by a thread with its own connection (audit.writer): a transactional test's rows
    are in before its database is reset; a test run inside one transaction (`db`) keeps them from the
    writer, whose connection could not see that transaction's rows, and drops them at its end."""
    from audit.writer import get_writer

    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or bool(marker and marker.kwargs.get("transaction"))
    writer = get_writer()
    if not transactional:
        writer.hold()
    yield
    if transactional:
        assert writer.flush(30), "the audit writer did not catch up within 30 s"
    else:
        writer.release(discard=True)


@pytest.fixture
def redis_url(redis_server, settings) -> str:
    """A clean Redis for this test, and settings pointing at it."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    except redis.ConnectionError:
        redis_server.start()  # a previous test stopped it
        client.flushall()
    client.close()
    settings.REDIS_URL = redis_server.url
    return redis_server.url


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rtsp_available() -> None:
    ok, reason = have_rtsp_server()
    require(ok, reason)


@pytest.fixture
def live_web(redis_url, transactional_db):
    """uvicorn serving nvr against the test database and Redis (what production runs)."""
    server = web_server(redis_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def capture_process(redis_url, transactional_db):
    """`manage.py capture` as a child process, with short poll, lease and backoff for tests."""
    process = capture_supervisor(redis_url)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def supervisor_thread(redis_url, transactional_db):
    """An in-process supervisor (fast poll) for tests that inspect its loops."""
    from cameras.supervisor import Supervisor
    from tests.support.frames import sync_bus

    started = []

    def start(**kwargs):
        options = {"poll_seconds": 0.3, "lease_seconds": 3.0, "backoff_cap": 2.0, **kwargs}
        supervisor = Supervisor(sync_bus(redis_url), **options)
        thread = threading.Thread(target=supervisor.run, daemon=True)
        thread.start()
        started.append((supervisor, thread))
        return supervisor

    yield start
    for supervisor, thread in started:
        supervisor.stop()
        thread.join(15)
