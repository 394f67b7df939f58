"""One outbound policy for every connection to an address someone typed in (webhooks, cameras, MQTT, push).

    from outbound import Purpose, Refused, check, check_now, connect, opener

    check(url, Purpose.WEBHOOK)        # the URL's own rules, no DNS (a form, before queueing)
    check_now(url, Purpose.CAMERA)     # and the addresses its name has now (before a library connects)
    connect(host, port, timeout=5)     # a socket to a checked address (the probes' own protocols)
    opener().open(request)             # urllib under the policy: checked connections, no redirects

Every refusal is `Refused` (a ConnectionError) with an operator-readable reason. The rules are in
outbound.policy, the resolving and connecting in outbound.network. At the bottom of the house like
encryption/: it imports nothing of ours, and reads one setting, NVR_OUTBOUND_ALLOW_PRIVATE.
"""

from outbound.network import check_now, connect, opener, resolve
from outbound.policy import Destination, Purpose, Refused, check, private_allowed, refusal

__all__ = [
    "Destination",
    "Purpose",
    "Refused",
    "check",
    "check_now",
    "connect",
    "opener",
    "private_allowed",
    "refusal",
    "resolve",
]
