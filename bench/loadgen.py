"""The load generator: N MJPEG viewers on raw asyncio sockets, spread over worker processes.

Each viewer is a `BufferedProtocol` that reads into one buffer shared by its process
(the loop parses every read before the next one, so nothing is copied per read),
de-chunks HTTP/1.1 chunked bodies, finds each part's `Content-Length` and
`X-Timestamp` and skips the JPEG by length; a part without a length (the seed's own
code sends none) is skipped by scanning for the next boundary. It never decodes an image.

Workers agree on wall-clock times given by the parent: connections are spread over
the ramp, then frames are counted only inside the measurement window. Each worker
reports per-viewer frame counts, arrival gaps, capture-to-viewer latencies (arrival
time minus X-Timestamp) and its own CPU time over the window, so a reader can see
that the generator was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import random
import socket
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

BUFFER_SIZE = 256 * 1024
CONNECT_TIMEOUT = 10.0
MAX_TEXT = 16 * 1024  # longest response head / part head accepted
RECONNECT_FIRST, RECONNECT_LAST = 0.25, 2.5  # seconds: static/nvr/reconnect.js's schedule
BOUNDARY = b"\r\n--frame\r\n"  # what ends a part that gives no length (the seed's parts)


@dataclass
class LoadSpec:
    """What one worker process runs (picklable)."""

    host: str
    port: int
    paths: list[str]  # one per viewer
    connect_at: float  # wall clock: first connection
    ramp: float  # seconds over which connections are spread
    window_start: float
    window_end: float
    stalled: list[bool] = field(default_factory=list)  # per viewer: connect, then never read
    probe_stalled: float = 0.0  # seconds to read stalled viewers after the window, to see who was dropped
    rcvbuf: int = 0  # SO_RCVBUF for every viewer (0: kernel default)
    # Reconnect a viewer whose stream ends or whose connect fails, as the dashboard does (equal jitter,
    # RECONNECT_FIRST doubling to RECONNECT_LAST), and note when each viewer first gets a frame again on
    # a connection opened after `restart_at` (wall clock): the restart storm.
    reconnect: bool = False
    restart_at: float = 0.0


@dataclass
class WorkerResult:
    counts: list[int]  # frames per (normal) viewer inside the window; -1 = failed
    failures: dict[str, int]
    gaps: bytes  # array('d') of arrival gaps (s) inside the window
    latencies: bytes  # array('d') of arrival - X-Timestamp (s) inside the window
    bytes_in_window: int
    cpu_seconds: float  # this process, over the window
    window: float
    stalled_dropped: int = 0
    stalled_open: int = 0
    first_frames: list[float] = field(default_factory=list)  # seconds from connect to first part
    recovered_at: list[float] = field(default_factory=list)  # per viewer (reconnect): wall clock, 0 = never


class _Stats:
    """Per-process accumulators, shared by all viewers of the process."""

    def __init__(self, window_start: float, window_end: float) -> None:
        self.window_start = window_start
        self.window_end = window_end
        self.in_window = False
        self.gaps = array("d")
        self.latencies = array("d")
        self.bytes = 0
        self.failures: dict[str, int] = {}

    def fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


class Viewer(asyncio.BufferedProtocol):
    """One MJPEG viewer: minimal HTTP, chunked decoding and part framing."""

    def __init__(
        self, request: bytes, stats: _Stats, buffer: bytearray, stalled: bool = False, started: float = 0.0
    ) -> None:
        self.request = request
        self.stats = stats
        self.buffer = buffer
        self.view = memoryview(buffer)
        self.stalled = stalled
        self.transport: asyncio.Transport | None = None
        self.head: bytes | None = b""  # response head until parsed, then None
        self.status = 0
        self.chunked = False
        self.chunk_left = 0  # bytes of the current chunk still to come
        self.chunk_skip = 0  # CRLF after a chunk still to skip
        self.carry = b""  # partial chunk-size line
        self.part_head = b""  # partial part head
        self.body_left = 0  # JPEG bytes still to skip
        self.scanning = False  # skipping a JPEG of unknown length up to the next BOUNDARY
        self.scan_tail = b""  # the last bytes scanned, in case a BOUNDARY spans two reads
        self.ts = 0.0
        self.last = 0.0
        self.count = 0
        self.frames_total = 0
        self.started = started or time.time()
        self.first_frame = 0.0
        self.first_frame_at = 0.0  # wall clock of the first part
        self.error: str | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.eof_at = 0.0

    # asyncio callbacks ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.stats.in_window:
            self.stats.bytes += nbytes
        try:
            if self.head is not None:
                self._response_head(bytes(self.view[:nbytes]))
            elif self.chunked:
                self._dechunk(self.buffer, 0, nbytes)
            else:
                self._parts(self.buffer, 0, nbytes)
        except (ValueError, IndexError) as error:
            self._abort(f"parse error: {type(error).__name__}")

    def eof_received(self) -> bool:
        self.eof_at = time.time()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    # parsing --------------------------------------------------------------------------
    def _abort(self, reason: str) -> None:
        if self.error is None:
            self.error = reason
        if self.transport is not None:
            self.transport.abort()

    def _response_head(self, data: bytes) -> None:
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_TEXT:
                self._abort("response head too long")
            return
        head, rest = self.head[:end], self.head[end + 4 :]
        self.head = None
        try:
            self.status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            self._abort("bad status line")
            return
        if self.status != 200:
            self._abort(f"HTTP {self.status}")
            return
        self.chunked = b"transfer-encoding: chunked" in head.lower()
        if rest:
            rest_buffer = bytearray(rest)
            if self.chunked:
                self._dechunk(rest_buffer, 0, len(rest))
            else:
                self._parts(rest_buffer, 0, len(rest))

    def _dechunk(self, buf: bytearray, i: int, end: int) -> None:
        while i < end:
            if self.chunk_left:
                take = min(self.chunk_left, end - i)
                self._parts(buf, i, i + take)
                i += take
                self.chunk_left -= take
                if not self.chunk_left:
                    self.chunk_skip = 2
                continue
            if self.chunk_skip:
                take = min(self.chunk_skip, end - i)
                i += take
                self.chunk_skip -= take
                continue
            if self.carry:
                text = self.carry + bytes(buf[i : min(end, i + 64)])
                k = text.find(b"\r\n")
                if k < 0:
                    i += len(text) - len(self.carry)
                    self.carry = text
                    if len(text) > 64:
                        raise ValueError("chunk size line")
                    continue
                line = text[:k]
                i += k + 2 - len(self.carry)
                self.carry = b""
            else:
                k = buf.find(b"\r\n", i, end)
                if k < 0:
                    self.carry = bytes(buf[i:end])
                    return
                line = buf[i:k]
                i = k + 2
            size = int(bytes(line).split(b";", 1)[0], 16)
            if size == 0:
                self._abort("stream ended")
                return
            self.chunk_left = size

    def _parts(self, buf: bytearray, i: int, end: int) -> None:
        while i < end:
            if self.scanning:
                i = self._scan(buf, i, end)
                continue
            if self.body_left:
                take = min(self.body_left, end - i)
                i += take
                self.body_left -= take
                if not self.body_left:
                    self._frame()
                continue
            if self.part_head:
                text = self.part_head + bytes(buf[i : min(end, i + 2048)])
                k = text.find(b"\r\n\r\n")
                if k < 0:
                    i += len(text) - len(self.part_head)
                    self.part_head = text
                    if len(text) > MAX_TEXT:
                        raise ValueError("part head too long")
                    continue
                head = text[:k]
                i += k + 4 - len(self.part_head)
                self.part_head = b""
            else:
                k = buf.find(b"\r\n\r\n", i, end)
                if k < 0:
                    self.part_head = bytes(buf[i:end])
                    return
                head = bytes(buf[i:k])
                i = k + 4
            self._part_head(head)

    def _scan(self, buf: bytearray, i: int, end: int) -> int:
        """Skip JPEG bytes up to the next BOUNDARY (which may span reads); return where to go on."""
        reach = len(BOUNDARY) - 1
        if self.scan_tail:
            tail = self.scan_tail
            k = (tail + bytes(buf[i : min(end, i + reach)])).find(BOUNDARY)
            if k >= 0:
                self.scanning, self.scan_tail = False, b""
                self._frame()
                return i + k + len(BOUNDARY) - len(tail)
        k = buf.find(BOUNDARY, i, end)
        if k >= 0:
            self.scanning, self.scan_tail = False, b""
            self._frame()
            return k + len(BOUNDARY)
        self.scan_tail = (self.scan_tail + bytes(buf[max(i, end - reach) : end]))[-reach:]
        return end

    def _part_head(self, head: bytes) -> None:
        p = head.find(b"Content-Length:")
        if p < 0:
            lowered = head.lower()
            p = lowered.find(b"content-length:")
            if p < 0:
                self.scanning = True  # the seed's parts: the JPEG runs to the next boundary
                return
        q = head.find(b"\r\n", p)
        self.body_left = int(head[p + 15 : q if q >= 0 else len(head)])
        t = head.find(b"X-Timestamp:")
        if t >= 0:
            u = head.find(b"\r\n", t)
            self.ts = float(head[t + 12 : u if u >= 0 else len(head)])
        if not self.body_left:
            self._frame()

    def _frame(self) -> None:
        now = time.time()
        if not self.frames_total:
            self.first_frame = now - self.started
            self.first_frame_at = now
        self.frames_total += 1
        stats = self.stats
        if stats.in_window:
            self.count += 1
            if self.ts:
                stats.latencies.append(now - self.ts)
            if self.last:
                stats.gaps.append(now - self.last)
        self.last = now


def _new_socket(rcvbuf: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return sock


async def _connect(
    loop, spec: LoadSpec, index: int, stats: _Stats, buffer: bytearray, *, count_failure: bool = True
) -> Viewer | None:
    path = spec.paths[index]
    request = f"GET {path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\nUser-Agent: nvr-bench\r\n\r\n".encode()
    stalled = bool(spec.stalled and spec.stalled[index])
    sock = _new_socket(spec.rcvbuf)
    started = time.time()
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await loop.sock_connect(sock, (spec.host, spec.port))
            _, viewer = await loop.create_connection(
                lambda: Viewer(request, stats, buffer, stalled, started), sock=sock
            )
    except (OSError, TimeoutError) as error:
        sock.close()
        if count_failure:
            stats.fail(f"connect: {type(error).__name__}")
        return None
    if stalled:
        viewer.transport.pause_reading()  # not in connection_made: uvloop starts reading after it
    return viewer


async def _run(spec: LoadSpec) -> WorkerResult:
    loop = asyncio.get_running_loop()
    stats = _Stats(spec.window_start, spec.window_end)
    buffer = bytearray(BUFFER_SIZE)
    n = len(spec.paths)
    viewers: list[Viewer | None] = [None] * n

    async def connect_one(index: int) -> None:
        at = spec.connect_at + (spec.ramp * index / max(n, 1))
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        viewers[index] = await _connect(loop, spec, index, stats, buffer)

    recovered_at = [0.0] * n

    async def keep_one(index: int) -> None:
        """Connect, and connect again whenever the stream ends or the connect fails, until cancelled."""
        at = spec.connect_at + (spec.ramp * index / max(n, 1))
        await asyncio.sleep(max(at - time.time(), 0))
        step = RECONNECT_FIRST
        while True:
            opened = time.time()
            viewer = await _connect(loop, spec, index, stats, buffer, count_failure=False)
            if viewer is not None:
                viewers[index] = viewer
                await viewer.closed
                if viewer.frames_total:
                    step = RECONNECT_FIRST  # it worked: the next failure starts over
                    if opened >= spec.restart_at and not recovered_at[index]:
                        recovered_at[index] = viewer.first_frame_at
            await asyncio.sleep(step / 2 + random.random() * step / 2)
            step = min(step * 2, RECONNECT_LAST)

    def note_recovery() -> None:
        """Viewers streaming on a connection opened after the restart (their first frame's time)."""
        for index, viewer in enumerate(viewers):
            if viewer is not None and viewer.first_frame_at and viewer.started >= spec.restart_at:
                recovered_at[index] = recovered_at[index] or viewer.first_frame_at

    connectors = [loop.create_task((keep_one if spec.reconnect else connect_one)(i)) for i in range(n)]

    delay = spec.window_start - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    stats.in_window = True
    cpu_start = time.process_time()
    delay = spec.window_end - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    stats.in_window = False
    cpu = time.process_time() - cpu_start
    if spec.reconnect:
        note_recovery()
    for task in connectors:
        task.cancel()
    await asyncio.gather(*connectors, return_exceptions=True)

    counts: list[int] = []
    stalled_dropped = stalled_open = 0
    for index, viewer in enumerate(viewers):
        stalled = bool(spec.stalled and spec.stalled[index])
        if viewer is None:
            if not stalled:
                counts.append(-1)  # the failure reason is counted already
            continue
        if stalled:
            continue
        if viewer.error is not None or viewer.closed.done():
            stats.fail(viewer.error or "closed by server")
            counts.append(-1)
        elif viewer.count == 0:
            stats.fail("no frame in window")
            counts.append(viewer.count)
        else:
            counts.append(viewer.count)

    stalled_viewers = [v for i, v in enumerate(viewers) if v is not None and spec.stalled and spec.stalled[i]]
    if stalled_viewers and spec.probe_stalled > 0:
        # Read what the server left for them: a viewer the server dropped ends with EOF.
        for viewer in stalled_viewers:
            if not viewer.closed.done():
                viewer.transport.resume_reading()
        await asyncio.wait([v.closed for v in stalled_viewers], timeout=spec.probe_stalled)
        stalled_dropped = sum(1 for v in stalled_viewers if v.closed.done())
        stalled_open = len(stalled_viewers) - stalled_dropped

    for viewer in viewers:
        if viewer is not None and viewer.transport is not None:
            viewer.transport.abort()
    await asyncio.sleep(0)
    first = [
        v.first_frame
        for i, v in enumerate(viewers)
        if v is not None and v.first_frame and not (spec.stalled and spec.stalled[i])
    ]
    return WorkerResult(
        counts,
        stats.failures,
        stats.gaps.tobytes(),
        stats.latencies.tobytes(),
        stats.bytes,
        cpu,
        spec.window_end - spec.window_start,
        stalled_dropped,
        stalled_open,
        first,
        recovered_at if spec.reconnect else [],
    )


def _worker(spec: LoadSpec, conn) -> None:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is in requirements
        runner = asyncio.run
    try:
        result = runner(_run(spec))
    except BaseException as error:  # noqa: BLE001 - report to the parent
        conn.send(("error", repr(error)))
    else:
        conn.send(("ok", result))
    conn.close()


@dataclass
class LoadResult:
    viewers: int
    processes: int
    window: float
    fps: list[float]  # per viewer that did not fail
    failed: int
    failures: dict[str, int]
    gaps: list[float] | None
    latencies: list[float] | None
    frames: int
    bytes: int
    cpu_seconds: list[float]  # per generator process
    stalled_dropped: int = 0
    stalled_open: int = 0
    first_frames: list[float] = field(default_factory=list)
    recovered_at: list[float] = field(default_factory=list)  # per viewer, wall clock (0 = never)

    def summary(self) -> dict:
        """The figures a report shows (percentiles in ms)."""
        import numpy as np

        fps = np.array(self.fps) if self.fps else np.array([0.0])
        gaps = np.frombuffer(self.gaps, dtype="d") if self.gaps else np.array([])
        lat = np.frombuffer(self.latencies, dtype="d") if self.latencies else np.array([])
        window = self.window
        return {
            "viewers": self.viewers,
            "ok_viewers": len(self.fps),
            "failed": self.failed,
            "failures": self.failures,
            "fps_median": round(float(np.median(fps)), 2),
            "fps_p10": round(float(np.percentile(fps, 10)), 2),
            "gap_p99_ms": round(float(np.percentile(gaps, 99)) * 1000, 1) if gaps.size else None,
            "latency_p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1) if lat.size else None,
            "latency_p99_ms": round(float(np.percentile(lat, 99)) * 1000, 1) if lat.size else None,
            "frames_per_s": round(self.frames / window, 1),
            "mbytes_per_s": round(self.bytes / window / 1e6, 1),
            "loadgen_processes": self.processes,
            "loadgen_cpu_pct": [round(c / window * 100, 1) for c in self.cpu_seconds],
            "loadgen_us_per_frame": round(sum(self.cpu_seconds) / self.frames * 1e6, 1) if self.frames else None,
            "first_frame_p50_ms": round(float(np.percentile(self.first_frames, 50)) * 1000)
            if self.first_frames
            else None,
            "first_frame_p99_ms": round(float(np.percentile(self.first_frames, 99)) * 1000)
            if self.first_frames
            else None,
            "stalled_dropped": self.stalled_dropped,
            "stalled_open": self.stalled_open,
        }


def default_processes(viewers: int) -> int:
    """One process per 600 viewers (about 9,000 frames/s), at most one per core."""
    return max(1, min(os.cpu_count() or 1, math.ceil(viewers / 600)))


class LoadRun:
    """Start the workers now (they wait for their wall-clock times); collect() when done."""

    def __init__(
        self,
        host: str,
        port: int,
        paths: list[str],
        *,
        ramp: float,
        warmup: float,
        duration: float,
        processes: int | None = None,
        stalled: list[bool] | None = None,
        probe_stalled: float = 0.0,
        rcvbuf: int = 0,
        start_delay: float = 0.5,
        reconnect: bool = False,
        restart_at: float = 0.0,
    ) -> None:
        self.viewers = sum(1 for i in range(len(paths)) if not (stalled and stalled[i]))
        self.processes = processes or default_processes(len(paths))
        now = time.time()
        self.connect_at = now + start_delay
        self.window_start = self.connect_at + ramp + warmup
        self.window_end = self.window_start + duration
        self.probe_stalled = probe_stalled
        ctx = multiprocessing.get_context("spawn")
        self.workers = []
        for k in range(self.processes):
            index = list(range(k, len(paths), self.processes))
            spec = LoadSpec(
                host,
                port,
                [paths[i] for i in index],
                self.connect_at,
                ramp,
                self.window_start,
                self.window_end,
                [stalled[i] for i in index] if stalled else [],
                probe_stalled,
                rcvbuf,
                reconnect,
                restart_at,
            )
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(spec, child), daemon=True, name=f"loadgen-{k}")
            proc.start()
            child.close()
            self.workers.append((proc, parent))

    def collect(self) -> LoadResult:
        deadline = self.window_end + self.probe_stalled + CONNECT_TIMEOUT + 20
        counts: list[int] = []
        failures: dict[str, int] = {}
        gaps, lats = array("d"), array("d")
        nbytes, cpu, dropped, still_open, first, recovered = 0, [], 0, 0, [], []
        window = self.window_end - self.window_start
        for proc, conn in self.workers:
            if not conn.poll(max(deadline - time.time(), 0.1)):
                proc.kill()
                raise RuntimeError("load generator worker did not report")
            status, payload = conn.recv()
            proc.join(5)
            if status != "ok":
                raise RuntimeError(f"load generator worker failed: {payload}")
            counts += payload.counts
            for reason, number in payload.failures.items():
                failures[reason] = failures.get(reason, 0) + number
            gaps.frombytes(payload.gaps)
            lats.frombytes(payload.latencies)
            nbytes += payload.bytes_in_window
            cpu.append(payload.cpu_seconds)
            dropped += payload.stalled_dropped
            still_open += payload.stalled_open
            first += payload.first_frames
            recovered += payload.recovered_at
        ok = [c for c in counts if c > 0]
        failed = len(counts) - len(ok)
        return LoadResult(
            self.viewers,
            self.processes,
            window,
            [c / window for c in ok],
            failed,
            failures,
            gaps.tobytes(),
            lats.tobytes(),
            sum(ok),
            nbytes,
            cpu,
            dropped,
            still_open,
            first,
            recovered,
        )

    def terminate(self) -> None:
        for proc, _ in self.workers:
            if proc.is_alive():
                proc.kill()
            proc.join(2)

    def collect_beside(self, stop: threading.Event, threads: Sequence[threading.Thread] = ()) -> LoadResult:
        """The result once the window ends, while other clients (`threads`, already started) load the
        server; then they are told to `stop` and joined."""
        try:
            time.sleep(max(0.0, self.window_end - time.time()))
            return self.collect()
        finally:
            self.terminate()
            stop.set()
            for thread in threads:
                thread.join(120)


def run_load(host: str, port: int, paths: list[str], **kwargs) -> LoadResult:
    run = LoadRun(host, port, paths, **kwargs)
    try:
        return run.collect()
    finally:
        run.terminate()
