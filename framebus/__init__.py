"""The frame bus: the only module that knows Redis keys and channels (named in framebus.names).

Capture workers publish each JPEG once (latest-frame key with a short TTL plus one
PUBLISH); a web process holds one subscription per watched camera and size, however
many viewers it serves. Status, size requests, capture leases and supervisor
heartbeats live here too, so both sides share one vocabulary and neither imports
the other. Every client is made for one install's namespace (`namespace=`, the setting NVR_REDIS_NAMESPACE):
installs sharing a Redis server never hear each other. Imports nothing of ours (see docs/design.md, invariant 7).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import struct
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from framebus.backoff import Backoff
from framebus.crops import CROP_QUEUE_LIMIT, DETECTOR_STATUS_TTL, OBJECTS_TTL, Crop, DetectorStatus
from framebus.names import Names
from framebus.status import FRAME_TTL, STATUS_TTL, VIEWERS_STALE_AFTER

log = logging.getLogger(__name__)

FRAME_TTL_MS = FRAME_TTL * 1000  # storage lifetimes: framebus.status decides what counts as live
STATUS_TTL_S = STATUS_TTL
WANT_TTL_S = 10  # a size variant is encoded while some web process asked for it recently
VIEWERS_TTL_S = 30  # storage lifetime of a camera's viewer counts (framebus.status.VIEWERS_STALE_AFTER decides)
_HEADER = struct.Struct("!4sQdHH")
_MAGIC = b"NVR1"

# Commands are retried on a fresh connection when the pooled one turns out dead. redis-py 8's
# from_url gives connections no retries at all: after a Redis restart the first command of each
# process used the stale pooled socket and failed (a 503 for /healthz and for a snapshot, seen with
# `docker-compose restart redis`). Three retries, 50 ms to 0.5 s apart, cover a restart's refusal.
_RETRY_ERRORS = [redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError]


def client_options() -> dict:
    """Connection options every bus client uses (sync and asyncio alike)."""
    return {
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        "health_check_interval": 30,
        "retry_on_error": list(_RETRY_ERRORS),
    }


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=0.5)


# Longest wait between attempts to reach Redis again: frames resume at most this long after it returns.
RECONNECT_MAX_DELAY = 2.0


def _reconnect_backoff() -> Backoff:
    """A subscription's reconnect schedule: 0.2 s doubling to RECONNECT_MAX_DELAY (web processes retry apart)."""
    return Backoff(0.2, RECONNECT_MAX_DELAY)


# Pub/sub connections speak RESP2. redis-py 8 defaults to RESP3, where every published message
# is a push reply handed to `_AsyncHiredisParser.handle_pubsub_push_response`, which runs
# `logger.debug("Push response: " + str(response))` before the level check: a repr of each
# 18 KB JPEG, about 200-250 µs of CPU per message (measured: a bare subscriber of 16 cameras
# at 15 fps took 485 µs/message under RESP3, 250 µs under RESP2). RESP2 delivers the same
# [b"message", channel, data] arrays without that step; nothing else changes for a subscriber.
PUBSUB_PROTOCOL = 2

# A frame subscription is checked by a PING when it has carried nothing for HEALTH_CHECK_S, and
# dropped (then reopened) when nothing at all came back for HEALTH_DEADLINE_S: a half-open
# connection (a vanished Redis host, a NAT that forgot it) would otherwise wait forever.
HEALTH_CHECK_S = 5.0
HEALTH_DEADLINE_S = 10.0

