"""One camera's segment files: fragmented MP4 written as `*.part`, renamed when complete, then indexed.

A segment is cut at the first keyframe after RECORDINGS_SEGMENT_SECONDS, so every file starts
with one and plays on its own. Files are fragmented MP4 (the init section, then a fragment per
keyframe), so a crash loses at most the fragment being written, and the reconcile at start
salvages the rest of a `.part` (recordings.reconcile). The wall-clock start of a segment is the
capture host's clock at its first packet; its duration comes from the media timestamps. A
disconnect closes the segment: an outage is a gap in the index, never a stretched segment.

Files are named by keys (recordings.store.segment_key: the camera's uid, UTC dated folders, the start)
and written through the store: muxed into its staging file, committed when complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

from recordings.audio import AacConverter, AudioMode, AudioPlan, plan_for
from recordings.store import Store, segment_key

log = logging.getLogger(__name__)

# frag_discont: keep the packets' own timestamps (a run's media clock goes on across its segments);
# without it the muxer starts every file at 0, and hls.js, which maps a playlist by the timestamps
# it parses, laid every segment over the first one (seen in Chromium on the demo cameras). The
# muxer would also shift each file to 0 itself unless avoid_negative_ts is disabled.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+frag_discont"
# A fragment per keyframe, flushed to the file as soon as it is complete (FFmpeg's I/O buffer would
# otherwise hold the first 32 KB): a crash loses at most the fragment being written, and the reconcile
# salvages the rest of the segment. Camera packets (stream copy) are fragmented at the camera's own
# keyframes: every fragment costs a moof box, about 2 % of a 140 kbit/s stream at one per second.
MUXER_OPTIONS = {"movflags": MOVFLAGS, "flush_packets": "1", "avoid_negative_ts": "disabled"}
# Frames encoded here have a keyframe every 2 s: a fragment at least every second bounds the loss.
ENCODER_MUXER_OPTIONS = {**MUXER_OPTIONS, "frag_duration": "1000000"}
MAX_DRIFT = 2.0  # seconds the media clock of a connection may drift from the host clock before re-anchoring


@dataclass(frozen=True)
class ClosedSegment:
    """A complete segment file, ready to be indexed."""

    key: str
    start: dt.datetime
    duration: float
    bytes: int
    codec: str
    width: int
    height: int
    sha256: str = ""  # of the committed file (hex): the bucket tier verifies its upload against it


def sha256_of(file: BinaryIO) -> str:
    """SHA-256 (hex) of what is left to read of an open file, a MiB at a time."""
    digest = hashlib.sha256()
    while chunk := file.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read once (a 10 s segment of a 4 Mbit/s camera, 5 MB: 12 ms median here, in memory)."""
    with path.open("rb") as file:
        return sha256_of(file)


def codec_string(name: str, extradata: bytes | None) -> str:
    """The RFC 6381 codec string of an H.264 or H.265 stream (what MSE and HLS players ask for)."""
    if name == "h264":
        if extradata and len(extradata) >= 4 and extradata[0] == 1:  # avcC: profile, constraints, level
            return f"avc1.{extradata[1]:02x}{extradata[2]:02x}{extradata[3]:02x}"
        if extradata and b"\x00\x00\x01" in extradata:  # Annex B: the byte after the SPS NAL header
            sps = extradata.split(b"\x00\x00\x01", 2)[1]
            if len(sps) >= 4 and sps[0] & 0x1F == 7:
                return f"avc1.{sps[1]:02x}{sps[2]:02x}{sps[3]:02x}"
        return "avc1.640028"
    if name in ("hevc", "h265"):
        if extradata and len(extradata) >= 13 and extradata[0] == 1:  # hvcC
            profile = extradata[1] & 0x1F
            level = extradata[12]
            return f"hvc1.{profile}.4.L{level}.B0"
        return "hvc1.1.6.L93.B0"
    return name


