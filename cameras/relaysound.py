"""The H.264 relay's sound: one connection's audio as AAC frames for the live stream's second track.

The choice is the recorder's (recordings.audio): AAC is copied as it came, G.711 and the other codecs
FFmpeg decodes are converted to AAC (with a decoder of our own: the recorder decodes the same packets),
and a codec nobody knows leaves the live stream video only, said once in the log. The camera's `audio`
switch off means no sound here either. Each frame is timed in the track's sample rate from the packet's
own timestamp, which the RTSP demuxer puts on the same media clock as the video's.
"""

from __future__ import annotations

import logging
from typing import Any

from cameras import fmp4
from recordings.audio import AacConverter, AudioMode, AudioPlan, plan_for

log = logging.getLogger(__name__)

AAC_FRAME = 1024  # samples in an AAC-LC frame: the duration of one whose packet does not say


class RelaySound:
    """What becomes of one camera's audio in its live stream (capture thread only)."""

    def __init__(self, slug: str, enabled: bool) -> None:
        self.slug = slug
        self.enabled = enabled  # the camera's `audio` switch
        self.plan = AudioPlan(AudioMode.NONE)
        self.track: fmp4.AudioTrack | None = None  # the init segment's audio track, when there is sound
        self._template: Any = None  # the connection's audio stream
        self._video: Any = None  # the video stream the plan was made for (a new one: a new connection)
        self._converter: AacConverter | None = None
        self._encoder: Any = None

    def connect(self, video: Any) -> None:
        """Plan the sound of the connection `video` (an input stream) belongs to, once per connection."""
        if video is self._video:
            return
        self._video = video
        self.track, self._converter, self._encoder = None, None, None
        streams = video.container.streams.audio if self.enabled else ()
        self._template = streams[0] if streams else None
        plan = plan_for(self._template)
        try:
            if plan.mode is AudioMode.COPY:
                context = self._template.codec_context
                if not context.extradata:
                    raise ValueError("its AAC configuration is missing")
                self.track = fmp4.AudioTrack(bytes(context.extradata), context.sample_rate, max(context.channels, 1))
            elif plan.mode is AudioMode.CONVERT:
                self._converter = AacConverter(self._template, own_decoder=True)
                self._encoder = self._converter.encoder()
                channels = 1 if self._converter.layout == "mono" else 2
                self.track = fmp4.AudioTrack(bytes(self._encoder.extradata), self._converter.rate, channels)
        except Exception as error:  # noqa: BLE001 - the sound never costs the picture
            plan = AudioPlan(AudioMode.UNSUPPORTED, plan.codec, f"audio codec {plan.codec} cannot be relayed ({error})")
            self.track, self._converter, self._encoder = None, None, None
        if plan.mode is AudioMode.UNSUPPORTED and plan != self.plan:
            log.warning("camera %s: live video without sound: %s", self.slug, plan.reason)
        self.plan = plan

    def frames(self, packet: Any) -> list[tuple[int, int, bytes]]:
        """(decode time, duration, raw AAC frame) in the track's rate for one audio packet of the connection."""
        if self.track is None or packet.stream is not self._template:
            return []
        if self._converter is not None:
            return [
                (int(p.pts or 0), int(p.duration or AAC_FRAME), bytes(p))
                for p in self._converter.encode(packet, self._encoder)
            ]
        if packet.pts is None or not packet.time_base:
            return []
        rate = self.track.rate
        duration = int(packet.duration * packet.time_base * rate) if packet.duration else AAC_FRAME
        return [(int(packet.pts * packet.time_base * rate), duration, _without_adts(bytes(packet)))]


def _without_adts(data: bytes) -> bytes:
    """A raw AAC frame: an ADTS header (7 bytes, 9 with its CRC), which MP4 does not carry, removed."""
    if len(data) > 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return data[7 if data[1] & 1 else 9 :]
    return data
