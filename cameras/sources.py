"""Frame sources: one small interface, one class per kind of camera.

The capture loop calls `grab()` for every picture the camera sends (so buffers are drained and
what it hands on is the newest) and `retrieve()` only for the pictures some output wants.
Hardware-specific imports happen inside their class. Error messages are written here, for
operators, and never contain credentials.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import cv2
import numpy as np

from cameras.config import CameraConfig
from cameras.kinds import Kind
from cameras.probes import probe_http, probe_rtsp
from cameras.timestamps import MISSING_LIMIT, TimestampValidator
from cameras.validation import OutsideMediaDir, parse_resolution, resolve_file_path
from outbound import Purpose, Refused, check_now

OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000

# FFmpeg's logging may print the URL it opens; keep it quiet in every process that captures.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


class SourceError(Exception):
    """A problem opening or reading a camera; the message is shown to operators.

    `retry` is False for problems that reconnecting cannot fix by itself (missing
    library, missing file, refused credentials), which show as state "error".
    """

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class FrameSource(ABC):
    """open() once, then grab() each picture and retrieve() the ones some output wants; close() always.

    A source whose camera sends compressed video (RTSP) `delivers_packets`: the capture loop
    sets `packet_sink` before open(), and every packet read goes there as it is (the recorder's
    stream copy, its timestamps checked first), and is decoded only while the loop asks for
    pictures: one connection serves every output. Other sources always decode.
    """

    delivers_packets = False

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.packet_sink: Callable[[Any], None] | None = None
        self.decoded = 0  # pictures decoded so far

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def grab(self, *, decode: bool = True) -> bool:
        """Wait for the camera's next picture; True when it was decoded (retrieve() may follow).

        A source of packets decodes only when `decode` is True; sources without compressed video
        always do. Raise SourceError when nothing comes.
        """

    @abstractmethod
    def retrieve(self) -> np.ndarray:
        """The picture last grabbed, as a BGR image."""

    def size(self) -> tuple[int, int] | None:
        """(width, height) of the camera's pictures, when known without decoding one."""
        return None

    def clock_offset(self) -> float | None:
        """Seconds the camera's clock is ahead of ours, when the source can tell (None: it cannot)."""
        return None

    def timestamp_counts(self) -> tuple[int, int]:
        """(repaired, dropped) packets of this connection (cameras.timestamps); sources without packets have none."""
        return 0, 0

    def close(self) -> None:  # noqa: B027 - optional for sources without resources
        pass


