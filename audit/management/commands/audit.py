"""`manage.py audit verify|prune`: check that no audit entry was edited or removed; apply retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import services


class Command(BaseCommand):
    help = "Check the audit trail's hash chain (verify), or remove entries older than AUDIT_RETENTION_DAYS (prune)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="walk the chain; exit status 1 at the first edited or removed entry")
        prune = sub.add_parser("prune", help="remove entries older than AUDIT_RETENTION_DAYS (or --days)")
        prune.add_argument("--days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "prune":
            removed = services.prune(options["days"])
            self.stdout.write(f"removed {removed} audit entries")
            return
        checked, broken = services.verify()
        if broken is not None:
            raise CommandError(f"audit chain broken at {broken} ({checked} entries before it are intact)")
        self.stdout.write(f"audit chain intact: {checked} entries")
