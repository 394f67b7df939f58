"""`manage.py capture`: run the capture supervisor until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cameras.supervisor import Supervisor
from framebus import SyncBus


class Command(BaseCommand):
    help = "Capture every enabled camera to Redis; several may run at once (they share cameras by lease)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=settings.NVR_SUPERVISOR_POLL_SECONDS,
            help="seconds between registry checks (default %(default)s)",
        )
        parser.add_argument(
            "--lease",
            type=float,
            default=settings.NVR_LEASE_SECONDS,
            help="lease length in seconds: how soon another supervisor takes over (default %(default)s)",
        )
        parser.add_argument(
            "--backoff-cap",
            type=float,
            default=30.0,
            help="longest wait between reconnects in seconds (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bus = SyncBus(settings.REDIS_URL, namespace=settings.NVR_REDIS_NAMESPACE)
        supervisor = Supervisor(
            bus, poll_seconds=options["poll"], lease_seconds=options["lease"], backoff_cap=options["backoff_cap"]
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: supervisor.stop())
        supervisor.run()
