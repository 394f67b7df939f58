"""What a benchmark run stands on: Redis, a throwaway database, capture, and the servers under test.

Everything listens on free loopback ports and is stopped by PID (bench.procs). The
database is a fresh SQLite file under var/bench/ with one superuser, its stream token
and the cameras a scenario needs; the capture supervisor (`manage.py capture`) reads
it like production does. Web servers under test:

- `nvr`: scripts/serve-web.sh (uvicorn + uvloop + nvr.server.HttpProtocol), as production;
- (`nvr-lean`, the prototype of the stream fast path, measured in earlier runs, is now nvr itself: streaming/fastpath.py);
- `nvr-daphne`: the same app under daphne (for the stalled-viewer comparison);
- `floor`: bench.floor, no framework;
- `seed-gevent`: bench.seed.revisited under gunicorn -k gevent;
- `seed-flask`: bench.seed.original under Flask's threaded server;
- `seed-anchor`: the seed's own code, unchanged (../shared/anchors/flask-video-streaming, or
  $NVR_SEED_ANCHOR), under the same gunicorn -k gevent, cycling frames captured from the
  bench camera. It serves one camera, so it runs only where there is one; it is the check
  that `seed-gevent` does the same work per frame as the original.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import ROOT, VAR, Proc, free_port

DESIGNS = ("floor", "nvr", "seed-gevent", "seed-flask", "seed-anchor", "nvr-daphne")
NAMESPACE = "bench"  # the bench's Redis namespace (framebus.names), for nvr's processes and the bench's own readers
SEED_ANCHOR = Path(os.environ.get("NVR_SEED_ANCHOR", ROOT.parent / "shared" / "anchors" / "flask-video-streaming"))
ANCHOR_FRAMES = 45  # three seconds of the bench camera, cycled by the anchor's bench camera
LABELS = {
    "floor": "floor (bare asyncio)",
    "nvr": "nvr (uvicorn)",
    "nvr-lean": "nvr, lean stream path (prototype)",
    "seed-gevent": "seed revisited (gunicorn+gevent)",
    "seed-flask": "seed original (Flask threaded)",
    "seed-anchor": "seed's own code (gunicorn+gevent)",
    "nvr-daphne": "nvr under daphne",
}


@dataclass(frozen=True)
class CameraSpec:
    slug: str
    kind: str = "test_pattern"
    source: str = "640x480"
    max_fps: int = 15
    record: str = "off"  # the fan-out benchmarks measure live capture alone; bench recording turns it on
    motion: bool = False  # likewise motion detection: bench events turns it on
    sub_source: str = ""  # the camera's sub stream (bench substreams)


class Watching(threading.Thread):
    """Keeps every camera of the stack wanted at its own size, as a web process with viewers does.

    Capture makes live frames only for what some web process watches (cameras.live). The designs
    measured beside nvr (floor, seeds) and the bench's own frame counters read frames from Redis
    without nvr's web side, so the stack asks for them on their behalf while `enabled`.
    """

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True, name="bench-watching")
        self.stack = stack
        self.enabled = True
        self.width = 0  # the size watched: the camera's own, or a grid tile's
        self.stopping = threading.Event()

    def run(self) -> None:
        from framebus import BUS_ERRORS, SyncBus

        bus = SyncBus(self.stack.redis.url, namespace=NAMESPACE)
        try:
            while not self.stopping.wait(1.0):
                if not self.enabled:
                    continue
                try:
                    for camera in list(self.stack.cameras):
                        bus.want_width(camera.slug, self.width)
                except BUS_ERRORS:
                    pass  # Redis restarting: the next round asks again
        finally:
            bus.close()


class Stack:
    """Redis + database + capture for one run; servers come and go per measurement."""

    def __init__(self) -> None:
        from tests.support.servers import RedisServer

        VAR.mkdir(parents=True, exist_ok=True)
        self.db_path = VAR / f"bench-{os.getpid()}.sqlite3"
        self.redis = RedisServer()
        self.capture: Proc | None = None
        self.token = ""
        self.cameras: list[CameraSpec] = []
        self.watching = Watching(self)

    # Setup -------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="nvr.settings",
            DATABASE_URL=f"sqlite:///{self.db_path}",
            REDIS_URL=self.redis.url,
            NVR_ALLOW_DEV_SECRET="1",
            NVR_REDIS_NAMESPACE=NAMESPACE,
            DEBUG="0",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    def start(self) -> Stack:
        self.redis.start()
        for key, value in self.env().items():
            if key != "PYTHONPATH":
                os.environ[key] = value
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        self._make_token()
        self.watching.start()
        return self

    def _make_token(self) -> None:
        from django.contrib.auth import get_user_model

        from streaming.models import StreamToken

        admin = get_user_model().objects.create_superuser("bench", password=None)
        _, self.token = StreamToken.issue(name="bench", user=admin)

    def set_cameras(self, cameras: list[CameraSpec]) -> None:
        """Make the registry hold exactly these cameras (capture picks the change up at its next poll)."""
        from django.db import close_old_connections

        from cameras.models import Camera

        close_old_connections()
        Camera.objects.exclude(slug__in=[c.slug for c in cameras]).delete()
        for position, spec in enumerate(cameras):
            Camera.objects.update_or_create(
                slug=spec.slug,
                defaults={
                    "name": spec.slug,
                    "kind": spec.kind,
                    "source": spec.source,
                    "max_fps": spec.max_fps,
                    "record": spec.record,
                    "motion": spec.motion,
                    "sub_source": spec.sub_source,
                    "enabled": True,
                    "position": position,
                },
            )
        self.cameras = list(cameras)

    def start_capture(self, name: str = "capture", **env: str) -> Proc:
        """`manage.py capture`; give it the run's RECORDINGS_DIR where rows are indexed: its reconcile at
        start removes every row whose file is not in the store it knows."""
        self.stop_capture()
        args = [sys.executable, "manage.py", "capture", "--poll", "0.5", "--lease", "4", "--backoff-cap", "2"]
        self.capture = Proc(name, args, self.env(**env)).start()
        return self.capture

    def stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            self.capture = None

    def wait_online(self, timeout: float = 30.0) -> dict[str, dict]:
        """Wait until every camera publishes (status online with fps); return the statuses."""
        from framebus import SyncBus
        from framebus.status import CameraStatus

        bus = SyncBus(self.redis.url, namespace=NAMESPACE)
        slugs = [c.slug for c in self.cameras]
        deadline = time.monotonic() + timeout
        try:
            while True:
                statuses = {slug: CameraStatus.from_fields(raw) for slug, raw in bus.statuses(slugs).items()}
                if all(s.is_live and s.fps > 0 for s in statuses.values()):
                    return {slug: status.to_fields() for slug, status in statuses.items()}
                if time.monotonic() > deadline:
                    bad = {k: v.state.value for k, v in statuses.items() if not v.is_live}
                    log = self.capture.log() if self.capture else ""
                    raise RuntimeError(f"cameras not online within {timeout}s: {bad}\n{log}")
                time.sleep(0.2)
        finally:
            bus.close()

    def frame_size(self, slug: str) -> int:
        from framebus import SyncBus

        bus = SyncBus(self.redis.url, namespace=NAMESPACE)
        try:
            frame = bus.latest_frame(slug)
            return len(frame.jpeg) if frame else 0
        finally:
            bus.close()

    def stop(self) -> None:
        self.stop_capture()
        self.watching.stopping.set()
        self.redis.stop()
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(f"{self.db_path}{suffix}")
            except OSError:
                pass

    # Servers under test --------------------------------------------------------------
    def stream_path(self, slug: str, design: str = "nvr") -> str:
        if design == "seed-anchor":
            return "/video_feed"  # its one camera
        return f"/cameras/{slug}/stream.mjpg?token={self.token}"

    def anchor_frames(self, slug: str) -> str:
        """ANCHOR_FRAMES consecutive frames of `slug` as JPEG files; the glob the anchor's camera cycles."""
        from framebus import SyncBus

        folder = VAR / "anchor-frames"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jpg"):
            old.unlink()
        bus = SyncBus(self.redis.url, namespace=NAMESPACE)
        seen: set[int] = set()
        deadline = time.monotonic() + 30
        try:
            while len(seen) < ANCHOR_FRAMES and time.monotonic() < deadline:
                frame = bus.latest_frame(slug)
                if frame is not None and frame.seq not in seen:
                    seen.add(frame.seq)
                    (folder / f"{frame.seq:012d}.jpg").write_bytes(frame.jpeg)
                time.sleep(0.01)
        finally:
            bus.close()
        if len(seen) < ANCHOR_FRAMES:
            raise RuntimeError(f"only {len(seen)} frames of {slug} for the seed's own code")
        return str(folder / "*.jpg")

    def web(self, design: str, *, workers: int = 1, port: int = 0, root: Path = ROOT, **env: str) -> Proc:
        """A server of `design` on `port` (default: a free one), listening when returned.

        `root`: another copy of nvr to serve (bench.long_requests runs the code before a change beside it).
        """
        port = port or free_port()
        py = sys.executable
        if design == "nvr":
            args = [str(root / "scripts" / "serve-web.sh")]
            env = {"PY": py, "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers), **env}
            if root != ROOT:
                env["PYTHONPATH"] = str(root)
        elif design == "nvr-daphne":
            args = [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "nvr.asgi:application"]
        elif design == "floor":
            args = [py, "-m", "bench.floor", "--port", str(port), "--redis", self.redis.url]
        elif design == "seed-gevent":
            args = [
                py,
                "-m",
                "gunicorn",
                "-k",
                "gevent",
                "-w",
                str(workers),
                "--worker-connections",
                "10000",
                "--backlog",
                "4096",
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "bench.seed.revisited:app",
            ]
        elif design == "seed-anchor":
            if not (SEED_ANCHOR / "app.py").exists():
                raise FileNotFoundError(f"the seed's own code is not at {SEED_ANCHOR} (set NVR_SEED_ANCHOR)")
            if len(self.cameras) != 1:
                raise ValueError("the seed's own code serves one camera")
            args = [py, "-m", "gunicorn", "-k", "gevent", "-w", str(workers), "--worker-connections", "10000"]
            args += ["--backlog", "4096", "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
            args += ["--chdir", str(SEED_ANCHOR), "app:app"]
            env = {"CAMERA": "bench", "BENCH_FRAMES": self.anchor_frames(self.cameras[0].slug), **env}
        elif design == "seed-flask":
            if workers != 1:
                raise ValueError("Flask's threaded server runs one process")
            args = [py, "-m", "bench.seed.original", "--port", str(port)]
        else:
            raise ValueError(design)
        proc = Proc(f"web-{design}", args, self.env(**env), port)
        proc.start(timeout=40)
        return proc
