"""The database goes away for a while: capture of known cameras goes on; new ones are picked up after.

PostgreSQL (what production runs) behind a TCP proxy the test cuts: every connection is
closed and new ones are refused, as when the database restarts or its network path drops.
A throwaway database is created for the test and dropped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from itertools import pairwise

import pytest

from tests.conftest import require
from tests.reliability.helpers import full_log, wait_until
from tests.support.frames import collect_frames, wait_for_status
from tests.support.processes import ROOT, ManagedProcess, child_env
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

PG_HOST, PG_PORT = "127.0.0.1", 5432
OUTAGE = 5.0


def pg_admin():
    import psycopg

    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True, connect_timeout=3
    )


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database, migrated; dropped afterwards."""
    try:
        admin = pg_admin()
    except Exception as error:  # noqa: BLE001 - any failure means: no PostgreSQL here
        require(False, f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT} ({type(error).__name__})")
    name = f"nvr_rel_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def camera_yaml(slug: str) -> str:
    return f"- {{name: {slug}, slug: {slug}, kind: test_pattern, source: 160x120, max_fps: 10}}\n"


def test_capture_goes_on_while_the_database_is_down_and_reloads_when_it_returns(pg_database, redis_url):
    direct = {**child_env(redis_url), "DATABASE_URL": f"postgres://postgres@{PG_HOST}:{PG_PORT}/{pg_database}"}
    manage(direct, "migrate", "--noinput", "-v", "0")
    manage(direct, "cameras", "import", "-", stdin=camera_yaml("known"))
    with TcpProxy(PG_PORT, PG_HOST) as proxy:
        env = {**direct, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{proxy.port}/{pg_database}"}
        args = [sys.executable, "manage.py", "capture", "--poll", "0.5", "--lease", "4", "--backoff-cap", "2"]
        supervisor = ManagedProcess("capture-pg", args, env).start()
        try:
            wait_for_status(redis_url, "known", lambda s: s["state"] == "online", 20)
            assert proxy.accepted >= 1

            proxy.cut()
            cut_at = time.monotonic()
            frames = collect_frames(redis_url, "known", OUTAGE)
            wait_until(
                lambda: "camera registry unavailable" in full_log(supervisor),
                5,
                "the supervisor to notice the database is away",
            )
            assert supervisor.proc.poll() is None, supervisor.log()
            manage(direct, "cameras", "import", "-", stdin=camera_yaml("newer"))  # while capture can't see it
            time.sleep(max(cut_at + OUTAGE - time.monotonic(), 0))
            proxy.restore()
            restored = time.monotonic()
            wait_for_status(redis_url, "newer", lambda s: s["state"] == "online", 15)
            picked_up = time.monotonic() - restored
            after = collect_frames(redis_url, "known", 1.0)
        finally:
            supervisor.stop()
    during, later = [f.seq for _, f in frames], [f.seq for _, f in after]
    print(
        f"\ndatabase cut for {OUTAGE:g} s: known camera kept {len(frames) / OUTAGE:.1f} fps (10 fps cap); "
        f"camera added during the outage online {picked_up:.2f} s after the database returned"
    )
    assert len(frames) >= 0.9 * 10 * OUTAGE, len(frames)
    assert all(b == a + 1 for a, b in pairwise(during)), "the known camera's frames skipped"
    assert later and later[0] > during[-1], "the known camera's capture loop restarted"
    assert picked_up < 5.0
    assert "Traceback" not in full_log(supervisor)
