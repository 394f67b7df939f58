"""Bad input gets a clean 4xx from the production server: never a 500, a traceback, or unbounded memory.

Requests are written byte for byte on raw sockets (an HTTP client would normalise the
paths and refuse the malformed headers this test is about).
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections import Counter

import pytest
from django.test import Client

from tests.factories import make_camera, make_token, make_user
from tests.reliability.helpers import full_log, server_errors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MB = 2**20


def request(
    port: int,
    path: bytes | str,
    headers: dict | None = None,
    method: str = "GET",
    body: bytes = b"",
    host: bytes = b"127.0.0.1",
) -> tuple[int, bytes]:
    """Send one request as given; (status, head and up to 64 KB of the body)."""
    path = path.encode() if isinstance(path, str) else path
    lines = [method.encode() + b" " + path + b" HTTP/1.1", b"Host: " + host, b"Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        data = b""
        sock.settimeout(3)
        try:
            while len(data) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass  # a stream never ends: what arrived is enough
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0, data


def basic_raw(raw: bytes) -> dict[str, bytes]:
    return {"Authorization": b"Basic " + base64.b64encode(raw)}


def test_malformed_requests_get_clean_4xx_answers(live_web, redis_url):
    admin = make_user("boss", is_superuser=True, is_staff=True)
    operator = make_user("op", password="op-pass-1")
    make_camera("front", source="320x240").allowed_users.add(operator)
    _, token = make_token(user=admin)
    session = Client()
    session.force_login(operator)
    cookie = {"Cookie": f"sessionid={session.cookies['sessionid'].value}"}
    stream, snapshot = f"/cameras/front/stream.mjpg?token={token}", f"/cameras/front/snapshot.jpg?token={token}"

    cases: list[tuple[str, dict]] = []
    junk = ["abc", "0", "-1", "1e999", "-1e999", "nan", "inf", "0x10", "%00", "%ff", "1;2", "9" * 400, "\u0661", "1,5"]
    for value in [*junk, "61", "0.01"]:
        cases += [(f"{stream}&fps={value}", {}), (f"/grid/stream.mjpg?token={token}&fps={value}", {})]
    for value in [*junk, "15", "7681"]:
        cases += [
            (f"{stream}&width={value}", {}),
            (f"{snapshot}&width={value}", {}),
            (f"/grid/stream.mjpg?token={token}&width={value}", {}),
        ]
    cases += [
        # Huge query strings: a long one (414), far too many fields (400), past the head limit (431).
        (f"{stream}&x={'A' * 9000}", {}),
        (f"{stream}&x={'A' * 60_000}", {}),
        (f"{stream}&" + "a&" * 2000, {}),  # over DATA_UPLOAD_MAX_NUMBER_FIELDS, under the URL limit
        (f"/api/cameras/?token={token}&" + "a&" * 2000, {}),
        (f"/grid/stream.mjpg?token={token}&cameras=" + ",".join(f"c{i}" for i in range(100)), {}),
        (f"{stream}&x={'A' * 200_000}", {}),
        # Unknown slugs, traversal, encodings: never another file, never a 500.
        (f"/cameras/nosuch/stream.mjpg?token={token}", {}),
        (f"/cameras/nosuch/snapshot.jpg?token={token}", {}),
        (f"/grid/stream.mjpg?token={token}&cameras=nosuch", {}),
        (f"/cameras/../admin/stream.mjpg?token={token}", {}),
        (f"/cameras/..%2F..%2Fetc%2Fpasswd/stream.mjpg?token={token}", {}),
        (f"/cameras/%2e%2e/snapshot.jpg?token={token}", {}),
        (f"/cameras/front%00/stream.mjpg?token={token}", {}),
        (f"/cameras/front%2F..%2F/stream.mjpg?token={token}", {}),
        (f"/cameras/%ff%fe/stream.mjpg?token={token}", {}),
        ("/cameras/cam\u00e9ra/stream.mjpg?token=" + token, {}),
        ("/static/../nvr/settings.py", {}),
        ("/static/..%2f..%2fnvr%2fsettings.py", {}),
        ("/static/%2e%2e/%2e%2e/etc/passwd", {}),
        ("//etc/passwd", {}),
        ("/cameras/nosuch/", {"headers": cookie}),
        ("/cameras/..%2Ffront/", {"headers": cookie}),
        ("/cameras/front/token/", {"headers": cookie, "method": "POST"}),  # no CSRF token
        ("/layout/", {"headers": cookie, "method": "POST", "body": b"layout=2"}),
        # Tokens that are not tokens.
        ("/cameras/front/stream.mjpg?token=", {}),
        ("/cameras/front/stream.mjpg?token=short", {}),
        ("/cameras/front/stream.mjpg?token=" + "x" * 5000, {}),
        ("/cameras/front/stream.mjpg?token=nvr_%00%ff%fe", {}),
        ("/cameras/front/stream.mjpg?token=" + token + "x", {}),
        # Methods streams do not take.
        (stream, {"method": "POST"}),
        (stream, {"method": "DELETE"}),
        (snapshot, {"method": "PUT", "body": b"x" * 1000}),
        # Hosts we do not serve.
        ("/api/cameras/", {"host": b"evil.example"}),
        ("/api/cameras/", {"host": b"127.0.0.1:1@evil.example"}),
    ]
    for raw in [
        b"",
        b"nocolon",
        b"\xff\xfe:\xff",
        b":",
        b"boss:",
        b":op-pass-1",
        b"op:wrong",
        b"op\x00:op-pass-1",
        b"op:" + b"x" * 3000,
        "\u00e9\u00e9:p\u00e4ss".encode(),
    ]:
        for path in ["/cameras/front/stream.mjpg", "/cameras/front/snapshot.jpg", "/api/cameras/", "/grid/stream.mjpg"]:
            cases.append((path, {"headers": basic_raw(raw)}))
    for header in [
        b"Basic",
        b"Basic ",
        b"Basic ====",
        b"Basic !!!",
        b"Basic\tb3A6b3AtcGFzcy0x",
        b"basic",
        b"Basic " + b"QUFB" * 400,
        b"Basic \xc3\xa9\xff",
        b"Bearer " + token.encode(),
        b"Digest x=y",
        b"Basic b3A6b3AtcGFzcy0x extra",
    ]:
        cases.append(("/cameras/front/stream.mjpg", {"headers": {"Authorization": header}}))

    problems, statuses = [], Counter()
    for path, options in cases:
        status, data = request(live_web.port, path, **options)
        statuses[status] += 1
        if not (400 <= status < 500) or any(
            m in data for m in (b"Traceback", b"Internal Server Error", b"root:x:", b"SECRET_KEY")
        ):
            problems.append((status, str(path)[:120], data[:200]))
    assert not problems, "\n".join(map(str, problems))
    print(f"\n{len(cases)} malformed requests, answers: {dict(sorted(statuses.items()))}")

    # The server is fine afterwards, and logged no unhandled error.
    assert request(live_web.port, "/healthz")[0] == 200
    errors = [line for line in server_errors(full_log(live_web)) if "logger=django.security" not in line]
    assert not errors, errors[:3]


def test_endless_request_heads_do_not_grow_memory(live_web):
    """Clients that send a header without end are cut off (431) before they cost memory."""
    before = live_web.rss_bytes()
    answers: list[bytes] = []

    def endless_header() -> None:
        with socket.create_connection(("127.0.0.1", live_web.port), timeout=10) as sock:
            sock.sendall(b"GET /api/cameras/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: ")
            try:
                for _ in range(20 * 16):  # 20 MB each, if the server keeps taking it
                    sock.sendall(b"a" * 65536)
            except OSError:
                pass
            try:
                answers.append(sock.recv(200))
            except OSError:
                answers.append(b"")

    threads = [threading.Thread(target=endless_header) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    growth = (live_web.rss_bytes() - before) / MB
    print(
        f"\n8 clients sending endless headers: cut off after {time.monotonic() - started:.2f} s, "
        f"web RSS {growth:+.1f} MB"
    )
    assert growth < 5, growth
    assert all(a == b"" or a.startswith(b"HTTP/1.1 431") for a in answers), answers
    assert request(live_web.port, "/healthz")[0] == 200
