"""Web Push end to end: a browser's subscription saved through /push/, the notifier encrypting and signing for
it, a real HTTPS push service process receiving it, and the test decrypting it with the subscription's keys
(RFC 8291, http_ece) as the browser would. A 410 Gone deletes the subscription; a staff user limited to one
camera gets that camera's events only; the VAPID private key sits in a 0600 file.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import http_ece
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from events.models import PushSubscription
from events.notify import Notifier
from events.push import PushTarget, notification
from events.vapid import public_key
from tests.factories import make_camera, make_user
from tests.reliability.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = Path(__file__).resolve().parents[1] / "support" / "push_service.py"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the test trusts it through SSL_CERT_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "push.pem", folder / "push.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def push_service(tmp_path, monkeypatch):
    cert, key = certificate(tmp_path)
    log = tmp_path / "received.jsonl"
    log.touch()
    process = subprocess.Popen(
        [sys.executable, str(SERVICE), "--cert", str(cert), "--key", str(key), "--log", str(log)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith("READY "), line
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the outbound opener's default TLS context trusts it
    base = f"https://127.0.0.1:{line.split()[1]}"

    def received() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    yield base, received
    process.kill()
    process.wait(5)


class Browser:
    """What a browser keeps for its push subscription: an ECDH key pair and an auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = secrets.token_bytes(16)
        self.endpoint = endpoint

    def subscription(self, **choices: object) -> dict:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(public), "auth": b64(self.auth)}, **choices}

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


def vapid_claims(authorization: str) -> dict:
    """The claims of a `vapid t=<JWT>, k=<key>` header, after checking its ES256 signature with the key."""
    token, key = (part.strip().split("=", 1)[1] for part in authorization.removeprefix("vapid ").split(","))
    header, claims, signature = token.split(".")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    raw = unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises when forged
    return json.loads(unb64(claims))


def subscribe(client, user, browser: Browser, **choices: object) -> PushSubscription:
    client.force_login(user)
    answer = client.post(
        "/push/subscriptions", json.dumps(browser.subscription(**choices)), content_type="application/json"
    )
    assert answer.status_code == 201, answer.content
    return PushSubscription.objects.get(endpoint=browser.endpoint)


