"""Audit entries: one table, append-only, each row hashing the one before it (audit.chain).

Who and what are copied into the row (user id and name, camera id and slug), never foreign keys:
deleting a user or a camera must not change, or cascade into, the history of what they did.
"""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    """What an entry records."""

    SIGN_IN = "sign_in", "Sign-in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT = "sign_out", "Sign-out"
    LIVE_VIEW = "live_view", "Live view"
    PLAYBACK = "playback", "Playback"
    CLIP = "clip", "Clip export"
    EXPORT = "export", "Signed export"
    CHANGE = "change", "Change"
    TOKEN_NEW_ADDRESS = "token_new_address", "Token used from a new address"
    RETENTION = "retention", "Old entries removed"


class AuditEntry(models.Model):
    seq = models.BigIntegerField(unique=True, help_text="Position in the chain: 1, 2, 3 ... with no gap.")
    at = models.DateTimeField(db_index=True, help_text="When it happened (a live view: when it started).")
    until = models.DateTimeField(null=True, blank=True, help_text="When a live view ended.")
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    token_id = models.BigIntegerField(null=True, blank=True)
    camera_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    camera = models.CharField(max_length=50, blank=True, help_text="The camera's slug when it happened.")
    address = models.CharField(max_length=45, blank=True, help_text="The client's IP address.")
    detail = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["kind", "at"]), models.Index(fields=["camera_id", "at"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.username or '-'}"


class ChainHead(models.Model):
    """The one row every writer locks to append: the newest entry's seq and hash, and what retention removed.

    Appending takes this row first (an UPDATE: a row lock on PostgreSQL, the write lock on SQLite), so
    writers in several processes extend one chain, never two branches of it.
    """

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")
    # Retention removes the oldest entries; the chain then starts after this one.
    pruned_seq = models.BigIntegerField(default=0)
    pruned_hash = models.CharField(max_length=64, default="")