# Size variants are snapped to these widths, so the work per frame stays bounded.
VARIANT_WIDTHS = (160, 240, 320, 480, 640, 800, 960, 1280, 1920)


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded frame as it travels: capture time (Unix s), sequence number, size, JPEG."""

    seq: int
    ts: float
    width: int
    height: int
    jpeg: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(_MAGIC, self.seq, self.ts, self.width, self.height) + self.jpeg

    @classmethod
    def unpack(cls, data: bytes) -> Frame:
        magic, seq, ts, width, height = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("not an nvr frame")
        return cls(seq, ts, width, height, bytes(data[_HEADER.size :]))


_LIVE_HEADER = struct.Struct("!4sBBIQd")
_LIVE_MAGIC = b"NVH1"


class LiveStream(enum.StrEnum):
    """Which of a camera's H.264 relays: its main stream (full screen, live.mp4) or its sub stream (the grid's).

    The value names the relay on the bus (framebus.names: "" keeps the main stream's names as they were)."""

    MAIN = ""
    SUB = "sub"  # a camera with a sub stream: the low-resolution one (its main stream's while it has failed)

    @classmethod
    def parse(cls, raw: str | None) -> LiveStream:
        """A request's `?stream=`: "sub" for the sub stream, anything else (or nothing) for the main one."""
        return cls.SUB if raw == cls.SUB.value else cls.MAIN


class ChunkKind(enum.IntEnum):
    """What a LiveChunk carries."""

    INIT = 1  # an fMP4 init segment (ftyp+moov): a new generation starts (first, or the stream's format changed)
    MEDIA = 2  # one moof+mdat fragment


@dataclass(frozen=True, slots=True)
class LiveChunk:
    """One piece of a camera's H.264 live stream as it travels: an init segment or a fragment.

    `generation` changes when the stream's format does (a new init segment: viewers restart);
    `seq` counts fragments of a generation (a gap means one was lost: wait for the next keyframe);
    `ts` is the capture time (Unix s); `codec` the RFC 6381 codec string (init segments only).
    """

    kind: ChunkKind
    generation: int
    seq: int
    ts: float
    keyframe: bool
    data: bytes
    codec: str = ""

    def pack(self) -> bytes:
        codec = self.codec.encode()
        head = _LIVE_HEADER.pack(_LIVE_MAGIC, self.kind, int(self.keyframe), self.generation, self.seq, self.ts)
        return head + bytes([len(codec)]) + codec + self.data

    @classmethod
    def unpack(cls, data: bytes) -> LiveChunk:
        magic, kind, keyframe, generation, seq, ts = _LIVE_HEADER.unpack_from(data)
        if magic != _LIVE_MAGIC:
            raise ValueError("not an nvr live chunk")
        start = _LIVE_HEADER.size
        codec_len = data[start]
        codec = bytes(data[start + 1 : start + 1 + codec_len]).decode()
        body = bytes(data[start + 1 + codec_len :])
        return cls(ChunkKind(kind), generation, seq, ts, bool(keyframe), body, codec)


def snap_width(width: int) -> int:
    """The largest variant width not above `width` (0 when below every variant)."""
    return max((w for w in VARIANT_WIDTHS if w <= width), default=0)


def variant_width(asked: float | None, native: int | None) -> int:
    """The size variant that serves a request for `asked` pixels wide: snapped down, and 0 (the camera's
    own frames) when none was asked or the camera is not wider (capture never encodes a variant wider
    than its frames, so asking a 320 px camera for 480 would never deliver one)."""
    variant = snap_width(int(asked)) if asked else 0
    if not variant or (native and variant >= native):
        return 0
    return variant


# What a caller catches when Redis is away; callers never import redis themselves.
BUS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)

# Renew or release a lease only while we still own it (compare-and-set in one step).
_RENEW_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


# A camera's status hash as Redis holds it (field names and values as bytes or text). Nothing here reads
# it: framebus.status.CameraStatus.from_fields is the one decoder every reader goes through.
RawStatus = Mapping[Any, Any]


