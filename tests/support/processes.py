"""Our own processes started by tests: the web server (uvicorn or daphne) and the capture supervisor.

Each runs against the test database and the test Redis, logs to a file under var/,
and is stopped by PID. /proc readings (RSS, CPU time) are here for the tests that
measure memory and cost.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from tests.support.waiting import free_port

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "test-logs"


def database_url() -> str:
    """The URL of the database the tests use, for processes started by the tests."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    user = settings.get("USER") or ""
    auth = f"{user}:{settings.get('PASSWORD') or ''}@" if user else ""
    return f"postgres://{auth}{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{settings['NAME']}"


def child_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a process the tests start: the test settings, database and Redis; `extra` wins."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="nvr.test_settings",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        NVR_ALLOW_DEV_SECRET="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)  # a test may point at other settings
    return env


class ManagedProcess:
    """A child process with a log file, stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None,
        port: int | None = None,
        *,
        log_path: Path | None = None,
    ) -> None:
        self.name, self.args, self.env, self.port = name, args, env, port
        self.proc: subprocess.Popen | None = None
        self.log_path = log_path or LOG_DIR / f"{name}-{os.getpid()}-{port or int(time.time() * 1000)}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 30.0) -> ManagedProcess:
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(self.args)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.port:
            self._wait_for_port(timeout)
        return self

    def _wait_for_port(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout}s:\n{self.log()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def signal(self, signum: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, timeout: float = 8.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no cleanup at all (a crashed host)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def pids(self) -> list[int]:
        """The process and its live descendants (uvicorn and gunicorn workers)."""
        return [self.pid, *descendants(self.pid)]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> int:
        """Resident memory of the process and its descendants."""
        return sum(pid_rss_bytes(pid) for pid in self.pids())

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and its live descendants so far."""
        return sum(pid_cpu_seconds(pid) for pid in self.pids())

    def threads(self) -> int:
        """Threads of the process and its live descendants."""
        return sum(pid_threads(pid) for pid in self.pids())

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc (children of every thread: Chromium forks from several)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def pid_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_threads(pid: int) -> int:
    """Threads of one process (0 when it is gone)."""
    try:
        return len(list(Path(f"/proc/{pid}/task").iterdir()))
    except OSError:
        return 0


def pid_rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def web_server(redis_url: str, *, server: str = "uvicorn", port: int | None = None, **env: str) -> ManagedProcess:
    """The ASGI app under `server` (uvicorn as in production, or daphne for comparison)."""
    port = port or free_port()
    if server == "uvicorn":
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "nvr.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "nvr.server:HttpProtocol",
            "--no-access-log",
            # As production (scripts/serve-web.sh): open streams end 3 s into a stop, not at the 8 s SIGKILL.
            "--timeout-graceful-shutdown",
            "3",
            "--ws-per-message-deflate",  # as production: the live H.264 socket's video is not compressed
            "false",
        ]
    elif server == "daphne":
        args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "nvr.asgi:application"]
    else:
        raise ValueError(server)
    return ManagedProcess(f"web-{server}", args, child_env(redis_url, **env), port)


def capture_supervisor(
    redis_url: str,
    *,
    poll: float = 0.5,
    lease: float = 4.0,
    backoff_cap: float = 2.0,
    name: str = "capture",
    **env: str,
) -> ManagedProcess:
    args = [
        sys.executable,
        "manage.py",
        "capture",
        "--poll",
        str(poll),
        "--lease",
        str(lease),
        "--backoff-cap",
        str(backoff_cap),
    ]
    return ManagedProcess(name, args, child_env(redis_url, **env))
