"""The seed design "revisited": one background thread per camera, an event per client.

    gunicorn -k gevent -w 1 --worker-connections 10000 -b 127.0.0.1:8300 bench.seed.revisited:app

`BaseCamera` and `CameraEvent` as in the article (a background thread reads the
camera's `frames()` and sets every client's event; a client waits on its own event
and takes the newest frame), kept per camera instead of per class so several cameras
can be served. gunicorn's gevent worker monkey-patches threads and sockets into
greenlets.

It must do the same work per delivered frame as the seed's own code, which `make bench`
runs beside it (design `seed-anchor`) and compares: the same waits (no timeout: the
timer an earlier version armed per wait cost 1.17x the original's CPU per frame at 500
viewers, 2026-12-03), one part built per client by concatenation. The one difference is the part's
headers: ours carry Content-Length and X-Timestamp, which the load generator reads to
measure latency (a few hundred bytes formatted per part).
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

try:
    from greenlet import getcurrent as get_ident
except ImportError:  # pragma: no cover
    from threading import get_ident

from flask import Flask, Response

from bench.seed.feed import frames, part

app = Flask(__name__)


class CameraEvent:
    """An Event-like object that signals all active clients when a new frame is available."""

    def __init__(self) -> None:
        self.events: dict = {}

    def wait(self) -> bool:
        ident = get_ident()
        if ident not in self.events:
            self.events[ident] = [threading.Event(), time.time()]
        return self.events[ident][0].wait()  # no timeout, as the original: a timer per wait is not its work

    def set(self) -> None:
        now = time.time()
        remove = None
        for ident, event in self.events.items():
            if not event[0].is_set():
                event[0].set()
                event[1] = now
            elif now - event[1] > 5:
                remove = ident  # that client has gone
        if remove:
            del self.events[remove]

    def clear(self) -> None:
        self.events[get_ident()][0].clear()


class BaseCamera:
    cameras: ClassVar[dict[str, BaseCamera]] = {}

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.thread: threading.Thread | None = None
        self.frame: tuple[bytes, float] | None = None
        self.last_access = 0.0
        self.event = CameraEvent()

    @classmethod
    def get(cls, slug: str) -> BaseCamera:
        camera = cls.cameras.get(slug)
        if camera is None:
            camera = cls.cameras[slug] = cls(slug)
        if camera.thread is None:
            camera.last_access = time.time()
            camera.thread = threading.Thread(target=camera._thread, daemon=True)
            camera.thread.start()
        return camera

    def get_frame(self) -> tuple[bytes, float] | None:
        self.last_access = time.time()
        self.event.wait()
        self.event.clear()
        return self.frame

    def _thread(self) -> None:
        frames_iterator = frames(self.slug)
        for frame in frames_iterator:
            self.frame = frame
            self.event.set()
            time.sleep(0)
            if time.time() - self.last_access > 10:
                frames_iterator.close()
                break
        self.thread = None


def gen(camera: BaseCamera):
    while True:
        frame = camera.get_frame()
        if frame is not None:
            yield part(*frame)


@app.route("/cameras/<slug>/stream.mjpg")
def video_feed(slug: str):
    return Response(gen(BaseCamera.get(slug)), mimetype="multipart/x-mixed-replace; boundary=frame")