class SyncBus:
    """The sync side (thread-safe): capture workers publish and hold leases; admin and commands read."""

    def __init__(self, url: str, *, namespace: str) -> None:
        self.names = Names(namespace)
        self.redis = redis.Redis.from_url(url, retry=Retry(_backoff(), 3), **client_options())
        self._renew = self.redis.register_script(_RENEW_LUA)
        self._release = self.redis.register_script(_RELEASE_LUA)

    def publish_frame(self, slug: str, frame: Frame, width: int = 0) -> None:
        """Store the newest frame (for snapshots) and notify subscribers, in one round trip."""
        payload = frame.pack()
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.names.latest(slug, width), payload, px=FRAME_TTL_MS)
        pipe.publish(self.names.frames(slug, width), payload)
        pipe.execute()

    def write_status(self, slug: str, status: dict) -> None:
        """Replace the camera's status and tell dashboards it changed."""
        fields = {k: ("" if v is None else v) for k, v in status.items()}
        fields["updated_ts"] = time.time()
        key = self.names.status(slug)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(key)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, STATUS_TTL_S)
        pipe.publish(self.names.status_channel, json.dumps({"slug": slug, **fields}))
        pipe.execute()

    def statuses(self, slugs: Iterable[str]) -> dict[str, RawStatus]:
        """Each camera's status hash as stored ({} when none): decode it with CameraStatus.from_fields."""
        slugs = list(slugs)
        pipe = self.redis.pipeline(transaction=False)
        for slug in slugs:
            pipe.hgetall(self.names.status(slug))
        return dict(zip(slugs, pipe.execute(), strict=True))

    def latest_frame(self, slug: str, width: int = 0) -> Frame | None:
        data = self.redis.get(self.names.latest(slug, width))
        return Frame.unpack(data) if isinstance(data, bytes) else None

    def wanted_widths(self, slug: str) -> list[int]:
        """Sizes some web process watches now (asked for in the last WANT_TTL_S seconds); 0 is the camera's own.

        Capture makes live JPEGs only for these: a camera nobody watches is not decoded for its live view.
        """
        now = time.time()
        raw: list[bytes] = self.redis.zrangebyscore(self.names.want(slug), now, "+inf")  # type: ignore[assignment]
        return sorted({int(w) for w in raw})

    def want_width(self, slug: str, width: int = 0) -> None:
        """Watch a size for the next WANT_TTL_S seconds (a sync reader of frames, e.g. a script or a test)."""
        self.redis.zadd(self.names.want(slug), {str(width): time.time() + WANT_TTL_S})

    # The H.264 live stream (cameras.relay publishes, streaming's live feeds read).
    def wants_live(self, slug: str, stream: str = "") -> bool:
        """Whether some web process watched the camera's H.264 live stream (`stream`: framebus.LiveStream) in the
        last WANT_TTL_S seconds."""
        return bool(self.redis.exists(self.names.want_live(slug, stream)))

    def publish_live(self, slug: str, chunks: Sequence[LiveChunk], *, restart: bool = False, stream: str = "") -> None:
        """Add `chunks` to the camera's stored group of pictures and publish each, in one round trip.

        `restart`: the chunks begin a new group (its init segment, then a keyframe's fragment and what
        followed): the stored group is replaced, so a new viewer starts from the last keyframe at once.
        """
        key = self.names.live_gop(slug, stream)
        packed = [chunk.pack() for chunk in chunks]
        pipe = self.redis.pipeline(transaction=False)
        if restart:
            pipe.delete(key)
        pipe.rpush(key, *packed)
        pipe.pexpire(key, FRAME_TTL_MS)
        channel = self.names.live(slug, stream)
        for payload in packed:
            pipe.publish(channel, payload)
        pipe.execute()

    # Leases: one capture of each camera across all supervisors.
    def acquire_lease(self, slug: str, owner: str, seconds: float) -> bool:
        return bool(self.redis.set(self.names.lease(slug), owner, nx=True, px=int(seconds * 1000)))

    def renew_lease(self, slug: str, owner: str, seconds: float) -> bool:
        return bool(self._renew(keys=[self.names.lease(slug)], args=[owner, int(seconds * 1000)]))

    def release_lease(self, slug: str, owner: str) -> None:
        self._release(keys=[self.names.lease(slug)], args=[owner])

    def lease_owner(self, slug: str) -> str | None:
        owner = self.redis.get(self.names.lease(slug))
        return owner.decode() if isinstance(owner, bytes) else None

    # Supervisor heartbeats: how many share the cameras.
    def heartbeat(self, owner: str, seconds: float) -> int:
        """Record that `owner` is alive and return how many supervisors are."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.names.supervisors, {owner: now + seconds})
        pipe.zremrangebyscore(self.names.supervisors, "-inf", now)
        pipe.zcard(self.names.supervisors)
        return int(pipe.execute()[-1])

    def leave(self, owner: str) -> None:
        self.redis.zrem(self.names.supervisors, owner)

    # Crops for the object detector: a bounded list (framebus.crops).
    def push_crop(self, crop: Crop, limit: int = CROP_QUEUE_LIMIT) -> tuple[int, list[str]]:
        """Queue a crop in one round trip, never waiting for the detector: (how many were dropped, the labels
        of the camera's open object events as the detector last wrote them)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self.names.crops, crop.pack())
        pipe.ltrim(self.names.crops, 0, limit - 1)
        pipe.get(self.names.objects(str(crop.camera.get("slug", ""))))
        replies = pipe.execute()
        dropped = max(int(replies[0]) - limit, 0)
        if dropped:
            self.redis.incrby(self.names.crops_dropped, dropped)
        labels = replies[2].decode().split(",") if replies[2] else []
        return dropped, labels

    def write_objects(self, slug: str, labels: list[str]) -> None:
        """The labels of a camera's open object events (the detector); none: the key goes."""
        if labels:
            self.redis.set(self.names.objects(slug), ",".join(sorted(labels)), ex=OBJECTS_TTL)
        else:
            self.redis.delete(self.names.objects(slug))

    def pop_crop(self, timeout: float) -> Crop | None:
        """The newest waiting crop, waiting up to `timeout` seconds for one (the detector)."""
        popped: Any = self.redis.blpop([self.names.crops], timeout=timeout)
        return Crop.unpack(bytes(popped[1])) if popped else None

    def crops_waiting(self) -> int:
        return int(self.redis.llen(self.names.crops))

    def crops_dropped(self) -> int:
        return int(self.redis.get(self.names.crops_dropped) or 0)

    def write_detector_status(self, status: DetectorStatus) -> None:
        self.redis.set(self.names.detector_status, status.to_json(), ex=DETECTOR_STATUS_TTL)

    def detector_status(self) -> DetectorStatus | None:
        """The detector's last report, or None when no detector process reported lately."""
        return DetectorStatus.from_json(self.redis.get(self.names.detector_status))

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def close(self) -> None:
        self.redis.close()


class ViewBus:
    """The web side (asyncio): latest frames, status, size requests. One per event loop."""

    def __init__(self, url: str, *, namespace: str) -> None:
        self.url = url
        self.names = Names(namespace)
        self.redis = aioredis.Redis.from_url(url, retry=AsyncRetry(_backoff(), 3), **client_options())

    async def latest_frame(self, slug: str, width: int = 0) -> Frame | None:
        data = await self.redis.get(self.names.latest(slug, width))
        return Frame.unpack(data) if isinstance(data, bytes) else None

    async def latest_frame_and_status(self, slug: str, width: int = 0) -> tuple[Frame | None, RawStatus]:
        """The newest frame and the camera's status hash, in one round trip (snapshots)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.names.latest(slug, width))
        pipe.hgetall(self.names.status(slug))
        data, raw = await pipe.execute()
        return (Frame.unpack(data) if data else None), raw

    async def statuses(self, slugs: Iterable[str]) -> dict[str, RawStatus]:
        """Each camera's status hash as stored ({} when none): decode it with CameraStatus.from_fields."""
        slugs = list(slugs)
        pipe = self.redis.pipeline(transaction=False)
        for slug in slugs:
            pipe.hgetall(self.names.status(slug))
        return dict(zip(slugs, await pipe.execute(), strict=True))

    async def want_width(self, slug: str, width: int) -> None:
        """Ask capture for live frames of this size (0: the camera's own) for the next WANT_TTL_S seconds."""
        await self.redis.zadd(self.names.want(slug), {str(width): time.time() + WANT_TTL_S})

    async def want_live(self, slug: str, stream: str = "") -> None:
        """Ask capture for the camera's H.264 live stream (`stream`: framebus.LiveStream) for the next WANT_TTL_S s."""
        await self.redis.set(self.names.want_live(slug, stream), b"1", px=WANT_TTL_S * 1000)

    async def live_gop(self, slug: str, stream: str = "") -> list[LiveChunk]:
        """The camera's stored init segment and fragments since the last keyframe ([] when none is recent)."""
        raw: list[bytes] = await self.redis.lrange(self.names.live_gop(slug, stream), 0, -1)  # type: ignore[assignment]
        chunks = []
        for item in raw:
            try:
                chunks.append(LiveChunk.unpack(item))
            except (ValueError, struct.error, IndexError):
                log.warning("bus: dropped a malformed live chunk of %s", slug)
        return chunks

    async def report_viewers(self, process: str, counts: Mapping[str, int], gone: Iterable[str] = ()) -> None:
        """Say how many live viewers web process `process` serves per camera (each second: a count stands
        VIEWERS_STALE_AFTER seconds); `gone`: cameras it serves no more."""
        expires = time.time() + VIEWERS_STALE_AFTER
        pipe = self.redis.pipeline(transaction=False)
        for slug, count in counts.items():
            pipe.hset(self.names.viewers(slug), process, f"{count} {expires:.1f}")
            pipe.expire(self.names.viewers(slug), VIEWERS_TTL_S)
        for slug in gone:
            pipe.hdel(self.names.viewers(slug), process)
        await pipe.execute()

    async def viewer_counts(self, slugs: Iterable[str]) -> dict[str, int]:
        """Live viewers of each camera in every web process (counts of a process gone quiet are left out)."""
        slugs = list(slugs)
        pipe = self.redis.pipeline(transaction=False)
        for slug in slugs:
            pipe.hgetall(self.names.viewers(slug))
        now = time.time()
        counts = {}
        for slug, fields in zip(slugs, await pipe.execute(), strict=True):
            total = 0
            for value in fields.values():
                count, _, expires = value.decode().partition(" ")
                if float(expires or 0) > now:
                    total += int(count)
            counts[slug] = total
        return counts

    async def detector_status(self) -> DetectorStatus | None:
        """The object detector's last report, or None when no detector process reported lately."""
        return DetectorStatus.from_json(await self.redis.get(self.names.detector_status))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def aclose(self) -> None:
        await self.redis.aclose()


FrameCallback = Callable[[str, Any], None]  # (channel, what `decode` made of the message: a Frame by default)


class FrameSubscriber:
    """One Redis pub/sub connection carrying frames of many channels to a callback.

    Callers say which channels they want (want/unwant, no await); a reconcile task
    brings the connection's subscriptions in line, so a quick unwant-then-want never
    leaves a channel unsubscribed. Survives Redis restarts: the read loop reconnects
    with backoff and subscribes again to every wanted channel. The callback runs on
    the event loop and must not block.

    redis-py opens the connection (the URL's AUTH, TLS, unix socket, database) and sends the
    commands; once subscribed, the connection's transport is handed to a `_Replies` protocol
    that feeds a hiredis reader straight from `data_received`, instead of redis-py's stream
    reader and `PubSub.get_message` (docs/facts.md: 98-121 against 43-54 µs of CPU per frame
    message for such a bare reader). The health check redis-py gave is HEALTH_CHECK_S /
    HEALTH_DEADLINE_S here; tests/streaming/test_bus_connections.py checks each of these.
    """

    def __init__(
        self, url: str, on_frame: FrameCallback, *, namespace: str, decode: Callable[[bytes], Any] = Frame.unpack
    ) -> None:
        self.url = url
        self.names = Names(namespace)
        self.on_frame = on_frame
        self.decode = decode  # Frame.unpack, or LiveChunk.unpack for H.264 live channels
        self.desired: set[str] = set()
        self.reconnects = 0
        self._subscribed: set[str] = set()
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._tasks: list[asyncio.Task] = []
        self._dirty = asyncio.Event()
        self._connected = asyncio.Event()
        self._heard_at = 0.0  # loop time of the last reply of any kind (frames, pong, confirmations)
        self._live: Any = None  # the connection taken over, once subscribed (the health check's)

    def want(self, channel: str) -> None:
        self.desired.add(channel)
        self._start()
        self._dirty.set()

    def unwant(self, channel: str) -> None:
        self.desired.discard(channel)
        self._dirty.set()

    def _start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._read_loop(), name="nvr-bus-reader"),
                loop.create_task(self._reconcile_loop(), name="nvr-bus-reconcile"),
                loop.create_task(self._health_loop(), name="nvr-bus-health"),
            ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        await self._close_connection()

    async def _close_connection(self) -> None:
        self._connected.clear()
        self._live = None
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        self._subscribed = set()
        for closer in (pubsub, client):
            if closer is not None:
                try:
                    await closer.aclose()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    pass

    async def _connect(self) -> asyncio.Future:
        """Open, subscribe and take the connection over; return a future set when it is lost."""
        loop = asyncio.get_running_loop()
        # No health_check_interval: redis-py's own check would read a PONG from a stream nobody feeds.
        # socket_timeout bounds the handshake only (AUTH, SELECT...): replies are not read through redis-py.
        self._client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=5, socket_timeout=5, health_check_interval=0, protocol=PUBSUB_PROTOCOL
        )
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        wanted = set(self.desired) or {self.names.keepalive}  # subscribing opens the connection
        await self._pubsub.subscribe(*wanted)
        lost = loop.create_future()
        self._live = self._pubsub.connection
        _take_over(self._live, _Replies(self._on_reply, lost))
        self._subscribed = wanted
        self._heard_at = loop.time()
        self._connected.set()
        self._dirty.set()
        return lost

    def _on_reply(self, reply: Any) -> None:
        """One RESP2 pub/sub reply: [b"message", channel, data], [b"subscribe", channel, n], [b"pong", b""]..."""
        self._heard_at = asyncio.get_running_loop().time()
        if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
            channel = reply[1].decode()
            try:
                frame = self.decode(reply[2])
            except (ValueError, struct.error, IndexError):
                log.warning("bus: dropped a malformed message on %s", channel)
                return
            self.on_frame(channel, frame)

    async def _health_loop(self) -> None:
        """PING a quiet subscription; drop one that stays silent (the read loop then reconnects)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HEALTH_CHECK_S / 2)
            connection = self._live
            if connection is None:
                continue  # connecting: redis-py's timeouts bound that
            silent = loop.time() - self._heard_at
            try:
                if silent >= HEALTH_DEADLINE_S:
                    log.warning("bus: subscription silent for %.0fs; reconnecting", silent)
                    self._live = None
                    await connection.disconnect(nowait=True)  # the read loop sees it and reconnects
                elif silent >= HEALTH_CHECK_S:
                    await connection.send_command("PING")  # the pong comes to _on_reply
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError):
                pass  # the read loop sees the broken connection and reconnects

    async def _reconcile_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._connected.wait()
            pubsub = self._pubsub
            if pubsub is None:
                continue  # the read loop reconnects and subscribes to every wanted channel
            add, drop = self.desired - self._subscribed, self._subscribed - self.desired
            try:
                if add:
                    await pubsub.subscribe(*add)
                if drop:
                    await pubsub.unsubscribe(*drop)
                self._subscribed = (self._subscribed | add) - drop
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError, AttributeError):
                pass  # the read loop reconnects and subscribes to every wanted channel

    async def _read_loop(self) -> None:
        backoff = _reconnect_backoff()
        while True:
            try:
                lost = await self._connect()
                backoff.reset()
                await lost  # replies go to _on_reply meanwhile
                raise redis.ConnectionError("connection lost")
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError, AttributeError) as error:  # AttributeError: closed mid-connect
                self.reconnects += 1
                delay = backoff.next()
                log.warning("bus: subscription lost (%s); reconnecting in %.1fs", type(error).__name__, delay)
                await self._close_connection()
                await asyncio.sleep(delay)


class _Replies(asyncio.Protocol):
    """A subscribed connection's replies, parsed by hiredis as they arrive and handed on one by one."""

    def __init__(self, on_reply: Callable[[Any], None], lost: asyncio.Future) -> None:
        self.reader = hiredis.Reader()
        self.on_reply = on_reply
        self.lost = lost
        self.previous: asyncio.BaseProtocol | None = None  # redis-py's, told of the end so its close returns

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            self.on_reply(reply)

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.previous is not None:
            self.previous.connection_lost(exc)  # StreamWriter.wait_closed() waits for this
            self.previous = None


