"""`manage.py recordings rebuild`: restore the index of segments and events from the footage (recordings.rebuild)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from recordings.rebuild import rebuild


class Command(BaseCommand):
    help = "Recordings housekeeping. rebuild: restore the index (segments, local and in the bucket, and events) from the footage."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("rebuild", help="index every segment and event record found in the store and the bucket")

    def handle(self, *args: object, **options: object) -> None:
        result = rebuild()
        self.stdout.write(f"Rebuilt the recordings index. {result}")
