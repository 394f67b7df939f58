"""The VAPID key pair that signs every Web Push request (RFC 8292): made at first use, kept in a 0600 file.

The private key never leaves its file (NVR_PUSH_KEY_PATH): not in HTML, the API, logs or errors. The
public key is what a browser subscribes with (`applicationServerKey`) and is fine to show. Web processes
and capture workers on one host share the file; whoever is first makes it, atomically (a hard link that
fails when another process was first, whose key is then read), so both always sign with the same key.
docker compose makes it with the other secrets (scripts/compose-secrets.sh).
"""

from __future__ import annotations

import base64
import functools
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from py_vapid import Vapid02

KEY_MODE = 0o600


def key_file() -> Path:
    return Path(settings.NVR_PUSH_KEY_PATH)


def make_key_file(path: Path) -> None:
    """Write a new private key to `path` (0600) unless a key is there already."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    vapid = Vapid02()
    vapid.generate_keys()
    handle, staged = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")  # mkstemp: mode 0600 from the start
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(vapid.private_pem())
        try:
            os.link(staged, path)  # atomic and exclusive: the first process's key wins
        except FileExistsError:
            pass
    finally:
        os.unlink(staged)


@functools.cache
def _vapid(path: str) -> Vapid02:
    file = Path(path)
    make_key_file(file)
    if file.stat().st_mode & 0o077:
        file.chmod(KEY_MODE)  # an older or copied file: private again
    return Vapid02.from_file(str(file))


def vapid() -> Vapid02:
    """The install's key pair (made on first use)."""
    return _vapid(str(key_file()))


def public_key() -> str:
    """The public key as browsers take it: the uncompressed point, base64url without padding."""
    raw = vapid().public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
