"""`make run` keeps its secrets to its user (issue #23, finding 6).

Before, it wrote `.env` (SECRET_KEY, FIELD_ENCRYPTION_KEY) and the SQLite database (password hashes,
encrypted camera passwords, webhook secrets, sessions) readable by every user of the machine (0644).
Here scripts/run.sh runs in a copy of the project, as a newcomer would run it, against the test Redis.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.processes import ROOT
from tests.support.waiting import free_port

pytestmark = pytest.mark.slow


def project_copy(target: Path) -> Path:
    """The project's files (tracked, and new ones not ignored) in `target`, with this checkout's .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
            (target / name).chmod(source.stat().st_mode)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def run_until_serving(project: Path, env: dict[str, str]) -> str:
    """scripts/run.sh until it says where it serves; then Ctrl-C, as a user would; its output."""
    process = subprocess.Popen(
        ["scripts/run.sh"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "nvr: open http" in line:
                serving.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert serving.wait(180), "make run did not start:\n" + "".join(lines)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    time.sleep(0.2)
    return "".join(lines)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_make_run_writes_env_and_database_for_its_user_only(tmp_path, redis_server):
    project = project_copy(tmp_path / "nvr")
    (project / "db.sqlite3").touch(mode=0o644)  # a database made world-readable by an earlier version
    os.chmod(project / "db.sqlite3", 0o644)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "REDIS_URL": redis_server.url,
        "PORT": str(free_port()),
        "HOST": "127.0.0.1",
        "NVR_ADMIN_PASSWORD": "pw-first-admin-1",
        "WEB_CONCURRENCY": "1",
        "NVR_REDIS_NAMESPACE": "make-run-test",  # beside the suite's own keys on the test Redis
    }
    out = run_until_serving(project, env)
    assert "wrote .env" in out
    assert (mode(project / ".env"), mode(project / "db.sqlite3")) == ("0o600", "0o600"), out
    assert "db.sqlite3 readable by its owner only" in out

    os.chmod(project / ".env", 0o644)  # an .env made by an earlier version: the next run tightens it
    again = run_until_serving(project, env)
    assert mode(project / ".env") == "0o600" and "made it private" in again
    assert mode(project / "db.sqlite3") == "0o600"
