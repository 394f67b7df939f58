from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """Signed exports: a span of one or several cameras as a ZIP of clips, a manifest and its Ed25519 signature."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "exports"
