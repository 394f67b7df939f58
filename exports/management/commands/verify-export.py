"""`manage.py verify-export FILE [--key PEM]`: check a signed export (scripts/verify_export.py does the same anywhere)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.standalone import verifier


class Command(BaseCommand):
    help = "Check an export's signature and every file's SHA-256; name whatever fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", help="the export's ZIP file")
        parser.add_argument("--key", help="the recorder's public key (PEM); default: the one in the manifest")

    def handle(self, *args: object, **options: object) -> None:
        script = verifier()
        pem = None
        if options["key"]:
            with open(str(options["key"]), "rb") as file:
                pem = file.read()
        try:
            verdict = script.verify(str(options["export"]), public_key_pem=pem)
        except script.NotAnExport as error:
            raise CommandError(str(error)) from None
        for line in verdict.lines:
            self.stdout.write(line)
        if not verdict.ok:
            raise CommandError(f"FAILED: {', '.join(verdict.failed)}")
        self.stdout.write(
            f"VERIFIED: every file is exactly what the recorder signed (key fingerprint {verdict.fingerprint})."
        )
