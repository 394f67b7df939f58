"""A clip of a camera's recordings as one MP4, remuxed from the recorded segments without re-encoding.

The clip starts at the keyframe at or before the requested start (a decoder needs one) and ends
with the last packet before the requested end. The camera's packets are copied as they are: the
clip keeps the codec, profile and resolution of the recording, and costs a remux (no decode).

It is written as a fragmented MP4 whose moov comes first (movflags empty_moov+frag_keyframe), so
it plays while it downloads, and streamed as it is made: the muxer writes into a small bounded
queue that the response drains, so memory stays flat for a 24-hour clip and a slow client slows
only the remux. Packet times are laid on the wall clock of each segment's start, so a gap in the
recording stays a gap in the clip instead of being squeezed out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import threading
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av

from recordings.store import Store, get_store

CHUNK_BYTES = 512 * 1024  # muxer output is handed to the response in pieces of this size
CHUNK_QUEUE = 8  # pieces held at most: memory stays about 4 MB per clip, whatever its length
_DONE = object()


class ClipCancelled(Exception):
    """The client went away: the remux thread stops at its next write."""


@dataclass(frozen=True, slots=True)
class Source:
    """One recorded segment feeding the clip: its store key and the wall-clock time of its first packet."""

    key: str
    start: dt.datetime


class _QueueWriter:
    """A file-like sink for the muxer that hands its bytes to the response through a bounded queue.

    The muxer writes many small pieces (box headers, one sample at a time): they are gathered
    into CHUNK_BYTES pieces, so the response hops threads once per chunk, not once per write.
    """

    def __init__(self, chunks: queue.Queue, cancelled: threading.Event) -> None:
        self.chunks, self.cancelled = chunks, cancelled
        self.position = 0
        self.pending = bytearray()

    def write(self, data: bytes) -> int:
        self.pending += data
        self.position += len(data)
        if len(self.pending) >= CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending = bytes(self.pending), bytearray()
        while True:
            if self.cancelled.is_set():
                raise ClipCancelled()
            try:
                self.chunks.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return False


def remux(
    sources: Sequence[Source], start: dt.datetime, end: dt.datetime, sink: _QueueWriter, store: Store | None = None
) -> int:
    """Copy the video packets of `sources` between the keyframe at or before `start` and `end` into `sink`.

    Returns the number of packets written. Stops early at a segment whose stream parameters differ
    from the first one (a camera reconfigured mid-span): one MP4 holds one set of parameters.
    """
    store = store or get_store()
    output = av.open(sink, "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    out_stream: av.VideoStream | None = None
    origin: dt.datetime | None = None  # wall time of the clip's first packet
    template = None
    last_dts: int | None = None
    written = 0
    try:
        for index, source in enumerate(sources):
            with store.open(source.key) as file, av.open(file, "r") as container:
                stream = container.streams.video[0]
                params = (stream.codec_context.name, stream.codec_context.width, stream.codec_context.height)
                if template is None:
                    template = params
                    out_stream = output.add_stream_from_template(stream)
                elif params != template:
                    break
                time_base = stream.time_base or Fraction(1, 90_000)
                # (packet, pts, dts): packets without times (flush packets) are left out.
                timed = [(p, p.pts, p.dts) for p in container.demux(stream) if p.pts is not None and p.dts is not None]
                packets = [(p, int(pts), int(dts)) for p, pts, dts in timed]
                if not packets:
                    continue
                first_pts = min(pts for _, pts, _ in packets)

                def wall(
                    pts: int, source: Source = source, first: int = first_pts, base: Fraction = time_base
                ) -> dt.datetime:
                    return source.start + dt.timedelta(seconds=float((pts - first) * base))

                if index == 0:
                    keyframes = [i for i, (p, pts, _) in enumerate(packets) if p.is_keyframe and wall(pts) <= start]
                    packets = packets[keyframes[-1] if keyframes else 0 :]
                    if packets:
                        origin = wall(packets[0][1])
                if origin is None:
                    origin = wall(packets[0][1])
                shift = round((source.start - origin).total_seconds() / time_base) - first_pts
                for packet, pts, dts in packets:
                    if wall(pts) >= end:
                        return written
                    pts, dts = pts + shift, dts + shift
                    if last_dts is not None and dts <= last_dts:
                        dts = last_dts + 1
                        pts = max(pts, dts)
                    packet.pts, packet.dts, last_dts = pts, dts, dts
                    assert out_stream is not None  # made from the first source
                    packet.stream = out_stream
                    output.mux(packet)
                    written += 1
        return written
    finally:
        output.close()
        sink.flush()


async def clip_bytes(sources: Sequence[Source], start: dt.datetime, end: dt.datetime) -> AsyncGenerator[bytes, None]:
    """The clip's bytes as they are made; closing the generator stops the remux."""
    chunks: queue.Queue = queue.Queue(maxsize=CHUNK_QUEUE)
    cancelled = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            remux(sources, start, end, _QueueWriter(chunks, cancelled))
        except ClipCancelled:
            pass
        except Exception as error:  # noqa: BLE001 - reported to the response below
            failure.append(error)
        finally:
            while True:
                try:
                    chunks.put(_DONE, timeout=0.5)
                    break
                except queue.Full:
                    if cancelled.is_set():
                        break

    thread = threading.Thread(target=run, name="nvr-clip", daemon=True)
    thread.start()
    try:
        while True:
            chunk = await asyncio.to_thread(chunks.get)
            if chunk is _DONE:
                break
            yield chunk
        if failure:
            raise failure[0]
    finally:
        cancelled.set()
        while thread.is_alive():
            try:
                chunks.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.05)
