"""The timeline's hover previews: the recorded keyframe nearest a moment, as a small JPEG.

Only a keyframe is decoded (a decoder needs nothing before it): the segment's packets are read
without decoding to find the keyframe nearest the moment, then that one packet is decoded, scaled
and encoded once. Answers are kept per segment and second (PREVIEW_CACHE of them, about 10 KB each),
and the browser keeps them too (Cache-Control), so sweeping the pointer back and forth decodes each
keyframe once. The work runs in review.offload's pool, so previews queue behind each other, never
in front of live streams.
"""

from __future__ import annotations

from collections import OrderedDict
from fractions import Fraction

import av
import cv2

from recordings.store import get_store
from review.offload import off_loop

PREVIEW_WIDTH = 320  # pixels, when the request names none (a 160 px thumbnail on a 2x screen)
PREVIEW_QUALITY = 70
PREVIEW_CACHE = 512  # previews kept per web process (least recently used goes first)

_cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()


class NoKeyframe(FileNotFoundError):
    """The segment holds no decodable keyframe (cut short, or not video)."""


def keyframe_jpeg(key: str, offset: float, width: int = PREVIEW_WIDTH) -> bytes:
    """The keyframe of the stored segment `key` nearest `offset` seconds into it, `width` pixels wide, as JPEG."""
    with get_store().open(key) as file, av.open(file, "r") as container:
        stream = container.streams.video[0]
        base = stream.time_base or Fraction(1, 90_000)
        timed = [(p, int(p.pts)) for p in container.demux(stream) if p.pts is not None]
        if not timed:
            raise NoKeyframe(f"{key} has no video packets")
        first = min(pts for _, pts in timed)
        keyframes = [(p, pts) for p, pts in timed if p.is_keyframe]
        if not keyframes:
            raise NoKeyframe(f"{key} has no keyframe")
        nearest, _ = min(keyframes, key=lambda kept: abs(float((kept[1] - first) * base) - offset))
        codec = stream.codec_context
        frames = codec.decode(nearest) or codec.decode(None)  # a decoder with delay gives it on flush
        if not frames:
            raise NoKeyframe(f"{key}: the keyframe did not decode")
        image = frames[0].to_ndarray(format="bgr24")
    height = max(2, round(image.shape[0] * width / image.shape[1] / 2) * 2)
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_QUALITY])
    if not ok:
        raise NoKeyframe(f"{key}: the preview did not encode")
    return buffer.tobytes()


async def preview_jpeg(key: str, segment_id: int, offset: float, width: int = 0) -> bytes:
    """The preview of `offset` seconds into the stored segment `key`, from the cache or made in the read pool."""
    width = width or PREVIEW_WIDTH
    kept = (segment_id, int(offset), width)
    cached = _cache.get(kept)
    if cached is not None:
        _cache.move_to_end(kept)
        return cached
    jpeg = await off_loop(keyframe_jpeg, key, offset, width)
    _cache[kept] = jpeg
    while len(_cache) > PREVIEW_CACHE:
        _cache.popitem(last=False)
    return jpeg
