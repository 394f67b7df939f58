"""Real host names with the answers a test needs: a child process whose /etc/hosts is the test's own file.

The suite sends traffic only to loopback, yet the outbound policy must be shown refusing a *name*
that resolves to a link-local or metadata address, and refusing it at connect time when the name
changes its answer after it was saved (DNS rebinding). No public DNS is reachable from CI, and a
resolver function pointed at a fixed answer would be a mock. So the child runs in its own user and
mount namespace (`unshare`, util-linux) with a file bind-mounted over /etc/hosts: glibc's resolver
(what Python, FFmpeg and paho use) answers from it, and rewriting the file changes the answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT


def namespaces_available() -> tuple[bool, str]:
    if not shutil.which("unshare"):
        return False, "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, text=True, timeout=10
    )
    if probe.returncode != 0:
        return False, f"user and mount namespaces are not available: {probe.stderr.strip()}"
    return True, ""


def run_with_hosts(hosts: Path, script: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run `script` (Python, with the project on its path) where /etc/hosts is `hosts`; its stdout.

    The script may rewrite `hosts` (its path is in NVR_TEST_HOSTS) to change what names resolve to.
    """
    child_env = {**os.environ, **(env or {}), "NVR_TEST_HOSTS": str(hosts), "PYTHONPATH": str(ROOT)}
    command = f'mount --bind "{hosts}" /etc/hosts && exec "{sys.executable}" -c "$NVR_TEST_SCRIPT"'
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
        env={**child_env, "NVR_TEST_SCRIPT": script},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"the script failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout
