"""Review URLs (public, stable): playlists, segments, clips and recorded spans per camera, and events."""

from django.urls import path

from review import event_views, pages, push_views, views

urlpatterns = [
    path("cameras/<slug:slug>/recordings.m3u8", views.playlist, name="camera-recordings"),
    path(
        "cameras/<slug:slug>/recordings/<int:segment_id>/<str:part>.mp4",
        views.segment,
        name="camera-recording-segment",
    ),
    path("cameras/<slug:slug>/clip.mp4", views.clip, name="camera-clip"),
    path("cameras/<slug:slug>/preview.jpg", views.preview, name="camera-preview"),
    path("api/cameras/<slug:slug>/recordings", views.recordings_api, name="api-camera-recordings"),
    path("review/", pages.review, name="review"),
    # Events (motion): the list page, the JSON API, each event's pictures.
    path("events/", event_views.events_page, name="events"),
    path("events/<int:event_id>/snapshot.jpg", event_views.snapshot, name="event-snapshot"),
    path("events/<int:event_id>/thumbnail.jpg", event_views.thumbnail, name="event-thumbnail"),
    path("api/events", event_views.api_events, name="api-events"),
    # Web Push: each user's browsers and phones, and what reaches each.
    path("push/", push_views.push_page, name="push"),
    path("push/subscriptions", push_views.subscribe, name="push-subscribe"),
    path("push/subscriptions/<int:subscription_id>/delete", push_views.unsubscribe, name="push-unsubscribe"),
]
