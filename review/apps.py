from django.apps import AppConfig


class ReviewConfig(AppConfig):
    """Playback of recordings: HLS playlists, segment bytes with Range, clips, the timeline pages."""

    name = "review"
    default_auto_field = "django.db.models.BigAutoField"
