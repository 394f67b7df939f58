"""Resolving and connecting under the policy: every address a name resolves to is checked at connect time.

A name checked only when it is saved can be pointed elsewhere later (DNS rebinding: a receiver's
name that resolved to a public address at save time answers 169.254.169.254 at delivery time). So
the connection nvr makes itself goes to an address checked in the same step: `connect()` resolves,
refuses the name if any of its addresses is refused, and connects to those addresses only. `opener()`
gives urllib the same connections, keeping the Host header and the TLS server name (SNI, certificate)
those of the name in the URL, and follows no redirect (a 3xx is an HTTPError: a receiver cannot send
the request, or a signature, somewhere else).

Where a library connects by itself (FFmpeg through PyAV and OpenCV for cameras, paho for MQTT),
`check_now()` resolves and checks right before the URL is handed over; the library resolves the name
once more, so a name whose answers change within those milliseconds is the window that remains.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import urllib.request
from typing import Any

from outbound.policy import Destination, Purpose, Refused, check, refusal

AddressInfo = tuple[Any, ...]  # one entry of socket.getaddrinfo


def resolve(host: str, port: int) -> list[AddressInfo]:
    """`host`'s addresses (TCP), each checked: Refused when any is, OSError when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:  # the idna codec's refusal (a label over 63 characters) is not an OSError
        raise Refused(f"{host[:80]} is not a valid host name") from None
    for info in infos:
        reason = refusal(ipaddress.ip_address(info[4][0]))
        if reason:
            raise Refused(f"{host} resolves to {reason}" if info[4][0] != host else f"{host} is {reason}")
    return infos


def check_now(url: str, purpose: Purpose) -> Destination:
    """Check `url` and the addresses its host resolves to now: for a URL handed to a library that connects itself.

    Raises Refused, or OSError (socket.gaierror) when the name does not resolve.
    """
    destination = check(url, purpose)
    resolve(destination.host, destination.port)
    return destination


def connect(host: str, port: int, *, timeout: float | None) -> socket.socket:
    """A TCP connection to the first reachable of `host`'s checked addresses (Refused, or the last OSError)."""
    error: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _, address in resolve(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as failure:
            sock.close()
            error = failure
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """http.client's connection, connecting through the policy (Host stays the URL's name)."""

    def connect(self) -> None:
        self.sock = connect(self.host, self.port, timeout=self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the certificate and SNI are checked against the URL's name, not the address."""

    def __init__(self, host: str, port: int | None = None, *, tls: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(host, port, context=tls, **kwargs)
        self.tls = tls

    def connect(self) -> None:
        self.sock = self.tls.wrap_socket(connect(self.host, self.port, timeout=self.timeout), server_hostname=self.host)


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # do_open is how urllib's own HTTPHandler opens (since Python 2): only the connection class differs.
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self) -> None:
        super().__init__()
        self.tls = ssl.create_default_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_CheckedHTTPSConnection, tls=self.tls), req)


def opener(*handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """A urllib opener for http(s) under the policy: checked connections, no redirects, no proxies, no other schemes.

    `handlers` add to it (the probes' Basic and Digest handlers). Without a redirect handler a 3xx
    answer raises HTTPError like a 4xx; without urllib's default handlers, file:, ftp: and data:
    URLs open nothing, and no proxy from the environment stands between nvr and the checked address.
    """
    director = urllib.request.OpenerDirector()
    for handler in (
        _CheckedHTTPHandler(),
        _CheckedHTTPSHandler(),
        urllib.request.UnknownHandler(),  # any other scheme: URLError("unknown url type")
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        *handlers,
    ):
        director.add_handler(handler)
    return director
