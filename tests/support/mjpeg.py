"""A strict MJPEG reader for tests: parses parts as ffmpeg's mpjpeg demuxer needs them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

BOUNDARY = b"--frame\r\n"


@dataclass
class Part:
    headers: dict[str, str]
    jpeg: bytes

    @property
    def timestamp(self) -> float:
        return float(self.headers["x-timestamp"])


class PartParser:
    """Feed bytes, get parts; asserts the framing (boundary right after each JPEG)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.started = False

    def feed(self, data: bytes) -> list[Part]:
        self.buffer += data
        parts = []
        if not self.started:
            if len(self.buffer) < len(BOUNDARY):
                return parts
            assert self.buffer.startswith(BOUNDARY), self.buffer[:40]
            self.buffer = self.buffer[len(BOUNDARY) :]
            self.started = True
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return parts
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
            length = int(headers["content-length"])
            total = end + 4 + length + 2 + len(BOUNDARY)
            if len(self.buffer) < total:
                return parts
            body_end = end + 4 + length
            jpeg = self.buffer[end + 4 : body_end]
            assert self.buffer[body_end:total] == b"\r\n" + BOUNDARY, "boundary must follow each JPEG"
            parts.append(Part(headers, jpeg))
            self.buffer = self.buffer[total:]


async def read_parts(client: httpx.AsyncClient, url: str, count: int, **kwargs) -> tuple[httpx.Response, list[Part]]:
    """Open the stream, read `count` parts, close it."""
    parts: list[Part] = []
    parser = PartParser()
    async with client.stream("GET", url, **kwargs) as response:
        if response.status_code != 200:
            await response.aread()
            return response, parts
        async for chunk in response.aiter_raw():
            parts.extend(parser.feed(chunk))
            if len(parts) >= count:
                break
    return response, parts[:count]


async def iter_parts(response: httpx.Response) -> AsyncIterator[Part]:
    parser = PartParser()
    async for chunk in response.aiter_raw():
        for part in parser.feed(chunk):
            yield part


class RawViewer:
    """A stream client on a plain socket, for slow or stalled viewers (small receive buffer).

    httpx reads as fast as it can; a real slow viewer (a phone on a weak link, a sleeping
    tab) does not, and its receive buffer is what the server's backpressure meets.
    """

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None, rcvbuf: int = 16384) -> None:
        self.port, self.path, self.headers, self.rcvbuf = port, path, headers or {}, rcvbuf
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.parser = PartParser()
        self.status = 0
        self._chunk_left = 0
        self._pending = b""

    async def connect(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=4096)
        lines = [f"GET {self.path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        assert b"transfer-encoding: chunked" in head.lower(), head

    async def read_some(self, max_bytes: int = 65536) -> list[Part]:
        """Read up to max_bytes of the body (de-chunked) and return the parts completed."""
        data = await asyncio.wait_for(self.reader.read(max_bytes), 15)
        if not data:
            raise ConnectionError("stream closed")
        return self.parser.feed(self._dechunk(data))

    def _dechunk(self, data: bytes) -> bytes:
        self._pending += data
        body = b""
        while self._pending:
            if self._chunk_left < 0:  # the CRLF after a chunk
                if len(self._pending) < 2:
                    break
                self._pending = self._pending[2:]
                self._chunk_left = 0
                continue
            if self._chunk_left > 0:
                take = self._pending[: self._chunk_left]
                body += take
                self._pending = self._pending[len(take) :]
                self._chunk_left -= len(take)
                if self._chunk_left == 0:
                    self._chunk_left = -1
                continue
            end = self._pending.find(b"\r\n")
            if end < 0:
                break
            self._chunk_left = int(self._pending[:end].split(b";")[0], 16)
            self._pending = self._pending[end + 2 :]
            if self._chunk_left == 0:
                raise ConnectionError("stream ended")
        return body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
