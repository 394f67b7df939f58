"""Explain why a network camera did not open: unreachable, refused credentials, bad path.

OpenCV only says "not opened"; operators need to know whether to fix the password or
the network. Each probe makes one short request and returns None (the server looks
fine), "auth" (credentials refused or missing), or a short reason without the URL.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from outbound import Refused, connect, opener

PROBE_TIMEOUT = 3.0


def _socket_problem(error: OSError) -> str:
    if isinstance(error, Refused):
        return f"the address is not allowed ({error})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    return f"network error ({type(error).__name__})"


def _digest_header(challenge: str, method: str, uri: str, username: str, password: str) -> str:
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}"'


def _rtsp_request(host: str, port: int, uri: str, cseq: int, auth: str | None) -> tuple[int, list[str]]:
    """One DESCRIBE; its status code and every WWW-Authenticate challenge of the answer."""
    lines = [f"DESCRIBE {uri} RTSP/1.0", f"CSeq: {cseq}", "Accept: application/sdp"]
    if auth:
        lines.append(f"Authorization: {auth}")
    with connect(host, port, timeout=PROBE_TIMEOUT) as sock:  # a checked address (outbound policy)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    head = data.decode("latin-1").split("\r\n")
    match = re.match(r"RTSP/\d\.\d (\d{3})", head[0] if head else "")
    if not match:
        raise ConnectionError("not an RTSP server")
    challenges = [line.split(":", 1)[1].strip() for line in head if line.lower().startswith("www-authenticate:")]
    return int(match.group(1)), challenges


def _answer(challenges: list[str], uri: str, username: str, password: str) -> str | None:
    """The Authorization for the server's challenge: Digest when offered, Basic only when it is all
    the server asks for (a password never travels in the clear to a server that did not ask for it)."""
    digest = next((c for c in challenges if c.lower().startswith("digest")), None)
    if digest is not None:
        return _digest_header(digest, "DESCRIBE", uri, username, password)
    if any(c.lower().startswith("basic") for c in challenges):
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return None


def probe_rtsp(url: str, username: str, password: str) -> str | None:
    """One DESCRIBE without credentials, then one answering the server's challenge (as FFmpeg does)."""
    parts = urlsplit(url)
    if parts.scheme != "rtsp" or not parts.hostname:
        return None
    host, port = parts.hostname, parts.port or 554
    uri = urlunsplit((parts.scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))
    try:
        code, challenges = _rtsp_request(host, port, uri, 1, None)
        answer = _answer(challenges, uri, username, password) if code == 401 and username else None
        if answer is not None:
            code, _ = _rtsp_request(host, port, uri, 2, answer)
    except ConnectionError as error:
        if str(error) == "not an RTSP server":
            return "the server does not speak RTSP"
        return _socket_problem(error)
    except OSError as error:
        return _socket_problem(error)
    if code == 401:
        return "auth"
    if code == 404:
        return "the camera has no stream at that path (404)"
    if code >= 400:
        return f"the camera answered {code}"
    return None


def probe_http(url: str, username: str, password: str) -> str | None:
    """One GET (headers only) to classify a failed HTTP open.

    urllib's handlers send credentials only in answer to a 401 challenge, Digest before Basic
    (HTTPDigestAuthHandler.handler_order is lower), as FFmpeg does when capturing. The opener is the
    outbound policy's: checked addresses, and no redirect followed (a 3xx is reported as the answer).
    """
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    if username:
        passwords.add_password(None, url, username, password)
    director = opener(urllib.request.HTTPBasicAuthHandler(passwords), urllib.request.HTTPDigestAuthHandler(passwords))
    try:
        with director.open(url, timeout=PROBE_TIMEOUT) as response:
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        if error.code == 401:
            return "auth"
        return f"the camera answered {error.code}"
    except urllib.error.URLError as error:
        reason = error.reason
        return _socket_problem(reason) if isinstance(reason, OSError) else "unreachable"
    except (OSError, ValueError) as error:
        return _socket_problem(error) if isinstance(error, OSError) else "invalid URL"
    if "multipart" not in content_type and "image/jpeg" not in content_type:
        return f"the URL does not serve MJPEG (Content-Type {content_type or 'missing'})"
    return None
