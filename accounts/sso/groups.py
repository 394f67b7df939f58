"""The identity provider's groups decide a user's Django groups, and so their cameras (Camera.allowed_groups).

At every sign-in through the provider, the user's groups become the Django groups named in the
claim NVR_OIDC_GROUPS_CLAIM (a list of names, or one name; a dotted path reaches a nested claim, such
as Keycloak's `realm_access.roles`). Names with no Django group are ignored: an administrator makes
the groups that matter and gives them cameras. Without the setting, groups are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group

log = logging.getLogger(__name__)


def claim(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted `path` in the claims, or None."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def group_names(extra_data: dict[str, Any], path: str) -> set[str] | None:
    """Group names from the ID token and userinfo claims (None: the claim is in neither)."""
    found: set[str] | None = None
    for source in ("id_token", "userinfo"):
        value = claim(extra_data.get(source) or {}, path)
        if value is None:
            continue
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        found = (found or set()) | {str(name) for name in names}
    return found


def sync_groups(user: Any, extra_data: dict[str, Any]) -> None:
    """Make the user's groups the Django groups the provider names (user must be saved)."""
    path = settings.NVR_OIDC_GROUPS_CLAIM
    if not path:
        return
    names = group_names(extra_data, path)
    if names is None:
        log.warning("sso: the provider sent no %r claim; %s keeps no group", path, user.get_username())
        names = set()
    groups = list(Group.objects.filter(name__in=names))
    user.groups.set(groups)
    ignored = names - {group.name for group in groups}
    if ignored:
        log.info("sso: %d group name(s) from the provider have no Django group", len(ignored))
