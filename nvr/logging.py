"""Structured logs: one line per event on stdout, with credentials redacted.

`LineFormatter` writes logfmt (`time=... level=... logger=... msg="..."`) or, with
LOG_FORMAT=json, one JSON object per line; tracebacks are folded into the same line so
a log shipper never splits an event. `RedactSecrets` scrubs what could carry a credential
(`token=`/`password=` values, `user:password@` in URLs, Authorization headers) from the
message and its arguments: camera code already keeps credentials out, but uvicorn and
Django log request paths, and stream URLs carry `?token=`.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime

_SECRET_PARAM = re.compile(r"(?i)\b(\w*token|\w*password|passwd|pwd|\w*secret|\w*api_?key|sessionid)=([^&\s\"'<>;,]+)")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):([^/\s@]*)@")
_AUTH_HEADER = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{6,}")
MASK = "***"

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
# uvicorn adds color_message (its message with ANSI colours): not a field worth a column.
_STANDARD_RECORD = logging.LogRecord("", 0, "", 0, "", (), None)
_RECORD_FIELDS = frozenset(vars(_STANDARD_RECORD)) | {"message", "asctime", "color_message"}


def redact(text: str) -> str:
    """`text` with credential-looking values replaced by ***."""
    text = _SECRET_PARAM.sub(rf"\1={MASK}", text)
    text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    return _AUTH_HEADER.sub(rf"\1 {MASK}", text)


def configure(config: dict) -> None:
    """Django's LOGGING_CONFIG: apply LOGGING, keeping uvicorn's access log as uvicorn set it.

    uvicorn configures its loggers before it loads Django. Its access log is on unless
    --no-access-log removed the handlers; dictConfig resets children of configured loggers
    ("uvicorn.access" under "uvicorn") to propagate, which would turn it back on. When on,
    it goes through our handler, so request lines (whose query strings may hold ?token=)
    are one line and redacted like everything else.
    """
    access = logging.getLogger("uvicorn.access")
    access_on = bool(access.handlers)
    logging.config.dictConfig(config)
    access.handlers = list(logging.getLogger("uvicorn").handlers) if access_on else []
    access.propagate = False


class RedactSecrets(logging.Filter):
    """Redact the rendered message in place, so every later handler sees it redacted too.

    The message is rendered first: a secret usually sits in an argument (`?token=%s`), and
    redacting the format string alone would both miss it and break the placeholders.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the formatter's to report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class LineFormatter(logging.Formatter):
    """One line per event: logfmt by default, JSON with `json=True`."""

    def __init__(self, *, json: bool = False) -> None:
        super().__init__()
        self.json = json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in fields:
                fields[key] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        # Exception texts and extra fields are only known here: redact the finished line too.
        if self.json:
            return redact(json.dumps(fields, ensure_ascii=False, default=str))
        return redact(" ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items()))


def _logfmt_value(value: object) -> str:
    text = "" if value is None else str(value)
    if text and not any(c in text for c in ' "=\\\n\r\t'):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with newlines escaped: still one line
