#!/usr/bin/env python3
"""Check an nvr export anywhere: python3 verify_export.py EXPORT.zip [--key recorder-public-key.pem]

Needs only Python 3.10+ and the `cryptography` package (pip install cryptography); nothing of nvr.

An export is a ZIP holding the clips, `manifest.json` (the cameras, the span, the SHA-256 and size of
every file, the recorder's identity and public key, who exported it and when) and `manifest.sig`, an
Ed25519 signature over manifest.json's exact bytes, made with the recorder's key. This checks:

1. the signature, with the recorder's public key: the one given with --key (the recorder shows it on
   its Exports page; pin it to know *which* recorder made the export), else the one in the manifest
   (which proves the export is unchanged since it was signed, not who signed it; its fingerprint is printed);
2. every file the manifest lists: present, its size and its SHA-256;
3. no file in the ZIP that the manifest does not list.

It prints one line per file and a verdict, and exits 0 when everything holds, 1 when anything fails
(naming what), 2 when the file is not an export at all.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass, field

MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
FORMAT = "nvr-export/1"
CHUNK = 1 << 20


@dataclass
class Verdict:
    """What was checked: lines for people, and the names that failed."""

    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def passed(self, name: str, why: str) -> None:
        self.lines.append(f"OK      {name}: {why}")

    def fail(self, name: str, why: str) -> None:
        self.failed.append(name)
        self.lines.append(f"FAILED  {name}: {why}")


class NotAnExport(ValueError):
    """The file is not a ZIP, or holds no manifest or signature."""


def fingerprint(public_key: bytes) -> str:
    """The SHA-256 of the raw 32-byte Ed25519 public key, in hex groups (what the recorder's page shows)."""
    digest = hashlib.sha256(public_key).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _raw_public_key(pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pem)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _digest(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with archive.open(name) as member:  # zipfile checks each member's CRC-32 at its end (BadZipFile)
        while chunk := member.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def verify(path: str, *, public_key_pem: bytes | None = None) -> Verdict:
    """Check the export at `path` (see the module's docstring); raises NotAnExport."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    verdict = Verdict()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise NotAnExport(f"{path} is not a readable ZIP file ({error})") from None
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            raise NotAnExport(f"{path} holds no {MANIFEST} and {SIGNATURE}: not an nvr export")
        try:
            manifest_bytes = archive.read(MANIFEST)
            signature = base64.b64decode(archive.read(SIGNATURE).strip(), validate=True)
            manifest = json.loads(manifest_bytes)
            embedded = base64.b64decode(manifest["recorder"]["public_key"], validate=True)
        except (zipfile.BadZipFile, ValueError, KeyError, TypeError):
            verdict.fail(MANIFEST, "unreadable: changed or damaged (the signature cannot be checked)")
            return verdict
        if manifest.get("format") != FORMAT:
            verdict.fail(MANIFEST, f"format {manifest.get('format')!r}, this script reads {FORMAT}")
            return verdict
        key = _raw_public_key(public_key_pem) if public_key_pem else embedded
        verdict.fingerprint = fingerprint(key)
        if public_key_pem and key != embedded:
            verdict.fail(MANIFEST, "signed for another recorder than the key given with --key")
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, manifest_bytes)
            source = "the key given" if public_key_pem else "the key in the manifest"
            verdict.passed(MANIFEST, f"signature valid ({source}, fingerprint {verdict.fingerprint})")
        except InvalidSignature:
            verdict.fail(MANIFEST, "the signature does not match: the manifest was changed, or signed by another key")
            return verdict
        listed = {entry["name"]: entry for entry in manifest.get("files", [])}
        for name, entry in sorted(listed.items()):
            if name not in names:
                verdict.fail(name, "missing from the export")
                continue
            try:
                sha, size = _digest(archive, name)
            except zipfile.BadZipFile:
                verdict.fail(name, "changed (its bytes fail the ZIP's CRC-32)")
                continue
            if size != entry["bytes"] or sha != entry["sha256"]:
                verdict.fail(name, f"changed (SHA-256 {sha[:16]}…, the manifest says {entry['sha256'][:16]}…)")
            else:
                verdict.passed(name, f"{size} bytes, SHA-256 matches")
        for name in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
            verdict.fail(name, "not listed in the manifest (added)")
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check an nvr export (signature, every file's SHA-256).")
    parser.add_argument("export", help="the export's ZIP file")
    parser.add_argument("--key", help="the recorder's public key (PEM), from its Exports page")
    args = parser.parse_args(argv)
    pem = None
    if args.key:
        with open(args.key, "rb") as file:
            pem = file.read()
    try:
        verdict = verify(args.export, public_key_pem=pem)
    except NotAnExport as error:
        print(f"NOT AN EXPORT  {error}")
        return 2
    for line in verdict.lines:
        print(line)
    if verdict.ok:
        print(f"VERIFIED: every file is exactly what the recorder signed (key fingerprint {verdict.fingerprint}).")
        return 0
    print(f"FAILED: {', '.join(verdict.failed)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
