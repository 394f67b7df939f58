"""Child processes of a benchmark run: the tests' process helper, plus a registry of what the run started.

Every process is started in its own session by tests.support.processes.ManagedProcess (the one
process helper of the tests and the benchmark: log file, /proc readings, stop by PID) and
recorded in `STARTED`, so a run that is interrupted still stops everything it started.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import ManagedProcess, descendants, pid_cpu_seconds, pid_rss_bytes
from tests.support.waiting import free_port  # noqa: F401 - one copy, re-exported for callers

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"
STARTED: list[Proc] = []

# The names the benchmark has always used for the /proc readings.
children = descendants
cpu_seconds = pid_cpu_seconds
rss_bytes = pid_rss_bytes


class Proc(ManagedProcess):
    """One child process of the run (and its descendants, for CPU and memory), logged under var/bench/."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None, port: int | None = None) -> None:
        super().__init__(name, args, env, port, log_path=VAR / f"{name}.log")

    def start(self, timeout: float = 30.0) -> Proc:
        STARTED.append(self)
        super().start(timeout)
        return self

    def log(self) -> str:
        return super().log()[-3000:]

    def stop(self, timeout: float = 8.0) -> int | None:
        """SIGTERM, then SIGKILL of its process group after `timeout`."""
        code = super().stop(timeout)
        if self in STARTED:
            STARTED.remove(self)
        return code


def stop_all() -> None:
    """Stop every process this run started, newest first."""
    for proc in reversed(list(STARTED)):
        try:
            proc.stop(timeout=5)
        except Exception as error:  # noqa: BLE001 - keep stopping the others
            print(f"bench: could not stop {proc.name} ({proc.pid}): {error}", flush=True)


def system_cpu() -> tuple[float, float, float]:
    """(busy, total, steal) jiffies of the whole machine, from /proc/stat.

    Steal is time the hypervisor gave our virtual CPUs to someone else: when it is high,
    every design in that run was slowed, and figures from different runs do not compare.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields), fields[7]