def _take_over(connection: Any, protocol: _Replies) -> None:
    """Point `connection`'s transport at `protocol`, with the bytes its stream reader holds.

    A reach into private names, kept for its measured gain: redis-py's asyncio connection's `_reader`
    and `_writer` (there since redis-py 4.2) and asyncio's `StreamReader._buffer`. Reading replies
    through redis-py cost 108.8 µs of CPU per 18 KB frame message, this protocol 51.8 µs (medians of
    five alternating rounds, `python -m bench.subscriber`, docs/facts.md): half the read path's cost, 1.4 % of a
    core per web process for 16 cameras at 15 fps, more per size watched. redis-py is pinned to the versions tested (requirements.txt),
    and tests/streaming/test_library_reach.py fails at once if a name moves; the tests of every connection
    kind (test_bus_connections.py) show the behaviour. Nothing has read from the connection since the
    subscribe was sent, so no reply is half parsed.
    """
    stream: asyncio.StreamReader = connection._reader
    transport = connection._writer.transport
    buffered = bytes(stream._buffer)  # type: ignore[attr-defined]
    stream._buffer.clear()  # type: ignore[attr-defined]
    protocol.previous = transport.get_protocol()
    transport.set_protocol(protocol)
    if transport.is_closing():
        protocol.connection_lost(None)
    elif buffered:
        protocol.data_received(buffered)


async def status_updates(url: str, *, namespace: str) -> AsyncGenerator[RawStatus, None]:
    """Every camera status capture workers publish (mappings with "slug"), until the caller stops.

    One pub/sub connection; meant to be read by one task per web process that fans the
    statuses out (not one per dashboard: Redis load must not grow with viewers). A lost
    connection is reopened with backoff; statuses published meanwhile are lost, which is
    harmless because workers publish every camera's status every second.
    """
    channel = Names(namespace).status_channel
    backoff = _reconnect_backoff()
    while True:
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=5, health_check_interval=10, protocol=PUBSUB_PROTOCOL
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                backoff.reset()
                if not message or message["type"] != "message":
                    continue
                try:
                    status = json.loads(message["data"])
                except (ValueError, TypeError):
                    status = None
                if not isinstance(status, dict) or not status.get("slug"):
                    log.warning("bus: dropped a malformed status message")
                    continue
                yield status
        except (redis.RedisError, OSError) as error:
            delay = backoff.next()
            log.warning("bus: status subscription lost (%s); reconnecting in %.1fs", type(error).__name__, delay)
        finally:
            for closer in (pubsub, client):
                try:
                    await closer.aclose()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    pass
        await asyncio.sleep(delay)
