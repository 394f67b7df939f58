"""`/push/`: each user subscribes each browser or phone to Web Push and chooses what reaches it.

The page (static/nvr/push.js) asks the browser for a push subscription with the install's public VAPID
key and posts it here with the user's choices: cameras (only those the user may see), kinds of event and
quiet hours. The endpoint must pass the outbound policy for push (https, no link-local or metadata
address) before it is saved. A user sees, changes and removes only their own subscriptions. Sending is
events.push's, from the capture workers.
"""

from __future__ import annotations

import datetime as dt
import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cameras.selectors import visible_cameras
from events.models import PushKind, PushSubscription
from events.vapid import public_key
from outbound import Purpose, Refused, check

MAX_BODY = 8192  # bytes: a subscription and its choices are a few hundred


def _time(value: object, name: str) -> dt.time | None:
    if value in (None, ""):
        return None
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise BadRequest(f"{name} must be a time such as 22:00") from None


def _choices(request: HttpRequest, data: dict) -> tuple[list, list[str], dt.time | None, dt.time | None]:
    """The cameras (models), kinds and quiet hours asked for; a camera the user may not see is refused."""
    slugs = data.get("cameras") or []
    if not isinstance(slugs, list) or not all(isinstance(slug, str) for slug in slugs):
        raise BadRequest("cameras must be a list of camera slugs")
    cameras = list(visible_cameras(request.user).filter(slug__in=slugs))
    if len(cameras) != len(set(slugs)):
        raise BadRequest("unknown camera")  # one the user may not see looks like an unknown one
    kinds = data.get("kinds", PushKind.values)
    if not isinstance(kinds, list) or not kinds or not set(kinds) <= set(PushKind.values):
        raise BadRequest(f"kinds must be a non-empty list of {', '.join(PushKind.values)}")
    return (
        cameras,
        sorted(set(kinds)),
        _time(data.get("quiet_from"), "quiet_from"),
        _time(data.get("quiet_until"), "quiet_until"),
    )


@require_GET
@login_required
def push_page(request: HttpRequest) -> HttpResponse:
    """The user's subscriptions and the form that subscribes this browser."""
    mine = request.user.push_subscriptions.all()  # type: ignore[union-attr]
    subscriptions = mine.prefetch_related("cameras").order_by("created")
    return render(
        request,
        "push/push.html",
        {
            "public_key": public_key(),
            "cameras": visible_cameras(request.user),
            "kinds": PushKind.choices,
            "subscriptions": subscriptions,
        },
    )


@require_POST
@login_required
def subscribe(request: HttpRequest) -> JsonResponse:
    """`POST /push/subscriptions` (JSON: the browser's PushSubscription, and cameras, kinds, quiet_from,
    quiet_until): saved for this user, replacing an earlier one of the same endpoint."""
    if len(request.body) > MAX_BODY:
        raise BadRequest("too large")
    try:
        data = json.loads(request.body)
        endpoint, keys = data["endpoint"], data["keys"]
        p256dh, auth = str(keys["p256dh"]), str(keys["auth"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "expected a push subscription: endpoint and keys (p256dh, auth)"}, status=400)
    try:
        check(str(endpoint), Purpose.PUSH)
    except Refused as refusal:
        return JsonResponse({"error": f"this push service is not allowed: {refusal}"}, status=400)
    try:
        cameras, kinds, quiet_from, quiet_until = _choices(request, data)
    except BadRequest as error:
        return JsonResponse({"error": str(error)}, status=400)
    name = str(data.get("name") or request.headers.get("User-Agent", ""))[:100]
    with transaction.atomic():
        row, _ = PushSubscription.objects.update_or_create(
            endpoint=str(endpoint),
            defaults={
                "user": request.user,
                "name": name,
                "p256dh": p256dh[:200],
                "auth": auth[:200],
                "kinds": kinds,
                "quiet_from": quiet_from,
                "quiet_until": quiet_until,
            },
        )
        row.cameras.set(cameras)
    return JsonResponse({"id": row.pk, "cameras": [c.slug for c in cameras], "kinds": kinds}, status=201)


@require_POST
@login_required
def unsubscribe(request: HttpRequest, subscription_id: int) -> HttpResponse:
    """`POST /push/subscriptions/<id>/delete`: one of the user's own (another's is a 404)."""
    get_object_or_404(PushSubscription, pk=subscription_id, user=request.user).delete()
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"deleted": subscription_id})
    return redirect("push")
