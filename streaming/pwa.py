"""The installable app: its manifest, its service worker and the page shown offline.

All three are public and hold nothing of anyone (a browser fetches the manifest without cookies, and a
service worker must be reachable to be updated). The service worker (templates/pwa/sw.js) caches the
page shell only: the offline page and the static files it lists (SHELL), by exact URL. It never caches
anything else: no video, stream, playlist, snapshot, API answer or page with someone's data, so a
shared phone keeps no footage. It also shows Web Push notifications (events.push) and opens a tapped
one's event. Installed, the app starts at the grid (`/`), full screen.
"""

from __future__ import annotations

import hashlib
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.views.decorators.http import require_GET

OFFLINE_URL = "/offline/"
SHELL_STATIC = ("nvr/nvr.css", "nvr/app.js", "nvr/icon.svg", "nvr/icons/icon-192.png", "nvr/icons/icon-512.png")


def shell() -> list[str]:
    """The URLs the service worker caches: the offline page and its static files (hashed names in production)."""
    return [OFFLINE_URL, *(static(name) for name in SHELL_STATIC)]


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    """`/manifest.webmanifest`: what installing the app needs (Android, desktop; iOS reads the page's meta tags)."""
    icons = [
        {"src": static(f"nvr/icons/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any"}
        for size in (192, 512)
    ] + [
        {
            "src": static(f"nvr/icons/maskable-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "maskable",
        }
        for size in (192, 512)
    ]
    data = {
        "name": "nvr",
        "short_name": "nvr",
        "description": "Live cameras, recordings and events",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "display_override": ["fullscreen", "standalone"],
        "orientation": "any",
        "background_color": "#0f1115",
        "theme_color": "#0f1115",
        "icons": icons,
    }
    response = JsonResponse(data, content_type="application/manifest+json")
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """`/sw.js`: at the root so that its scope is the whole site; its cache is named after its shell."""
    urls = shell()
    version = hashlib.sha256(json.dumps(urls).encode()).hexdigest()[:12]
    body = render_to_string(
        "pwa/sw.js", {"shell": json.dumps(urls), "offline": json.dumps(OFFLINE_URL), "version": version}
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # browsers check for a new worker on every visit
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    """`/offline/`: the shell shown when the app opens without a network (nobody's data in it)."""
    return render(request, "pwa/offline.html")
