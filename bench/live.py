"""`python -m bench live`: the camera's own H.264 (cameras.relay) against today's decode-and-JPEG path.

Three figures, each compared in the same run on the same cameras:
- capture CPU: CAMERAS RTSP cameras (one shared GStreamer mount, so one encoder serves them all) watched
  as MJPEG (every picture decoded and JPEG-encoded) against watched as H.264 (packets relayed, nothing
  decoded), alternated twice, medians of the rounds; record and motion off, so the difference is the
  live path alone;
- first picture: for cameras nobody watched yet, the time from the request to the first JPEG part of
  stream.mjpg, against the time to the init segment and first keyframe fragment of live.mp4 (the relay
  then pushes the whole current group at once);
- web CPU per viewer: VIEWERS clients of one camera's live.mp4 against VIEWERS of its stream.mjpg, on one
  web process, the clients in another process that only reads bytes (no parsing either way).
Glass-to-glass latency in Chromium is not measured here (bench/README.md says so).
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import time
from collections.abc import Callable

from bench.stack import NAMESPACE, CameraSpec

CAMERAS = 16
VIEWERS = 100
ROUNDS = 2


def _want_live(stack, slugs: list[str], stop: Callable[[], bool], stream: str = "") -> None:  # type: ignore[no-untyped-def]
    """Keep the cameras' H.264 wanted (`stream`: "sub", their sub streams'), as a web process with viewers does
    (framebus.ViewBus.want_live)."""
    import redis

    from framebus import Names

    names = Names(NAMESPACE)
    client = redis.Redis.from_url(stack.redis.url)
    try:
        while not stop():
            for slug in slugs:
                client.set(names.want_live(slug, stream), b"1", px=10_000)
            time.sleep(1.0)
        for slug in slugs:
            client.delete(names.want_live(slug, stream))
    finally:
        client.close()


def _forget_jpeg_wants(stack, slugs: list[str]) -> None:  # type: ignore[no-untyped-def]
    import redis

    from framebus import Names

    names = Names(NAMESPACE)
    client = redis.Redis.from_url(stack.redis.url)
    try:
        for slug in slugs:
            client.delete(names.want(slug))
    finally:
        client.close()


def capture_rounds(stack, plan, log, rtsp) -> dict:  # type: ignore[no-untyped-def]
    import threading

    count = 4 if plan.capture_duration < 5 else CAMERAS
    slugs = [f"live-{i:02d}" for i in range(count)]
    stack.set_cameras([CameraSpec(slug, kind="rtsp", source=rtsp.url("/cam")) for slug in slugs])
    capture = stack.start_capture(name="capture-live")
    rounds: dict[str, list[float]] = {"mjpeg": [], "h264": []}
    decoded: dict[str, list[int]] = {"mjpeg": [], "h264": []}
    try:
        stack.wait_online(timeout=60)
        for _ in range(ROUNDS):
            for mode in ("mjpeg", "h264"):
                stopping = threading.Event()
                stack.watching.enabled = mode == "mjpeg"
                wanting = None
                if mode == "h264":
                    _forget_jpeg_wants(stack, slugs)
                    wanting = threading.Thread(target=_want_live, args=(stack, slugs, stopping.is_set), daemon=True)
                    wanting.start()
                time.sleep(3.0)  # capture sees what is wanted within WANTED_REFRESH; let it settle
                before = _decoded(stack, slugs)
                start, began = capture.cpu_seconds(), time.monotonic()
                time.sleep(plan.capture_duration)
                cpu, wall = capture.cpu_seconds() - start, time.monotonic() - began
                rounds[mode].append(cpu / wall * 100)
                decoded[mode].append(_decoded(stack, slugs) - before)
                stopping.set()
                if wanting is not None:
                    wanting.join(5)
                log(
                    f"    {mode}: {rounds[mode][-1]:.1f} % CPU for {count} cameras, {decoded[mode][-1]} pictures decoded"
                )
    finally:
        stack.watching.enabled = True
        stack.stop_capture()
    mjpeg, h264 = statistics.median(rounds["mjpeg"]), statistics.median(rounds["h264"])
    return {
        "cameras": count,
        "source": "1280x720 15 fps (GStreamer videotestsrc ball, x264 ultrafast), one shared mount",
        "mjpeg_cpu_pct": round(mjpeg, 1),
        "h264_cpu_pct": round(h264, 1),
        "ratio": round(h264 / mjpeg, 3) if mjpeg else None,
        "rounds": {k: [round(v, 1) for v in vs] for k, vs in rounds.items()},
        "decoded": decoded,
    }


def _decoded(stack, slugs: list[str]) -> int:  # type: ignore[no-untyped-def]
    from framebus import SyncBus
    from framebus.status import CameraStatus

    bus = SyncBus(stack.redis.url, namespace=NAMESPACE)
    try:
        return sum(CameraStatus.from_fields(raw).decoded for raw in bus.statuses(slugs).values())
    finally:
        bus.close()


def _first_bytes(port: int, path: str, enough: Callable[[bytes], bool], timeout: float = 10.0) -> float:
    """Seconds from connecting to the moment the body read so far satisfies `enough`."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while not enough(data):
            piece = sock.recv(65536)
            if not piece:
                raise RuntimeError(f"{path}: ended before its first picture")
            data += piece
    return time.monotonic() - began


