"""Child processes of a benchmark run: started with a log file, measured from /proc, stopped by PID.

Every process is started in its own session and recorded in `STARTED`, so a run that
is interrupted still stops everything it started (and nothing else).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.waiting import free_port  # noqa: F401 - one copy, re-exported for callers

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
STARTED: list[Proc] = []


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (uvicorn and gunicorn workers)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            kids = [int(p) for p in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


class Proc:
    """One child process (and its descendants, for CPU and memory)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.name, self.args, self.env, self.port = name, args, env, port
        self.proc: subprocess.Popen | None = None
        VAR.mkdir(parents=True, exist_ok=True)
        self.log_path = VAR / f"{name}.log"

    def start(self, timeout: float = 30.0) -> Proc:
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
        STARTED.append(self)
        if self.port:
            self.wait_for_port(timeout)
        return self

    def wait_for_port(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.log_path}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return [self.pid, *children(self.pid)]

    def cpu_seconds(self) -> float:
        """CPU time of the process and its live descendants."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def rss_bytes(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM, then SIGKILL of its process group after `timeout`."""
        if self.proc is None:
            return
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
        if self in STARTED:
            STARTED.remove(self)


def stop_all() -> None:
    """Stop every process this run started, newest first."""
    for proc in reversed(list(STARTED)):
        try:
            proc.stop(timeout=5)
        except Exception as error:  # noqa: BLE001 - keep stopping the others
            print(f"bench: could not stop {proc.name} ({proc.pid}): {error}", flush=True)


class CpuMeter:
    """CPU time of a set of processes between start() and stop()."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.started = 0.0
        self.wall = 0.0
        self.cpu = 0.0

    def start(self) -> None:
        self.cpu = -self.proc.cpu_seconds()
        self.wall = -time.monotonic()

    def stop(self) -> float:
        self.cpu += self.proc.cpu_seconds()
        self.wall += time.monotonic()
        return self.cpu


def system_cpu() -> tuple[float, float, float]:
    """(busy, total, steal) jiffies of the whole machine, from /proc/stat.

    Steal is time the hypervisor gave our virtual CPUs to someone else: when it is high,
    every design in that run was slowed, and figures from different runs do not compare.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields), fields[7]
