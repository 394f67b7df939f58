"""Review URLs (public, stable): playlists, segments, clips and recorded spans per camera."""

from django.urls import path

from review import pages, views

urlpatterns = [
    path("cameras/<slug:slug>/recordings.m3u8", views.playlist, name="camera-recordings"),
    path(
        "cameras/<slug:slug>/recordings/<int:segment_id>/<str:part>.mp4",
        views.segment,
        name="camera-recording-segment",
    ),
    path("cameras/<slug:slug>/clip.mp4", views.clip, name="camera-clip"),
    path("api/cameras/<slug:slug>/recordings", views.recordings_api, name="api-camera-recordings"),
    path("review/", pages.review, name="review"),
]
