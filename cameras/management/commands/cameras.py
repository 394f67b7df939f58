"""`manage.py cameras import FILE|export|rekey`: bulk configuration, and password key rotation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cameras.services import (
    CameraFileError,
    export_cameras,
    import_cameras,
    parse_camera_file,
    reencrypt_passwords,
)
from encryption.fields import PasswordKeyError


class Command(BaseCommand):
    help = "Import cameras from a YAML/JSON file (create or update by slug; all or nothing) or export them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="create or update cameras from FILE (- for stdin)")
        imp.add_argument("file")
        exp = sub.add_parser("export", help="print every camera (passwords left out)")
        exp.add_argument("--format", choices=["yaml", "json"], default="yaml")
        sub.add_parser("rekey", help="encrypt every stored password with the first FIELD_ENCRYPTION_KEY")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self.stdout.write(export_cameras(options["format"]), ending="")
            return
        if options["action"] == "rekey":
            try:
                count = reencrypt_passwords()
            except PasswordKeyError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(self.style.SUCCESS(f"re-encrypted: {count} passwords with the first key"))
            return
        path = options["file"]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from None
        try:
            result = import_cameras(parse_camera_file(text))
        except CameraFileError as error:
            raise CommandError(f"nothing imported: {error}") from None
        self.stdout.write(self.style.SUCCESS(f"imported: {result.created} created, {result.updated} updated"))
