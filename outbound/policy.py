"""The decisions: which URLs and which addresses nvr may connect to when someone else chose them.

Webhook receivers, camera sources, the MQTT broker and push services are addresses typed in by an
operator or a staff user. Without a policy, such an address turns the server's own network access
into theirs: the cloud metadata service (169.254.169.254 hands out credentials), other machines'
link-local services, or a port scan of the LAN through the answers (issue #23). So:

- each purpose has its schemes (webhooks: http and https only; cameras: rtsp, rtsps, http, https);
- link-local, multicast, unspecified, reserved and cloud metadata addresses are always refused,
  also when they hide inside an IPv6 address (IPv4-mapped, 6to4, NAT64, Teredo);
- private LAN and loopback addresses are allowed, since cameras and Home Assistant live there,
  unless NVR_OUTBOUND_ALLOW_PRIVATE is off (hosted installs);
- IPv4 written in the forms only inet_aton reads (0x7f.1, 2130706433, 0177.0.0.1, 127.1) is refused
  rather than interpreted: what a reader of the URL sees must be where nvr connects.

Nothing here does I/O: outbound.network resolves names and connects, checking every address with
`refusal()` at connect time. Imports nothing of ours.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Purpose(StrEnum):
    """Why nvr connects: each purpose has its own schemes (SCHEMES); the address rules are the same."""

    WEBHOOK = "webhook"
    CAMERA = "camera"
    MQTT = "mqtt"
    PUSH = "push"
    STORAGE = "storage"  # the recordings bucket's endpoint (RECORDINGS_S3_URL)


SCHEMES: dict[Purpose, frozenset[str]] = {
    Purpose.WEBHOOK: frozenset({"http", "https"}),
    Purpose.CAMERA: frozenset({"rtsp", "rtsps", "http", "https"}),
    Purpose.MQTT: frozenset({"mqtt", "mqtts"}),
    Purpose.PUSH: frozenset({"https"}),
    Purpose.STORAGE: frozenset({"http", "https"}),
}
DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "mqtt": 1883, "mqtts": 8883}
# Purposes whose URL may carry user:password@ (a camera's are moved to its own fields before it is used).
USERINFO_ALLOWED = frozenset({Purpose.CAMERA, Purpose.MQTT})

# Cloud metadata and host services, refused whatever the setting says. Most are link-local anyway;
# these are not: AWS IMDS over IPv6 (a ULA), Alibaba Cloud's (shared address space), Azure's WireServer (public).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.169.253",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
    )
)
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # Linux connects 0.x.y.z to this host
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# A host made only of inet_aton's numbers (decimal, 0-prefixed octal, 0x hex; 1 to 4 of them).
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)
_FORBIDDEN_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")


class Refused(ConnectionError):
    """The policy refuses this URL or address; the message is for operators and never holds credentials.

    A ConnectionError, so code that handles a failed connection (urllib, paho's reconnect loop, the
    probes) handles a refusal the same way: nothing was sent.
    """


@dataclass(frozen=True)
class Destination:
    """A checked URL's scheme, host (ASCII, an IPv6 address without brackets) and port."""

    purpose: Purpose
    scheme: str
    host: str
    port: int


def check(url: str, purpose: Purpose) -> Destination:
    """Parse `url` and apply every rule that needs no name lookup; raise Refused with the reason."""
    if _FORBIDDEN_CHARACTERS.search(url):
        raise Refused("the address contains a space, a backslash or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("not a valid URL (check the host and the port)") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES[purpose]:
        allowed = " or ".join(f"{s}://" for s in sorted(SCHEMES[purpose]))
        raise Refused(f"only {allowed} addresses are allowed here")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if "@" in parts.netloc and purpose not in USERINFO_ALLOWED:
        raise Refused("the URL must not contain a user name or password (user@host)")
    if port == 0:
        raise Refused("port 0 is not a port to connect to")
    host = _ascii_host(parts.hostname)
    literal = _literal_address(host)
    if literal is not None:
        reason = refusal(literal)
        if reason:
            raise Refused(reason)
    return Destination(purpose, scheme, host, port or DEFAULT_PORTS[scheme])


def _ascii_host(hostname: str) -> str:
    """The host as DNS and sockets see it: internationalised names in their ASCII form (IDNA)."""
    try:
        # Also for ASCII names: the codec refuses a label over 63 characters (DNS's limit), which getaddrinfo
        # would otherwise raise as a UnicodeError, not an OSError (found by tests/security/test_admin_fuzz.py).
        host = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise Refused("not a valid host name") from None
    if "%" in host and ":" not in host:  # percent-encoding in a name; an IPv6 zone (fe80::1%eth0) is judged below
        raise Refused("not a valid host name (percent-encoded)")
    return host.lower()


def _literal_address(host: str) -> IPAddress | None:
    """The IP address `host` spells, None for a name; Refused for numbers only inet_aton reads."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        raise Refused("an IP address in an unusual form (octal, hexadecimal or one number): write it as a.b.c.d")
    return None


def refusal(address: IPAddress, *, allow_private: bool | None = None) -> str:
    """Why `address` is refused, or "" when nvr may connect to it (`allow_private`: the setting by default)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal(embedded, allow_private=allow_private)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified or address in THIS_NETWORK:
        return "an unspecified address (0.0.0.0, ::)"
    if address.is_link_local:
        return "a link-local address (169.254.0.0/16, fe80::/10)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved and not address.is_loopback:  # ::1 lies in ::/8, reserved
        return "a reserved address"
    private = address.is_loopback or address.is_private or not address.is_global
    if private and not (private_allowed() if allow_private is None else allow_private):
        return "a private or loopback address (refused by NVR_OUTBOUND_ALLOW_PRIVATE=0)"
    return ""


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to (IPv4-mapped, 6to4, NAT64, Teredo), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def private_allowed() -> bool:
    """NVR_OUTBOUND_ALLOW_PRIVATE (default on): may nvr connect to private LAN and loopback addresses?"""
    from django.conf import settings

    return bool(getattr(settings, "NVR_OUTBOUND_ALLOW_PRIVATE", True)) if settings.configured else True