def _has_keyframe(data: bytes) -> bool:
    """The init segment and a first fragment (moof + mdat) have arrived."""
    return b"moov" in data and data.count(b"mdat") >= 1 and len(data) > data.find(b"mdat") + 4096


def _has_jpeg(data: bytes) -> bool:
    start = data.find(b"\xff\xd8")
    return start >= 0 and data.find(b"\xff\xd9", start) > 0


def first_picture(stack, web, rtsp, log) -> dict:  # type: ignore[no-untyped-def]
    slugs = [f"first-{i:02d}" for i in range(8)]
    stack.set_cameras([CameraSpec(slug, kind="rtsp", source=rtsp.url("/cam")) for slug in slugs])
    stack.watching.enabled = False
    _forget_jpeg_wants(stack, slugs)
    stack.start_capture(name="capture-first")
    try:
        stack.watching.enabled = True
        stack.wait_online(timeout=60)
        stack.watching.enabled = False
        _forget_jpeg_wants(stack, slugs)
        time.sleep(11.0)  # every want expired: nobody watches any camera
        mjpeg, h264 = [], []
        for index, slug in enumerate(slugs):  # alternate which path goes first; each camera cold once
            if index % 2:
                mjpeg.append(_first_bytes(web.port, f"/cameras/{slug}/stream.mjpg?token={stack.token}", _has_jpeg))
            else:
                h264.append(_first_bytes(web.port, f"/cameras/{slug}/live.mp4?token={stack.token}", _has_keyframe))
    finally:
        stack.watching.enabled = True
        stack.stop_capture()
    out = {
        "mjpeg_median_ms": round(statistics.median(mjpeg) * 1000),
        "h264_median_ms": round(statistics.median(h264) * 1000),
        "mjpeg_ms": [round(s * 1000) for s in mjpeg],
        "h264_ms": [round(s * 1000) for s in h264],
    }
    log(
        f"    first picture of an unwatched camera: MJPEG {out['mjpeg_median_ms']} ms, H.264 {out['h264_median_ms']} ms"
    )
    return out


def _readers(port: int, path: str, count: int, seconds: float, conn) -> None:  # type: ignore[no-untyped-def]
    """`count` clients reading `path` for `seconds` (bytes only); sends back the bytes each read."""
    import selectors

    selector = selectors.DefaultSelector()
    received = [0] * count
    for index in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index)
    conn.send("connected")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in selector.select(timeout=0.2):
            try:
                piece = key.fileobj.recv(262144)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            received[key.data] += len(piece)
    conn.send(received)


