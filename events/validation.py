"""A webhook's address under the outbound policy, checked when it is saved (and again at every delivery)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from outbound import Purpose, Refused, check_now


def validate_webhook_url(value: str) -> None:
    """http(s) only, no credentials in it, and no address the policy refuses, now (events.notify checks at delivery).

    A name that does not resolve yet is accepted: the receiver may come up later, and every delivery
    checks the addresses it resolves to then.
    """
    try:
        check_now(value, Purpose.WEBHOOK)
    except Refused as refusal:
        raise ValidationError("This address is not allowed: %(reason)s.", params={"reason": refusal}) from None
    except OSError:
        pass  # not resolvable now: checked again when a delivery connects
