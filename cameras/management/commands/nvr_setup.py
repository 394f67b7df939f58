"""`manage.py nvr_setup`: first admin and demo cameras on an empty installation (idempotent)."""

from __future__ import annotations

import os
from typing import Any

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