def media_facts(container: av.container.InputContainer) -> tuple[str, int, int]:
    """(codec string, width, height) of a segment's video as stored (avcC/hvcC), whoever encoded it."""
    context = container.streams.video[0].codec_context
    return codec_string(context.name, context.extradata), context.width, context.height


class SegmentFile:
    """One segment being written: the store's staging file for its key, and its muxer (one video stream)."""

    def __init__(
        self, store: Store, camera_uid: str, start: dt.datetime, *, options: dict[str, str] = MUXER_OPTIONS
    ) -> None:
        self.store, self.start = store, start
        self.key = segment_key(camera_uid, start)
        self.part = store.staging(self.key)
        self.container = av.open(str(self.part), "w", format="mp4", options=options)
        self.stream: av.VideoStream | None = None
        self.audio: av.AudioStream | None = None  # the camera's sound, when it is recorded (recordings.audio)
        self.first_pts: int | None = None
        self.last_end: int | None = None  # pts + duration of the latest packet
        self.time_base: Fraction | None = None

    def mux(self, packet: av.Packet) -> None:
        """Write `packet`, and give it back as it came: other capture outputs get the same packet after us."""
        assert self.stream is not None
        if packet.pts is not None:
            if self.first_pts is None:
                self.first_pts = packet.pts
            end = packet.pts + (packet.duration or 0)
            self.last_end = end if self.last_end is None else max(self.last_end, end)
            self.time_base = packet.time_base
        stream, pts, dts, time_base = packet.stream, packet.pts, packet.dts, packet.time_base
        packet.stream = self.stream
        try:
            self.container.mux(packet)  # re-times the packet to the file's stream
        finally:
            if stream is not None:
                packet.stream = stream
            packet.time_base, packet.pts, packet.dts = time_base, pts, dts

    def mux_audio(self, packet: av.Packet, *, copied: bool) -> None:
        """Write an audio packet: the camera's own (copied, given back as it came) or one encoded for this file."""
        if self.audio is None or self.first_pts is None:
            return  # the file starts with its first keyframe
        if not copied:
            self.container.mux(packet)
            return
        stream, pts, dts, time_base = packet.stream, packet.pts, packet.dts, packet.time_base
        packet.stream = self.audio
        try:
            self.container.mux(packet)
        finally:
            if stream is not None:
                packet.stream = stream
            packet.time_base, packet.pts, packet.dts = time_base, pts, dts

    def duration(self) -> float:
        if self.first_pts is None or self.last_end is None or self.time_base is None:
            return 0.0
        return float((self.last_end - self.first_pts) * self.time_base)

    def finish(self) -> ClosedSegment | None:
        """Close the muxer and commit the file to the store; None when it holds no packet (the file is removed)."""
        self.container.close()
        if self.first_pts is None or self.stream is None:
            self.part.unlink(missing_ok=True)
            return None
        with av.open(str(self.part)) as written:
            codec, width, height = media_facts(written)
        digest = file_sha256(self.part)
        size = self.store.commit(self.key, self.part)
        return ClosedSegment(
            key=self.key,
            start=self.start,
            duration=round(self.duration(), 3),
            bytes=size,
            codec=codec,
            width=width,
            height=height,
            sha256=digest,
        )

    def abandon(self) -> None:
        """Drop the file (a write failed): what was written is not trusted."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the container is already broken
            pass
        self.part.unlink(missing_ok=True)


class PacketWriter:
    """Stream copy: the camera's own packets into segments (RTSP H.264/H.265), with its sound (recordings.audio).

    Segments are cut at video keyframes only; audio packets go into the segment open when they come.
    """

    def __init__(
        self,
        store: Store,
        camera_uid: str,
        *,
        segment_seconds: float,
        on_closed: Callable[[ClosedSegment], None],
        audio: bool = True,
    ) -> None:
        self.store, self.camera_uid, self.segment_seconds, self.on_closed = (
            store,
            camera_uid,
            segment_seconds,
            on_closed,
        )
        self.audio = audio  # the camera's switch: record its sound
        self.current: SegmentFile | None = None
        self.template: av.VideoStream | None = None
        self.next_start: dt.datetime | None = None  # where the next segment of this connection begins
        self.audio_plan = AudioPlan(AudioMode.NONE)
        self.audio_template: av.AudioStream | None = None
        self.converter: AacConverter | None = None

    def _new_connection(self, template: av.VideoStream) -> None:
        """Decide what becomes of this connection's audio (its container's first audio stream)."""
        streams = template.container.streams.audio if self.audio else ()
        self.audio_template = streams[0] if streams else None
        plan = plan_for(self.audio_template)
        if plan.mode is AudioMode.UNSUPPORTED and plan != self.audio_plan:
            log.warning("camera %s: %s", self.camera_uid, plan.reason)
        self.audio_plan = plan
        self.converter = None
        if plan.mode is AudioMode.CONVERT:
            try:
                self.converter = AacConverter(self.audio_template)
            except Exception as error:  # noqa: BLE001 - a codec FFmpeg lists but cannot set up
                self.audio_plan = AudioPlan(
                    AudioMode.UNSUPPORTED, plan.codec, f"audio codec {plan.codec} cannot be converted ({error})"
                )
                log.warning("camera %s: %s", self.camera_uid, self.audio_plan.reason)

    def write_audio(self, packet: av.Packet) -> None:
        """Add one packet of the camera's sound to the open segment (none before its first keyframe)."""
        current = self.current
        if current is None or current.audio is None or packet.stream is not self.audio_template:
            return
        if self.converter is None:
            current.mux_audio(packet, copied=True)
            return
        try:
            encoded = self.converter.encode(packet, current.audio)
        except Exception:
            log.debug("camera %s: an audio packet could not be converted", self.camera_uid, exc_info=True)
            return
        for item in encoded:
            current.mux_audio(item, copied=False)

    def write(self, packet: av.Packet, template: av.VideoStream, now: dt.datetime) -> None:
        """Add one packet; a keyframe after the segment length starts a new file."""
        current = self.current
        if template is not self.template:
            self.close()  # a new connection: a new segment, never one stretched over the gap
            self.next_start = None
            current = None
            self._new_connection(template)
        if current is None:
            if not packet.is_keyframe:
                return  # a segment starts with a keyframe: wait for one
            current = self._open(template, now)
        elif packet.is_keyframe and current.duration() >= self.segment_seconds:
            self.close()
            current = self._open(template, now)
        try:
            current.mux(packet)
        except Exception:
            current.abandon()
            self.current = None
            raise

    def _open(self, template: av.VideoStream, now: dt.datetime) -> SegmentFile:
        # Within one connection a segment starts where the previous one ended by its media time: the
        # first packets of a connection arrive in a burst, so arrival times would make segments overlap.
        # Only a drift of over MAX_DRIFT from the host clock re-anchors the chain to it.
        start = now
        if self.next_start is not None and abs((now - self.next_start).total_seconds()) < MAX_DRIFT:
            start = self.next_start
        segment = SegmentFile(self.store, self.camera_uid, start)
        segment.stream = segment.container.add_stream_from_template(template)
        try:
            if self.converter is not None:
                segment.audio = self.converter.add_stream(segment.container)
            elif self.audio_plan.mode is AudioMode.COPY and self.audio_template is not None:
                segment.audio = segment.container.add_stream_from_template(self.audio_template)
        except Exception as error:  # noqa: BLE001 - the sound never costs the picture
            self.audio_plan = AudioPlan(
                AudioMode.UNSUPPORTED, self.audio_plan.codec, f"the sound cannot be recorded ({error})"
            )
            self.converter = None
            log.warning("camera %s: %s", self.camera_uid, self.audio_plan.reason)
        self.current, self.template = segment, template
        return segment

    def close(self) -> None:
        """Finish the open segment (a disconnect, a stop): it is indexed, the next one starts anew."""
        current, self.current = self.current, None
        if current is None:
            return
        try:
            if self.converter is not None and current.audio is not None:
                for packet in self.converter.flush(current.audio):
                    current.mux_audio(packet, copied=False)
            closed = current.finish()
        except Exception:
            current.part.unlink(missing_ok=True)
            raise
        if closed is not None:
            self.next_start = closed.start + dt.timedelta(seconds=closed.duration)
            self.on_closed(closed)


