"""Stream tokens: revocable credentials for other systems (ffmpeg, VLC, Home Assistant).

Only a SHA-256 of the token is stored; the token itself is shown once, when created.
A token grants viewing only: of one camera, or of what its user may see.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

TOKEN_PREFIX = "nvr_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


class StreamToken(models.Model):
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'Home Assistant'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stream_tokens",
        help_text="The owner: the token grants at most what this user may see, and dies with them.",
    )
    camera = models.ForeignKey(
        "cameras.Camera",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stream_tokens",
        help_text="Grants viewing of this camera only.",
    )
    group = models.ForeignKey(
        "cameras.CameraGroup",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stream_tokens",
        help_text="Grants viewing of this camera group's cameras only: a wall screen's kiosk URL.",
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Every token has an owner: it covers at most what its owner may see and dies with them,
            # so a token without one (which once meant "every camera") cannot exist.
            models.CheckConstraint(condition=models.Q(user__isnull=False), name="stream_token_has_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self) -> None:
        if not self.user_id:
            raise ValidationError({"user": "Every token has an owner: choose the user it acts for."})

    def set_token(self, token: str) -> None:
        self.key_hash = hash_token(token)
        self.prefix = token[: len(TOKEN_PREFIX) + 4]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, *, name: str, user: Any = None, camera: Any = None) -> tuple[StreamToken, str]:
        """Create a token and return it with its secret, which is never stored or shown again."""
        token = new_token()
        row = cls(name=name, user=user, camera=camera)
        row.set_token(token)
        row.full_clean()
        row.save()
        return row, token


class DashboardPreference(models.Model):
    """How a user's dashboard lays out cameras, per camera group (none: all their cameras).

    Stored per user, so every device (a desk, a wall screen) shows the same.
    """

    class Layout(models.TextChoices):
        AUTO = "auto", "Auto"
        ONE = "1", "1"
        TWO = "2", "2 × 2"
        THREE = "3", "3 × 3"
        FOUR = "4", "4 × 4"
        FIVE = "5", "5 × 5"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboards")
    group = models.ForeignKey(
        "cameras.CameraGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="preferences"
    )
    layout = models.CharField(max_length=4, choices=Layout.choices, default=Layout.AUTO)
    hide_off = models.BooleanField(default=False, help_text="Leave out cameras that are turned off.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=models.Q(group=None), name="one_dashboard_per_user"),
            models.UniqueConstraint(fields=["user", "group"], name="one_dashboard_per_user_and_group"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_layout_display()}"

    @property
    def per_page(self) -> int | None:
        """Tiles per page (n × n), or None: every camera on one page."""
        return None if self.layout == self.Layout.AUTO else int(self.layout) ** 2
