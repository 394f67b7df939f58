"""Which cameras (and camera groups) a user may see: superusers all, others those assigned to them or their groups."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from cameras.models import Camera, CameraGroup


def visible_cameras(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Camera]:
    """Cameras `user` may watch, in grid order (the rule: Camera.objects.visible_to)."""
    return Camera.objects.visible_to(user).order_by("position", "name")


def visible_groups(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[CameraGroup]:
    """Camera groups `user` may pick: superusers all, others those given to them or their user groups."""
    groups = CameraGroup.objects.order_by("name")
    if not user or not user.is_authenticated or not user.is_active:
        return groups.none()
    if getattr(user, "is_superuser", False):
        return groups
    return groups.filter(Q(allowed_users=user) | Q(allowed_groups__user=user)).distinct()


def group_cameras(group: CameraGroup, user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Camera]:
    """The group's cameras that `user` may see, in the group's order (a group never grants a camera)."""
    return visible_cameras(user).filter(memberships__group=group).order_by("memberships__position", "memberships__id")
