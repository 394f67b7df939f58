"""A real S3-speaking server for the tests: moto's standalone server, a child process on a loopback port.

The tier is tested over HTTP, as it meets MinIO or AWS: never moto's in-process patch. restart()
keeps the port (an outage), but moto keeps its buckets in memory: a restarted server is empty, which
the tests that stop it expect (they check what is uploaded after the outage).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.servers import _ChildServer, _stop_process
from tests.support.waiting import free_port

ACCESS_KEY, SECRET_KEY = "nvr-test-access", "nvr-test-secret-never-logged"


class MotoServer(_ChildServer):
    """`moto_server` (moto[server]) under this virtualenv's Python, stopped by PID."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, bucket: str = "nvr-test", prefix: str = "site") -> str:
        """The RECORDINGS_S3_URL of a bucket on this server."""
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}&region=us-east-1"

    def start(self, timeout: float = 20.0) -> MotoServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        executable = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(executable), "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited ({self.proc.returncode}) on port {self.port}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not listen on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        _stop_process(self.proc, timeout)
        self.proc = None
