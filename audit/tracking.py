"""What is recorded without its code calling us: sign-ins and sign-outs (Django's auth signals) and
changes to cameras, camera groups, users, groups, stream tokens and webhooks (model signals), each
with its fields before and after. Secrets are never copied: a password, secret or token hash shows
only as changed.

Who made a change comes from the request being served (audit.middleware.RequestActor); a change
outside a request (manage.py) is the system's. A change is queued when its transaction commits,
so a rolled-back save records nothing.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import uuid
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import signals as auth_signals
from django.db import models, transaction
from django.db.models import signals

from audit.log import SYSTEM, Actor, Kind, record

# (app label, model) of what is tracked; looked up when apps are ready, so audit imports none of them.
TRACKED = [
    ("cameras", "Camera"),
    ("cameras", "CameraGroup"),
    ("cameras", "GroupMember"),
    ("auth", "Group"),
    ("streaming", "StreamToken"),
    ("events", "Webhook"),
]
IGNORED_FIELDS = {"last_login", "updated_at", "created_at", "date_joined"}  # bookkeeping, not changes
SECRET_MARKERS = ("password", "secret", "key_hash")
SECRET = "(secret)"

# The request being served (set by audit.middleware.RequestActor): who changes what.
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("nvr_audit_request", default=None)
# How the request being served signs in ("http-basic" on streams), for the sign-in signals.
sign_in_method: contextvars.ContextVar[str] = contextvars.ContextVar("nvr_sign_in_method", default="")


def address_of(request: Any) -> str:
    return str(getattr(request, "META", {}).get("REMOTE_ADDR", "")) if request is not None else ""


def _method(request: Any) -> str:
    """How a sign-in was made: the session's allauth records (password, mfa, passkey, socialaccount)."""
    if method := sign_in_method.get():
        return method
    session = getattr(request, "session", None)
    records = session.get("account_authentication_methods", []) if session is not None else []
    steps = []
    for step in records:
        name = step.get("method", "")
        if name == "mfa":
            name = "passkey" if step.get("passwordless") else step.get("type", "mfa")
        elif name == "socialaccount":
            name = "oidc"
        steps.append(name)
    if steps:
        return "+".join(dict.fromkeys(steps))
    path = getattr(request, "path", "")
    return "password (admin)" if path.startswith("/admin/") else "password"


def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    actor = Actor.of(user, address=address_of(request))
    record(Kind.SIGN_IN, actor=actor, detail={"method": _method(request)})


def _sign_in_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username") or credentials.get("login") or "")
    actor = Actor(username=username, address=address_of(request))
    record(Kind.SIGN_IN_FAILED, actor=actor, detail={"method": _method(request)})


def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(Kind.SIGN_OUT, actor=Actor.of(user, address=address_of(request)))


def _value(field: models.Field, value: Any) -> Any:
    if any(marker in field.name for marker in SECRET_MARKERS):
        return SECRET if value else ""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | dict):
        return value
    return str(value)


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The instance's concrete fields as JSON values (foreign keys as ids, secrets masked)."""
    return {
        field.attname: _value(field, getattr(instance, field.attname))
        for field in instance._meta.concrete_fields
        if field.name not in IGNORED_FIELDS
    }


def _camera_of(instance: models.Model) -> tuple[int, str] | None:
    if instance._meta.label == "cameras.Camera":
        return (instance.pk, instance.slug)  # type: ignore[attr-defined]
    camera_id = getattr(instance, "camera_id", None)
    if camera_id is not None:
        return (camera_id, "")
    return None


def _record_change(instance: models.Model, action: str, changes: dict[str, Any]) -> None:
    request = current_request.get()
    actor = Actor.of(getattr(request, "user", None), address=address_of(request)) if request is not None else SYSTEM
    detail = {"model": instance._meta.label, "object_id": instance.pk, "object": str(instance)[:200], "action": action}
    detail["changes"] = changes
    camera = _camera_of(instance)
    transaction.on_commit(lambda: record(Kind.CHANGE, actor=actor, camera=camera, detail=detail))


def _before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.pk is None:
        instance._audit_before = None  # type: ignore[attr-defined]
        return
    old = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(old) if old is not None else None  # type: ignore[attr-defined]


def _after_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    after = snapshot(instance)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        _record_change(instance, "created", {name: [None, value] for name, value in after.items()})
        return
    changes = {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}
    if changes:
        _record_change(instance, "changed", changes)


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    _record_change(instance, "deleted", {name: [value, None] for name, value in snapshot(instance).items()})


def _m2m_changed(
    sender: Any, instance: models.Model, action: str, reverse: bool, model: Any, pk_set: Any, **kwargs: Any
) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    field = next(
        (f.name for f in instance._meta.many_to_many if getattr(f.remote_field, "through", None) is sender),
        sender._meta.model_name,
    )
    label = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    names = [str(obj) for obj in model._default_manager.filter(pk__in=pk_set or [])][:100]
    _record_change(instance, "changed", {field: {label: names}})


def tracked_models() -> list[type[models.Model]]:
    found = [apps.get_model(settings.AUTH_USER_MODEL)]
    for app_label, name in TRACKED:
        try:
            found.append(apps.get_model(app_label, name))
        except LookupError:
            continue  # an app not installed here
    return found


def connect() -> None:
    """Wire every signal above (AuditConfig.ready)."""
    auth_signals.user_logged_in.connect(_signed_in, dispatch_uid="audit-sign-in")
    auth_signals.user_login_failed.connect(_sign_in_failed, dispatch_uid="audit-sign-in-failed")
    auth_signals.user_logged_out.connect(_signed_out, dispatch_uid="audit-sign-out")
    for model in tracked_models():
        uid = f"audit-{model._meta.label}"
        signals.pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}-pre")
        signals.post_save.connect(_after_save, sender=model, dispatch_uid=f"{uid}-post")
        signals.post_delete.connect(_after_delete, sender=model, dispatch_uid=f"{uid}-delete")
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            signals.m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"{uid}-{field.name}")
