"""`manage.py nvr_setup`: first admin and demo cameras on an empty installation, and a private SQLite file (idempotent)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cameras.services import ensure_demo_cameras, ensure_first_admin


class Command(BaseCommand):
    help = "Create the first admin (NVR_ADMIN_USER/NVR_ADMIN_PASSWORD) and demo cameras when none exist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-demo", action="store_true", help="do not create demo cameras")

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("NVR_ADMIN_USER") or "admin"
        generated = ensure_first_admin(username, os.environ.get("NVR_ADMIN_PASSWORD", ""))
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin user '{username}' with password: {generated}\n"
                    "  (shown once; change it in the admin, or set NVR_ADMIN_PASSWORD before the first run)"
                )
            )
        if not options["no_demo"]:
            created = ensure_demo_cameras()
            if created:
                self.stdout.write(f"Created {created} demo cameras (test patterns).")
        for path in private_database_files():
            self.stdout.write(
                f"Made {path} readable by its owner only (mode 600): it holds password hashes and secrets."
            )


def private_database_files() -> list[Path]:
    """Take group and other access away from the SQLite database and its journals; the files changed.

    A database made by an earlier `make run` (or by hand) was world-readable (0644): password hashes,
    encrypted camera passwords and webhook secrets, and the sessions.
    """
    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("sqlite3"):
        return []
    changed = []
    main = Path(database["NAME"])
    for path in (main, *(main.with_name(main.name + suffix) for suffix in ("-journal", "-wal", "-shm"))):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            path.chmod(mode & 0o700)
            changed.append(path)
    return changed