def _socket_readers(port: int, path: str, count: int, seconds: float, conn) -> None:  # type: ignore[no-untyped-def]
    """`count` WebSocket clients of `path` (the browser's path) for `seconds`; sends back the bytes each read."""
    import asyncio

    from websockets.asyncio.client import connect

    received = [0] * count

    async def one(index: int, end: float) -> None:
        url, origin = f"ws://127.0.0.1:{port}{path}", f"http://127.0.0.1:{port}"  # channels checks the Origin
        async with connect(url, origin=origin, max_size=None, open_timeout=20) as socket_:  # type: ignore[arg-type]
            while (left := end - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(socket_.recv(), timeout=left)
                except TimeoutError:
                    return
                received[index] += len(message)

    async def run() -> None:
        end = time.monotonic() + seconds
        tasks = [asyncio.create_task(one(i, end)) for i in range(count)]
        await asyncio.sleep(0.5)
        conn.send("connected")
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    conn.send(received)


def web_per_viewer(stack, rtsp, plan, log) -> dict:  # type: ignore[no-untyped-def]
    viewers = 20 if plan.capture_duration < 5 else VIEWERS
    seconds = max(plan.capture_duration, 5.0)
    stack.set_cameras([CameraSpec("watched", kind="rtsp", source=rtsp.url("/cam"))])
    stack.start_capture(name="capture-web")
    web = stack.web("nvr")
    out: dict = {"viewers": viewers, "seconds": seconds}
    try:
        stack.wait_online(timeout=60)
        for path_kind, path, clients in (
            ("mjpeg", f"/cameras/watched/stream.mjpg?token={stack.token}", _readers),
            ("h264", f"/cameras/watched/live.mp4?token={stack.token}", _readers),
            ("h264_socket", f"/ws/live/watched/?token={stack.token}", _socket_readers),
        ):
            parent, child = multiprocessing.Pipe()
            reader = multiprocessing.Process(
                target=clients, args=(web.port, path, viewers, seconds + 3.0, child), daemon=True
            )
            reader.start()
            parent.recv()  # connected
            time.sleep(3.0)  # the first picture, the group since the keyframe: not part of the window
            start, began = web.cpu_seconds(), time.monotonic()
            time.sleep(seconds - 0.5)
            cpu, wall = web.cpu_seconds() - start, time.monotonic() - began
            received = parent.recv()
            reader.join(10)
            starved = sum(1 for n in received if n == 0)
            out[path_kind] = {
                "web_cpu_pct": round(cpu / wall * 100, 1),
                "per_viewer_pct": round(cpu / wall * 100 / viewers, 3),
                "mbit_per_viewer": round(statistics.median(received) * 8 / (seconds + 3.0) / 1e6, 2),
                "viewers_without_data": starved,
            }
            log(f"    {viewers} {path_kind} viewers: web {out[path_kind]['web_cpu_pct']} % CPU, "
                f"{out[path_kind]['mbit_per_viewer']} Mbit/s each, {starved} without data")  # fmt: skip
            time.sleep(2.0)
        out["first_picture"] = first_picture(stack, web, rtsp, log)
    finally:
        web.stop()
        stack.stop_capture()
    mjpeg, h264 = out["mjpeg"]["per_viewer_pct"], out["h264"]["per_viewer_pct"]
    out["ratio"] = round(h264 / mjpeg, 3) if mjpeg else None
    out["socket_ratio"] = round(out["h264_socket"]["per_viewer_pct"] / mjpeg, 3) if mjpeg else None
    return out


def _packets(count: int = 150, width: int = 1280, height: int = 720) -> list:
    """libx264 packets of a noisy 720p picture (a busy camera's sizes), demuxed from MPEG-TS as RTSP gives them."""
    import io
    from fractions import Fraction

    import av
    import numpy as np

    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    with av.open(buffer, "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=15, options={"tune": "zerolatency", "g": "15", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(count):
            picture = (rng.integers(0, 32, (height, width, 3)) + (index * 8) % 200).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 15)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    buffer.seek(0)
    container = av.open(buffer, "r", format="mpegts")
    return [p for p in container.demux(container.streams.video[0]) if p.size]


def writer_cost(rounds: int = 5) -> dict:
    """µs per packet: cameras.fmp4 against FFmpeg's mp4 muxer (frag_every_frame) into a BytesIO, alternated;
    and how many bytes the muxer had written after the first and second packet (its one-packet delay)."""
    import io

    import av

    from cameras import fmp4

    packets = _packets()
    source = packets[0].stream

    def ours() -> float:
        began = time.perf_counter()
        for index, packet in enumerate(packets):
            units = fmp4.split_annexb(bytes(packet))
            fmp4.fragment(
                units, sequence=index + 1, decode_time=index * 6000, duration=6000, keyframe=packet.is_keyframe
            )
        return (time.perf_counter() - began) / len(packets)

    def muxer() -> tuple[float, list[int]]:
        buffer = io.BytesIO()
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof+frag_every_frame"}
        out = av.open(buffer, "w", format="mp4", options=options)
        stream = out.add_stream_from_template(source)
        written = []
        began = time.perf_counter()
        for packet in packets:
            packet.stream = stream
            out.mux(packet)
            written.append(buffer.tell())
        took = (time.perf_counter() - began) / len(packets)
        out.close()
        for packet in packets:
            packet.stream = source
        return took, written

    own, theirs, written = [], [], []
    for _ in range(rounds):
        own.append(ours())
        took, written = muxer()
        theirs.append(took)
    return {
        "packet_kb": round(sum(p.size for p in packets) / len(packets) / 1024, 1),
        "ours_us": round(statistics.median(own) * 1e6, 1),
        "muxer_us": round(statistics.median(theirs) * 1e6, 1),
        "muxer_bytes_after_packets_1_2": written[:2],
    }


def glass_to_glass(stack, log, seconds: float = 20.0) -> dict:  # type: ignore[no-untyped-def]
    """Chromium on a kiosk grid of the clock camera: each picture's age when shown, read from its blocks."""
    import os
    import tempfile

    from tests.support.clock import ClockCamera, picture_ages

    if not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")):
        return {"skipped": "no Chromium"}
    import subprocess
    import sys

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from bench.stack import ROOT, VAR

    static = VAR / "live-static"  # pages need their static files collected, as in production (DEBUG off)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                   env=stack.env(STATIC_ROOT=str(static)), check=True, timeout=180)  # fmt: skip
    camera = ClockCamera().start()
    stack.set_cameras([CameraSpec("clock", kind="rtsp", source=camera.url("/clock"))])
    stack.start_capture(name="capture-clock")
    web = stack.web("nvr", STATIC_ROOT=str(static))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="nvr-bench-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--window-size=1280,900", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    options.page_load_strategy = "none"
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(seconds + 30)
    try:
        stack.wait_online(timeout=60)
        driver.get(f"http://127.0.0.1:{web.port}/?kiosk=1&token={stack.token}")
        deadline = time.monotonic() + 30
        while not driver.execute_script("return !!document.querySelector('.tile[data-mode=h264] video:not([hidden])')"):
            if time.monotonic() > deadline:
                seen = driver.execute_script(
                    "const t = document.querySelector('.tile'); const l = t && t.querySelector('.live-mode');"
                    "return t ? [t.dataset.mode, l && l.title, t.dataset.state] : document.title"
                )
                raise RuntimeError(f"the clock camera's tile never played H.264: {seen}")
            time.sleep(0.2)
        time.sleep(2.0)
        video = driver.find_element(By.CSS_SELECTOR, ".tile video")
        ages = sorted(picture_ages(driver, video, int(seconds * 1000)))
    finally:
        driver.quit()
        web.stop()
        stack.stop_capture()
        camera.stop()
    sane = [a for a in ages if 0 <= a < 10_000]  # a picture read while it changed gives a wild value
    out = {
        "pictures": len(ages),
        "misread": len(ages) - len(sane),
        "median_ms": round(statistics.median(sane)) if sane else None,
        "p95_ms": round(sane[int(len(sane) * 0.95) - 1]) if sane else None,
        "seconds": seconds,
    }
    log(f"  glass to glass (Chromium, H.264): median {out['median_ms']} ms, p95 {out['p95_ms']} ms over "
        f"{out['pictures']} pictures ({out['misread']} misread)")  # fmt: skip
    return out


def live_cost(stack, plan, log) -> dict:  # type: ignore[no-untyped-def]
    from tests.support.servers import RtspServer, have_rtsp_server

    ok, why = have_rtsp_server()
    if not ok:
        log(f"  live: skipped ({why})")
        return {"skipped": why}
    stack.stop_capture()
    writer = writer_cost()
    log(f"  fMP4 per {writer['packet_kb']} KB packet: ours {writer['ours_us']} µs, FFmpeg's muxer {writer['muxer_us']} µs "
        f"(its bytes after packets 1 and 2: {writer['muxer_bytes_after_packets_1_2']})")  # fmt: skip
    rtsp = RtspServer(mounts=("/cam",), width=1280, height=720, fps=15).start()
    try:
        log("  capture CPU: MJPEG (decode + JPEG) against H.264 (relay)")
        out = {"writer": writer, "capture": capture_rounds(stack, plan, log, rtsp)}
        log("  web CPU per viewer and first picture")
        out["web"] = web_per_viewer(stack, rtsp, plan, log)
    finally:
        rtsp.stop()
    try:
        out["glass"] = glass_to_glass(stack, log, seconds=5.0 if plan.capture_duration < 5 else 20.0)
    except Exception as error:  # noqa: BLE001 - a browser problem must not lose the other figures
        log(f"  glass to glass: failed ({error})")
        out["glass"] = {"skipped": str(error)[:200]}
    finally:
        stack.set_cameras([])
    capture, web = out["capture"], out["web"]
    log(f"  capture: H.264 {capture['h264_cpu_pct']} % against MJPEG {capture['mjpeg_cpu_pct']} % "
        f"(ratio {capture['ratio']}); web per viewer: H.264 {web['h264']['per_viewer_pct']} % against MJPEG "
        f"{web['mjpeg']['per_viewer_pct']} % (ratio {web['ratio']})")  # fmt: skip
    return out


def markdown(out: dict) -> list[str]:
    if out.get("skipped"):
        return ["## The camera's own H.264", "", f"Skipped: {out['skipped']}", ""]
    capture, web = out["capture"], out["web"]
    first = web["first_picture"]
    return [
        "## The camera's own H.264 (cameras.relay) against decode and JPEG",
        "",
        "| measured | MJPEG (today's path) | H.264 relay | ratio |",
        "| --- | --- | --- | --- |",
        f"| capture CPU, {capture['cameras']} cameras 720p15 | {capture['mjpeg_cpu_pct']} % | "
        f"{capture['h264_cpu_pct']} % | {capture['ratio']} |",
        f"| web CPU per viewer ({web['viewers']} viewers of one camera), HTTP | {web['mjpeg']['per_viewer_pct']} % | "
        f"{web['h264']['per_viewer_pct']} % (live.mp4) | {web['ratio']} |",
        f"| web CPU per viewer, the browser's WebSocket | | {web['h264_socket']['per_viewer_pct']} % (/ws/live/) | "
        f"{web['socket_ratio']} |",
        f"| bytes per viewer | {web['mjpeg']['mbit_per_viewer']} Mbit/s | {web['h264']['mbit_per_viewer']} Mbit/s | |",
        f"| first picture of an unwatched camera (median) | {first['mjpeg_median_ms']} ms | {first['h264_median_ms']} ms | |",
        "",
        _glass_line(out.get("glass") or {}),
        "",
        f"fMP4 per {out['writer']['packet_kb']} KB packet: cameras.fmp4 {out['writer']['ours_us']} µs, FFmpeg's mp4 muxer "
        f"{out['writer']['muxer_us']} µs (which had written {out['writer']['muxer_bytes_after_packets_1_2']} bytes after "
        "packets 1 and 2: the first fragment waits for the second packet).",
        "",
    ]


def _glass_line(glass: dict) -> str:
    if glass.get("skipped") or not glass:
        return f"Glass to glass in Chromium: not measured ({glass.get('skipped', 'not run')})."
    return (
        f"Glass to glass in Chromium (the clock camera's blocks read back from the tile's <video>, H.264): median "
        f"{glass['median_ms']} ms, p95 {glass['p95_ms']} ms over {glass['pictures']} pictures ({glass['misread']} misread)."
    )
