"""An RTSP test camera that paints its own clock into every picture, for glass-to-glass latency.

Run by Debian's /usr/bin/python3 (GstRtspServer through PyGObject, as tests/support/rtsp_server.py):

    /usr/bin/python3 tests/support/clock_camera.py --port 0 [--fps 15] [--h265] [--exit-on-stdin-eof]

One mount, /clock: 640x360 grey pictures made here (appsrc) -> x264 (zerolatency, a keyframe a
second; x265 with --h265, a camera whose video Chromium cannot play) -> RTP. Each picture carries the wall-clock time it was made, in milliseconds, as BITS
blocks of BLOCK x BLOCK pixels along its top (white 1, black 0, most significant first), so a
viewer that reads the blocks back from the picture it shows knows how old that picture is.
Prints "READY rtsp://127.0.0.1:PORT" once listening; exits on SIGTERM and, with
--exit-on-stdin-eof, when its parent goes away.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 - after require_version

WIDTH, HEIGHT = 640, 360
BITS = 40  # milliseconds since the epoch, modulo 2**40 (35 years)
BLOCK = 16  # pixels: 40 blocks of 16 = 640, one row


def picture(now_ms: int, frame: int) -> bytes:
    """A GRAY8 picture: the clock's blocks on top, a band that moves below (so pictures differ)."""
    row = bytearray()
    for bit in range(BITS):
        on = (now_ms >> (BITS - 1 - bit)) & 1
        row += (b"\xeb" if on else b"\x10") * BLOCK
    clock = bytes(row) * (BLOCK * 2)  # two blocks tall: sturdier under compression
    band_at = (frame * 8) % (HEIGHT - BLOCK * 2 - 20)
    rest = bytearray(b"\x50" * (WIDTH * (HEIGHT - BLOCK * 2)))
    start = band_at * WIDTH
    rest[start : start + WIDTH * 20] = b"\xa0" * (WIDTH * 20)
    return clock + bytes(rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--h265", action="store_true", help="encode H.265 instead of H.264")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args(argv)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( appsrc name=src is-live=true format=time do-timestamp=true "
        f"caps=video/x-raw,format=GRAY8,width={WIDTH},height={HEIGHT},framerate={args.fps}/1 "
        "! videoconvert ! video/x-raw,format=I420 "
        + (
            f"! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
            "! rtph265pay name=pay0 pt=96 config-interval=1 )"
            if args.h265
            else f"! x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max={args.fps} "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    )
    factory.set_shared(True)
    state = {"frame": 0}

    def configure(_factory, media) -> None:  # type: ignore[no-untyped-def]
        source = media.get_element().get_child_by_name("src")
        interval_ms = 1000 // args.fps

        def push() -> bool:
            state["frame"] += 1
            data = picture(int(time.time() * 1000), state["frame"])
            buffer = Gst.Buffer.new_wrapped(data)
            buffer.duration = Gst.SECOND // args.fps
            return source.emit("push-buffer", buffer) == Gst.FlowReturn.OK

        GLib.timeout_add(interval_ms, push)

    factory.connect("media-configure", configure)
    server.get_mount_points().add_factory("/clock", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, lambda: (loop.quit(), False)[1])
    if args.exit_on_stdin_eof:
        GLib.io_add_watch(
            GLib.IOChannel.unix_new(sys.stdin.fileno()),
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            lambda *_: (loop.quit(), False)[1],
        )
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
