from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Motion events: detection in the capture worker, the event index, its pages, API and notifications."""

    name = "events"
    default_auto_field = "django.db.models.BigAutoField"
