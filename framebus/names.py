"""Every Redis key and channel name of one install, under that install's namespace.

Redis pub/sub ignores the database number: a subscriber on database 5 hears a publisher on
database 13. With fixed names, two installs on one Redis server (a shared company Redis, the test
suite beside `make run`) played each other's cameras: a slug `front` in one showed the other's
`front` (issue #23). So every name starts with `nvr:<namespace>:`, frames, status, size requests, viewer counts,
leases, heartbeats and Django's cache (the login throttle's counts) alike, and this module is the
only place that builds them.

The namespace is NVR_REDIS_NAMESPACE, by default `install_namespace(SECRET_KEY)`: a name unique to
the install (make run and docker compose generate its SECRET_KEY) and identical for its web and
capture processes (they read the same key), with nothing to configure and nothing of the key given
away (12 hex digits of an HMAC). A database URL would not do: every docker compose install has the
same one. Changing SECRET_KEY moves the install to a new namespace: restart web and capture
together (both restart to read a new key anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import re

NAMESPACE = re.compile(r"[A-Za-z0-9_-]{1,40}")  # no ':' (the separator), no glob characters (psubscribe)


def install_namespace(secret_key: str) -> str:
    """The default namespace of the install whose SECRET_KEY is `secret_key`."""
    return hmac.new(secret_key.encode(), b"nvr redis namespace", hashlib.sha256).hexdigest()[:12]


class Names:
    """The names of one namespace: `nvr:<namespace>:frames:<slug>:<width>` and the rest."""

    def __init__(self, namespace: str) -> None:
        if not NAMESPACE.fullmatch(namespace):
            raise ValueError("a Redis namespace is 1-40 letters, digits, '-' or '_'")
        self.namespace = namespace
        self.root = f"nvr:{namespace}"
        self.status_channel = f"{self.root}:status"  # every camera's status changes
        self.supervisors = f"{self.root}:supervisors"  # capture supervisors' heartbeats
        self.keepalive = f"{self.root}:keepalive"  # subscribed to open a connection with nothing else wanted
        self.cache_prefix = f"{self.root}:cache"  # Django's cache (KEY_PREFIX): the login throttle's counts

    def frames(self, slug: str, width: int = 0) -> str:
        """Channel of a camera's frames; width 0 is the camera's own size."""
        return f"{self.root}:frames:{slug}:{width}"

    def all_frames(self, width: int = 0) -> str:
        """A pattern (PSUBSCRIBE) matching every camera's frames at `width`."""
        return f"{self.root}:frames:*:{width}"

    def slug_of(self, channel: str) -> str:
        """The camera of a frames channel (as a pattern subscription reports it)."""
        return channel.removeprefix(f"{self.root}:frames:").rsplit(":", 1)[0]

    def latest(self, slug: str, width: int = 0) -> str:
        """Key of a camera's newest frame (snapshots, a new viewer's first picture)."""
        return f"{self.root}:latest:{slug}:{width}"

    def status(self, slug: str) -> str:
        return f"{self.root}:status:{slug}"

    def want(self, slug: str) -> str:
        """Size variants web processes asked for (a sorted set: width -> until)."""
        return f"{self.root}:want:{slug}"

    def viewers(self, slug: str) -> str:
        """A hash of one camera's live viewers: one field per web process, "<count> <expires>"."""
        return f"{self.root}:viewers:{slug}"

    def live(self, slug: str, stream: str = "") -> str:
        """Channel of a camera's H.264 live stream: fMP4 init segments and fragments (framebus.LiveChunk).

        `stream` names a second relay of the camera (framebus.LiveStream: "sub", its sub stream); "" the main one."""
        return f"{self.root}:live:{slug}" + (f":{stream}" if stream else "")

    def live_gop(self, slug: str, stream: str = "") -> str:
        """A list: the camera's init segment, then its fragments since the last keyframe (a new viewer's start)."""
        return f"{self.root}:livegop:{slug}" + (f":{stream}" if stream else "")

    def want_live(self, slug: str, stream: str = "") -> str:
        """Set (with an expiry) while some web process watches the camera's H.264 live stream."""
        return f"{self.root}:wantlive:{slug}" + (f":{stream}" if stream else "")

    def lease(self, slug: str) -> str:
        """Who captures the camera (or another lease holder's name, e.g. the recordings keeper)."""
        return f"{self.root}:lease:{slug}"

    @property
    def crops(self) -> str:
        """The list of crops waiting for the object detector (framebus.crops), newest on the left."""
        return f"{self.root}:detect:crops"

    @property
    def crops_dropped(self) -> str:
        """How many crops the bounded list dropped, since Redis started (a counter)."""
        return f"{self.root}:detect:dropped"

    @property
    def detector_status(self) -> str:
        """The detector process's status (framebus.crops.DetectorStatus as JSON, with a short TTL)."""
        return f"{self.root}:detect:status"

    def objects(self, slug: str) -> str:
        """The labels of a camera's open object events, as the detector last wrote them (short TTL)."""
        return f"{self.root}:detect:objects:{slug}"
