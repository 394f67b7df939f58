from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    """The recorder's index and store: segments on disk, their rows, retention and reconciliation."""

    name = "recordings"
    default_auto_field = "django.db.models.BigAutoField"
