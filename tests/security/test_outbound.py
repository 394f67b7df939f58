"""The outbound policy (issue #23, finding 2): hostile URLs refused at the form and at the resolver.

Nothing is sent to a hostile or LAN address: each is judged where the URL is saved (the webhook's
and the camera's validators, what the admin forms and the import run) and where addresses are
decided (outbound.resolve on what the name resolves to). Names that resolve to link-local and metadata
addresses are real names, answered by glibc from a hosts file in a namespace of their own
(tests/support/hosts.py); the one delivery that connects goes to a receiver on loopback.

Before, the webhook form accepted link-local addresses and ftp:// and redis:// URLs, and nothing
was checked when a delivery connected.
"""

from __future__ import annotations

import ipaddress
import json
import textwrap
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ValidationError

from cameras.validation import validate_source
from events.validation import validate_webhook_url
from outbound import Purpose, Refused, check, refusal, resolve
from tests.conftest import require
from tests.events.conftest import receiving
from tests.support.hosts import namespaces_available, run_with_hosts

# (URL, what the refusal says): at least 30 ways to turn a webhook inward.
HOSTILE = [
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.169.254:80/computeMetadata/v1/", "cloud metadata"),
    ("http://169.254.170.2/v2/credentials", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
    ("http://168.63.129.16/machine", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/", "cloud metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://[::ffff:a9fe:a9fe]/", "cloud metadata"),
    ("http://[2002:a9fe:a9fe::1]/", "cloud metadata"),
    ("http://[64:ff9b::169.254.169.254]/", "cloud metadata"),
    ("http://0x7f.1/", "unusual form"),
    ("http://0x7f000001/", "unusual form"),
    ("http://2130706433/", "unusual form"),
    ("http://2852039166/", "unusual form"),
    ("http://0177.0.0.1/", "unusual form"),
    ("http://0251.0376.0251.0376/", "unusual form"),
    ("http://127.1/", "unusual form"),
    ("http://169.254.43518/", "unusual form"),
    ("http://0/", "unusual form"),
    ("http://①⑥⑨.②⑤④.①⑥⑨.②⑤④/", "cloud metadata"),
    ("http://%31%36%39.254.169.254/", "percent-encoded"),
    ("http://0.0.0.0:8000/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    ("ftp://127.0.0.1/pub/", "only http:// or https://"),
    ("file:///etc/passwd", "only http:// or https://"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "only http:// or https://"),
    ("redis://127.0.0.1:6379/0", "only http:// or https://"),
    ("dict://127.0.0.1:11211/stat", "only http:// or https://"),
    ("ldap://127.0.0.1/", "only http:// or https://"),
    ("javascript:alert(1)", "only http:// or https://"),
    ("http://user:secret@127.0.0.1/", "user name or password"),
    ("http://127.0.0.1:80@169.254.169.254/", "user name or password"),
    ("http://169.254.169.254\\@example.com/", "backslash"),
    ("http://127.0.0.1 /hook", "space"),
    ("http://127.0.0.1\r\nX-Injected: 1/", "control character"),
    ("http://[fe80::1/", "not a valid URL"),
    ("http://127.0.0.1:99999/", "not a valid URL"),
    ("http://127.0.0.1:0/", "port 0"),
    ("http:///hook", "no host"),
    ("http://" + "a" * 64 + ".example/", "not a valid host name"),  # a DNS label is at most 63 characters
]
PRIVATE = ["http://10.0.0.5/", "http://192.168.1.10:8123/api/webhook/x", "http://172.16.0.1/", "http://127.0.0.1/",
           "http://localhost:8000/", "http://[::1]/", "http://[fd12:3456::1]/", "http://100.64.0.1/"]  # fmt: skip


def test_the_hostile_table_is_long_enough():
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
def test_the_webhook_form_refuses(url, reason):
    with pytest.raises(ValidationError) as refused:
        validate_webhook_url(url)
    assert reason in " ".join(refused.value.messages), refused.value.messages


ADDRESS_REASONS = (
    "cloud metadata", "link-local", "unusual form", "unspecified", "multicast", "reserved", "percent", "not a valid host",
)  # fmt: skip


@pytest.mark.parametrize(("url", "reason"), [(u, r) for u, r in HOSTILE if r.startswith(ADDRESS_REASONS)])
def test_the_camera_form_refuses_the_same_addresses(url, reason):
    for kind, scheme in (("http_mjpeg", "http"), ("rtsp", "rtsp")):
        with pytest.raises(ValidationError) as refused:
            validate_source(kind, scheme + url.removeprefix("http"))
        assert reason in " ".join(refused.value.messages), (kind, refused.value.messages)


def _host_and_port(url: str) -> tuple[str, int] | None:
    """The host a connection would resolve, for the table's http URLs that get that far (None for the others)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 80
    except ValueError:
        return None
    if not url.startswith("http://") or not host or any(c in url for c in " \\\r\n%@"):
        return None
    return (host.encode("idna").decode() if not host.isascii() else host), port


@pytest.mark.parametrize(("url", "reason"), [(u, r) for u, r in HOSTILE if _host_and_port(u)])
def test_the_resolver_refuses_what_these_hosts_resolve_to(url, reason, settings):
    """Decided on the addresses getaddrinfo returns, as when a delivery connects (numeric forms resolve to
    the address they spell: refused there too as soon as the address is, private ones with the setting off)."""
    settings.NVR_OUTBOUND_ALLOW_PRIVATE = False  # the forms that spell 127.0.0.1 resolve to it
    host_and_port = _host_and_port(url)
    assert host_and_port is not None
    with pytest.raises(Refused):
        resolve(*host_and_port)


@pytest.mark.parametrize("url", PRIVATE)
def test_private_addresses_are_allowed_by_default_and_refused_by_the_setting(url, settings):
    validate_webhook_url(url)
    validate_source("http_mjpeg", url)
    settings.NVR_OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError, match="private or loopback"):
        validate_webhook_url(url)
    with pytest.raises(ValidationError, match="private or loopback"):
        validate_source("http_mjpeg", url)


def test_purposes_have_their_schemes():
    check("rtsps://10.0.0.5:322/live", Purpose.CAMERA)
    check("mqtts://user:pw@10.0.0.5/", Purpose.MQTT)
    with pytest.raises(Refused, match="only https://"):
        check("http://push.example.com/x", Purpose.PUSH)
    with pytest.raises(Refused, match="only mqtt:// or mqtts://"):
        check("http://10.0.0.5/", Purpose.MQTT)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("93.184.215.14", True), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True), ("169.254.169.254", False),
     ("fe80::1", False), ("::ffff:10.0.0.1", True), ("::ffff:169.254.1.1", False), ("0.1.2.3", False)],
)  # fmt: skip
def test_address_decisions(address, allowed):
    assert (refusal(ipaddress.ip_address(address)) == "") is allowed


HOSTS = """\
127.0.0.1 localhost
169.254.169.254 metadata.nvr-test
fe80::1 linklocal6.nvr-test
127.0.0.1 mixed.nvr-test
169.254.169.254 mixed.nvr-test
127.0.0.1 rebind.nvr-test
"""

SCRIPT = """
import json, os, pathlib
import django
django.setup()
from django.core.exceptions import ValidationError
from cameras.sources import SourceError, check_address
from cameras.validation import validate_source
from events.mqtt import MqttPublisher
from events.notify import Target, WebhookDelivery
from events.validation import validate_webhook_url
from outbound import Refused, connect, resolve

results = {}
def refused(name, call):
    try:
        call()
        results[name] = "allowed"
    except (ValidationError, Refused, SourceError) as error:
        results[name] = str(getattr(error, "messages", [error])[0])

refused("webhook form", lambda: validate_webhook_url("http://metadata.nvr-test/latest/"))
refused("camera form", lambda: validate_source("rtsp", "rtsp://linklocal6.nvr-test:554/live"))
refused("resolver, one of two addresses", lambda: resolve("mixed.nvr-test", 80))
refused("connect", lambda: connect("metadata.nvr-test", 80, timeout=2).close())
refused("camera source, right before FFmpeg", lambda: check_address("rtsp://metadata.nvr-test/live", "RTSP stream"))
mqtt = MqttPublisher("mqtt://metadata.nvr-test:1883")
refused("mqtt, before each connection", lambda: mqtt._check_address(mqtt.client, None))

# DNS rebinding: saved while the name answered 127.0.0.1 (allowed), delivered after it answers 169.254.169.254.
url = os.environ["RECEIVER"].replace("127.0.0.1", "rebind.nvr-test")
refused("saved while on loopback", lambda: validate_webhook_url(url))
delivery = WebhookDelivery(Target(1, url, "secret", frozenset()))
results["delivered before"] = delivery.attempt({"camera": "yard", "type": "start"})
hosts = pathlib.Path(os.environ["NVR_TEST_HOSTS"])
hosts.write_text(hosts.read_text().replace("127.0.0.1 rebind.nvr-test", "169.254.169.254 rebind.nvr-test"))
results["delivered after"] = delivery.attempt({"camera": "yard", "type": "end"})
print(json.dumps(results))
"""


def test_names_that_resolve_inward_are_refused_at_the_form_the_resolver_and_connect_time(tmp_path):
    require(*namespaces_available())
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    with receiving() as receiver:
        out = run_with_hosts(
            hosts,
            textwrap.dedent(SCRIPT),
            env={"DJANGO_SETTINGS_MODULE": "nvr.test_settings", "RECEIVER": receiver.url},
        )
        results = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(results, indent=1))
        assert "resolves to a cloud metadata address" in results["webhook form"]
        assert "resolves to a link-local address" in results["camera form"]
        assert "resolves to a cloud metadata address" in results["resolver, one of two addresses"]
        assert "resolves to a cloud metadata address" in results["connect"]
        assert "not allowed" in results["camera source, right before FFmpeg"]
        assert "resolves to a cloud metadata address" in results["mqtt, before each connection"]
        assert results["saved while on loopback"] == "allowed"
        assert results["delivered before"] == ""  # the receiver took it
        assert "refused by the outbound policy" in results["delivered after"]
        assert [json.loads(body)["type"] for _, body in receiver.received] == ["start"]  # nothing after the flip
