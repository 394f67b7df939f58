"""The H.264 relay's sound: one connection's audio as AAC frames for the live stream's second track.

The choice is the recorder's (recordings.audio): AAC is copied as it came, G.711 and the other codecs
FFmpeg decodes are converted to AAC (with a decoder of our own: the recorder decodes the same packets),
and a codec nobody knows leaves the live stream video only, said once in the log. The camera's `audio`
switch off means no sound here either. Each frame is timed in the track's sample rate from the packet's
own timestamp, which the RTSP demuxer puts on the same media clock as the video's.

A track is offered only while its sound is heard (`live_track`): many cameras announce audio they never
send (a microphone turned off), and a browser plays a stream's pictures only as far as all its tracks
reach, so a silent track would hold the picture back forever. A new connection's sound counts as heard
for SILENCE_LIMIT (its first packets may come after the first keyframe: a camera with sound starts with
its track, no restart); after that, the relay starts a new generation at a keyframe when the sound
starts or stops (cameras.relay), so a camera whose sound never comes restarts once, video only.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cameras import fmp4
from recordings.audio import AacConverter, AudioMode, AudioPlan, plan_for

log = logging.getLogger(__name__)

AAC_FRAME = 1024  # samples in an AAC-LC frame: the duration of one whose packet does not say
SILENCE_LIMIT = 3.0  # s without an audio packet: the live stream goes on without its sound track


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
        self._heard = -SILENCE_LIMIT  # time.monotonic() of the connection's latest audio packet

    @property
    def live_track(self) -> fmp4.AudioTrack | None:
        """The track to put in a new init segment: the sound's, while it is heard."""
        return self.track if time.monotonic() - self._heard < SILENCE_LIMIT else None

    def connect(self, video: Any) -> None:
        """Plan the sound of the connection `video` (an input stream) belongs to, once per connection."""
        if video is self._video:
            return
        self._video = video
        self.track, self._converter, self._encoder = None, None, None
        self._heard = -SILENCE_LIMIT
        streams = video.container.streams.audio if self.enabled else ()
        self._template = streams[0] if streams else None
        plan = plan_for(self._template)
        try:
            if plan.mode is AudioMode.COPY:
                context = self._template.codec_context
                if context.extradata:  # else ADTS: the first frame's header says it (frames)
                    config = bytes(context.extradata)
                    self.track = fmp4.AudioTrack(config, context.sample_rate, max(context.channels, 1))
            elif plan.mode is AudioMode.CONVERT:
                self._converter = AacConverter(self._template, own_decoder=True)
                self._encoder = self._converter.encoder()
                channels = 1 if self._converter.layout == "mono" else 2
                self.track = fmp4.AudioTrack(bytes(self._encoder.extradata), self._converter.rate, channels)
        except Exception as error:  # noqa: BLE001 - the sound never costs the picture
            plan = AudioPlan(AudioMode.UNSUPPORTED, plan.codec, f"audio codec {plan.codec} cannot be relayed ({error})")
            self.track, self._converter, self._encoder = None, None, None
        if self.track is not None:
            self._heard = time.monotonic()  # until its first packets come, or SILENCE_LIMIT says they will not
        if plan.mode is AudioMode.UNSUPPORTED and plan != self.plan:
            log.warning("camera %s: live video without sound: %s", self.slug, plan.reason)
        self.plan = plan

    def frames(self, packet: Any) -> list[tuple[int, int, bytes]]:
        """(decode time, duration, raw AAC frame) in the track's rate for one audio packet of the connection."""
        if packet.stream is not self._template:
            return []
        if self.track is None and self.plan.mode is AudioMode.COPY:
            self.track = _adts_track(bytes(packet))
        if self.track is None:
            return []
        self._heard = time.monotonic()
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


_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def _adts_track(data: bytes) -> fmp4.AudioTrack | None:
    """The track an ADTS header describes (AAC without a configuration beside it), as an AudioSpecificConfig."""
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
        return None
    kind = (data[2] >> 6) + 1  # the audio object type: 2 for AAC-LC
    rate_index = (data[2] >> 2) & 0xF
    channels = ((data[2] & 1) << 2) | (data[3] >> 6)
    if rate_index >= len(_ADTS_RATES) or not channels:
        return None
    config = ((kind << 11) | (rate_index << 7) | (channels << 3)).to_bytes(2, "big")
    return fmp4.AudioTrack(config, _ADTS_RATES[rate_index], channels)
