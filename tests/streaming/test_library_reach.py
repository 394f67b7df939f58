"""The private names of libraries nvr reaches into, checked explicitly (each reach is pinned and explained where
it is made): redis-py's subscribed connection taken over by framebus._take_over, and uvicorn's protocol
subclassed by nvr.server. A version that moves a name fails here, before anything misbehaves."""

from __future__ import annotations

import asyncio
import inspect

import redis
import redis.asyncio as aioredis
import uvicorn
from packaging.version import Version
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from framebus import PUBSUB_PROTOCOL


def test_the_pinned_versions_are_the_ones_installed():
    assert Version("8.1") <= Version(redis.__version__) < Version("8.3"), redis.__version__
    assert Version("0.54") <= Version(uvicorn.__version__) < Version("0.56"), uvicorn.__version__


def test_a_subscribed_redis_connection_has_the_stream_framebus_takes_over(redis_url):
    async def reach() -> tuple[object, object, object]:
        client = aioredis.Redis.from_url(redis_url, protocol=PUBSUB_PROTOCOL)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe("nvr:reach-test")
            connection = pubsub.connection
            assert connection is not None
            return connection._reader, connection._writer, connection._reader._buffer  # type: ignore[attr-defined]
        finally:
            await pubsub.aclose()
            await client.aclose()

    reader, writer, buffered = asyncio.run(reach())
    assert isinstance(reader, asyncio.StreamReader) and isinstance(buffered, bytearray)
    assert isinstance(writer, asyncio.StreamWriter) and isinstance(writer.transport, asyncio.BaseTransport)


def test_uvicorns_protocol_has_what_nvr_server_overrides_and_reads():
    for name in ("connection_made", "connection_lost", "data_received", "on_headers_complete", "on_body",
                 "on_message_complete"):  # fmt: skip
        assert callable(getattr(HttpToolsProtocol, name, None)), name
    protocol = inspect.getsource(HttpToolsProtocol)
    for attribute in ("self.cycle", "self.scope", "self.url", "self.transport", "self.logger"):
        assert attribute in protocol, attribute
    cycle = inspect.getsource(RequestResponseCycle.__init__)
    assert "self.response_complete" in cycle and "self.chunked_encoding" in cycle
