"""The install's export-signing key: Ed25519, generated once, kept in a 0600 file apart from the database.

A database dump or a stolen database does not hold it (NVR_EXPORT_KEY_FILE, default var/keys/, a 0700
folder). Losing it only means new exports are signed by a new key: old exports keep verifying with
the public key they carry, and the Exports page shows the fingerprint of the one in use.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from exports.standalone import verifier


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return _load_or_create(path)
        with os.fdopen(handle, "wb") as file:
            file.write(pem)
        return key
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # a copied key keeps no group or world bits
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"NVR_EXPORT_KEY_FILE ({path}) holds no Ed25519 private key")
    return loaded


@cache
def _key(path: str) -> Ed25519PrivateKey:
    return _load_or_create(Path(path))


def signing_key() -> Ed25519PrivateKey:
    """The install's key (made on first use)."""
    return _key(str(settings.NVR_EXPORT_KEY_FILE))


def public_key_raw() -> bytes:
    return signing_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem() -> bytes:
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def fingerprint() -> str:
    """What the Exports page shows and scripts/verify_export.py prints: SHA-256 of the raw public key."""
    return str(verifier().fingerprint(public_key_raw()))


def sign(data: bytes) -> bytes:
    return signing_key().sign(data)
