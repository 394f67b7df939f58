"""Reading H.264 as a test checks it: NAL units of a direct RTSP read, and of an MP4 file, compared as bytes."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import av

from cameras import fmp4

SLICE_TYPES = {1, 5}  # coded slices (non-IDR, IDR)


def read_rtsp_units(url: str, stop: threading.Event, into: list[bytes]) -> None:
    """Append every NAL unit the camera sends (a PyAV read of its RTSP stream) until `stop` is set."""
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                into.extend(fmp4.split_annexb(bytes(packet)))
            if stop.is_set():
                return


def mp4_units(path: Path) -> list[bytes]:
    """Every NAL unit of an MP4 file's video samples, in order (a PyAV read of the file)."""
    units: list[bytes] = []
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                units.extend(fmp4.split_lengths(bytes(packet)))
    return units


def ffprobe_video(target: str, *, count: bool = True) -> dict:
    """ffprobe's view of the first video stream of a file or URL (codec, width, height; frames read when
    `count`, never for a stream that does not end)."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            *(["-count_packets"] if count else []),
            "-show_entries",
            "stream=codec_name,width,height,nb_read_packets,profile",
            "-of",
            "json",
            target,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return json.loads(out)["streams"][0]
