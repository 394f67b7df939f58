"""The camera's own H.264, live: a capture output that relays its video packets as fragmented MP4.

It asks for no pictures (frame_interval is None), so a camera recorded and watched only this way
decodes nothing (invariant 13). Each video packet becomes one moof+mdat fragment the moment it
comes (cameras.fmp4: bytes unchanged, only start codes become lengths), behind an init segment
made from the camera's own SPS and PPS. The fragments since the last keyframe are kept here, so
when a web process starts watching, the whole current group of pictures goes to the bus at once
and its first viewer starts from the last keyframe without waiting for the next.

Like the live JPEGs (cameras.live), it publishes only while some web process wants the stream
(framebus: `want_live`, renewed while someone watches); otherwise a packet costs splitting its
NAL units and building one fragment in memory. A new SPS or PPS at a keyframe (the camera's
resolution or profile changed) starts a new generation with a new init segment: viewers restart
on it, while the recorder, another output, goes on with the packets as they are.

The camera's sound (when its `audio` switch is on) is a second track of the same init segment
(cameras.relaysound: AAC copied, other codecs converted, an unknown one left out and logged); each
AAC frame is one more fragment, kept in the group since the keyframe like the video's, so a new
viewer starts with the sound of the pictures it is shown.

A camera with a sub stream has a second relay (`stream=LiveStream.SUB`, the grid's), under names of its
own on the bus: it says `packets_from_sub_stream`, so the capture loop hands it the sub stream's packets,
and the main stream's while the sub stream has failed (cameras.workers.SubPackets: a new generation).
The grid's tiles are muted, so the sub relay carries no sound.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from cameras import fmp4
from cameras.config import CameraConfig
from cameras.relaysound import RelaySound
from framebus import BUS_ERRORS, ChunkKind, LiveChunk, LiveStream, SyncBus

log = logging.getLogger(__name__)

WANTED_REFRESH = 0.5  # seconds between reads of whether a web process wants the stream (cameras.live's pace)
BUS_DOWN_RETRY = 5.0  # seconds before asking again when Redis could not say
GOP_LIMIT_BYTES = 16 * 2**20  # a longer group of pictures is not kept (cameras.sources.RtspSource's limit)
# What viewers are told of a codec the relay does not carry (RFC 6381 sample entry names; FFmpeg's name otherwise).
UNRELAYED_CODECS = {"hevc": "hvc1", "h265": "hvc1", "mjpeg": "mjpeg", "mpeg4": "mp4v"}


class H264Relay:
    """One camera's H.264 live stream on the bus (capture thread only)."""

    def __init__(self, config: CameraConfig, bus: SyncBus, *, stream: LiveStream = LiveStream.MAIN) -> None:
        self.config = config
        self.bus = bus
        self.stream = stream  # which relay of the camera: its names on the bus
        self.packets_from_sub_stream = stream is LiveStream.SUB  # (cameras.outputs)
        # The camera's sound goes to live viewers of the main stream too (cameras.relaysound); tiles are muted.
        self.takes_audio = stream is LiveStream.MAIN
        self.sound = RelaySound(config.slug, config.audio and self.takes_audio)
        self.generation = 0  # a new random number per generation: a restarted capture never repeats one
        self.init: LiveChunk | None = None
        self.gop: list[LiveChunk] = []  # fragments since the last keyframe, of this generation
        self._gop_bytes = 0
        self._seq = 0
        self._params: tuple[bytes, tuple[bytes, ...]] | None = None  # the SPS and PPS the init segment carries
        self._last_dts: int | None = None
        self._duration = 0
        self._wanted = False
        self._published = False  # the bus holds this generation's group (else it is pushed whole first)
        self._next_wanted = 0.0
        self._bus_down = False
        self._refused = ""  # why the stream cannot be relayed (said once)
        self._audible: fmp4.AudioTrack | None = None  # the audio track of this generation's init segment

    # CaptureOutput ------------------------------------------------------------------------------
    def frame_interval(self) -> float | None:
        return None  # packets only: never a decoded picture

    def frame(self, image: Any, ts: float) -> None:
        """Never asked for."""

    def packet(self, packet: Any) -> None:
        """Relay a video packet as a fragment (never raises: a bad packet is skipped)."""
        stream = packet.stream
        if stream.type == "audio":
            self._sound(packet)
            return
        if stream.type != "video":
            return  # data is other outputs' business
        try:
            chunks = self._fragment(packet, stream)
        except fmp4.NotH264 as error:
            self._refuse(str(error), stream.codec_context.name, bool(packet.is_keyframe))
            return
        except Exception:  # never into the capture loop: a damaged packet is skipped
            log.debug("camera %s: a packet could not be relayed", self.config.slug, exc_info=True)
            return
        if chunks:
            self._publish(chunks)

    def disconnected(self, reason: str) -> None:
        """A new connection starts a new generation: its timestamps and parameters may differ."""
        self.init = None
        self.gop = []
        self._gop_bytes = 0
        self._params = None
        self._last_dts = None
        self._published = False

    def status(self) -> Mapping[str, object]:
        return {}

    # Fragments ----------------------------------------------------------------------------------
    def _fragment(self, packet: Any, stream: Any) -> list[LiveChunk]:
        """The chunks one packet adds: a fragment, after a new init segment when the format changed."""
        codec = stream.codec_context.name
        if codec != "h264":
            raise fmp4.NotH264(f"its video is {codec}, not H.264")
        extradata = stream.codec_context.extradata or b""
        length_size = (extradata[4] & 3) + 1 if extradata[:1] == b"\x01" and len(extradata) > 4 else 0
        units = fmp4.nal_units(bytes(packet), length_size=length_size)
        if not units:
            return []
        keyframe = bool(packet.is_keyframe)
        ts = time.time()
        chunks: list[LiveChunk] = []
        if keyframe:
            self.sound.connect(stream)
            params = self._parameters(units, extradata, length_size)
            if params is not None and (params != self._params or self.sound.live_track != self._audible):
                self._start_generation(params, ts)
                assert self.init is not None
                chunks.append(self.init)
        if self.init is None:
            return chunks  # wait for a keyframe with parameters
        base = stream.time_base or Fraction(1, fmp4.TIMESCALE)
        dts_raw = packet.dts if packet.dts is not None else packet.pts
        dts = int(dts_raw * base * fmp4.TIMESCALE)
        pts = int(packet.pts * base * fmp4.TIMESCALE) if packet.pts is not None else dts
        if self._last_dts is not None and dts > self._last_dts:
            self._duration = dts - self._last_dts
        elif not self._duration:
            self._duration = fmp4.TIMESCALE // max(self.config.max_fps, 1)
        self._last_dts = dts
        self._seq += 1
        data = fmp4.fragment(
            units,
            sequence=self._seq,
            decode_time=dts,
            duration=self._duration,
            keyframe=keyframe,
            composition_offset=pts - dts,
        )
        chunk = LiveChunk(ChunkKind.MEDIA, self.generation, self._seq, ts, keyframe, data)
        self._keep(chunk)
        chunks.append(chunk)
        return chunks

    @staticmethod
    def _parameters(units: list[bytes], extradata: bytes, length_size: int) -> tuple[bytes, tuple[bytes, ...]] | None:
        """The SPS and PPS of a keyframe: in-band (RTSP cameras repeat them), else the stream's extradata."""
        sps = [u for u in units if fmp4.nal_type(u) == fmp4.NAL_SPS]
        pps = [u for u in units if fmp4.nal_type(u) == fmp4.NAL_PPS]
        if not (sps and pps) and extradata:
            if length_size:  # avcC: numSPS at 5, then length-prefixed SPS, numPPS, PPS
                sps, pps = _avcc_parameters(extradata)
            else:
                known = fmp4.split_annexb(extradata)
                sps = sps or [u for u in known if fmp4.nal_type(u) == fmp4.NAL_SPS]
                pps = pps or [u for u in known if fmp4.nal_type(u) == fmp4.NAL_PPS]
        if not (sps and pps):
            return None
        return sps[0], tuple(dict.fromkeys(pps))

    def _start_generation(self, params: tuple[bytes, tuple[bytes, ...]], ts: float) -> None:
        sps = fmp4.parse_sps(params[0])
        audio = self.sound.live_track
        if self._params is not None and params != self._params:
            log.info(
                "camera %s: its H.264 changed (%dx%d): live viewers restart", self.config.slug, sps.width, sps.height
            )
        elif self._params is not None:
            log.info("camera %s: its sound %s: live viewers restart", self.config.slug, "began" if audio else "stopped")
        self._params = params
        self.generation = secrets.randbits(32)
        self._seq = 0
        self._last_dts = None
        init = fmp4.init_segment(params[0], params[1], audio=audio)
        codec = f"{sps.codec},{audio.codec}" if audio is not None else sps.codec
        self.init = LiveChunk(ChunkKind.INIT, self.generation, 0, ts, True, init, codec)
        self._audible = audio
        self.gop = []
        self._gop_bytes = 0
        self._published = False
        self._refused = ""

    def _sound(self, packet: Any) -> None:
        """Relay an audio packet as AAC fragments of this generation (never raises: a bad one is skipped)."""
        try:
            frames = self.sound.frames(packet)  # converted even when not relayed: the encoder keeps its clock
        except Exception:  # never into the capture loop
            log.debug("camera %s: an audio packet could not be relayed", self.config.slug, exc_info=True)
            return
        if self.init is None or self._audible is None or self._audible != self.sound.track or not self.gop:
            return  # no track for it yet (the next keyframe starts one), or no keyframe to start a viewer from
        chunks = []
        for decode_time, duration, data in frames:
            self._seq += 1
            fragment = fmp4.audio_fragment(data, sequence=self._seq, decode_time=decode_time, duration=duration)
            chunk = LiveChunk(ChunkKind.MEDIA, self.generation, self._seq, time.time(), False, fragment)
            self._keep(chunk)
            chunks.append(chunk)
        if chunks:
            self._publish(chunks)

    def _keep(self, chunk: LiveChunk) -> None:
        if chunk.keyframe:
            self.gop = []
            self._gop_bytes = 0
        elif not self.gop:
            return
        self.gop.append(chunk)
        self._gop_bytes += len(chunk.data)
        if self._gop_bytes > GOP_LIMIT_BYTES:
            self.gop = []
            self._gop_bytes = 0

    # The bus ------------------------------------------------------------------------------------
    def _publish(self, chunks: list[LiveChunk]) -> None:
        if not self._is_wanted():
            self._published = False
            return
        keyframe = any(c.kind is ChunkKind.MEDIA and c.keyframe for c in chunks)
        try:
            if keyframe or not self._published:
                if not self.gop or self.init is None:
                    return  # nothing a viewer could start from yet
                self.bus.publish_live(self.config.slug, [self.init, *self.gop], restart=True, stream=self.stream)
            else:
                self.bus.publish_live(self.config.slug, chunks, stream=self.stream)
            self._published = True
            self._bus_down = False
        except BUS_ERRORS as error:
            self._published = False
            if not self._bus_down:
                log.warning("camera %s: live H.264 not published (Redis: %s)", self.config.slug, type(error).__name__)
            self._bus_down = True

    def _is_wanted(self) -> bool:
        now = time.monotonic()
        if now >= self._next_wanted:
            self._next_wanted = now + WANTED_REFRESH
            try:
                self._wanted = self.bus.wants_live(self.config.slug, self.stream)
            except BUS_ERRORS:
                self._wanted = False
                self._next_wanted = now + BUS_DOWN_RETRY
        return self._wanted

    def _refuse(self, why: str, codec: str, keyframe: bool) -> None:
        """Say once why there is no stream; while wanted, tell viewers the codec (an init chunk without data),
        so a browser falls back to MJPEG at once instead of waiting (H.265, which Chromium cannot play)."""
        if why != self._refused:
            log.warning("camera %s: no H.264 live stream: %s", self.config.slug, why)
            self._refused = why
            self.init = None
            self._params = None
        if codec != "h264" and keyframe and self._is_wanted():  # (a damaged SPS of H.264 is only logged)
            marker = LiveChunk(ChunkKind.INIT, 0, 0, time.time(), True, b"", UNRELAYED_CODECS.get(codec, codec))
            try:
                self.bus.publish_live(self.config.slug, [marker], restart=True, stream=self.stream)
            except BUS_ERRORS:
                pass


def _avcc_parameters(extradata: bytes) -> tuple[list[bytes], list[bytes]]:
    """SPS and PPS lists of an avcC record (ISO/IEC 14496-15)."""
    sps: list[bytes] = []
    pps: list[bytes] = []
    offset = 6
    count = extradata[5] & 0x1F
    for target, n in ((sps, count), (pps, None)):
        if n is None:
            if offset >= len(extradata):
                break
            n = extradata[offset]
            offset += 1
        for _ in range(n):
            length = int.from_bytes(extradata[offset : offset + 2], "big")
            target.append(extradata[offset + 2 : offset + 2 + length])
            offset += 2 + length
    return sps, pps
