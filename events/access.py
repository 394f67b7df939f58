"""Camera access for what events holds (webhooks): the registry's one rule, reached through the model events names.

events sits below cameras (docs/design.md, invariant 12): its models name the camera model lazily
("cameras.Camera") and it never imports cameras. The access rule lives on that model's manager
(`Camera.objects.visible_to`, which cameras.selectors.visible_cameras is too), so this module applies
the very same rule as streams, exports and the admin, without an import that would run upward.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import QuerySet


def camera_model() -> Any:
    """The camera registry's model ("cameras.Camera"), resolved when asked."""
    return apps.get_model("cameras", "Camera")


def visible_cameras(user: Any) -> QuerySet:
    """The cameras `user` may see (cameras.selectors.visible_cameras, by the same rule)."""
    return camera_model().objects.visible_to(user)


def sees_every_camera(user: Any) -> bool:
    """Whether `user` sees every camera there is: only they may hold a webhook for "every camera"."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return True
    return not camera_model().objects.exclude(pk__in=visible_cameras(user).values("pk")).exists()
