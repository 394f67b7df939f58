"""Camera passwords encrypted at rest, with keys kept outside the database.

Capture needs the password itself, so it cannot be hashed; a database dump (a backup, a
stolen disk) must still not reveal it. The password column holds `enc1:` + a Fernet token
(AES-128-CBC with an HMAC, from `cryptography`), made with a key derived from
FIELD_ENCRYPTION_KEY (settings; it falls back to SECRET_KEY when unset).

FIELD_ENCRYPTION_KEY is a list: the first key encrypts, every key decrypts. To rotate, put the
new key first and keep the old one after it, run `manage.py cameras rekey`, then drop the old
key (README "Camera passwords at rest").
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import MaxLengthValidator
from django.db import models

PREFIX = "enc1:"
_DERIVATION = b"nvr camera passwords\x00"


class PasswordKeyError(ImproperlyConfigured):
    """A stored password cannot be decrypted with any configured key."""


def _fernet(secret: str) -> Fernet:
    # Any high-entropy string is a key: derive Fernet's 32 bytes from it.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(_DERIVATION + secret.encode()).digest()))


def _keys() -> MultiFernet:
    secrets = [key for key in settings.FIELD_ENCRYPTION_KEY if key] or [settings.SECRET_KEY]
    return MultiFernet([_fernet(secret) for secret in secrets])


def encrypt(plain: str) -> str:
    return PREFIX + _keys().encrypt(plain.encode()).decode("ascii")


def decrypt(stored: str) -> str:
    """The password in `stored`; a value without the prefix is a password stored before encryption."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _keys().decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise PasswordKeyError(
            "A camera password was encrypted with a key that is not in FIELD_ENCRYPTION_KEY. Add the key it "
            "was stored with after the current one (FIELD_ENCRYPTION_KEY=new,old); nothing was changed."
        ) from None


def rotated(stored: str) -> str:
    """`stored` encrypted again with the first key (for `manage.py cameras rekey`)."""
    return encrypt(decrypt(stored))


class EncryptedPasswordField(models.TextField):
    """A text column holding an encrypted password; Python code sees the plain password.

    A TextField because the token is longer than the password; the password's own length limit
    is kept as a validator and as the form field's max_length.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(MaxLengthValidator(self.max_length))

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if value and not _is_token(value) else value

    def value_to_string(self, obj: Any) -> str:
        """Serialized (dumpdata) as stored: a dump does not reveal the password; loaddata keeps it."""
        value = self.value_from_object(obj)
        return encrypt(value) if value else ""


def _is_token(value: str) -> bool:
    """Whether `value` is already one of our tokens (from a dump being loaded), not a password."""
    try:
        return value.startswith(PREFIX) and bool(_keys().decrypt(value[len(PREFIX) :].encode("ascii")))
    except (InvalidToken, UnicodeError):
        return False
