"""Checking the chain and applying retention (manage.py audit verify|prune)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit import chain
from audit.log import Kind, record
from audit.models import AuditEntry, ChainHead
from audit.writer import get_writer

VERIFY_CHUNK = 2000


def _rows(after_seq: int) -> Iterator[dict[str, Any]]:
    fields = [*chain.FIELDS, "previous_hash", "hash"]
    return AuditEntry.objects.filter(seq__gt=after_seq).order_by("seq").values(*fields).iterator(VERIFY_CHUNK)


def verify() -> tuple[int, chain.Break | None]:
    """Walk the whole chain: (entries checked, the first break or None)."""
    head = ChainHead.objects.filter(pk=1).first() or ChainHead(pk=1)
    start_hash = head.pruned_hash or chain.GENESIS
    checked, broken = chain.verify(_rows(head.pruned_seq), start_seq=head.pruned_seq, start_hash=start_hash)
    if broken is None and head.last_seq != head.pruned_seq + checked:
        # The newest entries are gone (the head remembers how far the chain reached).
        broken = chain.Break(head.last_seq, f"entries #{head.pruned_seq + checked + 1}-#{head.last_seq} were removed")
    elif broken is None and checked and head.last_hash != AuditEntry.objects.get(seq=head.last_seq).hash:
        broken = chain.Break(head.last_seq, "the newest entry was replaced")
    return checked, broken


def retention_days() -> int:
    return int(getattr(settings, "AUDIT_RETENTION_DAYS", 365))


def prune(days: int | None = None, *, now: dt.datetime | None = None, flush: bool = True) -> int:
    """Remove entries older than `days` (oldest first, a contiguous run) and start the chain after them."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days() if days is None else days)
    if flush:
        get_writer().flush()
    with transaction.atomic():
        if not ChainHead.objects.filter(pk=1).update(last_seq=F("last_seq")):  # the writers' lock
            return 0
        head = ChainHead.objects.get(pk=1)
        old = AuditEntry.objects.filter(seq__gt=head.pruned_seq, at__lt=cutoff).order_by("seq")
        first_kept = AuditEntry.objects.filter(seq__gt=head.pruned_seq, at__gte=cutoff).order_by("seq").first()
        through = old.filter(seq__lt=first_kept.seq) if first_kept is not None else old
        last = through.last()
        if last is None:
            return 0
        removed, _ = AuditEntry.objects.filter(seq__gt=head.pruned_seq, seq__lte=last.seq).delete()
        head.pruned_seq, head.pruned_hash = last.seq, last.hash
        head.save(update_fields=["pruned_seq", "pruned_hash"])
    record(
        Kind.RETENTION, detail={"removed": removed, "through": last.seq, "older_than_days": days or retention_days()}
    )
    return removed
