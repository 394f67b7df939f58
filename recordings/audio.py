"""A camera's audio in its segments: AAC copied as it came, other codecs converted to AAC once, or none.

MP4 (and the browsers that play our HLS and clips) carries AAC; cameras also send G.711 (pcm_mulaw,
pcm_alaw), G.726 or ADPCM. Those are decoded and encoded to AAC here with PyAV (FFmpeg's own encoder:
a few kbit/s of 8 kHz mono, a small fraction of the video's decoding), one encoder per segment so each
file stands alone. The live relay (cameras.relay) converts the same way, with a decoder of its own
(`own_decoder`: the recorder decodes the same packets) and one encoder for the connection (`encoder`).
A codec FFmpeg cannot decode is left out: the camera is recorded without sound,
and the recorder's status and log say why (`AudioPlan.reason`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

import av

log = logging.getLogger(__name__)

COPIED = frozenset({"aac"})  # carried by MP4 and played by browsers as they are
AAC_BIT_RATE = 32_000  # bits/s: plenty for a camera's microphone (8-16 kHz, mono)
AAC_RATES = frozenset({8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000})


class AudioMode(StrEnum):
    NONE = "none"  # the camera sends no audio, or the camera's `audio` switch is off
    COPY = "copy"
    CONVERT = "convert"  # decoded and encoded to AAC
    UNSUPPORTED = "unsupported"  # a codec FFmpeg cannot decode: video only


@dataclass(frozen=True)
class AudioPlan:
    """What becomes of one connection's audio stream."""

    mode: AudioMode
    codec: str = ""
    reason: str = ""  # why there is no audio (UNSUPPORTED)

    @property
    def describe(self) -> str:
        """In an operator's words, for the status."""
        if self.mode is AudioMode.COPY:
            return f"{self.codec} (copied)"
        if self.mode is AudioMode.CONVERT:
            return f"{self.codec} (converted to AAC)"
        if self.mode is AudioMode.UNSUPPORTED:
            return f"none: {self.reason}"
        return ""


def plan_for(stream: Any | None) -> AudioPlan:
    """Copy, convert or leave out `stream` (an input av.AudioStream, or None for none)."""
    if stream is None:
        return AudioPlan(AudioMode.NONE)
    try:
        context = stream.codec_context
        name = context.name
    except Exception:  # noqa: BLE001 - PyAV has no codec context for a codec it does not know
        return AudioPlan(AudioMode.UNSUPPORTED, "unknown", "unknown audio codec, recorded without sound")
    if name in COPIED:
        return AudioPlan(AudioMode.COPY, name)
    if not context.sample_rate or not context.codec.is_decoder:
        return AudioPlan(AudioMode.UNSUPPORTED, name, f"audio codec {name} cannot be converted, recorded without sound")
    return AudioPlan(AudioMode.CONVERT, name)


class AacConverter:
    """One connection's audio decoded and encoded to AAC; each segment gets its own encoder (`open`)."""

    def __init__(self, stream: Any, *, own_decoder: bool = False) -> None:
        rate = stream.codec_context.sample_rate
        self.rate = rate if rate in AAC_RATES else 16_000  # AAC has a fixed set of rates: others are resampled
        self.layout = "mono" if stream.codec_context.channels <= 1 else "stereo"
        self.resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
        self.fifo = av.AudioFifo()
        self.next_pts: int | None = None  # in 1/rate, on the connection's media clock
        self.decoder: Any = None  # else the stream's own decoder (packet.decode())
        if own_decoder:
            context = stream.codec_context
            self.decoder = av.CodecContext.create(context.name, "r")
            self.decoder.sample_rate = context.sample_rate
            self.decoder.layout = context.layout
            if context.extradata:
                self.decoder.extradata = context.extradata

    def add_stream(self, container: Any) -> Any:
        """The AAC stream of a new segment (its own encoder)."""
        stream = container.add_stream("aac", rate=self.rate, layout=self.layout)
        stream.bit_rate = AAC_BIT_RATE
        stream.time_base = Fraction(1, self.rate)
        stream.codec_context.time_base = Fraction(1, self.rate)
        return stream

    def encoder(self) -> Any:
        """An AAC encoder of its own (no container): its packets' times are in 1/rate, its extradata the config."""
        context = av.CodecContext.create("aac", "w")
        context.sample_rate = self.rate
        context.layout = self.layout
        context.format = "fltp"
        context.bit_rate = AAC_BIT_RATE
        context.time_base = Fraction(1, self.rate)
        context.open()
        return context

    def encode(self, packet: Any, stream: Any) -> list[Any]:
        """AAC packets of `stream` (a segment's, or an `encoder()`) for one packet of the camera's audio."""
        if self.next_pts is None and packet.pts is not None and packet.time_base:
            self.next_pts = int(packet.pts * packet.time_base * self.rate)
        out = []
        frames = self.decoder.decode(packet) if self.decoder is not None else packet.decode()
        for frame in frames:
            for resampled in self.resampler.resample(frame):
                resampled.pts = None
                self.fifo.write(resampled)
        size = getattr(stream, "codec_context", stream).frame_size or 1024
        while self.fifo.samples >= size:
            chunk = self.fifo.read(size)
            if chunk is None:
                break
            chunk.pts = self.next_pts or 0
            chunk.time_base = Fraction(1, self.rate)
            self.next_pts = chunk.pts + chunk.samples
            out.extend(stream.encode(chunk))
        return out

    @staticmethod
    def flush(stream: Any) -> list[Any]:
        """What a segment's encoder still holds, at its end."""
        return list(stream.encode(None))
