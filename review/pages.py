"""`/review/?cameras=a,b,c&t=<time>`: up to 16 cameras played in step, on the grid layout."""

from __future__ import annotations

import math

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from cameras.selectors import visible_cameras
from streaming.errors import refusal_response

MAX_TILES = 16


@require_GET
@login_required
def review(request: HttpRequest) -> HttpResponse:
    """The chosen cameras the user may see (all of theirs when none are named), up to MAX_TILES."""
    wanted = [s for s in dict.fromkeys(p.strip() for p in request.GET.get("cameras", "").split(",")) if s]
    if len(wanted) > MAX_TILES:
        return refusal_response(BadRequest(f"at most {MAX_TILES} cameras can be reviewed together"))
    cameras = list(visible_cameras(request.user))
    if wanted:
        order = {slug: i for i, slug in enumerate(wanted)}
        cameras = sorted((c for c in cameras if c.slug in order), key=lambda c: order[c.slug])
    cameras = cameras[:MAX_TILES]
    side = max(1, math.ceil(math.sqrt(len(cameras))))
    spans = " ".join(reverse("api-camera-recordings", args=[c.slug]) for c in cameras)
    preview = reverse("camera-preview", args=[cameras[0].slug]) if cameras else ""
    return render(
        request,
        "review/review.html",
        {"cameras": cameras, "layout": str(side), "spans_urls": spans, "preview_url": preview},
    )