class Pacer:
    """Sleeps so that successive calls happen at a steady rate (for non-live sources)."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / max(fps, 0.1)
        self.next_at = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        self.next_at = max(self.next_at + self.interval, time.monotonic() - self.interval)


class TestPatternSource(FrameSource):
    """A synthetic picture with the camera name and time, so a demo runs without hardware.

    A white bar crosses it for CROSSING_SECONDS of every PERIOD_SECONDS (counted in frames at the
    camera's rate), so the demo shows motion events now and then and a quiet scene in between.
    """

    PERIOD_SECONDS = 30
    CROSSING_SECONDS = 4

    def open(self) -> None:
        self.width, self.height = parse_resolution(self.config.source)
        x = np.linspace(0, 255, self.width, dtype=np.uint8)
        y = np.linspace(0, 255, self.height, dtype=np.uint8)
        background = np.zeros((self.height, self.width, 3), np.uint8)
        background[..., 0] = x[None, :]
        background[..., 1] = y[:, None]
        background[..., 2] = 128
        self.background = background
        self.pacer = Pacer(self.config.max_fps)
        self.count = 0

    def grab(self, *, decode: bool = True) -> bool:
        self.pacer.wait()
        self.count += 1
        self.decoded += 1
        return True

    def size(self) -> tuple[int, int] | None:
        return self.width, self.height

    def retrieve(self) -> np.ndarray:
        frame = self.background.copy()
        w, h = self.width, self.height
        fps = max(self.config.max_fps, 1)
        step = self.count % (self.PERIOD_SECONDS * fps)
        if step < self.CROSSING_SECONDS * fps:
            bar = int(step / (self.CROSSING_SECONDS * fps) * w)
            cv2.rectangle(frame, (bar, 0), (min(bar + w // 16, w), h), (255, 255, 255), -1)
        scale = max(h / 480, 0.3)
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-4]
        for text, row in ((self.config.name, 0.15), (stamp, 0.9)):
            org = (int(w * 0.04), int(h * row))
            cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), int(4 * scale) + 2, cv2.LINE_AA)
            cv2.putText(
                frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), int(2 * scale) + 1, cv2.LINE_AA
            )
        return frame


_ffmpeg_options_lock = threading.Lock()


class OpenCVSource(FrameSource):
    """Anything OpenCV opens: the base of RTSP, HTTP MJPEG, file and webcam sources."""

    api = cv2.CAP_FFMPEG
    what = "camera"
    decode_threads: int | None = None  # FFmpeg's decoding threads; None: as many as cores

    def target(self) -> str | int:
        return self.config.source

    def capture_options(self) -> str | None:
        """FFmpeg options for this open (OPENCV_FFMPEG_CAPTURE_OPTIONS), or None."""
        return None

    def open(self) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
        if self.decode_threads is not None:
            params += [cv2.CAP_PROP_N_THREADS, self.decode_threads]
        options = self.capture_options()
        # The options are read from the environment during open: one open at a time.
        with _ffmpeg_options_lock:
            previous = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
            if options is not None:
                os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = options
            try:
                self.capture = cv2.VideoCapture(self.target(), self.api, params)
            finally:
                if options is not None:
                    if previous is None:
                        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
                    else:
                        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = previous
        if not self.capture.isOpened():
            self.capture.release()
            raise self.open_error()

    def open_error(self) -> SourceError:
        return SourceError(f"could not open the {self.what}")

    def grab(self, *, decode: bool = True) -> bool:
        if not self.capture.grab():  # FFmpeg's backend decodes here
            raise SourceError(f"the {self.what} stopped sending frames")
        self.decoded += 1
        return True

    def size(self) -> tuple[int, int] | None:
        width, height = self.capture.get(cv2.CAP_PROP_FRAME_WIDTH), self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        return (int(width), int(height)) if width > 0 and height > 0 else None

    def retrieve(self) -> np.ndarray:
        ok, frame = self.capture.retrieve()
        if not ok or frame is None:
            raise SourceError(f"the {self.what} sent a frame that could not be decoded")
        return frame

    def close(self) -> None:
        capture = getattr(self, "capture", None)
        if capture is not None:
            capture.release()


def check_address(url: str, what: str) -> None:
    """The outbound policy right before FFmpeg connects (it resolves the name itself: docs/security.md)."""
    try:
        check_now(url, Purpose.CAMERA)
    except Refused as refusal:
        raise SourceError(f"the {what}'s address is not allowed: {refusal}", retry=False) from None
    except OSError:
        raise SourceError(f"could not open the {what}: unknown host") from None


def url_with_credentials(url: str, username: str, password: str) -> str:
    """The URL handed to FFmpeg; it exists only inside the source, never in logs or pages."""
    if not username and not password:
        return url
    parts = urlsplit(url)
    auth = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


class NetworkSource(OpenCVSource):
    """A camera reached by URL; a failed open is explained by a probe of the server."""

    probe = staticmethod(probe_rtsp)

    def target(self) -> str:
        return url_with_credentials(self.config.source, self.config.username, self.config.password)

    def open(self) -> None:
        check_address(self.config.source, self.what)
        super().open()

    def open_error(self) -> SourceError:
        problem = self.probe(self.config.source, self.config.username, self.config.password)
        if problem == "auth":
            return SourceError("the camera refused the username or password", retry=False)
        if problem:
            return SourceError(f"could not open the {self.what}: {problem}")
        return SourceError(f"could not open the {self.what} (no video or unsupported format)")


class RtspSource(FrameSource):
    """An RTSP camera through PyAV: one connection whose packets are recorded as they are and decoded on demand.

    Cameras limit concurrent sessions and pulling twice doubles their upload, so every output shares
    this one demuxer (docs/design.md). Each packet's timestamps are checked first (cameras.timestamps),
    then it is decoded if the loop asks for pictures, then handed to the packet sink. While nobody asks,
    nothing is decoded: the packets since the last keyframe are kept (at most GOP_LIMIT_BYTES), so the
    first picture asked for is decoded from them at once instead of after the next keyframe.
    FFmpeg's errors can carry the URL, credentials included: they are never shown or logged; the
    messages below are written here, and a failed open is explained by a probe.
    """

    what = "RTSP stream"
    delivers_packets = True
    GOP_LIMIT_BYTES = 16 * 2**20  # a longer group of pictures is dropped: the next keyframe starts one
    CLOCK_WINDOW = 5.0  # s: the camera's clock offset is the largest seen over this long (delays only lower it)

    def target(self) -> str:
        return url_with_credentials(self.config.source, self.config.username, self.config.password)

    def open(self) -> None:
        import av

        check_address(self.config.source, self.what)
        options = {
            "rtsp_transport": self.config.rtsp_transport,
            # A shorter probe opens a 720p stream in ~0.7 s instead of ~2 s (measured): faster reconnects.
            "probesize": "262144",
            "analyzeduration": "500000",
        }
        try:
            self.container = av.open(
                self.target(), options=options, timeout=(OPEN_TIMEOUT_MS / 1000, READ_TIMEOUT_MS / 1000)
            )
        except Exception:  # noqa: BLE001 - FFmpeg's message may hold the URL: explained by a probe instead
            raise self.open_error() from None
        if not self.container.streams.video:
            self.container.close()
            raise SourceError("the RTSP stream has no video")
        self.stream = self.container.streams.video[0]
        # Every camera has its own capture thread, so decoding in parallel inside one camera only adds
        # thread hand-offs and a frame of delay per thread. Measured, 16 RTSP 720p cameras on 2 cores:
        # 151 % -> 134 % CPU, frame age at publish p50 45 -> 26 ms, RSS 370 -> 304 MB (bench capture).
        self.stream.thread_count = 1
        # The camera's sound goes to the outputs with the video (the recorder keeps it), never decoded here.
        audio = self.container.streams.audio
        self.audio = audio[0] if audio and self.config.audio else None
        self.packets = self.container.demux(*(s for s in (self.stream, self.audio) if s is not None))
        self.timestamps = TimestampValidator()
        self.frame: Any = None  # the newest decoded av.VideoFrame
        self.decoding = False  # the decoder has seen every packet since a keyframe
        self.gop: deque[Any] = deque()  # packets since the last keyframe
        self.gop_bytes = 0
        self._offset: float | None = None  # the camera's clock offset over the last whole window
        self._window: tuple[float, float] | None = None  # (when the window ends, its largest offset so far)

    def open_error(self) -> SourceError:
        problem = probe_rtsp(self.config.source, self.config.username, self.config.password)
        if problem == "auth":
            return SourceError("the camera refused the username or password", retry=False)
        if problem:
            return SourceError(f"could not open the {self.what}: {problem}")
        return SourceError(f"could not open the {self.what} (no video or unsupported format)")

    def grab(self, *, decode: bool = True) -> bool:
        """Read the next picture's packets (each to the sink); decode them only when asked."""
        sink = self.packet_sink
        while True:
            try:
                packet = next(self.packets)
            except StopIteration:
                raise SourceError(f"the {self.what} ended") from None
            except Exception:  # noqa: BLE001 - a read timeout or a dropped connection (message may hold the URL)
                raise SourceError(f"the {self.what} stopped sending frames") from None
            if packet.size == 0:
                continue  # a demuxer flush packet
            if not self.timestamps.check(packet):
                if self.timestamps.missing > MISSING_LIMIT:
                    raise SourceError(f"the {self.what} sends packets without timestamps")
                continue
            if packet.stream is not self.stream:  # sound: to the outputs as it came
                if sink is not None:
                    sink(packet)
                continue
            self._remember(packet)
            self._measure_clock(packet)
            decoded = self._decode(packet) if decode else self._pause()
            if sink is not None:
                sink(packet)  # after decoding: an output may re-time the packet while it writes it
            if decoded or not decode:
                return decoded

    def _remember(self, packet: Any) -> None:
        """Keep the packets since the last keyframe: the first picture asked for is decoded from them."""
        if packet.is_keyframe:
            self.gop.clear()
            self.gop_bytes = 0
        elif not self.gop:
            return  # no keyframe seen yet
        self.gop.append(packet)
        self.gop_bytes += packet.size
        if self.gop_bytes > self.GOP_LIMIT_BYTES:
            self.gop.clear()
            self.gop_bytes = 0

    def _measure_clock(self, packet: Any) -> None:
        """The camera's wall clock against ours, from its RTCP sender reports.

        FFmpeg maps the first sender report's NTP time to the stream's start (`start_time_realtime`, Unix
        microseconds, at PTS 0), so a packet's time on the camera's clock is that plus its PTS; minus our
        clock at arrival, it is the camera's offset less the network and buffering delay (measured on
        the test RTSP server on loopback: -0.10 s; -120.10 s with its clock set 120 s back by libfaketime).
        The largest of a window is the least delayed. A camera that sends no sender report has none.
        """
        realtime = self.container.start_time_realtime
        if not realtime or packet.pts is None or packet.time_base is None:
            return
        now = time.time()
        offset = realtime / 1e6 + float(packet.pts * packet.time_base) - now
        if self._window is None:
            self._window = (now + self.CLOCK_WINDOW, offset)
        elif now >= self._window[0]:
            self._offset = self._window[1]
            self._window = (now + self.CLOCK_WINDOW, offset)
        elif offset > self._window[1]:
            self._window = (self._window[0], offset)

    def clock_offset(self) -> float | None:
        return getattr(self, "_offset", None)

    def _pause(self) -> bool:
        self.decoding = False
        return False

    def _decode(self, packet: Any) -> bool:
        """Decode `packet` (or, when decoding starts, the packets since the keyframe); True when a picture came."""
        if self.decoding:
            pending = [packet]
        else:
            if not self.gop:
                return False  # nothing to start from: wait for the next keyframe
            self.stream.codec_context.flush_buffers()  # what it held is from before the pause
            pending = list(self.gop)
            self.decoding = True
        frames = []
        for item in pending:
            try:
                frames.extend(item.decode())
            except Exception:  # noqa: BLE001 - a corrupt packet: the next keyframe repairs the picture
                continue
        if not frames:
            return False
        self.decoded += len(frames)
        self.frame = frames[-1]
        return True

    def retrieve(self) -> np.ndarray:
        if self.frame is None:
            raise SourceError(f"the {self.what} sent a frame that could not be decoded")
        return self.frame.to_ndarray(format="bgr24")

    def timestamp_counts(self) -> tuple[int, int]:
        timestamps = getattr(self, "timestamps", None)
        return (timestamps.repaired, timestamps.dropped) if timestamps else (0, 0)

    def size(self) -> tuple[int, int] | None:
        context = self.stream.codec_context
        return (context.width, context.height) if context.width and context.height else None

    def close(self) -> None:
        container = getattr(self, "container", None)
        if container is not None:
            container.close()


class HttpMjpegSource(NetworkSource):
    what = "MJPEG stream"
    probe = staticmethod(probe_http)


class FileSource(OpenCVSource):
    """A video file played in a loop at its own frame rate."""

    what = "video file"

    def target(self) -> str:
        try:
            return str(resolve_file_path(self.config.source))
        except OutsideMediaDir:
            raise SourceError("the video file is outside the media folder (NVR_MEDIA_DIR)", retry=False) from None

    def open(self) -> None:
        if not Path(self.target()).is_file():
            raise SourceError("the video file does not exist", retry=False)
        super().open()
        fps = self.capture.get(cv2.CAP_PROP_FPS) or 25.0
        self.pacer = Pacer(fps if 0 < fps <= 120 else 25.0)

    def grab(self, *, decode: bool = True) -> bool:
        self.pacer.wait()
        if not self.capture.grab():
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop
            if not self.capture.grab():
                raise SourceError("the video file has no readable frames")
        self.decoded += 1
        return True


class WebcamSource(OpenCVSource):
    """A USB/V4L2 camera by index (0, 1, ...) or device path."""

    api = cv2.CAP_V4L2
    what = "webcam"

    def target(self) -> str | int:
        source = self.config.source
        return int(source) if source.isdigit() else source


class PiCameraSource(FrameSource):
    """The Raspberry Pi camera through picamera2 (imported only here)."""

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError("picamera2 is not installed on this capture host", retry=False) from None
        index = int(self.config.source) if self.config.source else 0
        try:
            self.camera = Picamera2(index)
            self.camera.configure(self.camera.create_video_configuration(main={"format": "BGR888"}))
            self.camera.start()
        except Exception as error:  # noqa: BLE001 - picamera2 raises many kinds
            raise SourceError(f"could not start the Pi camera ({type(error).__name__})") from None
        self.frame: np.ndarray | None = None

    def grab(self, *, decode: bool = True) -> bool:
        try:
            self.frame = self.camera.capture_array("main")
        except Exception as error:  # noqa: BLE001
            raise SourceError(f"the Pi camera stopped ({type(error).__name__})") from None
        self.decoded += 1
        return True

    def retrieve(self) -> np.ndarray:
        if self.frame is None:
            raise SourceError("the Pi camera gave no picture")
        return self.frame

    def close(self) -> None:
        camera = getattr(self, "camera", None)
        if camera is not None:
            camera.close()


SOURCES: dict[str, type[FrameSource]] = {
    Kind.TEST_PATTERN: TestPatternSource,
    Kind.RTSP: RtspSource,
    Kind.HTTP_MJPEG: HttpMjpegSource,
    Kind.FILE: FileSource,
    Kind.WEBCAM: WebcamSource,
    Kind.PI: PiCameraSource,
}


def source_class(kind: str) -> type[FrameSource]:
    """The source class for a kind of camera."""
    try:
        return SOURCES[kind]
    except KeyError:
        raise SourceError(f"unknown camera kind {kind!r}", retry=False) from None


def source_for(config: CameraConfig) -> FrameSource:
    """A source for the camera."""
    return source_class(config.kind)(config)
