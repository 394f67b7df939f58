from django.apps import AppConfig
from django.db.models.signals import pre_delete


class RecordingsConfig(AppConfig):
    """The recorder's index and store: segments and archives, their files, retention and reconciliation."""

    name = "recordings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recordings.footage import camera_deleted

        # A camera deleted anywhere keeps whatever footage it still has as an archive (recordings.footage);
        # the camera model is named lazily, as recordings sits below cameras.
        pre_delete.connect(camera_deleted, sender="cameras.Camera", dispatch_uid="recordings-camera-deleted")
