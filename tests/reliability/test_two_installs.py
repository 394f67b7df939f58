"""Two installs on one Redis server keep their frames, status and leases apart (issue #23, finding 5).

Redis pub/sub ignores the database number, and every name used to start with a fixed `nvr:`: two
installs sharing a Redis server (a company Redis, the test suite beside `make run`) showed each other's
cameras, and only one of them could hold the lease of a camera slug both had. Here install A (this
test's database and settings) and install B (its own database and SECRET_KEY, nothing else set) run a
capture supervisor and a web server each, against the same Redis server and database number, and each
has a camera `front`: A's at 320x240, B's at 640x480. Each install's stream, snapshot and status must
be its own camera's, and both cameras must be captured at once (two leases).
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import redis

from tests.factories import make_camera, make_token, make_user
from tests.reliability.helpers import wait_until
from tests.support.frames import decode
from tests.support.mjpeg import read_parts
from tests.support.processes import ROOT, capture_supervisor, child_env, web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

B_SETUP = """
from cameras.models import Camera
from django.contrib.auth import get_user_model
from streaming.models import StreamToken, new_token
Camera.objects.create(name="B front", slug="front", kind="test_pattern", source="640x480", max_fps=5,
                      record="off", motion=False)
owner = get_user_model().objects.create_user("b-boss", password="pw-b-boss-1", is_superuser=True)
token = new_token()
row = StreamToken(name="b", user=owner)
row.set_token(token)
row.save()
print(token)
"""


def make_install_b(redis_url: str, env: dict[str, str]) -> str:
    """Install B's database, camera and token (its own processes, like a second `make run`); its token."""
    for args in (["migrate", "-v0"], ["shell", "-c", B_SETUP]):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=child_env(redis_url, **env),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def widths_seen(url: str, token: str) -> tuple[int, int, dict]:
    """(snapshot width, stream part width, the camera's status in /api/cameras/) from one install's web server."""
    snapshot = httpx.get(f"{url}/cameras/front/snapshot.jpg?token={token}", timeout=10)
    assert snapshot.status_code == 200, snapshot.text

    async def parts() -> list:
        async with httpx.AsyncClient(timeout=10) as client:
            return (await read_parts(client, f"{url}/cameras/front/stream.mjpg?token={token}", 3))[1]

    import asyncio

    streamed = asyncio.run(parts())
    status = httpx.get(f"{url}/api/cameras/?token={token}", timeout=10).json()["cameras"][0]
    return decode(snapshot.content).shape[1], decode(streamed[-1].jpeg).shape[1], status


def test_two_installs_on_one_redis_server_hear_nothing_of_each_other(redis_url, tmp_path):
    make_camera("front", name="A front", source="320x240", max_fps=5)
    _, a_token = make_token(user=make_user("a-boss", is_superuser=True))
    b_env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'b.sqlite3'}", "SECRET_KEY": "install-b-" + "k" * 50}
    b_token = make_install_b(redis_url, b_env)
    processes = [
        capture_supervisor(redis_url, name="capture-a"),
        capture_supervisor(redis_url, name="capture-b", **b_env),
        web_server(redis_url),
        web_server(redis_url, **b_env),
    ]
    try:
        for process in processes:
            process.start()
        a_web, b_web = processes[2], processes[3]
        for web, token, width in ((a_web, a_token, 320), (b_web, b_token, 640)):

            def online(web=web, token=token) -> bool:
                response = httpx.get(f"{web.url}/api/cameras/?token={token}", timeout=10)
                return response.json()["cameras"][0]["state"] == "online"

            wait_until(online, 30, what=f"install with the {width} px camera online")
            snapshot, streamed, status = widths_seen(web.url, token)
            print(f"install with the {width} px camera: snapshot {snapshot} px, stream {streamed} px, "
                  f"status {status['width']} px, {status['label']}")  # fmt: skip
            assert (snapshot, streamed, status["width"]) == (width, width, width)
            assert status["name"] == ("A front" if width == 320 else "B front")
        client = redis.Redis.from_url(redis_url)
        leases = {key: client.get(key) for key in client.keys("nvr:*:lease:front")}
        client.close()
        assert len(leases) == 2, leases  # each install captures its own `front`, at the same time
        assert len(set(leases.values())) == 2
    finally:
        for process in processes:
            process.stop()
