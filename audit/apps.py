from django.apps import AppConfig


class AuditConfig(AppConfig):
    """An append-only, hash-chained record of sign-ins, views, playback, exports and changes.

    Writing is batched on a thread of its own (audit.writer), so a request, a stream or the event
    loop never waits for it; what is recorded is wired in `ready()` (audit.tracking).
    """

    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit import tracking, writer

        tracking.connect()
        writer.flush_at_exit()
