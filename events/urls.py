"""Event URLs (public, stable): the list page, the JSON API, and each event's pictures."""

from django.urls import path

from events import views

urlpatterns = [
    path("events/", views.events_page, name="events"),
    path("events/<int:event_id>/snapshot.jpg", views.snapshot, name="event-snapshot"),
    path("events/<int:event_id>/thumbnail.jpg", views.thumbnail, name="event-thumbnail"),
    path("api/events", views.api_events, name="api-events"),
]
