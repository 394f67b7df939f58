from django.apps import AppConfig


class ReviewConfig(AppConfig):
    """Playback of recordings: HLS playlists, segment bytes with Range, clips, the timeline pages."""

    name = "review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from review.views import CLIP_PATH, plan_clip
        from streaming.fastpath import serve_downloads

        # Clips are long downloads: served without Django's request machinery, which holds a thread per request.
        serve_downloads(CLIP_PATH, plan_clip)
