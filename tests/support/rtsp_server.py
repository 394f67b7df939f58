"""A real RTSP test camera: GStreamer's RTSP server serving live H.264 test video.

Run by Debian's /usr/bin/python3, not by the project's virtualenv: GstRtspServer is
reached through PyGObject (python3-gi) and its GObject-introspection typelibs, which
Debian packages for its own interpreter only (pip cannot install them into a venv of
another Python). tests/support/servers.py:RtspServer starts it as a subprocess.

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --mount /cam1 --mount /cam2 \
        [--width 640 --height 480 --fps 15] [--user U --password P] [--exit-on-stdin-eof]

A mount may carry its own size and an audio track: `--mount /main:1280x720:aac --mount /sub:320x180`
(audio: aac, pcmu, pcma, or mystery, a codec nobody knows; a 440 Hz tone, 8 kHz mono for G.711, 16 kHz for AAC, as cameras send).
`--mount /main:file=/path/video.mp4` serves an MP4's H.264 as it is, in real time (no encoder: a benchmark's
1080p cameras cost the machine almost nothing); it ends with the file.

Each mount is a shared live pipeline: videotestsrc (a moving ball, so frames differ)
-> x264enc (zerolatency, a keyframe every second so a reconnecting client gets a
picture fast) -> RTP. With --user/--password, clients must authenticate (Basic);
wrong or missing credentials get 401. Prints "READY rtsp://127.0.0.1:PORT" once
listening (--port 0 picks a free port and reports it there); exits 0 on SIGTERM or
SIGINT, and with --exit-on-stdin-eof also when its parent goes away.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 - after require_version


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", action="append", help="mount path, repeatable (default /test)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument(
        "--pattern",
        default="ball",
        help="videotestsrc pattern: ball (~110 kbit/s at 720p) or snow (noise: x264's 2 Mbit/s cap, a camera's rate)",
    )
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="exit when stdin closes (the parent died), so no server outlives a test run",
    )
    args = parser.parse_args(argv)
    args.mount = ["/" + m.lstrip("/") for m in (args.mount or ["/test"])]
    for spec in args.mount:
        try:
            parse_mount(spec, args.width, args.height)
        except ValueError as error:
            parser.error(str(error))
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    return args


AUDIO = {
    "aac": "audio/x-raw,rate=16000,channels=1 ! avenc_aac ! rtpmp4gpay name=pay1 pt=97",
    "pcmu": "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0",
    "pcma": "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8",
    # A codec no client knows: G.711 announced under a made-up name (the SDP says X-NVR-MYSTERY).
    "mystery": "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay pt=97 ! capssetter join=false replace=true "
    'caps="application/x-rtp,media=(string)audio,clock-rate=(int)8000,encoding-name=(string)X-NVR-MYSTERY,'
    'payload=(int)97" name=pay1',
}


def parse_mount(spec: str, width: int, height: int) -> tuple[str, int, int, str, str]:
    """(path, width, height, audio, file) of `/path[:WIDTHxHEIGHT][:aac|pcmu|pcma|mystery][:file=PATH]`."""
    path, *options = spec.split(":")
    audio = file = ""
    for option in filter(None, options):
        if option.startswith("file="):
            file = option.removeprefix("file=")
        elif "x" in option and all(part.isdigit() for part in option.split("x", 1)):
            width, height = (int(part) for part in option.split("x", 1))
        elif option in AUDIO:
            audio = option
        else:
            raise ValueError(f"mount {spec!r}: unknown option {option!r}")
    return path, width, height, audio, file


def launch_line(width: int, height: int, fps: int, pattern: str = "ball", audio: str = "", file: str = "") -> str:
    if file:
        return f"( filesrc location={file} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    sound = (
        f"audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! {AUDIO[audio]} "
        if audio
        else ""
    )
    return (
        f"( videotestsrc is-live=true pattern={pattern} "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        # bframes=0 and a short GOP: low latency and fast (re)connection for clients.
        f"! x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max={max(fps, 1)} "
        f"! rtph264pay name=pay0 pt=96 config-interval=1 {sound})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)

    mounts = server.get_mount_points()
    for spec in args.mount:
        path, width, height, audio, file = parse_mount(spec, args.width, args.height)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(width, height, args.fps, args.pattern, audio, file))
        factory.set_shared(not file)  # a file is read per client, from its start (cheap: no encoder)
        if args.user is not None:
            # Without these permissions an authenticated client still gets 401.
            perms = GstRtspServer.RTSPPermissions()
            perms.add_role("user")
            perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
            perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
            factory.set_permissions(perms)
        mounts.add_factory(path, factory)

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
