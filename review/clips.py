"""A clip of a camera's recordings as one MP4, remuxed from the recorded segments without re-encoding.

The clip starts at the keyframe at or before the requested start (a decoder needs one) and ends
with the last packet before the requested end. The camera's packets are copied as they are: the
clip keeps the codec, profile and resolution of the recording, and costs a remux (no decode).

It is written as a fragmented MP4 whose moov comes first (movflags empty_moov+frag_keyframe), so
it plays while it downloads, and streamed as it is made, a chunk at a time: the response asks for the
next chunk only when the client took the last, and each chunk is made by a step of the remux run on
a pool of CLIP_WORKERS threads shared by every clip of the process. So memory stays flat for a
24-hour clip, a slow client slows only its own remux, and a client that stops reading holds no
thread at all (before, each clip had a thread of its own, blocked while its client did not read:
20 stalled downloads held 41 threads, issue #23). Packet times are laid on the wall clock of each
segment's start, so a gap in the recording stays a gap in the clip instead of being squeezed out.
"""

from __future__ import annotations

import asyncio
import ctypes
import datetime as dt
import itertools
import threading
from collections.abc import AsyncGenerator, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from recordings.store import Store, get_store

CHUNK_BYTES = 512 * 1024  # muxer output is handed to the response in pieces of this size
CLIP_WORKERS = 4  # threads making the chunks of every clip of this process


@dataclass(frozen=True, slots=True)
class Source:
    """One recorded segment feeding the clip: its store key and the wall-clock time of its first packet."""

    key: str
    start: dt.datetime


class _Sink:
    """A file-like sink for the muxer, emptied a chunk at a time by the clip's steps.

    The muxer writes many small pieces (box headers, one sample at a time): they are gathered
    into CHUNK_BYTES pieces, so the response hops threads once per chunk, not once per write.
    """

    def __init__(self) -> None:
        self.position = 0
        self.pending = bytearray()

    def write(self, data: bytes) -> int:
        self.pending += data
        self.position += len(data)
        return len(data)

    def take(self) -> bytes:
        chunk, self.pending = bytes(self.pending), bytearray()
        return chunk

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return False


Timed = tuple[Any, int, int]  # (packet, pts, dts)


def _timed(container: Any, *streams: Any) -> Iterator[Timed]:
    """The streams' packets as they are read, with their times (flush packets, which have none, left out)."""
    for packet in container.demux(*streams):
        if packet.pts is not None and packet.dts is not None:
            yield packet, int(packet.pts), int(packet.dts)


def _is_picture(packet: Any) -> bool:
    return packet.stream.type == "video"


def _is_keyframe(packet: Any) -> bool:
    """A video keyframe (FFmpeg marks every audio packet a keyframe: those never start a GOP)."""
    return bool(packet.is_keyframe) and _is_picture(packet)


def _first_gop(packets: Iterator[Timed]) -> list[Timed]:
    """The packets up to and including the second keyframe: the earliest presentation time is among them
    (B-frames reorder within a GOP), and no more than a GOP is ever held in memory."""
    head: list[Timed] = []
    pictures = 0
    for item in packets:
        head.append(item)
        if _is_keyframe(item[0]) and pictures:
            break
        pictures += _is_picture(item[0])
    return head


def _from_keyframe_before(timeline: Iterator[Timed], start: dt.datetime, wall: Any) -> Iterator[Timed]:
    """The packets from the last keyframe at or before `start` (from the first packet when none is), holding one GOP."""
    held: list[Timed] = []
    for item in timeline:
        packet, pts, _ = item
        if _is_keyframe(packet):
            if wall(pts) <= start:
                held = [item]  # a later keyframe still before the start: the clip begins there
                continue
            yield from held
            yield item
            yield from timeline
            return
        held.append(item)
    yield from held  # the segment ended before a keyframe after the start