def test_a_push_reaches_the_browser_encrypted_for_it_and_a_gone_one_is_removed(
    push_service, client, settings, tmp_path
):
    settings.NVR_PUSH_KEY_PATH = str(tmp_path / "keys" / "vapid.pem")
    base, received = push_service
    yard = make_camera("yard")
    make_camera("gate")
    staff = make_user("guard", is_staff=True)
    yard.allowed_users.add(staff)
    boss = make_user("boss", is_superuser=True)
    phone, old = Browser(f"{base}/push/phone-1"), Browser(f"{base}/gone/old-1")
    subscribe(client, staff, phone)  # every camera they may see: the yard only
    gone = subscribe(client, boss, old, kinds=["health"])
    client.force_login(staff)
    assert client.post("/push/subscriptions", json.dumps(phone.subscription(cameras=["gate"])),
                       content_type="application/json").status_code == 400  # fmt: skip  # not theirs to choose

    notifier = Notifier().start()
    try:
        base_event = {"camera_name": "", "start": "2026-12-07T02:00:00+00:00", "end": None, "peak_score": 0.2}
        notifier.publish(
            "start", {**base_event, "id": 11, "camera": "gate", "type": "start", "kind": "motion", "zones": []}
        )
        notifier.publish("start", {**base_event, "id": 12, "camera": "yard", "camera_name": "Yard", "type": "start",
                                   "kind": "motion", "zones": ["path"]})  # fmt: skip
        notifier.publish(
            "end", {**base_event, "id": 12, "camera": "yard", "type": "end", "kind": "motion", "zones": []}
        )
        notifier.publish("start", {**base_event, "id": 13, "camera": "gate", "camera_name": "Gate", "type": "start",
                                   "kind": "offline", "detail": "connection refused"})  # fmt: skip
        wait_until(lambda: not PushSubscription.objects.filter(pk=gone.pk).exists(), 20, what="the 410 to remove it")
        wait_until(lambda: any(r["path"].startswith("/push/") for r in received()), 10, what="the phone's push")
    finally:
        notifier.stop()

    to_phone = [r for r in received() if r["path"] == "/push/phone-1"]
    to_old = [r for r in received() if r["path"] == "/gone/old-1"]
    assert len(to_phone) == 1 and len(to_old) == 1  # a motion event pages once; the gate is not the guard's
    headers = {name.lower(): value for name, value in to_phone[0]["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm" and int(headers["ttl"]) > 0
    assert headers["authorization"].startswith("vapid t=") and headers["authorization"].endswith(f"k={public_key()}")
    assert vapid_claims(headers["authorization"])["aud"] == base  # signed for this push service, by our key
    shown = phone.decrypt(base64.b64decode(to_phone[0]["body"]))
    assert shown["title"] == "Motion: Yard" and shown["body"] == "path"
    assert shown["url"] == "/events/?play=12&camera=yard" and shown["image"] == "/events/12/snapshot.jpg"
    told = old.decrypt(base64.b64decode(to_old[0]["body"]))  # the boss's health-only subscription
    assert told["title"] == "Gate: Camera offline" and told["body"] == "connection refused"
    assert public_key() not in json.dumps(shown)
    assert oct(os.stat(settings.NVR_PUSH_KEY_PATH).st_mode & 0o777) == "0o600"  # made at the first push
    private = Path(settings.NVR_PUSH_KEY_PATH).read_text()
    page = client.get("/push/").content.decode()
    assert public_key() in page and private.splitlines()[1] not in page


def test_a_push_service_in_trouble_gets_the_notification_after_retries(push_service, client, settings, tmp_path):
    settings.NVR_PUSH_KEY_PATH = str(tmp_path / "vapid.pem")
    base, received = push_service
    make_camera("yard")
    tablet = Browser(f"{base}/flaky/tablet-1")
    subscribe(client, make_user("boss", is_superuser=True), tablet)
    notifier = Notifier().start()
    try:
        notifier.publish("start", {"id": 5, "camera": "yard", "camera_name": "Yard", "type": "start", "kind": "motion",
                                   "zones": [], "start": "2026-12-07T02:00:00+00:00", "end": None})  # fmt: skip
        wait_until(lambda: len(received()) == 3, 15, what="two failed attempts and a third that is taken")
    finally:
        notifier.stop()
    bodies = [tablet.decrypt(base64.b64decode(r["body"])) for r in received()]
    assert [b["title"] for b in bodies] == ["Motion: Yard"] * 3  # the same message, encrypted afresh each time
    assert PushSubscription.objects.filter(endpoint=tablet.endpoint).exists()


def test_quiet_hours_and_kinds_decide_what_a_subscription_gets(settings):
    settings.TIME_ZONE = "UTC"
    target = PushTarget(1, "https://push.example/x", "k", "a", frozenset({"yard"}), frozenset({"health"}),
                        dt.time(22), dt.time(6))  # fmt: skip
    night, day = dt.datetime(2026, 12, 7, 23, tzinfo=dt.UTC), dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    offline = {"camera": "yard", "kind": "offline", "type": "start"}
    assert target.wants(offline, day) and not target.wants(offline, night)
    assert not target.wants({"camera": "yard", "kind": "motion", "type": "start"}, day)  # health only
    assert not target.wants({**offline, "camera": "gate"}, day) and not target.wants({**offline, "camera": None}, day)
    person = {"camera": "yard", "kind": "motion", "type": "start", "labels": ["person"], "camera_name": "Yard", "id": 3}
    objects = PushTarget(2, "https://push.example/y", "k", "a", frozenset({"yard"}), frozenset({"objects"}))
    assert objects.wants(person, day) and not objects.wants({**person, "type": "count"}, day)
    assert not objects.wants({**person, "labels": []}, day)  # plain motion: not asked for
    assert notification(person)["title"] == "Person: Yard"