class FrameEncoder:
    """Sources without compressed video: frames encoded to H.264 once, at the camera's rate, into segments.

    Each segment gets its own encoder, so every file starts with a keyframe and stands alone;
    x264 with the ultrafast preset and zerolatency tuning (no lookahead: a frame goes out at once).
    Frame times are the capture times on a 90 kHz clock that runs from the first segment of the
    connection (the run) and goes on across its segments, so a camera that delivers fewer frames than
    its cap still records real time, and players see one continuous timeline: hls.js maps a playlist
    by the segments' own timestamps, and files that each started at 0 collapsed onto each other.
    """

    CLOCK = 90_000

    def __init__(
        self,
        store: Store,
        camera_uid: str,
        *,
        fps: int,
        segment_seconds: float,
        on_closed: Callable[[ClosedSegment], None],
    ) -> None:
        self.store, self.camera_uid, self.fps = store, camera_uid, fps
        self.segment_seconds, self.on_closed = segment_seconds, on_closed
        self.current: SegmentFile | None = None
        self.size: tuple[int, int] | None = None
        self.last_pts = -1
        self.next_start: dt.datetime | None = None  # the previous segment's end: the next never starts before it
        self.epoch: dt.datetime | None = None  # time 0 of this run's media clock (reset by end_run)

    def write(self, image, now: dt.datetime) -> None:  # type: ignore[no-untyped-def]
        """Encode one BGR frame (numpy array) captured at `now`."""
        height, width = image.shape[:2]
        current = self.current
        if current is not None and (
            self.size != (width, height) or (now - current.start).total_seconds() >= self.segment_seconds
        ):
            self.close()
            current = None
        if current is None:
            current = self._open(width, height, now)
        assert current.stream is not None
        even = image[: height - height % 2, : width - width % 2]
        frame = av.VideoFrame.from_ndarray(even, format="bgr24")
        epoch = self.epoch or current.start
        pts = max(int((now - epoch).total_seconds() * self.CLOCK), self.last_pts + 1)
        frame.pts, self.last_pts = pts, pts
        try:
            for packet in current.stream.encode(frame):
                current.mux(packet)
        except Exception:
            current.abandon()
            self.current = None
            raise

    def _open(self, width: int, height: int, now: dt.datetime) -> SegmentFile:
        start = now
        if self.next_start is not None and now < self.next_start < now + dt.timedelta(seconds=MAX_DRIFT):
            start = self.next_start  # a frame arrived a hair before the previous segment's computed end
        segment = SegmentFile(self.store, self.camera_uid, start, options=ENCODER_MUXER_OPTIONS)
        stream = segment.container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
        stream.time_base = Fraction(1, self.CLOCK)
        stream.codec_context.time_base = Fraction(1, self.CLOCK)
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "26", "g": str(self.fps * 2)}
        stream.thread_count = 1
        segment.stream = stream
        if self.epoch is None:
            self.epoch = start
        self.current, self.size = segment, (width, height)
        return segment

    def end_run(self) -> None:
        """The source went away: close the segment; the next run starts a new media clock (a gap)."""
        self.close()
        self.epoch, self.next_start, self.last_pts = None, None, -1

    def close(self) -> None:
        current, self.current = self.current, None
        if current is None:
            return
        try:
            assert current.stream is not None
            for packet in current.stream.encode(None):  # flush the encoder
                current.mux(packet)
            if current.last_end is not None and current.time_base is not None:
                current.last_end += int(1 / (self.fps * current.time_base))  # the last frame's own duration
            closed = current.finish()
        except Exception:
            current.abandon()
            raise
        if closed is not None:
            self.next_start = closed.start + dt.timedelta(seconds=closed.duration)
            self.on_closed(closed)