def remux(
    sources: Sequence[Source], start: dt.datetime, end: dt.datetime, sink: _Sink, store: Store | None = None
) -> Generator[int, None, None]:
    """Copy the video packets of `sources` between the keyframe at or before `start` and `end` into `sink`,
    and their sound over the same time (when the first segment has sound: the camera's audio switch).

    A generator: it pauses (yielding the packets written so far) whenever `sink` holds a chunk, and
    finishes the file when it ends or is closed. Packets are read as they are muxed, one GOP ahead
    at most, so a paused clip holds a chunk and a GOP, not a segment (a 10 s segment of a 6 Mbit/s
    camera is 8 MB: 20 paused clips held 185 MB when each read its segment whole). Stops early at a
    segment whose stream parameters differ from the first one (a camera reconfigured mid-span): one
    MP4 holds one set of parameters.
    """
    store = store or get_store()
    output = av.open(sink, "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    out_stream: av.VideoStream | None = None
    out_audio: av.AudioStream | None = None
    sound: tuple[str, int] | None = None  # the first segment's audio codec and rate: later ones must match
    last_audio_dts: int | None = None
    origin: dt.datetime | None = None  # wall time of the clip's first packet
    template = None
    last_dts: int | None = None
    written = 0
    try:
        for index, source in enumerate(sources):
            with store.open(source.key) as file, av.open(file, "r") as container:
                stream = container.streams.video[0]
                audio = container.streams.audio[0] if container.streams.audio else None
                params = (stream.codec_context.name, stream.codec_context.width, stream.codec_context.height)
                heard = (audio.codec_context.name, audio.codec_context.sample_rate) if audio is not None else None
                if template is None:
                    template = params
                    out_stream = output.add_stream_from_template(stream)
                    if audio is not None:
                        out_audio, sound = output.add_stream_from_template(audio), heard
                elif params != template:
                    break
                if heard != sound:
                    audio = None  # sound that differs from the clip's first (or none there): left out
                time_base = stream.time_base or Fraction(1, 90_000)
                packets = _timed(container, *(s for s in (stream, audio) if s is not None))
                head = _first_gop(packets)
                if not any(_is_picture(packet) for packet, _, _ in head):
                    continue
                first_pts = min(pts for packet, pts, _ in head if _is_picture(packet))
                first_seconds = first_pts * time_base

                def wall(
                    pts: int, source: Source = source, first: int = first_pts, base: Fraction = time_base
                ) -> dt.datetime:
                    return source.start + dt.timedelta(seconds=float((pts - first) * base))

                timeline: Iterator[Timed] = itertools.chain(head, packets)
                if index == 0:
                    timeline = _from_keyframe_before(timeline, start, wall)
                shift: int | None = None
                for packet, pts, dts in timeline:
                    if not _is_picture(packet):
                        if origin is None or out_audio is None:
                            continue  # sound before the clip's first picture
                        base = packet.time_base
                        at = source.start + dt.timedelta(seconds=float(pts * base - first_seconds))
                        if not origin <= at < end:
                            continue
                        audio_shift = round(((source.start - origin).total_seconds() - first_seconds) / base)
                        pts, dts = pts + audio_shift, dts + audio_shift
                        if last_audio_dts is not None and dts <= last_audio_dts:
                            continue
                        packet.pts, packet.dts, last_audio_dts = pts, dts, dts
                        packet.stream = out_audio
                        output.mux(packet)
                        continue
                    if origin is None:
                        origin = wall(pts)
                    if shift is None:
                        shift = round((source.start - origin).total_seconds() / time_base) - first_pts
                    if wall(pts) >= end:
                        return
                    pts, dts = pts + shift, dts + shift
                    if last_dts is not None and dts <= last_dts:
                        dts = last_dts + 1
                        pts = max(pts, dts)
                    packet.pts, packet.dts, last_dts = pts, dts, dts
                    assert out_stream is not None  # made from the first source
                    packet.stream = out_stream
                    output.mux(packet)
                    written += 1
                    if len(sink.pending) >= CHUNK_BYTES:
                        yield written
    finally:
        output.close()


class ClipMaker:
    """One clip's remux, advanced a chunk at a time; the lock keeps a step and a close apart."""

    def __init__(self, sources: Sequence[Source], start: dt.datetime, end: dt.datetime) -> None:
        self.sink = _Sink()
        self._steps = remux(sources, start, end, self.sink)
        self._lock = threading.Lock()
        self._done = False

    def step(self) -> bytes | None:
        """The next chunk of the file, None once it is all out (runs on the pool)."""
        with self._lock:
            if self._done:
                return None
            try:
                next(self._steps)
            except StopIteration:
                self._done = True
                give_back_memory()
                return self.sink.take() or None  # the end of the file, written when the remux closed it
            return self.sink.take()

    def close(self) -> None:
        """Stop the remux and free its files (a client that left; runs on the pool after any step under way)."""
        with self._lock:
            if not self._done:
                self._done = True
                self._steps.close()
                self.sink.take()
                give_back_memory()


_libc = ctypes.CDLL(None)
_malloc_trim = getattr(_libc, "malloc_trim", None)  # glibc's; absent elsewhere (musl), where this does nothing


def give_back_memory() -> None:
    """Return the memory a finished clip freed to the system.

    FFmpeg allocates packets through malloc; once freed, glibc keeps them in its arenas (one per
    thread that allocated), so a burst of clips left the web process large for good. Measured with
    20 paused clips of 8 MB segments: 230 MB resident after they were closed, 45 MB after malloc_trim.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


_pool: ThreadPoolExecutor | None = None


def _workers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=CLIP_WORKERS, thread_name_prefix="nvr-clip")
    return _pool


async def clip_bytes(sources: Sequence[Source], start: dt.datetime, end: dt.datetime) -> AsyncGenerator[bytes, None]:
    """The clip's bytes as they are made; closing the generator stops the remux.

    A chunk is made only when the previous one was taken, on the shared pool: a client that stops
    reading leaves its clip paused in memory with no thread, until the write deadline lets it go.
    """
    maker = ClipMaker(sources, start, end)
    loop = asyncio.get_running_loop()
    try:
        while (chunk := await loop.run_in_executor(_workers(), maker.step)) is not None:
            yield chunk
    finally:
        _workers().submit(maker.close)  # not awaited: a cancelled response does not wait for its files to close
