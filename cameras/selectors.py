"""Which cameras a user may see: superusers all, others those assigned to them or their groups."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from cameras.models import Camera


def visible_cameras(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Camera]:
    """Cameras `user` may watch, in grid order."""
    cameras = Camera.objects.order_by("position", "name")
    if not user or not user.is_authenticated or not user.is_active:
        return cameras.none()
    if getattr(user, "is_superuser", False):
        return cameras
    return cameras.filter(Q(allowed_users=user) | Q(allowed_groups__user=user)).distinct()
