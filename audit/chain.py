"""The hash chain: each entry's hash covers its own content and the hash of the entry before it.

Editing a row changes its content, so its hash no longer matches; removing a row leaves a gap in
`seq` and a `previous_hash` that names a hash no longer there. `verify()` walks the chain and reports
the first of either (`manage.py audit verify`). The chain starts at GENESIS, or after the last entry
retention removed (ChainHead.pruned_*).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
FIELDS = ("seq", "at", "until", "kind", "user_id", "username", "token_id", "camera_id", "camera", "address", "detail")


def _at(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def content(row: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: its fields as canonical JSON (sorted keys, UTC time)."""
    values = {name: row[name] for name in FIELDS}
    values["at"] = _at(values["at"])
    values["until"] = _at(values["until"]) if values["until"] is not None else None
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(previous_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(previous_hash.encode() + b"\n" + content(row)).hexdigest()


@dataclass(frozen=True)
class Break:
    """Where the chain is broken, said so an operator can find the row."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry #{self.seq}: {self.reason}"


def verify(
    rows: Iterator[dict[str, Any]], *, start_seq: int = 0, start_hash: str = GENESIS
) -> tuple[int, Break | None]:
    """Check `rows` (in seq order, each with FIELDS, previous_hash and hash): (entries checked, first break)."""
    expected_seq, expected_previous = start_seq + 1, start_hash
    checked = 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}-#{seq - 1}"
            return checked, Break(seq, f"entries {missing} were removed (the chain jumps to #{seq})")
        if row["previous_hash"] != expected_previous:
            return checked, Break(seq, "its link to the entry before does not match (an entry before it was replaced)")
        if entry_hash(row["previous_hash"], row) != row["hash"]:
            return checked, Break(seq, "its content was changed after it was written (the hash does not match)")
        expected_seq, expected_previous = seq + 1, row["hash"]
        checked += 1
    return checked, None
