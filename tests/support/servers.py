"""Real servers for the tests: redis-server, a GStreamer RTSP camera, a silent TCP "camera".

Nothing is mocked: capture and fan-out code is tested against the programs it meets in
production. Every server listens on 127.0.0.1 on a free port, is stopped by PID (never by
name), and can be restarted on the same port so a test can simulate an outage.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.waiting import free_port

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")


def _stop_process(proc: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM, then SIGKILL the process group after `timeout`; always reap."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()


class _ChildServer:
    """What Redis and RTSP test servers share: a child process, restart on the same port, `with`."""

    proc: subprocess.Popen | None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self, down_for: float = 0.0) -> Self:
        """Stop, stay down `down_for` seconds, start again on the same port (an outage)."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        return self.start()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class RedisServer(_ChildServer):
    """redis-server without persistence on a loopback port that survives restart()."""

    def __init__(self, port: int | None = None, executable: str = "redis-server") -> None:
        self.port = port or free_port()
        self.executable = executable
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start and wait until PING answers; a no-op when already running."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        # Output to a temporary file, not a pipe nobody reads (a full pipe would block Redis).
        log = tempfile.TemporaryFile()  # noqa: SIM115 (outlives this block when start fails)
        self.proc = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")[-5000:]
                log.close()
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}) on port {self.port}:\n{output}")
            if self._answering_pid() == self.proc.pid:  # not another Redis already on that port
                log.close()  # the child keeps its own descriptor
                return self
            time.sleep(0.05)
        log.close()
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING on port {self.port} within {timeout}s")

    def _answering_pid(self) -> int | None:
        """process_id from INFO server of whatever Redis listens on our port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"INFO server\r\n")
                data = b""
                while b"process_id:" not in data or not data.split(b"process_id:", 1)[1].count(b"\r\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        return None
                    data += chunk
                return int(data.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0])
        except (OSError, ValueError):
            return None

    def ping(self) -> bool:
        """PING over a raw socket (no redis-py needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (SIGKILL after `timeout`) and wait: the port is free on return."""
        _stop_process(self.proc, timeout)
        self.proc = None


class MosquittoServer(_ChildServer):
    """Debian's mosquitto broker on a loopback port (anonymous, no persistence), for the MQTT tests."""

    def __init__(self, port: int | None = None, executable: str = "mosquitto") -> None:
        self.port = port or free_port()
        self.executable = shutil.which(executable) or f"/usr/sbin/{executable}"
        self.proc: subprocess.Popen | None = None
        self._config: Path | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> MosquittoServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        handle, name = tempfile.mkstemp(prefix="nvr-mosquitto-", suffix=".conf")
        os.write(handle, f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n".encode())
        os.close(handle)
        self._config = Path(name)
        self.proc = subprocess.Popen(
            [self.executable, "-c", name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}) on port {self.port}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        _stop_process(self.proc, timeout)
        self.proc = None
        if self._config is not None:
            self._config.unlink(missing_ok=True)


def have_mosquitto() -> tuple[bool, str]:
    found = shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")
    return bool(found), "mosquitto (Debian package mosquitto; .ci/run installs it)"


class RtspServer(_ChildServer):
    """tests/support/rtsp_server.py under /usr/bin/python3 (where GstRtspServer is importable).

    With port=None the RTSP server binds port 0 and reports the port it got in its READY
    line, so there is no free-port race; restart() reuses that port.
    """

    def __init__(
        self,
        port: int | None = None,
        mounts: tuple[str, ...] | list[str] = ("/test",),
        width: int = 640,
        height: int = 480,
        fps: int = 15,
        user: str | None = None,
        password: str | None = None,
        pattern: str = "ball",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.pattern = pattern
        self.mounts = ["/" + m.lstrip("/") for m in mounts]  # "/path[:WIDTHxHEIGHT][:aac|pcmu|pcma]"
        self.env = env  # added to this process's environment (e.g. libfaketime: a camera whose clock is off)
        self.width, self.height, self.fps = width, height, fps
        self.user, self.password = user, password
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self._stderr_tail: deque[str] = deque(maxlen=50)

    def args(self) -> list[str]:
        args = [
            SYSTEM_PYTHON,
            str(RTSP_SCRIPT),
            "--port",
            str(self.port or 0),
            "--width",
            str(self.width),
            "--height",
            str(self.height),
            "--fps",
            str(self.fps),
            "--exit-on-stdin-eof",
            "--pattern",
            self.pattern,
        ]
        for mount in self.mounts:
            args += ["--mount", mount]
        if self.user is not None:
            args += ["--user", self.user, "--password", self.password or ""]
        return args

    def start(self, timeout: float = 20.0) -> RtspServer:
        """Start and wait for the READY line; raise with the server's stderr if it never comes."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        began = time.monotonic()
        # stdin is a pipe we never write to: when this process dies, the server sees EOF and exits.
        self.proc = subprocess.Popen(
            self.args(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, **self.env} if self.env else None,
        )
        # Always drain stderr (GStreamer warnings must never fill the pipe and block the server);
        # keep the tail for error messages.
        self._stderr_tail = deque(maxlen=50)
        stderr_reader = threading.Thread(target=self._read_stderr, args=(self.proc, self._stderr_tail), daemon=True)
        stderr_reader.start()
        line = self._read_ready(timeout)
        if not line.startswith("READY "):
            returncode = self.proc.poll()
            self.kill()
            stderr_reader.join(2)
            why = f"exited with code {returncode}" if returncode is not None else f"not READY within {timeout}s"
            raise RuntimeError(
                f"RTSP server {why} ({' '.join(self.args())}); stdout={line!r}\nstderr:\n" + "".join(self._stderr_tail)
            )
        self.port = int(line.rsplit(":", 1)[1])
        self.startup_seconds = time.monotonic() - began
        return self

    def _read_ready(self, timeout: float) -> str:
        """The first stdout line, read in a thread so the wait is bounded."""
        result: list[str] = []
        stdout = self.proc.stdout
        reader = threading.Thread(
            target=lambda: result.append(stdout.readline().decode(errors="replace").strip()), daemon=True
        )
        reader.start()
        reader.join(timeout)
        return result[0] if result else ""

    @staticmethod
    def _read_stderr(proc: subprocess.Popen, tail: deque[str]) -> None:
        try:
            for raw in proc.stderr:
                tail.append(raw.decode(errors="replace"))
        except (OSError, ValueError):
            pass

    @property
    def stderr(self) -> str:
        """The last lines the server wrote to stderr (GStreamer warnings, tracebacks)."""
        return "".join(self._stderr_tail)

    def url(self, mount: str = "/test", user: str | None = None, password: str | None = None) -> str:
        """rtsp://[user:password@]127.0.0.1:PORT/mount (credentials only when given; a mount's options left out)."""
        auth = f"{user}:{password}@" if user is not None else ""
        mount = mount.split(":", 1)[0]
        return f"rtsp://{auth}127.0.0.1:{self.port}/{mount.lstrip('/')}"

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, SIGKILL after `timeout`; the port is free on return."""
        _stop_process(self.proc, timeout)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the camera vanishes without an RTSP TEARDOWN."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        _stop_process(self.proc, 5)
        self.proc = None


class SilentTcpServer:
    """Accepts TCP connections and never sends a byte: a camera that hangs after connect."""

    def __init__(self, port: int | None = None) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port or 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"silent-tcp-{self.port}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)  # held open, never written to

    @property
    def accepted(self) -> int:
        return len(self.connections)

    def url(self, scheme: str = "rtsp", path: str = "/test") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(2)
        self._sock.close()
        for conn in self.connections:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


_RTSP_CHECK = """
import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ('videotestsrc', 'x264enc', 'rtph264pay') if Gst.ElementFactory.find(e) is None]
print(' '.join(missing))
"""

_rtsp_check_result: tuple[bool, str] | None = None


def have_rtsp_server() -> tuple[bool, str]:
    """(True, "") when rtsp_server.py can run here, else (False, what is missing and how to get it)."""
    global _rtsp_check_result
    if _rtsp_check_result is not None:
        return _rtsp_check_result
    hint = "run scripts/install-system-deps.sh"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        result = (False, f"{SYSTEM_PYTHON} not found (Debian's python3 runs the GStreamer RTSP server); {hint}")
    else:
        try:
            proc = subprocess.run(
                [SYSTEM_PYTHON, "-c", _RTSP_CHECK], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            result = (False, f"cannot run {SYSTEM_PYTHON}: {exc}")
        else:
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                result = (
                    False,
                    (
                        f"{SYSTEM_PYTHON} cannot import gi/GstRtspServer ({last}): need python3-gi, "
                        f"gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp; {hint}"
                    ),
                )
            elif proc.stdout.strip():
                result = (
                    False,
                    (
                        f"GStreamer elements missing: {proc.stdout.strip()} (x264enc is in "
                        f"gstreamer1.0-plugins-ugly, rtph264pay in -good, videotestsrc in -base); {hint}"
                    ),
                )
            else:
                result = (True, "")
    _rtsp_check_result = result
    return result
