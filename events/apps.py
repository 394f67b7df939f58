from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Motion events: detection in the capture worker, the event index, retention and notifications.

    Its pages, API and event admin are in review, which stands on cameras and events alike; the
    webhooks' admin is here (events.admin), under camera access through events.access.
    """

    name = "events"
    default_auto_field = "django.db.models.BigAutoField"
